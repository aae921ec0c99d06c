"""Client configuration: the ``Config`` record and ``load_config`` for .ovpn files.

How this works: ``parse_config`` splits the text into *directives* the way OpenVPN's own
``parse_line`` does (one per line, ``#``/``;`` comments between arguments, an optional leading
``--``, double quotes with backslash escapes, single quotes taken literally, and inline blocks
such as ``<ca> ... </ca>`` which count as the directive ``ca`` with inline data). Each directive
name is looked up in a table (``_HANDLERS``) and falls into one of three classes:

* implemented: the value is checked and stored in the ``Config``;
* accepted and ignored: stock OpenVPN would do something vpnstack does not; a warning
  ``file:line: ...`` is collected in ``Config.warnings``;
* refused: ``ConfigError(message, path=..., line=...)`` whose message says what to change.
  Unknown directives are refused, unless an earlier ``ignore-unknown-option NAME`` or a
  ``setenv opt NAME ...`` line makes them ignorable (then they are warnings).

File arguments (``ca ca.crt``, ``tls-auth ta.key 1``, ``auth-user-pass creds.txt``) are read
relative to the folder of the config file. Certificates and keys are parsed once here (with
``cryptography``) so that a broken file is reported with the line that names it, not later
in the middle of a handshake. The ``Config`` field names are a contract used by the layers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vpnstack.errors import ConfigError


@attrs.frozen
class Remote:
    """One ``remote`` line."""

    host: str
    """Host name or address literal."""
    port: int = 1194
    """UDP/TCP port."""
    proto: str = "udp"
    """``udp``, ``udp4``, ``udp6`` (TCP arrives in a later issue)."""


DEFAULT_DATA_CIPHERS = ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305")
"""OpenVPN 2.6's default ``data-ciphers`` list."""


@attrs.frozen(repr=False)
class Config:
    """A parsed client configuration. ``repr`` hides key material."""

    source: str
    """Path of the file it came from (or ``<string>``)."""
    remotes: tuple[Remote, ...]
    """``remote`` lines in order."""
    ca: bytes
    """PEM of the trusted CA certificate(s) (``ca``); may hold several, intermediates too."""
    cert: bytes | None = None
    """PEM client certificate (``cert``)."""
    key: bytes | None = None
    """PEM client private key (``key``)."""
    extra_certs: bytes | None = None
    """PEM chain sent after our certificate (``extra-certs``)."""
    tls_auth_key: bytes | None = None
    """The 256-byte static key of ``tls-auth`` (PROTOCOL.md §4.1), or None."""
    key_direction: int | None = None
    """``key-direction`` 0 or 1 (or the inline direction of ``tls-auth FILE 1``)."""
    tls_crypt_key: bytes | None = None
    """The 256-byte static key of ``tls-crypt``, or None."""
    auth: str = "SHA1"
    """``auth`` digest name: SHA1, SHA256, SHA512 (tls-auth HMAC, CBC data HMAC)."""
    cipher: str | None = None
    """Legacy ``cipher`` line (appended to the negotiable list as the fallback)."""
    data_ciphers: tuple[str, ...] = DEFAULT_DATA_CIPHERS
    """``data-ciphers`` in order of preference, upper-case canonical names."""
    remote_cert_tls: str | None = None
    """``remote-cert-tls server`` -> "server": require EKU serverAuth on the server cert."""
    verify_x509_name: tuple[str, str] | None = None
    """``verify-x509-name NAME [TYPE]`` as (name, type); type is subject/name/name-prefix."""
    tls_version_min: str | None = None
    """``tls-version-min`` "1.2" or "1.3"."""
    tls_version_max: str | None = None
    """``tls-version-max`` "1.2" or "1.3"."""
    tls_mtu: int = 1250
    """``tls-mtu``: upper bound of a control packet including IP/UDP headers (§3)."""
    tls_timeout: float = 2.0
    """``tls-timeout``: initial control-packet retransmission timeout (§3)."""
    hand_window: float = 60.0
    """``hand-window``: the whole handshake must finish within this many seconds."""
    username: str | None = None
    """From ``auth-user-pass`` (file or inline); None when not used."""
    password: str | None = None
    """From ``auth-user-pass``; never logged."""
    verb: int = 1
    """``verb`` level."""
    tls_ekm: bool = True
    """Announce TLS-EKM key derivation (IV_PROTO bit 3; PROTOCOL.md §5.3). No .ovpn directive
    sets it: ``attrs.evolve(config, tls_ekm=False)`` makes the server choose the OpenVPN PRF,
    which is how the PRF path is tested against a real server."""
    # --- fields added by the parser (not used by every layer yet) ---------------------------
    auth_user_pass_required: bool = False
    """``auth-user-pass`` is present: the server wants a user name and password."""
    warnings: tuple[str, ...] = ()
    """``file:line: ...`` notes about directives that were accepted but are ignored."""
    data_ciphers_fallback: str | None = None
    """``data-ciphers-fallback``: cipher for a server that cannot negotiate (pre-2.4)."""
    ping: int | None = None
    """``ping`` / first argument of ``keepalive``: send a keepalive after n s of silence."""
    ping_restart: int | None = None
    """``ping-restart`` / second argument of ``keepalive``: restart after n s without input."""
    explicit_exit_notify: int = 0
    """``explicit-exit-notify [n]``: tell the server we leave, retrying for n s (§7.6)."""
    remote_random: bool = False
    """``remote-random``: try the remotes in random order."""
    connect_retry: float = 1.0
    """``connect-retry n``: first delay before trying the next remote."""
    connect_retry_max_delay: float = 300.0
    """``connect-retry n max``: cap of the doubling retry delay."""
    connect_retry_max: int | None = None
    """``connect-retry-max n``: give up after n passes over the remotes (None: never)."""
    server_poll_timeout: float = 120.0
    """``server-poll-timeout``: how long to wait for a remote before trying the next one."""
    resolv_retry: float = math.inf
    """``resolv-retry n|infinite``: how long to keep retrying name resolution."""
    mute: int = 0
    """``mute n``: log at most n messages of one category in a row (0: no limit)."""
    dev: str = "tun"
    """``dev``: the tun device name or type (always a tun device)."""

    def __repr__(self) -> str:
        remotes = ", ".join(f"{r.host}:{r.port}/{r.proto}" for r in self.remotes)
        return f"Config(source={self.source!r}, remotes=[{remotes}])"


def load_config(path: str) -> Config:
    """Parse the .ovpn file at ``path``; raise ``ConfigError`` with file:line on bad input."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the file is not UTF-8 text ({exc.reason})", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=path) from None
    return parse_config(text, source=path, base_dir=os.path.dirname(os.path.abspath(path)))


def parse_config(text: str, *, source: str = "<string>", base_dir: str | None = None) -> Config:
    """Parse .ovpn ``text``; file arguments are relative to ``base_dir`` (default: cwd)."""
    parser = _Parser(source, base_dir if base_dir is not None else os.getcwd())
    for directive in _directives(text, source):
        parser.handle(directive)
    return parser.finish()


# --- lexing ----------------------------------------------------------------------------------


@attrs.frozen
class _Directive:
    """One directive: its name, arguments, the line it starts on, inline data if any."""

    name: str
    args: tuple[str, ...]
    line: int
    inline: str | None = None


INLINE_TAGS = frozenset(
    {"ca", "cert", "key", "extra-certs", "tls-auth", "tls-crypt", "auth-user-pass"}
)
"""Inline blocks the parser reads; other ``<tag>`` blocks are refused."""


def split_line(line: str, *, source: str = "<string>", lineno: int = 0) -> list[str]:
    """Split one config line into arguments like OpenVPN's ``parse_line`` (options.c)."""
    tokens: list[str] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
            continue
        if c in "#;":  # a comment starts wherever an argument could start
            break
        out: list[str] = []
        if c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ConfigError("unterminated double quote", path=source, line=lineno)
                c = line[i]
                if c == "\\" and i + 1 < n:
                    out.append(line[i + 1])
                    i += 2
                    continue
                i += 1
                if c == '"':
                    break
                out.append(c)
        elif c == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ConfigError("unterminated single quote", path=source, line=lineno)
            out.append(line[i + 1 : end])
            i = end + 1
        else:
            while i < n and not line[i].isspace():
                c = line[i]
                if c == "\\" and i + 1 < n:
                    out.append(line[i + 1])
                    i += 2
                    continue
                out.append(c)
                i += 1
        tokens.append("".join(out))
    return tokens


def _directives(text: str, source: str) -> list[_Directive]:
    """Turn the file text into directives, folding ``<tag>...</tag>`` blocks into one each."""
    result: list[_Directive] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        raw = lines[i].strip()
        i += 1
        if not raw or raw[0] in "#;":
            continue
        if raw.startswith("<") and raw.endswith(">") and not raw.startswith("</"):
            tag = raw[1:-1].strip()
            end_tag = f"</{tag}>"
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != end_tag:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ConfigError(
                    f"inline block <{tag}> has no closing {end_tag}", path=source, line=lineno
                )
            i += 1
            if tag not in INLINE_TAGS:
                what = _REFUSED.get(tag, f"inline block <{tag}> is not supported")
                raise ConfigError(f"{what}; remove the <{tag}> block", path=source, line=lineno)
            result.append(_Directive(tag, (), lineno, "\n".join(body) + "\n"))
            continue
        if raw.startswith("</"):
            raise ConfigError(f"{raw} without a matching opening tag", path=source, line=lineno)
        tokens = split_line(raw, source=source, lineno=lineno)
        if not tokens:
            continue
        name = tokens[0].removeprefix("--")
        result.append(_Directive(name, tuple(tokens[1:]), lineno))
    return result


# --- directive handling ----------------------------------------------------------------------

_REFUSED: dict[str, str] = {
    "connection": "<connection> profiles are not supported yet; use several 'remote' lines",
    "tls-crypt-v2": "tls-crypt-v2 is not supported yet",
    "pkcs12": "PKCS#12 files are not supported yet; export them to PEM 'ca', 'cert', 'key'",
    "secret": "static-key mode ('secret') is not supported; vpnstack is a TLS client",
    "comp-lzo": "compression framing is not supported yet (remove 'comp-lzo' on both sides)",
    "compress": "compression framing is not supported yet (remove 'compress' on both sides)",
    "http-proxy": "HTTP proxies are not supported yet",
    "socks-proxy": "SOCKS proxies are not supported yet",
    "askpass": "encrypted private keys are not supported yet; decrypt the key file",
    "server": "this is a server config ('server'); vpnstack is a client",
    "tls-server": "this is a server config ('tls-server'); vpnstack is a client",
    "management": "the management interface is not supported",
}

_DIGESTS = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"}
_CIPHERS = {
    "AES-128-GCM",
    "AES-192-GCM",
    "AES-256-GCM",
    "CHACHA20-POLY1305",
    "AES-128-CBC",
    "AES-192-CBC",
    "AES-256-CBC",
}
_X509_NAME_TYPES = {"subject", "name", "name-prefix"}

_NOOP = {
    # vpnstack already behaves like this by construction
    "nobind": "a fresh local port is always used",
    "persist-key": "keys stay in memory across reconnects",
    "mute-replay-warnings": "replayed packets are only counted",
    "auth-nocache": "the password is only kept for the session",
    "pull": "the client always pulls options",
    "tls-client": "the client is always the TLS client",
}

_IGNORED_WITH_WARNING = {
    "user": "vpnstack does not drop privileges itself",
    "group": "vpnstack does not drop privileges itself",
    "persist-tun": "the tun device follows the session",
    "topology": "the server pushes the topology",
    "float": "vpnstack keeps the remote address fixed",
    "script-security": "vpnstack runs no scripts",
    "route-delay": "routes are installed as soon as the tunnel is up",
    "reneg-sec": "vpnstack follows the server's renegotiation",
    "sndbuf": "socket buffer sizes are left to the system",
    "rcvbuf": "socket buffer sizes are left to the system",
    "fast-io": "not applicable",
    "block-outside-dns": "Windows-only",
}


def _is_inline_name(arg: str) -> bool:
    return arg.lower() in ("inline", "[inline]", "[[inline]]")


class _Parser:
    """Collects directive values; ``finish`` checks the whole and builds the ``Config``."""

    def __init__(self, source: str, base_dir: str) -> None:
        self.source = source
        self.base_dir = base_dir
        self.values: dict[str, Any] = {}
        self.remotes: list[tuple[str, int | None, str | None, int]] = []
        self.proto = "udp"
        self.port = 1194
        self.warnings: list[str] = []
        self.ignorable: set[str] = set()
        self.is_client = False
        self.data_ciphers_set = False
        self.auth_user_pass_line: int | None = None
        self.tls_auth_inline_line: int | None = None
        self.tls_auth_line: int | None = None
        self.tls_crypt_line: int | None = None
        self.cert_line: int | None = None
        self.key_line: int | None = None
        self.handlers: dict[str, Callable[[_Directive], None]] = {
            "client": self._client,
            "dev": self._dev,
            "dev-type": self._dev_type,
            "proto": self._proto,
            "remote": self._remote,
            "port": self._port,
            "rport": self._port,
            "ca": self._pem_certs("ca"),
            "cert": self._pem_certs("cert"),
            "extra-certs": self._pem_certs("extra_certs"),
            "key": self._key,
            "tls-auth": self._tls_auth,
            "key-direction": self._key_direction,
            "tls-crypt": self._tls_crypt,
            "auth": self._auth,
            "cipher": self._cipher,
            "data-ciphers": self._data_ciphers,
            "ncp-ciphers": self._data_ciphers,
            "data-ciphers-fallback": self._data_ciphers_fallback,
            "remote-cert-tls": self._remote_cert_tls,
            "verify-x509-name": self._verify_x509_name,
            "tls-version-min": self._tls_version("tls_version_min"),
            "tls-version-max": self._tls_version("tls_version_max"),
            "tls-mtu": self._int("tls_mtu", 154, 2048),
            "tls-timeout": self._int("tls_timeout", 1, 3600, as_float=True),
            "hand-window": self._int("hand_window", 1, 86400, as_float=True),
            "auth-user-pass": self._auth_user_pass,
            "verb": self._int("verb", 0, 11),
            "mute": self._int("mute", 0, 1 << 30),
            "resolv-retry": self._resolv_retry,
            "remote-random": self._flag("remote_random"),
            "setenv": self._setenv,
            "ignore-unknown-option": self._ignore_unknown_option,
            "explicit-exit-notify": self._explicit_exit_notify,
            "ping": self._int("ping", 1, 1 << 30),
            "ping-restart": self._int("ping_restart", 1, 1 << 30),
            "keepalive": self._keepalive,
            "connect-retry": self._connect_retry,
            "connect-retry-max": self._int("connect_retry_max", 1, 1 << 30),
            "server-poll-timeout": self._int("server_poll_timeout", 1, 86400, as_float=True),
        }

    # --- helpers -----------------------------------------------------------------------------

    def error(self, d: _Directive, message: str) -> ConfigError:
        return ConfigError(message, path=self.source, line=d.line)

    def warn(self, d: _Directive, message: str) -> None:
        self.warnings.append(f"{self.source}:{d.line}: {message}")

    def nargs(self, d: _Directive, low: int, high: int) -> None:
        if not low <= len(d.args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise self.error(d, f"'{d.name}' takes {want} argument(s), got {len(d.args)}")

    def path_of(self, name: str) -> str:
        return os.path.join(self.base_dir, os.path.expanduser(name))

    def read_file(self, d: _Directive, name: str) -> str:
        path = self.path_of(name)
        try:
            with open(path, encoding="utf-8-sig") as f:
                return f.read()
        except UnicodeDecodeError:
            raise self.error(d, f"'{d.name}' file {path!r} is not text") from None
        except OSError as exc:
            raise self.error(
                d, f"cannot read the '{d.name}' file {path!r}: {exc.strerror}; check the path"
            ) from None

    def file_or_inline(self, d: _Directive) -> tuple[str, str]:
        """The data of a file-or-inline directive and a description of where it came from."""
        if d.inline is not None:
            return d.inline, f"inline <{d.name}> block"
        self.nargs(d, 1, 2 if d.name == "tls-auth" else 1)
        return self.read_file(d, d.args[0]), f"file {self.path_of(d.args[0])!r}"

    # --- dispatch ----------------------------------------------------------------------------

    def handle(self, d: _Directive) -> None:
        handler = self.handlers.get(d.name)
        if handler is not None:
            handler(d)
        elif d.name in _NOOP:
            pass
        elif d.name in _IGNORED_WITH_WARNING:
            self.warn(d, f"'{d.name}' is ignored ({_IGNORED_WITH_WARNING[d.name]})")
        elif d.name in _REFUSED:
            # refused even when listed as ignorable: ignoring these would break the session
            raise self.error(d, f"{_REFUSED[d.name]}; remove the '{d.name}' line")
        elif d.name in self.ignorable:
            self.warn(d, f"unknown directive '{d.name}' ignored (ignore-unknown-option/setenv opt)")
        else:
            raise self.error(
                d,
                f"unknown directive '{d.name}': vpnstack does not implement it; remove the line,"
                f" or put 'ignore-unknown-option {d.name}' before it if the connection works"
                " without it",
            )

    # --- handlers ----------------------------------------------------------------------------

    def _client(self, d: _Directive) -> None:
        self.nargs(d, 0, 0)
        self.is_client = True

    def _dev(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        if not d.args[0].startswith("tun"):
            raise self.error(
                d, f"'dev {d.args[0]}' is not supported; vpnstack only supports 'dev tun'"
            )
        self.values["dev"] = d.args[0]

    def _dev_type(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        if d.args[0] != "tun":
            raise self.error(d, "only 'dev-type tun' is supported")

    def _check_proto(self, d: _Directive, proto: str) -> str:
        proto = proto.lower()
        if proto.startswith("tcp"):
            raise self.error(
                d, f"TCP is not supported yet ('{proto}'); use 'proto udp' and a UDP remote"
            )
        if proto not in ("udp", "udp4", "udp6"):
            raise self.error(d, f"unknown protocol '{proto}'; use udp, udp4 or udp6")
        return proto

    def _proto(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        self.proto = self._check_proto(d, d.args[0])

    def _parse_port(self, d: _Directive, text: str) -> int:
        try:
            port = int(text, 10)
        except ValueError:
            port = -1
        if not 1 <= port <= 65535:
            raise self.error(d, f"bad port '{text}': use a number from 1 to 65535")
        return port

    def _remote(self, d: _Directive) -> None:
        self.nargs(d, 1, 3)
        port = self._parse_port(d, d.args[1]) if len(d.args) > 1 else None
        proto = self._check_proto(d, d.args[2]) if len(d.args) > 2 else None
        self.remotes.append((d.args[0], port, proto, d.line))

    def _port(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        self.port = self._parse_port(d, d.args[0])

    def _pem_certs(self, field: str) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            text, where = self.file_or_inline(d)
            data = text.encode()
            try:
                certs = x509.load_pem_x509_certificates(data)
            except ValueError:
                certs = []
            if not certs:
                raise self.error(
                    d, f"'{d.name}': {where} holds no readable PEM certificate; check the file"
                )
            if field == "cert":
                if len(certs) > 1:
                    # like OpenVPN: further certificates after ours form the chain
                    self.values["chain_from_cert"] = b"".join(
                        c.public_bytes(serialization.Encoding.PEM) for c in certs[1:]
                    )
                self.cert_line = d.line
                self.values["cert_obj"] = certs[0]
            self.values[field] = data

        return handler

    def _key(self, d: _Directive) -> None:
        text, where = self.file_or_inline(d)
        data = text.encode()
        if b"ENCRYPTED" in data:
            raise self.error(
                d,
                f"'key': {where} is an encrypted private key, which is not supported yet;"
                " decrypt it (e.g. 'openssl pkey -in key.pem -out plain.pem')",
            )
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise self.error(
                d, f"'key': {where} holds no readable PEM private key; check the file"
            ) from None
        self.key_line = d.line
        self.values["key_obj"] = key
        self.values["key"] = data

    def _static_key(self, d: _Directive) -> bytes:
        from vpnstack.core.statickey import parse_static_key

        if d.inline is None and d.args and _is_inline_name(d.args[0]):
            raise self.error(d, f"'{d.name} {d.args[0]}' needs an inline <{d.name}> block")
        text, where = self.file_or_inline(d)
        try:
            return parse_static_key(text)
        except ValueError as exc:
            raise self.error(
                d, f"'{d.name}': {where} is not an OpenVPN static key ({exc}); check the file"
            ) from None

    def _tls_auth(self, d: _Directive) -> None:
        if d.inline is None:
            self.nargs(d, 1, 2)
            if len(d.args) == 2:
                self.values["key_direction"] = self._direction(d, d.args[1])
            if _is_inline_name(d.args[0]):
                # "tls-auth [inline] 1": the key comes from a <tls-auth> block
                self.tls_auth_inline_line = d.line
                return
        self.values["tls_auth_key"] = self._static_key(d)
        self.tls_auth_line = d.line

    def _direction(self, d: _Directive, text: str) -> int:
        if text not in ("0", "1"):
            raise self.error(d, f"bad key direction '{text}': use 0 or 1 (a client uses 1)")
        return int(text)

    def _key_direction(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        self.values["key_direction"] = self._direction(d, d.args[0])

    def _tls_crypt(self, d: _Directive) -> None:
        if d.inline is None:
            self.nargs(d, 1, 1)
        self.values["tls_crypt_key"] = self._static_key(d)
        self.tls_crypt_line = d.line

    def _auth(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        name = d.args[0].upper().replace("-", "")
        if name not in _DIGESTS:
            raise self.error(
                d, f"unsupported 'auth {d.args[0]}': use one of {', '.join(sorted(_DIGESTS))}"
            )
        self.values["auth"] = name

    def _cipher_name(self, d: _Directive, text: str) -> str:
        name = text.upper()
        if name not in _CIPHERS:
            raise self.error(
                d, f"unsupported cipher '{text}': use one of {', '.join(sorted(_CIPHERS))}"
            )
        return name

    def _cipher(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        self.values["cipher"] = self._cipher_name(d, d.args[0])

    def _data_ciphers(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        names: list[str] = []
        for item in d.args[0].split(":"):
            if not item:
                continue
            if item.startswith("?"):  # optional cipher (2.6): skip it if unsupported
                if item[1:].upper() in _CIPHERS:
                    names.append(item[1:].upper())
                continue
            name = self._cipher_name(d, item)
            if name not in names:
                names.append(name)
        if not names:
            raise self.error(d, "'data-ciphers' names no supported cipher")
        self.values["data_ciphers"] = tuple(names)
        self.data_ciphers_set = True

    def _data_ciphers_fallback(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        self.values["data_ciphers_fallback"] = self._cipher_name(d, d.args[0])

    def _remote_cert_tls(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        if d.args[0] != "server":
            raise self.error(d, "a client can only use 'remote-cert-tls server'")
        self.values["remote_cert_tls"] = "server"

    def _verify_x509_name(self, d: _Directive) -> None:
        self.nargs(d, 1, 2)
        kind = d.args[1] if len(d.args) > 1 else "subject"
        if kind not in _X509_NAME_TYPES:
            raise self.error(
                d, f"bad verify-x509-name type '{kind}': use subject, name or name-prefix"
            )
        self.values["verify_x509_name"] = (d.args[0], kind)

    def _tls_version(self, field: str) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            self.nargs(d, 1, 2)
            version = d.args[0]
            if len(d.args) == 2 and (field != "tls_version_min" or d.args[1] != "or-highest"):
                raise self.error(d, f"'{d.name}' takes a version and optionally 'or-highest'")
            if version in ("1.0", "1.1"):
                if field == "tls_version_max":
                    raise self.error(d, "TLS before 1.2 is not supported; use 1.2 or 1.3")
                self.warn(d, f"'{d.name} {version}' ignored: vpnstack always uses TLS >= 1.2")
                self.values[field] = None
                return
            if version not in ("1.2", "1.3"):
                raise self.error(d, f"bad TLS version '{version}': use 1.2 or 1.3")
            self.values[field] = version

        return handler

    def _int(
        self, field: str, low: int, high: int, *, as_float: bool = False
    ) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            self.nargs(d, 1, 1)
            self.values[field] = self._number(d, d.args[0], low, high, as_float=as_float)

        return handler

    def _number(
        self, d: _Directive, text: str, low: int, high: int, *, as_float: bool = False
    ) -> int | float:
        try:
            value = int(text, 10)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise self.error(d, f"'{d.name}': bad number '{text}', use {low}..{high}")
        return float(value) if as_float else value

    def _flag(self, field: str) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            self.nargs(d, 0, 0)
            self.values[field] = True

        return handler

    def _resolv_retry(self, d: _Directive) -> None:
        self.nargs(d, 1, 1)
        if d.args[0] == "infinite":
            self.values["resolv_retry"] = math.inf
        else:
            self.values["resolv_retry"] = self._number(d, d.args[0], 0, 1 << 30, as_float=True)

    def _auth_user_pass(self, d: _Directive) -> None:
        self.auth_user_pass_line = d.line
        if d.inline is None:
            self.nargs(d, 0, 1)
            if not d.args:
                return  # the user name and password must come from the caller
        text, where = self.file_or_inline(d)
        lines = text.splitlines()
        username = lines[0].strip() if lines else ""
        password = lines[1].rstrip("\r\n") if len(lines) > 1 else None
        if not username:
            raise self.error(d, f"'auth-user-pass': {where} has no user name on its first line")
        self.values["username"] = username
        self.values["password"] = password or None

    def _setenv(self, d: _Directive) -> None:
        if len(d.args) >= 2 and d.args[0] == "opt":
            # "setenv opt DIRECTIVE ...": run the directive, but ignore it if unknown
            inner = _Directive(d.args[1].removeprefix("--"), d.args[2:], d.line)
            if inner.name not in self.handlers and inner.name not in _NOOP:
                self.ignorable.add(inner.name)
            self.handle(inner)
            self.ignorable.discard(inner.name)
            return
        self.nargs(d, 1, 2)
        self.warn(d, f"'setenv {d.args[0]}' ignored (vpnstack runs no scripts)")

    def _ignore_unknown_option(self, d: _Directive) -> None:
        self.nargs(d, 1, 1 << 10)
        self.ignorable.update(a.removeprefix("--") for a in d.args)

    def _explicit_exit_notify(self, d: _Directive) -> None:
        self.nargs(d, 0, 1)
        count = self._number(d, d.args[0], 0, 1 << 20) if d.args else 1
        self.values["explicit_exit_notify"] = int(count)

    def _keepalive(self, d: _Directive) -> None:
        self.nargs(d, 2, 2)
        ping = self._number(d, d.args[0], 1, 1 << 30)
        restart = self._number(d, d.args[1], 1, 1 << 30)
        if restart < 2 * ping:
            raise self.error(d, "'keepalive PING RESTART' needs RESTART >= 2 * PING")
        self.values["ping"] = ping
        self.values["ping_restart"] = restart

    def _connect_retry(self, d: _Directive) -> None:
        self.nargs(d, 1, 2)
        self.values["connect_retry"] = self._number(d, d.args[0], 0, 86400, as_float=True)
        if len(d.args) == 2:
            self.values["connect_retry_max_delay"] = self._number(
                d, d.args[1], 1, 86400, as_float=True
            )

    # --- the whole -------------------------------------------------------------------------

    def finish(self) -> Config:
        src = self.source
        if not self.is_client:
            raise ConfigError(
                "not a client config: add the line 'client' (vpnstack is an OpenVPN client)",
                path=src,
            )
        if not self.remotes:
            raise ConfigError("no 'remote' line: add 'remote HOST [PORT]'", path=src)
        if "ca" not in self.values:
            raise ConfigError(
                "no 'ca': add 'ca FILE' or a <ca> block with the server's CA certificate",
                path=src,
            )
        if self.tls_auth_inline_line is not None and "tls_auth_key" not in self.values:
            raise ConfigError(
                "'tls-auth [inline]' but no <tls-auth> block: add the block or name a file",
                path=src,
                line=self.tls_auth_inline_line,
            )
        if self.tls_auth_line is not None and self.tls_crypt_line is not None:
            raise ConfigError(
                "'tls-auth' and 'tls-crypt' cannot be used together; keep the one the server uses",
                path=src,
                line=max(self.tls_auth_line, self.tls_crypt_line),
            )
        has_cert = "cert" in self.values
        has_key = "key" in self.values
        if has_cert != has_key:
            missing = "key" if has_cert else "cert"
            raise ConfigError(
                f"'{'cert' if has_cert else 'key'}' without '{missing}': add the {missing}",
                path=src,
                line=self.cert_line if has_cert else self.key_line,
            )
        if not has_cert and self.auth_user_pass_line is None:
            raise ConfigError(
                "no client certificate: add 'cert' and 'key', or 'auth-user-pass' if the server"
                " accepts passwords only",
                path=src,
            )
        if has_cert:
            cert = self.values.pop("cert_obj")
            key = self.values.pop("key_obj")
            assert isinstance(cert, x509.Certificate)
            spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
                raise ConfigError(
                    "the private key ('key') does not belong to the certificate ('cert');"
                    " use the matching pair",
                    path=src,
                    line=self.key_line,
                )
        chain = self.values.pop("chain_from_cert", None)
        if chain is not None and "extra_certs" not in self.values:
            self.values["extra_certs"] = chain
        cipher = self.values.get("cipher")
        if (
            isinstance(cipher, str)
            and not self.data_ciphers_set
            and cipher not in DEFAULT_DATA_CIPHERS
        ):
            # OpenVPN 2.6: a legacy 'cipher' joins the default list when data-ciphers is unset
            self.values["data_ciphers"] = (*DEFAULT_DATA_CIPHERS, cipher)
        remotes = tuple(
            Remote(host, port if port is not None else self.port, proto or self.proto)
            for host, port, proto, _line in self.remotes
        )
        return Config(
            source=src,
            remotes=remotes,
            auth_user_pass_required=self.auth_user_pass_line is not None,
            warnings=tuple(self.warnings),
            **self.values,
        )
