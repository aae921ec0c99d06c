"""Parse functions of the directives that hold plain values (no files, no connections).

How this works: each function takes the parser and one ``Directive`` whose arity the parser
has already checked against its ``DIRECTIVES`` entry; it checks the value (raising
``p.error(d, ...)``, which carries file:line) and stores it in one of the parser's typed drafts
with ``attrs.evolve`` (so the field name and type are checked by mypy). Values that only matter
to the checks of the whole config (``client``, ``dev-type``, ...) set plain parser attributes.
The table in ``directives.py`` names the function of each implemented directive.
"""

from __future__ import annotations

import ipaddress
import math
import os
from typing import TYPE_CHECKING

import attrs

from vpnstack.config.files import file_or_inline, inline_name, is_inline_name, path_of
from vpnstack.config.lexer import NEWLINE, Directive
from vpnstack.config.model import ConfiguredRoute, ConfiguredRoute6
from vpnstack.core.shared.framing import compresses, framing_of

if TYPE_CHECKING:
    from vpnstack.config.parser import Parser

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
_REDIRECT_FLAGS = {
    "def1",
    "local",
    "autolocal",
    "bypass-dhcp",
    "bypass-dns",
    "block-local",
    "ipv6",
    "!ipv4",
}
_DHCP_TYPES = {
    "DNS",
    "DNS6",
    "DOMAIN",
    "DOMAIN-SEARCH",
    "DOMAIN-ROUTE",
    "ADAPTER_DOMAIN_SUFFIX",
    "WINS",
    "NBDD",
    "NTP",
    "NBT",
    "NBS",
    "DISABLE-NBT",
    "PROXY_HTTP",
    "PROXY_AUTO_CONFIG_URL",
}
_ROUTE_KEYWORDS = ("vpn_gateway", "net_gateway", "remote_host")


# --- general ---------------------------------------------------------------------------------


def client(p: Parser, d: Directive) -> None:
    """``client``: tls-client + pull."""
    p.is_client = True


def pull(p: Parser, d: Directive) -> None:
    """``pull``."""
    p.pull = True


def tls_client(p: Parser, d: Directive) -> None:
    """``tls-client``."""
    p.tls_client = True


def mode(p: Parser, d: Directive) -> None:
    """``mode p2p`` (the only client mode)."""
    if d.args[0] != "p2p":
        raise p.error(d, f"'mode {d.args[0]}' is a server mode; vpnstack is a client")


def cd(p: Parser, d: Directive) -> None:
    """``cd DIR``: later relative paths (of this file, or of the command line) are in DIR."""
    path = path_of(p, d, d.args[0])
    if not os.path.isdir(path):
        raise p.error(d, f"{d.label}: {path!r} is not a directory")
    if d.cli:  # like openvpn's chdir, for the options and --config files after it
        p.cwd = path
    else:
        p.base_dir = path


def config(p: Parser, d: Directive) -> None:
    """``config FILE``: read FILE's directives here (``--config`` on the command line)."""
    if is_inline_name(d.args[0]) or d.inline is not None:
        raise p.error(d, f"{d.label} takes a file name")
    p.include(d, path_of(p, d, d.args[0]))


def setenv(p: Parser, d: Directive) -> None:
    """``setenv NAME VALUE`` or ``setenv opt DIRECTIVE ...`` (apply it; ignore if unknown)."""
    if d.args[0] == "opt":
        p.nargs(d, 2, None)
        if d.args[1].removeprefix("--") == "setenv" and d.args[2:3] == ("opt",):
            raise p.error(d, f"{d.label}: 'setenv opt setenv opt ...' nests; give the option once")
        inner = Directive(
            d.args[1].removeprefix("--"), d.args[2:], d.line, cli=d.cli, source=d.source
        )
        added = inner.name not in p.ignorable
        p.ignorable.add(inner.name)
        try:
            p.handle(inner)
        finally:
            if added:
                p.ignorable.discard(inner.name)
        return
    p.nargs(d, 1, 2)
    name, value = d.args[0], d.args[1] if len(d.args) > 1 else ""
    if name == "FORWARD_COMPATIBLE":
        p.forward_compatible = value == "1"
        return
    p.client = attrs.evolve(p.client, setenv=(*p.client.setenv, (name, value)))
    if not name.startswith("UV_"):
        p.warn(d, f"'setenv {name}' ignored (vpnstack runs no scripts)")


def ignore_unknown_option(p: Parser, d: Directive) -> None:
    """``ignore-unknown-option NAME...``."""
    p.ignorable.update(a.removeprefix("--") for a in d.args)


# --- connection (not per-connection) ---------------------------------------------------------


def remote_random(p: Parser, d: Directive) -> None:
    """``remote-random``."""
    p.transport = attrs.evolve(p.transport, remote_random=True)


def resolv_retry(p: Parser, d: Directive) -> None:
    """``resolv-retry N|infinite``."""
    value = math.inf if d.args[0] == "infinite" else p.seconds(d, d.args[0], 0, 1 << 30)
    p.transport = attrs.evolve(p.transport, resolv_retry=value)


def ping(p: Parser, d: Directive) -> None:
    """``ping N``."""
    p.data = attrs.evolve(p.data, ping=p.integer(d, d.args[0], 0, 1 << 30))


def ping_restart(p: Parser, d: Directive) -> None:
    """``ping-restart N``."""
    p.data = attrs.evolve(p.data, ping_restart=p.integer(d, d.args[0], 0, 1 << 30))


def ping_exit(p: Parser, d: Directive) -> None:
    """``ping-exit N``."""
    p.data = attrs.evolve(p.data, ping_exit=p.integer(d, d.args[0], 1, 1 << 30))


def keepalive(p: Parser, d: Directive) -> None:
    """``keepalive PING RESTART``: ping and ping-restart in one."""
    ping_ = p.integer(d, d.args[0], 1, 1 << 30)
    restart = p.integer(d, d.args[1], 1, 1 << 30)
    if restart < 2 * ping_:
        raise p.error(d, f"{d.label} PING RESTART needs RESTART >= 2 * PING")
    p.data = attrs.evolve(p.data, ping=ping_, ping_restart=restart)


def hand_window(p: Parser, d: Directive) -> None:
    """``hand-window N``."""
    p.tls = attrs.evolve(p.tls, hand_window=p.seconds(d, d.args[0], 1, 86400))


# --- tun -------------------------------------------------------------------------------------


def dev(p: Parser, d: Directive) -> None:
    """``dev tun|NAME``."""
    name = d.args[0]
    if name.startswith(("tap", "null")):
        raise p.error(d, f"'dev {name}' is not supported; vpnstack only supports 'dev tun'")
    if len(name) > 15 or "/" in name or not name.isprintable() or " " in name:
        raise p.error(d, f"'dev {name}' is not a valid interface name (at most 15 chars)")
    p.dev_at = d
    p.routing = attrs.evolve(p.routing, dev=name)


def dev_type(p: Parser, d: Directive) -> None:
    """``dev-type tun``."""
    if d.args[0] != "tun":
        raise p.error(d, "only 'dev-type tun' is supported")
    p.dev_type_tun = True


# --- tls -------------------------------------------------------------------------------------


def remote_cert_tls(p: Parser, d: Directive) -> None:
    """``remote-cert-tls server``."""
    if d.args[0] != "server":
        raise p.error(d, "a client can only use 'remote-cert-tls server'")
    p.tls = attrs.evolve(p.tls, remote_cert_tls="server")


def verify_x509_name(p: Parser, d: Directive) -> None:
    """``verify-x509-name NAME [TYPE]``."""
    kind = d.args[1] if len(d.args) > 1 else "subject"
    if kind not in _X509_NAME_TYPES:
        raise p.error(d, f"bad verify-x509-name type '{kind}': use subject, name or name-prefix")
    p.tls = attrs.evolve(p.tls, verify_x509_name=(d.args[0], kind))


def _tls_version(p: Parser, d: Directive, *, minimum: bool) -> str | None:
    version = d.args[0]
    if len(d.args) == 2 and (not minimum or d.args[1] != "or-highest"):
        raise p.error(d, f"{d.label} takes a version and optionally 'or-highest'")
    if version in ("1.0", "1.1"):
        if not minimum:
            raise p.error(d, "TLS before 1.2 is not supported; use 1.2 or 1.3")
        p.warn(d, f"'{d.name} {version}' ignored: vpnstack always uses TLS >= 1.2")
        return None
    if version not in ("1.2", "1.3"):
        raise p.error(d, f"bad TLS version '{version}': use 1.2 or 1.3")
    return version


def tls_version_min(p: Parser, d: Directive) -> None:
    """``tls-version-min 1.2|1.3 [or-highest]`` (1.0/1.1: a warning, TLS >= 1.2 anyway)."""
    p.tls = attrs.evolve(p.tls, version_min=_tls_version(p, d, minimum=True))


def tls_version_max(p: Parser, d: Directive) -> None:
    """``tls-version-max 1.2|1.3``."""
    p.tls = attrs.evolve(p.tls, version_max=_tls_version(p, d, minimum=False))


def tls_cipher(p: Parser, d: Directive) -> None:
    """``tls-cipher LIST``."""
    p.tls = attrs.evolve(p.tls, cipher=d.args[0])


def tls_ciphersuites(p: Parser, d: Directive) -> None:
    """``tls-ciphersuites LIST``."""
    p.tls = attrs.evolve(p.tls, ciphersuites=d.args[0])


def tls_groups(p: Parser, d: Directive) -> None:
    """``tls-groups LIST``."""
    p.tls = attrs.evolve(p.tls, groups=d.args[0])


def tls_timeout(p: Parser, d: Directive) -> None:
    """``tls-timeout N``."""
    p.tls = attrs.evolve(p.tls, timeout=p.seconds(d, d.args[0], 1, 3600))


def tls_mtu(p: Parser, d: Directive) -> None:
    """``tls-mtu N``."""
    p.tls = attrs.evolve(p.tls, mtu=p.integer(d, d.args[0], 154, 2048))


def reneg_sec(p: Parser, d: Directive) -> None:
    """``reneg-sec N [MAX]`` (MAX is the server's upper bound: checked only)."""
    p.tls = attrs.evolve(p.tls, reneg_sec=p.integer(d, d.args[0], 0, 1 << 30))
    if len(d.args) == 2:
        p.integer(d, d.args[1], 0, 1 << 30)


def reneg_bytes(p: Parser, d: Directive) -> None:
    """``reneg-bytes N``."""
    p.tls = attrs.evolve(p.tls, reneg_bytes=p.integer(d, d.args[0], 0, 1 << 62))


def reneg_pkts(p: Parser, d: Directive) -> None:
    """``reneg-pkts N``."""
    p.tls = attrs.evolve(p.tls, reneg_pkts=p.integer(d, d.args[0], 0, 1 << 62))


def tran_window(p: Parser, d: Directive) -> None:
    """``tran-window N``."""
    p.tls = attrs.evolve(p.tls, tran_window=p.seconds(d, d.args[0], 1, 1 << 30))


# --- data channel ----------------------------------------------------------------------------


def auth(p: Parser, d: Directive) -> None:
    """``auth DIGEST``."""
    name = d.args[0].upper().replace("-", "")
    if name not in _DIGESTS:
        raise p.error(
            d, f"unsupported 'auth {d.args[0]}': use one of {', '.join(sorted(_DIGESTS))}"
        )
    p.data = attrs.evolve(p.data, auth=name)


def _cipher_name(p: Parser, d: Directive, text: str) -> str:
    name = text.upper()
    if name not in _CIPHERS:
        raise p.error(d, f"unsupported cipher '{text}': use one of {', '.join(sorted(_CIPHERS))}")
    return name


def cipher(p: Parser, d: Directive) -> None:
    """``cipher NAME`` (legacy: joins the negotiable list)."""
    if d.args[0].lower() == "none":
        raise p.error(d, "'cipher none' (no encryption) is not supported; remove it")
    p.data = attrs.evolve(p.data, cipher=_cipher_name(p, d, d.args[0]))


def data_ciphers(p: Parser, d: Directive) -> None:
    """``data-ciphers LIST`` / ``ncp-ciphers LIST``; ``?NAME`` is skipped if unsupported."""
    names: list[str] = []
    for item in d.args[0].split(":"):
        if not item:
            continue
        if item.startswith("?"):  # optional cipher (2.6): skip it if unsupported
            if item[1:].upper() in _CIPHERS:
                names.append(item[1:].upper())
            continue
        name = _cipher_name(p, d, item)
        if name not in names:
            names.append(name)
    if not names:
        raise p.error(d, f"{d.label} names no supported cipher")
    p.data = attrs.evolve(p.data, ciphers=tuple(names))
    p.data_ciphers_set = True


def data_ciphers_fallback(p: Parser, d: Directive) -> None:
    """``data-ciphers-fallback NAME``."""
    p.data = attrs.evolve(p.data, ciphers_fallback=_cipher_name(p, d, d.args[0]))


def allow_compression(p: Parser, d: Directive) -> None:
    """``allow-compression no|asym|yes`` (only ``no`` means something: nothing is stored)."""
    if d.args[0] not in ("no", "asym", "yes"):
        raise p.error(d, f"{d.label} takes no, asym or yes")
    if d.args[0] != "no":
        p.warn(d, f"'allow-compression {d.args[0]}' ignored (vpnstack never compresses)")


def compression(p: Parser, d: Directive) -> None:
    """``comp-lzo [...]`` / ``compress [...]``: the framing only."""
    # docs §6.4: only the framing matters; vpnstack never compresses.
    text = " ".join((d.name, *d.args))
    try:
        framing_of(text)
    except ValueError:
        if d.name == "comp-lzo":
            raise p.error(d, f"{d.label} takes yes, no or adaptive") from None
        if d.args == ("migrate",):
            raise p.error(
                d,
                "'compress migrate' is a server option; remove it (the server pushes"
                " the framing it wants) or use 'compress stub-v2'",
            ) from None
        raise p.error(
            d, f"unknown '{text}': use compress stub-v2, stub, lz4-v2, lz4 or lzo"
        ) from None
    if compresses(text):
        p.warn(
            d,
            f"'{text}': vpnstack does not compress; it sends uncompressed packets in this "
            "framing, and a compressed packet from the server ends the session",
        )
    p.data = attrs.evolve(p.data, compression=text)


# --- auth ------------------------------------------------------------------------------------


def auth_user_pass(p: Parser, d: Directive) -> None:
    """``auth-user-pass [FILE]`` / ``<auth-user-pass>``: user name and password lines."""
    p.client = attrs.evolve(p.client, auth_user_pass_required=True, username=None, password=None)
    if d.inline is None and not d.args:
        return  # the user name and password must come from the caller
    if d.inline is None and inline_name(p, d, d.args[0]):
        return  # "auth-user-pass [inline]": a later <auth-user-pass> block fills it
    text, where = file_or_inline(p, d)
    lines = NEWLINE.split(text)
    username = lines[0].strip() if lines else ""
    password = lines[1] if len(lines) > 1 else ""
    if not username:
        raise p.error(d, f"{d.label}: {where} has no user name on its first line")
    # only a user name: ask for the password
    p.client = attrs.evolve(p.client, username=username, password=password or None)


def auth_retry(p: Parser, d: Directive) -> None:
    """``auth-retry none|nointeract|interact``."""
    if d.args[0] not in ("none", "nointeract", "interact"):
        raise p.error(d, f"{d.label} takes none, nointeract or interact")
    p.client = attrs.evolve(p.client, auth_retry=d.args[0])


def auth_nocache(p: Parser, d: Directive) -> None:
    """``auth-nocache``."""
    p.client = attrs.evolve(p.client, auth_nocache=True)


# --- routing and dns -------------------------------------------------------------------------


def route_nopull(p: Parser, d: Directive) -> None:
    """``route-nopull``."""
    p.routing = attrs.evolve(p.routing, nopull=True)


def pull_filter(p: Parser, d: Directive) -> None:
    """``pull-filter accept|ignore|reject TEXT``."""
    action, text = d.args
    if action not in ("accept", "ignore", "reject"):
        raise p.error(d, f"{d.label} action '{action}': use accept, ignore or reject")
    p.routing = attrs.evolve(p.routing, pull_filters=(*p.routing.pull_filters, (action, text)))


def route(p: Parser, d: Directive) -> None:
    """``route NETWORK [NETMASK [GATEWAY [METRIC]]]``; "default" keeps a position's default."""
    a = d.args
    mask = a[1] if len(a) > 1 and a[1] != "default" else "255.255.255.255"
    try:
        network = ipaddress.IPv4Network(f"{a[0]}/{mask}", strict=False)
    except ValueError:
        raise p.error(
            d,
            f"{d.label} {a[0]} {mask}: use an IPv4 network and netmask"
            " (host names are not supported here)",
        ) from None
    if network.network_address != ipaddress.IPv4Address(a[0]):
        p.warn(d, f"{d.label} {a[0]} {mask} has host bits set; using {network}")
    gateway: ipaddress.IPv4Address | None = None
    keyword: str | None = None
    if len(a) > 2 and a[2] != "default":
        if a[2] in _ROUTE_KEYWORDS:
            keyword = a[2]
        else:
            try:
                gateway = ipaddress.IPv4Address(a[2])
            except ValueError:
                raise p.error(
                    d, f"{d.label} gateway '{a[2]}': use an IPv4 address or vpn_gateway"
                ) from None
    metric = None
    if len(a) > 3 and a[3] != "default":
        metric = p.integer(d, a[3], 0, 1 << 30)
    new = ConfiguredRoute(network, gateway, keyword, metric)
    p.routing = attrs.evolve(p.routing, routes=(*p.routing.routes, new))


def route_ipv6(p: Parser, d: Directive) -> None:
    """``route-ipv6 NETWORK/BITS [GATEWAY [METRIC]]``."""
    a = d.args
    try:
        network = ipaddress.IPv6Network(a[0], strict=False)
    except ValueError:
        raise p.error(d, f"{d.label} '{a[0]}': use an IPv6 network like 2001:db8::/32") from None
    gateway = None
    if len(a) > 1 and a[1] != "default":
        try:
            gateway = ipaddress.IPv6Address(a[1])
        except ValueError:
            raise p.error(d, f"{d.label} gateway '{a[1]}': use an IPv6 address") from None
    metric = None
    if len(a) > 2 and a[2] != "default":
        metric = p.integer(d, a[2], 0, 1 << 30)
    new = ConfiguredRoute6(network, gateway, metric)
    p.routing = attrs.evolve(p.routing, routes_ipv6=(*p.routing.routes_ipv6, new))


def redirect_gateway(p: Parser, d: Directive) -> None:
    """``redirect-gateway [FLAGS...]``."""
    for flag in d.args:
        if flag not in _REDIRECT_FLAGS:
            raise p.error(
                d, f"unknown {d.label} flag '{flag}': use {', '.join(sorted(_REDIRECT_FLAGS))}"
            )
    p.routing = attrs.evolve(p.routing, redirect_gateway=tuple(d.args))


def route_metric(p: Parser, d: Directive) -> None:
    """``route-metric N``."""
    p.routing = attrs.evolve(p.routing, metric=p.integer(d, d.args[0], 0, 1 << 30))


def route_gateway(p: Parser, d: Directive) -> None:
    """``route-gateway IP``."""
    try:
        gateway = ipaddress.IPv4Address(d.args[0])
    except ValueError:
        raise p.error(d, f"{d.label} '{d.args[0]}': use an IPv4 address") from None
    p.routing = attrs.evolve(p.routing, gateway=gateway)


def dhcp_option(p: Parser, d: Directive) -> None:
    """``dhcp-option TYPE [VALUE]``."""
    kind = d.args[0].upper()
    value = d.args[1] if len(d.args) > 1 else ""
    if kind not in _DHCP_TYPES:
        raise p.error(
            d, f"unknown {d.label} type '{d.args[0]}': use DNS, DNS6, DOMAIN, DOMAIN-SEARCH"
        )
    if kind in ("DNS", "DNS6"):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise p.error(
                d, f"{d.label} {kind} '{value}': use the DNS server's IP address"
            ) from None
    elif kind != "DISABLE-NBT" and not value:
        raise p.error(d, f"{d.label} {kind} needs a value")
    p.routing = attrs.evolve(p.routing, dhcp_options=(*p.routing.dhcp_options, (kind, value)))


# --- logging ---------------------------------------------------------------------------------


def verb(p: Parser, d: Directive) -> None:
    """``verb N``."""
    p.client = attrs.evolve(p.client, verb=p.integer(d, d.args[0], 0, 11))


def mute(p: Parser, d: Directive) -> None:
    """``mute N``."""
    p.client = attrs.evolve(p.client, mute=p.integer(d, d.args[0], 0, 1 << 30))


def status(p: Parser, d: Directive) -> None:
    """``status FILE [SECONDS]``."""
    p.client = attrs.evolve(p.client, status_file=path_of(p, d, d.args[0]))
    if len(d.args) == 2:
        p.client = attrs.evolve(p.client, status_interval=p.integer(d, d.args[1], 1, 1 << 30))


def log(p: Parser, d: Directive) -> None:
    """``log FILE``: truncate first."""
    p.client = attrs.evolve(p.client, log_file=path_of(p, d, d.args[0]), log_append=False)


def log_append(p: Parser, d: Directive) -> None:
    """``log-append FILE``."""
    p.client = attrs.evolve(p.client, log_file=path_of(p, d, d.args[0]), log_append=True)


def script_security(p: Parser, d: Directive) -> None:
    """``script-security N`` (stored; vpnstack runs no scripts)."""
    p.client = attrs.evolve(p.client, script_security=p.integer(d, d.args[0], 0, 3))
