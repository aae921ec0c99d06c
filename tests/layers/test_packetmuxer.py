"""packetmuxer alone: datagrams in from networkio, control and data out to their layers."""

from __future__ import annotations

import trio

from vpnstack.core.shared.opcodes import (
    P_ACK_V1,
    P_CONTROL_HARD_RESET_CLIENT_V2,
    P_CONTROL_HARD_RESET_SERVER_V2,
    P_CONTROL_V1,
    P_DATA_V1,
    P_DATA_V2,
    first_byte,
)
from vpnstack.layers.packetmuxer import PacketMuxer
from vpnstack.messages import Batch

SID = bytes(range(1, 9))


def control(opcode: int, key_id: int = 0, rest: bytes = b"\x00\x00\x00\x00\x00") -> bytes:
    return bytes([first_byte(opcode, key_id)]) + SID + rest


def data(opcode: int, body: bytes = bytes(24)) -> bytes:
    header = bytes([first_byte(opcode, 0)])
    if opcode == P_DATA_V2:
        header += b"\x00\x00\x07"
    return header + body


class Harness:
    def __init__(self) -> None:
        self.net_send, net_recv = trio.open_memory_channel[Batch](10)
        to_net, self.net_out = trio.open_memory_channel[Batch](10)
        ctl_up, self.ctl_out = trio.open_memory_channel[bytes](10)
        self.ctl_send, ctl_down = trio.open_memory_channel[bytes](10)
        data_up, self.data_out = trio.open_memory_channel[Batch](10)
        self.data_send, data_down = trio.open_memory_channel[Batch](10)
        self.muxer = PacketMuxer(
            from_below=net_recv,
            to_below=to_net,
            control_to_above=ctl_up,
            control_from_above=ctl_down,
            data_to_above=data_up,
            data_from_above=data_down,
        )


async def test_routes_control_and_data_and_keeps_order(nursery: trio.Nursery) -> None:
    h = Harness()
    await nursery.start(h.muxer.run)
    reset = control(P_CONTROL_HARD_RESET_SERVER_V2)
    tls = control(P_CONTROL_V1, rest=b"\x00\x00\x00\x00\x01hello")
    d1, d2 = data(P_DATA_V2), data(P_DATA_V1)
    await h.net_send.send([reset, d1, tls, d2])
    assert await h.ctl_out.receive() == reset
    assert await h.ctl_out.receive() == tls
    # Data of one incoming batch is regrouped into one outgoing batch.
    assert await h.data_out.receive() == [d1, d2]
    stats = h.muxer.statistics()
    assert (stats.control_in, stats.data_in, stats.drops) == (2, 2, {})


async def test_drops_and_counts_what_a_server_never_sends(nursery: trio.Nursery) -> None:
    h = Harness()
    await nursery.start(h.muxer.run)
    bad = [
        b"",  # empty
        control(P_CONTROL_HARD_RESET_CLIENT_V2),  # a client must reject client resets
        control(1),  # key-method 1 is obsolete
        bytes([first_byte(20, 0)]) + bytes(20),  # unknown opcode
        control(P_CONTROL_HARD_RESET_SERVER_V2, key_id=1),  # hard reset must use key_id 0
        bytes([first_byte(P_ACK_V1, 0)]) + b"\x01\x02",  # too short for a session id
        data(P_DATA_V2, body=b"\x01"),  # no room for a packet id
    ]
    good = control(P_ACK_V1, rest=b"\x00")
    await h.net_send.send([*bad, good])
    assert await h.ctl_out.receive() == good
    stats = h.muxer.statistics()
    assert stats.drops == {
        "empty": 1,
        "unexpected-opcode": 3,
        "hard-reset-nonzero-key-id": 1,
        "control-too-short": 1,
        "data-too-short": 1,
    }
    assert stats.control_in == 1


async def test_merges_both_down_paths_and_ends_when_both_close() -> None:
    h = Harness()
    async with trio.open_nursery() as nursery:
        await nursery.start(h.muxer.run)
        await h.ctl_send.send(b"ctl")
        assert await h.net_out.receive() == [b"ctl"]
        await h.data_send.send([b"d1", b"d2"])
        assert await h.net_out.receive() == [b"d1", b"d2"]
        await h.ctl_send.aclose()
        await h.data_send.send([b"d3"])
        assert await h.net_out.receive() == [b"d3"]
        await h.data_send.aclose()
        # With both producers gone, the channel to networkio ends.
        with trio.fail_after(1):
            async for _ in h.net_out:
                raise AssertionError("nothing more expected")
        await h.net_send.aclose()
