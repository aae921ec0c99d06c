"""The public API: ``open_tunnel(config)`` and the ``Tunnel`` it yields.

How this works: ``running_stack`` creates the channels and layers (``wiring.py``) around a
tun endpoint, runs them under a ``WorkersManager`` in a nursery, and yields only once the tls
session has reported ``TUNNEL_UP`` and the datachannel ``DATA_KEYS_READY``. The body of the
``async with`` runs inside that nursery, so a failing layer cancels it, and the failure comes
out as one typed ``VPNError`` raised from the ExceptionGroup. Leaving the block cancels every
layer; nothing outlives it.

``open_tunnel`` is ``running_stack`` with the userspace endpoint, wrapped in a ``Tunnel`` that
sends and receives IP packets; ``vpnstack-client`` runs the same stack on a kernel TUN.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from vpnstack.config import Config, require_supported
from vpnstack.errors import TunnelClosed
from vpnstack.layers.tun import TunEndpoint, UserspaceEndpoint
from vpnstack.manager import WorkersManager, one_error
from vpnstack.messages import (
    OccExitSent,
    SendExitNotification,
    SendOccExit,
    Stage,
    StateChange,
    TunnelInfo,
)
from vpnstack.wiring import Channels, build_layers

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

EXIT_NOTIFY_BUDGET = 0.5
"""Seconds a closing stack may spend handing the exit notification to the socket."""


class Stack:
    """A running stack whose tunnel is up: what the pushed options say, and its counters."""

    def __init__(
        self,
        *,
        info: TunnelInfo,
        manager: WorkersManager,
        to_data: trio.MemorySendChannel[SendOccExit],
        from_data: trio.MemoryReceiveChannel[OccExitSent],
        to_tls: trio.MemorySendChannel[SendExitNotification],
        remote_address: IPAddress | None = None,
    ) -> None:
        self.info = info
        self.remote_address = remote_address
        """The server's address as networkio resolved it (its ``CONNECTING`` notification)."""
        self._manager = manager
        self._to_data = to_data
        self._from_data = from_data
        self._to_tls = to_tls

    def statistics(self) -> dict[str, object]:
        """Every layer's counters, by layer name."""
        return self._manager.statistics()

    async def send_exit_notification(self) -> None:
        """Tell the server we are leaving, so it frees our address at once (docs §6.6).

        With cc-exit negotiated (``protocol-flags cc-exit``), ``EXIT`` goes on the control
        channel, reliably; otherwise the datachannel sends an OCC EXIT data packet (§6.5), an
        ordinary encrypted data payload, and answers once it has handed it down. Bounded and
        shielded: it is sent while the stack is being closed.
        """
        with trio.move_on_after(EXIT_NOTIFY_BUDGET) as scope:
            scope.shield = True
            if self.info.cc_exit:
                await self._to_tls.send(SendExitNotification())
                # Let the layers below move it onto the wire and get it acked. (The tlssession
                # does not confirm EXIT yet; that confirmation is its side of issue 7.)
                await trio.sleep(0.1)
            else:
                # A datachannel already gone has nothing to send it with: leave all the same.
                with contextlib.suppress(trio.BrokenResourceError, trio.EndOfChannel):
                    await self._to_data.send(SendOccExit())
                    await self._from_data.receive()  # OccExitSent: handed to the packetmuxer


@asynccontextmanager
async def running_stack(
    config: Config,
    *,
    endpoint: TunEndpoint,
    channels: Channels | None = None,
    on_state: Callable[[StateChange], None] | None = None,
) -> AsyncIterator[Stack]:
    """Run the layers of one session around ``endpoint``; yield once the tunnel is up.

    Raises a ``VPNError`` subclass if the tunnel cannot come up or fails later.
    """
    require_supported(config)
    manager = WorkersManager(on_state=on_state)
    channels = channels if channels is not None else Channels()
    layers = build_layers(config, channels, endpoint=endpoint, notify=manager.notify)
    to_data = channels.app_to_data.send.clone()
    from_data = channels.data_to_app.receive.clone()
    to_tls = channels.app_to_tls.send.clone()
    try:
        with one_error():
            async with trio.open_nursery() as nursery:
                await nursery.start(manager.run, layers)
                up = await manager.wait_for(Stage.TUNNEL_UP)
                await manager.wait_for(Stage.DATA_KEYS_READY)
                assert up.info is not None, "TUNNEL_UP must carry the TunnelInfo"
                connecting = await manager.wait_for(Stage.CONNECTING)  # long since reported
                stack = Stack(
                    info=up.info,
                    manager=manager,
                    to_data=to_data,
                    from_data=from_data,
                    to_tls=to_tls,
                    remote_address=connecting.remote_address,
                )
                try:
                    yield stack
                finally:
                    manager.shutdown()
    finally:
        to_data.close()
        from_data.close()
        to_tls.close()


class Tunnel:
    """An open tunnel: send and receive IP packets; ``info`` says what the server pushed."""

    def __init__(
        self,
        *,
        stack: Stack,
        to_tun: trio.MemorySendChannel[bytes],
        from_tun: trio.MemoryReceiveChannel[bytes],
    ) -> None:
        self.info = stack.info
        self._stack = stack
        self._to_tun = to_tun
        self._from_tun = from_tun
        self._closed = False

    async def send(self, ip_packet: bytes) -> None:
        """Send one IP packet through the tunnel (waits if 512 packets are already queued)."""
        if self._closed:
            raise TunnelClosed("the tunnel is closed")
        await self._to_tun.send(bytes(ip_packet))

    async def receive(self) -> bytes:
        """Wait for the next IP packet from the tunnel."""
        if self._closed:
            raise TunnelClosed("the tunnel is closed")
        try:
            return await self._from_tun.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise TunnelClosed("the tunnel is closed") from None

    def statistics(self) -> dict[str, object]:
        """Every layer's counters, by layer name."""
        return self._stack.statistics()

    def _close(self) -> None:
        self._closed = True
        self._to_tun.close()
        self._from_tun.close()


@asynccontextmanager
async def open_tunnel(
    config: Config, *, on_state: Callable[[StateChange], None] | None = None
) -> AsyncIterator[Tunnel]:
    """Bring a tunnel up to the first remote of ``config``; close it when the block ends.

    ``on_state`` is called with every ``StateChange`` (handshake stages) for progress output.
    When the block ends normally and the config has ``explicit-exit-notify``, the server is
    told we are leaving (OCC EXIT), so it frees our address at once.
    Raises a ``VPNError`` subclass (``HandshakeTimeout``, ``AuthFailed``, ``CertificateError``,
    ``CipherNegotiationFailed``, ...) if the tunnel cannot come up or fails later.
    """
    channels = Channels()
    endpoint = UserspaceEndpoint(
        from_app=channels.app_to_tun.receive, to_app=channels.tun_to_app.send
    )
    async with running_stack(
        config, endpoint=endpoint, channels=channels, on_state=on_state
    ) as stack:
        tunnel = Tunnel(
            stack=stack, to_tun=channels.app_to_tun.send, from_tun=channels.tun_to_app.receive
        )
        try:
            yield tunnel
            if config.transport.explicit_exit_notify:
                await stack.send_exit_notification()
        finally:
            tunnel._close()
