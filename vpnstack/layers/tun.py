"""tun: the user-facing end of the stack, where IP packets enter and leave.

How this works: the layer moves batches between the datachannel and an *endpoint*. Two kinds
of endpoint share one interface (``TunEndpoint``):

* ``UserspaceEndpoint`` (here): the public ``Tunnel`` API. ``tunnel.send`` puts one IP packet
  on a channel; ``read_batch`` waits for one and then drains whatever else is already queued
  (up to ``BATCH_CAP``) so the layers below see batches. Packets for the application wait on a
  bounded queue; if the application does not read, the newest are dropped and counted, like a
  full interface queue — a slow reader must never stall the control channel below.
* a kernel TUN device (``vpnstack-client``), reading and writing a file descriptor in batches.
"""

from __future__ import annotations

from typing import Protocol

import attrs
import trio

from vpnstack.core.shared.drops import DropCounter, DropReason
from vpnstack.messages import Batch

BATCH_CAP = 64
"""Most packets taken from the endpoint into one batch."""


class TunEndpoint(Protocol):
    """Where IP packets come from and go to."""

    async def read_batch(self) -> Batch:
        """Wait for at least one packet; raise ``trio.EndOfChannel`` when the source closed."""
        ...

    async def write_batch(self, batch: Batch) -> None:
        """Deliver packets (dropping and counting if the consumer is too slow)."""
        ...

    def drops(self) -> dict[str, int]:
        """Packets dropped at the endpoint, by reason."""
        ...


class UserspaceEndpoint:
    """The endpoint behind ``Tunnel.send`` / ``Tunnel.receive``."""

    def __init__(
        self,
        *,
        from_app: trio.MemoryReceiveChannel[bytes],
        to_app: trio.MemorySendChannel[bytes],
    ) -> None:
        self._from_app = from_app
        self._to_app = to_app
        self._drops = DropCounter()

    async def read_batch(self) -> Batch:
        """One packet from the application, plus whatever else is already queued."""
        batch = [await self._from_app.receive()]
        while len(batch) < BATCH_CAP:
            try:
                batch.append(self._from_app.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        return batch

    async def write_batch(self, batch: Batch) -> None:
        """Queue packets for ``Tunnel.receive``; drop what does not fit."""
        for packet in batch:
            try:
                self._to_app.send_nowait(packet)
            except trio.WouldBlock:
                self._drops.drop(DropReason.APPLICATION_NOT_READING)
            except trio.BrokenResourceError:
                self._drops.drop(DropReason.APPLICATION_CLOSED)
        await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """Tell the application that no more packets will come."""
        self._to_app.close()

    def drops(self) -> dict[str, int]:
        """Packets dropped at the endpoint, by reason."""
        return self._drops.snapshot()


@attrs.frozen
class TunStatistics:
    """Counters of the tun layer."""

    packets_up: int
    """IP packets delivered to the endpoint."""
    batches_up: int
    """Batches delivered to the endpoint."""
    packets_down: int
    """IP packets taken from the endpoint."""
    batches_down: int
    """Batches taken from the endpoint."""
    drops: dict[str, int]
    """Packets dropped, by reason."""


class Tun:
    """The tun layer service around one endpoint."""

    name = "tun"

    def __init__(
        self,
        *,
        endpoint: TunEndpoint,
        from_below: trio.MemoryReceiveChannel[Batch],
        to_below: trio.MemorySendChannel[Batch],
    ) -> None:
        self._endpoint = endpoint
        self._from_below = from_below
        self._to_below = to_below
        self._packets_up = self._packets_down = self._batches_down = self._batches_up = 0

    def statistics(self) -> TunStatistics:
        """A snapshot of this layer's counters."""
        return TunStatistics(
            packets_up=self._packets_up,
            batches_up=self._batches_up,
            packets_down=self._packets_down,
            batches_down=self._batches_down,
            drops=self._endpoint.drops(),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the up and down workers."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._up)
            nursery.start_soon(self._down)
            task_status.started()

    async def _up(self) -> None:
        async for batch in self._from_below:
            self._packets_up += len(batch)
            self._batches_up += 1
            await self._endpoint.write_batch(batch)

    async def _down(self) -> None:
        async with self._to_below:
            while True:
                try:
                    batch = await self._endpoint.read_batch()
                except trio.EndOfChannel:
                    return
                self._batches_down += 1
                self._packets_down += len(batch)
                await self._to_below.send(batch)
