"""End to end: CBC + HMAC data channel, legacy cipher choice and compression framing against a
stock OpenVPN 2.6 server (docs §5.2, §5.6, §6.3, §6.4).

Every server answers our pings from its kernel, so a wrong HMAC key, IV, padding or framing
byte anywhere shows up as a missing reply (and in the server log, which is checked too).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import trio

from vpnstack import ConfigError, load_config, open_tunnel
from vpnstack.icmp import build_echo_request, parse_echo_reply
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.messages import Stage, StateChange

from .test_tunnel import HANDSHAKE_LIMIT, client_config, ping_through

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]

COMPLAINTS = (
    "Authenticate/Decrypt packet error",
    "HMAC authentication failed",
    "Bad compression stub",
    "Bad LZ4v2",
    "decompression",
    "TLS Error",
)


def assert_clean_log(lab: OpenVPNLab) -> None:
    log = lab.log_text()
    for complaint in COMPLAINTS:
        assert complaint not in log, log


async def tunnel_pings(
    lab: OpenVPNLab,
    tmp_path: Path,
    *,
    extra_lines: Sequence[str] = (),
    states: list[StateChange] | None = None,
    **overrides: object,
) -> str:
    """Open a tunnel with the lab's client config (plus ``extra_lines``), ping the server
    five times through it, and return the negotiated cipher."""
    path = client_config(lab, tmp_path, extra_lines=tuple(extra_lines), **overrides)
    config = load_config(str(path))
    seen = states if states is not None else []
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config, on_state=seen.append) as tunnel:
            assert await ping_through(tunnel, lab.tunnel_server_address, count=5) == 5
            cipher = tunnel.info.cipher
            drops = tunnel.statistics()["datachannel"].drops  # type: ignore[attr-defined]
    assert drops == {}, drops
    assert_clean_log(lab)
    return cipher


async def test_tls_auth_with_aes_256_cbc_and_sha256(openvpn_lab: StartLab, tmp_path: Path) -> None:
    lab = openvpn_lab(
        ServerOptions(wrapping="tls-auth", auth="SHA256", data_ciphers=("AES-256-CBC",))
    )
    assert await tunnel_pings(lab, tmp_path) == "AES-256-CBC"
    assert "cipher AES-256-CBC" in lab.log_text()  # what the server pushed


@pytest.mark.parametrize(
    ("server_lines", "client_lines"),
    [
        pytest.param(
            ("data-ciphers-fallback AES-128-CBC",),
            (),
            id="cipher-from-the-server-occ-string",
        ),
        pytest.param((), ("data-ciphers-fallback AES-128-CBC",), id="our-data-ciphers-fallback"),
    ],
)
async def test_legacy_cipher_choice_without_a_pushed_cipher(
    openvpn_lab: StartLab,
    tmp_path: Path,
    server_lines: tuple[str, ...],
    client_lines: tuple[str, ...],
) -> None:
    # The client ignores the pushed cipher, as a client talking to a server without NCP
    # never gets one: the cipher then comes from the server's OCC string (§5.2), or from
    # data-ciphers-fallback when that string names none (a 2.6 server names its own
    # fallback only).
    lab = openvpn_lab(
        ServerOptions(auth="SHA1", data_ciphers=("AES-128-CBC",), extra_lines=server_lines)
    )
    states: list[StateChange] = []
    cipher = await tunnel_pings(
        lab,
        tmp_path,
        states=states,
        data_ciphers=("AES-256-GCM", "AES-128-CBC"),
        extra_lines=('pull-filter ignore "cipher"', *client_lines),
    )
    assert cipher == "AES-128-CBC"
    pushed = [s.detail for s in states if s.stage is Stage.PUSH_RECEIVED]
    assert pushed and "cipher" not in pushed[0]  # the filter kept the pushed cipher out
    assert "cipher AES-128-CBC" in lab.log_text()  # the server did push it


@pytest.mark.parametrize(
    ("server_lines", "client_lines", "pushed"),
    [
        pytest.param(
            ("compress stub-v2", 'push "compress stub-v2"'), (), "compress stub-v2", id="stub-v2"
        ),
        pytest.param(("comp-lzo no",), ("comp-lzo no",), None, id="comp-lzo-no-both-sides"),
        pytest.param(("compress",), ("compress",), None, id="compress-stub-both-sides"),
        pytest.param(
            ("compress stub", 'push "compress stub"'), (), "compress stub", id="stub-pushed"
        ),
        pytest.param(("compress migrate",), ("comp-lzo no",), "compress stub-v2", id="migrate"),
    ],
)
async def test_compression_framing_configured_or_pushed(
    openvpn_lab: StartLab,
    tmp_path: Path,
    server_lines: tuple[str, ...],
    client_lines: tuple[str, ...],
    pushed: str | None,
) -> None:
    lab = openvpn_lab(ServerOptions(extra_lines=server_lines))
    await tunnel_pings(lab, tmp_path, extra_lines=client_lines)
    push_replies = [line for line in lab.log_text().splitlines() if "PUSH_REPLY" in line]
    assert push_replies, lab.log_text()
    if pushed is not None:
        # With 'compress migrate' the server pushes stub-v2 because we announced
        # IV_COMP_STUBv2 and said comp-lzo in the OCC string (§5.6).
        assert any(pushed in line for line in push_replies), push_replies
    else:
        assert not any("comp" in line for line in push_replies), push_replies


async def test_a_server_that_really_compresses_is_refused(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(
        ServerOptions(
            extra_lines=("allow-compression yes", "compress lz4-v2", 'push "compress lz4-v2"')
        )
    )
    config = load_config(str(client_config(lab, tmp_path)))
    src_dst: list[ipaddress.IPv4Address] = []
    replies = 0
    with pytest.raises(ConfigError) as info:  # the error ends the tunnel block
        with trio.fail_after(HANDSHAKE_LIMIT):
            async with open_tunnel(config) as tunnel:
                assert tunnel.info.address is not None
                src_dst = [tunnel.info.address, lab.tunnel_server_address]
                # Zeros compress well: the server's echo replies go out LZ4-compressed.
                for seq in range(1, 11):
                    request = build_echo_request(src_dst[0], src_dst[1], 7, seq, bytes(1200))
                    await tunnel.send(request)
                    with trio.move_on_after(2):
                        packet = await tunnel.receive()
                        assert parse_echo_reply(packet) is not None  # never garbage
                        replies += 1
    message = str(info.value)
    assert "compressed with LZ4" in message and "compress stub-v2" in message
    assert src_dst and replies == 0
