"""The parsed client configuration: ``Config`` and its sections, frozen and typed.

How this works: a ``Config`` is the file's ``source``, the ``warnings`` collected while parsing
it, and one frozen section per concern, each read by the layers that need it:

* ``transport`` (``TransportConfig``): which servers, in which order, how long to wait and
  retry (the client lifecycle and networkio);
* ``tls`` (``TLSConfig``): certificates, control-channel keys (tls-auth/tls-crypt/
  tls-crypt-v2), the TLS handshake's checks and the control channel's timers (tlssession,
  controlchannel, reliabletransport);
* ``data`` (``DataChannelConfig``): data cipher negotiation, the HMAC digest, compression
  framing, keepalive (tlssession's negotiation, datachannel);
* ``routing`` (``RoutingConfig``): the tun device and the client's own routes, DNS options and
  pull filters, merged with what the server pushes;
* ``client`` (``ClientConfig``): credentials, logging, status file, environment: what the CLI
  and the lifecycle around the stack use.

Field names are a contract with those readers. Every section is built by keyword by the
parser (``parser.py``); tests and callers change one with
``attrs.evolve(config, tls=attrs.evolve(config.tls, ekm=False))``.
``repr`` of a ``Config`` or of a section never shows keys, passwords or inline data.

The route types are the config's own (``ConfiguredRoute``/``ConfiguredRoute6``): their fields
are those of the pushed routes (``core/tlssession/push.py``), so merging the two is a field
copy, but the config does not depend on the session core.
"""

from __future__ import annotations

import ipaddress
import math

import attrs

DEFAULT_DATA_CIPHERS = ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305")
"""OpenVPN 2.6's default ``data-ciphers`` list."""


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


@attrs.frozen
class ConfiguredRoute:
    """A ``route`` line of the client config (same fields as a pushed ``route``)."""

    network: ipaddress.IPv4Network
    """Destination."""
    gateway: ipaddress.IPv4Address | None = None
    """An explicit gateway address, or None."""
    gateway_keyword: str | None = None
    """``vpn_gateway``, ``net_gateway`` or ``remote_host`` when given instead of an address."""
    metric: int | None = None
    """Route metric, if given."""


@attrs.frozen
class ConfiguredRoute6:
    """A ``route-ipv6`` line of the client config (same fields as a pushed ``route-ipv6``)."""

    network: ipaddress.IPv6Network
    """Destination."""
    gateway: ipaddress.IPv6Address | None = None
    """Explicit gateway, or None for the tunnel."""
    metric: int | None = None
    """Route metric, if given."""


@attrs.frozen
class TransportConfig:
    """Where to connect and how to retry (``remote``, ``connect-retry``, ...)."""

    remotes: tuple[Remote, ...]
    """``remote`` lines (or ``<connection>`` blocks) in order, UDP and TCP alike."""
    remote_random: bool = False
    """``remote-random``: try the remotes in random order."""
    resolv_retry: float = math.inf
    """``resolv-retry n|infinite``: how long to keep retrying name resolution."""
    connect_retry: float = 1.0
    """``connect-retry n``: first delay before trying the next remote."""
    connect_retry_max_delay: float = 300.0
    """``connect-retry n max``: cap of the doubling retry delay."""
    connect_retry_max: int | None = None
    """``connect-retry-max n``: give up after n passes over the remotes (None: never)."""
    server_poll_timeout: float = 120.0
    """``server-poll-timeout`` / ``connect-timeout``: how long to wait for one remote."""
    explicit_exit_notify: int = 0
    """``explicit-exit-notify [n]``: tell the server we leave, retrying for n s
    (docs §6.6)."""

    def __repr__(self) -> str:
        remotes = ", ".join(f"{r.host}:{r.port}/{r.proto}" for r in self.remotes)
        return f"TransportConfig(remotes=[{remotes}])"


@attrs.frozen(repr=False)
class TLSConfig:
    """Certificates, control-channel keys, TLS checks and control-channel timers."""

    ca: bytes
    """PEM of the trusted CA certificate(s) (``ca``); may hold several, intermediates too."""
    cert: bytes | None = None
    """PEM client certificate (``cert``, or from ``pkcs12``)."""
    key: bytes | None = None
    """PEM client private key (``key``, or PKCS#8 PEM from ``pkcs12``). Never shown."""
    extra_certs: bytes | None = None
    """PEM chain sent after our certificate (``extra-certs``, a chain in ``cert``, ``pkcs12``)."""
    auth_key: bytes | None = None
    """The 256-byte static key of ``tls-auth`` (docs §3.5), or None."""
    key_direction: int | None = None
    """``key-direction`` 0 or 1 (or the inline direction of ``tls-auth FILE 1``)."""
    crypt_key: bytes | None = None
    """The 256-byte static key of ``tls-crypt``, or None."""
    crypt_v2_key: bytes | None = None
    """``tls-crypt-v2`` client key, decoded: Kc (256 bytes) || WKc (docs §3.8)."""
    remote_cert_tls: str | None = None
    """``remote-cert-tls server`` -> "server": require EKU serverAuth on the server cert."""
    verify_x509_name: tuple[str, str] | None = None
    """``verify-x509-name NAME [TYPE]`` as (name, type); type is subject/name/name-prefix."""
    version_min: str | None = None
    """``tls-version-min`` "1.2" or "1.3"."""
    version_max: str | None = None
    """``tls-version-max`` "1.2" or "1.3"."""
    cipher: str | None = None
    """``tls-cipher``: OpenSSL cipher list for TLS <= 1.2."""
    ciphersuites: str | None = None
    """``tls-ciphersuites``: TLS 1.3 cipher suites."""
    groups: str | None = None
    """``tls-groups``: key exchange groups, colon-separated."""
    mtu: int = 1250
    """``tls-mtu``: upper bound of a control packet including IP/UDP headers (docs §4)."""
    timeout: float = 2.0
    """``tls-timeout``: initial control-packet retransmission timeout (docs §4)."""
    hand_window: float = 60.0
    """``hand-window``: the whole handshake must finish within this many seconds."""
    reneg_sec: int | None = None
    """``reneg-sec n``: renegotiate after n s (None: the stock default, 3600; docs §5.7)."""
    reneg_bytes: int | None = None
    """``reneg-bytes n``: renegotiate after n bytes."""
    reneg_pkts: int | None = None
    """``reneg-pkts n``: renegotiate after n packets."""
    tran_window: float = 3600.0
    """``tran-window``: how long an old key still decrypts after a renegotiation."""
    ekm: bool = True
    """Announce TLS-EKM key derivation (IV_PROTO bit 3; docs §5.3). No .ovpn directive
    sets it: ``attrs.evolve(config.tls, ekm=False)`` makes the server choose the OpenVPN PRF,
    which is how the PRF path is tested against a real server."""

    def __repr__(self) -> str:
        given = [
            name
            for name, value in (
                ("ca", self.ca),
                ("cert", self.cert),
                ("key", self.key),
                ("extra_certs", self.extra_certs),
                ("auth_key", self.auth_key),
                ("crypt_key", self.crypt_key),
                ("crypt_v2_key", self.crypt_v2_key),
            )
            if value
        ]
        return f"TLSConfig(given=[{', '.join(given)}], key_direction={self.key_direction!r})"


@attrs.frozen
class DataChannelConfig:
    """Data-channel cipher negotiation, digest, compression framing and keepalive."""

    ciphers: tuple[str, ...] = DEFAULT_DATA_CIPHERS
    """``data-ciphers`` in order of preference, upper-case canonical names."""
    ciphers_fallback: str | None = None
    """``data-ciphers-fallback``: cipher for a server that cannot negotiate (pre-2.4)."""
    cipher: str | None = None
    """Legacy ``cipher`` line (appended to the negotiable list as the fallback)."""
    auth: str = "SHA1"
    """``auth`` digest name: SHA1, SHA256, SHA512 (tls-auth HMAC, CBC data HMAC)."""
    compression: str | None = None
    """``comp-lzo [..]`` / ``compress [..]`` as given (e.g. ``comp-lzo no``), or None. It only
    selects the framing (``core.shared.framing.framing_of``, docs §6.4): vpnstack never
    compresses, and a compressed packet from the server ends the session."""
    ping: int | None = None
    """``ping`` / first argument of ``keepalive``: send a keepalive after n s of silence
    (docs §6.5)."""
    ping_restart: int | None = None
    """``ping-restart`` / second argument of ``keepalive``: restart after n s without input."""
    ping_exit: int | None = None
    """``ping-exit n``: exit after n s without input."""


@attrs.frozen
class RoutingConfig:
    """The tun device and the client's own routes, DNS options and pull filters."""

    dev: str = "tun"
    """``dev``: the tun device name, or ``tun`` for the first free ``tunN``."""
    tun_mtu: int | None = None
    """``tun-mtu`` of the client config; a pushed ``tun-mtu`` wins."""
    routes: tuple[ConfiguredRoute, ...] = ()
    """``route`` lines of the client config, installed like pushed ones."""
    routes_ipv6: tuple[ConfiguredRoute6, ...] = ()
    """``route-ipv6`` lines of the client config."""
    redirect_gateway: tuple[str, ...] | None = None
    """Flags of a client-side ``redirect-gateway`` (None: absent; () given without flags)."""
    gateway: ipaddress.IPv4Address | None = None
    """Client-side ``route-gateway``; a pushed one wins."""
    metric: int | None = None
    """``route-metric``: default metric of the routes."""
    dhcp_options: tuple[tuple[str, str], ...] = ()
    """Client-side ``dhcp-option TYPE [VALUE]`` as (TYPE upper-case, value or "")."""
    nopull: bool = False
    """``route-nopull``: do not install pushed routes (other pushed options still apply)."""
    pull_filters: tuple[tuple[str, str], ...] = ()
    """``pull-filter accept|ignore|reject TEXT`` in order, as (action, text); the first whose
    text is a prefix of a pushed option decides."""


@attrs.frozen
class ClientConfig:
    """Credentials, logging, status file and environment (the CLI and the lifecycle)."""

    auth_user_pass_required: bool = False
    """``auth-user-pass`` is present: the server wants a user name and password. When
    ``username`` or ``password`` is None the caller must ask for it."""
    username: str | None = attrs.field(default=None, repr=False)
    """From ``auth-user-pass`` (file or inline); None when not used or to be asked for."""
    password: str | None = attrs.field(default=None, repr=False)
    """From ``auth-user-pass``; None when to be asked for. Never logged or shown."""
    auth_retry: str = "none"
    """``auth-retry none|nointeract|interact``: what to do after AUTH_FAILED."""
    auth_nocache: bool = False
    """``auth-nocache``: forget the password after use (ask again on reconnect)."""
    verb: int = 1
    """``verb`` level."""
    mute: int = 0
    """``mute n``: log at most n messages of one category in a row (0: no limit)."""
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
    setenv: tuple[tuple[str, str], ...] = ()
    """``setenv NAME VALUE`` pairs (not ``setenv opt``), e.g. ``UV_*`` peer-info variables."""


@attrs.frozen(repr=False)
class Config:
    """A parsed client configuration. ``repr`` hides key material and credentials."""

    source: str
    """Path of the (first) config file it came from, ``<string>``, or ``command line`` when
    everything was given as options."""
    transport: TransportConfig
    """Servers and retry timing."""
    tls: TLSConfig
    """Certificates, control-channel keys, TLS checks and timers."""
    data: DataChannelConfig = DataChannelConfig()
    """Data-channel ciphers, digest, compression framing, keepalive."""
    routing: RoutingConfig = RoutingConfig()
    """Tun device, the client's own routes, DNS options and pull filters."""
    client: ClientConfig = ClientConfig()
    """Credentials, logging, status file, environment."""
    warnings: tuple[str, ...] = ()
    """``file:line: ...`` notes about directives that were accepted but are ignored."""

    def __repr__(self) -> str:
        remotes = ", ".join(f"{r.host}:{r.port}/{r.proto}" for r in self.transport.remotes)
        return f"Config(source={self.source!r}, remotes=[{remotes}])"


def require_supported(config: Config) -> None:
    """Raise ``ConfigError`` for parsed features the protocol stack cannot speak yet.

    Nothing is refused at present (tls-crypt-v2, the last such feature, is spoken now).
    """
