"""End to end: renegotiation against a stock OpenVPN 2.6 server (docs §5.7, §3.10).

Every wrapping is exercised with dynamic tls-crypt (we announce IV_PROTO bit 9, the server
pushes ``protocol-flags dyn-tls-crypt``), so key ids > 0 travel under the exported key even
over tls-auth and with no wrapping at all.

Continuous pings (one every 0.2 s) go through the tunnel while the server (``reneg-sec 4``,
which a 2.6 server randomises down to 3.6 s) or the client (``reneg-sec 4`` in the client
config, used exactly) renegotiates at least three times. The replies come from the server's
kernel, so they prove that each new key works both ways and that no packet in flight on the
old key is lost on a larger scale than a couple of pings; the server log must show the new
key ids' TLS sessions and no decryption complaint.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from vpnstack import load_config, open_tunnel
from vpnstack.icmp import build_echo_request, parse_echo_reply
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.tunnel import Tunnel

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]
PING_INTERVAL = 0.2
DURATION = 15.0  # at reneg-sec 4 (3.6..4 s on a 2.6 server): at least 3 renegotiations
COMPLAINTS = (
    "Authenticate/Decrypt packet error",
    "AEAD Decrypt error",
    "HMAC authentication failed",
    "tls-crypt unwrapping failed",
    "TLS Error",
    "key IDs out of sync",
)


async def ping_for(tunnel: Tunnel, dst: ipaddress.IPv4Address, duration: float) -> tuple[int, int]:
    """Ping ``dst`` every PING_INTERVAL for ``duration`` s; return (sent, distinct replies)."""
    assert tunnel.info.address is not None
    src = tunnel.info.address
    replies: set[int] = set()
    sent = 0

    async def receiver() -> None:
        while True:
            reply = parse_echo_reply(await tunnel.receive())
            if reply is not None and reply.src == dst and reply.payload == b"reneg %d" % reply.seq:
                replies.add(reply.seq)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        deadline = trio.current_time() + duration
        while trio.current_time() < deadline:
            sent += 1
            await tunnel.send(build_echo_request(src, dst, 0x7E7E, sent, b"reneg %d" % sent))
            await trio.sleep(PING_INTERVAL)
        await trio.sleep(2.0)  # the last replies
        nursery.cancel_scope.cancel()
    return sent, len(replies)


def server_key_ids(log: str, direction: str) -> set[int]:
    """Key ids of the data packets the server decrypted ("decrypt") or encrypted ("encrypt").

    verb 7 logs ``TLS: tls_pre_decrypt, key_id=N`` / ``TLS: tls_pre_encrypt: key_id=N`` for
    every data packet (ssl.c, D_TLS_KEYSELECT).
    """
    return {int(k) for k in re.findall(rf"tls_pre_{direction}\W+key_id=(\d)", log)}


async def run_pings(lab: OpenVPNLab, tmp_path: Path, extra_lines: tuple[str, ...] = ()) -> dict[
    str, object
]:
    path = tmp_path / "client.ovpn"
    lab.write_client_config(str(path), extra_lines=extra_lines)
    config = load_config(str(path))
    with trio.fail_after(DURATION + 30):
        async with open_tunnel(config) as tunnel:
            sent, got = await ping_for(tunnel, lab.tunnel_server_address, DURATION)
            stats = tunnel.statistics()
    assert got >= 0.95 * sent, (sent, got, stats)
    log = lab.log_text()
    for complaint in COMPLAINTS:
        assert complaint not in log, log
    return stats


def renegotiations(stats: dict[str, object]) -> int:
    tls = stats["tlssession"]
    count = getattr(tls, "renegotiations", 0)
    assert isinstance(count, int)
    return count


def assert_dynamic_tls_crypt(stats: dict[str, object], log: str) -> None:
    """§3.10: we announced bit 9, the server pushed dyn-tls-crypt, and every control packet of
    key ids > 0 went through the dynamic tls-crypt key both ways without a single drop."""
    assert "protocol-flags" in log and "dyn-tls-crypt" in log, log
    assert "Incoming dynamic tls-crypt" in log, log
    control = stats["controlchannel"]
    assert getattr(control, "dynamic_tls_crypt", False) is True, control
    assert getattr(control, "drops", None) == {}, control


@pytest.mark.parametrize(
    "wrapping", [pytest.param(w, id=w) for w in ("tls-crypt", "tls-auth", "tls-crypt-v2", "none")]
)
async def test_server_initiated_renegotiation_keeps_traffic_flowing(
    openvpn_lab: StartLab, tmp_path: Path, wrapping: str
) -> None:
    options = ServerOptions(wrapping=wrapping, extra_lines=("reneg-sec 4",), verb=7)  # type: ignore[arg-type]
    lab = openvpn_lab(options)
    stats = await run_pings(lab, tmp_path)
    assert renegotiations(stats) >= 3, stats
    log = lab.log_text()
    assert log.count("TLS: soft reset") >= 3, log  # the server started them
    assert log.count("Control Channel: TLS") >= 4, log  # a TLS session per key id
    # The server decrypted our packets, and sent its own, on key ids 1, 2 and 3 (within
    # 60 s of the session's start both keys are inside the deferred-auth window, so the
    # newest key sends at once, on both sides).
    assert {0, 1, 2, 3} <= server_key_ids(log, "decrypt"), server_key_ids(log, "decrypt")
    assert {0, 1, 2, 3} <= server_key_ids(log, "encrypt"), server_key_ids(log, "encrypt")
    assert_dynamic_tls_crypt(stats, log)


@pytest.mark.parametrize("wrapping", [pytest.param(w, id=w) for w in ("tls-crypt", "tls-auth")])
async def test_client_initiated_renegotiation_at_reneg_sec(
    openvpn_lab: StartLab, tmp_path: Path, wrapping: str
) -> None:
    lab = openvpn_lab(ServerOptions(wrapping=wrapping, verb=7))  # type: ignore[arg-type]
    stats = await run_pings(lab, tmp_path, extra_lines=("reneg-sec 4",))
    assert renegotiations(stats) >= 3, stats
    log = lab.log_text()
    # The server did not start these: its own reneg-sec is the default 3600.
    assert "TLS: soft reset" not in log, log
    assert log.count("Control Channel: TLS") >= 4, log
    # Our deferred-auth window is min(hand-window, reneg-sec / 2) = 2 s: each new key sends
    # 2 s after it is installed, so key ids 1 and 2 certainly carried our pings (key id 3,
    # installed about 12 s in, may not have yet).
    assert {0, 1, 2} <= server_key_ids(log, "decrypt"), server_key_ids(log, "decrypt")
    assert {1, 2, 3} <= server_key_ids(log, "encrypt"), server_key_ids(log, "encrypt")
    assert_dynamic_tls_crypt(stats, log)
