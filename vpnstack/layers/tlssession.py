"""tlssession: TLS over the control channel, key-method 2, push and data keys, as a service.

How this works: the protocol lives in ``core/tlssession/session.py`` (``SessionCore``,
configured by a ``SessionSettings`` record that ``vpnstack.settings.session_settings`` builds
from the configuration); this
service is one worker that feeds it the reliable layer's in-order ``ControlMessage``s and fires its
timers (PUSH_REQUEST every 5 s, the hand-window deadline), and after every step delivers the
core's outputs in order: ``ControlMessage`` down to reliabletransport, ``KeepaliveSettings``
and ``DataKeys`` sideways to datachannel, each ``SessionProgress`` as a ``StateChange``
(layer "tlssession") to ``notify``.

A second worker takes the datachannel's ``RenegotiationRequest``s (reneg-bytes, reneg-pkts,
packet id 0xFF000000) and asks the core to renegotiate (docs §5.7); both workers call
the core and deliver its outputs under one lock, so outputs leave in the order the core made
them, and a request wakes the main worker so that it sleeps until the right timer.

The dynamic tls-crypt key (docs §3.10), when negotiated, goes to the controlchannel on
``to_control`` before any message of a key id > 0 exists.

A message the core refuses as a protocol violation is dropped and counted. The typed
``VPNError``s (``AuthFailed``, ``CertificateError``, ``HandshakeTimeout``,
``CipherNegotiationFailed``, ``ServerHalted``...) leave ``run`` and end the stack. When the
reliable layer's channel ends, ``run`` returns and closes its send ends.
"""

from __future__ import annotations

import contextlib
import math

import attrs
import trio

from vpnstack.core.shared.drops import DropCounter
from vpnstack.core.tlssession.progress import SessionProgress
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.core.tlssession.settings import SessionSettings
from vpnstack.errors import RemoteProtocolError
from vpnstack.layers.base import Notify, ignore_notifications
from vpnstack.messages import (
    ControlMessage,
    DataChannelCommand,
    DataKeys,
    DynamicTlsCryptKey,
    KeepaliveSettings,
    RenegotiationRequest,
    SendExitNotification,
    StateChange,
)


@attrs.frozen
class TLSSessionStatistics:
    """Counters of the tlssession layer."""

    messages_in: int
    """ControlMessages received from the reliable layer."""
    messages_out: int
    """ControlMessages sent to the reliable layer (resets and TLS bytes)."""
    tls_bytes_in: int
    """TLS ciphertext bytes received."""
    tls_bytes_out: int
    """TLS ciphertext bytes sent."""
    push_requests_sent: int
    """PUSH_REQUEST messages written."""
    control_texts_received: int
    """Control text messages (PUSH_REPLY, INFO, ...) received."""
    data_commands_sent: int
    """KeepaliveSettings/DataKeys handed to the datachannel."""
    drops: dict[str, int]
    """Messages dropped as protocol violations, by reason."""
    ignored: dict[str, int]
    """Valid messages deliberately ignored, by reason."""
    stage: str | None
    """The last stage reached."""
    renegotiations: int = 0
    """Key ids negotiated after key id 0 (either side started them)."""
    current_key_id: int | None = None
    """The newest key id (negotiated or being negotiated)."""


def state_change(progress: SessionProgress) -> StateChange:
    """The ``StateChange`` that reports one of the core's ``SessionProgress`` records."""
    return StateChange(
        TLSSession.name, progress.stage, progress.detail, progress.info, progress.auth_token
    )


class TLSSession:
    """The tlssession layer (see the module docstring)."""

    name = "tlssession"

    def __init__(
        self,
        *,
        settings: SessionSettings,
        local_session_id: bytes,
        from_below: trio.MemoryReceiveChannel[ControlMessage],
        to_below: trio.MemorySendChannel[ControlMessage],
        to_data: trio.MemorySendChannel[DataChannelCommand],
        notify: Notify = ignore_notifications,
        from_data: trio.MemoryReceiveChannel[RenegotiationRequest] | None = None,
        from_app: trio.MemoryReceiveChannel[SendExitNotification] | None = None,
        to_control: trio.MemorySendChannel[DynamicTlsCryptKey] | None = None,
    ) -> None:
        self._core = SessionCore(settings, local_session_id=local_session_id)
        self._from_below = from_below
        self._to_below = to_below
        self._to_data = to_data
        self._from_data = from_data
        self._from_app = from_app
        self._to_control = to_control
        self._notify = notify
        self._lock = trio.Lock()  # one core step + its delivery at a time
        self._waiting: trio.CancelScope | None = None
        self._drops = DropCounter()
        self._messages_in = self._messages_out = 0
        self._bytes_in = self._bytes_out = 0
        self._data_commands = 0

    def statistics(self) -> TLSSessionStatistics:
        """A snapshot of this layer's counters."""
        counters = self._core.counters()
        stage = self._core.stage
        return TLSSessionStatistics(
            messages_in=self._messages_in,
            messages_out=self._messages_out,
            tls_bytes_in=self._bytes_in,
            tls_bytes_out=self._bytes_out,
            push_requests_sent=counters.push_requests_sent,
            control_texts_received=counters.control_texts_received,
            data_commands_sent=self._data_commands,
            drops=self._drops.snapshot(),
            ignored=counters.ignored,
            stage=stage.value if stage is not None else None,
            renegotiations=counters.renegotiations,
            current_key_id=self._core.current_key_id,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send the hard reset and run the session until the reliable layer's channel ends."""
        async with contextlib.AsyncExitStack() as stack:
            for channel in (self._to_below, self._to_data, self._to_control):
                if channel is not None:
                    await stack.enter_async_context(channel)
            self._core.start(trio.current_time())
            task_status.started()
            await self._deliver()
            if self._from_data is None and self._from_app is None:
                await self._messages_and_timers()  # no side inputs: no nursery needed
                return
            async with trio.open_nursery() as nursery:
                if self._from_data is not None:
                    nursery.start_soon(self._requests, self._from_data)
                if self._from_app is not None:
                    nursery.start_soon(self._exit_notifications, self._from_app)
                await self._messages_and_timers()
                nursery.cancel_scope.cancel()

    async def _messages_and_timers(self) -> None:
        """The main worker: messages from the reliable layer and the core's timers."""
        while True:
            deadline = self._core.next_timer()
            message: ControlMessage | None = None
            with trio.move_on_at(math.inf if deadline is None else deadline) as waiting:
                self._waiting = waiting
                try:
                    message = await self._from_below.receive()
                except trio.EndOfChannel:
                    return
            self._waiting = None
            async with self._lock:
                now = trio.current_time()
                if message is not None:
                    self._messages_in += 1
                    self._bytes_in += len(message.payload)
                    try:
                        self._core.receive(message, now)
                    except RemoteProtocolError as exc:
                        self._drops.drop(exc.reason)
                deadline = self._core.next_timer()
                if deadline is not None and now >= deadline:
                    self._core.on_timer(now)
                await self._deliver()

    async def _requests(self, from_data: trio.MemoryReceiveChannel[RenegotiationRequest]) -> None:
        """The datachannel's renegotiation requests (§5.7); the session decides."""
        async for request in from_data:
            async with self._lock:
                self._core.request_renegotiation(
                    request.key_id, request.reason, trio.current_time()
                )
                await self._deliver()
            if self._waiting is not None:
                self._waiting.cancel()  # a new key has a hand-window timer: sleep anew

    async def _exit_notifications(
        self, from_app: trio.MemoryReceiveChannel[SendExitNotification]
    ) -> None:
        """The application is leaving and the server speaks cc-exit: send EXIT (§6.6)."""
        async for _ in from_app:
            async with self._lock:
                self._core.send_exit()
                await self._deliver()

    async def _deliver(self) -> None:
        """Hand the core's outputs on, in the order it produced them."""
        for output in self._core.outputs():
            if isinstance(output, ControlMessage):
                self._messages_out += 1
                self._bytes_out += len(output.payload)
                await self._to_below.send(output)
            elif isinstance(output, KeepaliveSettings | DataKeys):
                self._data_commands += 1
                await self._to_data.send(output)
            elif isinstance(output, SessionProgress):
                self._notify(state_change(output))
            elif isinstance(output, DynamicTlsCryptKey) and self._to_control is not None:
                await self._to_control.send(output)
