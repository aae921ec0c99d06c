"""networkio: the bottom layer, moving OpenVPN packets between the stack and a UDP socket.

How this works: at start the remote's name is resolved once (never per packet) and a
non-blocking UDP socket is connected to it, so the kernel filters out datagrams from anyone
else. Two workers then run:

* up: wait until the socket is readable, drain every datagram that is ready (up to
  ``BATCH_CAP``) and hand them on as one batch. If the packetmuxer is too slow to take the
  batch, it is dropped and counted, as a router drops when its queue is full
  (ARCHITECTURE.md "Backpressure where it is correct, drops where the protocol expects them").
* down: take batches from the packetmuxer and write each datagram, waiting for the socket
  to become writable when the kernel's buffer is full.

The socket is owned here: ``notify_closing`` is called before it is closed, so no task is left
waiting on a dead file descriptor (the trio ``_unix_pipes`` pattern).
"""

from __future__ import annotations

import errno
import ipaddress
import socket

import attrs
import trio

from vpnstack.config import Remote
from vpnstack.errors import NetworkError
from vpnstack.layers.base import DropCounter, Notify, ignore_notifications
from vpnstack.messages import Batch, Stage, StateChange

BATCH_CAP = 64
"""Most datagrams drained from the socket into one batch."""

MAX_DATAGRAM = 65535


@attrs.frozen
class NetworkStatistics:
    """Counters of the networkio layer."""

    remote: str
    """The resolved remote address, ``host:port``."""
    remote_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    """The remote's IP address once resolved (the client routes it outside the tunnel)."""
    datagrams_in: int
    """Datagrams received from the remote."""
    datagrams_out: int
    """Datagrams sent to the remote."""
    bytes_in: int
    """Bytes received (UDP payload)."""
    bytes_out: int
    """Bytes sent (UDP payload)."""
    batches_in: int
    """Batches handed up to the packetmuxer."""
    largest_batch_in: int
    """Largest batch drained from the socket in one go."""
    drops: dict[str, int]
    """Datagrams dropped, by reason."""


async def resolve_remote(remote: Remote) -> tuple[int, tuple[str, int]]:
    """Resolve ``remote`` once to ``(address family, sockaddr)``; raise NetworkError if it fails."""
    family = {"udp4": socket.AF_INET, "udp6": socket.AF_INET6}.get(remote.proto, socket.AF_UNSPEC)
    try:
        infos = await trio.socket.getaddrinfo(
            remote.host, remote.port, family=family, type=socket.SOCK_DGRAM
        )
    except OSError as exc:
        raise NetworkError(
            f"cannot resolve remote {remote.host!r}: {exc}; check the 'remote' line"
        ) from exc
    if not infos:
        raise NetworkError(f"remote {remote.host!r} has no usable address for {remote.proto}")
    fam, _, _, _, sockaddr = infos[0]
    return int(fam), (str(sockaddr[0]), int(sockaddr[1]))


class NetworkIO:
    """The UDP edge of the stack."""

    name = "networkio"

    def __init__(
        self,
        *,
        remote: Remote,
        to_above: trio.MemorySendChannel[Batch],
        from_above: trio.MemoryReceiveChannel[Batch],
        notify: Notify = ignore_notifications,
    ) -> None:
        self._remote = remote
        self._to_above = to_above
        self._from_above = from_above
        self._notify = notify
        self._drops = DropCounter()
        self._address = ""
        self._remote_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
        self._datagrams_in = self._datagrams_out = 0
        self._bytes_in = self._bytes_out = 0
        self._batches_in = self._largest_batch = 0

    def statistics(self) -> NetworkStatistics:
        """A snapshot of this layer's counters."""
        return NetworkStatistics(
            remote=self._address,
            remote_address=self._remote_ip,
            datagrams_in=self._datagrams_in,
            datagrams_out=self._datagrams_out,
            bytes_in=self._bytes_in,
            bytes_out=self._bytes_out,
            batches_in=self._batches_in,
            largest_batch_in=self._largest_batch,
            drops=self._drops.snapshot(),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Resolve, connect, then move datagrams until cancelled or the muxer closes."""
        self._notify(StateChange(self.name, Stage.RESOLVING, self._remote.host))
        family, sockaddr = await resolve_remote(self._remote)
        self._remote_ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        self._address = f"[{sockaddr[0]}]:{sockaddr[1]}" if ":" in sockaddr[0] else (
            f"{sockaddr[0]}:{sockaddr[1]}"
        )
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                raise NetworkError(f"cannot reach {self._address}: {exc}") from exc
            self._notify(StateChange(self.name, Stage.CONNECTING, f"{self._address} over UDP"))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._up, sock)
                nursery.start_soon(self._down, sock, nursery.cancel_scope)
                task_status.started()
        finally:
            trio.lowlevel.notify_closing(sock)
            sock.close()

    async def _up(self, sock: socket.socket) -> None:
        async with self._to_above:
            while True:
                await trio.lowlevel.wait_readable(sock)
                batch = self._drain(sock)
                if not batch:
                    continue
                self._batches_in += 1
                self._largest_batch = max(self._largest_batch, len(batch))
                try:
                    self._to_above.send_nowait(batch)
                except trio.WouldBlock:
                    self._drops.drop("muxer-busy", len(batch))

    def _drain(self, sock: socket.socket) -> Batch:
        batch: Batch = []
        while len(batch) < BATCH_CAP:
            try:
                datagram = sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                # ICMP port unreachable from an earlier send: nobody listens (yet). The
                # handshake timer reports it if it persists.
                self._drops.drop("icmp-port-unreachable")
                continue
            except OSError as exc:
                if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                    self._drops.drop("icmp-unreachable")
                    continue
                raise NetworkError(f"receiving from {self._address} failed: {exc}") from exc
            self._datagrams_in += 1
            self._bytes_in += len(datagram)
            batch.append(datagram)
        return batch

    async def _down(self, sock: socket.socket, scope: trio.CancelScope) -> None:
        async for batch in self._from_above:
            for datagram in batch:
                await self._send(sock, datagram)
        # The stack above has closed: nothing more will be sent, so stop receiving too.
        scope.cancel()

    async def _send(self, sock: socket.socket, datagram: bytes) -> None:
        while True:
            try:
                sock.send(datagram)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            except (ConnectionRefusedError, OSError) as exc:
                if isinstance(exc, ConnectionRefusedError) or exc.errno in (
                    errno.EHOSTUNREACH,
                    errno.ENETUNREACH,
                    errno.ECONNREFUSED,
                ):
                    self._drops.drop("send-unreachable")
                    return
                raise NetworkError(f"sending to {self._address} failed: {exc}") from exc
            self._datagrams_out += 1
            self._bytes_out += len(datagram)
            return
