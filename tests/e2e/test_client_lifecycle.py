"""End to end: vpnstack-client's lifecycle against OpenVPN 2.6 — signals, reconnects,
auth-tokens, the status summary and the interactive credentials prompt.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vpnstack.lab.server import OpenVPNLab, ServerOptions

from .clientproc import CLIENT, ClientProcess, start_client

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]


def wait_count(client: ClientProcess, text: str, count: int, timeout: float = 30.0) -> None:
    """Wait (bounded) until ``text`` has been printed ``count`` times."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.output().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not printed {count} times:\n{client.output()}")


def test_sigusr1_reconnects_sighup_rereads_and_sigusr2_prints_traffic(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions())
    status_path = tmp_path / "status.txt"
    client = start_client(lab, tmp_path, "--status", str(status_path), "1", clients=clients)
    client.wait_for("Tunnel up on tun0")
    assert client.ping(lab.tunnel_server_address) == 3
    assert client.process is not None
    client.process.send_signal(signal.SIGUSR2)
    client.wait_for("Traffic: ")
    client.process.send_signal(signal.SIGUSR1)
    wait_count(client, "Tunnel up on tun0", 2)
    assert "Reconnecting (SIGUSR1)" in client.output()
    assert client.ping(lab.tunnel_server_address) == 3
    client.process.send_signal(signal.SIGHUP)
    wait_count(client, "Tunnel up on tun0", 3)
    assert "Configuration re-read; reconnecting" in client.output()
    assert client.ping(lab.tunnel_server_address) == 3
    deadline = time.monotonic() + 5
    while "TUN/TAP read packets" not in (status_path.read_text() if status_path.exists() else ""):
        assert time.monotonic() < deadline, "status file never written"
        time.sleep(0.1)
    assert status_path.read_text().startswith("OpenVPN STATISTICS\n")
    assert client.terminate()[0] == 0


def test_ping_restart_reconnects_by_itself_when_the_server_comes_back(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions(keepalive=(1, 3)))  # pushes ping 1, ping-restart 3
    client = start_client(lab, tmp_path, clients=clients)
    client.wait_for("Tunnel up on tun0")
    assert lab.pid is not None
    os.kill(lab.pid, signal.SIGSTOP)  # the server (ours) goes silent
    try:
        client.wait_for("ping-restart", timeout=15)
    finally:
        os.kill(lab.pid, signal.SIGCONT)
    wait_count(client, "Tunnel up on tun0", 2, timeout=40)
    assert client.ping(lab.tunnel_server_address) == 3
    output = client.output()
    assert "reconnecting in 1 s" in output, output


def test_a_pushed_auth_token_is_used_on_reconnect(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(
        ServerOptions(credentials=("alice", "first-pass"), extra_lines=("auth-gen-token 0",))
    )
    client = start_client(lab, tmp_path, "--verb", "5", clients=clients)
    client.wait_for("Tunnel up on tun0")
    # From now on the password would be refused: only the token can get us back in.
    assert lab.directory is not None
    Path(lab.directory, "expected-credentials").write_text("alice\nsomething-else\n")
    assert client.process is not None
    client.process.send_signal(signal.SIGUSR1)
    wait_count(client, "Tunnel up on tun0", 2)
    assert client.ping(lab.tunnel_server_address) == 3
    assert "AUTH_FAILED" not in client.output()
    # Even at --verb 5 (every layer event and counter) no credential is printed.
    assert "[tlssession]" in client.output()
    assert "SESS_ID" not in client.output() and "first-pass" not in client.output()


def test_credentials_are_asked_for_on_a_terminal_without_echo(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions(credentials=("bob", "typed-secret")))
    client = ClientProcess(lab, tmp_path)
    clients.append(client)
    config = client.write_config(credentials="prompt")
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        ["ip", "netns", "exec", client.namespace, CLIENT, "--config", str(config)],
        stdin=terminal, stdout=terminal, stderr=terminal,
    )
    client.process = process
    os.close(terminal)
    seen = b""

    def read_until(marker: bytes, timeout: float = 20.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"never saw {marker!r}: {seen!r}"
            ready, _, _ = select.select([controller], [], [], remaining)
            if ready:
                try:
                    seen += os.read(controller, 4096)
                except OSError:
                    break

    try:
        read_until(b"Enter Auth Username:")
        os.write(controller, b"bob\n")
        read_until(b"Enter Auth Password:")
        os.write(controller, b"typed-secret\n")
        read_until(b"Tunnel up on tun0")
        assert client.ping(lab.tunnel_server_address, count=2) == 2
        assert b"bob" in seen  # the user name is echoed as typed
        assert b"typed-secret" not in seen  # the password is not
        process.send_signal(signal.SIGTERM)
        read_until(b"Exiting")
        assert process.wait(timeout=10) == 0
    finally:
        os.close(controller)


def test_remotes_are_tried_in_order_until_one_answers(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions())
    client = ClientProcess(lab, tmp_path)
    clients.append(client)
    good = f"remote {client.peer.server_ipv4} {lab.port}"
    text = lab.client_config_text(
        remote_host=str(client.peer.server_ipv4), extra_lines=["hand-window 3", "connect-retry 1"]
    )
    assert good in text
    dead = f"remote {client.peer.server_ipv4} {lab.port + 1 if lab.port < 65535 else 1}"
    config = tmp_path / "two-remotes.ovpn"
    config.write_text(text.replace(good, f"{dead}\n{good}"))
    client.start(config)
    client.wait_for("Tunnel up on tun0", timeout=30)
    output = client.output()
    assert output.index(f"{lab.port + 1}") < output.index("Tunnel up"), output
    assert "no answer from the server" in output and "reconnecting in 1 s" in output
    assert client.ping(lab.tunnel_server_address) == 3
