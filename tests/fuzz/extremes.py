"""Hostile extreme inputs, each run once in a child process with bounded memory and time.

Each case returns normally or raises the documented ``RemoteProtocolError`` / ``VPNError``;
anything else is a crash, more than ``HANG_LIMIT`` seconds is a hang (the child is killed
after ``TIMEOUT`` seconds, which is how a blocking FIFO open is caught), and the child's
address space is capped at ``MEMORY_LIMIT`` so that an unbounded read (``/dev/zero``) fails
with ``MemoryError`` instead of eating the machine.

``python -m tests.fuzz.extremes CASE`` runs one case in this process and prints its verdict
as one JSON line; ``run_case(name)`` does that in a child and returns a ``Verdict``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from tests.fuzz.keys import CA_PEM
from vpnstack.config import load_config, parse_config
from vpnstack.core.tlssession.push import ControlKind, ControlTextReader, PushCollector, classify
from vpnstack.errors import RemoteProtocolError, VPNError

HANG_LIMIT = 1.0
TIMEOUT = 5.0
MEMORY_LIMIT = 1 << 30
TLS_RECORD = 16384
"""The largest TLS record: control text reaches the session in pieces of at most this."""
ROUTES = 100_000
LINE = 1_000_000

_HEAD = "client\ndev tun\nremote 192.0.2.1 1194\nauth-user-pass\n"


def _routes(start: int, stop: int) -> list[str]:
    return [f"route 10.{i // 256 % 256}.{i % 256}.0 255.255.255.0" for i in range(start, stop)]


def _feed_text(stream: bytes) -> int:
    """Feed control text as the session does (in TLS records); return the routes parsed."""
    reader = ControlTextReader()
    collector = PushCollector()
    routes = 0
    for pos in range(0, len(stream), TLS_RECORD):
        for raw in reader.feed(stream[pos : pos + TLS_RECORD]):
            text = classify(raw)
            if text.kind is ControlKind.PUSH_REPLY:
                options = collector.add(text.argument)
                if options is not None:
                    routes += len(options.routes)
    return routes


def push_reply_100k_routes() -> None:
    """One PUSH_REPLY message with 10^5 routes, in TLS records: refused (no NUL in 64 KiB)."""
    _feed_text(("PUSH_REPLY," + ",".join(_routes(0, ROUTES))).encode() + b"\0")


def push_reply_100k_routes_continued() -> None:
    """10^5 routes in push-continuation parts of < 64 KiB each: must be bounded in time."""
    parts: list[bytes] = []
    step = 2000
    for start in range(0, ROUTES, step):
        more = 2 if start + step < ROUTES else 1
        body = ",".join([*_routes(start, start + step), f"push-continuation {more}"])
        parts.append(f"PUSH_REPLY,{body}".encode() + b"\0")
    _feed_text(b"".join(parts))


def push_reply_dns_addresses_continued() -> None:
    """21 000 ``dns server 1 address`` options in 10 push-continuation parts of < 64 KiB."""
    option = "dns server 1 address 10.0.0.1"
    count = 64000 // (len(option) + 1)
    parts = []
    for index in range(10):
        more = 2 if index < 9 else 1
        body = ",".join([*([option] * count), f"push-continuation {more}"])
        parts.append(f"PUSH_REPLY,{body}".encode() + b"\0")
    _feed_text(b"".join(parts))


def control_text_without_nul() -> None:
    """10^6 bytes of control text with no NUL: refused after 64 KiB."""
    _feed_text(b"PUSH_REPLY," + b"r" * LINE)


def _config(text: str) -> None:
    parse_config(_HEAD + f"<ca>\n{CA_PEM}</ca>\n" + text + "\n")


def config_line_1e6_argument() -> None:
    """A 10^6-character argument."""
    _config("verb " + "1" * LINE)


def config_line_1e6_quoted() -> None:
    """A 10^6-character double-quoted argument with escapes."""
    _config('remote "' + "a\\ " * (LINE // 3) + '"')


def config_line_1e6_comment() -> None:
    """A 10^6-character comment."""
    _config("# " + "x" * LINE)


def config_line_1e6_tokens() -> None:
    """A 10^6-character line of one-letter arguments."""
    _config("route-nopull" + " a" * (LINE // 2))


def config_setenv_opt_nesting() -> None:
    """1000 nested ``setenv opt setenv opt ... verb 3`` (an 11 KB line): ConfigError or
    accepted, not a RecursionError."""
    _config("setenv opt " * 1000 + "verb 3")


def config_unterminated_inline() -> None:
    """``<ca>`` without ``</ca>`` (the rest of the file is swallowed): ConfigError."""
    parse_config(_HEAD + "<ca>\n" + CA_PEM + "verb 3\n")


def config_unterminated_connection() -> None:
    """``<connection>`` without ``</connection>``: ConfigError."""
    parse_config(_HEAD + f"<ca>\n{CA_PEM}</ca>\n<connection>\nremote 192.0.2.2\n")


def config_unterminated_inline_big() -> None:
    """``<tls-auth>`` followed by 10^5 lines and no closing tag: ConfigError, quickly."""
    parse_config(_HEAD + f"<ca>\n{CA_PEM}</ca>\n<tls-auth>\n" + "00\n" * ROUTES)


def config_ca_dev_zero() -> None:
    """``ca /dev/zero``: must be refused (or read bounded), not read until memory runs out."""
    parse_config(_HEAD + "ca /dev/zero\n")


def _fifo_dir() -> str:
    folder = tempfile.mkdtemp(prefix="vpnstack-fuzz-fifo-")
    os.mkfifo(os.path.join(folder, "fifo"))
    return folder


def config_ca_fifo() -> None:
    """``ca`` naming a FIFO nobody writes to: must be refused, not block forever."""
    folder = _fifo_dir()
    try:
        parse_config(_HEAD + "ca fifo\n", base_dir=folder)
    finally:
        os.unlink(os.path.join(folder, "fifo"))
        os.rmdir(folder)


def config_file_dev_zero() -> None:
    """``load_config("/dev/zero")``: must be refused, not read until memory runs out."""
    load_config("/dev/zero")


def config_file_fifo() -> None:
    """``load_config`` of a FIFO nobody writes to: must be refused, not block."""
    folder = _fifo_dir()
    try:
        load_config(os.path.join(folder, "fifo"))
    finally:
        os.unlink(os.path.join(folder, "fifo"))
        os.rmdir(folder)


CASES: dict[str, Callable[[], None]] = {
    "push-reply-100k-routes": push_reply_100k_routes,
    "push-reply-100k-routes-continued": push_reply_100k_routes_continued,
    "push-reply-dns-addresses-continued": push_reply_dns_addresses_continued,
    "control-text-without-nul": control_text_without_nul,
    "config-line-1e6-argument": config_line_1e6_argument,
    "config-line-1e6-quoted": config_line_1e6_quoted,
    "config-line-1e6-comment": config_line_1e6_comment,
    "config-line-1e6-tokens": config_line_1e6_tokens,
    "config-setenv-opt-nesting": config_setenv_opt_nesting,
    "config-unterminated-inline": config_unterminated_inline,
    "config-unterminated-connection": config_unterminated_connection,
    "config-unterminated-inline-big": config_unterminated_inline_big,
    "config-ca-dev-zero": config_ca_dev_zero,
    "config-ca-fifo": config_ca_fifo,
    "config-file-dev-zero": config_file_dev_zero,
    "config-file-fifo": config_file_fifo,
}


@attrs.frozen
class Verdict:
    """How one case ended: ``ok``, ``crash`` or ``hang``."""

    outcome: str
    seconds: float
    detail: str


def run_here(name: str) -> Verdict:
    """Run one case in this process (no time or memory bound: use ``run_case``)."""
    case = CASES[name]
    start = time.monotonic()
    try:
        case()
        detail = "returned"
    except (RemoteProtocolError, VPNError) as exc:
        detail = f"{type(exc).__name__}: {str(exc)[:160]}"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return Verdict("crash", time.monotonic() - start, f"{type(exc).__name__}: {exc!s:.160}")
    seconds = time.monotonic() - start
    return Verdict("hang" if seconds > HANG_LIMIT else "ok", seconds, detail)


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_case(name: str, timeout: float = TIMEOUT) -> Verdict:
    """Run one case in a child process with bounded memory; kill it after ``timeout``."""
    root = Path(__file__).resolve().parent.parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.fuzz.extremes", name],
            capture_output=True,
            timeout=timeout,
            cwd=root,
            env=env,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Verdict("hang", time.monotonic() - start, f"still running after {timeout:g} s")
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return Verdict("crash", time.monotonic() - start, f"child exited {done.returncode}: {tail}")
    fields = json.loads(lines[-1])
    return Verdict(fields["outcome"], fields["seconds"], fields["detail"])


def main() -> int:
    name = sys.argv[1]
    verdict = run_here(name)
    print(json.dumps(attrs.asdict(verdict)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
