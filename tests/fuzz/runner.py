"""Runs targets: N mutated inputs each, crashes deduplicated, hangs timed, inputs saved.

A *crash* is any exception outside the target's ``expected`` tuple (by default
``RemoteProtocolError`` and the ``VPNError`` family); crashes are deduplicated by exception
type and the innermost frame inside ``vpnstack/`` (or the innermost harness frame for a
failed harness assertion). A *hang* is one input that took more than ``hang_limit`` seconds
(``time.monotonic``); an input still running after ``hard_limit`` seconds is interrupted
with SIGALRM (which also breaks a blocking ``open``/``read``) and counted as a hang.

Command line (what ``scripts/fuzz`` runs)::

    python -m tests.fuzz.runner [N] [--target NAME]... [--seed S] [--crash-dir DIR]
                                [--no-extremes] [--no-minimize] [--list]
    python -m tests.fuzz.runner --target NAME --replay FILE   # one saved input again

exits 1 if any target crashed or hung (or an extreme case failed), 0 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import attrs

from tests.fuzz.engine import Target

DEFAULT_N = 2000
HANG_LIMIT = 1.0
"""Seconds one input may take."""
HARD_LIMIT = 10.0
"""Seconds after which one input is interrupted."""
DEFAULT_CRASH_DIR = "/tmp/vpnstack-fuzz-crashes"
MAX_SAVED_HANGS = 20
"""Hanging inputs saved (and printed) per target; the rest are only counted."""


class InputTimeout(BaseException):
    """Raised by SIGALRM into an input that ran past ``HARD_LIMIT`` (not an ``Exception``, so
    that the code under test cannot swallow it)."""


@attrs.define
class Crash:
    """One distinct crash: the first input that produced it and how often it was seen."""

    key: str
    data: bytes
    traceback: str
    count: int = 1
    saved: str | None = None


@attrs.define
class Hang:
    """One input that took too long."""

    data: bytes
    seconds: float
    interrupted: bool
    saved: str | None = None


@attrs.define
class TargetResult:
    """The figures of one target."""

    name: str
    tried: int = 0
    seconds: float = 0.0
    crashes: dict[str, Crash] = attrs.field(factory=dict)
    hangs: list[Hang] = attrs.field(factory=list)

    @property
    def rate(self) -> float:
        """Inputs per second."""
        return self.tried / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> bool:
        return bool(self.crashes or self.hangs)


def crash_key(exc: BaseException) -> str:
    """``Type at path:line in function`` of the innermost vpnstack frame (else harness frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = None
    for frame in reversed(frames):
        path = frame.filename.replace(os.sep, "/")
        if "/vpnstack/" in path and "/tests/" not in path:
            where = frame
            break
    if where is None and frames:
        where = frames[-1]
    if where is None:
        return type(exc).__name__
    path = where.filename.replace(os.sep, "/")
    for anchor in ("/vpnstack/", "/tests/"):
        if anchor in path:
            path = path[path.rindex(anchor) + 1 :]
            break
    return f"{type(exc).__name__} at {path}:{where.lineno} in {where.name}"


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def fire(signum: int, frame: FrameType | None) -> None:
        raise InputTimeout(f"input still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


Outcome = tuple[str, BaseException | None, float]
"""("ok" | "crash" | "timeout", the exception, seconds)."""


def run_one(target: Target, data: bytes, hard_limit: float = HARD_LIMIT) -> Outcome:
    """Feed one input; classify what happened."""
    start = time.monotonic()
    try:
        with _alarm(hard_limit):
            target.run(data)
    except target.expected:
        return "ok", None, time.monotonic() - start
    except InputTimeout as exc:
        return "timeout", exc, time.monotonic() - start
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return "crash", exc, time.monotonic() - start
    return "ok", None, time.monotonic() - start


def minimize(
    target: Target, data: bytes, still_fails: Callable[[bytes], bool], budget: float = 5.0
) -> bytes:
    """Remove chunks (halves, quarters, ... single bytes) while ``still_fails``; time-bounded."""
    deadline = time.monotonic() + budget
    best = data
    chunk = max(1, len(best) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        progressed = False
        pos = 0
        while pos < len(best) and time.monotonic() < deadline:
            candidate = best[:pos] + best[pos + chunk :]
            if candidate != best and still_fails(candidate):
                best = candidate
                progressed = True
            else:
                pos += chunk
        if not progressed:
            chunk //= 2
    return best


def _save(crash_dir: str, target: str, data: bytes, text: str) -> str:
    folder = os.path.join(crash_dir, target)
    os.makedirs(folder, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    path = os.path.join(folder, f"{digest}.bin")
    with open(path, "wb") as f:
        f.write(data)
    with open(os.path.join(folder, f"{digest}.txt"), "w") as f:
        f.write(text)
    return path


def fuzz_target(
    target: Target,
    n: int,
    seed: int,
    *,
    crash_dir: str | None = None,
    hang_limit: float = HANG_LIMIT,
    hard_limit: float = HARD_LIMIT,
    do_minimize: bool = False,
) -> TargetResult:
    """Try the samples, then mutated inputs up to ``n`` in all; deterministic for ``seed``."""
    rng = random.Random(f"{seed}:{target.name}")
    result = TargetResult(target.name)
    start = time.monotonic()
    minimizing = 0.0  # not counted in the inputs/s figure
    for index in range(n):
        if index < len(target.samples):
            data = target.samples[index]
        else:
            data = target.mutate(rng.choice(target.samples), rng)
        outcome, exc, seconds = run_one(target, data, hard_limit)
        result.tried += 1
        if outcome == "timeout" or seconds > hang_limit:
            hang = Hang(data, seconds, interrupted=outcome == "timeout")
            if crash_dir is not None and len(result.hangs) < MAX_SAVED_HANGS:
                hang.saved = _save(
                    crash_dir, target.name, data, f"hang: {seconds:.2f} s on this input\n"
                )
            result.hangs.append(hang)
            continue
        if outcome != "crash":
            continue
        assert exc is not None
        key = crash_key(exc)
        known = result.crashes.get(key)
        if known is not None:
            known.count += 1
            continue
        text = "".join(traceback.format_exception(exc))
        if do_minimize:
            began = time.monotonic()

            def same_crash(candidate: bytes, key: str = key) -> bool:
                got, got_exc, _ = run_one(target, candidate, hard_limit)
                return got == "crash" and got_exc is not None and crash_key(got_exc) == key

            small = minimize(target, data, same_crash)
            _, small_exc, _ = run_one(target, small, hard_limit)
            if small_exc is not None:
                data, text = small, "".join(traceback.format_exception(small_exc))
            minimizing += time.monotonic() - began
        crash = Crash(key, data, text)
        if crash_dir is not None:
            crash.saved = _save(crash_dir, target.name, data, f"{key}\n\n{text}")
        result.crashes[key] = crash
    result.seconds = time.monotonic() - start - minimizing
    return result


def format_table(results: Sequence[TargetResult]) -> str:
    """One line per target: inputs, inputs/s, distinct crashes, hangs."""
    width = max([len(r.name) for r in results] + [6])
    lines = [f"{'target':<{width}}  {'inputs':>7}  {'inputs/s':>9}  {'crashes':>7}  {'hangs':>5}"]
    for r in results:
        lines.append(
            f"{r.name:<{width}}  {r.tried:>7}  {r.rate:>9.0f}  {len(r.crashes):>7}  "
            f"{len(r.hangs):>5}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from tests.fuzz import extremes
    from tests.fuzz.registry import all_targets

    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=DEFAULT_N, help="inputs per target")
    parser.add_argument("--target", action="append", default=[], help="only this target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crash-dir", default=DEFAULT_CRASH_DIR)
    parser.add_argument("--no-extremes", action="store_true", help="skip the extreme cases")
    parser.add_argument("--no-minimize", action="store_true", help="keep crashing inputs whole")
    parser.add_argument("--list", action="store_true", help="list targets and extreme cases")
    parser.add_argument(
        "--replay", metavar="FILE", help="run one saved input on the one --target; show it"
    )
    args = parser.parse_args(argv)

    targets = all_targets()
    if args.list:
        for t in targets:
            print(f"{t.name}  ({len(t.samples)} samples)")
        for name in extremes.CASES:
            print(f"extreme:{name}")
        return 0
    if args.target:
        known = {t.name for t in targets}
        unknown = [name for name in args.target if name not in known]
        if unknown:
            parser.error(f"unknown target(s) {', '.join(unknown)}; see --list")
        targets = [t for t in targets if t.name in args.target]
    if args.replay is not None:
        if len(targets) != 1 or not args.target:
            parser.error("--replay needs exactly one --target")
        with open(args.replay, "rb") as f:
            data = f.read()
        outcome, exc, seconds = run_one(targets[0], data)
        print(f"{targets[0].name}: {outcome} in {seconds:.3f} s ({len(data)} bytes)")
        if exc is not None:
            print(crash_key(exc))
            print("".join(traceback.format_exception(exc)).rstrip())
        return 0 if outcome == "ok" and seconds <= HANG_LIMIT else 1

    print(f"fuzz: {args.n} inputs per target, seed {args.seed}, crashes to {args.crash_dir}")
    results: list[TargetResult] = []
    for target in targets:
        result = fuzz_target(
            target, args.n, args.seed, crash_dir=args.crash_dir, do_minimize=not args.no_minimize
        )
        results.append(result)
        print(
            f"  {result.name}: {result.tried} inputs, {result.rate:.0f}/s, "
            f"{len(result.crashes)} crashes, {len(result.hangs)} hangs",
            flush=True,
        )
    print()
    print(format_table(results))
    failed = False
    for r in results:
        for crash in r.crashes.values():
            failed = True
            print(f"\nCRASH {r.name}: {crash.key} (x{crash.count}), saved {crash.saved}")
            print(f"  input ({len(crash.data)} bytes): {crash.data[:200].hex()}")
            print("  " + crash.traceback.rstrip().replace("\n", "\n  "))
        for hang in r.hangs[:MAX_SAVED_HANGS]:
            failed = True
            print(
                f"\nHANG {r.name}: {hang.seconds:.2f} s"
                f"{' (interrupted)' if hang.interrupted else ''}, saved {hang.saved}"
            )
            print(f"  input ({len(hang.data)} bytes): {hang.data[:200].hex()}")
        if len(r.hangs) > MAX_SAVED_HANGS:
            print(f"\n... and {len(r.hangs) - MAX_SAVED_HANGS} more hangs of {r.name}")
    if not args.no_extremes and not args.target:
        print("\nextreme cases:")
        for name in extremes.CASES:
            verdict = extremes.run_case(name)
            print(f"  {name}: {verdict.outcome} in {verdict.seconds:.2f} s; {verdict.detail}")
            failed = failed or verdict.outcome != "ok"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
