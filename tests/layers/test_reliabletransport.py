"""The reliabletransport service alone and back to back through a seeded lossy link."""

from __future__ import annotations

import itertools
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
        self,
        *,
        max_payload: int = 100,
        above_buffer: int = 16,
        backlog_limit: int = 32,
        max_timeout: float = 60.0,
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
            max_timeout=max_timeout,
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


async def test_retransmission_times_follow_the_measured_rtt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # §4.9: the server's reset acks ours 0.1 s after it left (one sample, Karn: sent once):
    # srtt 0.1, rttvar 0.05, RTO 0.3. An unacked TLS packet then goes out at +0, +0.3, +0.9,
    # +2.1, +4.5 (doubling), not at the stock +2, +6, +14.
    side = Side()
    async with trio.open_nursery() as nursery:
        await nursery.start(side.transport.run)
        start = trio.current_time()
        await side.above_in.send(CLIENT_RESET)
        with trio.fail_after(10):
            assert (await side.below_out.receive()).message_id == 0
            await trio.sleep(0.1)
            server_reset = ReliablePacket(
                op.P_CONTROL_HARD_RESET_SERVER_V2, 0, (0,), 0, b"", PEER_SID
            )
            await side.below_in.send(server_reset)
            await side.above_out.receive()
            for _ in range(2):  # a lone ack goes twice (§4.9)
                assert (await side.below_out.receive()).opcode == op.P_ACK_V1
        assert side.transport.statistics().rto == pytest.approx(0.3)
        await trio.sleep_until(start + 1.0)
        await side.above_in.send(tls(b"client hello"))
        times = []
        with trio.fail_after(20):
            for _ in range(5):
                packet = await side.below_out.receive()
                assert packet.message_id == 1
                times.append(round(trio.current_time() - start, 6))
        assert times == [1.0, 1.3, 1.9, 3.1, 5.5]
        nursery.cancel_scope.cancel()


async def test_backoff_cap_and_no_flood_while_the_peer_is_silent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A peer that went away after the handshake started: the retransmissions of a full send
    # window back off to the cap (max_timeout) and never exceed the budget of 6 per RTO.
    side = Side(max_payload=10, max_timeout=5.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(side.transport.run)
        start = trio.current_time()
        await side.above_in.send(CLIENT_RESET)
        assert (await side.below_out.receive()).message_id == 0
        await trio.sleep(0.01)
        await side.below_in.send(
            ReliablePacket(op.P_CONTROL_HARD_RESET_SERVER_V2, 0, (0,), 0, b"", PEER_SID)
        )
        await side.above_out.receive()
        await side.above_in.send(tls(bytes(60)))  # ids 1..6, a full window, never acked
        sent: list[tuple[float, int | None]] = []
        with trio.move_on_after(60):
            async for packet in side.below_out:
                sent.append((trio.current_time() - start, packet.message_id))
        data = [(t, mid) for t, mid in sent if mid is not None and mid >= 1]
        one = [t for t, mid in data if mid == 1]
        gaps = [round(b - a, 6) for a, b in itertools.pairwise(one)]
        # RTO floor 0.2 s, doubling, capped at 5 s
        assert gaps[:6] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0]
        assert set(gaps[6:]) == {5.0}
        # the retransmissions (everything after each id's first send) never exceed 6 within
        # one RTO (0.2 s) anywhere: one burst per RTO at most
        firsts = {mid: min(t for t, m in data if m == mid) for _, mid in data}
        retrans = sorted(t for t, mid in data if t > firsts[mid])
        assert len(retrans) > 6 * 6
        assert max(sum(1 for u in retrans if t <= u < t + 0.2) for t in retrans) <= 6
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
            again = await side.below_out.receive()
        assert (ack.opcode, ack.acks, ack.message_id) == (op.P_ACK_V1, (0,), None)
        assert again == ack  # a lone ack goes twice (§4.9)
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
