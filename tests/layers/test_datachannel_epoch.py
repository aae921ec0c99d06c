"""datachannel with 2.7 epoch data keys (docs §6.9), talking to a server-role peer.

Our side is the real datachannel service fed ``DataKeys(epoch=True)``; the peer is the
server-role view of the same keys with low limits (a counter limit of a few packets), so
that a handful of packets crosses several epoch changes. The epoch and counter of each
packet are read straight from the §6.9 layout.
"""

from __future__ import annotations

import os

import trio
import trio.testing

from vpnstack.core.datachannel.epoch import EpochDataCrypto
from vpnstack.layers.datachannel import DataChannel
from vpnstack.messages import Batch, DataChannelCommand, DataKeys, Stage, StateChange


def epoch_keys(cipher: str = "AES-256-GCM") -> DataKeys:
    return DataKeys(
        key_id=1, cipher=cipher, encrypt_key=os.urandom(32), decrypt_key=os.urandom(32),
        encrypt_implicit_iv=b"", decrypt_implicit_iv=b"", peer_id=0x123, epoch=True,
    )


def pid_of(packet: bytes) -> tuple[int, int]:
    """(epoch, counter) from ``[hdr 4][epoch 16 bits || counter 48 bits]``."""
    value = int.from_bytes(packet[4:12], "big")
    return value >> 48, value & (2**48 - 1)


class Harness:
    def __init__(self) -> None:
        self.events: list[StateChange] = []
        self.net_in, from_below = trio.open_memory_channel[Batch](10)
        to_below, self.net_out = trio.open_memory_channel[Batch](10)
        self.ip_in, from_above = trio.open_memory_channel[Batch](10)
        to_above, self.ip_out = trio.open_memory_channel[Batch](10)
        self.keys_in, from_tls = trio.open_memory_channel[DataChannelCommand](10)
        self.layer = DataChannel(
            from_below=from_below, to_below=to_below, from_above=from_above,
            to_above=to_above, from_tls=from_tls, notify=self.events.append,
        )

    async def up(self, packets: list[bytes]) -> Batch:
        """Hand the server's packets to the layer; what reaches the tun (maybe nothing)."""
        await self.net_in.send(packets)
        await trio.testing.wait_all_tasks_blocked()
        try:
            return self.ip_out.receive_nowait()
        except trio.WouldBlock:
            return []

    async def down(self, payloads: list[bytes]) -> Batch:
        """IP packets from the tun; the data packets the layer sends for them."""
        await self.ip_in.send(payloads)
        return await self.net_out.receive()


async def test_traffic_across_several_epoch_changes_with_our_send_epoch_following(
    nursery: trio.Nursery,
) -> None:
    h = Harness()
    await nursery.start(h.layer.run)
    keys = epoch_keys("CHACHA20-POLY1305")
    server = EpochDataCrypto(keys, role="server", max_counter=3)
    await h.keys_in.send(keys)
    await trio.testing.wait_all_tasks_blocked()
    assert [e.stage for e in h.events] == [Stage.DATA_KEYS_READY]

    ours: list[tuple[int, int]] = []
    theirs: list[tuple[int, int]] = []
    for round_ in range(8):
        down = [f"server {round_} {n}".encode() for n in range(2)]
        wires = server.encrypt_batch(down)
        theirs += [pid_of(w) for w in wires]
        assert await h.up(wires) == down
        up = [os.urandom(60) for _ in range(3)]
        sealed = await h.down(up)
        assert [server.decrypt(p, 0.0) for p in sealed] == up
        ours += [pid_of(p) for p in sealed]
        # §6.9: after an authenticated packet in a higher epoch, we send in that epoch.
        assert ours[-3][0] == theirs[-1][0]
    # The server moved every 3 packets: 16 packets = epochs 1..6 ...
    assert theirs[-1] == (6, 1)
    # ... and our counter restarted at 1 in each epoch we followed it into.
    assert ours[:6] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert ours[-3:] == [(6, 1), (6, 2), (6, 3)]
    assert server.recv_epoch == 6
    stats = h.layer.statistics()
    assert (stats.packets_opened, stats.packets_sealed, stats.drops) == (16, 24, {})


async def test_retiring_epoch_accepted_five_ahead_rejected_replay_per_epoch(
    nursery: trio.Nursery,
) -> None:
    h = Harness()
    await nursery.start(h.layer.run)
    keys = epoch_keys()
    await h.keys_in.send(keys)
    # One server view sends two packets per epoch, another one packet per epoch.
    server = EpochDataCrypto(keys, role="server", max_counter=2)
    e1c1, e1c2, e2c1, e2c2 = server.encrypt_batch([b"1.1", b"1.2", b"2.1", b"2.2"])
    assert [pid_of(p) for p in (e1c1, e1c2, e2c1, e2c2)] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    fast = EpochDataCrypto(keys, role="server", max_counter=1)
    by_epoch = {pid_of(p)[0]: p for p in fast.encrypt_batch([b"fast"] * 7)}

    sent: list[bytes] = []
    assert await h.up([e1c1, e2c1]) == [b"1.1", b"2.1"]  # epoch 2 current, 1 retiring
    sent += await h.down([b"a"])
    assert pid_of(sent[-1]) == (2, 1)
    # A late packet of the retiring epoch still arrives; replays in either epoch do not.
    assert await h.up([e1c2, e1c1, e2c1, e2c2]) == [b"1.2", b"2.2"]
    assert h.layer.statistics().drops == {"replay-duplicate": 2}
    # Epoch 7 is 5 ahead of epoch 2: refused. Epoch 6 (4 ahead) is accepted and current.
    assert await h.up([by_epoch[7]]) == []
    assert await h.up([by_epoch[6]]) == [b"fast"]
    sent += await h.down([b"b"])
    assert pid_of(sent[-1]) == (6, 1)
    # Now epoch 2 retires and 1 is gone; epoch 7 is within reach.
    assert await h.up([e1c2, by_epoch[7]]) == [b"fast"]
    assert h.layer.statistics().drops == {"replay-duplicate": 2, "unknown-epoch": 2}
    sent += await h.down([b"c", b"d"])
    assert [pid_of(p) for p in sent] == [(2, 1), (6, 1), (7, 1), (7, 2)]
    # The server view reads all of it in order, following our epochs with its own windows.
    assert [server.decrypt(p, 0.0) for p in sent] == [b"a", b"b", b"c", b"d"]
    assert server.recv_epoch == 7
