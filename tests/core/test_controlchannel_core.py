"""ControlChannelCore with literal ``now``: the one owner of the peer's session id (§5.1)."""

from __future__ import annotations

import pytest

from vpnstack.core.controlchannel.channel import ControlChannelCore
from vpnstack.core.controlchannel.wrap import NoWrap
from vpnstack.core.shared import opcodes as op
from vpnstack.core.shared.packets import encode_control
from vpnstack.errors import DropReason, RemoteProtocolError
from vpnstack.messages import ReliablePacket

CLIENT_SID = bytes.fromhex("c1c2c3c4c5c6c7c8")
SERVER_SID = bytes.fromhex("5152535455565758")
OTHER_SID = bytes.fromhex("0102030405060708")


def wire(opcode: int, sid: bytes, *, mid: int | None = 0, acks: tuple[int, ...] = (),
         acked_sid: bytes = CLIENT_SID) -> bytes:
    return encode_control(
        opcode=opcode, key_id=0, session_id=sid, acks=acks,
        remote_session_id=acked_sid if acks else None, message_id=mid,
    )


def core() -> ControlChannelCore:
    return ControlChannelCore(wrap=NoWrap(), local_session_id=CLIENT_SID)


def reason(channel: ControlChannelCore, packet: bytes, now: float) -> DropReason | str:
    with pytest.raises(RemoteProtocolError) as info:
        channel.decode(packet, now)
    return info.value.reason


def test_nothing_before_the_server_reset_and_the_id_is_learned_once() -> None:
    channel = core()
    assert reason(channel, wire(op.P_CONTROL_V1, SERVER_SID, mid=1), 0.0) == (
        DropReason.BEFORE_SERVER_RESET
    )
    assert channel.remote_session_id is None
    reset = channel.decode(wire(op.P_CONTROL_HARD_RESET_SERVER_V2, SERVER_SID, acks=(0,)), 1.0)
    assert channel.remote_session_id == SERVER_SID
    assert reset.peer_session_id == SERVER_SID
    # A second server reset from another session is foreign: the id is never re-learned.
    other = wire(op.P_CONTROL_HARD_RESET_SERVER_V2, OTHER_SID)
    assert reason(channel, other, 2.0) == DropReason.FOREIGN_SESSION
    assert channel.remote_session_id == SERVER_SID


def test_every_packet_passed_up_carries_the_validated_id() -> None:
    channel = core()
    packets = [
        channel.decode(wire(op.P_CONTROL_HARD_RESET_SERVER_V2, SERVER_SID), 0.0),
        channel.decode(wire(op.P_CONTROL_V1, SERVER_SID, mid=1, acks=(0, 1)), 0.5),
        channel.decode(wire(op.P_ACK_V1, SERVER_SID, mid=None, acks=(2,)), 1.0),
    ]
    assert [p.peer_session_id for p in packets] == [SERVER_SID] * 3
    assert reason(channel, wire(op.P_CONTROL_V1, OTHER_SID, mid=2), 1.5) == (
        DropReason.FOREIGN_SESSION
    )
    acked_other = wire(op.P_CONTROL_V1, SERVER_SID, mid=2, acks=(3,), acked_sid=OTHER_SID)
    assert reason(channel, acked_other, 2.0) == DropReason.ACK_FOR_OTHER_SESSION


def test_acks_name_the_learned_id_on_the_way_out() -> None:
    channel = core()
    channel.decode(wire(op.P_CONTROL_HARD_RESET_SERVER_V2, SERVER_SID), 0.0)
    out = channel.encode(ReliablePacket(opcode=op.P_ACK_V1, key_id=0, acks=(0,)))
    assert out == wire(op.P_ACK_V1, CLIENT_SID, mid=None, acks=(0,), acked_sid=SERVER_SID)
