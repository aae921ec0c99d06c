"""datachannel across a rekey, at exact times (autojump_clock): which key sends (the stock
rule), the lame duck accepted until tran-window and dropped after, and the renegotiation
request sent to the tlssession (docs §5.7)."""

from __future__ import annotations

import os

import trio
import trio.testing

from tests.layers.test_datachannel import random_keys
from vpnstack.core.datachannel.crypto import DataChannelCrypto
from vpnstack.layers.datachannel import DataChannel
from vpnstack.messages import Batch, DataChannelCommand, RenegotiationRequest
from vpnstack.settings import DataChannelSettings


class Harness:
    def __init__(self, settings: DataChannelSettings) -> None:
        self.net_in, from_below = trio.open_memory_channel[Batch](10)
        to_below, self.net_out = trio.open_memory_channel[Batch](10)
        self.ip_in, from_above = trio.open_memory_channel[Batch](10)
        to_above, self.ip_out = trio.open_memory_channel[Batch](10)
        self.keys_in, from_tls = trio.open_memory_channel[DataChannelCommand](10)
        to_tls, self.requests = trio.open_memory_channel[RenegotiationRequest](10)
        self.layer = DataChannel(
            from_below=from_below, to_below=to_below, from_above=from_above,
            to_above=to_above, from_tls=from_tls, to_tls=to_tls, settings=settings,
        )

    async def key_ids_sent(self, n: int = 1) -> list[int]:
        await self.ip_in.send([os.urandom(40) for _ in range(n)])
        return [p[0] & 7 for p in await self.net_out.receive()]


async def test_sending_key_follows_the_stock_rule_and_the_lame_duck_dies_at_tran_window(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # deferred-auth window min(hand-window 10, reneg-sec 3600 / 2) = 10 s; tran-window 30 s.
    h = Harness(DataChannelSettings(tran_window=30.0, hand_window=10.0, reneg_sec=3600.0))
    await nursery.start(h.layer.run)
    t0 = trio.current_time()
    key0, key1 = random_keys(key_id=0), random_keys(key_id=1)
    server0 = DataChannelCrypto(key0, role="server")
    server1 = DataChannelCrypto(key1, role="server")
    await h.keys_in.send(key0)
    assert await h.key_ids_sent() == [0]

    await trio.sleep_until(t0 + 100.0)
    await h.keys_in.send(key1)
    await trio.testing.wait_all_tasks_blocked()
    # Key 1 is inside its window, key 0 is past its own: key 0 keeps sending ...
    assert await h.key_ids_sent(2) == [0, 0]
    await trio.sleep_until(t0 + 109.999)
    assert await h.key_ids_sent() == [0]
    # ... until key 1's window is over.
    await trio.sleep_until(t0 + 110.0)
    assert await h.key_ids_sent() == [1]

    # Both keys decrypt until the lame duck's tran-window (30 s after key 1 came) is over.
    await trio.sleep_until(t0 + 129.9)
    await h.net_in.send([server0.encrypt(b"late on key 0"), server1.encrypt(b"on key 1")])
    assert await h.ip_out.receive() == [b"late on key 0", b"on key 1"]
    await trio.sleep_until(t0 + 130.0)
    await h.net_in.send([server0.encrypt(b"too late"), server1.encrypt(b"still fine")])
    assert await h.ip_out.receive() == [b"still fine"]
    assert h.layer.statistics().drops == {"unknown-key-id": 1}


async def test_reneg_pkts_request_reaches_the_tlssession_once(nursery: trio.Nursery) -> None:
    h = Harness(DataChannelSettings(reneg_pkts=5))
    await nursery.start(h.layer.run)
    key0 = random_keys(key_id=0)
    server0 = DataChannelCrypto(key0, role="server")
    await h.keys_in.send(key0)
    assert await h.key_ids_sent(3) == [0, 0, 0]
    await trio.testing.wait_all_tasks_blocked()
    assert h.requests.statistics().current_buffer_used == 0
    # Received packets count too: 3 sent + 2 received = 5 (reneg-pkts counts both ways).
    await h.net_in.send([server0.encrypt(b"a"), server0.encrypt(b"b")])
    await h.ip_out.receive()
    assert await h.requests.receive() == RenegotiationRequest(0, "reneg-pkts 5")
    assert await h.key_ids_sent(10) == [0] * 10
    await trio.testing.wait_all_tasks_blocked()
    assert h.requests.statistics().current_buffer_used == 0  # only once per key
