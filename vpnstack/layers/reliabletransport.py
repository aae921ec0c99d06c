"""reliabletransport: message ids, acks, windows and retransmission on the control path.

How this works: the protocol lives in ``core/reliabletransport/reliable.py`` (``ReliableCore``,
docs §4); this service only moves items between four channels and the core, with four small
workers:

* **down** reads ``ControlMessage``s from tlssession and queues them in the core. It blocks
  (backpressure) while more than ``backlog_limit`` packets wait for their first transmission,
  so the control path never drops a message because a window is full;
* **up** reads ``ReliablePacket``s from controlchannel, lets the core apply acks and reorder,
  and puts the in-order messages in a small inbox (a malformed packet is dropped and counted);
* **deliver** hands the inbox to tlssession. Keeping delivery apart from ``up`` means acks from
  the peer are processed even while tlssession is slow to read, so the send window cannot
  deadlock against a busy reader;
* **sender** asks the core for due packets (first sends, retransmissions, acks), sends them to
  controlchannel, then sleeps until the core's next timer or until another worker kicks it.

Time comes from ``trio.current_time()``, so ``autojump_clock`` makes tests exact: the RTT
samples, the RTO and the retransmission budget (§4.9) all run on that clock. The layer
runs until it is cancelled or one of its inputs ends: when controlchannel's channel ends, the
messages already in order are still delivered; then both send ends are closed so that
``EndOfChannel`` cascades. Our hard resets are reported as ``RESET_SENT``/``RESET_ACKED``.

Every protocol rule is the core's, the tls-crypt-v2 one included (the server reset's ack rides
on our P_CONTROL_WKC_V1, docs §3.9): this service wakes its sender whenever the core may
have work and sends whatever the core returns.
"""

from __future__ import annotations

import math
from collections import deque

import trio

from vpnstack.core.reliabletransport.reliable import (
    ReliableCore,
    ReliableEventKind,
    ReliableStatistics,
)
from vpnstack.core.shared.drops import DropCounter
from vpnstack.core.shared.opcodes import (
    P_CONTROL_HARD_RESET_CLIENT_V2,
    P_CONTROL_HARD_RESET_CLIENT_V3,
)
from vpnstack.errors import RemoteProtocolError
from vpnstack.layers.base import Notify, ignore_notifications
from vpnstack.messages import ControlMessage, ReliablePacket, Stage, StateChange

__all__ = ["BACKLOG_LIMIT", "INBOX_LIMIT", "ReliableStatistics", "ReliableTransport"]

BACKLOG_LIMIT = 32
"""Stop reading from tlssession while this many packets wait for their first transmission."""
INBOX_LIMIT = 64
"""Stop reading from controlchannel while this many in-order messages wait for tlssession."""

_CLIENT_HARD_RESETS = frozenset({P_CONTROL_HARD_RESET_CLIENT_V2, P_CONTROL_HARD_RESET_CLIENT_V3})


class ReliableTransport:
    """The reliability layer of the control channel (docs §4) as a trio service."""

    name = "reliabletransport"

    def __init__(
        self,
        *,
        from_below: trio.MemoryReceiveChannel[ReliablePacket],
        to_below: trio.MemorySendChannel[ReliablePacket],
        from_above: trio.MemoryReceiveChannel[ControlMessage],
        to_above: trio.MemorySendChannel[ControlMessage],
        max_payload: int,
        tls_timeout: float = 2.0,
        max_timeout: float = 60.0,
        notify: Notify = ignore_notifications,
        backlog_limit: int = BACKLOG_LIMIT,
    ) -> None:
        self._from_below = from_below
        self._to_below = to_below
        self._from_above = from_above
        self._to_above = to_above
        self._notify = notify
        self._backlog_limit = backlog_limit
        self._core = ReliableCore(
            max_payload=max_payload, tls_timeout=tls_timeout, max_timeout=max_timeout
        )
        self._drops = DropCounter()
        self._inbox: deque[ControlMessage] = deque()
        self._below_ended = False
        # Wake-ups: whoever changes the core sets the event the waiting worker created.
        self._wake_sender = trio.Event()
        self._wake_down = trio.Event()
        self._wake_deliver = trio.Event()
        self._wake_up = trio.Event()

    def statistics(self) -> ReliableStatistics:
        """A snapshot of the core's counters plus the packets this service dropped."""
        return self._core.statistics(extra_drops=self._drops.snapshot())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the workers until cancelled or until an input channel ends."""
        async with self._to_below, self._to_above, trio.open_nursery() as nursery:
            nursery.start_soon(self._sender)
            nursery.start_soon(self._down, nursery.cancel_scope)
            nursery.start_soon(self._up)
            nursery.start_soon(self._deliver, nursery.cancel_scope)
            task_status.started()

    # --- workers ------------------------------------------------------------------------

    async def _down(self, done: trio.CancelScope) -> None:
        async for message in self._from_above:
            self._core.send(message, trio.current_time())  # LocalError = our bug: propagate
            self._wake_sender.set()
            # Backpressure: never drop, just stop reading until the window moves.
            while self._core.backlog() >= self._backlog_limit:
                self._wake_down = trio.Event()
                await self._wake_down.wait()
        done.cancel()

    async def _up(self) -> None:
        async for packet in self._from_below:
            try:
                messages = self._core.receive(packet, trio.current_time())
            except RemoteProtocolError as exc:
                self._drops.drop(exc.reason)
                continue
            self._report_events()
            # Acks to send, maybe a window that moved. (Whether an ack may go alone is the
            # core's rule: after our HARD_RESET_CLIENT_V3 it rides on our next packet, §3.9.)
            self._wake_sender.set()
            if messages:
                self._inbox.extend(messages)
                self._wake_deliver.set()
            while len(self._inbox) >= INBOX_LIMIT:
                self._wake_up = trio.Event()
                await self._wake_up.wait()
        self._below_ended = True
        self._wake_deliver.set()

    async def _deliver(self, done: trio.CancelScope) -> None:
        while True:
            while self._inbox:
                message = self._inbox.popleft()
                self._wake_up.set()
                await self._to_above.send(message)
            if self._below_ended:
                done.cancel()
                return
            self._wake_deliver = trio.Event()
            await self._wake_deliver.wait()

    async def _sender(self) -> None:
        while True:
            self._wake_sender = trio.Event()
            packets = self._core.packets_to_send(trio.current_time())
            self._report_events()
            self._wake_down.set()  # the backlog may have shrunk
            for packet in packets:
                await self._to_below.send(packet)
            deadline = self._core.next_timer()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._wake_sender.wait()

    def _report_events(self) -> None:
        for event in self._core.pop_events():
            if event.opcode not in _CLIENT_HARD_RESETS:
                continue  # soft resets (renegotiations) are reported by tlssession
            if event.kind is ReliableEventKind.RESET_SENT:
                self._notify(StateChange(self.name, Stage.RESET_SENT))
            elif event.kind is ReliableEventKind.RESET_ACKED:
                self._notify(StateChange(self.name, Stage.RESET_ACKED))
