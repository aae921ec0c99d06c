"""datachannel alone: keys from tlssession, a server-role peer, keepalive on exact times."""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing

from vpnstack.core.datachannel.crypto import OCC_EXIT, PING_PAYLOAD, DataChannelCrypto
from vpnstack.errors import KeepaliveTimeout
from vpnstack.layers.datachannel import DataChannel
from vpnstack.messages import (
    Batch,
    DataChannelCommand,
    DataKeys,
    KeepaliveSettings,
    OccExitSent,
    SendOccExit,
    Stage,
    StateChange,
)


def random_keys(cipher: str = "AES-256-GCM", key_id: int = 0, peer_id: int | None = 7) -> DataKeys:
    klen = 16 if cipher == "AES-128-GCM" else 32
    return DataKeys(
        key_id=key_id, cipher=cipher,
        encrypt_key=os.urandom(klen), decrypt_key=os.urandom(klen),
        encrypt_implicit_iv=os.urandom(8), decrypt_implicit_iv=os.urandom(8),
        peer_id=peer_id,
    )


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


@pytest.mark.parametrize("cipher", ["AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305"])
async def test_packets_both_ways_through_the_server_view_of_the_keys(
    nursery: trio.Nursery, cipher: str
) -> None:
    h = Harness()
    await nursery.start(h.layer.run)
    keys = random_keys(cipher)
    server = DataChannelCrypto(keys, role="server")
    await h.keys_in.send(keys)
    await trio.testing.wait_all_tasks_blocked()
    assert [e.stage for e in h.events] == [Stage.DATA_KEYS_READY]
    packets = [os.urandom(n) for n in (20, 60, 1400)]
    await h.ip_in.send(packets)
    sealed = await h.net_out.receive()
    assert [server.decrypt(p, 0.0) for p in sealed] == packets
    assert all(p[0] == (9 << 3) and p[1:4] == b"\x00\x00\x07" for p in sealed)  # P_DATA_V2
    replies = [os.urandom(40), PING_PAYLOAD, os.urandom(80)]
    await h.net_in.send([server.encrypt(p) for p in replies])
    assert await h.ip_out.receive() == [replies[0], replies[2]]  # the ping is swallowed
    stats = h.layer.statistics()
    assert (stats.cipher, stats.packets_sealed, stats.packets_opened, stats.pings_received) == (
        cipher, 3, 2, 1)
    assert (stats.packets_in, stats.batches_opened, stats.batches_sealed) == (3, 1, 1)


async def test_forged_replayed_and_unknown_key_packets_are_dropped(
    nursery: trio.Nursery,
) -> None:
    h = Harness()
    await nursery.start(h.layer.run)
    keys = random_keys()
    server = DataChannelCrypto(keys, role="server")
    await h.keys_in.send(keys)
    good = server.encrypt(b"good packet")
    forged = bytearray(server.encrypt(b"forged"))
    forged[-1] ^= 0x80
    other_key = DataChannelCrypto(random_keys(key_id=3), role="server").encrypt(b"k3")
    await h.net_in.send([bytes(forged), good, good, other_key, server.encrypt(b"last")])
    assert await h.ip_out.receive() == [b"good packet", b"last"]
    assert h.layer.statistics().drops == {
        "auth-failed": 1, "replay-duplicate": 1, "unknown-key-id": 1}


async def test_keepalive_pings_on_time_and_ping_restart_fails_the_layer(
    autojump_clock: trio.abc.Clock,
) -> None:
    h = Harness()
    keys = random_keys()
    server = DataChannelCrypto(keys, role="server")
    start = trio.current_time()
    with pytest.RaisesGroup(
        pytest.RaisesExc(KeepaliveTimeout, match="ping-restart"), flatten_subgroups=True
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(h.layer.run)
            await h.keys_in.send(KeepaliveSettings(ping=10, ping_restart=60))
            await h.keys_in.send(keys)
            ping_times = []
            for _ in range(3):
                batch = await h.net_out.receive()
                assert [server.decrypt(p, 0.0) for p in batch] == [PING_PAYLOAD]
                ping_times.append(trio.current_time() - start)
            assert ping_times == [10, 20, 30]
            # Sending data postpones the next ping: it comes 10 s after the last send.
            await trio.sleep(5)
            await h.ip_in.send([b"data"])
            await h.net_out.receive()
            await h.net_in.send([server.encrypt(b"alive")])  # restarts the 60 s clock
            await h.ip_out.receive()
            heard = trio.current_time() - start
            batch = await h.net_out.receive()
            assert trio.current_time() - start == 45
            async for _ in h.net_out:  # pings continue until the restart timer fires
                pass
    assert trio.current_time() - start == pytest.approx(heard + 60)
    assert h.layer.statistics().pings_sent >= 7


async def test_occ_exit_is_a_command_answered_once_handed_down(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # §6.5/§6.6: SendOccExit -> one sealed OCC EXIT packet down, then OccExitSent; no sleep.
    events: list[StateChange] = []
    net_in, from_below = trio.open_memory_channel[Batch](10)
    to_below, net_out = trio.open_memory_channel[Batch](0)  # handed down = taken by the muxer
    _ip_in, from_above = trio.open_memory_channel[Batch](10)
    to_above, _ip_out = trio.open_memory_channel[Batch](10)
    keys_in, from_tls = trio.open_memory_channel[DataChannelCommand](10)
    exit_in, from_app = trio.open_memory_channel[SendOccExit](1)
    to_app, answers = trio.open_memory_channel[OccExitSent](1)
    layer = DataChannel(
        from_below=from_below, to_below=to_below, from_above=from_above, to_above=to_above,
        from_tls=from_tls, notify=events.append, from_app=from_app, to_app=to_app,
    )
    await nursery.start(layer.run)
    # Without a key there is nothing to seal it with: the answer says so, nothing goes down.
    await exit_in.send(SendOccExit())
    with trio.fail_after(1):
        assert await answers.receive() == OccExitSent(sent=False)
    keys = random_keys()
    server = DataChannelCrypto(keys, role="server")
    await keys_in.send(keys)
    await trio.testing.wait_all_tasks_blocked()
    start = trio.current_time()
    await exit_in.send(SendOccExit())
    await trio.testing.wait_all_tasks_blocked()
    with pytest.raises(trio.WouldBlock):
        answers.receive_nowait()  # not before the packet is taken by the layer below
    (packet,) = await net_out.receive()
    assert server.decrypt(packet, 0.0) == OCC_EXIT
    with trio.fail_after(1):
        assert await answers.receive() == OccExitSent(sent=True)
    assert trio.current_time() == start  # event-driven: no time passed
    assert layer.statistics().packets_sealed == 1
    await net_in.aclose()


async def test_queued_batches_are_merged_up_to_the_cap_without_touching_them() -> None:
    from vpnstack.layers.datachannel import MERGE_CAP, _with_queued

    send, receive = trio.open_memory_channel[list[bytes]](10)
    first = [b"a"] * 10
    assert _with_queued(first, receive) is first  # nothing queued: the same list
    queued = [[b"b"] * 100, [b"c"] * 200, [b"d"] * 5]
    for batch in queued:
        send.send_nowait(batch)
    merged = _with_queued(first, receive)
    assert merged == first + queued[0] + queued[1]  # stops once the cap is reached
    assert len(first + queued[0]) < MERGE_CAP <= len(merged)
    assert first == [b"a"] * 10 and queued[0] == [b"b"] * 100  # not modified
    assert receive.receive_nowait() == queued[2]
    send.close()
    assert _with_queued(first, receive) is first  # closed: what there was
