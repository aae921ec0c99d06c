"""End to end: vpnstack's userspace tunnel against a stock OpenVPN 2.6 server in a namespace.

Each test starts its own server (``openvpn_lab`` fixture, PKI generated at run time), writes a
client .ovpn, loads it with ``load_config``, opens the tunnel and pings the server's tunnel
address through ``tunnel.send`` / ``tunnel.receive``. The replies come from the server's
kernel, so a wrong key, layout or cipher anywhere in the stack shows up as a failed ping.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from vpnstack import (
    CertificateError,
    CipherNegotiationFailed,
    HandshakeTimeout,
    load_config,
    open_tunnel,
)
from vpnstack.icmp import build_echo_request, parse_echo_reply
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.tunnel import Tunnel

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]
HANDSHAKE_LIMIT = 30  # seconds; a healthy handshake on loopback takes well under one


async def ping_through(tunnel: Tunnel, dst: ipaddress.IPv4Address, count: int = 3) -> int:
    """Send ``count`` echo requests to ``dst``; return how many matching replies came back."""
    assert tunnel.info.address is not None
    replies = 0
    for seq in range(1, count + 1):
        payload = b"vpnstack e2e %d" % seq
        await tunnel.send(build_echo_request(tunnel.info.address, dst, 0x1234, seq, payload))
        with trio.move_on_after(3):
            while True:
                reply = parse_echo_reply(await tunnel.receive())
                if reply is not None and reply.seq == seq:
                    assert (reply.src, reply.dst, reply.payload) == (
                        dst,
                        tunnel.info.address,
                        payload,
                    )
                    replies += 1
                    break
    return replies


def running_tasks() -> set[trio.lowlevel.Task]:
    """Every task in this trio run, found by walking the task tree from the root."""
    found: set[trio.lowlevel.Task] = set()
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        if task is not None and task not in found:
            found.add(task)
            todo.extend(t for n in task.child_nurseries for t in n.child_tasks)
    return found


def client_config(lab: OpenVPNLab, tmp_path: Path, **overrides: object) -> Path:
    path = tmp_path / "client.ovpn"
    lab.write_client_config(str(path), **overrides)
    return path


@pytest.mark.parametrize(
    ("options", "expected_cipher"),
    [
        pytest.param(ServerOptions(), "AES-256-GCM", id="tls-crypt-default-ciphers"),
        pytest.param(
            ServerOptions(wrapping="tls-auth", auth="SHA256", data_ciphers=("AES-128-GCM",)),
            "AES-128-GCM",
            id="tls-auth-sha256-aes128gcm",
        ),
        pytest.param(ServerOptions(wrapping="none"), "AES-256-GCM", id="no-wrapping"),
        pytest.param(
            ServerOptions(data_ciphers=("CHACHA20-POLY1305",)),
            "CHACHA20-POLY1305",
            id="chacha20-only",
        ),
        pytest.param(ServerOptions(tls_version_max="1.2"), "AES-256-GCM", id="tls-1.2-only"),
        pytest.param(ServerOptions(key_type="rsa"), "AES-256-GCM", id="rsa-certificates"),
    ],
)
async def test_tunnel_comes_up_and_pings_get_replies(
    openvpn_lab: StartLab, tmp_path: Path, options: ServerOptions, expected_cipher: str
) -> None:
    lab = openvpn_lab(options)
    config = load_config(str(client_config(lab, tmp_path)))
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            info = tunnel.info
            assert info.cipher == expected_cipher
            assert info.address in lab.tunnel_network
            assert info.network == lab.tunnel_network
            assert info.gateway == lab.tunnel_server_address
            assert info.peer_id is not None  # a 2.6 server pushes peer-id: P_DATA_V2 in use
            assert ipaddress.ip_network("192.0.2.0/24") in [r.network for r in info.routes]
            assert lab.tunnel_server_address in info.dns
            assert await ping_through(tunnel, lab.tunnel_server_address) == 3
            stats = tunnel.statistics()
    assert "Initialization Sequence Completed" in lab.log_text()
    # Nothing in the server log may mention a decryption or authentication failure.
    for complaint in (
        "Authenticate/Decrypt packet error",
        "AEAD Decrypt error",
        "HMAC authentication failed",
        "tls-crypt unwrapping failed",
        "TLS Error",
    ):
        assert complaint not in lab.log_text(), lab.log_text()
    assert stats["datachannel"].drops == {}  # type: ignore[attr-defined]


async def test_closing_while_traffic_flows_returns_within_one_second(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions())
    config = load_config(str(client_config(lab, tmp_path)))
    tasks_before = running_tasks()
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            assert len(running_tasks()) > len(tasks_before) + 7  # every layer has workers
            assert tunnel.info.address is not None
            request = build_echo_request(
                tunnel.info.address, lab.tunnel_server_address, 7, 1, b"x" * 1000
            )

            async def flood() -> None:
                for _ in range(100_000):  # bounded; cancelled long before the end
                    await tunnel.send(request)

            async def drain() -> None:
                for _ in range(100_000):
                    await tunnel.receive()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood)
                nursery.start_soon(drain)
                await trio.sleep(1)
                closing = trio.current_time()
                nursery.cancel_scope.cancel()
    # The whole stack is torn down by the time open_tunnel's block has exited.
    assert trio.current_time() - closing < 1.0
    assert running_tasks() == tasks_before


async def test_server_certificate_from_another_ca_is_refused(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions(server_cert="other-ca"))
    config = load_config(str(client_config(lab, tmp_path)))
    with trio.fail_after(HANDSHAKE_LIMIT), pytest.raises(CertificateError, match="CA"):
        async with open_tunnel(config):
            pytest.fail("the tunnel must not come up")


async def test_server_certificate_without_server_auth_is_refused(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions(server_cert="no-serverauth"))
    config = load_config(str(client_config(lab, tmp_path)))
    with trio.fail_after(HANDSHAKE_LIMIT), pytest.raises(CertificateError, match="serverAuth"):
        async with open_tunnel(config):
            pytest.fail("the tunnel must not come up")


async def test_no_shared_cipher_is_a_negotiation_error(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions(data_ciphers=("CHACHA20-POLY1305",)))
    config = load_config(str(client_config(lab, tmp_path, data_ciphers=["AES-128-GCM"])))
    with trio.fail_after(HANDSHAKE_LIMIT), pytest.raises(CipherNegotiationFailed):
        async with open_tunnel(config):
            pytest.fail("the tunnel must not come up")


async def test_handshake_timeout_when_nothing_answers(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions())
    # A UDP socket that receives and never answers: no ICMP, just silence.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        path = client_config(
            lab,
            tmp_path,
            remote_host="127.0.0.1",
            remote_port=silent.getsockname()[1],
            extra_lines=["hand-window 3"],
        )
        config = load_config(str(path))
        start = trio.current_time()
        with trio.fail_after(15), pytest.raises(HandshakeTimeout, match="no answer"):
            async with open_tunnel(config):
                pytest.fail("the tunnel must not come up")
        assert 3 <= trio.current_time() - start < 6
    finally:
        silent.close()
