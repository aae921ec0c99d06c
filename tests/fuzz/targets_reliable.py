"""The reliable layer (core/reliabletransport/reliable.py) driven by hostile packet sequences.

An input is a list of steps (``engine.pack_records``); each step is
``[action 1][dt 1][body]``: ``now`` advances by ``dt / 8`` seconds, then action % 4 is

* 0: receive ``body``, decoded as ``op|kid`` + reliable section (``decode_reliable_section``,
  so the packet is one the controlchannel could hand up);
* 1: ``packets_to_send(now)``;
* 2: send ``body`` as TLS bytes on key id 0 (the harness only makes legal calls);
* 3: jump to ``next_timer()`` and fire it.

The client's hard reset is queued first, as the session does. Contract: ``receive`` raises
only ``RemoteProtocolError``; after every step the queue counter of ``statistics()`` must
equal the packets really queued (asserted).
"""

from __future__ import annotations

import contextlib

from tests.fuzz.engine import Target, mutate_records, pack_records, unpack_records
from tests.fuzz.keys import REMOTE_SESSION_ID
from vpnstack.core.reliabletransport.reliable import ReliableCore
from vpnstack.core.shared import opcodes
from vpnstack.core.shared.packets import check_control_opcode, decode_reliable_section
from vpnstack.errors import DropReason, RemoteProtocolError
from vpnstack.messages import ControlMessage, ReliablePacket

RECEIVE, SEND_DUE, SEND_TLS, TIMER = range(4)


def _packet(body: bytes) -> ReliablePacket:
    if not body:
        raise RemoteProtocolError(DropReason.EMPTY)
    opcode, key_id = opcodes.split_first_byte(body[0])
    check_control_opcode(opcode, key_id)
    section = decode_reliable_section(opcode, body[1:])
    return ReliablePacket(
        opcode=opcode,
        key_id=key_id,
        acks=section.acks,
        message_id=section.message_id,
        payload=section.payload,
        peer_session_id=REMOTE_SESSION_ID,
    )


def _check_invariants(core: ReliableCore) -> None:
    stats = core.statistics()
    really = sum(core.unacked(key_id) for key_id in range(8))
    assert stats.queued == really, f"statistics().queued {stats.queued} != {really} queued"
    assert stats.queued >= 0 and core.backlog() >= 0


def run(data: bytes) -> None:
    core = ReliableCore(max_payload=100)
    now = 10.0
    core.send(ControlMessage(opcode=opcodes.P_CONTROL_HARD_RESET_CLIENT_V2, key_id=0), now)
    reset_sent = False
    for step in unpack_records(data):
        if len(step) < 2:
            continue
        action, dt, body = step[0] % 4, step[1], step[2:]
        now += dt / 8
        if action == RECEIVE:
            try:
                packet = _packet(body)
            except RemoteProtocolError:
                continue
            with contextlib.suppress(RemoteProtocolError):
                core.receive(packet, now)
        elif action == SEND_DUE:
            if core.packets_to_send(now):
                reset_sent = True
        elif action == SEND_TLS:
            if reset_sent:
                core.send(ControlMessage(opcode=opcodes.P_CONTROL_V1, key_id=0, payload=body), now)
        else:
            deadline = core.next_timer()
            if deadline is not None:
                now = max(now, deadline)
                core.on_timer(now)
        core.pop_events()
        _check_invariants(core)


def _section(
    opcode: int, key_id: int, acks: tuple[int, ...], mid: int | None, payload: bytes
) -> bytes:
    body = bytes([len(acks)]) + b"".join(a.to_bytes(4, "big") for a in acks)
    if acks:
        body += bytes(8)
    if mid is not None:
        body += mid.to_bytes(4, "big") + payload
    return bytes([opcodes.first_byte(opcode, key_id)]) + body


def step(action: int, dt: int, body: bytes = b"") -> bytes:
    """One step record: ``[action][dt][body]``."""
    return bytes([action, dt]) + body


def samples() -> tuple[bytes, ...]:
    """A handshake: our reset goes out, the server's reset acks it, TLS flows both ways."""
    server_reset = _section(opcodes.P_CONTROL_HARD_RESET_SERVER_V2, 0, (0,), 0, b"")
    handshake = pack_records(
        [
            step(SEND_DUE, 0),
            step(RECEIVE, 4, server_reset),
            step(SEND_DUE, 1),
            step(SEND_TLS, 1, b"\x16\x03\x01" + bytes(250)),
            step(SEND_DUE, 1),
            step(RECEIVE, 2, _section(opcodes.P_CONTROL_V1, 0, (1, 2), 1, b"\x16" * 90)),
            step(RECEIVE, 2, _section(opcodes.P_CONTROL_V1, 0, (), 3, b"late")),
            step(RECEIVE, 2, _section(opcodes.P_CONTROL_V1, 0, (3,), 2, b"mid")),
            step(TIMER, 0),
            step(RECEIVE, 1, _section(opcodes.P_ACK_V1, 0, (1, 2, 3), None, b"")),
            step(SEND_DUE, 20),
        ]
    )
    renegotiation = pack_records(
        [
            step(SEND_DUE, 0),
            step(RECEIVE, 4, server_reset),
            step(RECEIVE, 4, _section(opcodes.P_CONTROL_SOFT_RESET_V1, 1, (), 0, b"")),
            step(SEND_DUE, 1),
            step(RECEIVE, 4, _section(opcodes.P_CONTROL_V1, 1, (), 1, b"x" * 30)),
            step(TIMER, 0),
            step(TIMER, 0),
        ]
    )
    return (handshake, renegotiation)


def targets() -> list[Target]:
    return [Target("reliable", samples(), run, mutator=mutate_records, max_len=8192)]
