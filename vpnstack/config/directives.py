"""The directive table: one declaration per directive vpnstack knows.

How this works: every directive name is declared once below, with its arity, the metavar and
help group for the CLI's ``--help``, one line of help, its flags (may be an inline block, is a
per-connection option, may be given on the command line) and one of three kinds:

* ``implemented`` (``_impl``): the value is checked and stored in the ``Config`` by the parse
  function the declaration names (in ``handlers.py``, ``files.py`` or ``connections.py``);
* ``ignored`` (``_ignored``): accepted, but stock OpenVPN would do something vpnstack does not
  (or does not need to); a warning ``file:line: ...`` is collected in ``Config.warnings``;
* ``refused`` (``_refused``): ``ConfigError(message, path=..., line=...)`` whose message says
  what to change.

``DIRECTIVES`` (name -> ``DirectiveSpec``) is what the parser dispatches on and what the CLI
builds its options and ``--help`` groups from. Names not in it are unknown directives
(``Parser._unknown``): refused, or warnings when made ignorable; ``REFUSED_PREFIXES`` and
``SERVER_ONLY`` give better messages for families vpnstack will never accept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import attrs

from vpnstack.config import connections as c
from vpnstack.config import files as f
from vpnstack.config import handlers as h
from vpnstack.config.lexer import Directive

if TYPE_CHECKING:
    from vpnstack.config.parser import Parser

Kind = Literal["implemented", "ignored", "refused"]

Parse = Callable[["Parser", Directive], None]
"""A parse function: check one directive's value and store it in the parser's drafts."""

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
    """It may be given on the command line (False: only in a config file, ``<connection>``;
    openvpn has no other file-only directive, the rest of the file-only data is inline)."""
    parse: Parse | None = attrs.field(default=None, repr=False, eq=False)
    """How an ``implemented`` directive's value is checked and stored (None otherwise)."""


MANY = None
"""``max_args`` of a directive taking any number of arguments."""


def _impl(
    name: str,
    low: int,
    high: int | None,
    metavar: str,
    topic: str,
    help_text: str,
    parse: Parse,
    *,
    inline: bool = False,
    connection: bool = False,
    command_line: bool = True,
) -> DirectiveSpec:
    return DirectiveSpec(
        name, low, high, metavar, topic, "implemented", help_text, inline, connection,
        command_line, parse,
    )  # fmt: skip


def _ignored(
    name: str,
    low: int,
    high: int | None,
    metavar: str,
    topic: str,
    help_text: str,
    *,
    connection: bool = False,
) -> DirectiveSpec:
    return DirectiveSpec(name, low, high, metavar, topic, "ignored", help_text, False, connection)


def _refused(
    name: str,
    low: int,
    high: int | None,
    metavar: str,
    topic: str,
    help_text: str,
    *,
    connection: bool = False,
    command_line: bool = True,
) -> DirectiveSpec:
    return DirectiveSpec(
        name, low, high, metavar, topic, "refused", help_text, False, connection, command_line
    )


# fmt: off
_TABLE = [
    # general
    _impl("client", 0, 0, "", "general", "be an OpenVPN client (tls-client + pull)", h.client),
    _impl("pull", 0, 0, "", "general", "accept options pushed by the server (part of client)",
     h.pull),
    _impl("tls-client", 0, 0, "", "general", "be the TLS client (part of client)", h.tls_client),
    _impl("mode", 1, 1, "p2p", "general", "only 'mode p2p' (a client) is accepted", h.mode),
    _impl("cd", 1, 1, "DIR", "general", "resolve later relative paths against DIR", h.cd),
    _impl("setenv", 1, MANY, "NAME VALUE | opt DIRECTIVE...", "general", "set a variable; 'setenv "
     "opt X ...' applies X but ignores it if unknown", h.setenv),
    _impl("ignore-unknown-option", 1, MANY, "NAME...", "general", "treat these directives as "
     "warnings if vpnstack does not know them", h.ignore_unknown_option),
    _impl("config", 1, 1, "FILE", "general", "read FILE's directives here (later ones win)",
     h.config),
    _refused("daemon", 0, 1, "[NAME]", "general", "vpnstack-client does not fork into the "
     "background; run it as a systemd service or with nohup instead"),
    _refused("management", 2, 3, "IP PORT [PW]", "general", "the management interface is not "
     "supported; vpnstack-client prints its progress and answers SIGUSR1/SIGHUP/SIGUSR2"),
    _refused("plugin", 1, MANY, "MODULE [ARGS]", "general", "plugins are not supported"),
    _ignored("user", 1, 1, "USER", "general", "vpnstack does not drop privileges itself"),
    _ignored("group", 1, 1, "GROUP", "general", "vpnstack does not drop privileges itself"),
    _ignored("chroot", 1, 1, "DIR", "general", "vpnstack does not chroot itself"),
    _ignored("writepid", 1, 1, "FILE", "general", "vpnstack writes no pid file"),
    _ignored("nice", 1, 1, "N", "general", "vpnstack leaves its priority alone"),
    _ignored("mlock", 0, 0, "", "general", "vpnstack does not lock its memory"),
    _ignored("persist-key", 0, 0, "", "general", "vpnstack keeps its keys in memory across "
     "reconnects anyway"),
    _ignored("persist-tun", 0, 0, "", "general", "the tun device follows the session"),
    _ignored("persist-remote-ip", 0, 0, "", "general", "remote names are resolved per connection"),
    _ignored("persist-local-ip", 0, 0, "", "general", "vpnstack never binds a local address"),
    _ignored("ping-timer-rem", 0, 0, "", "general", "the ping timer always runs"),
    _ignored("single-session", 0, 0, "", "general", "a client has one session anyway"),
    _ignored("tls-exit", 0, 0, "", "general", "a TLS failure already ends the attempt"),
    _ignored("inactive", 1, 2, "N [BYTES]", "general", "vpnstack does not exit when idle"),
    _ignored("session-timeout", 1, 1, "N", "general", "sessions have no fixed lifetime"),
    _ignored("echo", 0, MANY, "[TEXT]", "general", "GUI message"),
    _refused("up", 1, MANY, "CMD", "general", "vpnstack-client runs no scripts ('up'); it applies "
     "pushed routes and DNS itself, so the usual update-resolv-conf / update-systemd-resolved "
     "scripts are not needed"),
    _refused("down", 1, MANY, "CMD", "general", "vpnstack-client runs no scripts ('down'); it "
     "restores routes and DNS itself on exit"),
    _refused("route-up", 1, MANY, "CMD", "general", "vpnstack-client runs no scripts"),
    _refused("route-pre-down", 1, MANY, "CMD", "general", "vpnstack-client runs no scripts"),
    _refused("ipchange", 1, MANY, "CMD", "general", "vpnstack-client runs no scripts"),
    _refused("tls-verify", 1, MANY, "CMD", "general", "vpnstack-client runs no scripts, so this "
     "certificate check cannot be done; use verify-x509-name or remote-cert-tls"),
    _ignored("up-delay", 0, 0, "", "general", "vpnstack-client runs no scripts"),
    _ignored("up-restart", 0, 0, "", "general", "vpnstack-client runs no scripts"),
    _ignored("down-pre", 0, 0, "", "general", "vpnstack-client runs no scripts"),
    _ignored("setenv-safe", 1, 2, "NAME [VALUE]", "general", "vpnstack-client runs no scripts"),
    _refused("server", 2, 3, "NETWORK NETMASK", "general", "this is a server config ('server'); "
     "vpnstack is a client"),
    _refused("tls-server", 0, 0, "", "general", "this is a server config ('tls-server'); vpnstack "
     "is a client"),
    _refused("secret", 1, 2, "FILE [DIR]", "general", "static-key mode ('secret') is not "
     "supported; vpnstack is a TLS client"),
    # connection
    _impl("connection", 1, 1, "<connection>...</connection>", "connection", "a connection "
     "profile: one remote and its own options (inline block only)", c.connection, inline=True,
     command_line=False),
    _impl("remote", 1, 3, "HOST [PORT] [PROTO]", "connection", "a server to connect to; repeat "
     "for fallbacks", c.remote, connection=True),
    _impl("proto", 1, 1, "PROTO", "connection", "default transport: udp or tcp "
     "(udp4/udp6/tcp4/tcp6 pin the address family)", c.proto, connection=True),
    _impl("port", 1, 1, "PORT", "connection", "default remote port (1194)", c.port,
     connection=True),
    _impl("rport", 1, 1, "PORT", "connection", "same as port, for the remote", c.port,
     connection=True),
    _impl("remote-random", 0, 0, "", "connection", "try the remotes in random order",
     h.remote_random),
    _impl("resolv-retry", 1, 1, "N|infinite", "connection", "keep retrying name resolution this "
     "long", h.resolv_retry),
    _impl("connect-retry", 1, 2, "N [MAX]", "connection", "seconds between attempts, doubling up "
     "to MAX (300)", c.connect_retry, connection=True),
    _impl("connect-retry-max", 1, 1, "N", "connection", "give up after N passes over the remotes",
     c.connect_retry_max, connection=True),
    _impl("server-poll-timeout", 1, 1, "N", "connection", "seconds to wait for one remote before "
     "trying the next", c.server_poll_timeout, connection=True),
    _impl("connect-timeout", 1, 1, "N", "connection", "same as server-poll-timeout",
     c.server_poll_timeout, connection=True),
    _impl("explicit-exit-notify", 0, 1, "[N]", "connection", "tell the server when we leave",
     c.explicit_exit_notify, connection=True),
    _impl("ping", 1, 1, "N", "connection", "send a keepalive after N s of silence", h.ping),
    _impl("ping-restart", 1, 1, "N", "connection", "reconnect after N s without input",
     h.ping_restart),
    _impl("ping-exit", 1, 1, "N", "connection", "exit after N s without input", h.ping_exit),
    _impl("keepalive", 2, 2, "PING RESTART", "connection", "ping and ping-restart in one",
     h.keepalive),
    _impl("hand-window", 1, 1, "N", "connection", "seconds allowed for a handshake (60)",
     h.hand_window),
    _ignored("nobind", 0, 0, "", "connection", "vpnstack always uses a fresh local port",
     connection=True),
    _ignored("bind", 0, 1, "[ipv6only]", "connection", "vpnstack always uses a fresh local port",
     connection=True),
    _ignored("lport", 1, 1, "PORT", "connection", "vpnstack always uses a fresh local port",
     connection=True),
    _ignored("local", 1, 3, "HOST [PORT] [PROTO]", "connection", "vpnstack lets the system choose "
     "the local address", connection=True),
    _ignored("float", 0, 0, "", "connection", "vpnstack keeps the remote address fixed",
     connection=True),
    _ignored("remote-random-hostname", 0, 0, "", "connection", "host names are used as given"),
    _ignored("fast-io", 0, 0, "", "connection", "not applicable to vpnstack's event loop"),
    _ignored("sndbuf", 1, 1, "N", "connection", "socket buffer sizes are left to the system"),
    _ignored("rcvbuf", 1, 1, "N", "connection", "socket buffer sizes are left to the system"),
    _ignored("socket-flags", 1, MANY, "FLAGS", "connection", "socket flags are left alone"),
    _ignored("mark", 1, 1, "N", "connection", "packets are not marked"),
    _ignored("mute-replay-warnings", 0, 0, "", "connection", "replayed packets are only counted, "
     "never logged one by one"),
    _ignored("replay-window", 1, 2, "N [T]", "connection", "the replay window has a fixed size"),
    _refused("http-proxy", 1, 4, "HOST PORT", "connection", "HTTP proxies are not supported yet",
     connection=True),
    _refused("http-proxy-option", 1, 3, "TYPE [PARM]", "connection", "HTTP proxies are not "
     "supported yet", connection=True),
    _refused("http-proxy-retry", 0, 0, "", "connection", "HTTP proxies are not supported yet",
     connection=True),
    _refused("http-proxy-timeout", 1, 1, "N", "connection", "HTTP proxies are not supported yet",
     connection=True),
    _refused("socks-proxy", 1, 3, "HOST [PORT]", "connection", "SOCKS proxies are not supported "
     "yet", connection=True),
    _refused("socks-proxy-retry", 0, 0, "", "connection", "SOCKS proxies are not supported yet",
     connection=True),
    # tls
    _impl("ca", 1, 1, "FILE", "tls", "CA certificate(s) to trust", f.ca, inline=True),
    _impl("cert", 1, 1, "FILE", "tls", "client certificate (optionally with its chain)", f.cert,
     inline=True),
    _impl("key", 1, 1, "FILE", "tls", "client private key (not encrypted)", f.key, inline=True),
    _impl("extra-certs", 1, 1, "FILE", "tls", "chain sent after the client certificate",
     f.extra_certs, inline=True),
    _impl("pkcs12", 1, 1, "FILE", "tls", "certificate, key and CA from a PKCS#12 file without "
     "passphrase", f.pkcs12, inline=True),
    _impl("tls-auth", 1, 2, "FILE [DIRECTION]", "tls", "HMAC-sign control packets with this "
     "static key", f.tls_auth, inline=True, connection=True),
    _impl("key-direction", 1, 1, "0|1", "tls", "direction of the tls-auth key (client: 1)",
     f.key_direction, connection=True),
    _impl("tls-crypt", 1, 1, "FILE", "tls", "encrypt and sign control packets with this static key",
     f.tls_crypt, inline=True, connection=True),
    _impl("tls-crypt-v2", 1, 1, "FILE", "tls", "per-client control channel key (client key: Kc "
     "and the wrapped WKc)", f.tls_crypt_v2, inline=True, connection=True),
    _impl("remote-cert-tls", 1, 1, "server", "tls", "require the server certificate's TLS server "
     "EKU", h.remote_cert_tls),
    _impl("verify-x509-name", 1, 2, "NAME [TYPE]", "tls", "require this server name (TYPE "
     "subject, name or name-prefix)", h.verify_x509_name),
    _impl("tls-version-min", 1, 2, "1.2|1.3 [or-highest]", "tls", "lowest TLS version",
     h.tls_version_min),
    _impl("tls-version-max", 1, 1, "1.2|1.3", "tls", "highest TLS version", h.tls_version_max),
    _impl("tls-cipher", 1, 1, "LIST", "tls", "OpenSSL cipher list for TLS 1.2", h.tls_cipher),
    _impl("tls-ciphersuites", 1, 1, "LIST", "tls", "TLS 1.3 cipher suites", h.tls_ciphersuites),
    _impl("tls-groups", 1, 1, "LIST", "tls", "key exchange groups", h.tls_groups),
    _impl("tls-timeout", 1, 1, "N", "tls", "control packet retransmission timeout (2 s)",
     h.tls_timeout),
    _impl("tls-mtu", 1, 1, "N", "tls", "largest control packet (1250)", h.tls_mtu),
    _impl("reneg-sec", 1, 2, "N [MAX]", "tls", "renegotiate data keys every N seconds",
     h.reneg_sec),
    _impl("reneg-bytes", 1, 1, "N", "tls", "renegotiate after N bytes", h.reneg_bytes),
    _impl("reneg-pkts", 1, 1, "N", "tls", "renegotiate after N packets", h.reneg_pkts),
    _impl("tran-window", 1, 1, "N", "tls", "seconds an old key still decrypts after rekey",
     h.tran_window),
    _ignored("tls-cert-profile", 1, 1, "PROFILE", "tls", "vpnstack applies its own certificate "
     "rules"),
    _ignored("ecdh-curve", 1, 1, "NAME", "tls", "use tls-groups instead"),
    _refused("ns-cert-type", 1, 1, "server", "tls", "the Netscape certificate type check is not "
     "supported; use 'remote-cert-tls server' (the server certificate needs the TLS server EKU)"),
    _refused("remote-cert-eku", 1, 1, "OID", "tls", "not supported yet; use 'remote-cert-tls "
     "server'"),
    _refused("remote-cert-ku", 0, MANY, "[HEX...]", "tls", "not supported yet; use "
     "'remote-cert-tls server'"),
    _refused("tls-remote", 1, 1, "NAME", "tls", "'tls-remote' was removed from OpenVPN; use "
     "'verify-x509-name NAME name'"),
    _refused("crl-verify", 1, 2, "FILE [dir]", "tls", "certificate revocation lists are not "
     "checked yet"),
    _refused("verify-hash", 1, 2, "HASH [ALGO]", "tls", "CA fingerprint pinning is not supported "
     "yet; use 'ca'"),
    _refused("peer-fingerprint", 1, 1, "HASH", "tls", "certificate fingerprint pinning is not "
     "supported yet; use 'ca'"),
    _refused("capath", 1, 1, "DIR", "tls", "a CA directory is not supported; use 'ca FILE'"),
    _refused("askpass", 0, 1, "[FILE]", "tls", "encrypted private keys are not supported yet; "
     "decrypt the key file"),
    _refused("pkcs11-providers", 1, MANY, "LIB", "tls", "PKCS#11 tokens are not supported"),
    _refused("pkcs11-id", 1, 1, "ID", "tls", "PKCS#11 tokens are not supported"),
    _refused("cryptoapicert", 1, 1, "SELECT", "tls", "the Windows certificate store is not "
     "supported; export the certificate and key to PEM files"),
    _refused("providers", 1, MANY, "NAME", "tls", "OpenSSL providers are not supported"),
    _ignored("engine", 0, 1, "[NAME]", "tls", "crypto engines are obsolete"),
    _ignored("key-method", 1, 1, "2", "tls", "key-method 2 is the only one"),
    # data channel
    _impl("data-ciphers", 1, 1, "LIST", "data channel", "colon-separated ciphers to negotiate, "
     "preferred first", h.data_ciphers),
    _impl("ncp-ciphers", 1, 1, "LIST", "data channel", "old name of data-ciphers",
     h.data_ciphers),
    _impl("data-ciphers-fallback", 1, 1, "CIPHER", "data channel", "cipher for a server that "
     "cannot negotiate", h.data_ciphers_fallback),
    _impl("cipher", 1, 1, "CIPHER", "data channel", "legacy cipher line (joins the negotiable "
     "list)", h.cipher),
    _impl("auth", 1, 1, "DIGEST", "data channel", "HMAC digest for tls-auth and CBC", h.auth),
    _ignored("ncp-disable", 0, 0, "", "data channel", "removed in OpenVPN 2.6; the cipher is "
     "always negotiated"),
    _impl("allow-compression", 1, 1, "no", "data channel", "only 'no' means something to "
     "vpnstack, which never compresses", h.allow_compression),
    _impl("comp-lzo", 0, 1, "[no|yes|adaptive]", "data channel", "comp-lzo framing; vpnstack "
     "sends uncompressed and refuses compressed packets", h.compression),
    _impl("compress", 0, 1, "[stub|stub-v2|lz4|lz4-v2|lzo]", "data channel", "compression "
     "framing; vpnstack sends uncompressed and refuses compressed packets", h.compression),
    _ignored("comp-noadapt", 0, 0, "", "data channel", "vpnstack never compresses"),
    _refused("fragment", 1, 2, "N", "data channel", "'fragment' is not supported (it must match "
     "the server); remove it on both sides", connection=True),
    _ignored("disable-occ", 0, 0, "", "data channel", "vpnstack sends no OCC messages"),
    _refused("no-replay", 0, 0, "", "data channel", "'no-replay' was removed from OpenVPN; remove "
     "the line"),
    # auth
    _impl("auth-user-pass", 0, 1, "[FILE]", "auth", "user name and password: FILE (two lines), an "
     "inline block, or asked for", h.auth_user_pass, inline=True),
    _impl("auth-retry", 1, 1, "none|nointeract|interact", "auth", "what to do after AUTH_FAILED "
     "(none: exit)", h.auth_retry),
    _impl("auth-nocache", 0, 0, "", "auth", "ask for the password again on reconnect",
     h.auth_nocache),
    _refused("static-challenge", 2, 3, "TEXT ECHO [FORMAT]", "auth", "challenge/response prompts "
     "are not supported yet"),
    _ignored("push-peer-info", 0, 0, "", "auth", "vpnstack sends its fixed peer info"),
    # tun
    _impl("dev", 1, 1, "tun|NAME", "tun", "tun device name ('tun': the first free tunN)", h.dev),
    _impl("dev-type", 1, 1, "tun", "tun", "device type; only tun", h.dev_type),
    _impl("tun-mtu", 1, 1, "N", "tun", "MTU of the tun device (a pushed tun-mtu wins)", c.tun_mtu,
     connection=True),
    _ignored("topology", 1, 1, "TYPE", "tun", "the server pushes the topology"),
    _ignored("mssfix", 0, 2, "[N]", "tun", "TCP MSS clamping is not done", connection=True),
    _ignored("link-mtu", 1, 1, "N", "tun", "deprecated; use tun-mtu", connection=True),
    _ignored("tun-mtu-extra", 1, 1, "N", "tun", "not needed for tun devices", connection=True),
    _ignored("mtu-disc", 1, 1, "TYPE", "tun", "path MTU discovery is left to the system",
     connection=True),
    _ignored("mtu-test", 0, 0, "", "tun", "not supported"),
    _ignored("txqueuelen", 1, 1, "N", "tun", "the tun queue length is left to the system"),
    _ignored("dev-node", 1, 1, "NODE", "tun", "/dev/net/tun is always used"),
    _ignored("tun-ipv6", 0, 0, "", "tun", "obsolete: IPv6 is always enabled"),
    _ignored("disable-dco", 0, 0, "", "tun", "vpnstack never uses data channel offload"),
    _refused("ifconfig", 2, 2, "LOCAL REMOTE", "tun", "a client gets its address from the server; "
     "remove 'ifconfig'"),
    _refused("ifconfig-ipv6", 2, 2, "ADDR/BITS REMOTE", "tun", "a client gets its address from "
     "the server; remove 'ifconfig-ipv6'"),
    # routing
    _impl("route-nopull", 0, 0, "", "routing", "do not install routes the server pushes",
     h.route_nopull),
    _impl("pull-filter", 2, 2, "accept|ignore|reject TEXT", "routing", "filter pushed options "
     "starting with TEXT (first match decides)", h.pull_filter),
    _impl("route", 1, 4, "NETWORK [NETMASK] [GATEWAY] [METRIC]", "routing", "add a route through "
     "the tunnel", h.route),
    _impl("route-ipv6", 1, 3, "NETWORK/BITS [GATEWAY] [METRIC]", "routing", "add an IPv6 route "
     "through the tunnel", h.route_ipv6),
    _impl("redirect-gateway", 0, MANY, "[FLAGS...]", "routing", "send all traffic through the "
     "tunnel (def1, ipv6, !ipv4, local, ...)", h.redirect_gateway),
    _impl("route-metric", 1, 1, "N", "routing", "default metric of the routes", h.route_metric),
    _impl("route-gateway", 1, 1, "IP", "routing", "default gateway of the routes",
     h.route_gateway),
    _ignored("route-delay", 0, 2, "[N] [W]", "routing", "routes are installed as soon as the "
     "tunnel is up"),
    _refused("route-noexec", 0, 0, "", "routing", "not supported: vpnstack-client always installs "
     "its routes (use route-nopull)"),
    _refused("ifconfig-noexec", 0, 0, "", "tun", "not supported: vpnstack-client always sets the "
     "address the server pushes on its tun device"),
    _ignored("max-routes", 1, 1, "N", "routing", "obsolete: there is no limit"),
    _ignored("allow-pull-fqdn", 0, 0, "", "routing", "pushed names are not resolved"),
    # dns
    _impl("dhcp-option", 1, 2, "TYPE [VALUE]", "dns", "DNS/DNS6/DOMAIN/DOMAIN-SEARCH etc. added "
     "to what the server pushes", h.dhcp_option),
    _refused("dns", 1, MANY, "...", "dns", "the 'dns' option in a client config is not supported "
     "yet; use 'dhcp-option DNS ADDR'"),
    _ignored("block-outside-dns", 0, 0, "", "dns", "Windows-only"),
    _ignored("register-dns", 0, 0, "", "dns", "Windows-only"),
    _ignored("ip-win32", 1, 3, "METHOD", "dns", "Windows-only"),
    _ignored("route-method", 1, 1, "METHOD", "dns", "Windows-only"),
    _ignored("dhcp-renew", 0, 0, "", "dns", "Windows-only"),
    _ignored("dhcp-release", 0, 0, "", "dns", "Windows-only"),
    _ignored("dhcp-pre-release", 0, 0, "", "dns", "Windows-only"),
    _ignored("tap-sleep", 1, 1, "N", "dns", "Windows-only"),
    _ignored("win-sys", 1, 1, "PATH", "dns", "Windows-only"),
    _ignored("windows-driver", 1, 1, "DRIVER", "dns", "Windows-only"),
    # logging
    _impl("verb", 1, 1, "N", "logging", "verbosity 0..11 (1)", h.verb),
    _impl("mute", 1, 1, "N", "logging", "log at most N messages of one kind in a row", h.mute),
    _impl("status", 1, 2, "FILE [SECONDS]", "logging", "write a traffic summary to FILE every "
     "SECONDS (60)", h.status),
    _impl("log", 1, 1, "FILE", "logging", "log to FILE (truncated first)", h.log),
    _impl("log-append", 1, 1, "FILE", "logging", "log to FILE (appended)", h.log_append),
    _impl("script-security", 1, 1, "N", "logging", "stored; vpnstack runs no scripts",
     h.script_security),
    _ignored("syslog", 0, 1, "[NAME]", "logging", "vpnstack logs to stderr or 'log'"),
    _ignored("suppress-timestamps", 0, 0, "", "logging", "log lines keep their format"),
    _ignored("machine-readable-output", 0, 0, "", "logging", "log lines keep their format"),
    _ignored("status-version", 1, 1, "N", "logging", "the status file has one format"),
]
# fmt: on


def _build_directives(table: Sequence[DirectiveSpec]) -> dict[str, DirectiveSpec]:
    by_name: dict[str, DirectiveSpec] = {}
    for spec in table:
        assert spec.topic in TOPICS and spec.name not in by_name, spec.name
        assert (spec.parse is not None) == (spec.kind == "implemented"), spec.name
        by_name[spec.name] = spec
    return by_name


DIRECTIVES: Mapping[str, DirectiveSpec] = MappingProxyType(_build_directives(_TABLE))
"""Every directive vpnstack classifies, by name; a name not listed is an unknown directive."""

INLINE_TAGS = frozenset(name for name, spec in DIRECTIVES.items() if spec.inline)
"""Directives that may be given as inline blocks (``<connection>`` included)."""

REFUSED_PREFIXES = MappingProxyType(
    {
        "management-": "the management interface is not supported",
        "pkcs11-": "PKCS#11 tokens are not supported",
        "http-proxy-": "HTTP proxies are not supported yet",
        "socks-proxy-": "SOCKS proxies are not supported yet",
    }
)
"""Unknown directives of these families are refused with this reason."""

SERVER_ONLY = frozenset(
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
"""Unknown directives refused as server options."""

DNS_HELPER_SCRIPTS = (
    "update-resolv-conf",
    "update-systemd-resolved",
    "systemd-resolved",
    "client.up",
    "client.down",
)
"""Well-known up/down scripts that only apply pushed DNS (Debian, Fedora, systemd helpers)."""


def is_dns_helper(args: Sequence[str]) -> bool:
    """Whether an ``up``/``down`` command is one of the DNS helper scripts."""
    return bool(args) and os.path.basename(args[0]).startswith(DNS_HELPER_SCRIPTS)
