"""The management interface as a trio service: sockets around ``ManagementCore``.

How this works: ``ManagementInterface.run`` listens on loopback TCP or a unix socket and
starts one task per management client. A client task has a reader (bytes -> ``core.receive``)
and a writer (its own output queue -> the socket). Everything the core returns is dispatched
at once and synchronously: bytes are appended to the right client's queue, requests are put
into ``requests`` with ``send_nowait``. Nothing a management client does can block the VPN
client that calls ``post``:

* a client whose unread output exceeds ``max_queued_bytes`` (it never reads) is dropped;
* a line longer than ``max_line`` without a newline drops the client (the core says so);
* garbage gets stock's error replies (and, unread, ends as the previous case);
* a disconnect in the middle of a command just ends that client's task;
* requests the VPN client does not take fast enough are dropped and counted, not queued
  without bound (keep ``requests`` drained).

Unix sockets are created like stock's (any local user may connect: mode 0777) unless
``client_user``/``client_group`` are set, which are checked with SO_PEERCRED on accept.
Time: the core gets wall-clock unix seconds that advance with trio's clock, so tests under
``autojump_clock`` see bytecount timers and timestamps move together.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import ipaddress
import math
import os
import pwd
import socket as stdlib_socket
import stat
import struct
import time
from collections import deque
from collections.abc import Callable

import attrs
import trio

from vpnstack.errors import ConfigError
from vpnstack.management import events as ev
from vpnstack.management.core import ManagementCore
from vpnstack.management.settings import ManagementSettings, read_password_file

_READ_SIZE = 4096


@attrs.frozen
class ManagementStatistics:
    """Counters of the management interface (``statistics()``)."""

    clients: int
    """Management clients connected now."""
    accepted: int
    """Connections accepted so far (including refused ones)."""
    refused: dict[str, int]
    """Connections closed at once, by reason (``peer credentials``, ``too many clients``)."""
    dropped: dict[str, int]
    """Clients dropped, by reason (``slow consumer``, ``line too long``, ...)."""
    requests_dropped: int
    """Requests the VPN client did not take in time."""
    queue_peak: int
    """Most output bytes any client had unread."""


@attrs.define(eq=False)
class _Client:
    """One connected management client."""

    id: int
    stream: trio.SocketStream
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    queue: deque[bytes] = attrs.field(factory=deque)
    queued: int = 0
    wakeup: trio.Event = attrs.field(factory=trio.Event)
    drained: trio.Event = attrs.field(factory=trio.Event)
    pending: bytes = b""
    """What the writer is sending now (taken from ``queue``) ..."""
    offset: int = 0
    """... and how much of it has gone out."""
    closing: str | None = None
    """Set when we (or the peer) end the connection; None while it lives."""
    flush_and_close: bool = False
    """``exit``/``quit``/bad passwords: write what is queued, then close."""


class ManagementInterface:
    """The ``--management`` service; see the module docstring and the package docstring."""

    def __init__(
        self,
        settings: ManagementSettings,
        *,
        title: str = "vpnstack",
        traffic: Callable[[], ev.Traffic] | None = None,
        request_buffer: int = 64,
    ) -> None:
        password = None
        if settings.password_file is not None:
            try:
                password = read_password_file(settings.password_file)
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the management password file: {exc.strerror}",
                    path=settings.password_file,
                ) from None
        local = settings.unix_path is not None or _is_loopback(settings.host)
        if not local and not settings.allow_non_loopback:
            raise ConfigError(
                f"management on {settings.host} would be reachable from other hosts; "
                "listen on 127.0.0.1, ::1 or a unix socket"
            )
        self._settings = settings
        try:
            self._uid = None if settings.client_user is None else _uid(settings.client_user)
            self._gid = None if settings.client_group is None else _gid(settings.client_group)
        except KeyError as exc:
            raise ConfigError(f"management-client-user/group: no such {exc.args[0]}") from None
        self._core = ManagementCore(settings, password=password, title=title)
        self._traffic = traffic
        self._requests_in, self.requests = trio.open_memory_channel[ev.Request](request_buffer)
        self._clients: dict[int, _Client] = {}
        self._next_id = 1
        self._timer_wakeup = trio.Event()
        self._clock_started = False
        self._t0 = 0.0
        self._wall0 = 0.0
        self._accepted = 0
        self._refused: dict[str, int] = {}
        self._dropped: dict[str, int] = {}
        self._requests_dropped = 0
        self._queue_peak = 0
        self.address: tuple[str, int] | str | None = None
        """Where the interface listens, once started: (host, port) or the unix socket path."""

    # --- the public side ------------------------------------------------------------------

    def post(self, event: ev.Event) -> None:
        """Tell the interface what happened to the VPN client (never blocks)."""
        self._dispatch(self._core.handle_event(event, self._now()))

    def statistics(self) -> ManagementStatistics:
        """Counters, as a frozen record."""
        return ManagementStatistics(
            clients=len(self._clients),
            accepted=self._accepted,
            refused=dict(self._refused),
            dropped=dict(self._dropped),
            requests_dropped=self._requests_dropped,
            queue_peak=self._queue_peak,
        )

    async def run(self, *, task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled; ``task_status.started(address)`` when listening."""
        self._start_clock()
        listeners = await self._listen()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._timers)
                for listener in listeners:
                    nursery.start_soon(self._accept_loop, listener, nursery)
                task_status.started(self.address)
        finally:
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()
            if self._settings.unix_path is not None:
                _unlink_socket(self._settings.unix_path)
            self._requests_in.close()

    # --- listening --------------------------------------------------------------------------

    async def _listen(self) -> list[trio.SocketListener]:
        settings = self._settings
        if settings.unix_path is None:
            try:
                listeners = await trio.open_tcp_listeners(settings.port, host=settings.host)
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen on {settings.host} port {settings.port}: {exc.strerror}"
                ) from None
            sockname = listeners[0].socket.getsockname()
            self.address = (sockname[0], sockname[1])
            return listeners
        path = settings.unix_path
        _unlink_socket(path)  # stock removes a stale socket before binding
        sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
        try:
            await sock.bind(path)
            os.chmod(path, 0o777)  # stock binds with umask 0; access is limited by the checks
            sock.listen(8)
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot listen on {path}: {exc.strerror}") from None
        self.address = path
        return [trio.SocketListener(sock)]

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError:
                # Out of file descriptors and the like: refuse for a moment, never crash the
                # VPN client over its management interface.
                self._refused["accept error"] = self._refused.get("accept error", 0) + 1
                await trio.sleep(0.1)
                continue
            self._accepted += 1
            refusal = self._refusal(stream)
            if refusal is not None:
                self._refused[refusal] = self._refused.get(refusal, 0) + 1
                await trio.aclose_forcefully(stream)
                continue
            client = _Client(self._next_id, stream)
            self._next_id += 1
            self._clients[client.id] = client
            nursery.start_soon(self._serve, client)

    def _refusal(self, stream: trio.SocketStream) -> str | None:
        if len(self._clients) >= self._settings.max_clients:
            return "too many clients"
        settings = self._settings
        if settings.unix_path is None or (self._uid is None and self._gid is None):
            return None
        try:
            creds = stream.socket.getsockopt(
                stdlib_socket.SOL_SOCKET, stdlib_socket.SO_PEERCRED, struct.calcsize("3i")
            )
            _pid, uid, gid = struct.unpack("3i", creds)
        except OSError:
            return "peer credentials"
        if self._uid is not None and uid != self._uid:
            return "peer credentials"
        if self._gid is not None and gid != self._gid:
            return "peer credentials"
        return None

    # --- one client -------------------------------------------------------------------------

    async def _serve(self, client: _Client) -> None:
        exiting = True
        try:
            with client.scope:
                self._dispatch(self._core.connect(client.id, self._now()))
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, client)
                    await self._read(client)
                    if client.flush_and_close:
                        await self._flushed(client)
                    nursery.cancel_scope.cancel()
            exiting = False
        finally:
            if client.closing is not None:
                exiting = False
            self._clients.pop(client.id, None)
            with trio.CancelScope(shield=True):
                rest = client.pending[client.offset :] + b"".join(client.queue)
                if exiting and rest:
                    # We are being shut down: the last notifications (>STATE EXITING,
                    # >FATAL) still go out, within a bound.
                    with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError):
                        await client.stream.send_all(rest)
                await trio.aclose_forcefully(client.stream)
            self._dispatch(self._core.disconnect(client.id, self._now(), exiting=exiting))

    async def _read(self, client: _Client) -> None:
        while client.closing is None:
            try:
                data = await client.stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                data = b""
            if not data:
                client.closing = "disconnected"
                return
            self._poll_traffic()
            self._dispatch(self._core.receive(client.id, bytes(data), self._now()))
            self._timer_wakeup.set()

    async def _write(self, client: _Client) -> None:
        while True:
            while not client.queue:
                await client.wakeup.wait()
                client.wakeup = trio.Event()
            # Everything queued goes in one write: one syscall per burst, not per line. The
            # socket's own send is used so that a cancelled write knows what went out.
            client.pending = b"".join(client.queue)
            client.queue.clear()
            client.offset = 0
            view = memoryview(client.pending)
            try:
                while client.offset < len(view):
                    client.offset += await client.stream.socket.send(view[client.offset :])
            except (trio.ClosedResourceError, OSError):
                self._drop(client, "disconnected")
                return
            finally:
                view.release()
            client.queued -= len(client.pending)
            client.pending = b""
            if not client.queue:
                client.drained.set()

    async def _flushed(self, client: _Client) -> None:
        """Wait (bounded) until what is queued for ``client`` is written."""
        with trio.move_on_after(5):
            while client.queued:
                client.drained = trio.Event()
                await client.drained.wait()

    # --- dispatching the core's outputs -----------------------------------------------------

    def _dispatch(self, outputs: list[ev.Output]) -> None:
        for item in outputs:
            if isinstance(item, ev.ToClient):
                self._enqueue(item)
            elif isinstance(item, ev.CloseClient):
                client = self._clients.get(item.client)
                if client is None:
                    continue
                if not item.flush:
                    self._drop(client, item.reason)
                else:
                    client.closing = item.reason
                    client.flush_and_close = True
            else:
                try:
                    self._requests_in.send_nowait(item)
                except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                    self._requests_dropped += 1

    def _enqueue(self, item: ev.ToClient) -> None:
        client = self._clients.get(item.client)
        if client is None or (client.closing is not None and not client.flush_and_close):
            return
        if client.queued + len(item.data) > self._settings.max_queued_bytes:
            self._drop(client, "slow consumer")
            return
        client.queue.append(item.data)
        client.queued += len(item.data)
        self._queue_peak = max(self._queue_peak, client.queued)
        client.wakeup.set()

    def _drop(self, client: _Client, reason: str) -> None:
        if client.closing is None or client.flush_and_close:
            self._dropped[reason] = self._dropped.get(reason, 0) + 1
        client.closing = reason
        client.flush_and_close = False
        client.queue.clear()
        client.queued = 0
        client.scope.cancel()

    # --- time -------------------------------------------------------------------------------

    def _start_clock(self) -> None:
        if not self._clock_started:
            self._t0 = trio.current_time()
            self._wall0 = time.time()
            self._clock_started = True

    def _now(self) -> float:
        """Wall-clock unix time that advances with trio's clock."""
        self._start_clock()
        return self._wall0 + (trio.current_time() - self._t0)

    def _poll_traffic(self) -> None:
        if self._traffic is not None:
            self._core.handle_event(self._traffic(), self._now())

    async def _timers(self) -> None:
        while True:
            due = self._core.next_timer()
            deadline = math.inf if due is None else self._t0 + (due - self._wall0)
            with trio.move_on_at(deadline):
                await self._timer_wakeup.wait()
            self._timer_wakeup = trio.Event()
            self._poll_traffic()
            self._dispatch(self._core.on_timer(self._now()))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uid(user: str | int) -> int:
    if isinstance(user, int):
        return user
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise KeyError(f"user {user!r}") from None


def _gid(group: str | int) -> int:
    if isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise KeyError(f"group {group!r}") from None


def _unlink_socket(path: str) -> None:
    """Remove ``path`` if it is a socket (never a regular file someone pointed us at)."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
