"""packetmuxer: splits the datagram stream into control and data, and merges them back.

How this works: the up worker takes batches of datagrams from networkio and looks only at each
packet's first byte (``core/packetmuxer/muxer.py``): control packets go one by one to the
controlchannel (blocking: the control path never drops for lack of room), data packets are regrouped
into one batch for the datachannel. Malformed and foreign packets (packets a server never sends to
a client) are dropped and counted. Two down workers forward what the controlchannel and the
datachannel send, each through its own clone of the channel to networkio, so the networkio
side ends only when both have finished.
"""

from __future__ import annotations

import attrs
import trio

from vpnstack.core.packetmuxer.muxer import Destination, classify
from vpnstack.core.shared.drops import DropCounter
from vpnstack.errors import RemoteProtocolError
from vpnstack.messages import Batch


@attrs.frozen
class MuxerStatistics:
    """Counters of the packetmuxer."""

    control_in: int
    """Control packets passed up."""
    data_in: int
    """Data packets passed up."""
    control_out: int
    """Control packets passed down."""
    data_out: int
    """Data packets passed down."""
    drops: dict[str, int]
    """Packets dropped, by reason."""


class PacketMuxer:
    """Demultiplexes control vs data on the way up; merges them on the way down."""

    name = "packetmuxer"

    def __init__(
        self,
        *,
        from_below: trio.MemoryReceiveChannel[Batch],
        to_below: trio.MemorySendChannel[Batch],
        control_to_above: trio.MemorySendChannel[bytes],
        control_from_above: trio.MemoryReceiveChannel[bytes],
        data_to_above: trio.MemorySendChannel[Batch],
        data_from_above: trio.MemoryReceiveChannel[Batch],
    ) -> None:
        self._from_below = from_below
        self._to_below = to_below
        self._control_to_above = control_to_above
        self._control_from_above = control_from_above
        self._data_to_above = data_to_above
        self._data_from_above = data_from_above
        self._drops = DropCounter()
        self._control_in = self._data_in = self._control_out = self._data_out = 0

    def statistics(self) -> MuxerStatistics:
        """A snapshot of this layer's counters."""
        return MuxerStatistics(
            control_in=self._control_in,
            data_in=self._data_in,
            control_out=self._control_out,
            data_out=self._data_out,
            drops=self._drops.snapshot(),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the up worker and the two down workers."""
        # Each down worker owns a clone; the original is closed at once, so networkio sees
        # the end of the channel exactly when both down paths have ended.
        with self._to_below:
            control_down, data_down = self._to_below.clone(), self._to_below.clone()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._up)
            nursery.start_soon(self._control_down, control_down)
            nursery.start_soon(self._data_down, data_down)
            task_status.started()

    async def _up(self) -> None:
        async with self._control_to_above, self._data_to_above:
            async for batch in self._from_below:
                data: Batch = []
                for datagram in batch:
                    try:
                        destination = classify(datagram)
                    except RemoteProtocolError as exc:
                        self._drops.drop(exc.reason)
                        continue
                    if destination is Destination.DATA:
                        data.append(datagram)
                    else:
                        self._control_in += 1
                        await self._control_to_above.send(datagram)
                if data:
                    self._data_in += len(data)
                    await self._data_to_above.send(data)

    async def _control_down(self, to_below: trio.MemorySendChannel[Batch]) -> None:
        async with to_below:
            async for packet in self._control_from_above:
                self._control_out += 1
                await to_below.send([packet])

    async def _data_down(self, to_below: trio.MemorySendChannel[Batch]) -> None:
        async with to_below:
            async for batch in self._data_from_above:
                self._data_out += len(batch)
                await to_below.send(batch)
