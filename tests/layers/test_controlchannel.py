"""controlchannel alone: wire packets from a peer that wraps like a server, in all 3 modes."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import trio

from vpnstack.core.controlchannel.channel import ControlChannelCore
from vpnstack.core.controlchannel.wrap import ControlWrap, NoWrap, TlsAuthWrap, TlsCryptWrap
from vpnstack.core.shared.opcodes import (
    P_ACK_V1,
    P_CONTROL_HARD_RESET_CLIENT_V2,
    P_CONTROL_HARD_RESET_SERVER_V2,
    P_CONTROL_V1,
)
from vpnstack.core.shared.packets import decode_control, encode_control
from vpnstack.layers.controlchannel import ControlChannel
from vpnstack.messages import ReliablePacket

CLIENT_SID = bytes.fromhex("c1c2c3c4c5c6c7c8")
SERVER_SID = bytes.fromhex("5152535455565758")
KEY = os.urandom(256)
T0 = 1_700_000_000

WrapPair = tuple[ControlWrap, ControlWrap]
MODES: dict[str, Callable[[], WrapPair]] = {
    "none": lambda: (NoWrap(), NoWrap()),
    "tls-auth": lambda: (
        TlsAuthWrap(KEY, 1, "SHA256", T0),
        TlsAuthWrap(KEY, 1, "SHA256", T0 + 5, role="server"),
    ),
    "tls-crypt": lambda: (TlsCryptWrap(KEY, T0), TlsCryptWrap(KEY, T0 + 5, role="server")),
}


class Peer:
    """The server's side of the wrapping, written with the codec directly."""

    def __init__(self, wrap: ControlWrap) -> None:
        self.wrap = wrap

    def packet(self, opcode: int, *, acks: tuple[int, ...] = (), message_id: int | None = 0,
               payload: bytes = b"", sid: bytes = SERVER_SID, ack_sid: bytes = CLIENT_SID,
               ) -> bytes:
        plain = encode_control(
            opcode=opcode, key_id=0, session_id=sid, acks=acks,
            remote_session_id=ack_sid if acks else None,
            message_id=None if opcode == P_ACK_V1 else message_id, payload=payload,
        )
        return self.wrap.wrap(plain)


class Harness:
    def __init__(self, mode: str) -> None:
        client_wrap, server_wrap = MODES[mode]()
        self.peer = Peer(server_wrap)
        self.wire_in, from_below = trio.open_memory_channel[bytes](10)
        to_below, self.wire_out = trio.open_memory_channel[bytes](10)
        self.pkt_in, from_above = trio.open_memory_channel[ReliablePacket](10)
        to_above, self.pkt_out = trio.open_memory_channel[ReliablePacket](10)
        self.layer = ControlChannel(
            core=ControlChannelCore(wrap=client_wrap, local_session_id=CLIENT_SID),
            from_below=from_below, to_below=to_below, from_above=from_above, to_above=to_above,
        )


@pytest.mark.parametrize("mode", sorted(MODES))
async def test_handshake_packets_both_ways(nursery: trio.Nursery, mode: str) -> None:
    h = Harness(mode)
    await nursery.start(h.layer.run)
    # Our reset goes out with our session id and no acks.
    await h.pkt_in.send(ReliablePacket(P_CONTROL_HARD_RESET_CLIENT_V2, 0, message_id=0))
    wire = await h.wire_out.receive()
    sent = decode_control(h.peer.wrap.unwrap(wire, 0.0))
    assert (sent.opcode, sent.session_id, sent.acks, sent.message_id) == (
        P_CONTROL_HARD_RESET_CLIENT_V2, CLIENT_SID, (), 0)
    # The server's reset acks it; the layer learns the server's session id.
    await h.wire_in.send(h.peer.packet(P_CONTROL_HARD_RESET_SERVER_V2, acks=(0,)))
    got = await h.pkt_out.receive()
    assert got == ReliablePacket(P_CONTROL_HARD_RESET_SERVER_V2, 0, acks=(0,), message_id=0,
                                 payload=b"", peer_session_id=SERVER_SID)
    # Our next packet acks it and names the server's session id in the ack section.
    await h.pkt_in.send(ReliablePacket(P_CONTROL_V1, 0, acks=(0,), message_id=1, payload=b"hi"))
    sent = decode_control(h.peer.wrap.unwrap(await h.wire_out.receive(), 0.0))
    assert (sent.acks, sent.remote_session_id, sent.message_id, sent.payload) == (
        (0,), SERVER_SID, 1, b"hi")
    assert h.layer.statistics().packets_out == 2


@pytest.mark.parametrize("mode", sorted(MODES))
async def test_hostile_packets_are_dropped_and_counted(nursery: trio.Nursery, mode: str) -> None:
    h = Harness(mode)
    await nursery.start(h.layer.run)
    # Nothing but the server's reset is accepted before the session is established.
    await h.wire_in.send(h.peer.packet(P_CONTROL_V1, message_id=1, payload=b"early"))
    reset = h.peer.packet(P_CONTROL_HARD_RESET_SERVER_V2, acks=(0,))
    await h.wire_in.send(reset)
    assert (await h.pkt_out.receive()).opcode == P_CONTROL_HARD_RESET_SERVER_V2
    await h.wire_in.send(h.peer.packet(P_CONTROL_V1, message_id=1, sid=bytes(8)))  # foreign
    await h.wire_in.send(h.peer.packet(P_ACK_V1, acks=(1,), ack_sid=bytes(8)))  # not for us
    await h.wire_in.send(b"\x20" + SERVER_SID)  # truncated
    if mode != "none":
        await h.wire_in.send(reset)  # a replay of an authentic packet
        forged = bytearray(h.peer.packet(P_CONTROL_V1, message_id=1, payload=b"x"))
        forged[-1] ^= 1
        await h.wire_in.send(bytes(forged))
    good = h.peer.packet(P_CONTROL_V1, message_id=1, payload=b"ok")
    await h.wire_in.send(good)
    assert (await h.pkt_out.receive()).payload == b"ok"
    drops = h.layer.statistics().drops
    expected = {
        "before-server-reset": 1,
        "foreign-session": 1,
        "ack-for-other-session": 1,
        "too-short": 1,
    }
    if mode != "none":
        expected.update({"replay-duplicate": 1, "hmac-mismatch": 1})
    assert drops == expected
