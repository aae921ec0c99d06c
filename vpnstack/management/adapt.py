"""From vpnstack's own notifications to management events (for the client integration).

How this works: the stack reports progress as ``messages.StateChange`` with a ``Stage``;
``state_events`` turns one into the OpenVPN states a management client expects, in stock's
order (``RESOLVE``, ``TCP_CONNECT``, ``WAIT`` when our reset goes out, ``AUTH`` when the
server's reset is in, ``GET_CONFIG`` when the push is requested, ``ASSIGN_IP`` when the
tunnel is up). Stages stock has no state for give nothing. ``ADD_ROUTES``, ``CONNECTED``,
``RECONNECTING`` and ``EXITING`` are the lifecycle's to send, since it is the one that
applies routes and decides to reconnect or leave: ``connected_event`` builds CONNECTED.

The auth-token of ``Stage.AUTH_TOKEN`` becomes an ``AuthTokenEvent`` (the one place the
token may go: stock shows it to management clients; it never goes to the log).
"""

from __future__ import annotations

from vpnstack.management import events as ev
from vpnstack.messages import Stage, StateChange, TunnelInfo

_SIMPLE = {
    Stage.RESOLVING: ev.State.RESOLVE,
    Stage.RESET_SENT: ev.State.WAIT,
    Stage.RESET_ACKED: ev.State.AUTH,
    Stage.PUSH_REQUESTED: ev.State.GET_CONFIG,
}
"""Stages that map one to one onto a stock state without fields."""


def state_events(change: StateChange, *, tcp: bool = False) -> list[ev.Event]:
    """The management events for one ``StateChange`` (often none)."""
    if change.stage is Stage.AUTH_TOKEN:
        token = change.auth_token
        return [] if token is None else [ev.AuthTokenEvent(token.token)]
    if change.stage is Stage.CONNECTING:
        return [ev.StateEvent(ev.State.TCP_CONNECT)] if tcp else []
    if change.stage is Stage.TUNNEL_UP and change.info is not None:
        local_ip, local_ipv6 = _tunnel_addresses(change.info)
        return [ev.StateEvent(ev.State.ASSIGN_IP, local_ip=local_ip, local_ipv6=local_ipv6)]
    state = _SIMPLE.get(change.stage)
    return [] if state is None else [ev.StateEvent(state)]


def connected_event(
    info: TunnelInfo,
    *,
    remote: tuple[str, int] | None,
    local: tuple[str, int] | None,
    errors: bool = False,
) -> ev.StateEvent:
    """``CONNECTED`` with stock's fields (init.c: detail SUCCESS, or ERROR after failures)."""
    local_ip, local_ipv6 = _tunnel_addresses(info)
    return ev.StateEvent(
        ev.State.CONNECTED,
        "ERROR" if errors else "SUCCESS",
        remote_ip=remote[0] if remote else "",
        remote_port=remote[1] if remote else None,
        local_addr=local[0] if local else "",
        local_port=local[1] if local else None,
        local_ip=local_ip,
        local_ipv6=local_ipv6,
    )


def _tunnel_addresses(info: TunnelInfo) -> tuple[str, str]:
    """Our tunnel IPv4 and IPv6 addresses as stock prints them, empty when absent."""
    return (
        str(info.address) if info.address is not None else "",
        str(info.address6.ip) if info.address6 is not None else "",
    )
