"""Control text messages and pushed options (docs §5.5, §5.6, §5.8.6-7)."""

from __future__ import annotations

import ipaddress

import pytest

from vpnstack.core.tlssession.push import (
    MAX_PUSH_REPLY_BYTES,
    ControlKind,
    ControlTextReader,
    DnsServer,
    PushCollector,
    PushedOptions,
    PushedRoute,
    PushedRoute6,
    PushOptionRejected,
    classify,
    client_pull_filters,
    continuation_of,
    is_auth_token_only,
    parse_auth_failed_temp,
    parse_push_reply,
    restart_flags,
    tunnel_info,
    with_local_options,
)
from vpnstack.errors import RemoteProtocolError
from vpnstack.messages import Route

v4 = ipaddress.IPv4Address
v6 = ipaddress.IPv6Address
net = ipaddress.ip_network


def test_reader_splits_on_nul_and_keeps_fragments() -> None:
    reader = ControlTextReader()
    assert reader.feed(b"INFO,a\x00PUSH_REPLY,ping 1\x00PUSH_") == [b"INFO,a", b"PUSH_REPLY,ping 1"]
    assert reader.feed(b"REPLY,ping 2\x00") == [b"PUSH_REPLY,ping 2"]
    assert reader.feed(b"") == []


def test_reader_bounds_unterminated_text() -> None:
    reader = ControlTextReader()
    with pytest.raises(RemoteProtocolError):
        reader.feed(b"x" * 70000)
    assert reader.feed(b"INFO\x00") == [b"INFO"]


@pytest.mark.parametrize(
    ("raw", "kind", "argument"),
    [
        (b"PUSH_REPLY,ping 10,ping-restart 60", ControlKind.PUSH_REPLY, "ping 10,ping-restart 60"),
        (b"AUTH_FAILED", ControlKind.AUTH_FAILED, ""),
        (b"AUTH_FAILED,user unknown", ControlKind.AUTH_FAILED, "user unknown"),
        (b"AUTH_PENDING,timeout 60", ControlKind.AUTH_PENDING, "timeout 60"),
        (b"INFO_PRE,WEB_AUTH::https://x", ControlKind.INFO_PRE, "WEB_AUTH::https://x"),
        (b"INFO,hello", ControlKind.INFO, "hello"),
        (b"RESTART,[P]:bye", ControlKind.RESTART, "[P]:bye"),
        (b"HALT", ControlKind.HALT, ""),
        (b"EXIT", ControlKind.EXIT, ""),
        (b"RELAY", ControlKind.OTHER, "RELAY"),
        (b"push_reply,x", ControlKind.OTHER, "push_reply,x"),  # case-sensitive
        (b"INFO,trailing\r\n", ControlKind.INFO, "trailing"),
    ],
)
def test_classify(raw: bytes, kind: ControlKind, argument: str) -> None:
    text = classify(raw)
    assert text.kind is kind
    assert text.argument == argument


def test_classify_rejects_non_printable() -> None:
    with pytest.raises(RemoteProtocolError):
        classify(b"INFO,\x01bad")
    assert "token" not in repr(classify(b"PUSH_REPLY,auth-token token"))


def test_subnet_push() -> None:
    options = parse_push_reply(
        [
            "route-gateway 10.8.0.1,topology subnet,ping 10,ping-restart 120,"
            "ifconfig 10.8.0.2 255.255.255.0,peer-id 7,cipher AES-256-GCM,"
            "route 192.168.10.0 255.255.255.0,route 10.20.0.0 255.255.0.0 10.8.0.254 5,"
            "route 1.2.3.4 255.255.255.255 net_gateway,route 172.16.0.0 255.240.0.0 vpn_gateway,"
            "route-ipv6 2001:db8:1::/48,route-ipv6 2001:db8:2::/64 fd00::1 7,"
            "ifconfig-ipv6 fd00::1000/64 fd00::1,redirect-gateway def1 bypass-dhcp,"
            "dhcp-option DNS 10.8.0.1,dhcp-option DNS6 fd00::1,dhcp-option DOMAIN corp.example,"
            "dhcp-option DOMAIN-SEARCH lab.example,tun-mtu 1400,explicit-exit-notify,"
            "block-outside-dns,key-derivation tls-ekm,protocol-flags cc-exit tls-ekm"
        ]
    )
    assert options.ifconfig == (v4("10.8.0.2"), v4("255.255.255.0"))
    assert options.topology == "subnet"
    assert options.route_gateway == v4("10.8.0.1")
    assert options.routes == (
        PushedRoute(net("192.168.10.0/24")),  # type: ignore[arg-type]
        PushedRoute(net("10.20.0.0/16"), v4("10.8.0.254"), None, 5),  # type: ignore[arg-type]
        PushedRoute(net("1.2.3.4/32"), None, "net_gateway"),  # type: ignore[arg-type]
        PushedRoute(net("172.16.0.0/12"), None, "vpn_gateway"),  # type: ignore[arg-type]
    )
    assert options.routes_ipv6 == (
        PushedRoute6(net("2001:db8:1::/48")),  # type: ignore[arg-type]
        PushedRoute6(net("2001:db8:2::/64"), v6("fd00::1"), 7),  # type: ignore[arg-type]
    )
    assert options.ifconfig_ipv6 == ipaddress.IPv6Interface("fd00::1000/64")
    assert options.ifconfig_ipv6_remote == v6("fd00::1")
    assert options.redirect_gateway == ("def1", "bypass-dhcp")
    assert options.ping == 10 and options.ping_restart == 120
    assert options.peer_id == 7 and options.cipher == "AES-256-GCM"
    assert options.tun_mtu == 1400 and options.explicit_exit_notify == 1
    assert options.unknown == ("block-outside-dns",)
    assert options.uses_ekm
    assert options.protocol_flags == ("cc-exit", "tls-ekm")

    info = tunnel_info(options, cipher="AES-256-GCM", key_derivation="tls-ekm")
    assert info.address == v4("10.8.0.2")
    assert info.network == ipaddress.IPv4Network("10.8.0.0/24")
    assert info.gateway == v4("10.8.0.1")
    assert info.topology == "subnet"
    assert info.mtu == 1400
    assert info.routes == (
        Route(net("192.168.10.0/24")),
        Route(net("10.20.0.0/16"), v4("10.8.0.254"), 5),
        Route(net("172.16.0.0/12")),  # net_gateway route excluded: it bypasses the tunnel
        Route(net("2001:db8:1::/48")),
        Route(net("2001:db8:2::/64"), v6("fd00::1"), 7),
    )
    assert info.dns == (v4("10.8.0.1"), v6("fd00::1"))
    assert info.search_domains == ("corp.example", "lab.example")
    assert info.redirect_gateway == ("def1", "bypass-dhcp")
    assert info.address6 == ipaddress.IPv6Interface("fd00::1000/64")
    assert info.peer_id == 7 and info.cipher == "AES-256-GCM"
    assert info.key_derivation == "tls-ekm"


def test_net30_push() -> None:
    options = parse_push_reply(["route 10.8.0.1,topology net30,ping 10,ifconfig 10.8.0.6 10.8.0.5"])
    info = tunnel_info(options, cipher="AES-128-GCM", key_derivation="prf")
    assert info.address == v4("10.8.0.6")
    assert info.network == ipaddress.IPv4Network("10.8.0.4/30")
    assert info.gateway == v4("10.8.0.5")
    assert info.routes == (Route(net("10.8.0.1/32")),)
    assert info.topology == "net30"
    assert info.mtu == 1500 and info.peer_id is None
    assert not options.uses_ekm


def test_no_topology_means_net30() -> None:
    info = tunnel_info(
        parse_push_reply(["ifconfig 10.8.0.10 10.8.0.9"]), cipher="X", key_derivation="prf"
    )
    assert info.topology == "net30" and info.network == ipaddress.IPv4Network("10.8.0.8/30")


def test_dns_option() -> None:
    options = parse_push_reply(
        [
            "dns search-domains a.example b.example,dns server 1 address 10.0.0.53 [fd00::53]:5353,"
            "dns server 1 resolve-domains corp.example,dns server 0 address 10.0.0.1:53,"
            "dns server 0 dnssec yes,dns server 0 transport DoT,dns server 0 sni dns.example,"
            "dhcp-option DNS 10.0.0.1,dhcp-option DOMAIN c.example"
        ]
    )
    assert options.dns_servers == (
        DnsServer(0, ((v4("10.0.0.1"), 53),), (), "yes", "DoT", "dns.example"),
        DnsServer(1, ((v4("10.0.0.53"), None), (v6("fd00::53"), 5353)), ("corp.example",)),
    )
    assert options.dns_search_domains == ("a.example", "b.example")
    info = tunnel_info(options, cipher="X", key_derivation="prf")
    assert info.dns == (v4("10.0.0.1"), v4("10.0.0.53"), v6("fd00::53"))  # deduplicated
    assert info.search_domains == ("a.example", "b.example", "c.example")


def test_malformed_known_options_are_kept_raw() -> None:
    options = parse_push_reply(
        ["ifconfig nonsense,route 10.0.0.0 255.0.0.0 x,ping abc,peer-id 99999999"]
    )
    assert options.ifconfig is None and options.routes == () and options.ping is None
    assert options.peer_id is None
    assert options.unknown == (
        "ifconfig nonsense",
        "route 10.0.0.0 255.0.0.0 x",
        "ping abc",
        "peer-id 99999999",
    )


def test_auth_token_never_in_repr() -> None:
    options = parse_push_reply(["auth-token SESS_ID_AT_c2VjcmV0,auth-token-user dXNlcg=="])
    assert options.auth_token == "SESS_ID_AT_c2VjcmV0"
    assert options.auth_token_user == "dXNlcg=="
    assert "SESS_ID" not in repr(options) and "dXNlcg" not in repr(options)
    assert is_auth_token_only(options)
    assert not is_auth_token_only(parse_push_reply(["auth-token x,ping 5"]))
    assert not is_auth_token_only(parse_push_reply(["ping 5"]))


def test_compression_recorded() -> None:
    assert parse_push_reply(["comp-lzo no"]).compression == "comp-lzo no"
    assert parse_push_reply(["compress stub-v2"]).compression == "compress stub-v2"


def test_continuation_markers() -> None:
    assert continuation_of("ping 1,push-continuation 2") == 2
    assert continuation_of("push-continuation 1,ping 1") == 1
    assert continuation_of("ping 1") is None


def test_collector_multi_part() -> None:
    collector = PushCollector()
    assert collector.add("route 10.1.0.0 255.255.0.0,ping 5,push-continuation 2") is None
    assert collector.collecting
    assert collector.add("route 10.2.0.0 255.255.0.0,push-continuation 2") is None
    final = collector.add("ping 7,cipher AES-128-GCM,push-continuation 1")
    assert final is not None and not collector.collecting
    assert [str(r.network) for r in final.routes] == ["10.1.0.0/16", "10.2.0.0/16"]
    assert final.ping == 7  # later parts win for single-valued options
    assert final.push_continuation == 1
    # A single-part reply is complete at once.
    single = collector.add("ping 3")
    assert single == PushedOptions(ping=3)


def test_pull_filter_first_matching_prefix_decides() -> None:
    reply = (
        "route 10.1.0.0 255.255.0.0,route 10.2.0.0 255.255.0.0,dhcp-option DNS 10.8.0.1,"
        "redirect-gateway def1,ifconfig 10.8.0.2 255.255.255.0,topology subnet"
    )
    filters = [("accept", "route 10.1."), ("ignore", "route "), ("ignore", "redirect-gateway")]
    options = parse_push_reply([reply], filters=filters)
    assert [str(r.network) for r in options.routes] == ["10.1.0.0/16"]
    assert options.redirect_gateway is None
    assert options.dhcp_options  # no filter matched: applied
    assert options.ifconfig is not None


def test_pull_filter_reject_refuses_the_whole_reply() -> None:
    with pytest.raises(PushOptionRejected, match="pull-filter reject 'dhcp-option'"):
        parse_push_reply(["dhcp-option DNS 10.8.0.1,route-gateway 10.8.0.1"],
                         filters=[("reject", "dhcp-option")])


def test_push_collector_applies_filters_to_every_part() -> None:
    collector = PushCollector(filters=[("ignore", "route ")])
    assert collector.add("route 10.1.0.0 255.255.0.0,push-continuation 2") is None
    options = collector.add("route 10.2.0.0 255.255.0.0,peer-id 4,push-continuation 1")
    assert options is not None
    assert options.routes == () and options.peer_id == 4


def test_route_nopull_ignores_pushed_routes_and_dns_but_not_the_rest() -> None:
    reply = (
        "route 10.1.0.0 255.255.0.0,route-ipv6 fd00:1::/64,redirect-gateway def1,"
        "dhcp-option DNS 10.8.0.1,dns server 0 address 10.8.0.53,route-gateway 10.8.0.1,"
        "ifconfig 10.8.0.2 255.255.255.0,topology subnet,peer-id 1"
    )
    filters = client_pull_filters(pull_filters=[("ignore", "peer-id")], route_nopull=True)
    options = parse_push_reply([reply], filters=filters)
    assert (options.routes, options.routes_ipv6, options.redirect_gateway) == ((), (), None)
    assert (options.dhcp_options, options.dns_servers) == ((), ())
    assert options.route_gateway is not None and options.ifconfig is not None
    assert options.peer_id is None  # the config's own pull-filter applies as well


def test_local_routes_join_the_pushed_ones() -> None:
    pushed = parse_push_reply(
        ["route 10.1.0.0 255.255.0.0,route-gateway 10.8.0.1,topology subnet,"
         "ifconfig 10.8.0.2 255.255.255.0,dhcp-option DNS 10.8.0.1"]
    )
    local = PushedRoute(ipaddress.IPv4Network("198.51.100.0/24"))
    merged = with_local_options(
        pushed, routes=[local], routes_ipv6=[], redirect_gateway=("def1",),
        dhcp_options=[("DOMAIN", "corp.example")],
    )
    info = tunnel_info(merged, cipher="AES-256-GCM", key_derivation="prf")
    assert [str(r.network) for r in info.routes] == ["198.51.100.0/24", "10.1.0.0/16"]
    assert info.redirect_gateway == ("def1",)
    assert info.search_domains == ("corp.example",)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("TEMP", (None, None, "")),
        ("TEMP:server busy", (None, None, "server busy")),
        ("TEMP[backoff 30,advance no]:try later", (30.0, "no", "try later")),
        ("TEMP[advance remote]", (None, "remote", "")),
        ("TEMP[backoff x,advance sideways]:odd", (None, None, "odd")),
    ],
)
def test_auth_failed_temp_flags(reason: str, expected: tuple[object, ...]) -> None:
    temp = parse_auth_failed_temp(reason)
    assert temp is not None
    assert (temp.backoff, temp.advance, temp.message) == expected
    assert parse_auth_failed_temp("bad password") is None


def test_restart_flags() -> None:
    assert restart_flags("[PN]server moving") == "PN"
    assert restart_flags("plain text") == ""


def test_configured_tun_mtu_applies_unless_the_server_pushes_one() -> None:
    def mtu(reply: str, configured: int | None) -> int:
        merged = with_local_options(
            parse_push_reply([reply]), routes=[], routes_ipv6=[], redirect_gateway=None,
            dhcp_options=[], tun_mtu=configured,
        )
        return tunnel_info(merged, cipher="AES-256-GCM", key_derivation="prf").mtu

    assert mtu("ifconfig 10.8.0.2 255.255.255.0", 1400) == 1400
    assert mtu("ifconfig 10.8.0.2 255.255.255.0,tun-mtu 1300", 1400) == 1300
    assert mtu("ifconfig 10.8.0.2 255.255.255.0", None) == 1500


def test_a_push_reply_over_the_size_bound_is_refused_whole() -> None:
    collector = PushCollector()
    part = "route 10.0.0.0 255.255.255.0," * 2000 + "push-continuation 2"
    parts_allowed = MAX_PUSH_REPLY_BYTES // len(part)
    for _ in range(parts_allowed):
        assert collector.add(part) is None
    with pytest.raises(RemoteProtocolError, match="push-reply-too-long"):
        collector.add(part)
    with pytest.raises(RemoteProtocolError, match="push-reply-too-long"):
        collector.add("route 10.1.0.0 255.255.0.0,push-continuation 1")  # its last part
    assert not collector.collecting
    options = collector.add("ifconfig 10.8.0.2 255.255.255.0,route 10.2.0.0 255.255.0.0")
    assert options is not None and len(options.routes) == 1  # the next reply is whole again
