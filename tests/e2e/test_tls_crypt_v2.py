"""End to end: tls-crypt-v2 against a stock OpenVPN 2.6 server (docs §3.8, §3.9).

The lab makes the server key and a client key with ``openvpn --genkey`` at start. Over UDP a
2.6 server that sees the 0x0F000001 replay id of our HARD_RESET_CLIENT_V3 answers statelessly
and sets the "resend WKc" flag in its reset, so the tunnel only comes up if our message id 1 is
a P_CONTROL_WKC_V1 with the WKc appended: the server log line "Valid packet
(P_CONTROL_WKC_V1) with HMAC challenge" (verb 7) shows exactly that, and the per-packet
lines of verb 9 show the lengths of our V3 reset and WKC_V1. A client key wrapped by
another server key cannot be unwrapped, so that server never answers: HandshakeTimeout.
Over TCP the server is stateful and asks for no resend: the ClientHello is message id 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio

from tests.e2e.test_tunnel import ping_through
from vpnstack import HandshakeTimeout, load_config, open_tunnel
from vpnstack.lab.pki import generate_tls_crypt_v2_keys
from vpnstack.lab.server import OpenVPNLab, ServerOptions

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]
HANDSHAKE_LIMIT = 30  # seconds; a healthy handshake on loopback takes well under one

# verb 7 logs the stateless server's decision on our third packet (mudp.c, D_MULTI_DEBUG);
# verb 9 also logs every packet read, with its length and opcode.
V2_SERVER = ServerOptions(wrapping="tls-crypt-v2", verb=9)


def packets_read(log: str) -> list[tuple[int, str]]:
    """(length, opcode name) of every packet the server read, in order (verb 9 lines)."""
    return [
        (int(m[1]), m[2]) for m in re.finditer(r" READ \[(\d+)\] from \S+: (P_[A-Z0-9_]+)", log)
    ]


def read(path: str | Path) -> str:
    with open(path) as f:
        return f.read()


def copy(source: str, destination: Path) -> Path:
    with open(destination, "w") as f:
        f.write(read(source))
    return destination


@pytest.mark.parametrize("key_source", ["inline", "file"])
async def test_tls_crypt_v2_tunnel_with_wkc_resend(
    openvpn_lab: StartLab, tmp_path: Path, key_source: str
) -> None:
    lab = openvpn_lab(V2_SERVER)
    assert lab.tls_crypt_v2 is not None
    path = tmp_path / "client.ovpn"
    if key_source == "inline":
        lab.write_client_config(str(path))
    else:
        client_key = copy(lab.tls_crypt_v2.client_key, tmp_path / "v2-client.key")
        lab.write_client_config(
            str(path), wrapping="none", extra_lines=[f"tls-crypt-v2 {client_key}"]
        )
        assert "<tls-crypt-v2>" not in read(path)
    config = load_config(str(path))
    assert config.tls.crypt_v2_key is not None
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            assert tunnel.info.address in lab.tunnel_network
            assert await ping_through(tunnel, lab.tunnel_server_address) == 3
    log = lab.log_text()
    # The server asked for the WKc again and accepted our P_CONTROL_WKC_V1 (§3.9.3)...
    assert "Valid packet (P_CONTROL_WKC_V1) with HMAC challenge" in log, log
    # ...which carried WKc: 49 (tls-crypt) + 17 (1 ack, id 1, empty) + 299, after a V3 reset
    # of 49 + 5 + 299 = 353 bytes (inside port-share's 336..1278, §1.3).
    first_read = re.search(r"UDPv6 read returned (\d+)", log)
    assert first_read is not None and first_read[1] == "353"  # the stateless path: no opcode
    packets = packets_read(log)
    assert packets[0] == (365, "P_CONTROL_WKC_V1")  # the first packet of the new instance
    assert [name for _, name in packets].count("P_CONTROL_WKC_V1") == 1
    # ...unwrapped our client key with its server key, and the client was authenticated.
    assert "tls-crypt-v2 server key: Cipher 'AES-256-CTR' initialized" in log
    assert "Peer Connection Initiated" in log
    for complaint in (
        "Can not unwrap tls-crypt-v2 client key",
        "can not extract tls-crypt-v2 client key",
        "tls-crypt unwrapping failed",
        "TLS handshake failed",
        "packet replay",
        "Authenticate/Decrypt packet error",
        # A lone P_ACK_V1 before our WKC_V1 could not be authenticated by the stateless
        # server; the ack must ride on the WKC_V1 (§3.9).
        "could not determine wrapping",
        "TLS Error",
    ):
        assert complaint not in log, complaint


async def test_tls_crypt_v2_over_tcp_without_wkc_resend(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    # Over TCP the server keeps state from the V3 reset on, so its reset carries no
    # "resend WKc" flag (the stateless HMAC-cookie path is UDP only): our id 1 is then the
    # ClientHello in a plain P_CONTROL_V1, and no P_CONTROL_WKC_V1 is ever sent.
    lab = openvpn_lab(attrs.evolve(V2_SERVER, proto="tcp"))
    path = tmp_path / "client.ovpn"
    lab.write_client_config(str(path))
    config = load_config(str(path))
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            assert await ping_through(tunnel, lab.tunnel_server_address) == 3
    log = lab.log_text()
    assert "tls-crypt-v2 server key: Cipher 'AES-256-CTR' initialized" in log
    assert "Peer Connection Initiated" in log
    packets = packets_read(log)
    assert packets[0] == (353, "P_CONTROL_HARD_RESET_CLIENT_V3")
    assert "P_CONTROL_V1" in [name for _, name in packets]
    assert "P_CONTROL_WKC_V1" not in log
    assert "can not extract tls-crypt-v2 client key" not in log


async def test_client_key_for_another_server_key_times_out(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions(wrapping="tls-crypt-v2"))
    other = generate_tls_crypt_v2_keys(str(tmp_path / "other"), name="other")
    path = tmp_path / "client.ovpn"
    lab.write_client_config(
        str(path),
        static_key_text=read(other.client_key),
        extra_lines=["hand-window 4"],
    )
    config = load_config(str(path))
    # The server cannot authenticate the WKc, so it drops our reset without a word (any
    # answer would help a scanner): all we can observe is silence, i.e. HandshakeTimeout.
    with trio.fail_after(HANDSHAKE_LIMIT), pytest.raises(HandshakeTimeout) as info:
        async with open_tunnel(config):
            pytest.fail("the tunnel must not come up")
    assert "tls-crypt-v2" in str(info.value)
    log = lab.log_text()
    assert "Peer Connection Initiated" not in log
    # ...and the server log says why (ssl_pkt.c / tls_crypt.c, at the default verb).
    assert "tls_crypt_v2_unwrap_client_key: client key authentication error" in log, log
    assert "can not extract tls-crypt-v2 client key" in log
