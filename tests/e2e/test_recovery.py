"""End to end: the real vpnstack-client recovers by itself when the UDP server restarts.

A UDP server that restarts forgets every session silently: the client only notices that
nothing comes back, so ping-restart (pushed by the server's ``keepalive``) ends the session
and the lifecycle reconnects with the connect-retry backoff. Traffic must resume on its own.
"""

from __future__ import annotations

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
