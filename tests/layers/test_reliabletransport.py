"""The reliabletransport service alone and back to back through a seeded lossy link."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from tests.lossylink import LossyLink
from vpnstack.core.shared import opcodes as op
from vpnstack.layers.reliabletransport import ReliableTransport
from vpnstack.messages import ControlMessage, ReliablePacket, Stage, StateChange

PEER_SID = bytes.fromhex("a1a2a3a4a5a6a7a8")
CLIENT_RESET = ControlMessage(op.P_CONTROL_HARD_RESET_CLIENT_V2, 0)
SERVER_RESET = ControlMessage(op.P_CONTROL_HARD_RESET_SERVER_V2, 0)


class Side:
    """One ReliableTransport with the test holding the other end of each of its channels."""

    def __init__(
        self, *, max_payload: int = 100, above_buffer: int = 16, backlog_limit: int = 32
    ) -> None:
        self.notes: list[StateChange] = []
        self.below_in, from_below = trio.open_memory_channel[ReliablePacket](16)
        to_below, self.below_out = trio.open_memory_channel[ReliablePacket](16)
        self.above_in, from_above = trio.open_memory_channel[ControlMessage](above_buffer)
        to_above, self.above_out = trio.open_memory_channel[ControlMessage](16)
        self.transport = ReliableTransport(
            from_below=from_below,
            to_below=to_below,
            from_above=from_above,
            to_above=to_above,
            max_payload=max_payload,
            notify=self.notes.append,
            backlog_limit=backlog_limit,
        )


def tls(data: bytes) -> ControlMessage:
    return ControlMessage(op.P_CONTROL_V1, 0, data)


async def acking_peer(side: Side, seen: list[ReliablePacket]) -> None:
    """Ack every packet with a message id, as a perfect peer on a perfect link would."""
    async for packet in side.below_out:
        seen.append(packet)
        if packet.message_id is not None:
            ack = ReliablePacket(
                op.P_ACK_V1, packet.key_id, (packet.message_id,), None, b"", PEER_SID
            )
            await side.below_in.send(ack)


async def test_exact_retransmission_schedule(autojump_clock: trio.testing.MockClock) -> None:
    side = Side()
    async with trio.open_nursery() as nursery:
        await nursery.start(side.transport.run)
        start = trio.current_time()
        await side.above_in.send(CLIENT_RESET)
        times = []
        with trio.fail_after(100):
            for _ in range(5):
                packet = await side.below_out.receive()
                assert (packet.opcode, packet.message_id) == (op.P_CONTROL_HARD_RESET_CLIENT_V2, 0)
                times.append(trio.current_time() - start)
        assert times == [0.0, 2.0, 6.0, 14.0, 30.0]
        assert side.transport.statistics().retransmissions == 4
        assert side.notes == [StateChange("reliabletransport", Stage.RESET_SENT)]
        nursery.cancel_scope.cancel()


async def test_acks_promptly_and_reports_the_reset_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    side = Side()
    async with trio.open_nursery() as nursery:
        await nursery.start(side.transport.run)
        await side.above_in.send(CLIENT_RESET)
        with trio.fail_after(1):
            assert (await side.below_out.receive()).message_id == 0
            start = trio.current_time()
            server_reset = ReliablePacket(
                op.P_CONTROL_HARD_RESET_SERVER_V2, 0, (0,), 0, b"", PEER_SID
            )
            await side.below_in.send(server_reset)
            assert await side.above_out.receive() == ControlMessage(
                op.P_CONTROL_HARD_RESET_SERVER_V2, 0, b"", PEER_SID
            )
            ack = await side.below_out.receive()
        assert (ack.opcode, ack.acks, ack.message_id) == (op.P_ACK_V1, (0,), None)
        assert trio.current_time() == start  # no delay before the ack
        assert side.notes == [
            StateChange("reliabletransport", Stage.RESET_SENT),
            StateChange("reliabletransport", Stage.RESET_ACKED),
        ]
        # nothing is retransmitted once acked
        with trio.move_on_after(100):
            extra = await side.below_out.receive()
            pytest.fail(f"unexpected packet {extra}")
        nursery.cancel_scope.cancel()


async def test_malformed_packet_is_dropped_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    side = Side()
    async with trio.open_nursery() as nursery:
        await nursery.start(side.transport.run)
        await side.below_in.send(ReliablePacket(op.P_ACK_V1, 0, (1,), 5))
        await side.below_in.send(
            ReliablePacket(op.P_CONTROL_HARD_RESET_CLIENT_V2, 0, (), 0, b"", PEER_SID)
        )
        with trio.fail_after(1):
            got = await side.above_out.receive()
        assert got.opcode == op.P_CONTROL_HARD_RESET_CLIENT_V2
        stats = side.transport.statistics()
        assert stats.drops == {"message-id-presence": 1}
        assert stats.packets_received == 1
        nursery.cancel_scope.cancel()


async def test_backpressure_blocks_instead_of_dropping(
    autojump_clock: trio.testing.MockClock,
) -> None:
    side = Side(max_payload=10, above_buffer=0, backlog_limit=4)
    messages = [bytes([i]) * 10 for i in range(1, 21)]  # one packet each
    async with trio.open_nursery() as nursery:
        await nursery.start(side.transport.run)
        await side.above_in.send(CLIENT_RESET)
        accepted = 0
        # Nobody acks the reset: TLS packets may not leave, so the backlog fills up.
        with trio.move_on_after(60):
            for message in messages:
                await side.above_in.send(tls(message))
                accepted += 1
        assert accepted == 4
        assert side.transport.statistics().messages_queued == 5
        # Now a peer acks everything: the rest is accepted and nothing is lost.
        seen: list[ReliablePacket] = []
        nursery.start_soon(acking_peer, side, seen)
        with trio.fail_after(60):
            for message in messages[accepted:]:
                await side.above_in.send(tls(message))
            await trio.sleep(10)  # virtual: the acking peer answers at once
        assert side.transport.statistics().queued == 0
        first_sends: dict[int, bytes] = {}
        for packet in seen:
            if packet.opcode == op.P_CONTROL_V1 and packet.message_id is not None:
                first_sends.setdefault(packet.message_id, packet.payload)
        assert sorted(first_sends) == list(range(1, 21))
        assert [first_sends[i] for i in range(1, 21)] == messages
        nursery.cancel_scope.cancel()


async def test_end_of_input_from_below_delivers_then_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    side = Side()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(side.transport.run)
            await side.below_in.send(
                ReliablePacket(op.P_CONTROL_HARD_RESET_CLIENT_V2, 0, (), 0, b"", PEER_SID)
            )
            await side.below_in.aclose()
            assert (await side.above_out.receive()).opcode == op.P_CONTROL_HARD_RESET_CLIENT_V2
            with pytest.raises(trio.EndOfChannel):
                await side.above_out.receive()
    # run() returned by itself, and the send end towards controlchannel is closed too
    with pytest.raises(trio.EndOfChannel):
        while True:
            await side.below_out.receive()


async def test_end_of_input_from_above_closes(autojump_clock: trio.testing.MockClock) -> None:
    side = Side()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(side.transport.run)
            await side.above_in.aclose()
        with pytest.raises(trio.EndOfChannel):
            await side.above_out.receive()
        with pytest.raises(trio.EndOfChannel):
            await side.below_out.receive()


async def _collect(side: Side, total: int) -> bytes:
    stream = bytearray()
    while len(stream) < total:
        message = await side.above_out.receive()
        assert (message.opcode, message.key_id) == (op.P_CONTROL_V1, 0)
        stream += message.payload
    return bytes(stream)


async def _pump(side: Side, chunks: list[bytes]) -> None:
    for chunk in chunks:
        await side.above_in.send(tls(chunk))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_two_transports_over_a_lossy_link(
    seed: int, autojump_clock: trio.testing.MockClock
) -> None:
    client, server = Side(max_payload=100), Side(max_payload=100)
    to_server = LossyLink(client.below_out, server.below_in, seed=seed, loss=0.25)
    to_client = LossyLink(server.below_out, client.below_in, seed=seed + 1000, loss=0.25)
    rng = random.Random(seed)
    upstream = [rng.randbytes(rng.randint(1, 300)) for _ in range(200)]
    downstream = [rng.randbytes(rng.randint(1, 300)) for _ in range(200)]
    results: dict[str, bytes] = {}

    async def collect(name: str, side: Side, total: int) -> None:
        results[name] = await _collect(side, total)

    with trio.fail_after(24 * 3600):  # virtual seconds
        async with trio.open_nursery() as nursery:
            await nursery.start(client.transport.run)
            await nursery.start(server.transport.run)
            nursery.start_soon(to_server.run)
            nursery.start_soon(to_client.run)
            # §5.1: client reset, server reset, then TLS bytes both ways.
            await client.above_in.send(CLIENT_RESET)
            assert (await server.above_out.receive()).opcode == op.P_CONTROL_HARD_RESET_CLIENT_V2
            await server.above_in.send(SERVER_RESET)
            assert (await client.above_out.receive()).opcode == op.P_CONTROL_HARD_RESET_SERVER_V2
            async with trio.open_nursery() as transfer:
                transfer.start_soon(_pump, client, upstream)
                transfer.start_soon(_pump, server, downstream)
                transfer.start_soon(collect, "server", server, sum(map(len, upstream)))
                transfer.start_soon(collect, "client", client, sum(map(len, downstream)))
            assert results["server"] == b"".join(upstream)
            assert results["client"] == b"".join(downstream)
            # Let every retransmission and duplicate play out: nothing more may be delivered.
            await trio.sleep(600)
            for side in (client, server):
                with pytest.raises(trio.WouldBlock):
                    side.above_out.receive_nowait()
                assert side.transport.statistics().queued == 0
            nursery.cancel_scope.cancel()

    # The link really misbehaved, and the transports really recovered from it.
    for link in (to_server, to_client):
        assert link.counters.dropped > 0
        assert link.counters.duplicated > 0
        assert link.counters.reordered > 0
    for side in (client, server):
        stats = side.transport.statistics()
        assert stats.retransmissions > 0
        assert stats.duplicates > 0
        assert stats.messages_delivered > 200


async def test_v3_server_reset_ack_waits_for_our_wkc(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # §3.9, the core's rule seen through the service: no lone P_ACK_V1 for the server reset.
    side = Side()
    async with trio.open_nursery() as nursery:
        await nursery.start(side.transport.run)
        await side.above_in.send(ControlMessage(op.P_CONTROL_HARD_RESET_CLIENT_V3, 0))
        reset = await side.below_out.receive()
        assert (reset.opcode, reset.message_id) == (op.P_CONTROL_HARD_RESET_CLIENT_V3, 0)
        server_reset = ReliablePacket(
            op.P_CONTROL_HARD_RESET_SERVER_V2, 0, (0,), 0, b"", PEER_SID
        )
        await side.below_in.send(server_reset)
        assert (await side.above_out.receive()).opcode == op.P_CONTROL_HARD_RESET_SERVER_V2
        with trio.move_on_after(60):
            unexpected = await side.below_out.receive()
            pytest.fail(f"sent {unexpected} before our WKC")
        await side.above_in.send(ControlMessage(op.P_CONTROL_WKC_V1, 0))
        with trio.fail_after(1):
            wkc = await side.below_out.receive()
        assert (wkc.opcode, wkc.message_id, wkc.acks) == (op.P_CONTROL_WKC_V1, 1, (0,))
        nursery.cancel_scope.cancel()
