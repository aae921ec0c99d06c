"""NetworkConfigurator: the pure address/route plan, then the real thing in a namespace.

The plan tests start from PUSH_REPLY text (parsed by ``core/tlssession/push.py``), so they
check the whole path from what a server pushes to what would be added. The namespace tests run the
configurator in a child process inside a namespace of their own and read the result from
outside with ``ip -n NS -j addr/route``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.system.conftest import StartChild
from tests.system.nstools import (
    ROUTER_V4,
    ROUTER_V6,
    Namespaces,
    info_to_json,
    ip_json,
)
from vpnstack.core.tlssession.push import parse_push_reply, tunnel_info
from vpnstack.messages import TunnelInfo
from vpnstack.system.netconfig import (
    AddressSpec,
    PathToRemote,
    RouteSpec,
    plan_addresses,
    plan_routes,
    redirect_families,
)

v4 = ipaddress.IPv4Address
v6 = ipaddress.IPv6Address
net = ipaddress.ip_network

REMOTE4 = v4("198.51.100.7")
REMOTE6 = v6("2001:db8:99::7")
PATH4 = PathToRemote(ifindex=2, gateway=v4("192.0.2.1"))
PATH6 = PathToRemote(ifindex=2, gateway=v6("fe80::1"))


def pushed(text: str) -> TunnelInfo:
    """TunnelInfo from the options of a PUSH_REPLY (comma-separated)."""
    return tunnel_info(parse_push_reply([text]), cipher="AES-256-GCM", key_derivation="prf")


SUBNET = "topology subnet,route-gateway 10.8.0.1,ifconfig 10.8.0.6 255.255.255.0"


# --- addresses ---------------------------------------------------------------------------------


def test_subnet_topology_gets_address_with_the_pushed_prefix() -> None:
    assert plan_addresses(pushed(SUBNET)) == [AddressSpec(v4("10.8.0.6"), 24)]


def test_net30_is_point_to_point_with_the_other_end_of_the_30() -> None:
    # OpenVPN on Linux: "ip addr add dev tun0 local 10.8.0.6 peer 10.8.0.5" for net30 and p2p
    info = pushed("topology net30,ifconfig 10.8.0.6 10.8.0.5")
    assert plan_addresses(info) == [AddressSpec(v4("10.8.0.6"), 32, peer=v4("10.8.0.5"))]


def test_default_topology_is_net30() -> None:
    info = pushed("ifconfig 10.8.0.10 10.8.0.9")
    assert plan_addresses(info) == [AddressSpec(v4("10.8.0.10"), 32, peer=v4("10.8.0.9"))]


def test_p2p_peer_may_be_anywhere() -> None:
    info = pushed("topology p2p,ifconfig 10.8.0.6 10.8.0.1")
    assert plan_addresses(info) == [AddressSpec(v4("10.8.0.6"), 32, peer=v4("10.8.0.1"))]


def test_net30_with_a_route_gateway_outside_the_30_falls_back_to_the_30() -> None:
    info = pushed("topology net30,route-gateway 10.8.0.1,ifconfig 10.8.0.6 10.8.0.5")
    assert plan_addresses(info) == [AddressSpec(v4("10.8.0.6"), 30)]


def test_ipv6_address_from_ifconfig_ipv6() -> None:
    info = pushed(SUBNET + ",ifconfig-ipv6 fd00:8::1000/64 fd00:8::1")
    assert plan_addresses(info) == [
        AddressSpec(v4("10.8.0.6"), 24),
        AddressSpec(v6("fd00:8::1000"), 64),
    ]


def test_no_ifconfig_means_no_address() -> None:
    assert plan_addresses(pushed("topology subnet,route-gateway 10.8.0.1")) == []


# --- routes ------------------------------------------------------------------------------------


def test_def1_adds_host_route_first_then_the_two_halves_via_the_tunnel_gateway() -> None:
    info = pushed(SUBNET + ",redirect-gateway def1")
    assert plan_routes(info, remote=REMOTE4, path=PATH4) == [
        RouteSpec(net("198.51.100.7/32"), v4("192.0.2.1"), None, 2, "remote-host"),
        RouteSpec(net("0.0.0.0/1"), v4("10.8.0.1"), purpose="redirect-gateway"),
        RouteSpec(net("128.0.0.0/1"), v4("10.8.0.1"), purpose="redirect-gateway"),
    ]


def test_ipv6_flag_adds_the_ipv6_halves_and_an_ipv6_remote_gets_its_host_route() -> None:
    info = pushed(SUBNET + ",ifconfig-ipv6 fd00:8::1000/64 fd00:8::1,redirect-gateway def1 ipv6")
    routes = plan_routes(info, remote=REMOTE6, path=PATH6)
    assert routes == [
        RouteSpec(net("2001:db8:99::7/128"), v6("fe80::1"), None, 2, "remote-host"),
        RouteSpec(net("0.0.0.0/1"), v4("10.8.0.1"), purpose="redirect-gateway"),
        RouteSpec(net("128.0.0.0/1"), v4("10.8.0.1"), purpose="redirect-gateway"),
        RouteSpec(net("::/1"), None, purpose="redirect-gateway"),
        RouteSpec(net("8000::/1"), None, purpose="redirect-gateway"),
    ]


def test_ipv6_remote_without_ipv6_redirect_needs_no_host_route() -> None:
    info = pushed(SUBNET + ",redirect-gateway def1")
    routes = plan_routes(info, remote=REMOTE6, path=PATH6)
    assert [r.purpose for r in routes] == ["redirect-gateway", "redirect-gateway"]


def test_not_ipv4_flag_redirects_only_ipv6() -> None:
    info = pushed(SUBNET + ",redirect-gateway ipv6 !ipv4")
    routes = plan_routes(info, remote=REMOTE4, path=PATH4)
    assert [str(r.network) for r in routes] == ["::/1", "8000::/1"]


def test_local_flag_means_no_host_route() -> None:
    info = pushed(SUBNET + ",redirect-gateway local def1")
    routes = plan_routes(info, remote=REMOTE4, path=PATH4)
    assert [str(r.network) for r in routes] == ["0.0.0.0/1", "128.0.0.0/1"]


@pytest.mark.parametrize(
    ("remote", "path"),
    [
        (v4("192.0.2.9"), PathToRemote(ifindex=2, gateway=None)),  # on-link
        (v4("192.0.2.2"), PathToRemote(ifindex=1, gateway=None, local=True)),  # our own
        (v4("127.0.0.1"), PathToRemote(ifindex=1, gateway=v4("127.0.0.2"))),  # loopback
        (REMOTE4, None),  # path unknown (unreachable)
        (None, PATH4),  # remote unknown
    ],
)
def test_no_host_route_when_the_remote_is_local_on_link_or_unknown(
    remote: ipaddress.IPv4Address | None, path: PathToRemote | None
) -> None:
    info = pushed(SUBNET + ",redirect-gateway def1")
    routes = plan_routes(info, remote=remote, path=path)
    assert [r.purpose for r in routes] == ["redirect-gateway"] * 2


def test_pushed_routes_use_route_gateway_their_own_gateway_and_metrics() -> None:
    info = pushed(
        SUBNET
        + ",route 192.168.50.0 255.255.255.0"
        + ",route 192.168.60.0 255.255.255.0 vpn_gateway 7"
        + ",route 192.168.70.0 255.255.255.0 10.8.0.99 12"
    )
    assert plan_routes(info, remote=REMOTE4, path=PATH4) == [
        RouteSpec(net("192.168.50.0/24"), v4("10.8.0.1"), None),
        RouteSpec(net("192.168.60.0/24"), v4("10.8.0.1"), 7),
        RouteSpec(net("192.168.70.0/24"), v4("10.8.0.99"), 12),
    ]


def test_route_metric_applies_to_routes_without_their_own() -> None:
    info = pushed(SUBNET + ",route-metric 30,route 192.168.50.0 255.255.255.0")
    assert plan_routes(info, remote=None, path=None) == [
        RouteSpec(net("192.168.50.0/24"), v4("10.8.0.1"), 30)
    ]


def test_net30_routes_go_via_the_peer() -> None:
    info = pushed("topology net30,ifconfig 10.8.0.6 10.8.0.5,route 10.8.0.1")
    assert plan_routes(info, remote=REMOTE4, path=PATH4) == [
        RouteSpec(net("10.8.0.1/32"), v4("10.8.0.5"), None)
    ]


def test_pushed_ipv6_routes_go_on_the_device() -> None:
    info = pushed(
        SUBNET + ",ifconfig-ipv6 fd00:8::1000/64 fd00:8::1,route-ipv6 fd00:99::/48"
        ",route-ipv6 2001:db8:5::/64 fd00:8::1 5"
    )
    assert plan_routes(info, remote=REMOTE4, path=PATH4) == [
        RouteSpec(net("fd00:99::/48"), None, None),
        RouteSpec(net("2001:db8:5::/64"), None, 5),
    ]


def test_a_pushed_route_that_covers_the_server_gets_the_host_route_too() -> None:
    info = pushed(SUBNET + ",route 198.51.100.0 255.255.255.0")
    routes = plan_routes(info, remote=REMOTE4, path=PATH4)
    assert routes[0] == RouteSpec(net("198.51.100.7/32"), v4("192.0.2.1"), None, 2, "remote-host")
    assert routes[1].network == net("198.51.100.0/24")
    assert len(routes) == 2


def test_route_nopull_ignores_routes_and_redirect() -> None:
    info = pushed(SUBNET + ",redirect-gateway def1,route 192.168.50.0 255.255.255.0")
    assert plan_routes(info, remote=REMOTE4, path=PATH4, route_nopull=True) == []


def test_nothing_pushed_nothing_routed() -> None:
    assert plan_routes(pushed(SUBNET), remote=REMOTE4, path=PATH4) == []


# --- in a namespace ----------------------------------------------------------------------------

FULL = pushed(
    SUBNET
    + ",tun-mtu 1400,ifconfig-ipv6 fd00:8::1000/64 fd00:8::1"
    + ",redirect-gateway def1 ipv6"
    + ",route 192.168.50.0 255.255.255.0 vpn_gateway 7"
    + ",route-ipv6 fd00:99::/48"
)


def addresses(ns: str, ifname: str) -> list[tuple[str, str, int, str | None]]:
    """(family, local, prefixlen, peer) of the global addresses on ``ifname``."""
    (link,) = ip_json(ns, "addr", "show", "dev", ifname)
    return sorted(
        (a["family"], a["local"], a["prefixlen"], a.get("address"))
        for a in link["addr_info"]
        if a.get("scope") == "global"
    )


def routes(ns: str, family: str) -> list[dict[str, Any]]:
    return list(ip_json(ns, family, "route", "show", "table", "main"))


def route_keys(ns: str, family: str) -> set[tuple[str, str | None, str, int | None]]:
    """(dst, gateway, dev, metric) of every route (IPv6 kernel routes dropped)."""
    return {
        (r["dst"], r.get("gateway"), r["dev"], r.get("metric"))
        for r in routes(ns, family)
        if not r["dst"].startswith(("fe80", "multicast"))
    }


def link(ns: str, ifname: str) -> dict[str, Any]:
    (found,) = ip_json(ns, "link", "show", "dev", ifname)
    result: dict[str, Any] = found
    return result


def link_names(ns: str) -> set[str]:
    return {entry["ifname"] for entry in ip_json(ns, "link", "show")}


@pytest.mark.e2e
def test_configure_then_undo_then_close(namespaces: Namespaces, ns_child: StartChild) -> None:
    ns = namespaces.client
    before4, before6 = route_keys(ns, "-4"), route_keys(ns, "-6")
    child = ns_child("configure", {"info": info_to_json(FULL), "remote": str(REMOTE4)})
    ready = child.event()
    tun = ready["ifname"]
    assert tun.startswith("tun")

    state = link(ns, tun)
    assert state["mtu"] == 1400
    assert "UP" in state["flags"]
    assert addresses(ns, tun) == [
        ("inet", "10.8.0.6", 24, None),
        ("inet6", "fd00:8::1000", 64, None),
    ]
    added4 = route_keys(ns, "-4") - before4
    assert added4 == {
        ("10.8.0.0/24", None, tun, None),  # the kernel's prefix route for 10.8.0.6/24
        ("198.51.100.7", str(ROUTER_V4), "v0", None),  # host route via the original gateway
        ("0.0.0.0/1", "10.8.0.1", tun, None),
        ("128.0.0.0/1", "10.8.0.1", tun, None),
        ("192.168.50.0/24", "10.8.0.1", tun, 7),
    }
    added6 = {(d, g, dev) for d, g, dev, _ in route_keys(ns, "-6") - before6}
    assert added6 == {
        ("fd00:8::/64", None, tun),
        ("::/1", None, tun),
        ("8000::/1", None, tun),
        ("fd00:99::/48", None, tun),
    }
    # the machine's default routes are untouched
    assert ("default", str(ROUTER_V4), "v0", None) in route_keys(ns, "-4")
    assert any(k[0] == "default" and k[1] == str(ROUTER_V6) for k in route_keys(ns, "-6"))

    assert child.command("undo") == {"event": "undone", "pending": 0}
    assert addresses(ns, tun) == []
    assert link(ns, tun)["mtu"] == 1500  # the kernel's default for a new TUN
    assert "UP" not in link(ns, tun)["flags"]
    assert route_keys(ns, "-4") == before4
    assert route_keys(ns, "-6") == before6

    assert child.command("undo") == {"event": "undone", "pending": 0}  # idempotent
    assert child.command("close") == {"event": "closed"}
    assert tun not in link_names(ns)  # non-persistent: gone with its fd


@pytest.mark.e2e
def test_undo_after_the_tun_is_gone_still_removes_the_host_route(
    namespaces: Namespaces, ns_child: StartChild
) -> None:
    ns = namespaces.client
    before = route_keys(ns, "-4")
    child = ns_child("configure", {"info": info_to_json(FULL), "remote": str(REMOTE4)})
    tun = child.event()["ifname"]
    assert ("198.51.100.7", str(ROUTER_V4), "v0", None) in route_keys(ns, "-4")
    assert child.command("close") == {"event": "closed"}
    assert tun not in link_names(ns)
    # the TUN's routes went with it, the host route via v0 did not
    assert route_keys(ns, "-4") - before == {("198.51.100.7", str(ROUTER_V4), "v0", None)}
    assert child.command("undo") == {"event": "undone", "pending": 0}  # gone objects: no raise
    assert route_keys(ns, "-4") == before


@pytest.mark.e2e
def test_net30_ipv6_remote_and_mtu_override(namespaces: Namespaces, ns_child: StartChild) -> None:
    ns = namespaces.client
    info = pushed(
        "ifconfig 10.8.0.6 10.8.0.5,route 10.8.0.1,ifconfig-ipv6 fd00:8::1000/64 fd00:8::1"
        ",redirect-gateway def1 ipv6"
        ",route 192.168.80.0 255.255.255.0 10.9.9.9"  # a gateway not reachable on the TUN
    )
    child = ns_child("configure", {"info": info_to_json(info), "remote": str(REMOTE6), "mtu": 1300})
    tun = child.event()["ifname"]
    assert link(ns, tun)["mtu"] == 1300
    assert addresses(ns, tun) == [
        ("inet", "10.8.0.6", 32, "10.8.0.5"),
        ("inet6", "fd00:8::1000", 64, None),
    ]
    keys4 = route_keys(ns, "-4")
    assert {("10.8.0.1", "10.8.0.5", tun, None), ("0.0.0.0/1", "10.8.0.5", tun, None)} <= keys4
    assert ("192.168.80.0/24", None, tun, None) in keys4  # fell back to the device
    host6 = [r for r in routes(ns, "-6") if r["dst"] == str(REMOTE6)]
    assert [(r.get("gateway"), r["dev"]) for r in host6] == [(str(ROUTER_V6), "v0")]
    assert not any(r["dst"] == str(REMOTE4) for r in routes(ns, "-4"))  # remote is IPv6
    assert child.command("undo")["pending"] == 0
    assert not any(r["dst"] == str(REMOTE6) for r in routes(ns, "-6"))
    assert not any(r.get("dev") == tun for r in routes(ns, "-4"))


@pytest.mark.e2e
def test_on_link_remote_and_route_nopull(namespaces: Namespaces, ns_child: StartChild) -> None:
    ns = namespaces.client
    before = route_keys(ns, "-4")
    on_link = ns_child(
        "configure", {"info": info_to_json(FULL), "remote": str(ROUTER_V4), "dev": "vpn%d"}
    )
    tun = on_link.event()["ifname"]
    assert tun.startswith("vpn")
    assert not any(k[0] == str(ROUTER_V4) for k in route_keys(ns, "-4"))  # on-link: none
    assert ("0.0.0.0/1", "10.8.0.1", tun, None) in route_keys(ns, "-4")
    on_link.command("undo")
    on_link.command("close")

    nopull = ns_child(
        "configure", {"info": info_to_json(FULL), "remote": str(REMOTE4), "route_nopull": True}
    )
    ready = nopull.event()
    assert ready["plan"] == []
    assert route_keys(ns, "-4") - before == {("10.8.0.0/24", None, ready["ifname"], None)}


@pytest.mark.e2e
def test_a_crash_removes_the_tun(namespaces: Namespaces, ns_child: StartChild) -> None:
    child = ns_child("hold", {})
    tun = child.event()["ifname"]
    assert tun in link_names(namespaces.client)
    child.proc.kill()  # by pid: only the helper we started
    child.proc.wait(timeout=5)
    assert tun not in link_names(namespaces.client)


def test_a_bare_redirect_gateway_redirects_ipv4_and_nothing_pushed_redirects_nothing() -> None:
    assert redirect_families(None) == (False, False)
    assert redirect_families(()) == (True, False)
    bare = pushed(SUBNET + ",redirect-gateway")
    assert bare.redirect_gateway == ()
    assert pushed(SUBNET).redirect_gateway is None

