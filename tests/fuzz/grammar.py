"""Grammar-driven targets: the input bytes choose directives/options and their arguments.

Byte mutation of a PEM-heavy config mostly breaks base64; these targets instead read the
input as a stream of choices (``Chooser``), so that a mutated input is a different but
well-shaped config or PUSH_REPLY, reaching the handlers and the cross-checks of ``finish``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import vpnstack.config
from tests.fuzz import targets_config
from tests.fuzz.engine import Target
from tests.fuzz.keys import (
    CA_PEM,
    CLIENT_CERT_PEM,
    CLIENT_KEY_PEM,
    static_key_text,
    tls_crypt_v2_text,
)
from tests.fuzz.targets_tls import _use_options
from vpnstack.config import parse_config
from vpnstack.core.tlssession.push import parse_push_reply


class Chooser:
    """Reads choices from bytes; past the end every choice is 0."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def done(self) -> bool:
        return self._pos >= len(self._data)

    def byte(self) -> int:
        value = self._data[self._pos] if self._pos < len(self._data) else 0
        self._pos += 1
        return value

    def pick(self, options: Sequence[str]) -> str:
        return options[self.byte() % len(options)]


_ARGS = (
    "0", "1", "2", "3", "-1", "7", "60", "1500", "65535", "65536", "4294967296", "1e3", "0x10",
    "1.5", "udp", "tcp", "tcp-client", "udp6", "tcp6", "tcp4-client", "192.0.2.1", "::1",
    "2001:db8::1", "2001:db8::/32", "10.8.0.0", "255.255.255.0", "0.0.0.0", "vpn.example.com",
    "[inline]", "inline", "ca.crt", "client.crt", "client.key", "ta.key", "missing.file", ".",
    "..", "/dev/null", "SHA256", "SHA1", "MD5", "AES-256-GCM", "AES-256-CBC", "BF-CBC",
    "AES-128-GCM:CHACHA20-POLY1305", "none", "yes", "no", "adaptive", "lz4-v2", "stub-v2",
    "migrate", "def1", "bypass-dhcp", "ipv6", "!ipv4", "DNS", "DOMAIN", "DNS6", "server",
    "name", "subject", "name-prefix", "CN=server", "net_gateway", "vpn_gateway", "remote_host",
    "default", "interact", "nointeract", "opt", "FORWARD_COMPATIBLE", "tun", "tun0", "tap",
    "15", "3600", "1.2", "1.3", "or-highest", "accept", "ignore", "reject", "route ", "",
    "a" * 300, "préfixe", "#", ";", "\\\\", "'", "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384",
    "auto", "p2p", "subnet", "net30", "random", "fuzz-input.ovpn",
)  # fmt: skip

_BLOCK_BODIES = (
    CA_PEM,
    CLIENT_CERT_PEM,
    CLIENT_KEY_PEM,
    static_key_text(),
    tls_crypt_v2_text(),
    "user\npass\n",
    "remote 192.0.2.9 443 tcp\nport 1195\n",
    "garbage\n",
    "",
)

_FALLBACK_NAMES = ("remote", "proto", "port", "cipher", "data-ciphers", "auth", "tls-auth")


def _config_names(*, implemented_only: bool) -> tuple[tuple[str, int, int], ...]:
    table = getattr(vpnstack.config, "DIRECTIVES", None)
    if not table:
        return tuple((name, 1, 2) for name in _FALLBACK_NAMES)
    rows = []
    for name, spec in sorted(table.items()):
        if implemented_only and getattr(spec, "kind", "implemented") != "implemented":
            continue
        low = getattr(spec, "min_args", 0)
        high = getattr(spec, "max_args", None)
        rows.append((name, low, low + 3 if high is None else high))
    return tuple(rows)


_NAMES = _config_names(implemented_only=False)
_IMPLEMENTED = _config_names(implemented_only=True) or _NAMES
_INLINE = tuple(
    sorted(name for name, spec in getattr(vpnstack.config, "DIRECTIVES", {}).items()
           if getattr(spec, "inline", False))
) or ("ca", "cert", "key", "tls-auth", "tls-crypt", "connection")  # fmt: skip

_HEAD = (
    f"client\ndev tun\nremote 192.0.2.1 1194\n<ca>\n{CA_PEM}</ca>\n"
    f"<cert>\n{CLIENT_CERT_PEM}</cert>\n<key>\n{CLIENT_KEY_PEM}</key>\n"
)


def _quote(arg: str, style: int) -> str:
    if style == 1:
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == 2 and "'" not in arg:
        return f"'{arg}'"
    return arg if arg else '""'


def config_text(data: bytes) -> str:
    """The config the bytes describe: a valid head, then one directive per choice group."""
    choose = Chooser(data)
    lines = [_HEAD]
    while not choose.done:
        kind = choose.byte()
        if kind % 8 == 0:
            tag = choose.pick(_INLINE)
            body = choose.pick(_BLOCK_BODIES)
            if tag == "connection":
                body = "remote 192.0.2.7 1194\n" + choose.pick(_BLOCK_BODIES[6:])
            lines.append(f"<{tag}>\n{body}</{tag}>\n")
            continue
        names = _NAMES if kind % 4 == 1 else _IMPLEMENTED  # mostly what vpnstack implements
        name, low, high = names[choose.byte() % len(names)]
        count = low + choose.byte() % (high - low + 1)
        style = choose.byte()
        if style >= 0xF0:
            count += 1  # sometimes one too many
        args = [_quote(choose.pick(_ARGS), (style >> i) % 3) for i in range(count)]
        prefix = "--" if kind & 0x80 else ""
        lines.append(" ".join([prefix + name, *args]) + "\n")
    return "".join(lines)


def run_config(data: bytes) -> None:
    parse_config(config_text(data), base_dir=str(targets_config.corpus_root() / "lab"))


def config_samples() -> tuple[bytes, ...]:
    """A few generated configs (arbitrary choice streams are all valid inputs)."""
    rng = random.Random("config-generated")
    return (b"", *(rng.randbytes(rng.randint(4, 40)) for _ in range(24)))


_PUSH_NAMES = (
    "ifconfig", "ifconfig-ipv6", "topology", "route-gateway", "route", "route-ipv6",
    "route-metric", "redirect-gateway", "redirect-private", "dhcp-option", "dns", "ping",
    "ping-restart", "peer-id", "cipher", "key-derivation", "protocol-flags", "tun-mtu",
    "auth-token", "auth-token-user", "explicit-exit-notify", "comp-lzo", "compress",
    "push-continuation", "block-outside-dns", "inactive", "unknown-option",
)  # fmt: skip

_PUSH_ARGS = (
    "10.8.0.2", "10.8.0.1", "255.255.255.0", "255.255.255.255", "0.0.0.0", "300.1.1.1",
    "2001:db8::2/64", "2001:db8::1", "::/0", "fe80::1%eth0", "10.0.0.0/8", "dhcp",
    "subnet", "net30", "p2p", "vpn_gateway", "net_gateway", "remote_host", "default", "def1",
    "bypass-dhcp", "DNS", "DNS6", "DOMAIN", "DOMAIN-SEARCH", "server", "search-domains",
    "address", "resolve-domains", "dnssec", "transport", "sni", "[2001:db8::53]:853",
    "10.8.0.1:53", "[::1]", "[::1]:0", "1", "2", "0", "-1", "-128", "127", "128", "16777215",
    "16777216", "65535", "99999999999999999999", "AES-256-GCM", "chacha20-poly1305",
    "BF-CBC", "tls-ekm", "cc-exit", "aead-epoch", "dyn-tls-crypt", "yes", "no", "lz4-v2",
    "stub-v2", "migrate", "dXNlcg==", "!!!", "DoH", "example.com", '"quoted arg"', "'x",
    "\\", "",
)  # fmt: skip


def push_argument(data: bytes) -> str:
    """The PUSH_REPLY argument the bytes describe."""
    choose = Chooser(data)
    options = []
    while not choose.done:
        name = choose.pick(_PUSH_NAMES)
        count = choose.byte() % 6
        options.append(" ".join([name, *(choose.pick(_PUSH_ARGS) for _ in range(count))]))
    return ",".join(options)


def push_samples() -> tuple[bytes, ...]:
    rng = random.Random("push-generated")
    return tuple(rng.randbytes(rng.randint(8, 120)) for _ in range(16))


def run_push(data: bytes) -> None:
    _use_options(parse_push_reply([push_argument(data)]))


def targets() -> list[Target]:
    assert Path(targets_config.corpus_root(), "lab", "ca.crt").is_file()
    return [
        Target("config-generated", config_samples(), run_config, max_len=512),
        Target(
            "push-generated",
            push_samples(),
            run_push,
            max_len=512,
        ),
    ]
