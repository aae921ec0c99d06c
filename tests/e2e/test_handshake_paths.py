"""End to end: the harder paths of a handshake against a stock OpenVPN 2.6 server.

Heavy loss on the path, an IPv6 remote, a PUSH_REPLY too long for one message, password
authentication, and a TLS 1.2-only server (checking the version actually negotiated).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio

from vpnstack import AuthFailed, StateChange, load_config, open_tunnel
from vpnstack.lab.relay import LossyRelay
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.messages import Stage

from .test_tunnel import HANDSHAKE_LIMIT, client_config, ping_through

pytestmark = pytest.mark.e2e

StartLab = Callable[[ServerOptions], OpenVPNLab]


async def test_handshake_completes_through_a_relay_losing_a_quarter_of_the_datagrams(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions())
    relay = LossyRelay(
        (str(lab.server_address), lab.port), drop=0.25, duplicate=0.1, reorder=0.1, seed=25
    )
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(relay.run)
        config = load_config(
            str(client_config(lab, tmp_path, remote_host=host, remote_port=port))
        )
        # Retransmissions back off 2, 4, 8 s...: loss makes the handshake slow, not fail.
        with trio.fail_after(60):
            async with open_tunnel(config) as tunnel:
                stats = tunnel.statistics()
                # Pings cross the lossy relay too: some must come back.
                assert await ping_through(tunnel, lab.tunnel_server_address, count=8) >= 1
        nursery.cancel_scope.cancel()
    relayed = relay.statistics()
    assert relayed.dropped_up > 0 and relayed.dropped_down > 0
    assert relayed.duplicated > 0 and relayed.reordered > 0
    assert stats["reliabletransport"].retransmissions > 0  # type: ignore[attr-defined]


async def test_tunnel_over_an_ipv6_remote(openvpn_lab: StartLab, tmp_path: Path) -> None:
    lab = openvpn_lab(ServerOptions())
    path = client_config(lab, tmp_path, remote_host=str(lab.server_address6))
    config = load_config(str(path))
    assert ipaddress.ip_address(config.transport.remotes[0].host).version == 6
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            remote = tunnel.statistics()["networkio"].remote  # type: ignore[attr-defined]
            assert remote.startswith(f"[{lab.server_address6}]")
            assert await ping_through(tunnel, lab.tunnel_server_address) == 3


async def test_multi_part_push_reply_is_collected_before_use(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    # 80 routes make the PUSH_REPLY far longer than one 1024-byte push bundle (§4), so the
    # server splits it with push-continuation (§5.5).
    routes = [ipaddress.ip_network(f"198.18.{i}.0/24") for i in range(80)]
    extra = tuple(f'push "route {net.network_address} {net.netmask}"' for net in routes)
    lab = openvpn_lab(ServerOptions(extra_lines=extra))
    config = load_config(str(client_config(lab, tmp_path)))
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            pushed = {route.network for route in tunnel.info.routes}
            assert set(routes) <= pushed
            assert await ping_through(tunnel, lab.tunnel_server_address) == 3
    assert lab.log_text().count("push-continuation 2") >= 1


async def test_password_accepted_and_wrong_password_is_auth_failed(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions(credentials=("alice", "correct horse")))
    good = load_config(str(client_config(lab, tmp_path)))
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(good) as tunnel:
            assert await ping_through(tunnel, lab.tunnel_server_address, count=1) == 1
    bad_path = tmp_path / "bad.ovpn"
    lab.write_client_config(str(bad_path), credentials=("alice", "wrong"))
    bad = load_config(str(bad_path))
    with trio.fail_after(HANDSHAKE_LIMIT), pytest.raises(AuthFailed) as info:
        async with open_tunnel(bad):
            pytest.fail("the tunnel must not come up")
    assert "wrong" not in str(info.value)  # the password never appears in the error


async def test_tls_version_negotiated_is_reported(openvpn_lab: StartLab, tmp_path: Path) -> None:
    lab = openvpn_lab(ServerOptions(tls_version_max="1.2"))
    config = load_config(str(client_config(lab, tmp_path)))
    stages: list[StateChange] = []
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config, on_state=stages.append):
            pass
    established = [s for s in stages if s.stage is Stage.TLS_ESTABLISHED]
    assert len(established) == 1
    assert "TLSv1.2" in established[0].detail
    assert "CN=server.vpnstack.test" in established[0].detail


async def test_openvpn_prf_key_derivation_when_ekm_is_not_announced(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions())
    config = load_config(str(client_config(lab, tmp_path)))
    config = attrs.evolve(config, tls=attrs.evolve(config.tls, ekm=False))
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            # Without IV_PROTO bit 3 the server does not push tls-ekm: keys come from the PRF
            # over both key-method-2 randoms and both session ids (§5.3 A).
            assert tunnel.info.key_derivation == "prf"
            assert await ping_through(tunnel, lab.tunnel_server_address) == 3
    assert "key-derivation tls-ekm" not in lab.log_text()
    assert not re.search(r"protocol-flags [^,']*tls-ekm", lab.log_text())


async def test_ekm_key_derivation_is_used_when_the_server_pushes_it(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    lab = openvpn_lab(ServerOptions())
    config = load_config(str(client_config(lab, tmp_path)))
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            assert tunnel.info.key_derivation == "tls-ekm"
            assert await ping_through(tunnel, lab.tunnel_server_address) == 3
    # With IV_PROTO bit 7 the server says it in protocol-flags (§5.3), not key-derivation.
    assert re.search(r"protocol-flags [^,']*tls-ekm", lab.log_text()), lab.log_text()[-2000:]


@pytest.mark.parametrize(
    ("path", "server_says"),
    [
        # IV_PROTO bit 7 makes the server push protocol-flags cc-exit: EXIT on the control
        # channel (§6.6).
        ("cc-exit", "CC-EEN exit message received by peer"),
        # Without cc-exit (the flags filtered out, keys by the PRF so nothing else depends on
        # them): the OCC EXIT data packet (§6.5), which the server treats as remote-exit.
        ("occ", "remote-exit"),
    ],
)
async def test_explicit_exit_notify_frees_the_client_on_the_server_at_once(
    openvpn_lab: StartLab, tmp_path: Path, path: str, server_says: str
) -> None:
    lab = openvpn_lab(ServerOptions())
    extra = ["explicit-exit-notify 1"]
    if path == "occ":
        extra.append('pull-filter ignore "protocol-flags"')
    config = load_config(str(client_config(lab, tmp_path, extra_lines=extra)))
    if path == "occ":
        config = attrs.evolve(config, tls=attrs.evolve(config.tls, ekm=False))
    with trio.fail_after(HANDSHAKE_LIMIT):
        async with open_tunnel(config) as tunnel:
            assert tunnel.info.cc_exit is (path == "cc-exit")
            assert await ping_through(tunnel, lab.tunnel_server_address, count=2) == 2
    # The server logs the notification right away, not after ping-restart.
    for _ in range(50):
        if server_says in lab.log_text():
            break
        await trio.sleep(0.1)
    assert server_says in lab.log_text(), lab.log_text()[-2000:]
