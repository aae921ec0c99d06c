"""The kernel TUN device: open it, and read/write IP packets through it in batches.

How this works: ``open_tun`` opens ``/dev/net/tun`` and attaches the file descriptor to a
network interface with the ``TUNSETIFF`` ioctl (``struct ifreq``: a 16-byte name, then the
16-bit flags). The flags are ``IFF_TUN | IFF_NO_PI``: layer-3 packets, each read or write is
exactly one IP packet with no 4-byte packet-information header in front. The device is not
made persistent (no ``TUNSETPERSIST``), so the kernel deletes the interface — with its
addresses and routes — as soon as the last descriptor closes, also when the process crashes.
A name containing ``%d`` (the default ``tun%d``) lets the kernel pick a free number; the name it
chose comes back in the same ``ifreq``. The descriptor is non-blocking and close-on-exec (so a
child such as ``resolvectl`` cannot keep the device alive).

``KernelTunEndpoint`` is the tun layer's kernel endpoint (``vpnstack.layers.tun.TunEndpoint``):

* ``read_batch`` waits until the descriptor is readable (one trio wait), then drains every
  packet already queued with non-blocking ``os.read`` calls, up to ``BATCH_CAP``, without a
  task switch per packet (ARCHITECTURE.md "Performance shape").
* ``write_batch`` writes each packet (one ``os.write`` each: a TUN takes one packet per
  write, ``writev`` included); if the kernel says "would block" it waits until the
  descriptor is writable and retries that packet. A packet the kernel refuses (not IPv4/IPv6,
  too large, ...) is dropped and counted, never raised: one bad packet must not end a session.

The endpoint keeps no state tied to a nursery or to one stack: the CLI keeps the TUN open
while sessions come and go, and each new stack's tun layer simply starts reading again (one
reader and one writer at a time). ``close`` calls ``trio.lowlevel.notify_closing`` before
``os.close`` (the trio ``_unix_pipes`` pattern), so a reader still waiting gets
``trio.EndOfChannel`` instead of waiting on a dead descriptor forever.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
from types import TracebackType

import trio

from vpnstack.core.shared.drops import DropCounter
from vpnstack.errors import ConfigError, DropReason, VPNError
from vpnstack.layers.tun import BATCH_CAP
from vpnstack.messages import Batch

TUN_PATH = "/dev/net/tun"
TUNSETIFF = 0x400454CA
"""``_IOW('T', 202, int)`` from ``linux/if_tun.h``."""
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFNAMSIZ = 16
"""Interface name buffer size, including the terminating NUL."""
READ_SIZE = 65536
"""Bytes asked for per read: larger than any IP packet, so a packet is never cut."""

_IFREQ = struct.Struct(f"{IFNAMSIZ}sH22x")
"""``struct ifreq`` as TUNSETIFF uses it: name, flags, padding to 40 bytes."""


class TunPermissionError(VPNError):
    """Creating a TUN device was not permitted (needs root or CAP_NET_ADMIN)."""


def tun_open_error(exc: OSError, name: str) -> VPNError:
    """The user-facing error for an ``OSError`` from opening ``/dev/net/tun`` or TUNSETIFF."""
    code = exc.errno
    if code in (errno.EPERM, errno.EACCES):
        return TunPermissionError(
            f"not permitted to create the TUN device {name!r} ({os.strerror(code)}): "
            "run vpnstack-client as root, or give it the CAP_NET_ADMIN capability "
            "(e.g. sudo setcap cap_net_admin+ep on the Python interpreter)"
        )
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return VPNError(
            f"{TUN_PATH} is missing or has no driver ({os.strerror(code)}): load the tun "
            "module ('modprobe tun'); in a container, pass the device in "
            "(e.g. docker run --device /dev/net/tun --cap-add NET_ADMIN)"
        )
    if code == errno.EBUSY:
        return VPNError(
            f"the interface name {name!r} is already in use by another device or process: "
            "choose another --dev name, or 'tun' to let the kernel pick one"
        )
    if code == errno.EINVAL:
        return VPNError(
            f"the kernel refused the TUN device {name!r} ({os.strerror(code)}): check that "
            "the name is a valid interface name and not an existing non-TUN interface"
        )
    return VPNError(f"cannot create the TUN device {name!r}: {exc}")


class TunDevice:
    """An open, non-persistent TUN device: its file descriptor and interface name."""

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        """Non-blocking descriptor of ``/dev/net/tun`` attached to the interface."""
        self.name = name
        """Interface name the kernel chose (e.g. ``tun0``)."""
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def fileno(self) -> int:
        """The file descriptor (for ``wait_readable`` and friends)."""
        return self.fd

    def close(self) -> None:
        """Close the descriptor (the kernel then deletes the interface). Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):  # outside trio.run nobody can be waiting
            trio.lowlevel.notify_closing(self.fd)
        os.close(self.fd)

    def __enter__(self) -> TunDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self.fd}"
        return f"TunDevice({self.name!r}, {state})"


def open_tun(name: str = "tun%d") -> TunDevice:
    """Create a TUN interface (IFF_TUN | IFF_NO_PI, non-persistent) and return it.

    ``name`` may contain ``%d`` for the kernel to pick a number; ``"tun"`` alone (OpenVPN's
    ``dev tun``) means ``"tun%d"``. Raises ``TunPermissionError`` without root or
    CAP_NET_ADMIN, ``ConfigError`` for an impossible name, ``VPNError`` for other failures.
    """
    if name == "tun":
        name = "tun%d"
    raw = name.encode()
    if not raw or len(raw) >= IFNAMSIZ or b"/" in raw or b"\0" in raw or raw.isspace():
        raise ConfigError(
            f"invalid TUN device name {name!r}: use at most {IFNAMSIZ - 1} characters, "
            "no '/' or spaces (e.g. 'tun0', or 'tun' to let the kernel pick)"
        )
    try:
        fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise tun_open_error(exc, name) from exc
    try:
        answer = fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(raw, IFF_TUN | IFF_NO_PI))
    except OSError as exc:
        os.close(fd)
        raise tun_open_error(exc, name) from exc
    chosen = _IFREQ.unpack(answer)[0].split(b"\0", 1)[0].decode()
    return TunDevice(fd, chosen)


class KernelTunEndpoint:
    """The tun layer's endpoint on a kernel TUN device: batched reads and writes of IP packets."""

    def __init__(self, device: TunDevice, *, batch_cap: int = BATCH_CAP) -> None:
        if batch_cap < 1:
            raise ValueError("batch_cap must be at least 1")
        self.device = device
        """The TUN device; closed by ``close``."""
        self._batch_cap = batch_cap
        self._drops = DropCounter()
        self.largest_batch = 0
        """Most packets drained by one ``read_batch`` so far."""

    @property
    def name(self) -> str:
        """Interface name of the device."""
        return self.device.name

    async def read_batch(self) -> Batch:
        """Wait for at least one packet, then drain what is queued (up to the cap).

        Raises ``trio.EndOfChannel`` once the endpoint is closed or the interface was deleted.
        """
        while True:
            if self.device.closed:
                raise trio.EndOfChannel
            try:
                await trio.lowlevel.wait_readable(self.device.fd)
            except trio.ClosedResourceError:
                raise trio.EndOfChannel from None  # closed while we waited
            batch = self._drain()
            if batch:
                self.largest_batch = max(self.largest_batch, len(batch))
                return batch
            # readable but nothing there (another wake-up raced us): wait again

    def _drain(self) -> Batch:
        batch: Batch = []
        fd = self.device.fd
        while len(batch) < self._batch_cap:
            try:
                packet = os.read(fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EBADFD:  # the interface was deleted under us
                    if batch:
                        break
                    raise trio.EndOfChannel from exc
                raise
            if not packet:  # end of file: not a TUN (a TUN never reads empty); treat as closed
                if batch:
                    break
                raise trio.EndOfChannel
            batch.append(packet)
        return batch

    async def write_batch(self, batch: Batch) -> None:
        """Write each packet to the kernel; drop and count those it refuses.

        One ``os.write`` per packet: a TUN takes exactly one packet per write (``writev``
        gathers its buffers into one packet too), so there is no batched write to use
        without IFF_VNET_HDR offloads. The loop keeps the per-packet work to that call.
        """
        device = self.device
        fd = device.fd
        write = os.write
        for index, packet in enumerate(batch):
            if device.closed:
                self._drops.drop(DropReason.TUN_CLOSED, len(batch) - index)
                break
            if not packet:
                self._drops.drop(DropReason.EMPTY_PACKET)
                continue
            try:
                write(fd, packet)
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                self._drops.drop(_write_drop_reason(exc))
                continue
            await self._write_when_writable(packet)
        await trio.lowlevel.checkpoint()

    async def _write_when_writable(self, packet: bytes) -> None:
        """The kernel queue was full: wait until it takes ``packet`` (or drop it)."""
        while not self.device.closed:
            try:
                await trio.lowlevel.wait_writable(self.device.fd)
            except trio.ClosedResourceError:
                break
            try:
                os.write(self.device.fd, packet)
            except BlockingIOError:
                continue
            except OSError as exc:
                self._drops.drop(_write_drop_reason(exc))
            return
        self._drops.drop(DropReason.TUN_CLOSED)

    def drops(self) -> dict[str, int]:
        """Packets dropped at the endpoint, by reason."""
        return self._drops.snapshot()

    def close(self) -> None:
        """Close the device (waking any waiting reader with EndOfChannel). Idempotent."""
        self.device.close()


def _write_drop_reason(exc: OSError) -> DropReason | str:
    if exc.errno == errno.EINVAL:
        return DropReason.REFUSED_BY_KERNEL  # not an IPv4/IPv6 packet, or malformed
    if exc.errno == errno.EMSGSIZE:
        return DropReason.TOO_LARGE
    if exc.errno in (errno.ENOBUFS, errno.ENOMEM):
        return DropReason.KERNEL_OUT_OF_BUFFERS
    if exc.errno in (errno.EBADFD, errno.EIO):
        return DropReason.TUN_GONE
    return f"write-error-{errno.errorcode.get(exc.errno or 0, 'unknown').lower()}"
