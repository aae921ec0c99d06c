"""End to end: the real vpnstack-client recovers by itself when the UDP server restarts.

A UDP server that restarts forgets every session silently: the client only notices that
nothing comes back, so ping-restart (pushed by the server's ``keepalive``) ends the session
and the lifecycle reconnects with the connect-retry backoff. Traffic must resume on its own.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vpnstack.lab.server import OpenVPNLab, ServerOptions

from .clientproc import ClientProcess, start_client

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]


def test_udp_server_killed_and_restarted_mid_session(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions(keepalive=(1, 4)))  # pushes ping 1, ping-restart 4
    client = start_client(lab, tmp_path, clients=clients)
    client.wait_for("Tunnel up on tun0")
    assert client.ping(lab.tunnel_server_address) == 3
    lab.restart()  # SIGTERM to the server's pid, then the same config again
    assert client.ping(lab.tunnel_server_address, count=1) == 0  # the old session is gone
    deadline = time.monotonic() + 40
    while client.output().count("Tunnel up on tun0") < 2:
        assert time.monotonic() < deadline, client.output()
        time.sleep(0.2)
    assert "ping-restart" in client.output()
    assert client.ping(lab.tunnel_server_address) == 3
    status, _ = client.terminate()
    assert status == 0


_REPLY_AT = re.compile(r"^\[(\d+\.\d+)\] .*icmp_seq=", re.MULTILINE)


def seconds_to_first_reply_after_restart(
    lab: OpenVPNLab, client: ClientProcess, tmp_path: Path, *, pause: float
) -> float | None:
    """Ping the server every 0.2 s from the client's namespace, restart the server (down for
    ``pause`` s) and return the time from its being ready to the first reply (None: none
    within 25 s)."""
    log = tmp_path / "ping.log"
    with open(log, "wb") as out:
        pinger = subprocess.Popen(
            ["ip", "netns", "exec", client.namespace, "ping", "-D", "-n", "-i", "0.2", "-W", "1",
             str(lab.tunnel_server_address)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        time.sleep(1)
        lab.restart(pause=pause)
        ready = time.time()
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            replies = [float(m.group(1)) for m in _REPLY_AT.finditer(log.read_text())]
            first = next((r for r in replies if r >= ready), None)
            if first is not None:
                return first - ready
            time.sleep(0.1)
        return None
    finally:
        pinger.terminate()
        pinger.wait(5)


def test_udp_server_restart_traffic_back_within_3_s_of_the_server(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    # §1.6: the server is killed and started again 2 s later, as in issue 8 (pushed keepalive
    # 2 20, so ping-restart alone would take 20 s). While it is down our pings draw ICMP port
    # unreachable; 2 s after its last packet the session ends (ServerUnreachable) and the
    # client reconnects 1 s later, which is about when the server is ready again.
    lab = openvpn_lab(ServerOptions(keepalive=(2, 20)))
    client = start_client(lab, tmp_path, clients=clients)
    client.wait_for("Tunnel up on tun0")
    assert client.ping(lab.tunnel_server_address) == 3
    back = seconds_to_first_reply_after_restart(lab, client, tmp_path, pause=2.0)
    assert back is not None, client.output()
    # Expected about 1 s: the verdict comes 2 s after the kill, the reconnect 1 s later, the
    # server has been ready for ~0.5 s by then and the handshake takes a few hundred ms on
    # the lab link. 3 s leaves room for a loaded machine, and is far below ping-restart's 20.
    assert back <= 3.0, (back, client.output())
    output = client.output()
    assert "unreachable" in output and "ping-restart" not in output, output
    status, _ = client.terminate()
    assert status == 0


def test_a_server_stopping_with_explicit_exit_notify_is_followed_at_once(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    # A server with explicit-exit-notify tells its clients RESTART on the control channel
    # when it is stopped by SIGTERM: the client reconnects without waiting for any timer.
    lab = openvpn_lab(ServerOptions(keepalive=(2, 20), extra_lines=("explicit-exit-notify 1",)))
    client = start_client(lab, tmp_path, clients=clients)
    client.wait_for("Tunnel up on tun0")
    back = seconds_to_first_reply_after_restart(lab, client, tmp_path, pause=2.0)
    output = client.output()
    assert "RESTART" in output, output
    # RESTART arrives as the server stops, so the reconnect 1 s later finds it still down: the
    # hard reset is refused and retried on its 2 s, then 4 s timer (no RTT known yet), so
    # the tunnel is back up to ~6 s after the server; far below ping-restart's 20 s.
    assert back is not None and back <= 8.0, (back, output)
    assert "ping-restart" not in output, output
    status, _ = client.terminate()
    assert status == 0
