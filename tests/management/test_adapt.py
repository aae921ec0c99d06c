"""vpnstack's stages as the OpenVPN states a management client expects."""

from __future__ import annotations

import ipaddress

from vpnstack.management import events as ev
from vpnstack.management.adapt import connected_event, state_events
from vpnstack.management.core import state_line
from vpnstack.messages import AuthToken, Stage, StateChange, TunnelInfo

INFO = TunnelInfo(
    address=ipaddress.IPv4Address("10.8.0.2"),
    network=ipaddress.IPv4Network("10.8.0.0/24"),
    gateway=ipaddress.IPv4Address("10.8.0.1"),
    mtu=1500,
    routes=(),
    dns=(),
    cipher="AES-256-GCM",
    peer_id=None,
    address6=ipaddress.IPv6Interface("fd00::1000/64"),
)


def states(stage: Stage, **kwargs: object) -> list[ev.Event]:
    return state_events(StateChange("test", stage, **kwargs))  # type: ignore[arg-type]


def test_stages_map_to_stock_states_in_order() -> None:
    assert states(Stage.RESOLVING) == [ev.StateEvent(ev.State.RESOLVE)]
    assert states(Stage.CONNECTING) == []
    assert state_events(StateChange("n", Stage.CONNECTING), tcp=True) == [
        ev.StateEvent(ev.State.TCP_CONNECT)
    ]
    assert states(Stage.RESET_SENT) == [ev.StateEvent(ev.State.WAIT)]
    assert states(Stage.RESET_ACKED) == [ev.StateEvent(ev.State.AUTH)]
    assert states(Stage.TLS_HANDSHAKE) == []
    assert states(Stage.PUSH_REQUESTED) == [ev.StateEvent(ev.State.GET_CONFIG)]
    assert states(Stage.TUNNEL_UP, info=INFO) == [
        ev.StateEvent(ev.State.ASSIGN_IP, local_ip="10.8.0.2", local_ipv6="fd00::1000")
    ]


def test_auth_token_becomes_a_hidden_event() -> None:
    (event,) = states(Stage.AUTH_TOKEN, auth_token=AuthToken("TOK-123", None))
    assert event == ev.AuthTokenEvent("TOK-123")
    assert "TOK-123" not in repr(event)


def test_connected_line() -> None:
    event = connected_event(INFO, remote=("198.51.100.1", 1194), local=("192.0.2.7", 40000))
    assert state_line(1.0, event) == (
        "1,CONNECTED,SUCCESS,10.8.0.2,198.51.100.1,1194,192.0.2.7,40000,fd00::1000"
    )
