"""End to end over TCP: a stock OpenVPN 2.6 ``proto tcp6-server`` in a namespace.

The userspace tunnel comes up over TCP (length framing, docs §1) with tls-crypt and
with no wrapping, over IPv4 and IPv6, and pings get replies from the server's kernel. The real
``vpnstack-client`` over TCP survives a server restart: the server closing the connection
ends the session with a NetworkError, and the client reconnects by itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from vpnstack import NetworkError, load_config, open_tunnel
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.layers.networkio import NetworkStatistics

from .clientproc import ClientProcess, start_client
from .test_client_lifecycle import wait_count
from .test_tunnel import HANDSHAKE_LIMIT, client_config, ping_through

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]

SERVER_COMPLAINTS = (
    "Authenticate/Decrypt packet error",
    "AEAD Decrypt error",
    "HMAC authentication failed",
    "tls-crypt unwrapping failed",
    "TLS Error",
    "Bad encapsulated packet length",  # the server refusing our TCP framing
)


@pytest.mark.parametrize(
    ("options", "address_family", "cipher"),
    [
        pytest.param(ServerOptions(proto="tcp"), 4, "AES-256-GCM", id="tls-crypt-ipv4"),
        pytest.param(
            ServerOptions(proto="tcp", wrapping="none"), 4, "AES-256-GCM", id="no-wrapping-ipv4"
        ),
        pytest.param(
            ServerOptions(proto="tcp", wrapping="tls-auth"), 6, "AES-256-GCM", id="tls-auth-ipv6"
        ),
        # issue 4 §9: "TCP with AES-128-CBC/SHA1 and no wrapping"
        pytest.param(
            ServerOptions(
                proto="tcp", wrapping="none", auth="SHA1", data_ciphers=("AES-128-CBC",)
            ),
            4,
            "AES-128-CBC",
            id="cbc-sha1-no-wrapping-ipv4",
        ),
    ],
)
async def test_tunnel_over_tcp_comes_up_and_pings_get_replies(
    openvpn_lab: StartLab,
    tmp_path: Path,
    options: ServerOptions,
    address_family: int,
    cipher: str,
) -> None:
    lab = openvpn_lab(options)
    host = lab.server_address if address_family == 4 else lab.server_address6
    config = load_config(str(client_config(lab, tmp_path, remote_host=str(host))))
    assert config.transport.remotes[0].proto == "tcp"  # "proto tcp-client" in the file
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            assert tunnel.info.cipher == cipher
            assert tunnel.info.address in lab.tunnel_network
            assert await ping_through(tunnel, lab.tunnel_server_address, count=5) == 5
            stats = tunnel.statistics()
    network = stats["networkio"]
    assert isinstance(network, NetworkStatistics)
    assert network.transport == "tcp"
    assert network.remote_address == ipaddress.ip_address(str(host))
    assert network.drops == {}
    # The reliable layer runs over TCP as over UDP: it acked the server's control packets.
    assert stats["reliabletransport"].acks_sent > 0  # type: ignore[attr-defined]
    assert stats["datachannel"].drops == {}  # type: ignore[attr-defined]
    log = lab.log_text()
    assert "TCP connection established with" in log, log
    for complaint in SERVER_COMPLAINTS:
        assert complaint not in log, log


async def test_server_closing_the_tcp_connection_is_a_network_error(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions(proto="tcp"))
    config = load_config(str(client_config(lab, tmp_path)))
    with trio.fail_after(HANDSHAKE_LIMIT), pytest.raises(NetworkError, match="TCP connection"):
        async with open_tunnel(config) as tunnel:
            assert await ping_through(tunnel, lab.tunnel_server_address, count=1) == 1
            await trio.to_thread.run_sync(lab.restart)  # the old server process goes away
            for _ in range(100):  # bounded: the error ends the block long before
                await tunnel.receive()


def test_client_over_tcp_reconnects_by_itself_after_a_server_restart(
    openvpn_lab: StartLab, tmp_path: Path, clients: list[ClientProcess]
) -> None:
    lab = openvpn_lab(ServerOptions(proto="tcp"))
    client = start_client(lab, tmp_path, "--verb", "4", clients=clients)
    client.wait_for("Tunnel up on tun0")
    assert "over TCP" in client.output()
    assert client.ping(lab.tunnel_server_address) == 3
    lab.restart()
    assert lab.restarts == 1
    wait_count(client, "Tunnel up on tun0", 2, timeout=40)
    assert client.ping(lab.tunnel_server_address) == 3
    output = client.output()
    assert "closed the TCP connection" in output or "was reset" in output, output
    assert "reconnecting in" in output, output
    assert "TCP connection established with" in lab.log_text()  # the new server saw us
    assert client.terminate()[0] == 0
