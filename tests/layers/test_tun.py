"""tun layer alone, with the userspace endpoint behind the public Tunnel API."""

from __future__ import annotations

import trio
import trio.testing

from vpnstack.layers.tun import BATCH_CAP, Tun, UserspaceEndpoint
from vpnstack.messages import Batch


def make(app_buffer: int = 8) -> tuple[Tun, dict[str, object]]:
    app_send, from_app = trio.open_memory_channel[bytes](1000)
    to_app, app_recv = trio.open_memory_channel[bytes](app_buffer)
    data_send, from_below = trio.open_memory_channel[Batch](10)
    to_below, data_recv = trio.open_memory_channel[Batch](10)
    tun = Tun(
        endpoint=UserspaceEndpoint(from_app=from_app, to_app=to_app),
        from_below=from_below,
        to_below=to_below,
    )
    return tun, {"app_send": app_send, "app_recv": app_recv, "data_send": data_send,
                 "data_recv": data_recv}


async def test_application_packets_are_batched_up_to_the_cap(nursery: trio.Nursery) -> None:
    tun, ch = make()
    app_send = ch["app_send"]
    data_recv = ch["data_recv"]
    assert isinstance(app_send, trio.MemorySendChannel)
    assert isinstance(data_recv, trio.MemoryReceiveChannel)
    packets = [bytes([i % 256]) * 20 for i in range(BATCH_CAP + 10)]
    for packet in packets:  # queued before the layer runs: drained as batches
        app_send.send_nowait(packet)
    await nursery.start(tun.run)
    first = await data_recv.receive()
    second = await data_recv.receive()
    assert first == packets[:BATCH_CAP]
    assert second == packets[BATCH_CAP:]
    assert tun.statistics().batches_down == 2
    assert (tun.statistics().packets_up, tun.statistics().batches_up) == (0, 0)


async def test_slow_application_loses_newest_packets_not_the_stack(
    nursery: trio.Nursery,
) -> None:
    tun, ch = make(app_buffer=4)
    data_send = ch["data_send"]
    app_recv = ch["app_recv"]
    assert isinstance(data_send, trio.MemorySendChannel)
    assert isinstance(app_recv, trio.MemoryReceiveChannel)
    await nursery.start(tun.run)
    batch = [bytes([i]) for i in range(10)]
    with trio.fail_after(1):  # never blocks on a reader that does not read
        await data_send.send(batch)
        await data_send.send([b"later"])
        await trio.testing.wait_all_tasks_blocked()
    received = [app_recv.receive_nowait() for _ in range(4)]
    assert received == batch[:4]
    stats = tun.statistics()
    assert stats.drops == {"application-not-reading": 7}
    assert stats.packets_up == 11
