"""networkio alone, against a UDP peer on loopback run by the test."""

from __future__ import annotations

import socket

import pytest
import trio

from vpnstack.config import Remote
from vpnstack.errors import NetworkError
from vpnstack.layers.networkio import NetworkIO
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
    with trio.fail_after(5):
        await down_send.send([b"by name"])
        assert (await peer.recvfrom(100))[0] == b"by name"
    peer.close()
