"""networkio alone, against a UDP or TCP peer on loopback run by the test."""

from __future__ import annotations

import ipaddress
import itertools
import socket
import struct

import attrs
import pytest
import trio
import trio.testing

from vpnstack.config import Remote
from vpnstack.errors import NetworkError, ServerUnreachable
from vpnstack.layers.networkio import BATCH_CAP, NetworkIO
from vpnstack.manager import one_error
from vpnstack.messages import Batch, StateChange


async def udp_peer(family: int, host: str) -> trio.socket.SocketType:
    sock = trio.socket.socket(family, socket.SOCK_DGRAM)
    await sock.bind((host, 0))
    return sock


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
async def test_datagrams_both_ways_ipv4_and_ipv6(
    nursery: trio.Nursery, family: int, host: str
) -> None:
    peer = await udp_peer(family, host)
    port = peer.getsockname()[1]
    up_send, up_recv = trio.open_memory_channel[Batch](10)
    down_send, down_recv = trio.open_memory_channel[Batch](10)
    events: list[StateChange] = []
    layer = NetworkIO(
        remote=Remote(host=host, port=port, proto="udp"),
        to_above=up_send,
        from_above=down_recv,
        notify=events.append,
    )
    await nursery.start(layer.run)
    with trio.fail_after(5):
        await down_send.send([b"one", b"two"])
        got = [await peer.recvfrom(100) for _ in range(2)]
        assert [data for data, _ in got] == [b"one", b"two"]
        client_addr = got[0][1]
        for i in range(5):
            await peer.sendto(b"reply%d" % i, client_addr)
        received: Batch = []
        while len(received) < 5:
            received += await up_recv.receive()
    assert received == [b"reply%d" % i for i in range(5)]
    stats = layer.statistics()
    assert (stats.datagrams_out, stats.datagrams_in) == (2, 5)
    assert [e.stage.value for e in events] == ["resolving", "connecting"]
    # The resolved address travels as a typed field of the notification, not via statistics.
    assert events[1].remote_address == ipaddress.ip_address(host)
    peer.close()


async def test_datagrams_from_other_senders_are_not_delivered(nursery: trio.Nursery) -> None:
    peer = await udp_peer(socket.AF_INET, "127.0.0.1")
    stranger = await udp_peer(socket.AF_INET, "127.0.0.1")
    up_send, up_recv = trio.open_memory_channel[Batch](10)
    down_send, down_recv = trio.open_memory_channel[Batch](10)
    layer = NetworkIO(
        remote=Remote(host="127.0.0.1", port=peer.getsockname()[1]),
        to_above=up_send,
        from_above=down_recv,
    )
    await nursery.start(layer.run)
    with trio.fail_after(5):
        await down_send.send([b"hello"])
        _, client_addr = await peer.recvfrom(100)
        await stranger.sendto(b"spoofed", client_addr)  # connected socket: kernel filters
        await peer.sendto(b"genuine", client_addr)
        assert await up_recv.receive() == [b"genuine"]
    peer.close()
    stranger.close()


async def test_full_muxer_queue_drops_and_counts(nursery: trio.Nursery) -> None:
    peer = await udp_peer(socket.AF_INET, "127.0.0.1")
    up_send, _up_recv = trio.open_memory_channel[Batch](0)  # nobody reads: always full
    down_send, down_recv = trio.open_memory_channel[Batch](10)
    layer = NetworkIO(
        remote=Remote(host="127.0.0.1", port=peer.getsockname()[1]),
        to_above=up_send,
        from_above=down_recv,
    )
    await nursery.start(layer.run)
    with trio.fail_after(5):
        await down_send.send([b"hello"])
        _, client_addr = await peer.recvfrom(100)
        for _ in range(3):
            await peer.sendto(b"x", client_addr)
        for _ in range(500):  # the datagrams are queued already; give the layer its turns
            if layer.statistics().drops.get("muxer-busy", 0) == 3:
                break
            await trio.sleep(0.01)
    assert layer.statistics().drops == {"muxer-busy": 3}
    peer.close()


async def test_unresolvable_remote_is_a_network_error() -> None:
    up_send, _ = trio.open_memory_channel[Batch](1)
    _, down_recv = trio.open_memory_channel[Batch](1)
    layer = NetworkIO(
        remote=Remote(host="no-such-host.invalid", port=1194),
        to_above=up_send,
        from_above=down_recv,
    )
    with pytest.raises(NetworkError, match=r"cannot resolve remote 'no-such-host\.invalid'"):
        await layer.run()


async def test_a_host_name_is_resolved_once_at_start(nursery: trio.Nursery) -> None:
    peer = await udp_peer(socket.AF_INET, "127.0.0.1")
    up_send, _up_recv = trio.open_memory_channel[Batch](10)
    down_send, down_recv = trio.open_memory_channel[Batch](10)
    events: list[StateChange] = []
    layer = NetworkIO(
        remote=Remote(host="localhost", port=peer.getsockname()[1], proto="udp4"),
        to_above=up_send,
        from_above=down_recv,
        notify=events.append,
    )
    await nursery.start(layer.run)
    assert layer.statistics().remote == f"127.0.0.1:{peer.getsockname()[1]}"
    assert (events[0].stage.value, events[0].detail) == ("resolving", "localhost")
    assert events[1].remote_address == ipaddress.IPv4Address("127.0.0.1")
    with trio.fail_after(5):
        await down_send.send([b"by name"])
        assert (await peer.recvfrom(100))[0] == b"by name"
    peer.close()



# --- TCP ------------------------------------------------------------------------------------


def framed(packet: bytes) -> bytes:
    """docs §1 written out: big-endian uint16 length of the packet, then the packet."""
    return struct.pack(">H", len(packet)) + packet


async def read_exactly(stream: trio.SocketStream, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = await stream.receive_some(count - len(data))
        assert chunk, f"stream ended after {len(data)} of {count} bytes"
        data += chunk
    return data


async def receive_packets(channel: trio.MemoryReceiveChannel[Batch], count: int) -> Batch:
    received: Batch = []
    while len(received) < count:
        received += await channel.receive()
    return received


@attrs.define
class TcpPeer:
    """A listening socket on loopback and the networkio layer that will connect to it."""

    listener: trio.socket.SocketType
    layer: NetworkIO
    up: trio.MemoryReceiveChannel[Batch]
    down: trio.MemorySendChannel[Batch]
    events: list[StateChange]

    async def accept(self) -> trio.SocketStream:
        conn, _ = await self.listener.accept()
        self.listener.close()
        return trio.SocketStream(conn)


async def tcp_peer(
    family: int = socket.AF_INET,
    host: str = "127.0.0.1",
    *,
    proto: str = "tcp",
    up_buffer: int = 10,
) -> TcpPeer:
    listener = trio.socket.socket(family, socket.SOCK_STREAM)
    await listener.bind((host, 0))
    listener.listen(1)
    up_send, up_recv = trio.open_memory_channel[Batch](up_buffer)
    down_send, down_recv = trio.open_memory_channel[Batch](10)
    events: list[StateChange] = []
    layer = NetworkIO(
        remote=Remote(host=host, port=listener.getsockname()[1], proto=proto),
        to_above=up_send,
        from_above=down_recv,
        notify=events.append,
    )
    return TcpPeer(listener, layer, up_recv, down_send, events)


async def connected(
    nursery: trio.Nursery, *args: object, **kwargs: object
) -> tuple[TcpPeer, trio.SocketStream]:
    """A running layer and the peer's end of its connection."""
    t = await tcp_peer(*args, **kwargs)  # type: ignore[arg-type]
    await nursery.start(t.layer.run)  # ready once connected (the kernel accepts for us)
    return t, await t.accept()


@pytest.mark.parametrize(
    ("family", "host", "proto"),
    [
        (socket.AF_INET, "127.0.0.1", "tcp"),
        (socket.AF_INET, "127.0.0.1", "tcp4"),
        (socket.AF_INET6, "::1", "tcp6"),
        (socket.AF_INET6, "::1", "tcp-client"),
    ],
)
async def test_tcp_packets_both_ways_framed(
    nursery: trio.Nursery, family: int, host: str, proto: str
) -> None:
    t, peer = await connected(nursery, family, host, proto=proto)
    with trio.fail_after(5):
        await t.down.send([b"one", b"two!"])
        assert await read_exactly(peer, 2 + 3 + 2 + 4) == b"\x00\x03one\x00\x04two!"
        await peer.send_all(b"".join(framed(b"reply%d" % i) for i in range(5)))
        received = await receive_packets(t.up, 5)
    assert received == [b"reply%d" % i for i in range(5)]
    stats = t.layer.statistics()
    assert stats.transport == "tcp"
    assert (stats.datagrams_out, stats.datagrams_in) == (2, 5)
    assert (stats.bytes_out, stats.bytes_in) == (11, 5 * 8)
    assert [e.stage.value for e in t.events] == ["resolving", "connecting"]
    assert t.events[1].remote_address == ipaddress.ip_address(host)
    assert t.events[1].detail == f"{stats.remote} over TCP"
    await peer.aclose()


async def test_tcp_coalesced_packets_are_handed_up_together(nursery: trio.Nursery) -> None:
    t, peer = await connected(nursery)
    packets = [bytes([0x48, i]) * (i + 1) for i in range(20)]
    with trio.fail_after(5):
        await peer.send_all(b"".join(framed(p) for p in packets))  # one write, 20 packets
        received = await receive_packets(t.up, 20)
    assert received == packets
    assert t.layer.statistics().largest_batch_in > 1  # drained together, not one per hop
    await peer.aclose()


async def test_tcp_more_packets_than_a_batch_holds_come_in_capped_batches(
    nursery: trio.Nursery,
) -> None:
    t, peer = await connected(nursery)
    packets = [i.to_bytes(2, "big") for i in range(3 * BATCH_CAP)]
    batches: list[Batch] = []
    with trio.fail_after(5):
        await peer.send_all(b"".join(framed(p) for p in packets))
        while sum(map(len, batches)) < len(packets):
            batches.append(await t.up.receive())
    assert [p for batch in batches for p in batch] == packets
    assert max(map(len, batches)) == BATCH_CAP
    await peer.aclose()


async def test_tcp_partial_writes_reassemble(nursery: trio.Nursery) -> None:
    t, peer = await connected(nursery)
    stream = framed(b"A" * 1000) + framed(b"B") + framed(b"C" * 300)
    offsets = [0, 1, 2, 3, 500, 1002, 1003, 1004, 1005, 1200, len(stream)]
    with trio.fail_after(5):
        for start, end in itertools.pairwise(offsets):
            await peer.send_all(stream[start:end])
            await trio.sleep(0.01)  # each piece becomes a read of its own on our side
        received = await receive_packets(t.up, 3)
    assert received == [b"A" * 1000, b"B", b"C" * 300]
    assert t.layer.statistics().batches_in >= 3
    await peer.aclose()


async def test_tcp_a_slow_stack_is_waited_for_not_dropped(nursery: trio.Nursery) -> None:
    t, peer = await connected(nursery, up_buffer=0)  # every hand-up waits for the test
    packets = [b"%05d" % i for i in range(500)]
    with trio.fail_after(10):
        for p in packets:
            await peer.send_all(framed(p))  # many small writes: many batches
        await trio.sleep(0.1)
        received = await receive_packets(t.up, len(packets))
    assert received == packets
    assert t.layer.statistics().drops == {}
    await peer.aclose()


async def test_tcp_big_batches_wait_for_a_slow_reader(nursery: trio.Nursery) -> None:
    t, peer = await connected(nursery)
    packets = [bytes([i % 256]) * 1400 for i in range(3000)]  # ~4 MiB: more than the buffers
    expected = b"".join(framed(p) for p in packets)

    async def send() -> None:
        for i in range(0, len(packets), BATCH_CAP):
            await t.down.send(packets[i : i + BATCH_CAP])

    with trio.fail_after(20):
        nursery.start_soon(send)
        await trio.sleep(0.2)  # the peer does not read yet: the layer waits on the socket
        assert await read_exactly(peer, len(expected)) == expected
        await trio.testing.wait_all_tasks_blocked()  # the last send_all returns after we read
    assert t.layer.statistics().datagrams_out == len(packets)
    await peer.aclose()


async def run_until_error(t: TcpPeer, peer_behaviour: object) -> None:
    """Run the layer in the test's task (its error surfaces here) with a peer task beside it."""
    with one_error():
        async with trio.open_nursery() as nursery:
            await nursery.start(t.layer.run)  # connected before the peer does anything
            nursery.start_soon(peer_behaviour, t)  # type: ignore[arg-type]


async def test_tcp_server_closing_is_a_network_error() -> None:
    t = await tcp_peer()

    async def close_after_one_packet(t: TcpPeer) -> None:
        peer = await t.accept()
        await peer.send_all(framed(b"last words") + b"\x00\x05par")  # then a truncated one
        await peer.aclose()

    with trio.fail_after(5), pytest.raises(NetworkError, match="closed the TCP connection"):
        await run_until_error(t, close_after_one_packet)
    assert t.up.receive_nowait() == [b"last words"]


async def test_tcp_reset_is_a_network_error() -> None:
    t = await tcp_peer()

    async def reset(t: TcpPeer) -> None:
        peer = await t.accept()
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        peer.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await peer.aclose()

    with trio.fail_after(5), pytest.raises(NetworkError, match="was reset"):
        await run_until_error(t, reset)


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [(b"\x00\x00", "tcp-length-zero"), (b"\xff\xff", "tcp-length-too-big")],
)
async def test_tcp_bad_length_drops_the_connection(garbage: bytes, reason: str) -> None:
    t = await tcp_peer()
    peer_end: list[trio.SocketStream] = []

    async def send_garbage(t: TcpPeer) -> None:
        peer = await t.accept()
        peer_end.append(peer)
        await peer.send_all(framed(b"fine") + garbage + framed(b"never delivered"))

    try:
        with trio.fail_after(5), pytest.raises(NetworkError, match="not OpenVPN framing"):
            await run_until_error(t, send_garbage)
        assert t.layer.statistics().drops == {reason: 1}
        with trio.fail_after(5):  # our side closed the connection
            assert await peer_end[0].receive_some(100) == b""
        # The packets after the bad length are never handed up.
        delivered: Batch = []
        with pytest.raises(trio.EndOfChannel):  # the layer closed its up channel on the way out
            while True:
                delivered += t.up.receive_nowait()
        assert b"never delivered" not in delivered
    finally:
        await peer_end[0].aclose()


async def test_tcp_nobody_listening_is_a_network_error() -> None:
    t = await tcp_peer()
    t.listener.close()  # the port is free again: connecting is refused
    refused = r"cannot connect to 127\.0\.0\.1:\d+ over TCP: Connection refused"
    with trio.fail_after(5), pytest.raises(NetworkError, match=refused):
        await t.layer.run()


def full_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A loopback listener whose accept queue is full, so Linux drops further SYNs."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers: list[socket.socket] = []
    for _ in range(8):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.settimeout(0.5)
        fillers.append(filler)
        try:
            filler.connect(listener.getsockname())
        except TimeoutError:
            return listener, fillers
    raise AssertionError("the listener's accept queue never filled up")


async def test_tcp_connect_timeout_is_a_network_error(autojump_clock: trio.abc.Clock) -> None:
    listener, fillers = full_listener()
    up_send, _ = trio.open_memory_channel[Batch](1)
    _, down_recv = trio.open_memory_channel[Batch](1)
    layer = NetworkIO(
        remote=Remote(host="127.0.0.1", port=listener.getsockname()[1], proto="tcp"),
        to_above=up_send,
        from_above=down_recv,
        connect_timeout=7,
    )
    try:
        with pytest.raises(NetworkError, match=r"no TCP connection to 127\.0\.0\.1:\d+ after 7 s"):
            await layer.run()
        assert trio.current_time() >= 7
    finally:
        for sock in (*fillers, listener):
            sock.close()


async def test_tcp_layer_ends_cleanly_when_the_stack_above_closes(nursery: trio.Nursery) -> None:
    t, peer = await connected(nursery)
    with trio.fail_after(5):
        await t.down.send([b"bye"])
        await t.down.aclose()
        assert await read_exactly(peer, 5) == framed(b"bye")
        assert await peer.receive_some(100) == b""  # the layer closed its socket
        # and its up channel ended too
        with pytest.raises(trio.EndOfChannel):
            await t.up.receive()
    await peer.aclose()


async def test_a_silent_server_refusing_our_packets_ends_the_layer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # §1.6: the server answers, then stops (its port closes). Our packets draw ICMP port
    # unreachable; after 2 s of silence with 3 errors the layer ends with ServerUnreachable.
    peer = await udp_peer(socket.AF_INET, "127.0.0.1")
    port = peer.getsockname()[1]
    up_send, up_recv = trio.open_memory_channel[Batch](10)
    down_send, down_recv = trio.open_memory_channel[Batch](10)
    layer = NetworkIO(
        remote=Remote(host="127.0.0.1", port=port, proto="udp"),
        to_above=up_send,
        from_above=down_recv,
    )
    with pytest.raises(ServerUnreachable, match="unreachable"), one_error():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(layer.run)
            await down_send.send([b"hello"])
            _, client = await peer.recvfrom(100)
            await peer.sendto(b"reply", client)
            await up_recv.receive()
            heard = trio.current_time()
            peer.close()  # the server is gone
            # keep sending like a keepalive would: one refused send is no verdict yet
            for _ in range(5):
                await trio.sleep(0.5)
                await down_send.send([b"ping"])
                await trio.sleep(0.01)  # let the error be read before the next send
            await trio.sleep(10)
            pytest.fail("the layer did not end")
    # 2 s after the server's last packet, the errors (one per send) being 3 or more by then
    assert trio.current_time() == pytest.approx(heard + 2.0, abs=0.02)
    assert layer.statistics().drops["icmp-port-unreachable"] >= 3

