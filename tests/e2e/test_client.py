"""End to end: the real ``vpnstack-client`` process on a kernel TUN against OpenVPN 2.6.

Each test starts a lab server, runs the client in its own namespace (with a private
resolv.conf) and checks what a user would: pings through the TUN, the routes and DNS the
server pushed, refusals with a clear line and a non-zero status, and a machine left exactly
as it was after SIGTERM.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from vpnstack.lab.server import OpenVPNLab, ServerOptions

from .clientproc import CLIENT, ORIGINAL_RESOLV_CONF, ClientProcess, start_client

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]
TUNNEL_V6 = "fd00:8:{n}::/64"


def test_ping_routes_and_dns_then_sigterm_leaves_the_machine_as_it_was(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions(extra_lines=('push "redirect-gateway def1"',)))
    client = ClientProcess(lab, tmp_path)
    clients.append(client)
    routes_before, addresses_before = client.routes(), client.addresses()
    client.start(client.write_config())
    client.wait_for("Tunnel up on tun0")
    assert client.ping(lab.tunnel_server_address) == 3
    routes = client.routes()
    assert any(r.startswith("192.0.2.0/24 via ") and "dev tun0" in r for r in routes), routes
    assert any(r.startswith("0.0.0.0/1 via ") for r in routes), routes
    assert any(r.startswith("128.0.0.0/1 via ") for r in routes), routes
    assert f"nameserver {lab.tunnel_server_address}" in client.resolv_conf()
    output = client.output()
    for stage in ("Connecting to", "TLS handshake done", "CN=server.vpnstack.test",
                  "Authenticated; pushed options", "Tunnel up on tun0: 10.8."):
        assert stage in output, output
    status, seconds = client.terminate()
    assert status == 0, client.output()
    assert seconds < 2.0
    assert client.routes() == routes_before
    assert client.addresses() == addresses_before  # tun0 is gone with its address
    assert client.resolv_conf() == ORIGINAL_RESOLV_CONF


def test_ipv6_through_the_tunnel(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions(extra_lines=(f"server-ipv6 {TUNNEL_V6.format(n=1)}",)))
    client = start_client(lab, tmp_path, clients=clients)
    client.wait_for("Tunnel up on tun0")
    server6 = ipaddress.IPv6Network(TUNNEL_V6.format(n=1))[1]
    assert "fd00:8:1::" in client.addresses()
    assert client.ping(server6, "-6") == 3


def test_a_1300_byte_ping_crosses_the_tunnel_unfragmented(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions())
    client = start_client(lab, tmp_path, clients=clients)
    client.wait_for("Tunnel up on tun0")
    assert client.ping(lab.tunnel_server_address, "-s", "1300", "-M", "do") == 3


def test_password_accepted_and_wrong_password_exits_non_zero_quickly(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions(credentials=("alice", "s3cret pass")))
    good = start_client(lab, tmp_path, clients=clients)
    good.wait_for("Tunnel up on tun0")
    assert good.ping(lab.tunnel_server_address, count=2) == 2
    assert good.terminate()[0] == 0
    bad = start_client(lab, tmp_path, clients=clients, credentials=("alice", "wrong"))
    status = bad.wait_exit(timeout=15)
    assert status != 0
    assert "AUTH_FAILED" in bad.output()
    assert "wrong" not in bad.output() and "s3cret" not in good.output()


def test_server_certificate_without_server_auth_is_refused_with_the_reason(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions(server_cert="no-serverauth"))
    client = start_client(lab, tmp_path, clients=clients)
    assert client.wait_exit(timeout=15) != 0
    last = client.output().strip().splitlines()[-1]
    assert last.startswith("vpnstack-client: ") and "serverAuth" in last, client.output()


def test_route_nopull_keeps_pushed_routes_and_dns_out_but_local_routes_in(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions())
    client = start_client(
        lab, tmp_path, "--route-nopull", clients=clients,
        extra_lines=["route 198.51.100.0 255.255.255.0"],
    )
    client.wait_for("Tunnel up on tun0")
    routes = client.routes()
    assert any(r.startswith("198.51.100.0/24 via ") for r in routes), routes
    assert not any(r.startswith("192.0.2.0/24") for r in routes), routes
    assert client.resolv_conf() == ORIGINAL_RESOLV_CONF
    assert client.ping(lab.tunnel_server_address) == 3


def test_without_privileges_the_tun_refusal_says_what_is_needed(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions())
    client = ClientProcess(lab, tmp_path)
    clients.append(client)
    readable = tempfile.mkdtemp(prefix="vpnstack-unpriv-")
    try:
        config = Path(readable) / "client.ovpn"
        lab.write_client_config(str(config), remote_host=str(client.peer.server_ipv4))
        os.chmod(readable, 0o755)
        os.chmod(config, 0o644)
        result = client.run(
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", CLIENT, "--config", str(config),
        )
    finally:
        shutil.rmtree(readable)
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vpnstack-client: ") and "CAP_NET_ADMIN" in last, result.stderr
