"""End to end: 8 MiB through the kernel TUN over a path that loses 3% of the datagrams.

Topology: vpnstack-client in a client namespace -> the seeded lossy relay (a process inside
the server's namespace) -> the stock OpenVPN server. A TCP sender on the server's tunnel
address streams 8 MiB of seeded random bytes; a receiver in the client namespace reads them
through the tunnel and reports the SHA-256, which must match. TCP inside the tunnel repairs
the loss; the tunnel must not corrupt, reorder into garbage, or stall.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vpnstack.lab.server import OpenVPNLab, ServerOptions

from .clientproc import ClientProcess

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]
SIZE = 8 * 1024 * 1024
SEED = 2026
PORT = 5001

SENDER = """
import random, socket, sys
data = random.Random(int(sys.argv[2])).randbytes(int(sys.argv[3]))
with socket.create_server((sys.argv[1], int(sys.argv[4]))) as server:
    server.settimeout(60)
    print("ready", flush=True)
    conn, _ = server.accept()
    with conn:
        conn.settimeout(120)
        conn.sendall(data)
"""

RECEIVER = """
import hashlib, socket, sys
digest, total = hashlib.sha256(), 0
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60) as conn:
    conn.settimeout(120)
    while chunk := conn.recv(1 << 16):
        digest.update(chunk)
        total += len(chunk)
print(total, digest.hexdigest(), flush=True)
"""


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line a child prints (bounded)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            return line.strip()
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError("no output from child process")


def test_8_mib_through_a_relay_dropping_3_percent(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions())
    client = ClientProcess(lab, tmp_path)
    clients.append(client)
    in_server_ns = ["ip", "netns", "exec", lab.namespace, sys.executable]
    relay = subprocess.Popen(
        [*in_server_ns, "-m", "vpnstack.lab.relay", "--listen-host", str(client.peer.server_ipv4),
         "--target", f"{lab.server_address}:{lab.port}", "--drop", "0.03", "--seed", "3",
         "--duration", "150"],
        stdout=subprocess.PIPE, text=True,
    )
    sender = None
    try:
        _, host, port = read_line(relay, 10).split()
        client.start(client.write_config(remote_host=host, remote_port=int(port)))
        client.wait_for("Tunnel up on tun0", timeout=60)
        sender = subprocess.Popen(
            [*in_server_ns, "-c", SENDER, str(lab.tunnel_server_address), str(SEED), str(SIZE),
             str(PORT)],
            stdout=subprocess.PIPE, text=True,
        )
        assert read_line(sender, 10) == "ready"
        result = client.run(
            sys.executable, "-c", RECEIVER, str(lab.tunnel_server_address), str(PORT),
            timeout=150,
        )
        assert result.returncode == 0, result.stderr
        total, digest = result.stdout.split()
        expected = hashlib.sha256(random.Random(SEED).randbytes(SIZE)).hexdigest()
        assert (int(total), digest) == (SIZE, expected)
    finally:
        for process in (sender, relay):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        if sender is not None and sender.stdout is not None:
            sender.stdout.close()
    assert relay.stdout is not None
    with relay.stdout:
        counters = json.loads(relay.stdout.read().strip().splitlines()[-1])
    assert counters["dropped_up"] > 0 and counters["dropped_down"] > 0, counters
    assert client.terminate()[0] == 0
