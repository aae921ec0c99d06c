"""controlchannel: control packets on the wire <-> ``ReliablePacket`` for the reliable layer.

How this works: the up worker hands each control packet from the packetmuxer to the core
(``core/controlchannel/channel.py``: unwrap tls-auth/tls-crypt, replay check, decode, session-id
checks) and passes the result up; anything that fails is dropped and counted by reason, never
raised — a forged or replayed packet must not end the session. The down worker encodes and
wraps what the reliable layer sends. Both directions are low-rate and one packet per message.

Dynamic tls-crypt (docs §3.10): the tlssession sends the key on ``from_tls`` when key
id 0's data keys are made. Both workers take what is there (never waiting) before each packet:
the key is sent before any key id > 0 message exists, so no packet can miss it.
"""

from __future__ import annotations

import attrs
import trio

from vpnstack.core.controlchannel.channel import ControlChannelCore
from vpnstack.core.shared.drops import DropCounter
from vpnstack.errors import RemoteProtocolError
from vpnstack.messages import DynamicTlsCryptKey, ReliablePacket


@attrs.frozen
class ControlChannelStatistics:
    """Counters of the controlchannel."""

    packets_in: int
    """Authentic control packets passed up."""
    packets_out: int
    """Control packets wrapped and sent down."""
    drops: dict[str, int]
    """Packets dropped, by reason (bad HMAC, replay, foreign session, malformed...)."""
    dynamic_tls_crypt: bool = False
    """Key ids > 0 are wrapped with dynamic tls-crypt (docs §3.10)."""


class ControlChannel:
    """Control packet codec and tls-auth / tls-crypt wrapping."""

    name = "controlchannel"

    def __init__(
        self,
        *,
        core: ControlChannelCore,
        from_below: trio.MemoryReceiveChannel[bytes],
        to_below: trio.MemorySendChannel[bytes],
        from_above: trio.MemoryReceiveChannel[ReliablePacket],
        to_above: trio.MemorySendChannel[ReliablePacket],
        from_tls: trio.MemoryReceiveChannel[DynamicTlsCryptKey] | None = None,
    ) -> None:
        self._core = core
        self._from_tls = from_tls
        self._from_below = from_below
        self._to_below = to_below
        self._from_above = from_above
        self._to_above = to_above
        self._drops = DropCounter()
        self._packets_in = self._packets_out = 0

    def statistics(self) -> ControlChannelStatistics:
        """A snapshot of this layer's counters."""
        return ControlChannelStatistics(
            packets_in=self._packets_in,
            packets_out=self._packets_out,
            drops=self._drops.snapshot(),
            dynamic_tls_crypt=self._core.dynamic_tls_crypt,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the up and down workers."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._up)
            nursery.start_soon(self._down)
            task_status.started()

    def _take_keys(self) -> None:
        """Install a dynamic tls-crypt key the tlssession has sent, if any (never waits)."""
        if self._from_tls is None:
            return
        while True:
            try:
                item = self._from_tls.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            self._core.install_dynamic_tls_crypt(item.key)

    async def _up(self) -> None:
        async with self._to_above:
            async for wire in self._from_below:
                self._take_keys()
                try:
                    packet = self._core.decode(wire, trio.current_time())
                except RemoteProtocolError as exc:
                    self._drops.drop(exc.reason)
                    continue
                self._packets_in += 1
                await self._to_above.send(packet)

    async def _down(self) -> None:
        async with self._to_below:
            async for packet in self._from_above:
                self._take_keys()
                wire = self._core.encode(packet)
                self._packets_out += 1
                await self._to_below.send(wire)
