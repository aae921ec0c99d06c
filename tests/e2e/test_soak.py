"""End to end: the soak (``vpnstack/lab/soak.py``) for a few seconds against the real lab.

The ``minute`` is two seconds here: the test checks that every field of the report is filled
and that the verdict is what ``evaluate`` computes from the samples, not how fast anything is.
The second test runs the command line and interrupts it, as Ctrl-C would: the summary of the
minutes so far is printed, the exit status is 1, and the lab's namespace is gone.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import trio

from vpnstack import load_config
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.lab.soak import evaluate, lab_options, run_soak

StartLab = Callable[[ServerOptions], OpenVPNLab]
ROOT = Path(__file__).parents[2]


async def test_a_short_soak_fills_every_field_and_computes_the_verdict(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(lab_options(4, "server"))  # reneg-sec 4: a renegotiation within 8 s
    path = tmp_path / "client.ovpn"
    lab.write_client_config(str(path))
    lines: list[str] = []
    with trio.fail_after(120):
        report = await run_soak(
            load_config(str(path)),
            lab.tunnel_server_address,
            duration=8.0,
            minute=2.0,
            interval=0.2,
            lab=lab,
            out=lines.append,
        )
    assert report.error is None, report.error
    assert [s.minute for s in report.samples] == [1, 2, 3, 4]
    assert lines == [s.line() for s in report.samples]
    for s in report.samples:
        assert s.sent > 0 and 0 <= s.replies <= s.sent
        assert s.rss_kib > 0 and s.fds > 0
        assert s.server_rss_kib is not None and s.server_rss_kib > 0
        assert s.server_renegotiations is not None and s.renegotiations >= 0
        assert isinstance(s.drops, dict)
    sent = [s.sent for s in report.samples]
    assert sent == sorted(sent) and report.sent >= sent[-1]
    assert 0 < report.replies <= report.sent
    assert report.renegotiations >= 1, report  # the tlssession counted the server's reneg
    assert report.server_renegotiations is not None and report.server_renegotiations >= 1
    assert report.goals == evaluate(report.samples, report.sent, report.replies, minutes=4)
    assert [g.name for g in report.goals] == [
        "RSS growth",
        "flat fds",
        "pings answered",
        "complete run",
    ]
    assert any("gc.collect()" in line for line in report.memory), report.memory
    summary = report.summary_lines()
    assert summary[-1].startswith("verdict: PASS" if report.goals_met else "verdict: FAIL")


async def test_a_tunnel_that_fails_is_reported_not_raised(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(lab_options(4, "server"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # answers nothing
        silent.bind(("127.0.0.1", 0))
        path = tmp_path / "client.ovpn"
        lab.write_client_config(
            str(path),
            remote_host="127.0.0.1",
            remote_port=silent.getsockname()[1],
            extra_lines=["hand-window 2"],
        )
        with trio.fail_after(60):
            report = await run_soak(
                load_config(str(path)), lab.tunnel_server_address, duration=4.0, minute=2.0
            )
    assert report.error is not None and report.error.startswith("HandshakeTimeout"), report
    assert report.samples == () and report.sent == 0
    assert not report.goals_met
    assert report.summary_lines()[-1].startswith("verdict: FAIL"), report.summary_lines()


def test_the_command_line_stops_the_lab_when_interrupted() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with subprocess.Popen(
        [sys.executable, "-m", "vpnstack.lab.soak", "10", "--minute-seconds", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        killer = threading.Timer(90, proc.kill)  # bounds the test if anything hangs
        killer.start()
        try:
            assert proc.stdout is not None
            header = proc.stdout.readline()
            match = re.search(r"namespace (\S+)", header)
            assert match, header
            first = proc.stdout.readline()
            assert first.startswith("minute  1: pings "), first
            proc.send_signal(signal.SIGINT)
            rest = proc.stdout.read()
            status = proc.wait(30)
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
    assert status == 1, rest
    assert "interrupted after" in rest and "verdict: FAIL" in rest, rest
    assert "[NOT MET] complete run" in rest, rest
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert match.group(1) not in namespaces.split(), namespaces
