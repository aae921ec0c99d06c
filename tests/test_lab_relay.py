"""The lossy UDP relay of the lab, relaying to a tiny UDP echo server on loopback."""

from __future__ import annotations

import trio

from vpnstack.lab.relay import LossyRelay, RelayStatistics


async def echo_server(*, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
        await sock.bind(("127.0.0.1", 0))
        task_status.started(sock.getsockname()[1])
        while True:
            data, addr = await sock.recvfrom(65535)
            await sock.sendto(data, addr)


async def exchange(
    relay: LossyRelay, count: int, *, expect: int, quiet: float = 0.3
) -> tuple[list[bytes], RelayStatistics]:
    """Send ``count`` datagrams through the relay; collect replies until ``expect`` or quiet.

    ``quiet`` is real time: where every reply must come, callers give it room for a loaded
    machine (the loop ends as soon as ``expect`` replies are in).
    """
    received: list[bytes] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(echo_server)
            relay.target = ("127.0.0.1", port)
            host, relay_port = await nursery.start(relay.run)
            with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as client:
                await client.connect((host, relay_port))
                for i in range(count):
                    await client.send(b"%03d" % i)
                while len(received) < expect:
                    with trio.move_on_after(quiet) as scope:
                        received.append(await client.recv(65535))
                    if scope.cancelled_caught:
                        break
            nursery.cancel_scope.cancel()
    return received, relay.statistics()


async def test_passthrough() -> None:
    received, stats = await exchange(LossyRelay(("127.0.0.1", 9)), 20, expect=20, quiet=3.0)
    assert received == [b"%03d" % i for i in range(20)]
    assert stats == RelayStatistics(20, 20, 20, 20, 0, 0, 0, 0, 0)


async def test_drop_everything() -> None:
    received, stats = await exchange(LossyRelay(("127.0.0.1", 9), drop=1.0), 5, expect=1)
    assert received == []
    assert (stats.received_up, stats.dropped_up, stats.sent_up) == (5, 5, 0)


async def test_duplicate_both_directions() -> None:
    received, stats = await exchange(
        LossyRelay(("127.0.0.1", 9), duplicate=1.0), 3, expect=12, quiet=3.0
    )
    assert sorted(received) == sorted([b"000", b"001", b"002"] * 4)
    assert (stats.sent_up, stats.received_down, stats.sent_down) == (6, 6, 12)
    assert stats.duplicated == 3 + 6


async def test_seeded_drops_are_repeatable() -> None:
    runs = []
    for seed in (7, 7, 8):
        relay = LossyRelay(("127.0.0.1", 9), drop=0.5, seed=seed)
        received, stats = await exchange(relay, 50, expect=50, quiet=1.0)
        assert stats.received_up == 50
        assert stats.dropped_up + stats.sent_up == 50
        assert stats.received_down == stats.sent_up
        assert stats.dropped_down + stats.sent_down == stats.received_down
        assert len(received) == stats.sent_down
        runs.append(sorted(received))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert 0 < len(runs[0]) < 40


async def test_reorder() -> None:
    relay = LossyRelay(("127.0.0.1", 9), reorder=0.5, seed=3, reorder_delay=0.05)
    received, stats = await exchange(relay, 20, expect=20, quiet=3.0)
    sent = [b"%03d" % i for i in range(20)]
    assert sorted(received) == sent
    assert received != sent
    assert stats.reordered > 0
