"""A seeded lossy UDP relay (trio) to put between a client and the lab server.

How this works: the relay listens on ``127.0.0.1:<ephemeral>``. Datagrams from the client go
out of one connected socket to the target (the lab server); datagrams from the target go back
to the last client address seen. Each datagram, in each direction, draws three numbers from
that direction's ``random.Random`` (seeded, so a run is repeatable for the same arrival order):

* ``drop``: the datagram is discarded;
* ``duplicate``: it is sent twice;
* ``reorder``: it is held back for ``reorder_delay`` seconds, so later datagrams overtake it
  (at most ``max_held`` are held at once; beyond that it is sent at once).

Everything is bounded (datagram size, held datagrams); the relay runs until cancelled::

    relay = LossyRelay((str(lab.server_address), lab.port), drop=0.1, seed=1)
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(relay.run)
        ...  # connect the client to (host, port)
        nursery.cancel_scope.cancel()
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import signal
from collections.abc import Awaitable, Callable

import attrs
import trio

MAX_DATAGRAM = 65535

_Send = Callable[[trio.socket.SocketType, bytes], Awaitable[None]]


@attrs.frozen
class RelayStatistics:
    """Counters of one relay, per direction (up = client to server)."""

    received_up: int
    """Datagrams received from the client."""
    received_down: int
    """Datagrams received from the server."""
    sent_up: int
    """Datagrams sent to the server (duplicates included)."""
    sent_down: int
    """Datagrams sent to the client (duplicates included)."""
    dropped_up: int
    """Client datagrams dropped on purpose."""
    dropped_down: int
    """Server datagrams dropped on purpose."""
    duplicated: int
    """Datagrams sent twice (both directions)."""
    reordered: int
    """Datagrams held back so that later ones overtake them (both directions)."""
    send_errors: int
    """Sends or receives that failed (e.g. ICMP port unreachable)."""


@attrs.define
class _Counters:
    received_up: int = 0
    received_down: int = 0
    sent_up: int = 0
    sent_down: int = 0
    dropped_up: int = 0
    dropped_down: int = 0
    duplicated: int = 0
    reordered: int = 0
    send_errors: int = 0


class LossyRelay:
    """Relay UDP between a local client and ``target``, dropping/duplicating/reordering."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        drop: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        seed: int = 0,
        reorder_delay: float = 0.02,
        max_held: int = 64,
        listen_host: str = "127.0.0.1",
    ) -> None:
        for name, p in (("drop", drop), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1]")
        self.target = target
        self.drop = drop
        self.duplicate = duplicate
        self.reorder = reorder
        self.reorder_delay = reorder_delay
        self.max_held = max_held
        self.listen_host = listen_host
        self._rng_up = random.Random(seed)
        self._rng_down = random.Random(seed + 0x5EED)
        self._counters = _Counters()
        self._held = 0
        self._client: tuple[str, int] | None = None
        self.address: tuple[str, int] | None = None

    def statistics(self) -> RelayStatistics:
        """A snapshot of the counters."""
        return RelayStatistics(**attrs.asdict(self._counters))

    async def run(
        self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Relay until cancelled; ``task_status.started`` gets the listening (host, port)."""
        family = (
            trio.socket.AF_INET6
            if isinstance(ipaddress.ip_address(self.target[0]), ipaddress.IPv6Address)
            else trio.socket.AF_INET
        )
        listen_family = trio.socket.AF_INET6 if ":" in self.listen_host else trio.socket.AF_INET
        with (
            trio.socket.socket(listen_family, trio.socket.SOCK_DGRAM) as front,
            trio.socket.socket(family, trio.socket.SOCK_DGRAM) as back,
        ):
            await front.bind((self.listen_host, 0))
            await back.connect(self.target)
            host, port = front.getsockname()[:2]
            self.address = (host, port)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._up, nursery, front, back)
                nursery.start_soon(self._down, nursery, front, back)
                task_status.started(self.address)

    async def _up(
        self, nursery: trio.Nursery, front: trio.socket.SocketType, back: trio.socket.SocketType
    ) -> None:
        c = self._counters
        while True:
            data, source = await front.recvfrom(MAX_DATAGRAM)
            c.received_up += 1
            self._client = source[:2]
            copies = self._fate(self._rng_up)
            if copies == 0:
                c.dropped_up += 1
            await self._emit(nursery, copies, self._send_up, back, data)

    async def _down(
        self, nursery: trio.Nursery, front: trio.socket.SocketType, back: trio.socket.SocketType
    ) -> None:
        c = self._counters
        while True:
            try:
                data = await back.recv(MAX_DATAGRAM)
            except OSError:  # e.g. ECONNREFUSED after an ICMP port unreachable
                c.send_errors += 1
                continue
            c.received_down += 1
            copies = self._fate(self._rng_down)
            if copies == 0:
                c.dropped_down += 1
            await self._emit(nursery, copies, self._send_down, front, data)

    def _fate(self, rng: random.Random) -> int:
        """0 (drop), 1, or 2 (duplicate) copies, negative if held back: always 3 draws."""
        drop, dup, hold = rng.random(), rng.random(), rng.random()
        if drop < self.drop:
            return 0
        copies = 2 if dup < self.duplicate else 1
        return -copies if hold < self.reorder else copies

    async def _emit(
        self,
        nursery: trio.Nursery,
        copies: int,
        send: _Send,
        sock: trio.socket.SocketType,
        data: bytes,
    ) -> None:
        if copies == 0:
            return
        if abs(copies) == 2:
            self._counters.duplicated += 1
        if copies < 0 and self._held < self.max_held:
            self._counters.reordered += 1
            self._held += 1
            nursery.start_soon(self._delayed, -copies, send, sock, data)
            return
        for _ in range(abs(copies)):
            await send(sock, data)

    async def _delayed(
        self, copies: int, send: _Send, sock: trio.socket.SocketType, data: bytes
    ) -> None:
        try:
            await trio.sleep(self.reorder_delay)
            for _ in range(copies):
                await send(sock, data)
        finally:
            self._held -= 1

    async def _send_up(self, back: trio.socket.SocketType, data: bytes) -> None:
        try:
            await back.send(data)
            self._counters.sent_up += 1
        except OSError:
            self._counters.send_errors += 1

    async def _send_down(self, front: trio.socket.SocketType, data: bytes) -> None:
        if self._client is None:
            return
        try:
            await front.sendto(data, self._client)
            self._counters.sent_down += 1
        except OSError:
            self._counters.send_errors += 1


async def _serve(relay: LossyRelay, duration: float) -> None:
    """Relay for at most ``duration`` seconds or until SIGTERM/SIGINT; print counters at the end."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(relay.run)
            print(f"listening {host} {port}", flush=True)

            async def stop_on_signal() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_signal)
            await trio.sleep(duration)
            nursery.cancel_scope.cancel()
    print(json.dumps(attrs.asdict(relay.statistics())), flush=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m vpnstack.lab.relay``: a lossy relay as a process (e.g. inside a namespace).

    Prints ``listening HOST PORT`` once ready and the counters as one JSON line when it stops
    (SIGTERM, SIGINT, or after ``--duration`` seconds: it never runs unbounded).
    """
    parser = argparse.ArgumentParser(prog="python -m vpnstack.lab.relay", description=main.__doc__)
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--target", required=True, help="HOST:PORT of the server")
    parser.add_argument("--drop", type=float, default=0.0)
    parser.add_argument("--duplicate", type=float, default=0.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=300.0, help="stop after this long")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    relay = LossyRelay(
        (host.strip("[]"), int(port)),
        drop=args.drop,
        duplicate=args.duplicate,
        reorder=args.reorder,
        seed=args.seed,
        listen_host=args.listen_host,
    )
    trio.run(_serve, relay, args.duration)


if __name__ == "__main__":
    main()
