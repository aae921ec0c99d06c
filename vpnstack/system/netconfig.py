"""Configure the TUN interface and the routes from the pushed options, and undo it all on exit.

How this works: two halves, like the protocol layers.

* **The plan** (pure, no netlink): ``plan_addresses(info)`` and ``plan_routes(info, ...)``
  turn a ``TunnelInfo`` into lists of frozen ``AddressSpec`` / ``RouteSpec`` records, in the
  order they must be added. This is where OpenVPN's rules live:

  - topology ``subnet``: ``address/prefix`` from ``info.network`` (e.g. 10.8.0.6/24);
  - topology ``net30`` and ``p2p``: a point-to-point address, ``local`` = our address and
    ``peer`` = ``info.gateway`` (the second ``ifconfig`` argument), which is what OpenVPN does
    on Linux for both (``net_addr_ptp_v4_add`` when ``is_tun_p2p``); if the gateway is missing
    (or outside the /30 in net30) we fall back to ``address/prefix`` of ``info.network``;
  - ``ifconfig-ipv6``: ``info.address6`` with its prefix;
  - each pushed IPv4 route goes via the route's own gateway or ``info.gateway`` (straight onto
    the device when there is none, or when the kernel finds the gateway unreachable on the
    TUN); IPv6 routes go straight onto the device (a TUN has no link layer, so a next hop is
    only cosmetic);
  - ``redirect-gateway def1``: ``0.0.0.0/1`` + ``128.0.0.0/1`` through the tunnel, and with the
    ``ipv6`` flag ``::/1`` + ``8000::/1``; ``!ipv4`` skips the IPv4 pair. These halves are more
    specific than the machine's default route, so they win without deleting it. A plain
    ``redirect-gateway`` (no def1) is handled exactly like def1: we never delete or replace
    the machine's default route, so there is nothing to restore if we die;
  - **before** anything that would capture the VPN server's own address (the redirect pair, or
    a pushed route that contains it), a host route ``remote/32`` (``/128``) through the
    *original* path — the gateway and interface that ``ip route get <remote>`` answers before
    the tunnel exists — so the tunnel does not swallow its own encrypted packets. It is
    skipped when the remote is on-link (no gateway: the connected route is more specific than
    any /1 already), local or loopback, when the path already leads into the tunnel, and for
    redirect routes when the ``local`` flag is pushed (the server is on our LAN).

* **The configurator** (``NetworkConfigurator``, sync pyroute2 ``IPRoute``: every netlink call
  is a quick request/answer) applies a plan and records each change it made in an undo log.
  ``undo()`` walks the log backwards: routes, then addresses, then the link's MTU and state
  are put back. Undo is idempotent and never raises: an object that is already gone (the
  kernel deletes a TUN's addresses and routes with the device) is logged and skipped. Something
  that already existed before we tried to add it (EEXIST) is left alone and not recorded, so
  undo never removes what it did not add.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
from types import TracebackType
from typing import Any

import attrs
from pyroute2 import IPRoute  # type: ignore[import-untyped]  # pyroute2 has no py.typed
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from vpnstack.errors import VPNError
from vpnstack.messages import TunnelInfo

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

IPV4_REDIRECT = (ipaddress.IPv4Network("0.0.0.0/1"), ipaddress.IPv4Network("128.0.0.0/1"))
"""What ``redirect-gateway def1`` routes through the tunnel for IPv4."""
IPV6_REDIRECT = (ipaddress.IPv6Network("::/1"), ipaddress.IPv6Network("8000::/1"))
"""What ``redirect-gateway ipv6`` routes through the tunnel for IPv6."""

_GONE = frozenset({errno.ESRCH, errno.ENOENT, errno.ENODEV, errno.EADDRNOTAVAIL, errno.ENXIO})
"""Netlink error codes that mean "no such route / address / device" on delete."""
_RTN_LOCAL = 2
"""``RTN_LOCAL``: ``route get`` says the address is one of ours."""


class NetworkConfigError(VPNError):
    """The TUN interface or a route could not be configured; the message says which and why."""


@attrs.frozen
class AddressSpec:
    """One address to put on the TUN interface."""

    address: IPAddress
    """Our address."""
    prefixlen: int
    """Prefix length (32 for a point-to-point IPv4 address)."""
    peer: ipaddress.IPv4Address | None = None
    """The other end of a point-to-point link (net30/p2p), or None."""

    def __str__(self) -> str:
        if self.peer is not None:
            return f"{self.address} peer {self.peer}"
        return f"{self.address}/{self.prefixlen}"


@attrs.frozen
class PathToRemote:
    """How the VPN server is reached without the tunnel (from ``ip route get <remote>``)."""

    ifindex: int
    """Outgoing interface index."""
    gateway: IPAddress | None
    """Next hop, or None when the remote is on-link."""
    local: bool = False
    """The remote is an address of this machine (route type ``local``)."""


@attrs.frozen
class RouteSpec:
    """One route to add, in plan order."""

    network: IPNetwork
    """Destination."""
    gateway: IPAddress | None = None
    """Next hop; None = straight onto the device."""
    metric: int | None = None
    """Route metric (netlink ``priority``), or the kernel's default."""
    ifindex: int | None = None
    """Outgoing interface: None = the TUN interface; set for the host route to the server."""
    purpose: str = "pushed"
    """``pushed``, ``redirect-gateway`` or ``remote-host`` (for logs)."""

    @property
    def via_tunnel(self) -> bool:
        """Whether the route leads into the tunnel."""
        return self.ifindex is None

    def __str__(self) -> str:
        text = str(self.network)
        if self.gateway is not None:
            text += f" via {self.gateway}"
        text += " dev <tun>" if self.ifindex is None else f" dev #{self.ifindex}"
        if self.metric is not None:
            text += f" metric {self.metric}"
        return text


# --- the plan (pure) ---------------------------------------------------------------------------


def plan_addresses(info: TunnelInfo) -> list[AddressSpec]:
    """The addresses to put on the TUN interface for ``info`` (IPv4 first, then IPv6)."""
    specs: list[AddressSpec] = []
    if info.address is not None:
        peer = info.gateway
        point_to_point = info.topology in ("net30", "p2p") and peer is not None
        if point_to_point and info.topology == "net30" and info.network is not None:
            point_to_point = peer in info.network  # the /30's other end, as OpenVPN checks
        if point_to_point:
            specs.append(AddressSpec(info.address, 32, peer))
        elif info.network is not None:
            specs.append(AddressSpec(info.address, info.network.prefixlen))
        else:
            specs.append(AddressSpec(info.address, 32))
    if info.address6 is not None:
        specs.append(AddressSpec(info.address6.ip, info.address6.network.prefixlen))
    return specs


def redirect_families(flags: tuple[str, ...] | None) -> tuple[bool, bool]:
    """(redirect IPv4, redirect IPv6) for the flags of a pushed ``redirect-gateway``.

    ``None`` means nothing was pushed; a bare ``redirect-gateway`` (``()``) redirects IPv4.
    """
    if flags is None:
        return False, False
    return "!ipv4" not in flags, "ipv6" in flags


def plan_routes(
    info: TunnelInfo,
    *,
    remote: IPAddress | None,
    path: PathToRemote | None,
    route_nopull: bool = False,
) -> list[RouteSpec]:
    """The routes to add for ``info``, in order; the host route to ``remote`` comes first.

    ``path`` is how ``remote`` is reached before the tunnel (``None`` if unknown: then no host
    route is added). ``route_nopull`` ignores the pushed routes and redirect-gateway, as
    OpenVPN's ``--route-nopull`` does.
    """
    if route_nopull:
        return []
    tunnel: list[RouteSpec] = []
    for route in info.routes:
        if isinstance(route.network, ipaddress.IPv4Network):
            gateway: IPAddress | None = route.gateway or info.gateway
        else:
            gateway = None  # IPv6 routes on the device (a TUN has no link layer)
        tunnel.append(RouteSpec(route.network, gateway, route.metric))
    redirect4, redirect6 = redirect_families(info.redirect_gateway)
    redirected: list[RouteSpec] = []
    if redirect4:
        redirected += [
            RouteSpec(n, info.gateway, purpose="redirect-gateway") for n in IPV4_REDIRECT
        ]
    if redirect6:
        redirected += [RouteSpec(n, None, purpose="redirect-gateway") for n in IPV6_REDIRECT]

    host = _remote_host_route(
        remote, path, tunnel + ([] if "local" in (info.redirect_gateway or ()) else redirected)
    )
    return ([host] if host is not None else []) + redirected + tunnel


def _remote_host_route(
    remote: IPAddress | None, path: PathToRemote | None, tunnel_routes: list[RouteSpec]
) -> RouteSpec | None:
    if remote is None or path is None:
        return None
    if remote.is_loopback or path.local or path.gateway is None:
        return None  # local or on-link: the tunnel's routes cannot capture it
    if not any(remote.version == r.network.version and remote in r.network for r in tunnel_routes):
        return None  # no route through the tunnel covers the server
    prefix = 32 if remote.version == 4 else 128
    network = ipaddress.ip_network(f"{remote}/{prefix}")
    return RouteSpec(network, path.gateway, None, path.ifindex, purpose="remote-host")


# --- the configurator (netlink) --------------------------------------------------------------


@attrs.frozen
class _AddedAddress:
    ifindex: int
    spec: AddressSpec


@attrs.frozen
class _AddedRoute:
    ifindex: int
    spec: RouteSpec


@attrs.frozen
class _ChangedLink:
    ifindex: int
    mtu: int
    """MTU before we changed it."""
    was_up: bool
    """Administrative state before we set it up."""


_UndoStep = _AddedAddress | _AddedRoute | _ChangedLink


class NetworkConfigurator:
    """Applies addresses, MTU and routes with pyroute2 and removes all of it in ``undo``.

    On any failure the steps done so far stay in the undo log: call ``undo()`` (or use the
    configurator as a context manager, which undoes and closes on exit).
    """

    def __init__(self, ipr: Any = None) -> None:
        if ipr is None:
            ipr = IPRoute()
            self._owns_ipr = True
        else:
            self._owns_ipr = False
        self._ipr: Any = ipr
        self._log: list[_UndoStep] = []

    # -- public API --

    @property
    def pending_undo(self) -> int:
        """Number of changes ``undo`` would take back."""
        return len(self._log)

    def configure_interface(self, ifname: str, info: TunnelInfo, *, mtu: int | None = None) -> None:
        """Set the MTU (``info.mtu`` unless ``mtu`` is given), link up, then the addresses."""
        index = self._index(ifname)
        link = self._ipr.link("get", index=index)[0]
        old_mtu = int(link.get_attr("IFLA_MTU"))
        was_up = bool(link["flags"] & 1)  # IFF_UP
        new_mtu = info.mtu if mtu is None else mtu
        self._call(
            f"set MTU {new_mtu} and bring {ifname} up",
            "link",
            "set",
            index=index,
            mtu=new_mtu,
            state="up",
        )
        self._log.append(_ChangedLink(index, old_mtu, was_up))
        if new_mtu < 1280 and info.address6 is not None:
            log.warning(
                "MTU %d is below IPv6's minimum 1280: %s will have no IPv6", new_mtu, ifname
            )
        for spec in plan_addresses(info):
            self.add_address(ifname, spec, index=index)

    def add_address(self, ifname: str, spec: AddressSpec, *, index: int | None = None) -> None:
        """Add one address to ``ifname`` and record it."""
        index = self._index(ifname) if index is None else index
        kwargs: dict[str, Any] = {
            "index": index,
            "address": str(spec.address),
            "prefixlen": spec.prefixlen,
        }
        if spec.peer is not None:
            kwargs.update(local=str(spec.address), address=str(spec.peer))
        if self._call(f"add address {spec} to {ifname}", "addr", "add", **kwargs):
            self._log.append(_AddedAddress(index, spec))
            log.info("%s: address %s", ifname, spec)

    def path_to(self, remote: IPAddress) -> PathToRemote | None:
        """How ``remote`` is reached right now (``ip route get``), or None if unreachable."""
        try:
            answer = self._ipr.route("get", dst=str(remote))
        except NetlinkError as exc:
            log.warning("no route to the VPN server %s (%s): no host route added", remote, exc)
            return None
        msg = answer[0]
        gateway = msg.get_attr("RTA_GATEWAY")
        oif = msg.get_attr("RTA_OIF")
        if oif is None:
            return None
        return PathToRemote(
            ifindex=int(oif),
            gateway=ipaddress.ip_address(gateway) if gateway else None,
            local=msg["type"] == _RTN_LOCAL,
        )

    def add_routes(
        self,
        ifname: str,
        info: TunnelInfo,
        *,
        remote: IPAddress | None,
        route_nopull: bool = False,
    ) -> list[RouteSpec]:
        """Add the pushed routes and redirect-gateway routes via ``ifname``; return the plan.

        The path to ``remote`` is looked up before any route is added, so the host route goes
        through the original gateway.
        """
        index = self._index(ifname)
        path = None
        if remote is not None and not route_nopull:
            path = self.path_to(remote)
            if path is not None and path.ifindex == index:
                log.warning(
                    "the VPN server %s is already routed into %s (stale routes?): "
                    "no host route added",
                    remote,
                    ifname,
                )
                path = None
        plan = plan_routes(info, remote=remote, path=path, route_nopull=route_nopull)
        for spec in plan:
            self.add_route(spec, tunnel_index=index)
        return plan

    def add_route(self, spec: RouteSpec, *, tunnel_index: int) -> None:
        """Add one route (``spec.ifindex`` None = via ``tunnel_index``) and record it."""
        index = tunnel_index if spec.ifindex is None else spec.ifindex
        kwargs = _route_args(spec, index)
        try:
            added = self._call(f"add route {spec}", "route", "add", **kwargs)
        except NetworkConfigError as exc:
            code = getattr(exc.__cause__, "code", None)
            if spec.gateway is None or spec.ifindex is not None or code != errno.ENETUNREACH:
                raise
            # a pushed gateway the kernel cannot reach over the TUN: a TUN needs no next hop
            log.warning("route %s: gateway not reachable on the tunnel, using the device", spec)
            spec = attrs.evolve(spec, gateway=None)
            kwargs = _route_args(spec, index)
            added = self._call(f"add route {spec}", "route", "add", **kwargs)
        if added:
            self._log.append(_AddedRoute(index, spec))
            log.info("route %s (%s)", spec, spec.purpose)

    def undo(self) -> None:
        """Remove everything added, newest first. Idempotent; never raises."""
        while self._log:
            step = self._log.pop()
            try:
                self._undo_step(step)
            except Exception as exc:
                gone = getattr(exc, "code", None) in _GONE
                (log.debug if gone else log.warning)("undo %s: %s", step, exc)

    def close(self) -> None:
        """Close the netlink socket (does not undo)."""
        if self._owns_ipr:
            self._ipr.close()
            self._owns_ipr = False

    def __enter__(self) -> NetworkConfigurator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.undo()
        finally:
            self.close()

    # -- internals --

    def _index(self, ifname: str) -> int:
        found = self._ipr.link_lookup(ifname=ifname)
        if not found:
            raise NetworkConfigError(f"interface {ifname!r} does not exist")
        return int(found[0])

    def _call(self, what: str, method: str, command: str, **kwargs: Any) -> bool:
        """Run one netlink request; False if the object already existed (not ours)."""
        try:
            getattr(self._ipr, method)(command, **kwargs)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                log.warning("%s: already present, left alone", what)
                return False
            if exc.code in (errno.EPERM, errno.EACCES):
                raise NetworkConfigError(
                    f"cannot {what}: not permitted (run as root or with CAP_NET_ADMIN)"
                ) from exc
            raise NetworkConfigError(f"cannot {what}: {exc}") from exc
        return True

    def _undo_step(self, step: _UndoStep) -> None:
        if isinstance(step, _AddedRoute):
            self._ipr.route("del", **_route_args(step.spec, step.ifindex))
            log.info("removed route %s", step.spec)
        elif isinstance(step, _AddedAddress):
            kwargs: dict[str, Any] = {
                "index": step.ifindex,
                "address": str(step.spec.address),
                "prefixlen": step.spec.prefixlen,
            }
            if step.spec.peer is not None:
                kwargs.update(local=str(step.spec.address), address=str(step.spec.peer))
            self._ipr.addr("del", **kwargs)
            log.info("removed address %s", step.spec)
        else:
            self._ipr.link(
                "set", index=step.ifindex, mtu=step.mtu, state="up" if step.was_up else "down"
            )


def _route_args(spec: RouteSpec, index: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dst": str(spec.network), "oif": index}
    if spec.network.version == 6:
        kwargs["family"] = 10  # AF_INET6
    if spec.gateway is not None:
        kwargs["gateway"] = str(spec.gateway)
    if spec.metric is not None:
        kwargs["priority"] = spec.metric
    return kwargs
