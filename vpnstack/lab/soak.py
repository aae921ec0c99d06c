"""``python -m vpnstack.lab.soak MINUTES``: a soak test of the userspace tunnel (needs root).

How this works: ``main`` starts an ``OpenVPNLab`` whose server renegotiates every
``reneg-sec`` seconds (6 by default; ``--reneg-side client`` puts it in the client config
instead, ``both`` in both), opens the tunnel in this process (``open_tunnel``) and runs a
``Soak``: one task pings the lab's tunnel server address every ``interval`` seconds (0.2),
one counts the echo replies, one takes a ``Sample`` at the end of every minute and prints it
as one line (pings answered so far, renegotiations from the tlssession statistics and from
the server log, VmRSS of this process, its open file descriptors, drops by layer). After the
last minute it waits ``REPLY_GRACE`` seconds for the last replies, then ``evaluate`` checks
the goals and the summary ends with a verdict:

* RSS at the last minute less than ``RSS_GROWTH_LIMIT_KIB`` (2 MiB) above the first minute's;
* the same number of open file descriptors at every minute as at the first;
* at least ``REPLY_RATIO_GOAL`` (99 %) of the pings answered;
* the tunnel stayed up and the run was not cut short.

The exit status is 0 when every goal is met, 1 otherwise. Every loop is bounded in count and
time (a ``fail_after`` around the whole run); the lab (server process, namespace, temp dir)
is stopped when ``main`` ends, also on Ctrl-C or SIGTERM, after which the samples taken so far
are summarised. Memory for the ping bookkeeping is allocated before the first sample, so the
soak's own counters do not grow with the run.
"""

from __future__ import annotations

import argparse
import array
import ctypes
import functools
import gc
import ipaddress
import math
import os
import signal
import struct
import sys
from collections.abc import Callable
from typing import Literal

import attrs
import trio

from vpnstack.config import Config, load_config
from vpnstack.errors import VPNError
from vpnstack.icmp import build_echo_request, parse_echo_reply
from vpnstack.lab.server import LabError, OpenVPNLab, ServerOptions
from vpnstack.tunnel import Tunnel, open_tunnel

PING_INTERVAL = 0.2
"""Seconds between two echo requests."""
MINUTE = 60.0
"""Seconds between two samples (shorter in the tests)."""
RENEG_SEC = 6
"""``reneg-sec`` of the soak (a 2.6 server randomises its own down by up to 10 %)."""
RSS_GROWTH_LIMIT_KIB = 2048
"""Goal: VmRSS at the end less than this many KiB above the first minute's."""
FD_TOLERANCE = 0
"""Goal: open descriptors at each minute within this many of the first minute's."""
REPLY_RATIO_GOAL = 0.99
"""Goal: this share of the pings answered."""
REPLY_GRACE = 3.0
"""Seconds after the last ping for the replies still on their way."""
LATE_REPLY = 1.0
"""A reply after this many seconds is counted as late (it still counts as answered)."""
HANDSHAKE_LIMIT = 60.0
"""Seconds the tunnel may take to come up (bounds the whole run, with the duration)."""
PING_IDENT = 0x50AC
PAYLOAD_PREFIX = b"vpnstack soak "
COMPLAINTS = (
    "Authenticate/Decrypt packet error",
    "AEAD Decrypt error",
    "HMAC authentication failed",
    "tls-crypt unwrapping failed",
    "TLS Error",
    "key IDs out of sync",
)
"""Server log lines that mean a packet of ours was refused (reported, not a goal)."""
SERVER_TLS_SESSION = "Control Channel: TLS"
"""Logged by the server (verb >= 2) once per TLS session, i.e. once per key id negotiated."""

RenegSide = Literal["server", "client", "both"]


# --- what one minute looks like, and the goals ---------------------------------------------


@attrs.frozen
class Sample:
    """The state at the end of one minute of the soak (counters are totals so far)."""

    minute: int
    elapsed: float
    """Seconds since the tunnel came up."""
    sent: int
    replies: int
    renegotiations: int
    """The tlssession's ``renegotiations`` counter."""
    server_renegotiations: int | None
    """TLS sessions after the first in the server log (None without a server log)."""
    rss_kib: int
    """VmRSS of this process."""
    fds: int
    """Open file descriptors of this process."""
    drops: dict[str, dict[str, int]]
    """Non-empty ``drops`` of each layer's statistics, by layer name."""
    server_rss_kib: int | None = None
    """VmRSS of the openvpn server (None when unknown)."""
    c_heap_kib: int | None = None
    """malloc'd bytes in use in this process (``c_heap_kib``; not printed in the line)."""

    def line(self) -> str:
        """The one line printed for this minute."""
        server = (
            ""
            if self.server_renegotiations is None
            else f" (server log {self.server_renegotiations})"
        )
        server_rss = "" if self.server_rss_kib is None else f"  server RSS {self.server_rss_kib} kB"
        answered = percent(self.replies, self.sent)
        return (
            f"minute {self.minute:2d}: pings {self.replies}/{self.sent} ({answered})"
            f"  renegotiations {self.renegotiations}{server}  RSS {self.rss_kib} kB"
            f"  fds {self.fds}  drops {format_drops(self.drops)}{server_rss}"
        )


@attrs.frozen
class Goal:
    """One goal of the soak and whether it was met."""

    name: str
    met: bool
    detail: str


@attrs.frozen
class SoakReport:
    """Everything a soak measured, and the verdict."""

    samples: tuple[Sample, ...]
    sent: int
    replies: int
    late: int
    """Replies that came more than ``LATE_REPLY`` s after their request."""
    duplicates: int
    max_rtt: float
    renegotiations: int
    server_renegotiations: int | None
    drops: dict[str, dict[str, int]]
    complaints: dict[str, int]
    """Server log lines of ``COMPLAINTS``, by text."""
    goals: tuple[Goal, ...]
    error: str | None = None
    """Why the tunnel failed, if it did."""
    memory: tuple[str, ...] = ()
    """How the memory went (C heap at the first and last minute, after a full gc)."""

    @property
    def goals_met(self) -> bool:
        return all(goal.met for goal in self.goals)

    def summary_lines(self) -> list[str]:
        """The summary printed after the last minute, ending with the verdict."""
        server = (
            ""
            if self.server_renegotiations is None
            else f" (server log: {self.server_renegotiations} TLS sessions after the first)"
        )
        complaints = ", ".join(f"{n}x {text!r}" for text, n in self.complaints.items()) or "none"
        lines = [
            f"summary: {len(self.samples)} minute(s); pings {self.replies}/{self.sent} answered"
            f" ({percent(self.replies, self.sent)}), {self.late} late (> {LATE_REPLY:g} s),"
            f" {self.duplicates} duplicates, max RTT {self.max_rtt * 1000:.0f} ms",
            f"  renegotiations {self.renegotiations}{server}",
            f"  drops {format_drops(self.drops)}; server log complaints: {complaints}",
        ]
        lines += [f"  {line}" for line in self.memory]
        if self.error is not None:
            lines.append(f"  tunnel error: {self.error}")
        lines += [f"  [{'met' if g.met else 'NOT MET'}] {g.name}: {g.detail}" for g in self.goals]
        failed = [g.name for g in self.goals if not g.met]
        lines.append(
            "verdict: PASS (every goal met)"
            if not failed
            else f"verdict: FAIL ({', '.join(failed)} not met)"
        )
        return lines


def evaluate(
    samples: tuple[Sample, ...] | list[Sample],
    sent: int,
    replies: int,
    *,
    minutes: int,
    error: str | None = None,
    rss_growth_limit_kib: int = RSS_GROWTH_LIMIT_KIB,
    fd_tolerance: int = FD_TOLERANCE,
    reply_ratio: float = REPLY_RATIO_GOAL,
) -> tuple[Goal, ...]:
    """The goals, checked against the samples of a soak meant to last ``minutes``."""
    goals = []
    if samples:
        first, last = samples[0], samples[-1]
        growth = last.rss_kib - first.rss_kib
        peak = max(s.rss_kib for s in samples) - first.rss_kib
        goals.append(
            Goal(
                "RSS growth",
                growth < rss_growth_limit_kib,
                f"{first.rss_kib} kB at minute {first.minute}, {last.rss_kib} kB at minute"
                f" {last.minute}: {growth:+d} kB (peak {peak:+d} kB;"
                f" goal < {rss_growth_limit_kib} kB)",
            )
        )
        counts = [s.fds for s in samples]
        off = [(s.minute, s.fds) for s in samples[1:] if abs(s.fds - first.fds) > fd_tolerance]
        goals.append(
            Goal(
                "flat fds",
                not off,
                f"{first.fds} at minute {first.minute}, then {counts[1:] or 'no later minute'}"
                + ("" if not off else f"; off at minutes {[m for m, _ in off]}")
                + (f" (tolerance ±{fd_tolerance})" if fd_tolerance else ""),
            )
        )
    else:
        goals.append(Goal("RSS growth", False, "no minute was sampled"))
        goals.append(Goal("flat fds", False, "no minute was sampled"))
    ratio = replies / sent if sent else 0.0
    goals.append(
        Goal(
            "pings answered",
            sent > 0 and ratio >= reply_ratio,
            f"{replies}/{sent} = {percent(replies, sent)} (goal >= {reply_ratio * 100:g} %)",
        )
    )
    goals.append(
        Goal(
            "complete run",
            error is None and len(samples) >= minutes,
            f"{len(samples)} of {minutes} minutes"
            + ("" if error is None else f"; the tunnel failed: {error}"),
        )
    )
    return tuple(goals)


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f} %" if whole else "- %"


def format_drops(drops: dict[str, dict[str, int]]) -> str:
    if not drops:
        return "none"
    return " ".join(
        f"{layer}[{', '.join(f'{reason}={n}' for reason, n in sorted(reasons.items()))}]"
        for layer, reasons in sorted(drops.items())
    )


# --- process and server probes -------------------------------------------------------------


def vm_rss_kib(pid: int | str = "self") -> int | None:
    """VmRSS of a process in KiB, from /proc/PID/status (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def c_heap_kib() -> int | None:
    """Bytes malloc has handed out and not got back (glibc ``mallinfo2``), in KiB.

    OpenSSL's and the TLS objects' memory lives here (Python objects mostly in pymalloc's
    own arenas): with RSS it tells garbage not yet collected from memory kept for good.
    None where there is no glibc ``mallinfo2``.
    """
    try:
        libc = ctypes.CDLL(None)
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().uordblks) // 1024


def open_fds() -> int:
    """Open file descriptors of this process (the directory listing's own one included)."""
    return len(os.listdir("/proc/self/fd"))


class ServerLog:
    """Counts lines in the lab server's log as it grows, reading only what is new."""

    MAX_READ = 1 << 20  # bytes per poll (bounded; the rest is read on the next poll)

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0
        self.tls_sessions = 0
        self.complaints: dict[str, int] = {}

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read(self.MAX_READ)
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n") + 1  # whole lines only
        text = chunk[:end].decode("utf-8", "replace")
        self._offset += end
        self.tls_sessions += text.count(SERVER_TLS_SESSION)
        for complaint in COMPLAINTS:
            if (n := text.count(complaint)) > 0:
                self.complaints[complaint] = self.complaints.get(complaint, 0) + n

    @property
    def renegotiations(self) -> int:
        return max(self.tls_sessions - 1, 0)


def layer_drops(stats: dict[str, object]) -> dict[str, dict[str, int]]:
    """The non-empty ``drops`` of each layer's statistics."""
    out: dict[str, dict[str, int]] = {}
    for layer, record in stats.items():
        drops = getattr(record, "drops", None)
        if isinstance(drops, dict) and drops:
            out[layer] = {str(k): int(v) for k, v in drops.items()}
    return out


def tls_renegotiations(stats: dict[str, object]) -> int:
    count = getattr(stats.get("tlssession"), "renegotiations", 0)
    return count if isinstance(count, int) else 0


# --- the soak --------------------------------------------------------------------------------


class Soak:
    """Pings through an open tunnel for ``duration`` s, sampling every ``minute`` s.

    ``run(tunnel)`` does the work; ``report()`` may be called at any time (also after an
    interruption) and summarises what was measured so far.
    """

    def __init__(
        self,
        dst: ipaddress.IPv4Address,
        *,
        duration: float,
        minute: float = MINUTE,
        interval: float = PING_INTERVAL,
        server_log: ServerLog | None = None,
        server_pid: Callable[[], int | None] | None = None,
        out: Callable[[str], None] | None = None,
    ) -> None:
        if duration <= 0 or minute <= 0 or interval <= 0:
            raise ValueError("duration, minute and interval must be positive")
        self.dst = dst
        self.duration = duration
        self.minute = minute
        self.interval = interval
        self.minutes = max(1, math.floor(duration / minute + 1e-9))
        self.server_log = server_log
        self.server_pid = server_pid
        self.out = out
        self.capacity = math.ceil(duration / interval) + 1
        # Preallocated: the bookkeeping does not grow while the soak measures memory.
        self.sent_at = array.array("d", bytes(8 * self.capacity))
        self.answered = bytearray(self.capacity)
        self.samples: list[Sample] = []
        self.sent = self.replies = self.late = self.duplicates = 0
        self.max_rtt = 0.0
        self.error: str | None = None
        self._last_stats: dict[str, object] = {}
        self.end_rss_kib: int | None = None
        self.end_c_heap_kib: int | None = None
        self.gc_rss_kib: int | None = None
        self.gc_c_heap_kib: int | None = None
        self.collected: int | None = None

    async def run(self, tunnel: Tunnel) -> None:
        """Ping, count and sample until the duration is over (bounded in time)."""
        with trio.fail_after(self.duration + REPLY_GRACE + 30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._receive, tunnel)
                start = trio.current_time()
                async with trio.open_nursery() as timed:
                    timed.start_soon(self._send, tunnel, start)
                    timed.start_soon(self._sample, tunnel, start)
                # the last replies (bounded: REPLY_GRACE, in steps of 0.05 s)
                for _ in range(math.ceil(REPLY_GRACE / 0.05)):
                    if self.replies + self.duplicates >= self.sent:
                        break
                    await trio.sleep(0.05)
                self._last_stats = tunnel.statistics()
                # After the last sample (so the goals are not helped): what a full garbage
                # collection gives back tells garbage awaiting the cycle collector from a leak.
                self.end_rss_kib, self.end_c_heap_kib = vm_rss_kib(), c_heap_kib()
                self.collected = gc.collect()
                self.gc_rss_kib, self.gc_c_heap_kib = vm_rss_kib(), c_heap_kib()
                nursery.cancel_scope.cancel()

    async def _send(self, tunnel: Tunnel, start: float) -> None:
        src = tunnel.info.address
        assert src is not None
        deadline = start + self.duration
        for index in range(self.capacity):
            now = trio.current_time()
            if now >= deadline:
                break
            payload = PAYLOAD_PREFIX + struct.pack("!Q", index)
            packet = build_echo_request(src, self.dst, PING_IDENT, index & 0xFFFF, payload)
            self.sent_at[index] = now
            self.sent = index + 1
            await tunnel.send(packet)
            await trio.sleep_until(start + (index + 1) * self.interval)

    async def _receive(self, tunnel: Tunnel) -> None:
        src = tunnel.info.address
        for _ in range(8 * self.capacity + 10_000):  # bounded; cancelled at the end
            reply = parse_echo_reply(await tunnel.receive())
            if (
                reply is None
                or reply.src != self.dst
                or reply.dst != src
                or reply.ident != PING_IDENT
                or len(reply.payload) != len(PAYLOAD_PREFIX) + 8
                or not reply.payload.startswith(PAYLOAD_PREFIX)
            ):
                continue
            (index,) = struct.unpack_from("!Q", reply.payload, len(PAYLOAD_PREFIX))
            if index >= self.sent or (index & 0xFFFF) != reply.seq:
                continue
            if self.answered[index]:
                self.duplicates += 1
                continue
            self.answered[index] = 1
            self.replies += 1
            rtt = trio.current_time() - self.sent_at[index]
            self.max_rtt = max(self.max_rtt, rtt)
            if rtt > LATE_REPLY:
                self.late += 1

    async def _sample(self, tunnel: Tunnel, start: float) -> None:
        for minute in range(1, self.minutes + 1):
            await trio.sleep_until(start + minute * self.minute)
            stats = tunnel.statistics()
            self._last_stats = stats
            server_renegotiations = None
            if self.server_log is not None:
                self.server_log.poll()
                server_renegotiations = self.server_log.renegotiations
            pid = self.server_pid() if self.server_pid is not None else None
            sample = Sample(
                minute=minute,
                elapsed=trio.current_time() - start,
                sent=self.sent,
                replies=self.replies,
                renegotiations=tls_renegotiations(stats),
                server_renegotiations=server_renegotiations,
                rss_kib=vm_rss_kib() or 0,
                fds=open_fds(),
                drops=layer_drops(stats),
                server_rss_kib=vm_rss_kib(pid) if pid is not None else None,
                c_heap_kib=c_heap_kib(),
            )
            self.samples.append(sample)
            if self.out is not None:
                self.out(sample.line())

    def report(self) -> SoakReport:
        """The report of what was measured so far, with the goals evaluated."""
        if self.server_log is not None:
            self.server_log.poll()
        stats = self._last_stats
        return SoakReport(
            samples=tuple(self.samples),
            sent=self.sent,
            replies=self.replies,
            late=self.late,
            duplicates=self.duplicates,
            max_rtt=self.max_rtt,
            renegotiations=tls_renegotiations(stats),
            server_renegotiations=(
                self.server_log.renegotiations if self.server_log is not None else None
            ),
            drops=layer_drops(stats),
            complaints=dict(self.server_log.complaints) if self.server_log is not None else {},
            goals=evaluate(
                self.samples, self.sent, self.replies, minutes=self.minutes, error=self.error
            ),
            error=self.error,
            memory=self._memory_lines(),
        )

    def _memory_lines(self) -> tuple[str, ...]:
        lines = []
        if self.samples and self.samples[0].c_heap_kib is not None:
            first, last = self.samples[0], self.samples[-1]
            lines.append(
                f"C heap in use (malloc): {first.c_heap_kib} kB at minute {first.minute},"
                f" {last.c_heap_kib} kB at minute {last.minute}"
            )
        if self.collected is not None:
            lines.append(
                f"a full gc.collect() after the last minute freed {self.collected} objects:"
                f" RSS {self.end_rss_kib} -> {self.gc_rss_kib} kB, C heap"
                f" {self.end_c_heap_kib} -> {self.gc_c_heap_kib} kB"
            )
        return tuple(lines)


async def run_soak(
    config: Config,
    dst: ipaddress.IPv4Address,
    *,
    duration: float,
    minute: float = MINUTE,
    interval: float = PING_INTERVAL,
    lab: OpenVPNLab | None = None,
    out: Callable[[str], None] | None = None,
    soak: Soak | None = None,
) -> SoakReport:
    """Open the tunnel of ``config``, soak it (pinging ``dst``) and return the report.

    With ``lab``, its server log is read for renegotiations and complaints and its server's
    RSS is shown. A tunnel that fails is reported (``error``), not raised. Pass ``soak`` to
    keep hold of the measurements if the run is interrupted.
    """
    if soak is None:
        soak = Soak(
            dst,
            duration=duration,
            minute=minute,
            interval=interval,
            server_log=lab_server_log(lab) if lab is not None else None,
            server_pid=(lambda: lab.pid) if lab is not None else None,
            out=out,
        )
    try:
        with trio.fail_after(HANDSHAKE_LIMIT + soak.duration + REPLY_GRACE + 60):
            async with open_tunnel(config) as tunnel:
                await soak.run(tunnel)
    except VPNError as exc:
        soak.error = f"{type(exc).__name__}: {exc}"
    except trio.TooSlowError:
        soak.error = "the soak overran its time bound (the tunnel or the server hung)"
    return soak.report()


def lab_server_log(lab: OpenVPNLab) -> ServerLog:
    assert lab.directory is not None, "the lab is not started"
    return ServerLog(os.path.join(lab.directory, "openvpn.log"))


# --- command line ----------------------------------------------------------------------------


def lab_options(reneg_sec: int, side: RenegSide, verb: int = 3) -> ServerOptions:
    """Lab server options for a soak: ``reneg-sec`` on the server unless ``side`` is client."""
    extra = (f"reneg-sec {reneg_sec}",) if side in ("server", "both") else ()
    return ServerOptions(extra_lines=extra, verb=verb)


def client_extra_lines(reneg_sec: int, side: RenegSide) -> tuple[str, ...]:
    return (f"reneg-sec {reneg_sec}",) if side in ("client", "both") else ()


def _is_interrupt(exc: BaseException) -> bool:
    if isinstance(exc, KeyboardInterrupt):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_interrupt(e) for e in exc.exceptions)
    return False


def _sigterm_as_sigint(signum: int, frame: object) -> None:
    # trio turns SIGINT into KeyboardInterrupt at a safe point; SIGTERM goes the same way
    signal.raise_signal(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0: every goal met)."""
    parser = argparse.ArgumentParser(
        prog="python -m vpnstack.lab.soak",
        description="Soak the userspace tunnel against a lab OpenVPN server that renegotiates"
        " every few seconds; print one line a minute and a verdict (needs root).",
    )
    parser.add_argument("minutes", type=int, help="how long to run (1..1440 minutes)")
    parser.add_argument(
        "--interval", type=float, default=PING_INTERVAL, help="seconds between pings"
    )
    parser.add_argument("--reneg-sec", type=int, default=RENEG_SEC)
    parser.add_argument(
        "--reneg-side",
        choices=["server", "client", "both"],
        default="server",
        help="where reneg-sec is set (default: the server)",
    )
    parser.add_argument(
        "--minute-seconds", type=float, default=MINUTE, help=argparse.SUPPRESS
    )  # for trying the tool quickly
    args = parser.parse_args(argv)
    if not 1 <= args.minutes <= 1440:
        parser.error("minutes must be between 1 and 1440")
    if not 0.01 <= args.interval <= 10 or not 1 <= args.reneg_sec <= 86400:
        parser.error("--interval must be 0.01..10 s and --reneg-sec 1..86400")
    side: RenegSide = args.reneg_side
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm_as_sigint)
    soak: Soak | None = None
    interrupted = False
    lab = OpenVPNLab(lab_options(args.reneg_sec, side))
    try:
        lab.start()
        assert lab.directory is not None
        path = lab.write_client_config(
            os.path.join(lab.directory, "client.ovpn"),
            extra_lines=client_extra_lines(args.reneg_sec, side),
        )
        config = load_config(path)
        soak = Soak(
            lab.tunnel_server_address,
            duration=args.minutes * args.minute_seconds,
            minute=args.minute_seconds,
            interval=args.interval,
            server_log=lab_server_log(lab),
            server_pid=lambda: lab.pid,
            out=lambda line: print(line, flush=True),
        )
        print(
            f"soak: {args.minutes} min, a ping every {args.interval:g} s to"
            f" {lab.tunnel_server_address} through the userspace tunnel; reneg-sec"
            f" {args.reneg_sec} on the {side} side{'s' if side == 'both' else ''}; openvpn"
            f" pid {lab.pid} in namespace {lab.namespace}",
            flush=True,
        )
        trio.run(
            functools.partial(
                run_soak, config, lab.tunnel_server_address, duration=soak.duration, soak=soak
            )
        )
    except LabError as exc:
        print(f"lab error: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:
        if not _is_interrupt(exc):
            raise
        interrupted = True
    finally:
        # a second Ctrl-C must not cut the clean-up short (lab.stop() is bounded)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        lab.stop()
    if soak is None:
        print("interrupted before the soak started", file=sys.stderr)
        return 1
    report = soak.report()
    if interrupted:
        print(f"interrupted after {len(report.samples)} of {soak.minutes} minutes", flush=True)
    for line in report.summary_lines():
        print(line)
    return 0 if report.goals_met and not interrupted else 1


if __name__ == "__main__":
    sys.exit(main())
