"""Client configuration: the ``Config`` record, ``load_config`` for .ovpn files, ``DIRECTIVES``.

How this works: the text is split into *directives* the way OpenVPN's own ``parse_line`` and
``read_config_file`` do (options_parse.c): one per line; ``#``/``;`` start a comment wherever an
argument could start; an optional leading ``--``; double quotes with the backslash escapes
``\\\\``, ``\\"`` and ``\\<space>`` (any other backslash is an error, as in OpenVPN, because it
is almost always an unescaped Windows path); single quotes taken literally; and a line whose
only token is ``<tag>`` opens an inline block that runs to ``</tag>`` and counts as the
directive ``tag`` with inline data. ``<connection>`` blocks are parsed the same way, recursively.

Every directive name is looked up in one table, ``DIRECTIVES`` (also what the CLI builds its
options and ``--help`` groups from), and has one of three kinds:

* ``implemented``: the value is checked and stored in the ``Config``;
* ``ignored``: accepted, but stock OpenVPN would do something vpnstack does not (or does not
  need to); a warning ``file:line: ...`` is collected in ``Config.warnings``;
* ``refused``: ``ConfigError(message, path=..., line=...)`` whose message says what to change.

Names not in the table are refused too, unless an earlier ``ignore-unknown-option NAME``, a
``setenv opt NAME ...`` line or ``setenv FORWARD_COMPATIBLE 1`` makes them ignorable (then they
are warnings). Refused directives stay refused even then: ignoring them would break the session.

Command-line overrides (``load_config(path, overrides=[["verb", "4"], ...])``) are further
directives applied after the file, so the later value wins as in OpenVPN; their errors name the
``--option`` and have ``path="command line"``; their relative paths are relative to the current
directory. File arguments inside the config are relative to the config's folder (or to a
``cd DIR`` given earlier). Certificates and keys are parsed here (with ``cryptography``) so that
a broken file is reported at the line that names it, not in the middle of a handshake.

``<connection>`` blocks: like OpenVPN, each block starts from the global ``proto``/``port``
given *before* it and must hold exactly one ``remote``; ``remote`` lines outside the blocks are
then ignored (with a warning), and connection options given after the first block are ignored
(with a warning), except ``tls-auth``/``tls-crypt``/``tls-crypt-v2``/``key-direction`` which
apply to every block that has none of its own. vpnstack keeps one value of each per-connection
option for the whole config, so blocks that end up with different values are refused.

Remotes keep their transport: ``proto``/``remote ... PROTO`` may be UDP or TCP, and
``tcp-client`` is stored as ``tcp`` (a client's TCP is always the connecting side).
``tls-crypt-v2`` client keys are parsed and stored in ``Config.tls_crypt_v2_key``
(spoken by ``core/controlchannel/wrap.py``); ``require_supported(config)`` is the hook for parsed
features the stack cannot speak yet (none at present).

The ``Config`` field names are a contract used by the layers and the CLI. ``repr(Config)``, the
warnings and every ``ConfigError`` leave out keys, passwords and inline data.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from vpnstack.core.shared.framing import compresses, framing_of
from vpnstack.core.tlssession.push import PushedRoute, PushedRoute6
from vpnstack.errors import ConfigError


@attrs.frozen
class Remote:
    """One ``remote`` line (or the remote of one ``<connection>`` block)."""

    host: str
    """Host name or address literal."""
    port: int = 1194
    """UDP/TCP port."""
    proto: str = "udp"
    """``udp``, ``udp4``, ``udp6``, ``tcp``, ``tcp4`` or ``tcp6`` (``tcp-client`` and
    ``tcpN-client`` are stored as ``tcp``/``tcpN``: a client's TCP is always the client side)."""


DEFAULT_DATA_CIPHERS = ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305")
"""OpenVPN 2.6's default ``data-ciphers`` list."""


@attrs.frozen(repr=False)
class Config:
    """A parsed client configuration. ``repr`` hides key material and credentials."""

    source: str
    """Path of the file it came from (or ``<string>``)."""
    remotes: tuple[Remote, ...]
    """``remote`` lines (or ``<connection>`` blocks) in order, UDP and TCP alike."""
    ca: bytes
    """PEM of the trusted CA certificate(s) (``ca``); may hold several, intermediates too."""
    cert: bytes | None = None
    """PEM client certificate (``cert``, or from ``pkcs12``)."""
    key: bytes | None = None
    """PEM client private key (``key``, or PKCS#8 PEM from ``pkcs12``)."""
    extra_certs: bytes | None = None
    """PEM chain sent after our certificate (``extra-certs``, a chain in ``cert``, ``pkcs12``)."""
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
    """From ``auth-user-pass`` (file or inline); None when not used or to be asked for."""
    password: str | None = None
    """From ``auth-user-pass``; None when to be asked for. Never logged."""
    verb: int = 1
    """``verb`` level."""
    tls_ekm: bool = True
    """Announce TLS-EKM key derivation (IV_PROTO bit 3; PROTOCOL.md §5.3). No .ovpn directive
    sets it: ``attrs.evolve(config, tls_ekm=False)`` makes the server choose the OpenVPN PRF,
    which is how the PRF path is tested against a real server."""
    # --- fields added by the parser (not used by every layer yet) ---------------------------
    auth_user_pass_required: bool = False
    """``auth-user-pass`` is present: the server wants a user name and password. When
    ``username`` or ``password`` is None the caller must ask for it."""
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
    """``server-poll-timeout`` / ``connect-timeout``: how long to wait for one remote."""
    resolv_retry: float = math.inf
    """``resolv-retry n|infinite``: how long to keep retrying name resolution."""
    mute: int = 0
    """``mute n``: log at most n messages of one category in a row (0: no limit)."""
    dev: str = "tun"
    """``dev``: the tun device name, or ``tun`` for the first free ``tunN``."""
    # --- issue 3: vpnstack-client ------------------------------------------------------------
    tls_crypt_v2_key: bytes | None = None
    """``tls-crypt-v2`` client key, decoded: Kc (256 bytes) || WKc (PROTOCOL.md §4.3)."""
    route_nopull: bool = False
    """``route-nopull``: do not install pushed routes (other pushed options still apply)."""
    pull_filters: tuple[tuple[str, str], ...] = ()
    """``pull-filter accept|ignore|reject TEXT`` in order, as (action, text); the first whose
    text is a prefix of a pushed option decides."""
    routes: tuple[PushedRoute, ...] = ()
    """``route`` lines of the client config, installed like pushed ones."""
    routes_ipv6: tuple[PushedRoute6, ...] = ()
    """``route-ipv6`` lines of the client config."""
    redirect_gateway: tuple[str, ...] | None = None
    """Flags of a client-side ``redirect-gateway`` (None: absent; () given without flags)."""
    dhcp_options: tuple[tuple[str, str], ...] = ()
    """Client-side ``dhcp-option TYPE [VALUE]`` as (TYPE upper-case, value or "")."""
    route_metric: int | None = None
    """``route-metric``: default metric of the routes."""
    route_gateway: ipaddress.IPv4Address | None = None
    """Client-side ``route-gateway``; a pushed one wins."""
    auth_retry: str = "none"
    """``auth-retry none|nointeract|interact``: what to do after AUTH_FAILED."""
    auth_nocache: bool = False
    """``auth-nocache``: forget the password after use (ask again on reconnect)."""
    status_file: str | None = None
    """``status FILE``: absolute path of the status summary file."""
    status_interval: int = 60
    """``status FILE SECONDS``: how often to rewrite it."""
    log_file: str | None = None
    """``log FILE`` / ``log-append FILE``: absolute path of the log file."""
    log_append: bool = False
    """True for ``log-append`` (append instead of truncating)."""
    script_security: int = 1
    """``script-security n`` (vpnstack runs no scripts; stored for completeness)."""
    tun_mtu: int | None = None
    """``tun-mtu`` of the client config; a pushed ``tun-mtu`` wins."""
    tls_cipher: str | None = None
    """``tls-cipher``: OpenSSL cipher list for TLS <= 1.2."""
    tls_ciphersuites: str | None = None
    """``tls-ciphersuites``: TLS 1.3 cipher suites."""
    tls_groups: str | None = None
    """``tls-groups``: key exchange groups, colon-separated."""
    reneg_sec: int | None = None
    """``reneg-sec n``: renegotiate after n s (None: the stock default, 3600)."""
    reneg_bytes: int | None = None
    """``reneg-bytes n``: renegotiate after n bytes."""
    reneg_pkts: int | None = None
    """``reneg-pkts n``: renegotiate after n packets."""
    tran_window: float = 3600.0
    """``tran-window``: how long an old key still decrypts after a renegotiation."""
    ping_exit: int | None = None
    """``ping-exit n``: exit after n s without input."""
    setenv: tuple[tuple[str, str], ...] = ()
    """``setenv NAME VALUE`` pairs (not ``setenv opt``), e.g. ``UV_*`` peer-info variables."""
    compression: str | None = None
    """``comp-lzo [..]`` / ``compress [..]`` as given (e.g. ``comp-lzo no``), or None. It only
    selects the framing (``core.compression.framing_of``, PROTOCOL.md §7.4): vpnstack never
    compresses, and a compressed packet from the server ends the session."""

    def __repr__(self) -> str:
        remotes = ", ".join(f"{r.host}:{r.port}/{r.proto}" for r in self.remotes)
        return f"Config(source={self.source!r}, remotes=[{remotes}])"


def require_supported(config: Config) -> None:
    """Raise ``ConfigError`` for parsed features the protocol stack cannot speak yet.

    Nothing is refused at present (tls-crypt-v2, the last such feature, is spoken now).
    """


DNS_HELPER_SCRIPTS = (
    "update-resolv-conf",
    "update-systemd-resolved",
    "systemd-resolved",
    "client.up",
    "client.down",
)
"""Well-known up/down scripts that only apply pushed DNS (Debian, Fedora, systemd helpers)."""


def _is_dns_helper_script(args: Sequence[str]) -> bool:
    """Whether an ``up``/``down`` command is one of the DNS helper scripts."""
    return bool(args) and os.path.basename(args[0]).startswith(DNS_HELPER_SCRIPTS)


# --- the directive table ---------------------------------------------------------------------

Kind = Literal["implemented", "ignored", "refused"]


@attrs.frozen
class DirectiveSpec:
    """What vpnstack knows about one .ovpn directive (also a command-line option)."""

    name: str
    """The directive name (``--name`` on the command line)."""
    min_args: int
    """Fewest arguments it takes."""
    max_args: int | None
    """Most arguments it takes (None: no limit)."""
    metavar: str
    """The arguments for help texts, e.g. ``FILE [DIRECTION]`` ("" for none)."""
    topic: str
    """Help group, one of ``TOPICS``."""
    kind: Kind
    """``implemented``, ``ignored`` (warning) or ``refused`` (ConfigError)."""
    help: str
    """One line: what it does; for ``ignored`` why, for ``refused`` what to do instead."""
    inline: bool = False
    """It may be given as an inline ``<name>...</name>`` block."""
    connection: bool = False
    """It is a per-connection option, allowed inside ``<connection>`` blocks."""
    command_line: bool = True
    """It makes sense as a command-line option (False: only in a file, e.g. ``cd``)."""


TOPICS = (
    "general",
    "connection",
    "tls",
    "data channel",
    "auth",
    "tun",
    "routing",
    "dns",
    "logging",
    "compatibility",
)
"""Help groups of ``DIRECTIVES`` in display order."""

_IMPL: Kind = "implemented"
_IGN: Kind = "ignored"
_REF: Kind = "refused"
_MANY = None

# (name, min, max, metavar, topic, kind, help[, flags: "inline" "connection" "file-only"])
# fmt: off
_TABLE: list[tuple[Any, ...]] = [
    # general
    ("client", 0, 0, "", "general", _IMPL, "be an OpenVPN client (tls-client + pull)"),
    ("pull", 0, 0, "", "general", _IMPL, "accept options pushed by the server (part of client)"),
    ("tls-client", 0, 0, "", "general", _IMPL, "be the TLS client (part of client)"),
    ("mode", 1, 1, "p2p", "general", _IMPL, "only 'mode p2p' (a client) is accepted"),
    ("cd", 1, 1, "DIR", "general", _IMPL, "resolve later relative paths against DIR",
     "file-only"),
    ("setenv", 1, _MANY, "NAME VALUE | opt DIRECTIVE...", "general", _IMPL,
     "set a variable; 'setenv opt X ...' applies X but ignores it if unknown"),
    ("ignore-unknown-option", 1, _MANY, "NAME...", "general", _IMPL,
     "treat these directives as warnings if vpnstack does not know them", "file-only"),
    ("config", 1, 1, "FILE", "general", _REF,
     "including another config file is not supported; paste its contents into this one",
     "file-only"),
    ("daemon", 0, 1, "[NAME]", "general", _REF,
     "vpnstack-client does not fork into the background; run it as a systemd service or"
     " with nohup instead"),
    ("management", 2, 3, "IP PORT [PW]", "general", _REF,
     "the management interface is not supported; vpnstack-client prints its progress and"
     " answers SIGUSR1/SIGHUP/SIGUSR2"),
    ("plugin", 1, _MANY, "MODULE [ARGS]", "general", _REF, "plugins are not supported"),
    ("user", 1, 1, "USER", "general", _IGN, "vpnstack does not drop privileges itself"),
    ("group", 1, 1, "GROUP", "general", _IGN, "vpnstack does not drop privileges itself"),
    ("chroot", 1, 1, "DIR", "general", _IGN, "vpnstack does not chroot itself"),
    ("writepid", 1, 1, "FILE", "general", _IGN, "vpnstack writes no pid file"),
    ("nice", 1, 1, "N", "general", _IGN, "vpnstack leaves its priority alone"),
    ("mlock", 0, 0, "", "general", _IGN, "vpnstack does not lock its memory"),
    ("persist-key", 0, 0, "", "general", _IGN,
     "vpnstack keeps its keys in memory across reconnects anyway"),
    ("persist-tun", 0, 0, "", "general", _IGN, "the tun device follows the session"),
    ("persist-remote-ip", 0, 0, "", "general", _IGN, "remote names are resolved per connection"),
    ("persist-local-ip", 0, 0, "", "general", _IGN, "vpnstack never binds a local address"),
    ("ping-timer-rem", 0, 0, "", "general", _IGN, "the ping timer always runs"),
    ("single-session", 0, 0, "", "general", _IGN, "a client has one session anyway"),
    ("tls-exit", 0, 0, "", "general", _IGN, "a TLS failure already ends the attempt"),
    ("inactive", 1, 2, "N [BYTES]", "general", _IGN, "vpnstack does not exit when idle"),
    ("session-timeout", 1, 1, "N", "general", _IGN, "sessions have no fixed lifetime"),
    ("echo", 0, _MANY, "[TEXT]", "general", _IGN, "GUI message"),
    ("up", 1, _MANY, "CMD", "general", _REF,
     "vpnstack-client runs no scripts ('up'); it applies pushed routes and DNS itself, so the"
     " usual update-resolv-conf / update-systemd-resolved scripts are not needed"),
    ("down", 1, _MANY, "CMD", "general", _REF,
     "vpnstack-client runs no scripts ('down'); it restores routes and DNS itself on exit"),
    ("route-up", 1, _MANY, "CMD", "general", _REF, "vpnstack-client runs no scripts"),
    ("route-pre-down", 1, _MANY, "CMD", "general", _REF, "vpnstack-client runs no scripts"),
    ("ipchange", 1, _MANY, "CMD", "general", _REF, "vpnstack-client runs no scripts"),
    ("tls-verify", 1, _MANY, "CMD", "general", _REF,
     "vpnstack-client runs no scripts, so this certificate check cannot be done; use"
     " verify-x509-name or remote-cert-tls"),
    ("up-delay", 0, 0, "", "general", _IGN, "vpnstack-client runs no scripts"),
    ("up-restart", 0, 0, "", "general", _IGN, "vpnstack-client runs no scripts"),
    ("down-pre", 0, 0, "", "general", _IGN, "vpnstack-client runs no scripts"),
    ("setenv-safe", 1, 2, "NAME [VALUE]", "general", _IGN, "vpnstack-client runs no scripts"),
    ("server", 2, 3, "NETWORK NETMASK", "general", _REF,
     "this is a server config ('server'); vpnstack is a client"),
    ("tls-server", 0, 0, "", "general", _REF,
     "this is a server config ('tls-server'); vpnstack is a client"),
    ("secret", 1, 2, "FILE [DIR]", "general", _REF,
     "static-key mode ('secret') is not supported; vpnstack is a TLS client"),
    # connection
    ("connection", 1, 1, "<connection>...</connection>", "connection", _IMPL,
     "a connection profile: one remote and its own options (inline block only)", "inline",
     "file-only"),
    ("remote", 1, 3, "HOST [PORT] [PROTO]", "connection", _IMPL,
     "a server to connect to; repeat for fallbacks", "connection"),
    ("proto", 1, 1, "PROTO", "connection", _IMPL,
     "default transport: udp or tcp (udp4/udp6/tcp4/tcp6 pin the address family)",
     "connection"),
    ("port", 1, 1, "PORT", "connection", _IMPL, "default remote port (1194)", "connection"),
    ("rport", 1, 1, "PORT", "connection", _IMPL, "same as port, for the remote", "connection"),
    ("remote-random", 0, 0, "", "connection", _IMPL, "try the remotes in random order"),
    ("resolv-retry", 1, 1, "N|infinite", "connection", _IMPL,
     "keep retrying name resolution this long"),
    ("connect-retry", 1, 2, "N [MAX]", "connection", _IMPL,
     "seconds between attempts, doubling up to MAX (300)", "connection"),
    ("connect-retry-max", 1, 1, "N", "connection", _IMPL,
     "give up after N passes over the remotes", "connection"),
    ("server-poll-timeout", 1, 1, "N", "connection", _IMPL,
     "seconds to wait for one remote before trying the next", "connection"),
    ("connect-timeout", 1, 1, "N", "connection", _IMPL,
     "same as server-poll-timeout", "connection"),
    ("explicit-exit-notify", 0, 1, "[N]", "connection", _IMPL,
     "tell the server when we leave", "connection"),
    ("ping", 1, 1, "N", "connection", _IMPL, "send a keepalive after N s of silence"),
    ("ping-restart", 1, 1, "N", "connection", _IMPL, "reconnect after N s without input"),
    ("ping-exit", 1, 1, "N", "connection", _IMPL, "exit after N s without input"),
    ("keepalive", 2, 2, "PING RESTART", "connection", _IMPL, "ping and ping-restart in one"),
    ("hand-window", 1, 1, "N", "connection", _IMPL, "seconds allowed for a handshake (60)"),
    ("nobind", 0, 0, "", "connection", _IGN,
     "vpnstack always uses a fresh local port", "connection"),
    ("bind", 0, 1, "[ipv6only]", "connection", _IGN,
     "vpnstack always uses a fresh local port", "connection"),
    ("lport", 1, 1, "PORT", "connection", _IGN,
     "vpnstack always uses a fresh local port", "connection"),
    ("local", 1, 3, "HOST [PORT] [PROTO]", "connection", _IGN,
     "vpnstack lets the system choose the local address", "connection"),
    ("float", 0, 0, "", "connection", _IGN,
     "vpnstack keeps the remote address fixed", "connection"),
    ("remote-random-hostname", 0, 0, "", "connection", _IGN, "host names are used as given"),
    ("fast-io", 0, 0, "", "connection", _IGN, "not applicable to vpnstack's event loop"),
    ("sndbuf", 1, 1, "N", "connection", _IGN, "socket buffer sizes are left to the system"),
    ("rcvbuf", 1, 1, "N", "connection", _IGN, "socket buffer sizes are left to the system"),
    ("socket-flags", 1, _MANY, "FLAGS", "connection", _IGN, "socket flags are left alone"),
    ("mark", 1, 1, "N", "connection", _IGN, "packets are not marked"),
    ("mute-replay-warnings", 0, 0, "", "connection", _IGN,
     "replayed packets are only counted, never logged one by one"),
    ("replay-window", 1, 2, "N [T]", "connection", _IGN, "the replay window has a fixed size"),
    ("http-proxy", 1, 4, "HOST PORT", "connection", _REF,
     "HTTP proxies are not supported yet", "connection"),
    ("http-proxy-option", 1, 3, "TYPE [PARM]", "connection", _REF,
     "HTTP proxies are not supported yet", "connection"),
    ("http-proxy-retry", 0, 0, "", "connection", _REF,
     "HTTP proxies are not supported yet", "connection"),
    ("http-proxy-timeout", 1, 1, "N", "connection", _REF,
     "HTTP proxies are not supported yet", "connection"),
    ("socks-proxy", 1, 3, "HOST [PORT]", "connection", _REF,
     "SOCKS proxies are not supported yet", "connection"),
    ("socks-proxy-retry", 0, 0, "", "connection", _REF,
     "SOCKS proxies are not supported yet", "connection"),
    # tls
    ("ca", 1, 1, "FILE", "tls", _IMPL, "CA certificate(s) to trust", "inline"),
    ("cert", 1, 1, "FILE", "tls", _IMPL, "client certificate (optionally with its chain)",
     "inline"),
    ("key", 1, 1, "FILE", "tls", _IMPL, "client private key (not encrypted)", "inline"),
    ("extra-certs", 1, 1, "FILE", "tls", _IMPL, "chain sent after the client certificate",
     "inline"),
    ("pkcs12", 1, 1, "FILE", "tls", _IMPL,
     "certificate, key and CA from a PKCS#12 file without passphrase", "inline"),
    ("tls-auth", 1, 2, "FILE [DIRECTION]", "tls", _IMPL,
     "HMAC-sign control packets with this static key", "inline", "connection"),
    ("key-direction", 1, 1, "0|1", "tls", _IMPL, "direction of the tls-auth key (client: 1)",
     "connection"),
    ("tls-crypt", 1, 1, "FILE", "tls", _IMPL,
     "encrypt and sign control packets with this static key", "inline", "connection"),
    ("tls-crypt-v2", 1, 1, "FILE", "tls", _IMPL,
     "per-client control channel key (client key: Kc and the wrapped WKc)",
     "inline", "connection"),
    ("remote-cert-tls", 1, 1, "server", "tls", _IMPL,
     "require the server certificate's TLS server EKU"),
    ("verify-x509-name", 1, 2, "NAME [TYPE]", "tls", _IMPL,
     "require this server name (TYPE subject, name or name-prefix)"),
    ("tls-version-min", 1, 2, "1.2|1.3 [or-highest]", "tls", _IMPL, "lowest TLS version"),
    ("tls-version-max", 1, 1, "1.2|1.3", "tls", _IMPL, "highest TLS version"),
    ("tls-cipher", 1, 1, "LIST", "tls", _IMPL, "OpenSSL cipher list for TLS 1.2"),
    ("tls-ciphersuites", 1, 1, "LIST", "tls", _IMPL, "TLS 1.3 cipher suites"),
    ("tls-groups", 1, 1, "LIST", "tls", _IMPL, "key exchange groups"),
    ("tls-timeout", 1, 1, "N", "tls", _IMPL, "control packet retransmission timeout (2 s)"),
    ("tls-mtu", 1, 1, "N", "tls", _IMPL, "largest control packet (1250)"),
    ("reneg-sec", 1, 2, "N [MAX]", "tls", _IMPL, "renegotiate data keys every N seconds"),
    ("reneg-bytes", 1, 1, "N", "tls", _IMPL, "renegotiate after N bytes"),
    ("reneg-pkts", 1, 1, "N", "tls", _IMPL, "renegotiate after N packets"),
    ("tran-window", 1, 1, "N", "tls", _IMPL, "seconds an old key still decrypts after rekey"),
    ("tls-cert-profile", 1, 1, "PROFILE", "tls", _IGN,
     "vpnstack applies its own certificate rules"),
    ("ecdh-curve", 1, 1, "NAME", "tls", _IGN, "use tls-groups instead"),
    ("ns-cert-type", 1, 1, "server", "tls", _REF,
     "the Netscape certificate type check is not supported; use 'remote-cert-tls server'"
     " (the server certificate needs the TLS server EKU)"),
    ("remote-cert-eku", 1, 1, "OID", "tls", _REF,
     "not supported yet; use 'remote-cert-tls server'"),
    ("remote-cert-ku", 0, _MANY, "[HEX...]", "tls", _REF,
     "not supported yet; use 'remote-cert-tls server'"),
    ("tls-remote", 1, 1, "NAME", "tls", _REF,
     "'tls-remote' was removed from OpenVPN; use 'verify-x509-name NAME name'"),
    ("crl-verify", 1, 2, "FILE [dir]", "tls", _REF,
     "certificate revocation lists are not checked yet"),
    ("verify-hash", 1, 2, "HASH [ALGO]", "tls", _REF,
     "CA fingerprint pinning is not supported yet; use 'ca'"),
    ("peer-fingerprint", 1, 1, "HASH", "tls", _REF,
     "certificate fingerprint pinning is not supported yet; use 'ca'"),
    ("capath", 1, 1, "DIR", "tls", _REF, "a CA directory is not supported; use 'ca FILE'"),
    ("askpass", 0, 1, "[FILE]", "tls", _REF,
     "encrypted private keys are not supported yet; decrypt the key file"),
    ("pkcs11-providers", 1, _MANY, "LIB", "tls", _REF, "PKCS#11 tokens are not supported"),
    ("pkcs11-id", 1, 1, "ID", "tls", _REF, "PKCS#11 tokens are not supported"),
    ("cryptoapicert", 1, 1, "SELECT", "tls", _REF, "the Windows certificate store is not"
     " supported; export the certificate and key to PEM files"),
    ("providers", 1, _MANY, "NAME", "tls", _REF, "OpenSSL providers are not supported"),
    ("engine", 0, 1, "[NAME]", "tls", _IGN, "crypto engines are obsolete"),
    ("key-method", 1, 1, "2", "tls", _IGN, "key-method 2 is the only one"),
    # data channel
    ("data-ciphers", 1, 1, "LIST", "data channel", _IMPL,
     "colon-separated ciphers to negotiate, preferred first"),
    ("ncp-ciphers", 1, 1, "LIST", "data channel", _IMPL, "old name of data-ciphers"),
    ("data-ciphers-fallback", 1, 1, "CIPHER", "data channel", _IMPL,
     "cipher for a server that cannot negotiate"),
    ("cipher", 1, 1, "CIPHER", "data channel", _IMPL,
     "legacy cipher line (joins the negotiable list)"),
    ("auth", 1, 1, "DIGEST", "data channel", _IMPL, "HMAC digest for tls-auth and CBC"),
    ("ncp-disable", 0, 0, "", "data channel", _IGN,
     "removed in OpenVPN 2.6; the cipher is always negotiated"),
    ("allow-compression", 1, 1, "no", "data channel", _IMPL,
     "only 'no' means something to vpnstack, which never compresses"),
    ("comp-lzo", 0, 1, "[no|yes|adaptive]", "data channel", _IMPL,
     "comp-lzo framing; vpnstack sends uncompressed and refuses compressed packets"),
    ("compress", 0, 1, "[stub|stub-v2|lz4|lz4-v2|lzo]", "data channel", _IMPL,
     "compression framing; vpnstack sends uncompressed and refuses compressed packets"),
    ("comp-noadapt", 0, 0, "", "data channel", _IGN, "vpnstack never compresses"),
    ("fragment", 1, 2, "N", "data channel", _REF,
     "'fragment' is not supported (it must match the server); remove it on both sides",
     "connection"),
    ("disable-occ", 0, 0, "", "data channel", _IGN, "vpnstack sends no OCC messages"),
    ("no-replay", 0, 0, "", "data channel", _REF,
     "'no-replay' was removed from OpenVPN; remove the line"),
    # auth
    ("auth-user-pass", 0, 1, "[FILE]", "auth", _IMPL,
     "user name and password: FILE (two lines), an inline block, or asked for", "inline"),
    ("auth-retry", 1, 1, "none|nointeract|interact", "auth", _IMPL,
     "what to do after AUTH_FAILED (none: exit)"),
    ("auth-nocache", 0, 0, "", "auth", _IMPL, "ask for the password again on reconnect"),
    ("static-challenge", 2, 3, "TEXT ECHO [FORMAT]", "auth", _REF,
     "challenge/response prompts are not supported yet"),
    ("push-peer-info", 0, 0, "", "auth", _IGN, "vpnstack sends its fixed peer info"),
    # tun
    ("dev", 1, 1, "tun|NAME", "tun", _IMPL, "tun device name ('tun': the first free tunN)"),
    ("dev-type", 1, 1, "tun", "tun", _IMPL, "device type; only tun"),
    ("tun-mtu", 1, 1, "N", "tun", _IMPL, "MTU of the tun device (a pushed tun-mtu wins)",
     "connection"),
    ("topology", 1, 1, "TYPE", "tun", _IGN, "the server pushes the topology"),
    ("mssfix", 0, 2, "[N]", "tun", _IGN, "TCP MSS clamping is not done", "connection"),
    ("link-mtu", 1, 1, "N", "tun", _IGN, "deprecated; use tun-mtu", "connection"),
    ("tun-mtu-extra", 1, 1, "N", "tun", _IGN, "not needed for tun devices", "connection"),
    ("mtu-disc", 1, 1, "TYPE", "tun", _IGN, "path MTU discovery is left to the system",
     "connection"),
    ("mtu-test", 0, 0, "", "tun", _IGN, "not supported"),
    ("txqueuelen", 1, 1, "N", "tun", _IGN, "the tun queue length is left to the system"),
    ("dev-node", 1, 1, "NODE", "tun", _IGN, "/dev/net/tun is always used"),
    ("tun-ipv6", 0, 0, "", "tun", _IGN, "obsolete: IPv6 is always enabled"),
    ("disable-dco", 0, 0, "", "tun", _IGN, "vpnstack never uses data channel offload"),
    ("ifconfig", 2, 2, "LOCAL REMOTE", "tun", _REF,
     "a client gets its address from the server; remove 'ifconfig'"),
    ("ifconfig-ipv6", 2, 2, "ADDR/BITS REMOTE", "tun", _REF,
     "a client gets its address from the server; remove 'ifconfig-ipv6'"),
    # routing
    ("route-nopull", 0, 0, "", "routing", _IMPL, "do not install routes the server pushes"),
    ("pull-filter", 2, 2, "accept|ignore|reject TEXT", "routing", _IMPL,
     "filter pushed options starting with TEXT (first match decides)"),
    ("route", 1, 4, "NETWORK [NETMASK] [GATEWAY] [METRIC]", "routing", _IMPL,
     "add a route through the tunnel"),
    ("route-ipv6", 1, 3, "NETWORK/BITS [GATEWAY] [METRIC]", "routing", _IMPL,
     "add an IPv6 route through the tunnel"),
    ("redirect-gateway", 0, _MANY, "[FLAGS...]", "routing", _IMPL,
     "send all traffic through the tunnel (def1, ipv6, !ipv4, local, ...)"),
    ("route-metric", 1, 1, "N", "routing", _IMPL, "default metric of the routes"),
    ("route-gateway", 1, 1, "IP", "routing", _IMPL, "default gateway of the routes"),
    ("route-delay", 0, 2, "[N] [W]", "routing", _IGN,
     "routes are installed as soon as the tunnel is up"),
    ("route-noexec", 0, 0, "", "routing", _REF,
     "not supported: vpnstack-client always installs its routes (use route-nopull)"),
    ("max-routes", 1, 1, "N", "routing", _IGN, "obsolete: there is no limit"),
    ("allow-pull-fqdn", 0, 0, "", "routing", _IGN, "pushed names are not resolved"),
    # dns
    ("dhcp-option", 1, 2, "TYPE [VALUE]", "dns", _IMPL,
     "DNS/DNS6/DOMAIN/DOMAIN-SEARCH etc. added to what the server pushes"),
    ("dns", 1, _MANY, "...", "dns", _REF,
     "the 'dns' option in a client config is not supported yet; use 'dhcp-option DNS ADDR'"),
    ("block-outside-dns", 0, 0, "", "dns", _IGN, "Windows-only"),
    ("register-dns", 0, 0, "", "dns", _IGN, "Windows-only"),
    ("ip-win32", 1, 3, "METHOD", "dns", _IGN, "Windows-only"),
    ("route-method", 1, 1, "METHOD", "dns", _IGN, "Windows-only"),
    ("dhcp-renew", 0, 0, "", "dns", _IGN, "Windows-only"),
    ("dhcp-release", 0, 0, "", "dns", _IGN, "Windows-only"),
    ("dhcp-pre-release", 0, 0, "", "dns", _IGN, "Windows-only"),
    ("tap-sleep", 1, 1, "N", "dns", _IGN, "Windows-only"),
    ("win-sys", 1, 1, "PATH", "dns", _IGN, "Windows-only"),
    ("windows-driver", 1, 1, "DRIVER", "dns", _IGN, "Windows-only"),
    # logging
    ("verb", 1, 1, "N", "logging", _IMPL, "verbosity 0..11 (1)"),
    ("mute", 1, 1, "N", "logging", _IMPL, "log at most N messages of one kind in a row"),
    ("status", 1, 2, "FILE [SECONDS]", "logging", _IMPL,
     "write a traffic summary to FILE every SECONDS (60)"),
    ("log", 1, 1, "FILE", "logging", _IMPL, "log to FILE (truncated first)"),
    ("log-append", 1, 1, "FILE", "logging", _IMPL, "log to FILE (appended)"),
    ("script-security", 1, 1, "N", "logging", _IMPL, "stored; vpnstack runs no scripts"),
    ("syslog", 0, 1, "[NAME]", "logging", _IGN, "vpnstack logs to stderr or 'log'"),
    ("suppress-timestamps", 0, 0, "", "logging", _IGN, "log lines keep their format"),
    ("machine-readable-output", 0, 0, "", "logging", _IGN, "log lines keep their format"),
    ("status-version", 1, 1, "N", "logging", _IGN, "the status file has one format"),
]
# fmt: on


def _build_directives() -> dict[str, DirectiveSpec]:
    table: dict[str, DirectiveSpec] = {}
    for row in _TABLE:
        name, low, high, metavar, topic, kind, help_text, *flags = row
        assert topic in TOPICS and name not in table, name
        table[name] = DirectiveSpec(
            name=name,
            min_args=low,
            max_args=high,
            metavar=metavar,
            topic=topic,
            kind=kind,
            help=help_text,
            inline="inline" in flags,
            connection="connection" in flags,
            command_line="file-only" not in flags,
        )
    return table


DIRECTIVES: Mapping[str, DirectiveSpec] = MappingProxyType(_build_directives())
"""Every directive vpnstack classifies, by name; a name not listed is an unknown directive."""

INLINE_TAGS = frozenset(name for name, spec in DIRECTIVES.items() if spec.inline)
"""Directives that may be given as inline blocks (``<connection>`` included)."""

_REFUSED_PREFIXES = {
    "management-": "the management interface is not supported",
    "pkcs11-": "PKCS#11 tokens are not supported",
    "http-proxy-": "HTTP proxies are not supported yet",
    "socks-proxy-": "SOCKS proxies are not supported yet",
}

_SERVER_ONLY = frozenset(
    {
        "client-to-client",
        "client-config-dir",
        "ccd-exclusive",
        "duplicate-cn",
        "push",
        "ifconfig-pool",
        "ifconfig-pool-persist",
        "dh",
        "auth-user-pass-verify",
        "client-connect",
        "client-disconnect",
        "learn-address",
        "verify-client-cert",
        "server-bridge",
        "max-clients",
        "push-reset",
        "auth-gen-token",
        "topology-server",
    }
)


# --- public entry points ---------------------------------------------------------------------

Overrides = Sequence[Sequence[str]]
"""Command-line directives: ``[["verb", "4"], ["auth-user-pass", "/x/pass.txt"]]``."""

COMMAND_LINE = "command line"
"""``ConfigError.path`` (and the warning prefix) of errors in overrides."""


def load_config(path: str, *, overrides: Overrides = ()) -> Config:
    """Parse the .ovpn file at ``path``, then apply ``overrides`` (later wins, like openvpn).

    Raises ``ConfigError`` with file:line for bad input, or ``path="command line"`` and the
    ``--option`` named in the message for a bad override.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the file is not UTF-8 text ({exc.reason})", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=path) from None
    return parse_config(
        text,
        source=path,
        base_dir=os.path.dirname(os.path.abspath(path)),
        overrides=overrides,
    )


def parse_config(
    text: str,
    *,
    source: str = "<string>",
    base_dir: str | None = None,
    overrides: Overrides = (),
) -> Config:
    """Parse .ovpn ``text``; file arguments are relative to ``base_dir`` (default: cwd)."""
    parser = _Parser(source, base_dir if base_dir is not None else os.getcwd())
    for directive in _directives(text, source):
        parser.handle(directive)
    parser.begin_overrides()
    for override in overrides:
        parser.handle(_override_directive(override))
    return parser.finish()


def _override_directive(override: Sequence[str]) -> _Directive:
    if isinstance(override, str) or not override or not override[0].strip("-"):
        raise ConfigError(
            "an override must be a directive and its arguments, e.g. ['verb', '4']",
            path=COMMAND_LINE,
        )
    name = override[0].removeprefix("--")
    return _Directive(name, tuple(override[1:]), None, cli=True)


# --- lexing ----------------------------------------------------------------------------------


@attrs.frozen
class _Directive:
    """One directive: its name, arguments, the line it starts on, inline data if any."""

    name: str
    args: tuple[str, ...]
    line: int | None
    inline: str | None = attrs.field(default=None, repr=False)
    cli: bool = False

    @property
    def label(self) -> str:
        """How messages name it: ``'verb'`` in a file, ``--verb`` on the command line."""
        return f"--{self.name}" if self.cli else f"'{self.name}'"

    @property
    def remove_hint(self) -> str:
        return f"drop --{self.name}" if self.cli else f"remove the '{self.name}' line"


_ESCAPABLE = frozenset('\\"')


def split_line(line: str, *, source: str = "<string>", lineno: int = 0) -> list[str]:
    """Split one config line into arguments like OpenVPN's ``parse_line`` (options_parse.c)."""
    tokens: list[str] = []
    i, n = 0, len(line)

    def bad_backslash() -> ConfigError:
        return ConfigError(
            "a backslash may only escape a backslash, a double quote or a space; write"
            ' Windows paths with double backslashes ("C:\\\\dir\\\\file") or in single quotes',
            path=source,
            line=lineno,
        )

    def escaped(j: int) -> str:
        if j + 1 >= n:
            raise ConfigError("a backslash ends the line", path=source, line=lineno)
        c = line[j + 1]
        if c not in _ESCAPABLE and not c.isspace():
            raise bad_backslash()
        return c

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
                if c == "\\":
                    out.append(escaped(i))
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
                if c == "\\":
                    out.append(escaped(i))
                    i += 2
                    continue
                out.append(c)
                i += 1
        tokens.append("".join(out))
    return tokens


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _directives(text: str, source: str, first_line: int = 1) -> list[_Directive]:
    """Turn config text into directives, folding ``<tag>...</tag>`` blocks into one each."""
    result: list[_Directive] = []
    lines = _NEWLINE.split(text)
    i = 0
    while i < len(lines):
        lineno = first_line + i
        tokens = split_line(lines[i], source=source, lineno=lineno)
        i += 1
        if not tokens:
            continue
        first = tokens[0].removeprefix("--")
        if len(tokens) == 1 and len(first) > 2 and first[0] == "<" and first[-1] == ">":
            tag = first[1:-1]
            if tag.startswith("/"):
                raise ConfigError(
                    f"{first} without a matching opening tag", path=source, line=lineno
                )
            end_tag = f"</{tag}>"
            body: list[str] = []
            while i < len(lines) and not lines[i].lstrip().startswith(end_tag):
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ConfigError(
                    f"inline block <{tag}> has no closing {end_tag}", path=source, line=lineno
                )
            i += 1
            result.append(_Directive(tag, (), lineno, "\n".join(body) + "\n"))
            continue
        if first.startswith("</"):
            raise ConfigError(f"{first} without a matching opening tag", path=source, line=lineno)
        result.append(_Directive(first, tuple(tokens[1:]), lineno))
    return result


# --- directive handling ----------------------------------------------------------------------

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

_TLS_KEY_FIELDS = ("tls_auth_key", "key_direction", "tls_crypt_key", "tls_crypt_v2_key")
"""Per-connection values that, as in OpenVPN, apply to every block lacking its own."""
_CONNECTION_FIELDS = (
    "connect_retry",
    "connect_retry_max_delay",
    "connect_retry_max",
    "server_poll_timeout",
    "explicit_exit_notify",
    "tun_mtu",
)
"""Per-connection values a ``<connection>`` block copies from the globals given before it."""
_FIELD_DIRECTIVE = {
    "tls_auth_key": "tls-auth",
    "key_direction": "key-direction",
    "tls_crypt_key": "tls-crypt",
    "tls_crypt_v2_key": "tls-crypt-v2",
    "connect_retry": "connect-retry",
    "connect_retry_max_delay": "connect-retry",
    "connect_retry_max": "connect-retry-max",
    "server_poll_timeout": "server-poll-timeout",
    "explicit_exit_notify": "explicit-exit-notify",
    "tun_mtu": "tun-mtu",
}
_UNSET = object()

TLS_CRYPT_V2_CLIENT_BEGIN = "-----BEGIN OpenVPN tls-crypt-v2 client key-----"
TLS_CRYPT_V2_CLIENT_END = "-----END OpenVPN tls-crypt-v2 client key-----"


def _is_inline_name(arg: str) -> bool:
    return arg.lower() in ("inline", "[inline]", "[[inline]]")


@attrs.define
class _RemoteEntry:
    """A remote as parsed; port/proto None means "the global value at the end"."""

    host: str
    port: int | None
    proto: str | None
    line: int | None
    proto_line: int | None
    cli: bool = False


@attrs.define
class _Block:
    """The ``<connection>`` block being parsed."""

    line: int
    remote: _RemoteEntry | None = None
    proto: str = "udp"
    proto_line: int | None = None
    port: int = 1194


@attrs.define
class _DoneBlock:
    line: int
    remote: _RemoteEntry
    values: dict[str, Any]
    has_own_tls_key: bool


class _Parser:
    """Collects directive values; ``finish`` checks the whole and builds the ``Config``."""

    def __init__(self, source: str, base_dir: str) -> None:
        self.source = source
        self.base_dir = base_dir
        self.values: dict[str, Any] = {}
        self.remotes: list[_RemoteEntry] = []
        self.proto = "udp"
        self.proto_line: int | None = None
        self.port = 1194
        self.warnings: list[str] = []
        self.ignorable: set[str] = set()
        self.forward_compatible = False
        self.is_client = False
        self.tls_client = False
        self.pull = False
        self.dev_type_tun = False
        self.dev_line: int | None = None
        self.data_ciphers_set = False
        self.in_overrides = False
        self.cli_remotes_replace = False
        self.block: _Block | None = None
        self.blocks: list[_DoneBlock] = []
        self.setenv: list[tuple[str, str]] = []
        self.pull_filters: list[tuple[str, str]] = []
        self.routes: list[PushedRoute] = []
        self.routes6: list[PushedRoute6] = []
        self.dhcp: list[tuple[str, str]] = []
        self.auth_user_pass_line: int | None = None
        self.auth_user_pass_given = False
        self.tls_auth_inline_line: int | None = None
        self.lines: dict[str, int | None] = {}
        self.handlers: dict[str, Callable[[_Directive], None]] = {
            "client": self._client,
            "pull": self._pull,
            "tls-client": self._tls_client,
            "mode": self._mode,
            "cd": self._cd,
            "setenv": self._setenv,
            "ignore-unknown-option": self._ignore_unknown_option,
            "connection": self._connection,
            "dev": self._dev,
            "dev-type": self._dev_type,
            "tun-mtu": self._int("tun_mtu", 68, 65535),
            "proto": self._proto,
            "remote": self._remote,
            "port": self._port,
            "rport": self._port,
            "remote-random": self._flag("remote_random"),
            "resolv-retry": self._resolv_retry,
            "connect-retry": self._connect_retry,
            "connect-retry-max": self._int("connect_retry_max", 1, 1 << 30),
            "server-poll-timeout": self._int("server_poll_timeout", 1, 86400, as_float=True),
            "connect-timeout": self._int("server_poll_timeout", 1, 86400, as_float=True),
            "explicit-exit-notify": self._explicit_exit_notify,
            "ping": self._int("ping", 0, 1 << 30),
            "ping-restart": self._int("ping_restart", 0, 1 << 30),
            "ping-exit": self._int("ping_exit", 1, 1 << 30),
            "keepalive": self._keepalive,
            "hand-window": self._int("hand_window", 1, 86400, as_float=True),
            "ca": self._pem_certs("ca"),
            "cert": self._pem_certs("cert"),
            "extra-certs": self._pem_certs("extra_certs"),
            "key": self._key,
            "pkcs12": self._pkcs12,
            "tls-auth": self._tls_auth,
            "key-direction": self._key_direction,
            "tls-crypt": self._tls_crypt,
            "tls-crypt-v2": self._tls_crypt_v2,
            "remote-cert-tls": self._remote_cert_tls,
            "verify-x509-name": self._verify_x509_name,
            "tls-version-min": self._tls_version("tls_version_min"),
            "tls-version-max": self._tls_version("tls_version_max"),
            "tls-cipher": self._string("tls_cipher"),
            "tls-ciphersuites": self._string("tls_ciphersuites"),
            "tls-groups": self._string("tls_groups"),
            "tls-timeout": self._int("tls_timeout", 1, 3600, as_float=True),
            "tls-mtu": self._int("tls_mtu", 154, 2048),
            "reneg-sec": self._reneg_sec,
            "reneg-bytes": self._int("reneg_bytes", 0, 1 << 62),
            "reneg-pkts": self._int("reneg_pkts", 0, 1 << 62),
            "tran-window": self._int("tran_window", 1, 1 << 30, as_float=True),
            "data-ciphers": self._data_ciphers,
            "ncp-ciphers": self._data_ciphers,
            "data-ciphers-fallback": self._data_ciphers_fallback,
            "cipher": self._cipher,
            "auth": self._auth,
            "allow-compression": self._allow_compression,
            "comp-lzo": self._compression,
            "compress": self._compression,
            "auth-user-pass": self._auth_user_pass,
            "auth-retry": self._auth_retry,
            "auth-nocache": self._flag("auth_nocache"),
            "route-nopull": self._flag("route_nopull"),
            "pull-filter": self._pull_filter,
            "route": self._route,
            "route-ipv6": self._route_ipv6,
            "redirect-gateway": self._redirect_gateway,
            "route-metric": self._int("route_metric", 0, 1 << 30),
            "route-gateway": self._route_gateway,
            "dhcp-option": self._dhcp_option,
            "verb": self._int("verb", 0, 11),
            "mute": self._int("mute", 0, 1 << 30),
            "status": self._status,
            "log": self._log(append=False),
            "log-append": self._log(append=True),
            "script-security": self._int("script_security", 0, 3),
        }

    # --- helpers -----------------------------------------------------------------------------

    def error(self, d: _Directive, message: str) -> ConfigError:
        if d.cli:
            if d.label not in message:
                message = f"{d.label}: {message}"
            return ConfigError(message, path=COMMAND_LINE)
        return ConfigError(message, path=self.source, line=d.line)

    def warn(self, d: _Directive, message: str) -> None:
        where = COMMAND_LINE if d.cli else f"{self.source}:{d.line}"
        self.warnings.append(f"{where}: {message}")

    def nargs(self, d: _Directive, low: int, high: int | None) -> None:
        if low <= len(d.args) and (high is None or len(d.args) <= high):
            return
        if high is None:
            want = f"at least {low}"
        else:
            want = str(low) if low == high else f"{low} to {high}"
        raise self.error(d, f"{d.label} takes {want} argument(s), got {len(d.args)}")

    def path_of(self, d: _Directive, name: str) -> str:
        base = os.getcwd() if d.cli else self.base_dir
        return os.path.normpath(os.path.join(base, os.path.expanduser(name)))

    def read_bytes(self, d: _Directive, name: str) -> bytes:
        path = self.path_of(d, name)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise self.error(
                d, f"cannot read the '{d.name}' file {path!r}: {exc.strerror}; check the path"
            ) from None

    def read_file(self, d: _Directive, name: str) -> str:
        data = self.read_bytes(d, name)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            path = self.path_of(d, name)
            raise self.error(d, f"'{d.name}' file {path!r} is not text") from None

    def file_or_inline(self, d: _Directive) -> tuple[str, str]:
        """The data of a file-or-inline directive and a description of where it came from."""
        if d.inline is not None:
            return d.inline, f"inline <{d.name}> block"
        if _is_inline_name(d.args[0]):
            raise self.error(d, f"{d.label} {d.args[0]} needs an inline <{d.name}> block")
        return self.read_file(d, d.args[0]), f"file {self.path_of(d, d.args[0])!r}"

    def _number(
        self, d: _Directive, text: str, low: int, high: int, *, as_float: bool = False
    ) -> int | float:
        try:
            value = int(text, 10)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise self.error(d, f"{d.label}: bad number '{text}', use {low}..{high}")
        return float(value) if as_float else value

    # --- dispatch ----------------------------------------------------------------------------

    def begin_overrides(self) -> None:
        self.in_overrides = True

    def handle(self, d: _Directive) -> None:
        spec = DIRECTIVES.get(d.name)
        if spec is None:
            self._unknown(d)
            return
        if spec.kind == "refused":
            if d.name in ("up", "down") and _is_dns_helper_script(d.args):
                # These scripts only copy pushed DNS into the resolver, which vpnstack does
                # itself: ignoring them keeps the many provider files that carry them working.
                self.warn(d, f"{d.label} is ignored (vpnstack applies and restores DNS itself)")
                return
            raise self.error(d, f"{spec.help}; {d.remove_hint}")
        if d.inline is not None:
            if not spec.inline:
                raise self.error(
                    d, f"inline block <{d.name}> is not supported; use '{d.name}' with a file"
                )
        elif d.name == "connection":
            raise self.error(d, "'connection' must be an inline <connection> block")
        else:
            self.nargs(d, spec.min_args, spec.max_args)
        if self.block is not None and not spec.connection:
            raise self.error(
                d, f"{d.label} cannot be used inside a <connection> block; move it out"
            )
        if spec.kind == "ignored":
            self.warn(d, f"{d.label} is ignored ({spec.help})")
            return
        if (
            self.block is None
            and self.blocks
            and spec.connection
            and d.name not in ("tls-auth", "tls-crypt", "tls-crypt-v2", "key-direction")
            and not (d.cli and d.name == "remote")
        ):
            # OpenVPN: a <connection> block copied the globals given before it
            self.warn(d, f"{d.label} is ignored: it comes after the <connection> blocks")
            return
        self.handlers[d.name](d)

    def _unknown(self, d: _Directive) -> None:
        for prefix, what in _REFUSED_PREFIXES.items():
            if d.name.startswith(prefix):
                raise self.error(d, f"{what}; {d.remove_hint}")
        if d.name in _SERVER_ONLY:
            raise self.error(
                d, f"{d.label} is a server option; this must be a client config: {d.remove_hint}"
            )
        if d.inline is None and (d.name in self.ignorable or self.forward_compatible):
            self.warn(d, f"unknown directive {d.label} ignored (ignore-unknown-option/setenv opt)")
            return
        if d.inline is not None:
            raise self.error(d, f"inline block <{d.name}> is not supported; remove it")
        raise self.error(
            d,
            f"unknown directive {d.label}: vpnstack does not implement it; "
            + (
                "drop it"
                if d.cli
                else f"remove the line, or put 'ignore-unknown-option {d.name}' before it if"
                " the connection works without it"
            ),
        )

    # --- general -----------------------------------------------------------------------------

    def _client(self, d: _Directive) -> None:
        self.is_client = True

    def _pull(self, d: _Directive) -> None:
        self.pull = True

    def _tls_client(self, d: _Directive) -> None:
        self.tls_client = True

    def _mode(self, d: _Directive) -> None:
        if d.args[0] != "p2p":
            raise self.error(d, f"'mode {d.args[0]}' is a server mode; vpnstack is a client")

    def _cd(self, d: _Directive) -> None:
        if d.cli:
            raise self.error(d, "--cd cannot be an override; change directory before starting")
        path = self.path_of(d, d.args[0])
        if not os.path.isdir(path):
            raise self.error(d, f"'cd': {path!r} is not a directory")
        self.base_dir = path

    def _setenv(self, d: _Directive) -> None:
        if d.args[0] == "opt":
            # "setenv opt DIRECTIVE ...": apply the directive, but ignore it if unknown
            self.nargs(d, 2, None)
            inner = _Directive(d.args[1].removeprefix("--"), d.args[2:], d.line, cli=d.cli)
            added = inner.name not in self.ignorable
            self.ignorable.add(inner.name)
            try:
                self.handle(inner)
            finally:
                if added:
                    self.ignorable.discard(inner.name)
            return
        self.nargs(d, 1, 2)
        name, value = d.args[0], d.args[1] if len(d.args) > 1 else ""
        if name == "FORWARD_COMPATIBLE":
            self.forward_compatible = value == "1"
            return
        self.setenv.append((name, value))
        if not name.startswith("UV_"):
            self.warn(d, f"'setenv {name}' ignored (vpnstack runs no scripts)")

    def _ignore_unknown_option(self, d: _Directive) -> None:
        self.ignorable.update(a.removeprefix("--") for a in d.args)

    def _connection(self, d: _Directive) -> None:
        assert d.inline is not None and d.line is not None
        if self.block is not None:
            raise self.error(d, "a <connection> block cannot contain another one")
        if self.in_overrides:
            raise self.error(d, "<connection> blocks cannot come from the command line")
        saved = dict(self.values)
        saved_lines = dict(self.lines)
        self.block = _Block(d.line, proto=self.proto, proto_line=self.proto_line, port=self.port)
        try:
            for inner in _directives(d.inline, self.source, first_line=d.line + 1):
                self.handle(inner)
            block = self.block
        finally:
            self.block = None
        if block.remote is None:
            raise self.error(d, "each <connection> block needs exactly one 'remote' line")
        if block.remote.proto is None:
            block.remote.proto, block.remote.proto_line = block.proto, block.proto_line
        if block.remote.port is None:
            block.remote.port = block.port
        own_tls = any(
            self.values.get(f) is not None
            for f in ("tls_auth_key", "tls_crypt_key", "tls_crypt_v2_key")
        )
        fields = (*_CONNECTION_FIELDS, *_TLS_KEY_FIELDS)
        values = {f: self.values.get(f, _UNSET) for f in fields}
        self.blocks.append(_DoneBlock(d.line, block.remote, values, own_tls))
        self.values = saved
        self.lines = saved_lines

    # --- connection --------------------------------------------------------------------------

    def _check_proto(self, d: _Directive, proto: str) -> str:
        proto = proto.lower()
        if proto in ("tcp-server", "tcp4-server", "tcp6-server"):
            raise self.error(d, f"'{proto}' is for servers; a client uses udp or tcp-client")
        if proto not in (
            "udp",
            "udp4",
            "udp6",
            "tcp",
            "tcp4",
            "tcp6",
            "tcp-client",
            "tcp4-client",
            "tcp6-client",
        ):
            raise self.error(
                d, f"unknown protocol '{proto}'; use udp or tcp (or udp4, udp6, tcp4, tcp6)"
            )
        return proto.removesuffix("-client")  # a client's "tcp" is tcp-client

    def _proto(self, d: _Directive) -> None:
        proto = self._check_proto(d, d.args[0])
        if self.block is not None:
            self.block.proto, self.block.proto_line = proto, d.line
        else:
            self.proto, self.proto_line = proto, d.line

    def _parse_port(self, d: _Directive, text: str) -> int:
        try:
            port = int(text, 10)
        except ValueError:
            port = -1
        if not 1 <= port <= 65535:
            raise self.error(d, f"bad port '{text}': use a number from 1 to 65535")
        return port

    def _remote(self, d: _Directive) -> None:
        port = self._parse_port(d, d.args[1]) if len(d.args) > 1 else None
        proto = self._check_proto(d, d.args[2]) if len(d.args) > 2 else None
        entry = _RemoteEntry(d.args[0], port, proto, d.line, d.line if proto else None, d.cli)
        if self.block is not None:
            if self.block.remote is not None:
                raise self.error(d, "a <connection> block holds exactly one 'remote' line")
            self.block.remote = entry
            return
        if d.cli and not self.cli_remotes_replace:
            # the command line's remotes replace the file's (and its <connection> blocks)
            self.cli_remotes_replace = True
            self.remotes.clear()
            self.blocks.clear()
        self.remotes.append(entry)

    def _port(self, d: _Directive) -> None:
        port = self._parse_port(d, d.args[0])
        if self.block is not None:
            self.block.port = port
        else:
            self.port = port

    def _resolv_retry(self, d: _Directive) -> None:
        if d.args[0] == "infinite":
            self.values["resolv_retry"] = math.inf
        else:
            self.values["resolv_retry"] = self._number(d, d.args[0], 0, 1 << 30, as_float=True)

    def _connect_retry(self, d: _Directive) -> None:
        self.values["connect_retry"] = self._number(d, d.args[0], 0, 86400, as_float=True)
        if len(d.args) == 2:
            self.values["connect_retry_max_delay"] = self._number(
                d, d.args[1], 1, 86400, as_float=True
            )

    def _explicit_exit_notify(self, d: _Directive) -> None:
        count = self._number(d, d.args[0], 0, 1 << 20) if d.args else 1
        self.values["explicit_exit_notify"] = int(count)

    def _keepalive(self, d: _Directive) -> None:
        ping = self._number(d, d.args[0], 1, 1 << 30)
        restart = self._number(d, d.args[1], 1, 1 << 30)
        if restart < 2 * ping:
            raise self.error(d, f"{d.label} PING RESTART needs RESTART >= 2 * PING")
        self.values["ping"] = ping
        self.values["ping_restart"] = restart

    # --- generic value handlers --------------------------------------------------------------

    def _int(
        self, field: str, low: int, high: int, *, as_float: bool = False
    ) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            self.values[field] = self._number(d, d.args[0], low, high, as_float=as_float)

        return handler

    def _flag(self, field: str) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            self.values[field] = True

        return handler

    def _string(self, field: str) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            self.values[field] = d.args[0]

        return handler

    # --- tun ---------------------------------------------------------------------------------

    def _dev(self, d: _Directive) -> None:
        name = d.args[0]
        if name.startswith(("tap", "null")):
            raise self.error(d, f"'dev {name}' is not supported; vpnstack only supports 'dev tun'")
        if len(name) > 15 or "/" in name or not name.isprintable() or " " in name:
            raise self.error(d, f"'dev {name}' is not a valid interface name (at most 15 chars)")
        self.dev_line = d.line
        self.values["dev"] = name

    def _dev_type(self, d: _Directive) -> None:
        if d.args[0] != "tun":
            raise self.error(d, "only 'dev-type tun' is supported")
        self.dev_type_tun = True

    # --- tls ---------------------------------------------------------------------------------

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
                    d, f"{d.label}: {where} holds no readable PEM certificate; check the file"
                )
            if field == "cert":
                self.values.pop("chain_from_cert", None)
                if len(certs) > 1:
                    # like OpenVPN: further certificates after ours form the chain
                    self.values["chain_from_cert"] = b"".join(
                        c.public_bytes(serialization.Encoding.PEM) for c in certs[1:]
                    )
                self.values["cert_obj"] = certs[0]
            self.lines[field] = d.line
            self.values[field] = data

        return handler

    def _key(self, d: _Directive) -> None:
        text, where = self.file_or_inline(d)
        data = text.encode()
        if b"ENCRYPTED" in data:
            raise self.error(
                d,
                f"{d.label}: {where} is an encrypted private key, which is not supported yet;"
                " decrypt it (e.g. 'openssl pkey -in key.pem -out plain.pem')",
            )
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise self.error(
                d, f"{d.label}: {where} holds no readable PEM private key; check the file"
            ) from None
        self.lines["key"] = d.line
        self.values["key_obj"] = key
        self.values["key"] = data

    def _pkcs12(self, d: _Directive) -> None:
        if d.inline is not None:
            where = "inline <pkcs12> block"
            try:
                data = base64.b64decode("".join(d.inline.split()), validate=True)
            except (binascii.Error, ValueError):
                raise self.error(d, f"{d.label}: the {where} is not base64 text") from None
        else:
            if _is_inline_name(d.args[0]):
                raise self.error(d, f"{d.label} {d.args[0]} needs an inline <pkcs12> block")
            data = self.read_bytes(d, d.args[0])
            where = f"file {self.path_of(d, d.args[0])!r}"
        loaded = None
        for password in (None, b""):  # OpenVPN tries an empty passphrase before asking
            try:
                loaded = pkcs12.load_key_and_certificates(data, password)
                break
            except (ValueError, TypeError):
                continue
        if loaded is None:
            if _looks_like_pkcs12(data):
                raise self.error(
                    d,
                    f"{d.label}: {where} is protected by a passphrase, which is not supported"
                    " yet; export it without one (openssl pkcs12 -in in.p12 -nodes -out"
                    " plain.pem) and use 'ca', 'cert' and 'key'",
                )
            raise self.error(d, f"{d.label}: {where} is not a PKCS#12 file; check the file")
        key, cert, others = loaded
        if key is None or cert is None:
            raise self.error(
                d, f"{d.label}: {where} lacks the client certificate or its private key"
            )
        pem = serialization.Encoding.PEM
        self.values["pkcs12_key"] = key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.values["pkcs12_cert"] = cert.public_bytes(pem)
        self.values["pkcs12_key_obj"] = key
        self.values["pkcs12_cert_obj"] = cert
        self.values["pkcs12_others"] = tuple(others)
        self.lines["pkcs12"] = d.line

    def _static_key(self, d: _Directive) -> bytes:
        from vpnstack.core.controlchannel.statickey import parse_static_key

        text, where = self.file_or_inline(d)
        try:
            return parse_static_key(text)
        except ValueError as exc:
            raise self.error(
                d, f"{d.label}: {where} is not an OpenVPN static key ({exc}); check the file"
            ) from None

    def _tls_auth(self, d: _Directive) -> None:
        if d.inline is None:
            if len(d.args) == 2:
                self.values["key_direction"] = self._direction(d, d.args[1])
            if _is_inline_name(d.args[0]):
                # "tls-auth [inline] 1": the key comes from a <tls-auth> block
                self.tls_auth_inline_line = d.line
                return
        self.values["tls_auth_key"] = self._static_key(d)
        self.lines["tls_auth_key"] = d.line

    def _direction(self, d: _Directive, text: str) -> int:
        if text not in ("0", "1"):
            raise self.error(d, f"bad key direction '{text}': use 0 or 1 (a client uses 1)")
        return int(text)

    def _key_direction(self, d: _Directive) -> None:
        self.values["key_direction"] = self._direction(d, d.args[0])

    def _tls_crypt(self, d: _Directive) -> None:
        self.values["tls_crypt_key"] = self._static_key(d)
        self.lines["tls_crypt_key"] = d.line

    def _tls_crypt_v2(self, d: _Directive) -> None:
        # PROTOCOL.md §4.3: PEM whose base64 body is Kc (256 bytes) || WKc; WKc ends in its
        # own length (uint16, the 2 bytes included) and is at most 1024 bytes
        text, where = self.file_or_inline(d)
        if "OpenVPN tls-crypt-v2 server key" in text:
            raise self.error(
                d,
                f"{d.label}: {where} is the tls-crypt-v2 *server* key; a client needs its own"
                " client key (openvpn --tls-crypt-v2 server.key --genkey tls-crypt-v2-client)",
            )
        begin = text.find(TLS_CRYPT_V2_CLIENT_BEGIN)
        end = text.find(TLS_CRYPT_V2_CLIENT_END, begin + 1)
        problem = None
        if begin < 0 or end < 0:
            problem = "has no 'OpenVPN tls-crypt-v2 client key' PEM block"
        else:
            body = "".join(text[begin + len(TLS_CRYPT_V2_CLIENT_BEGIN) : end].split())
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                data = b""
                problem = "holds a tls-crypt-v2 key that is not valid base64"
            if problem is None:
                wkc_len = len(data) - 256
                if wkc_len < 2 or wkc_len > 1024 or int.from_bytes(data[-2:]) != wkc_len:
                    problem = "holds a truncated or damaged tls-crypt-v2 client key"
        if problem is not None:
            raise self.error(d, f"{d.label}: {where} {problem}; check the file")
        self.values["tls_crypt_v2_key"] = data
        self.lines["tls_crypt_v2_key"] = d.line

    def _remote_cert_tls(self, d: _Directive) -> None:
        if d.args[0] != "server":
            raise self.error(d, "a client can only use 'remote-cert-tls server'")
        self.values["remote_cert_tls"] = "server"

    def _verify_x509_name(self, d: _Directive) -> None:
        kind = d.args[1] if len(d.args) > 1 else "subject"
        if kind not in _X509_NAME_TYPES:
            raise self.error(
                d, f"bad verify-x509-name type '{kind}': use subject, name or name-prefix"
            )
        self.values["verify_x509_name"] = (d.args[0], kind)

    def _tls_version(self, field: str) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            version = d.args[0]
            if len(d.args) == 2 and (field != "tls_version_min" or d.args[1] != "or-highest"):
                raise self.error(d, f"{d.label} takes a version and optionally 'or-highest'")
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

    def _reneg_sec(self, d: _Directive) -> None:
        self.values["reneg_sec"] = self._number(d, d.args[0], 0, 1 << 30)
        if len(d.args) == 2:
            self._number(d, d.args[1], 0, 1 << 30)  # the server's upper bound; checked only

    # --- data channel ------------------------------------------------------------------------

    def _auth(self, d: _Directive) -> None:
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
        if d.args[0].lower() == "none":
            raise self.error(d, "'cipher none' (no encryption) is not supported; remove it")
        self.values["cipher"] = self._cipher_name(d, d.args[0])

    def _data_ciphers(self, d: _Directive) -> None:
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
            raise self.error(d, f"{d.label} names no supported cipher")
        self.values["data_ciphers"] = tuple(names)
        self.data_ciphers_set = True

    def _data_ciphers_fallback(self, d: _Directive) -> None:
        self.values["data_ciphers_fallback"] = self._cipher_name(d, d.args[0])

    def _allow_compression(self, d: _Directive) -> None:
        if d.args[0] not in ("no", "asym", "yes"):
            raise self.error(d, f"{d.label} takes no, asym or yes")
        if d.args[0] != "no":
            self.warn(d, f"'allow-compression {d.args[0]}' ignored (vpnstack never compresses)")

    def _compression(self, d: _Directive) -> None:
        # PROTOCOL.md §7.4: only the framing matters; vpnstack never compresses.
        text = " ".join((d.name, *d.args))
        try:
            framing_of(text)
        except ValueError:
            if d.name == "comp-lzo":
                raise self.error(d, f"{d.label} takes yes, no or adaptive") from None
            if d.args == ("migrate",):
                raise self.error(
                    d,
                    "'compress migrate' is a server option; remove it (the server pushes"
                    " the framing it wants) or use 'compress stub-v2'",
                ) from None
            raise self.error(
                d, f"unknown '{text}': use compress stub-v2, stub, lz4-v2, lz4 or lzo"
            ) from None
        if compresses(text):
            self.warn(
                d,
                f"'{text}': vpnstack does not compress; it sends uncompressed packets in this "
                "framing, and a compressed packet from the server ends the session",
            )
        self.values["compression"] = text

    # --- auth --------------------------------------------------------------------------------

    def _auth_user_pass(self, d: _Directive) -> None:
        self.auth_user_pass_line = d.line
        self.auth_user_pass_given = True
        self.values["username"] = None
        self.values["password"] = None
        if d.inline is None and not d.args:
            return  # the user name and password must come from the caller
        if d.inline is None and _is_inline_name(d.args[0]):
            return  # "auth-user-pass [inline]": a later <auth-user-pass> block fills it
        text, where = self.file_or_inline(d)
        lines = _NEWLINE.split(text)
        username = lines[0].strip() if lines else ""
        password = lines[1] if len(lines) > 1 else ""
        if not username:
            raise self.error(d, f"{d.label}: {where} has no user name on its first line")
        self.values["username"] = username
        self.values["password"] = password or None  # only a user name: ask for the password

    def _auth_retry(self, d: _Directive) -> None:
        if d.args[0] not in ("none", "nointeract", "interact"):
            raise self.error(d, f"{d.label} takes none, nointeract or interact")
        self.values["auth_retry"] = d.args[0]

    # --- routing and dns ---------------------------------------------------------------------

    def _pull_filter(self, d: _Directive) -> None:
        action, text = d.args
        if action not in ("accept", "ignore", "reject"):
            raise self.error(d, f"{d.label} action '{action}': use accept, ignore or reject")
        self.pull_filters.append((action, text))

    def _route(self, d: _Directive) -> None:
        # route NETWORK [NETMASK [GATEWAY [METRIC]]]; "default" keeps a position's default
        a = d.args
        mask = a[1] if len(a) > 1 and a[1] != "default" else "255.255.255.255"
        try:
            network = ipaddress.IPv4Network(f"{a[0]}/{mask}", strict=False)
        except ValueError:
            raise self.error(
                d,
                f"{d.label} {a[0]} {mask}: use an IPv4 network and netmask"
                " (host names are not supported here)",
            ) from None
        if network.network_address != ipaddress.IPv4Address(a[0]):
            self.warn(d, f"{d.label} {a[0]} {mask} has host bits set; using {network}")
        gateway: ipaddress.IPv4Address | None = None
        keyword: str | None = None
        if len(a) > 2 and a[2] != "default":
            if a[2] in _ROUTE_KEYWORDS:
                keyword = a[2]
            else:
                try:
                    gateway = ipaddress.IPv4Address(a[2])
                except ValueError:
                    raise self.error(
                        d, f"{d.label} gateway '{a[2]}': use an IPv4 address or vpn_gateway"
                    ) from None
        metric = None
        if len(a) > 3 and a[3] != "default":
            metric = int(self._number(d, a[3], 0, 1 << 30))
        self.routes.append(PushedRoute(network, gateway, keyword, metric))

    def _route_ipv6(self, d: _Directive) -> None:
        a = d.args
        try:
            network = ipaddress.IPv6Network(a[0], strict=False)
        except ValueError:
            raise self.error(
                d, f"{d.label} '{a[0]}': use an IPv6 network like 2001:db8::/32"
            ) from None
        gateway = None
        if len(a) > 1 and a[1] != "default":
            try:
                gateway = ipaddress.IPv6Address(a[1])
            except ValueError:
                raise self.error(d, f"{d.label} gateway '{a[1]}': use an IPv6 address") from None
        metric = None
        if len(a) > 2 and a[2] != "default":
            metric = int(self._number(d, a[2], 0, 1 << 30))
        self.routes6.append(PushedRoute6(network, gateway, metric))

    def _redirect_gateway(self, d: _Directive) -> None:
        for flag in d.args:
            if flag not in _REDIRECT_FLAGS:
                raise self.error(
                    d,
                    f"unknown {d.label} flag '{flag}': use {', '.join(sorted(_REDIRECT_FLAGS))}",
                )
        self.values["redirect_gateway"] = tuple(d.args)

    def _route_gateway(self, d: _Directive) -> None:
        try:
            self.values["route_gateway"] = ipaddress.IPv4Address(d.args[0])
        except ValueError:
            raise self.error(d, f"{d.label} '{d.args[0]}': use an IPv4 address") from None

    def _dhcp_option(self, d: _Directive) -> None:
        kind = d.args[0].upper()
        value = d.args[1] if len(d.args) > 1 else ""
        if kind not in _DHCP_TYPES:
            raise self.error(
                d, f"unknown {d.label} type '{d.args[0]}': use DNS, DNS6, DOMAIN, DOMAIN-SEARCH"
            )
        if kind in ("DNS", "DNS6"):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise self.error(
                    d, f"{d.label} {kind} '{value}': use the DNS server's IP address"
                ) from None
        elif kind != "DISABLE-NBT" and not value:
            raise self.error(d, f"{d.label} {kind} needs a value")
        self.dhcp.append((kind, value))

    # --- logging -----------------------------------------------------------------------------

    def _status(self, d: _Directive) -> None:
        self.values["status_file"] = self.path_of(d, d.args[0])
        if len(d.args) == 2:
            self.values["status_interval"] = int(self._number(d, d.args[1], 1, 1 << 30))

    def _log(self, *, append: bool) -> Callable[[_Directive], None]:
        def handler(d: _Directive) -> None:
            self.values["log_file"] = self.path_of(d, d.args[0])
            self.values["log_append"] = append

        return handler

    # --- the whole ---------------------------------------------------------------------------

    def finish(self) -> Config:
        src = self.source
        if not (self.is_client or (self.tls_client and self.pull)):
            raise ConfigError(
                "not a client config: add the line 'client' (vpnstack is an OpenVPN client)",
                path=src,
            )
        if self.tls_auth_inline_line is not None and "tls_auth_key" not in self.values:
            raise ConfigError(
                "'tls-auth [inline]' but no <tls-auth> block: add the block or name a file",
                path=src,
                line=self.tls_auth_inline_line,
            )
        dev = self.values.get("dev", "tun")
        if not dev.startswith("tun") and not self.dev_type_tun:
            raise ConfigError(
                f"'dev {dev}': add 'dev-type tun' for a device name not starting with 'tun'",
                path=src,
                line=self.dev_line,
            )
        self._finish_connections()
        remotes = self._finish_remotes()
        if "ca" not in self.values and "pkcs12_others" not in self.values:
            raise ConfigError(
                "no 'ca': add 'ca FILE' or a <ca> block with the server's CA certificate",
                path=src,
            )
        wrappers = [
            f
            for f in ("tls_auth_key", "tls_crypt_key", "tls_crypt_v2_key")
            if self.values.get(f) is not None
        ]
        if len(wrappers) > 1:
            names = " and ".join(f"'{_FIELD_DIRECTIVE[f]}'" for f in wrappers)
            raise ConfigError(
                f"{names} cannot be used together; keep the one the server uses",
                path=src,
                line=max((self.lines.get(f) or 0 for f in wrappers), default=None) or None,
            )
        self._finish_credentials()
        cipher = self.values.get("cipher")
        if (
            isinstance(cipher, str)
            and not self.data_ciphers_set
            and cipher not in DEFAULT_DATA_CIPHERS
        ):
            # OpenVPN 2.6: a legacy 'cipher' joins the default list when data-ciphers is unset
            self.values["data_ciphers"] = (*DEFAULT_DATA_CIPHERS, cipher)
        return Config(
            source=src,
            remotes=remotes,
            auth_user_pass_required=self.auth_user_pass_given,
            warnings=tuple(self.warnings),
            setenv=tuple(self.setenv),
            pull_filters=tuple(self.pull_filters),
            routes=tuple(self.routes),
            routes_ipv6=tuple(self.routes6),
            dhcp_options=tuple(self.dhcp),
            **self.values,
        )

    def _finish_connections(self) -> None:
        """One value per connection option for all blocks, or a ConfigError saying which."""
        if not self.blocks:
            return
        for entry in self.remotes:
            if not entry.cli:
                self.warnings.append(
                    f"{self.source}:{entry.line}: 'remote {entry.host}' is ignored because the"
                    " file has <connection> blocks (put it in a block of its own)"
                )
        self.remotes = [b.remote for b in self.blocks]
        agreed: dict[str, tuple[Any, int]] = {}
        for block in self.blocks:
            values = dict(block.values)
            if not block.has_own_tls_key:  # OpenVPN: the global key applies to this block
                values.update({f: self.values.get(f, _UNSET) for f in _TLS_KEY_FIELDS})
            for field, value in values.items():
                if field not in agreed:
                    agreed[field] = (value, block.line)
                elif agreed[field][0] != value:
                    raise ConfigError(
                        f"'{_FIELD_DIRECTIVE[field]}' differs between the <connection> blocks"
                        f" at lines {agreed[field][1]} and {block.line}; vpnstack uses one value"
                        " for all connections: give it once, outside the blocks",
                        path=self.source,
                        line=block.line,
                    )
        for field, (value, _line) in agreed.items():
            if value is _UNSET:
                self.values.pop(field, None)
            else:
                self.values[field] = value

    def _finish_remotes(self) -> tuple[Remote, ...]:
        if not self.remotes:
            raise ConfigError("no 'remote' line: add 'remote HOST [PORT]'", path=self.source)
        remotes: list[Remote] = []
        for entry in self.remotes:
            proto = entry.proto if entry.proto is not None else self.proto
            port = entry.port if entry.port is not None else self.port
            remotes.append(Remote(entry.host, port, proto))
        return tuple(remotes)

    def _finish_credentials(self) -> None:
        src = self.source
        v = self.values
        if "pkcs12_cert" in v:
            for field in ("cert", "key"):
                if field in v:
                    raise ConfigError(
                        f"'{field}' cannot be used together with 'pkcs12'; keep one of them",
                        path=src,
                        line=self.lines.get(field),
                    )
            v["cert"], v["key"] = v.pop("pkcs12_cert"), v.pop("pkcs12_key")
            v["cert_obj"], v["key_obj"] = v.pop("pkcs12_cert_obj"), v.pop("pkcs12_key_obj")
            self.lines["key"] = self.lines["pkcs12"]
            others: tuple[x509.Certificate, ...] = v.pop("pkcs12_others")
            pem = serialization.Encoding.PEM
            # OpenVPN (tls_ctx_load_pkcs12): without 'ca' the PKCS#12 CAs are trusted (and
            # complete our chain); with 'ca' they are only sent as our chain
            if "ca" not in v:
                if not others:
                    raise ConfigError(
                        "the 'pkcs12' file holds no CA certificate: add 'ca FILE'",
                        path=src,
                        line=self.lines["pkcs12"],
                    )
                v["ca"] = b"".join(c.public_bytes(pem) for c in others)
                chain = [c for c in others if c.issuer != c.subject]
            else:
                chain = list(others)
            if chain and "extra_certs" not in v:
                v["extra_certs"] = b"".join(c.public_bytes(pem) for c in chain)
        else:
            v.pop("pkcs12_others", None)
        has_cert = "cert" in v
        has_key = "key" in v
        if has_cert != has_key:
            missing = "key" if has_cert else "cert"
            raise ConfigError(
                f"'{'cert' if has_cert else 'key'}' without '{missing}': add the {missing}",
                path=src,
                line=self.lines.get("cert" if has_cert else "key"),
            )
        if not has_cert and not self.auth_user_pass_given:
            raise ConfigError(
                "no client certificate: add 'cert' and 'key', or 'auth-user-pass' if the server"
                " accepts passwords only",
                path=src,
            )
        if has_cert:
            cert = v.pop("cert_obj")
            key = v.pop("key_obj")
            assert isinstance(cert, x509.Certificate)
            spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
                raise ConfigError(
                    "the private key ('key') does not belong to the certificate ('cert');"
                    " use the matching pair",
                    path=src,
                    line=self.lines.get("key"),
                )
        chain_from_cert = v.pop("chain_from_cert", None)
        if chain_from_cert is not None and "extra_certs" not in v:
            v["extra_certs"] = chain_from_cert


def _looks_like_pkcs12(data: bytes) -> bool:
    """DER ``PFX ::= SEQUENCE { version INTEGER (3), ... }`` (RFC 7292 §4)."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    length = data[1]
    offset = 2 + (length & 0x7F if length & 0x80 else 0)
    return data[offset : offset + 3] == b"\x02\x01\x03"
