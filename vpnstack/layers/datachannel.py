"""datachannel: encrypts IP packets for the server and decrypts the server's data packets.

How this works: four workers share one sans-I/O core (``core/datachannel/channel.py``) — trio runs
them on one thread and none awaits in the middle of a core call, so no lock is needed:

* keys: applies ``KeepaliveSettings`` and ``DataKeys`` from the tlssession, and reports
  ``DATA_KEYS_READY`` once it can send;
* up: batches from the packetmuxer -> decrypt -> batches of IP packets for the tun layer;
* down: batches of IP packets from the tun layer -> encrypt -> batches for the packetmuxer;
  both take, with the batch they wait for, the batches already queued behind it (up to
  ``MERGE_CAP`` packets), so a layer that fell behind catches up with one core call and
  one send instead of one per batch;
* keepalive: sleeps until the core's next timer, sends the pings it asks for, and lets its
  ``KeepaliveTimeout`` end the stack; the same timer forgets the lame-duck key when its
  tran-window is over (docs §5.7).

* exit: on ``SendOccExit`` from the application (the tunnel closing with explicit-exit-notify
  and no cc-exit), seals the OCC EXIT message (§6.5, §6.6) like any payload, hands it to the
  packetmuxer, and answers ``OccExitSent`` once it is handed down, so the tunnel closes on
  that answer rather than after a guessed delay.

After every batch the core's renegotiation requests (reneg-bytes, reneg-pkts, packet id 0xFF000000;
``core/datachannel/keyring.py``) go to the tlssession on ``to_tls``, never blocking: that channel is
unbounded and carries at most one request per key.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator

import attrs
import trio

from vpnstack.core.datachannel.channel import DataChannelCore, InstalledKey
from vpnstack.core.datachannel.crypto import OCC_EXIT
from vpnstack.core.datachannel.keyring import KeyRing
from vpnstack.layers.base import Notify, ignore_notifications
from vpnstack.messages import (
    Batch,
    DataChannelCommand,
    DataKeys,
    OccExitSent,
    RenegotiationRequest,
    SendOccExit,
    Stage,
    StateChange,
)
from vpnstack.settings import DataChannelSettings

MERGE_CAP = 256
"""Most packets one core call takes when batches queue up before the datachannel."""


def _with_queued(batch: Batch, channel: trio.MemoryReceiveChannel[Batch]) -> Batch:
    """``batch`` plus the batches already waiting on ``channel`` (up to ``MERGE_CAP`` packets).

    One core call and one send up or down for all of them: fewer scheduler ticks per hop when
    the layer falls behind, and no extra wait when it does not. The batches are not modified.
    """
    merged: Batch | None = None
    while len(batch if merged is None else merged) < MERGE_CAP:
        try:
            more = channel.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            break
        if merged is None:
            merged = list(batch)
        merged.extend(more)
    return batch if merged is None else merged


@attrs.frozen
class DataChannelStatistics:
    """Counters of the datachannel."""

    cipher: str | None
    """The data cipher in use."""
    packets_sealed: int
    """IP packets encrypted and sent (pings included)."""
    packets_opened: int
    """IP packets decrypted and passed up (pings excluded)."""
    packets_in: int
    """Data packets received from below (before authentication)."""
    batches_opened: int
    """Batches of data packets received from below."""
    batches_sealed: int
    """Batches encrypted and sent down."""
    pings_sent: int
    """Keepalive pings sent."""
    pings_received: int
    """Keepalive pings received."""
    drops: dict[str, int]
    """Packets dropped, by reason."""


class DataChannel:
    """The data channel service."""

    name = "datachannel"

    def __init__(
        self,
        *,
        from_below: trio.MemoryReceiveChannel[Batch],
        to_below: trio.MemorySendChannel[Batch],
        from_above: trio.MemoryReceiveChannel[Batch],
        to_above: trio.MemorySendChannel[Batch],
        from_tls: trio.MemoryReceiveChannel[DataChannelCommand],
        notify: Notify = ignore_notifications,
        to_tls: trio.MemorySendChannel[RenegotiationRequest] | None = None,
        from_app: trio.MemoryReceiveChannel[SendOccExit] | None = None,
        to_app: trio.MemorySendChannel[OccExitSent] | None = None,
        settings: DataChannelSettings | None = None,
    ) -> None:
        settings = settings if settings is not None else DataChannelSettings()
        self._from_below = from_below
        self._to_below = to_below
        self._from_above = from_above
        self._to_above = to_above
        self._from_tls = from_tls
        self._notify = notify
        self._to_tls = to_tls
        self._from_app = from_app
        self._to_app = to_app
        self._core = DataChannelCore(
            KeyRing[InstalledKey](
                tran_window=settings.tran_window,
                hand_window=settings.hand_window,
                reneg_sec=settings.reneg_sec,
                reneg_bytes=settings.reneg_bytes,
                reneg_pkts=settings.reneg_pkts,
            )
        )
        self._timer_changed = trio.Event()

    def statistics(self) -> DataChannelStatistics:
        """A snapshot of this layer's counters."""
        core = self._core
        return DataChannelStatistics(
            cipher=core.cipher,
            packets_sealed=core.packets_sealed,
            packets_opened=core.packets_opened,
            packets_in=core.packets_in,
            batches_opened=core.batches_opened,
            batches_sealed=core.batches_sealed,
            pings_sent=core.pings_sent,
            pings_received=core.pings_received,
            drops=core.drops.snapshot(),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the keys, up, down, keepalive and exit workers."""
        with self._to_below:  # the workers below each own a clone
            data_down, pings_down = self._to_below.clone(), self._to_below.clone()
            exit_down = self._to_below.clone()
        async with self._closing_to_tls(), trio.open_nursery() as nursery:
            nursery.start_soon(self._keys)
            nursery.start_soon(self._up)
            nursery.start_soon(self._down, data_down)
            nursery.start_soon(self._keepalive, pings_down)
            nursery.start_soon(self._exit, exit_down)
            task_status.started()

    @contextlib.asynccontextmanager
    async def _closing_to_tls(self) -> AsyncIterator[None]:
        if self._to_tls is None:
            yield
            return
        async with self._to_tls:
            yield

    def _forward_requests(self) -> None:
        """Hand the core's renegotiation requests to the tlssession (never blocks)."""
        requests = self._core.take_renegotiation_requests()
        if self._to_tls is None:
            return
        for request in requests:
            # The tlssession is gone, or (never) full: nothing to renegotiate then.
            with contextlib.suppress(
                trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
            ):
                self._to_tls.send_nowait(request)

    def _wake_timer(self) -> None:
        self._timer_changed.set()
        self._timer_changed = trio.Event()

    async def _keys(self) -> None:
        async for command in self._from_tls:
            now = trio.current_time()
            if isinstance(command, DataKeys):
                self._core.install_keys(command, now)
                self._notify(
                    StateChange(self.name, Stage.DATA_KEYS_READY, f"{command.cipher}")
                )
            else:
                self._core.set_keepalive(command, now)
            self._wake_timer()

    async def _up(self) -> None:
        async with self._to_above:
            async for batch in self._from_below:
                batch = _with_queued(batch, self._from_below)
                opened = self._core.open(batch, trio.current_time())
                self._forward_requests()
                if opened:
                    await self._to_above.send(opened)

    async def _down(self, to_below: trio.MemorySendChannel[Batch]) -> None:
        async with to_below:
            async for batch in self._from_above:
                batch = _with_queued(batch, self._from_above)
                sealed = self._core.seal(batch, trio.current_time())
                self._forward_requests()
                if sealed:
                    await to_below.send(sealed)

    async def _keepalive(self, to_below: trio.MemorySendChannel[Batch]) -> None:
        async with to_below:
            while True:
                deadline = self._core.next_timer()
                changed = self._timer_changed
                with trio.move_on_at(math.inf if deadline is None else deadline):
                    await changed.wait()
                    continue
                pings = self._core.on_timer(trio.current_time())
                self._forward_requests()
                if pings:
                    await to_below.send(pings)

    async def _exit(self, to_below: trio.MemorySendChannel[Batch]) -> None:
        async with to_below:
            if self._from_app is None or self._to_app is None:
                return
            async with self._to_app:
                async for _request in self._from_app:
                    # §6.5/§6.6: an ordinary encrypted data payload, counted like the others.
                    sealed = self._core.seal([OCC_EXIT], trio.current_time())
                    self._forward_requests()
                    if sealed:
                        await to_below.send(sealed)
                    with contextlib.suppress(
                        trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
                    ):
                        self._to_app.send_nowait(OccExitSent(sent=bool(sealed)))
