"""networkio: the bottom layer, moving OpenVPN packets between the stack and the server.

How this works: at start the remote's name is resolved once (never per packet), then one of
two transports is opened, chosen by the remote's ``proto``:

* ``UdpTransport``: a non-blocking UDP socket connected to the remote, so the kernel filters
  out datagrams from anyone else. One OpenVPN packet per datagram (docs §1).
* ``TcpTransport``: a TCP connection (``proto tcp``/``tcp4``/``tcp6``/``tcp-client``), each packet
  behind a 2-byte length (docs §1, ``core/networkio/tcpframing.py``). A read may hold part of
  a packet or many packets; a length of 0 or above the limit, the server closing the connection, or
  a reset end the layer with ``NetworkError`` (the client then reconnects).

Two workers then run, whatever the transport:

* up: wait for the transport to have something, take every packet that is ready (up to
  ``BATCH_CAP``) and hand them on as one batch. Over UDP, if the packetmuxer is too slow to
  take the batch it is dropped and counted, as a router drops when its queue is full; over
  TCP the worker waits instead, so TCP's own flow control slows the server down
  (ARCHITECTURE.md "Backpressure where it is correct, drops where the protocol expects them").
* down: take batches from the packetmuxer and write them (over TCP, one framed write per
  batch), waiting when the kernel's buffer is full.

Over UDP a third worker, **unreachable**, ends the layer with ``ServerUnreachable`` (a
``NetworkError``) once the server has been silent for 2 s *and* at least 3 ICMP unreachable
errors came since its last packet (``core/networkio/unreachable.py``, docs §1.6): a server
that stopped or restarted, which the client then reconnects to within about a second instead
of waiting for ping-restart. Every datagram from the server resets the count.

The reliable layer above runs unchanged over TCP: OpenVPN still acks, retransmits and may
duplicate control packets on TCP (§4 rule 6, §4.12.2), which that layer already tolerates.

The sockets are owned here: ``notify_closing`` is called before a raw socket is closed, so no
task is left waiting on a dead file descriptor (the trio ``_unix_pipes`` pattern).
"""

from __future__ import annotations

import errno
import ipaddress
import math
import os
import socket
from typing import Literal, Protocol

import attrs
import trio

from vpnstack.config import Remote
from vpnstack.core.networkio.tcpframing import TcpDeframer, frame_all
from vpnstack.core.networkio.unreachable import (
    UNREACHABLE_ERRORS,
    UNREACHABLE_SILENCE,
    UnreachableHint,
)
from vpnstack.core.shared.drops import DropCounter, DropReason
from vpnstack.errors import NetworkError, RemoteProtocolError, ServerUnreachable
from vpnstack.layers.base import Notify, ignore_notifications
from vpnstack.messages import Batch, Stage, StateChange

TransportName = Literal["udp", "tcp"]
"""The two transports (the ``transport`` of the statistics)."""

BATCH_CAP = 64
"""Most packets handed up in one batch."""

MAX_DATAGRAM = 65535

TCP_READ_SIZE = 65536
"""Bytes asked for per TCP read: everything the kernel has ready, usually."""

DEFAULT_CONNECT_TIMEOUT = 120.0
"""Seconds to wait for a TCP connection (stock ``connect-timeout``)."""


@attrs.frozen
class NetworkStatistics:
    """Counters of the networkio layer."""

    remote: str
    """The resolved remote address, ``host:port``."""
    remote_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    """The remote's IP address once resolved (for people; the client takes it from the
    ``CONNECTING`` notification)."""
    transport: TransportName
    """``udp`` or ``tcp``."""
    datagrams_in: int
    """OpenVPN packets received from the remote (UDP datagrams or TCP-framed packets)."""
    datagrams_out: int
    """OpenVPN packets sent to the remote."""
    bytes_in: int
    """Bytes received (UDP payload, or the TCP stream including the length prefixes)."""
    bytes_out: int
    """Bytes sent (UDP payload, or the TCP stream including the length prefixes)."""
    batches_in: int
    """Batches handed up to the packetmuxer."""
    largest_batch_in: int
    """Largest batch handed up in one go."""
    drops: dict[str, int]
    """Packets dropped, by reason."""


def is_tcp(proto: str) -> bool:
    """Whether a ``Remote.proto`` value means TCP."""
    return proto.startswith("tcp")


def _family(proto: str) -> int:
    base = proto.removesuffix("-client")
    if base.endswith("4"):
        return socket.AF_INET
    if base.endswith("6"):
        return socket.AF_INET6
    return socket.AF_UNSPEC


async def resolve_remote(remote: Remote) -> tuple[int, tuple[str, int]]:
    """Resolve ``remote`` once to ``(address family, sockaddr)``; raise NetworkError if it fails."""
    kind = socket.SOCK_STREAM if is_tcp(remote.proto) else socket.SOCK_DGRAM
    try:
        infos = await trio.socket.getaddrinfo(
            remote.host, remote.port, family=_family(remote.proto), type=kind
        )
    except OSError as exc:
        raise NetworkError(
            f"cannot resolve remote {remote.host!r}: {exc}; check the 'remote' line"
        ) from exc
    if not infos:
        raise NetworkError(f"remote {remote.host!r} has no usable address for {remote.proto}")
    fam, _, _, _, sockaddr = infos[0]
    return int(fam), (str(sockaddr[0]), int(sockaddr[1]))


class _Counters:
    """The layer's mutable counters, shared with its transport."""

    def __init__(self) -> None:
        self.drops = DropCounter()
        self.packets_in = self.packets_out = 0
        self.bytes_in = self.bytes_out = 0
        self.hint: UnreachableHint | None = None  # UDP only (§1.6)
        self.hint_changed = trio.Event()

    def heard(self) -> None:
        if self.hint is not None:
            self.hint.heard(trio.current_time())

    def unreachable(self) -> None:
        if self.hint is not None:
            self.hint.unreachable(trio.current_time())
            self.hint_changed.set()


class Transport(Protocol):
    """What the layer's workers need from UDP or TCP."""

    reliable_delivery: bool
    """True when the up worker must wait for the stack rather than drop (a byte stream)."""

    async def receive_batch(self) -> Batch:
        """Wait for packets; return those ready (at most ``BATCH_CAP``, possibly none)."""
        ...

    async def send_batch(self, batch: Batch) -> None:
        """Send every packet of ``batch``."""
        ...

    def close(self) -> None:
        """Close the socket (no await: runs in cleanup, even when cancelled)."""
        ...


class UdpTransport:
    """OpenVPN over UDP: one packet per datagram, the socket connected to the remote."""

    reliable_delivery = False
    """Datagrams may be dropped when the stack above is busy."""

    def __init__(self, sock: socket.socket, address: str, counters: _Counters) -> None:
        self._sock = sock
        self._address = address
        self._c = counters

    @classmethod
    def open(
        cls, family: int, sockaddr: tuple[str, int], address: str, counters: _Counters
    ) -> UdpTransport:
        """A non-blocking UDP socket connected to ``sockaddr``."""
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            raise NetworkError(f"cannot reach {address}: {exc}") from exc
        return cls(sock, address, counters)

    def close(self) -> None:
        trio.lowlevel.notify_closing(self._sock)
        self._sock.close()

    async def receive_batch(self) -> Batch:
        await trio.lowlevel.wait_readable(self._sock)
        batch: Batch = []
        while len(batch) < BATCH_CAP:
            try:
                datagram = self._sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                # ICMP port unreachable from an earlier send: nobody listens (yet). One is
                # only a hint (§1.6): the unreachable worker decides.
                self._c.drops.drop(DropReason.ICMP_PORT_UNREACHABLE)
                self._c.unreachable()
                continue
            except OSError as exc:
                if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                    self._c.drops.drop(DropReason.ICMP_UNREACHABLE)
                    continue
                raise NetworkError(f"receiving from {self._address} failed: {exc}") from exc
            self._c.packets_in += 1
            self._c.bytes_in += len(datagram)
            batch.append(datagram)
        if batch:
            self._c.heard()  # the connected socket takes datagrams from the server only
        return batch

    async def send_batch(self, batch: Batch) -> None:
        for datagram in batch:
            await self._send(datagram)

    async def _send(self, datagram: bytes) -> None:
        while True:
            try:
                self._sock.send(datagram)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self._sock)
                continue
            except (ConnectionRefusedError, OSError) as exc:
                if isinstance(exc, ConnectionRefusedError) or exc.errno in (
                    errno.EHOSTUNREACH,
                    errno.ENETUNREACH,
                    errno.ECONNREFUSED,
                ):
                    self._c.drops.drop(DropReason.SEND_UNREACHABLE)
                    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
                        self._c.unreachable()
                    return
                raise NetworkError(f"sending to {self._address} failed: {exc}") from exc
            self._c.packets_out += 1
            self._c.bytes_out += len(datagram)
            return


class TcpTransport:
    """OpenVPN over TCP: a length-framed packet stream (docs §1)."""

    reliable_delivery = True
    """Nothing is dropped: a busy stack above slows the stream down instead."""

    def __init__(self, stream: trio.SocketStream, address: str, counters: _Counters) -> None:
        self._stream = stream
        self._address = address
        self._c = counters
        self._deframer = TcpDeframer()
        self._ready: Batch = []

    @classmethod
    async def open(
        cls,
        family: int,
        sockaddr: tuple[str, int],
        address: str,
        counters: _Counters,
    ) -> TcpTransport:
        """Connect to ``sockaddr``, or raise NetworkError."""
        sock = trio.socket.socket(family, socket.SOCK_STREAM)
        try:
            await sock.connect(sockaddr)
            return cls(trio.SocketStream(sock), address, counters)
        except OSError as exc:
            sock.close()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise NetworkError(f"cannot connect to {address} over TCP: {reason}") from exc
        except BaseException:
            sock.close()
            raise

    def close(self) -> None:
        # SocketStream.aclose would only close the socket and checkpoint; trio's socket
        # close() does the notify_closing itself.
        self._stream.socket.close()

    async def receive_batch(self) -> Batch:
        while not self._ready:
            try:
                data = await self._stream.receive_some(TCP_READ_SIZE)
            except trio.BrokenResourceError as exc:
                raise NetworkError(
                    f"the TCP connection to {self._address} was reset"
                    f" ({exc.__cause__ or exc})"
                ) from exc
            if not data:
                raise NetworkError(f"the server at {self._address} closed the TCP connection")
            self._c.bytes_in += len(data)
            try:
                packets = self._deframer.receive_data(data)
            except RemoteProtocolError as exc:
                # §1: a bad length loses the framing for good; the stock peer drops too.
                self._c.drops.drop(exc.reason)
                raise NetworkError(
                    f"the TCP stream from {self._address} is not OpenVPN framing ({exc});"
                    " dropping the connection"
                ) from exc
            self._c.packets_in += len(packets)
            self._ready = packets
        # One read may complete more packets than one batch may hold: hand up the rest next.
        batch, self._ready = self._ready[:BATCH_CAP], self._ready[BATCH_CAP:]
        return batch

    async def send_batch(self, batch: Batch) -> None:
        if not batch:
            return
        data = frame_all(batch)  # one write per batch: the kernel coalesces, we copy once
        try:
            await self._stream.send_all(data)
        except trio.BrokenResourceError as exc:
            raise NetworkError(
                f"sending to {self._address} over TCP failed ({exc.__cause__ or exc})"
            ) from exc
        self._c.packets_out += len(batch)
        self._c.bytes_out += len(data)


class NetworkIO:
    """The network edge of the stack: UDP datagrams or a TCP stream."""

    name = "networkio"

    def __init__(
        self,
        *,
        remote: Remote,
        to_above: trio.MemorySendChannel[Batch],
        from_above: trio.MemoryReceiveChannel[Batch],
        notify: Notify = ignore_notifications,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        unreachable_silence: float = UNREACHABLE_SILENCE,
        unreachable_errors: int = UNREACHABLE_ERRORS,
    ) -> None:
        self._remote = remote
        self._to_above = to_above
        self._from_above = from_above
        self._notify = notify
        self._connect_timeout = connect_timeout
        self._unreachable_silence = unreachable_silence
        self._unreachable_errors = unreachable_errors
        self._c = _Counters()
        self._address = ""
        self._remote_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
        self._batches_in = self._largest_batch = 0

    def statistics(self) -> NetworkStatistics:
        """A snapshot of this layer's counters."""
        return NetworkStatistics(
            remote=self._address,
            remote_address=self._remote_ip,
            transport="tcp" if is_tcp(self._remote.proto) else "udp",
            datagrams_in=self._c.packets_in,
            datagrams_out=self._c.packets_out,
            bytes_in=self._c.bytes_in,
            bytes_out=self._c.bytes_out,
            batches_in=self._batches_in,
            largest_batch_in=self._largest_batch,
            drops=self._c.drops.snapshot(),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Resolve, connect, then move packets until cancelled or the muxer closes."""
        self._notify(StateChange(self.name, Stage.RESOLVING, self._remote.host))
        family, sockaddr = await resolve_remote(self._remote)
        self._remote_ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        self._address = f"[{sockaddr[0]}]:{sockaddr[1]}" if ":" in sockaddr[0] else (
            f"{sockaddr[0]}:{sockaddr[1]}"
        )
        transport: Transport
        if is_tcp(self._remote.proto):
            self._notify_connecting("TCP")
            with trio.move_on_after(self._connect_timeout) as connecting:
                transport = await TcpTransport.open(family, sockaddr, self._address, self._c)
            if connecting.cancelled_caught:
                raise NetworkError(
                    f"no TCP connection to {self._address} after {self._connect_timeout:g} s;"
                    " check the 'remote' line and that the server listens on TCP"
                )
        else:
            transport = UdpTransport.open(family, sockaddr, self._address, self._c)
            self._notify_connecting("UDP")
            self._c.hint = UnreachableHint(
                trio.current_time(),
                silence=self._unreachable_silence,
                errors=self._unreachable_errors,
            )
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._up, transport)
                nursery.start_soon(self._down, transport, nursery.cancel_scope)
                if self._c.hint is not None:
                    nursery.start_soon(self._unreachable, self._c.hint)
                task_status.started()
        finally:
            transport.close()

    def _notify_connecting(self, transport: str) -> None:
        """Report ``CONNECTING`` with the resolved address, for whoever must route it."""
        change = StateChange(
            self.name,
            Stage.CONNECTING,
            f"{self._address} over {transport}",
            remote_address=self._remote_ip,
        )
        self._notify(change)

    async def _up(self, transport: Transport) -> None:
        async with self._to_above:
            while True:
                batch = await transport.receive_batch()
                if not batch:
                    continue
                self._batches_in += 1
                self._largest_batch = max(self._largest_batch, len(batch))
                if transport.reliable_delivery:
                    await self._to_above.send(batch)
                    continue
                try:
                    self._to_above.send_nowait(batch)
                except trio.WouldBlock:
                    self._c.drops.drop(DropReason.MUXER_BUSY, len(batch))

    async def _unreachable(self, hint: UnreachableHint) -> None:
        """End the layer once the unreachable hint holds (§1.6)."""
        while True:
            self._c.hint_changed = trio.Event()
            now = trio.current_time()
            if hint.verdict(now):
                raise ServerUnreachable(
                    f"{self._address} is unreachable: nothing received for"
                    f" {now - hint.last_heard:.1f} s and {hint.errors} ICMP port-unreachable"
                    " errors since; the server stopped or restarted"
                )
            deadline = hint.deadline()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._c.hint_changed.wait()

    async def _down(self, transport: Transport, scope: trio.CancelScope) -> None:
        async for batch in self._from_above:
            await transport.send_batch(batch)
        # The stack above has closed: nothing more will be sent, so stop receiving too.
        scope.cancel()
