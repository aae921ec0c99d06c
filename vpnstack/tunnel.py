"""The public API: ``open_tunnel(config)`` and the ``Tunnel`` it yields.

How this works: ``open_tunnel`` creates the channels and layers (``wiring.py``), runs them
under a ``WorkersManager`` in a nursery, and returns from ``async with`` only once the tls
session has reported ``TUNNEL_UP`` and the datachannel ``DATA_KEYS_READY``. The body of the
``async with`` runs inside that nursery, so a failing layer cancels it, and the failure comes
out of ``open_tunnel`` as one typed ``VPNError`` raised from the ExceptionGroup. Leaving the
block cancels every layer; nothing outlives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from vpnstack.config import Config
from vpnstack.errors import TunnelClosed
from vpnstack.layers.tun import UserspaceEndpoint
from vpnstack.manager import WorkersManager, primary_error
from vpnstack.messages import Stage, StateChange, TunnelInfo
from vpnstack.wiring import Channels, build_layers


class Tunnel:
    """An open tunnel: send and receive IP packets; ``info`` says what the server pushed."""

    def __init__(
        self,
        *,
        info: TunnelInfo,
        to_tun: trio.MemorySendChannel[bytes],
        from_tun: trio.MemoryReceiveChannel[bytes],
        manager: WorkersManager,
    ) -> None:
        self.info = info
        self._to_tun = to_tun
        self._from_tun = from_tun
        self._manager = manager
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
        return self._manager.statistics()

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
    Raises a ``VPNError`` subclass (``HandshakeTimeout``, ``AuthFailed``, ``CertificateError``,
    ``CipherNegotiationFailed``, ...) if the tunnel cannot come up or fails later.
    """
    manager = WorkersManager(on_state=on_state)
    channels = Channels()
    endpoint = UserspaceEndpoint(
        from_app=channels.app_to_tun.receive, to_app=channels.tun_to_app.send
    )
    layers = build_layers(config, channels, endpoint=endpoint, notify=manager.notify)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(manager.run, layers)
            up = await manager.wait_for(Stage.TUNNEL_UP)
            await manager.wait_for(Stage.DATA_KEYS_READY)
            assert up.info is not None, "TUNNEL_UP must carry the TunnelInfo"
            tunnel = Tunnel(
                info=up.info,
                to_tun=channels.app_to_tun.send,
                from_tun=channels.tun_to_app.receive,
                manager=manager,
            )
            try:
                yield tunnel
            finally:
                tunnel._close()
                manager.shutdown()
    except BaseExceptionGroup as group:
        error = primary_error(group)
        if error is group:
            raise
        raise error from group
