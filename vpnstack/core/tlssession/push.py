"""Control-channel text messages and the pushed options (docs §5.5, §5.6, §5.8.6-7).

How this works: after key-method 2, the TLS application data carries NUL-terminated ASCII
messages; one TLS record may hold several, so :class:`ControlTextReader` splits the byte
stream on NUL and :func:`classify` tells ``PUSH_REPLY`` from ``AUTH_FAILED`` and friends
by case-sensitive prefix. A ``PUSH_REPLY`` may come in parts (``push-continuation 2`` on
every part but the last, ``push-continuation 1`` on the last): :class:`PushCollector`
gathers them and only the final part yields a :class:`PushedOptions`, parsed in one go from
all parts (later values win for single-valued options, lists accumulate).
:func:`tunnel_info` turns the options into the public :class:`TunnelInfo`.
"""

from __future__ import annotations

import enum
import ipaddress
import shlex
from collections.abc import Iterable, Sequence

import attrs

from vpnstack.errors import DropReason, RemoteProtocolError, VPNError
from vpnstack.messages import Route, TunnelInfo

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_PENDING_TEXT = 64 * 1024
"""Give up on a control message that has no NUL after this many bytes."""


# --- control text messages (§5.5) -------------------------------------------------------------


class ControlKind(enum.Enum):
    """Kinds of server-to-client control messages (§5.5)."""

    PUSH_REPLY = "PUSH_REPLY"
    AUTH_FAILED = "AUTH_FAILED"
    AUTH_PENDING = "AUTH_PENDING"
    INFO_PRE = "INFO_PRE"
    INFO = "INFO"
    RESTART = "RESTART"
    HALT = "HALT"
    EXIT = "EXIT"
    OTHER = "OTHER"


# Prefix order matters: INFO_PRE before INFO.
_PREFIXES = [kind for kind in ControlKind if kind is not ControlKind.OTHER]


@attrs.frozen(repr=False)
class ControlText:
    """One control message. ``repr`` omits the text: a PUSH_REPLY may carry an auth-token."""

    kind: ControlKind
    """What the message is."""
    argument: str
    """The text after the keyword and its comma (e.g. the options, or the reason)."""

    def __repr__(self) -> str:
        return f"ControlText({self.kind.name})"


class ControlTextReader:
    """Splits decrypted TLS application data into NUL-terminated messages (§5.8.6)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Return every complete message (without its NUL); keep a trailing fragment."""
        buffer = self._pending + data
        *messages, self._pending = buffer.split(b"\x00")
        if len(self._pending) > MAX_PENDING_TEXT:
            self._pending = b""
            raise RemoteProtocolError(DropReason.CONTROL_MESSAGE_TOO_LONG, "no NUL within 64 KiB")
        return messages


def classify(raw: bytes) -> ControlText:
    """Classify one message by case-sensitive prefix (§5.5).

    Like OpenVPN, trailing CR/LF are stripped and a message with non-printable characters
    is refused (``RemoteProtocolError``).
    """
    raw = raw.rstrip(b"\r\n")
    if any(b < 0x20 or b > 0x7E for b in raw):
        raise RemoteProtocolError(DropReason.NON_PRINTABLE_CONTROL_MESSAGE)
    text = raw.decode("ascii")
    for kind in _PREFIXES:
        if text.startswith(kind.value):
            return ControlText(kind, text[len(kind.value) :].removeprefix(","))
    return ControlText(ControlKind.OTHER, text)


# --- pushed options (§5.6) --------------------------------------------------------------------


@attrs.frozen
class PushedRoute:
    """A pushed ``route`` (IPv4)."""

    network: ipaddress.IPv4Network
    """Destination."""
    gateway: ipaddress.IPv4Address | None = None
    """An explicit gateway address, or None."""
    gateway_keyword: str | None = None
    """``vpn_gateway``, ``net_gateway`` or ``remote_host`` when given instead of an address."""
    metric: int | None = None
    """Route metric, if pushed."""


@attrs.frozen
class PushedRoute6:
    """A pushed ``route-ipv6``."""

    network: ipaddress.IPv6Network
    """Destination."""
    gateway: ipaddress.IPv6Address | None = None
    """Explicit gateway, or None for the tunnel."""
    metric: int | None = None
    """Route metric, if pushed."""


@attrs.frozen
class DnsServer:
    """One server of the pushed ``dns server <prio> ...`` option (2.6 syntax)."""

    priority: int
    """Lower is preferred."""
    addresses: tuple[tuple[IPAddress, int | None], ...] = ()
    """Addresses with optional ports."""
    resolve_domains: tuple[str, ...] = ()
    """Split-DNS domains for this server."""
    dnssec: str | None = None
    """``yes``, ``no`` or ``optional``."""
    transport: str | None = None
    """``plain``, ``DoH`` or ``DoT``."""
    sni: str | None = None
    """Server name for DoH/DoT."""


@attrs.frozen
class PushedOptions:
    """Everything a (final, merged) PUSH_REPLY set (§5.6). Secrets are kept out of ``repr``."""

    ifconfig: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None = None
    """``ifconfig local netmask`` (subnet) or ``ifconfig local remote`` (net30/p2p)."""
    ifconfig_ipv6: ipaddress.IPv6Interface | None = None
    """``ifconfig-ipv6 addr/bits``."""
    ifconfig_ipv6_remote: ipaddress.IPv6Address | None = None
    """The remote of ``ifconfig-ipv6``."""
    topology: str | None = None
    """``net30``, ``p2p`` or ``subnet``."""
    route_gateway: ipaddress.IPv4Address | None = None
    """``route-gateway <ip>``."""
    route_gateway_dhcp: bool = False
    """``route-gateway dhcp``."""
    routes: tuple[PushedRoute, ...] = ()
    """Pushed IPv4 routes in order."""
    routes_ipv6: tuple[PushedRoute6, ...] = ()
    """Pushed IPv6 routes in order."""
    route_metric: int | None = None
    """``route-metric``: default metric of the routes."""
    redirect_gateway: tuple[str, ...] | None = None
    """Flags of ``redirect-gateway`` (None: not pushed; () pushed without flags)."""
    redirect_private: tuple[str, ...] | None = None
    """Flags of ``redirect-private``."""
    dhcp_options: tuple[tuple[str, str], ...] = ()
    """``dhcp-option TYPE value`` pairs in order."""
    dns_servers: tuple[DnsServer, ...] = ()
    """The ``dns server`` entries, by priority."""
    dns_search_domains: tuple[str, ...] = ()
    """``dns search-domains``."""
    ping: int | None = None
    """``ping n``."""
    ping_restart: int | None = None
    """``ping-restart n``."""
    peer_id: int | None = None
    """``peer-id n``: send P_DATA_V2 with it."""
    cipher: str | None = None
    """``cipher`` (upper-cased)."""
    key_derivation: str | None = None
    """``key-derivation`` (``tls-ekm``)."""
    protocol_flags: tuple[str, ...] = ()
    """``protocol-flags`` tokens (``cc-exit``, ``tls-ekm``, ...)."""
    tun_mtu: int | None = None
    """``tun-mtu``."""
    auth_token: str | None = attrs.field(default=None, repr=False)
    """``auth-token``: the password to use from now on. Never logged."""
    auth_token_user: str | None = attrs.field(default=None, repr=False)
    """``auth-token-user`` (base64 user name)."""
    explicit_exit_notify: int | None = None
    """``explicit-exit-notify [n]``."""
    compression: str | None = None
    """``comp-lzo ...`` or ``compress ...`` as pushed (vpnstack implements no framing)."""
    push_continuation: int | None = None
    """The ``push-continuation`` of the last part (1, 2) or None."""
    unknown: tuple[str, ...] = ()
    """Options not understood (or not parseable), as raw text."""

    @property
    def uses_ekm(self) -> bool:
        """The server asked for EKM key derivation (§5.3)."""
        return self.key_derivation == "tls-ekm" or "tls-ekm" in self.protocol_flags

    @property
    def dns_addresses(self) -> tuple[IPAddress, ...]:
        """DNS servers: the ``dns`` option's first (by priority), then ``dhcp-option``."""
        found: list[IPAddress] = []
        for server in sorted(self.dns_servers, key=lambda s: s.priority):
            found += [addr for addr, _port in server.addresses]
        for kind, value in self.dhcp_options:
            if kind in ("DNS", "DNS6"):
                try:
                    found.append(ipaddress.ip_address(value))
                except ValueError:
                    continue
        return tuple(dict.fromkeys(found))

    @property
    def search_domains(self) -> tuple[str, ...]:
        """``dns search-domains`` then ``dhcp-option DOMAIN``/``DOMAIN-SEARCH``."""
        found = list(self.dns_search_domains)
        found += [v for k, v in self.dhcp_options if k in ("DOMAIN", "DOMAIN-SEARCH")]
        return tuple(dict.fromkeys(found))


def _tokens(option: str) -> list[str]:
    try:
        return shlex.split(option)
    except ValueError:
        return option.split()


def _int(token: str, low: int = 0, high: int = 2**31 - 1) -> int:
    value = int(token, 10)
    if not low <= value <= high:
        raise ValueError(f"{value} out of range")
    return value


def _dns_address(token: str) -> tuple[IPAddress, int | None]:
    if token.startswith("["):  # [v6]:port
        host, _, port = token[1:].partition("]")
        port_number = _int(port.removeprefix(":"), 1, 65535) if port else None
        return ipaddress.IPv6Address(host), port_number
    if token.count(":") == 1:  # v4:port
        host, port = token.split(":")
        return ipaddress.IPv4Address(host), _int(port, 1, 65535)
    return ipaddress.ip_address(token), None


class _Builder:
    """Accumulates options in order; later single values win."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.routes: list[PushedRoute] = []
        self.routes6: list[PushedRoute6] = []
        self.dhcp: list[tuple[str, str]] = []
        self.dns: dict[int, DnsServer] = {}
        self.search: list[str] = []
        self.unknown: list[str] = []

    def apply(self, option: str) -> None:
        tokens = _tokens(option)
        if not tokens:
            return
        name, args = tokens[0], tokens[1:]
        handler = getattr(self, "_opt_" + name.replace("-", "_"), None)
        if handler is None:
            self.unknown.append(option)
            return
        try:
            handler(args)
        except (ValueError, IndexError):
            self.unknown.append(option)

    # Each handler implements one row of docs §5.6.

    def _opt_ifconfig(self, a: list[str]) -> None:
        self.values["ifconfig"] = (ipaddress.IPv4Address(a[0]), ipaddress.IPv4Address(a[1]))

    def _opt_ifconfig_ipv6(self, a: list[str]) -> None:
        self.values["ifconfig_ipv6"] = ipaddress.IPv6Interface(a[0])
        if len(a) > 1:
            self.values["ifconfig_ipv6_remote"] = ipaddress.IPv6Address(a[1])

    def _opt_topology(self, a: list[str]) -> None:
        if a[0] not in ("net30", "p2p", "subnet"):
            raise ValueError(a[0])
        self.values["topology"] = a[0]

    def _opt_route_gateway(self, a: list[str]) -> None:
        if a[0] == "dhcp":
            self.values["route_gateway_dhcp"] = True
        else:
            self.values["route_gateway"] = ipaddress.IPv4Address(a[0])

    def _opt_route(self, a: list[str]) -> None:
        # route <net> [<mask> [<gw>|vpn_gateway|net_gateway|remote_host [<metric>]]]
        mask = a[1] if len(a) > 1 and a[1] != "default" else "255.255.255.255"
        network = ipaddress.IPv4Network(f"{a[0]}/{mask}", strict=False)
        gateway: ipaddress.IPv4Address | None = None
        keyword: str | None = None
        if len(a) > 2 and a[2] != "default":
            if a[2] in ("vpn_gateway", "net_gateway", "remote_host"):
                keyword = a[2]
            else:
                gateway = ipaddress.IPv4Address(a[2])
        metric = _int(a[3]) if len(a) > 3 and a[3] != "default" else None
        self.routes.append(PushedRoute(network, gateway, keyword, metric))

    def _opt_route_ipv6(self, a: list[str]) -> None:
        network = ipaddress.IPv6Network(a[0], strict=False)
        gateway = ipaddress.IPv6Address(a[1]) if len(a) > 1 and a[1] != "default" else None
        metric = _int(a[2]) if len(a) > 2 and a[2] != "default" else None
        self.routes6.append(PushedRoute6(network, gateway, metric))

    def _opt_route_metric(self, a: list[str]) -> None:
        self.values["route_metric"] = _int(a[0])

    def _opt_redirect_gateway(self, a: list[str]) -> None:
        self.values["redirect_gateway"] = tuple(a)

    def _opt_redirect_private(self, a: list[str]) -> None:
        self.values["redirect_private"] = tuple(a)

    def _opt_dhcp_option(self, a: list[str]) -> None:
        self.dhcp.append((a[0], " ".join(a[1:])))

    def _opt_dns(self, a: list[str]) -> None:
        if a[0] == "search-domains":
            if len(a) < 2:
                raise ValueError("no domains")
            self.search += a[1:]
            return
        if a[0] != "server":
            raise ValueError(a[0])
        priority = _int(a[1], -128, 127)
        key, values = a[2], a[3:]
        if not values:
            raise ValueError("no value")
        server = self.dns.get(priority, DnsServer(priority))
        if key == "address":
            addresses = tuple(_dns_address(v) for v in values)
            server = attrs.evolve(server, addresses=server.addresses + addresses)
        elif key == "resolve-domains":
            server = attrs.evolve(server, resolve_domains=server.resolve_domains + tuple(values))
        elif key == "dnssec":
            server = attrs.evolve(server, dnssec=values[0])
        elif key == "transport":
            server = attrs.evolve(server, transport=values[0])
        elif key == "sni":
            server = attrs.evolve(server, sni=values[0])
        else:
            raise ValueError(key)
        self.dns[priority] = server

    def _opt_ping(self, a: list[str]) -> None:
        self.values["ping"] = _int(a[0])

    def _opt_ping_restart(self, a: list[str]) -> None:
        self.values["ping_restart"] = _int(a[0])

    def _opt_peer_id(self, a: list[str]) -> None:
        self.values["peer_id"] = _int(a[0], 0, 0xFFFFFF)

    def _opt_cipher(self, a: list[str]) -> None:
        self.values["cipher"] = a[0].upper()

    def _opt_key_derivation(self, a: list[str]) -> None:
        self.values["key_derivation"] = a[0]

    def _opt_protocol_flags(self, a: list[str]) -> None:
        self.values["protocol_flags"] = tuple(a)

    def _opt_tun_mtu(self, a: list[str]) -> None:
        self.values["tun_mtu"] = _int(a[0], 48, 65535)

    def _opt_auth_token(self, a: list[str]) -> None:
        self.values["auth_token"] = a[0]

    def _opt_auth_token_user(self, a: list[str]) -> None:
        self.values["auth_token_user"] = a[0]

    def _opt_explicit_exit_notify(self, a: list[str]) -> None:
        self.values["explicit_exit_notify"] = _int(a[0]) if a else 1

    def _opt_comp_lzo(self, a: list[str]) -> None:
        self.values["compression"] = " ".join(["comp-lzo", *a])

    def _opt_compress(self, a: list[str]) -> None:
        self.values["compression"] = " ".join(["compress", *a])

    def _opt_push_continuation(self, a: list[str]) -> None:
        self.values["push_continuation"] = _int(a[0], 1, 2)

    def build(self) -> PushedOptions:
        return PushedOptions(
            routes=tuple(self.routes),
            routes_ipv6=tuple(self.routes6),
            dhcp_options=tuple(self.dhcp),
            dns_servers=tuple(sorted(self.dns.values(), key=lambda s: s.priority)),
            dns_search_domains=tuple(self.search),
            unknown=tuple(self.unknown),
            **self.values,  # type: ignore[arg-type]
        )


def split_options(argument: str) -> list[str]:
    """The comma-separated options of one PUSH_REPLY (the text after ``PUSH_REPLY,``)."""
    return [item.strip() for item in argument.split(",") if item.strip()]


PullFilters = Sequence[tuple[str, str]]
"""``pull-filter`` lines as (action, text): accept, ignore or reject."""


class PushOptionRejected(VPNError):
    """A pushed option matched a ``pull-filter reject`` line."""


def filter_option(option: str, filters: PullFilters) -> bool:
    """Whether to apply a pushed option: the first filter whose text starts it decides.

    ``accept`` applies it, ``ignore`` drops it, ``reject`` raises; no match applies it
    (openvpn(8) ``--pull-filter``).
    """
    for action, text in filters:
        if option.startswith(text):
            if action == "reject":
                raise PushOptionRejected(
                    f"the server pushed {option!r}, which 'pull-filter reject {text!r}' refuses"
                )
            return action == "accept"
    return True


ROUTE_NOPULL_FILTERS: PullFilters = tuple(
    ("ignore", prefix)
    for prefix in (
        "route ",
        "route-ipv6 ",
        "redirect-gateway",
        "redirect-private",
        "dhcp-option",
        "dns ",
        "block-outside-dns",
    )
)
"""``route-nopull``: every pushed option but routes and DNS is applied (openvpn(8))."""


def client_pull_filters(*, pull_filters: PullFilters, route_nopull: bool) -> PullFilters:
    """The filters for a client config: ``route-nopull`` first, then its ``pull-filter``s."""
    return (*(ROUTE_NOPULL_FILTERS if route_nopull else ()), *pull_filters)


def with_local_options(
    pushed: PushedOptions,
    *,
    routes: Sequence[PushedRoute],
    routes_ipv6: Sequence[PushedRoute6],
    redirect_gateway: tuple[str, ...] | None,
    dhcp_options: Sequence[tuple[str, str]],
    tun_mtu: int | None = None,
) -> PushedOptions:
    """Add the client config's own ``route``/``route-ipv6``/``redirect-gateway``/
    ``dhcp-option``/``tun-mtu`` lines to what the server pushed (pushed values win where
    there can be only one)."""
    return attrs.evolve(
        pushed,
        routes=(*routes, *pushed.routes),
        routes_ipv6=(*routes_ipv6, *pushed.routes_ipv6),
        redirect_gateway=(
            pushed.redirect_gateway if pushed.redirect_gateway is not None else redirect_gateway
        ),
        dhcp_options=(*dhcp_options, *pushed.dhcp_options),
        tun_mtu=pushed.tun_mtu if pushed.tun_mtu is not None else tun_mtu,
    )


def parse_push_reply(parts: Iterable[str], *, filters: PullFilters = ()) -> PushedOptions:
    """Parse the options of all parts of a PUSH_REPLY (each the text after ``PUSH_REPLY,``)."""
    builder = _Builder()
    for part in parts:
        for option in split_options(part):
            if option.startswith("push-continuation") or filter_option(option, filters):
                builder.apply(option)
    return builder.build()


def continuation_of(argument: str) -> int | None:
    """The ``push-continuation`` value of one part (2 = more follow, 1 = last), or None."""
    value: int | None = None
    for option in split_options(argument):
        tokens = option.split()
        if tokens[0] == "push-continuation" and len(tokens) > 1 and tokens[1] in ("1", "2"):
            value = int(tokens[1])
    return value


MAX_PUSH_REPLY_BYTES = 256 << 10
"""Most text one multi-part PUSH_REPLY may hold. A real one, even with a thousand routes, is
a few tens of KiB; without a bound a server could keep sending push-continuation parts (each
under 64 KiB) and make the client collect and parse without end."""


class PushCollector:
    """Collects a multi-part PUSH_REPLY; yields options only for the final part (§5.8.7).

    A reply whose parts add up to more than ``MAX_PUSH_REPLY_BYTES`` is refused whole: the
    part that crosses the bound and every later part of the same reply raise
    ``RemoteProtocolError`` (dropped and counted), and nothing of it is ever applied.
    """

    def __init__(self, *, filters: PullFilters = ()) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._overflowed = False
        self._filters = filters

    @property
    def collecting(self) -> bool:
        """True while parts have arrived but not the last one."""
        return bool(self._parts) or self._overflowed

    def add(self, argument: str) -> PushedOptions | None:
        """Add one PUSH_REPLY part; return the merged options once the reply is complete."""
        last = continuation_of(argument) != 2
        self._size += len(argument)
        if self._overflowed or self._size > MAX_PUSH_REPLY_BYTES:
            self._overflowed = not last
            if last:
                self._size = 0
            self._parts = []
            raise RemoteProtocolError(
                DropReason.PUSH_REPLY_TOO_LONG, f"more than {MAX_PUSH_REPLY_BYTES >> 10} KiB"
            )
        self._parts.append(argument)
        if not last:
            return None
        parts, self._parts, self._size = self._parts, [], 0
        return parse_push_reply(parts, filters=self._filters)


@attrs.frozen
class AuthFailedTemp:
    """``AUTH_FAILED,TEMP[flags]:message`` (docs §5.5)."""

    backoff: float | None
    """``backoff N``: wait at least N seconds before trying again."""
    advance: str | None
    """``advance no|addr|remote``: stay on this server, or move to the next one."""
    message: str
    """The text after the colon, for people."""


def parse_auth_failed_temp(reason: str) -> AuthFailedTemp | None:
    """The TEMP form of an AUTH_FAILED reason, or None for a permanent failure."""
    if not reason.startswith("TEMP"):
        return None
    rest = reason[len("TEMP") :]
    flags = ""
    if rest.startswith("["):
        flags, _, rest = rest[1:].partition("]")
    message = rest[1:] if rest.startswith(":") else rest
    backoff: float | None = None
    advance: str | None = None
    for flag in flags.split(","):
        tokens = flag.split()
        if len(tokens) == 2 and tokens[0] == "backoff" and tokens[1].isdigit():
            backoff = float(tokens[1])
        elif len(tokens) == 2 and tokens[0] == "advance" and tokens[1] in ("no", "addr", "remote"):
            advance = tokens[1]
    return AuthFailedTemp(backoff=backoff, advance=advance, message=message)


def restart_flags(argument: str) -> str:
    """The ``[flags]`` at the start of a RESTART/HALT argument (``P``, ``N``), or ""."""
    if argument.startswith("["):
        return argument[1:].partition("]")[0]
    return ""


def is_auth_token_only(options: PushedOptions) -> bool:
    """A later PUSH_REPLY that only refreshes the auth-token (§5.5, §5.8.7)."""
    bare = attrs.evolve(
        options, auth_token=None, auth_token_user=None, push_continuation=None
    )
    return options.auth_token is not None and bare == PushedOptions()


# --- the public description of the tunnel ----------------------------------------------------


def tunnel_info(pushed: PushedOptions, *, cipher: str, key_derivation: str) -> TunnelInfo:
    """Build ``TunnelInfo`` from the pushed options and the negotiated cipher/derivation."""
    topology = pushed.topology or "net30"  # OpenVPN's default topology
    address = network = gateway = None
    if pushed.ifconfig is not None:
        address, second = pushed.ifconfig
        if topology == "subnet":
            try:
                network = ipaddress.IPv4Network(f"{address}/{second}", strict=False)
            except ValueError:
                network = None
            gateway = pushed.route_gateway
        else:
            # net30/p2p: the second address is the remote end of the point-to-point link.
            prefix = 30 if topology == "net30" else 32
            network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
            gateway = pushed.route_gateway or second
    else:
        gateway = pushed.route_gateway
    routes: list[Route] = []
    for route in pushed.routes:
        if route.gateway_keyword in ("net_gateway", "remote_host"):
            continue  # these routes bypass the tunnel
        routes.append(Route(route.network, route.gateway, _metric(route.metric, pushed)))
    for route6 in pushed.routes_ipv6:
        routes.append(Route(route6.network, route6.gateway, _metric(route6.metric, pushed)))
    return TunnelInfo(
        address=address,
        network=network,
        gateway=gateway,
        mtu=pushed.tun_mtu or 1500,
        routes=tuple(routes),
        dns=pushed.dns_addresses,
        cipher=cipher,
        peer_id=pushed.peer_id,
        address6=pushed.ifconfig_ipv6,
        search_domains=pushed.search_domains,
        redirect_gateway=pushed.redirect_gateway,
        topology=topology,
        key_derivation=key_derivation,
        cc_exit="cc-exit" in pushed.protocol_flags,
    )


def _metric(metric: int | None, pushed: PushedOptions) -> int | None:
    return metric if metric is not None else pushed.route_metric
