"""SessionCore driven with literal ``now`` values against a scripted in-process server.

The peer (tests/core/tls_helpers.ScriptedServer) is a real pyOpenSSL TLS server that plays
the server side of the ControlMessage exchange. This unit-tests our state machine; the
end-to-end tests against a real OpenVPN server are written elsewhere.
"""

from __future__ import annotations

import ipaddress

import pytest

from tests.core.tls_helpers import ScriptedServer, client_config, shared_pki, tls10_prf
from vpnstack.config import Config
from vpnstack.core.shared import opcodes
from vpnstack.core.tlssession.early_negotiation import parse_early_negotiation_tlvs
from vpnstack.core.tlssession.progress import SessionProgress
from vpnstack.core.tlssession.session import Output, SessionCore
from vpnstack.errors import (
    AuthFailed,
    CipherNegotiationFailed,
    HandshakeTimeout,
    RemoteProtocolError,
    ServerHalted,
)
from vpnstack.messages import (
    ControlMessage,
    DataKeys,
    KeepaliveSettings,
    Stage,
)
from vpnstack.settings import session_settings

CLIENT_SID = bytes.fromhex("c1c2c3c4c5c6c7c8")
PUSH_BASIC = (
    b"PUSH_REPLY,route-gateway 10.8.0.1,topology subnet,ping 10,ping-restart 60,"
    b"ifconfig 10.8.0.2 255.255.255.0,peer-id 3,cipher AES-256-GCM\x00"
)


def config(**kw: object) -> Config:
    return client_config(**{"tls__remote_cert_tls": "server", **kw})


class Driver:
    """Moves messages between the core and the scripted server at a given ``now``."""

    def __init__(self, core: SessionCore, server: ScriptedServer) -> None:
        self.core = core
        self.server = server
        self.seen: list[Output] = []

    def pump(self, now: float, rounds: int = 10) -> list[Output]:
        """Exchange until quiet (bounded); return every core output of this call."""
        produced: list[Output] = []
        for _ in range(rounds):
            outputs = self.core.outputs()
            produced += outputs
            replies = self.server.handle(outputs)
            if not replies and not outputs:
                break
            for reply in replies:
                self.core.receive(reply, now)
        self.seen += produced
        return produced

    def timer(self, now: float) -> list[Output]:
        self.core.on_timer(now)
        return self.pump(now)


def start(server: ScriptedServer, now: float = 100.0, **kw: object) -> Driver:
    core = SessionCore(session_settings(config(**kw)), local_session_id=CLIENT_SID)
    core.start(now)
    driver = Driver(core, server)
    driver.pump(now)
    return driver


def of_type(outputs: list[Output], kind: type) -> list[Output]:
    return [o for o in outputs if isinstance(o, kind)]


def stages(outputs: list[Output]) -> list[Stage]:
    return [o.stage for o in outputs if isinstance(o, SessionProgress)]


def expected_prf_key2(server: ScriptedServer) -> bytes:
    km2 = server.client_km2
    assert km2 is not None
    master = tls10_prf(
        km2.pre_master, b"OpenVPN master secret" + km2.random1 + server.random1, 48
    )
    return tls10_prf(
        master,
        b"OpenVPN key expansion" + km2.random2 + server.random2 + CLIENT_SID + server.session_id,
        256,
    )


def assert_keys(keys: DataKeys, key2: bytes, klen: int = 32) -> None:
    # §5.3 table: client sends with slot 0, receives with slot 1; IVs from the hmac halves.
    assert keys.encrypt_key == key2[0:klen]
    assert keys.decrypt_key == key2[128 : 128 + klen]
    assert keys.encrypt_implicit_iv == key2[64:72]
    assert keys.decrypt_implicit_iv == key2[192:200]


# --- tests ------------------------------------------------------------------------------------


def test_happy_path_prf() -> None:
    server = ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]])
    driver = start(server)
    out = driver.seen
    assert out[0] == ControlMessage(opcodes.P_CONTROL_HARD_RESET_CLIENT_V2, 0)
    assert stages(out) == [
        Stage.TLS_HANDSHAKE,
        Stage.TLS_ESTABLISHED,
        Stage.KEY_EXCHANGED,
        Stage.PUSH_REQUESTED,
        Stage.PUSH_RECEIVED,
        Stage.DATA_KEYS_READY,
        Stage.TUNNEL_UP,
    ]
    tls_msgs = [o for o in out if isinstance(o, ControlMessage)][1:]
    assert tls_msgs and all(m.opcode == opcodes.P_CONTROL_V1 and m.key_id == 0 for m in tls_msgs)
    # Order of the data-channel outputs: keepalive, keys, then tunnel up.
    data = [o for o in out if isinstance(o, KeepaliveSettings | DataKeys)]
    assert data[0] == KeepaliveSettings(ping=10.0, ping_restart=60.0)
    keys = data[1]
    assert isinstance(keys, DataKeys)
    assert out.index(keys) < out.index(next(o for o in out if isinstance(o, SessionProgress)
                                             and o.stage is Stage.TUNNEL_UP))
    assert keys.cipher == "AES-256-GCM" and keys.peer_id == 3 and keys.key_id == 0
    assert_keys(keys, expected_prf_key2(server))
    up = next(o for o in out if isinstance(o, SessionProgress) and o.stage is Stage.TUNNEL_UP)
    assert up.info is not None
    assert up.info.address == ipaddress.IPv4Address("10.8.0.2")
    assert up.info.network == ipaddress.IPv4Network("10.8.0.0/24")
    assert up.info.gateway == ipaddress.IPv4Address("10.8.0.1")
    assert up.info.key_derivation == "prf"
    assert driver.core.tunnel_up
    assert driver.core.server_session_id == server.session_id
    assert server.push_requests == 1
    # The server's key-method 2 check: what our client sent (§5.2, §5.4).
    km2 = server.client_km2
    assert km2 is not None
    options, username, password, peer_info = km2.strings
    assert options is not None and options.startswith(b"V4,dev-type tun,")
    assert username is None and password is None
    assert peer_info is not None and b"IV_PROTO=2014\n" in peer_info
    assert b"IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\n" in peer_info
    # After the tunnel is up only reneg-sec (default 3600 s from key-method 2, §5.7) is left.
    assert driver.core.next_timer() == 100.0 + 3600.0


def test_tls_client_hello_only_after_server_reset() -> None:
    server = ScriptedServer(shared_pki())
    core = SessionCore(session_settings(config()), local_session_id=CLIENT_SID)
    core.start(0.0)
    assert core.outputs() == [ControlMessage(opcodes.P_CONTROL_HARD_RESET_CLIENT_V2, 0)]
    assert core.outputs() == []
    with pytest.raises(RemoteProtocolError):
        core.receive(ControlMessage(opcodes.P_CONTROL_V1, 0, b"\x16\x03\x01"), 1.0)
    reset = server.handle([ControlMessage(opcodes.P_CONTROL_HARD_RESET_CLIENT_V2, 0)])
    core.receive(reset[0], 1.0)
    hello = of_type(core.outputs(), ControlMessage)
    assert len(hello) == 1 and hello[0].opcode == opcodes.P_CONTROL_V1
    assert hello[0].payload[0] == 0x16  # a TLS handshake record


@pytest.mark.parametrize(
    "flag_option", [b"key-derivation tls-ekm", b"protocol-flags cc-exit tls-ekm"]
)
def test_ekm_when_pushed(flag_option: bytes) -> None:
    push = PUSH_BASIC[:-1] + b"," + flag_option + b"\x00"
    server = ScriptedServer(shared_pki(), push_script=[[push]])
    driver = start(server)
    keys = of_type(driver.seen, DataKeys)[0]
    assert isinstance(keys, DataKeys)
    assert_keys(keys, server.tls.export(b"EXPORTER-OpenVPN-datakeys", 256))
    up = next(o for o in driver.seen if isinstance(o, SessionProgress) and o.info is not None)
    assert up.info is not None and up.info.key_derivation == "tls-ekm"


def test_push_request_resent_every_5_seconds_until_reply() -> None:
    server = ScriptedServer(shared_pki(), push_script=[[], [], [PUSH_BASIC]])
    driver = start(server, now=100.0)
    assert server.push_requests == 1
    assert driver.core.next_timer() == 105.0
    driver.timer(104.999)
    assert server.push_requests == 1
    driver.timer(105.0)
    assert server.push_requests == 2
    assert driver.core.next_timer() == 110.0
    assert not of_type(driver.seen, DataKeys)
    driver.timer(110.0)
    assert server.push_requests == 3
    assert len(of_type(driver.seen, DataKeys)) == 1
    assert driver.core.next_timer() == 100.0 + 3600.0  # reneg-sec from key-method 2


def test_multi_part_push_reply_keys_only_after_final_part() -> None:
    part1 = b"PUSH_REPLY,route 192.168.1.0 255.255.255.0,ping 10,push-continuation 2\x00"
    part2 = (
        b"PUSH_REPLY,route 192.168.2.0 255.255.255.0,ifconfig 10.8.0.6 10.8.0.5,"
        b"cipher AES-128-GCM,key-derivation tls-ekm,push-continuation 1\x00"
    )
    server = ScriptedServer(shared_pki(), push_script=[[part1], [part2]])
    driver = start(server, now=0.0)
    assert not of_type(driver.seen, DataKeys)
    assert Stage.PUSH_RECEIVED not in stages(driver.seen)
    assert driver.core.next_timer() == 5.0  # still asking
    driver.timer(5.0)
    keys = of_type(driver.seen, DataKeys)
    assert len(keys) == 1 and isinstance(keys[0], DataKeys)
    assert keys[0].cipher == "AES-128-GCM"
    assert_keys(keys[0], server.tls.export(b"EXPORTER-OpenVPN-datakeys", 256), klen=16)
    up = next(o for o in driver.seen if isinstance(o, SessionProgress) and o.info is not None)
    assert up.info is not None
    assert [str(r.network) for r in up.info.routes] == ["192.168.1.0/24", "192.168.2.0/24"]
    assert up.info.topology == "net30"
    assert up.info.gateway == ipaddress.IPv4Address("10.8.0.5")
    assert of_type(driver.seen, KeepaliveSettings) == [KeepaliveSettings(10.0, None)]


def test_server_pushes_without_request_in_same_flight_as_km2() -> None:
    server = ScriptedServer(shared_pki(), after_km2=[PUSH_BASIC])
    driver = start(server)
    assert driver.core.tunnel_up


def test_auth_failed() -> None:
    server = ScriptedServer(shared_pki(), push_script=[[b"AUTH_FAILED,bad password\x00"]])
    with pytest.raises(AuthFailed, match=r"refused our credentials.*bad password") as info:
        start(server, client__username="alice", client__password="wrong")
    assert info.value.reason == "bad password"
    km2 = server.client_km2
    assert km2 is not None and km2.strings[1:3] == (b"alice", b"wrong")


def test_handshake_timeout_without_any_answer() -> None:
    core = SessionCore(session_settings(config(tls__hand_window=60.0)), local_session_id=CLIENT_SID)
    core.start(10.0)
    assert core.next_timer() == 70.0
    core.on_timer(69.99)
    with pytest.raises(HandshakeTimeout, match="no answer from the server at all"):
        core.on_timer(70.0)


def test_handshake_timeout_after_start() -> None:
    server = ScriptedServer(shared_pki())  # never answers PUSH_REQUEST
    driver = start(server, now=0.0, tls__hand_window=12.0)
    driver.timer(5.0)
    driver.timer(10.0)
    assert driver.core.next_timer() == 12.0
    with pytest.raises(HandshakeTimeout, match=r"started but did not complete.*PUSH_REPLY"):
        driver.timer(12.0)


def test_auth_pending_extends_deadline_and_keeps_pushing() -> None:
    server = ScriptedServer(
        shared_pki(), push_script=[[b"AUTH_PENDING,timeout 300\x00"], [], [PUSH_BASIC]]
    )
    driver = start(server, now=0.0, tls__hand_window=60.0)
    assert driver.core.next_timer() == 5.0
    for t in range(5, 65, 5):
        driver.timer(float(t))
        if driver.core.tunnel_up:
            break
    assert driver.core.tunnel_up
    # A longer wait, to check that the deadline really moved to 300 s.
    server2 = ScriptedServer(shared_pki(), push_script=[[b"AUTH_PENDING,timeout 300\x00"]])
    driver2 = start(server2, now=0.0, tls__hand_window=60.0)
    t = 0.0
    while t < 295.0:
        nxt = driver2.core.next_timer()
        assert nxt is not None
        t = nxt
        driver2.timer(t)
    assert driver2.core.next_timer() == 300.0
    with pytest.raises(HandshakeTimeout):
        driver2.timer(300.0)


def test_cipher_mismatch_names_both_sides() -> None:
    push = b"PUSH_REPLY,ifconfig 10.8.0.2 255.255.255.0,cipher AES-192-GCM\x00"
    server = ScriptedServer(shared_pki(), push_script=[[push]])
    with pytest.raises(CipherNegotiationFailed, match=r"AES-192-GCM.*AES-256-GCM:AES-128-GCM"):
        start(server, data__ciphers=("AES-256-GCM", "AES-128-GCM"))


def test_server_side_ncp_failure_is_a_cipher_error() -> None:
    # What a 2.6 server sends when IV_CIPHERS and its data-ciphers do not intersect.
    text = b"AUTH_FAILED,Data channel cipher negotiation failed (no shared cipher)\x00"
    server = ScriptedServer(shared_pki(), push_script=[[text]])
    with pytest.raises(CipherNegotiationFailed, match=r"AES-128-GCM.*no shared cipher"):
        start(server, data__ciphers=("AES-128-GCM",))


def test_pushed_compression_selects_the_framing() -> None:
    push = PUSH_BASIC[:-1] + b",comp-lzo no\x00"
    driver = start(ScriptedServer(shared_pki(), push_script=[[push]]))
    keys = of_type(driver.seen, DataKeys)[0]
    assert isinstance(keys, DataKeys) and keys.compression == "comp-lzo"


def test_no_cipher_pushed() -> None:
    push = b"PUSH_REPLY,ifconfig 10.8.0.2 255.255.255.0\x00"
    with pytest.raises(CipherNegotiationFailed, match="pushed no data cipher"):
        start(ScriptedServer(shared_pki(), push_script=[[push]]))
    driver = start(ScriptedServer(shared_pki(), push_script=[[push]]), data__cipher="AES-128-GCM")
    keys = of_type(driver.seen, DataKeys)[0]
    assert isinstance(keys, DataKeys) and keys.cipher == "AES-128-GCM"


def test_after_up_auth_token_update_and_restart() -> None:
    server = ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]])
    driver = start(server, client__username="alice", client__password="pw")
    assert not driver.core.has_auth_token
    server.send_texts(
        [b"PUSH_REPLY,auth-token SESS_ID_AT_c2VjcmV0,auth-token-user Ym9iQGV4YW1wbGU=\x00"]
    )
    outputs = driver.pump(200.0)  # nothing torn down, no new keys: only the token is reported
    assert [o.stage for o in outputs if isinstance(o, SessionProgress)] == [Stage.AUTH_TOKEN]
    token = outputs[0].auth_token  # type: ignore[union-attr]
    assert token is not None
    assert (token.token, token.username) == ("SESS_ID_AT_c2VjcmV0", "bob@example")
    assert "SESS_ID" not in repr(outputs) and "SESS_ID" not in repr(driver.core.pushed)
    assert driver.core.has_auth_token
    server.send_texts([b"INFO,hello there\x00"])
    info = driver.pump(201.0)
    assert [o.detail for o in info if isinstance(o, SessionProgress)] == ["server: hello there"]
    server.send_texts([b"RESTART,[N]server restarting\x00"])
    with pytest.raises(ServerHalted, match=r"reconnect.*server restarting"):
        driver.pump(202.0)


def test_halt_before_up() -> None:
    server = ScriptedServer(shared_pki(), push_script=[[b"HALT,go away\x00"]])
    with pytest.raises(ServerHalted, match="HALT: go away"):
        start(server)


def test_several_messages_in_one_record() -> None:
    server = ScriptedServer(shared_pki(), push_script=[[b"INFO,one\x00" + PUSH_BASIC]])
    driver = start(server)
    assert driver.core.tunnel_up
    assert "server: one" in [o.detail for o in driver.seen if isinstance(o, SessionProgress)]


def test_server_reset_tlvs_are_parsed_and_unknown_ignored() -> None:
    assert parse_early_negotiation_tlvs(b"\x00\x01\x00\x02\x00\x01\x7f\x00\x00\x00") == {
        1: b"\x00\x01",
        0x7F00: b"",
    }
    with pytest.raises(RemoteProtocolError):
        parse_early_negotiation_tlvs(b"\x00\x01\x00\x05\x00")
    server = ScriptedServer(
        shared_pki(),
        push_script=[[PUSH_BASIC]],
        reset_payload=b"\x00\x01\x00\x02\x00\x01\x12\x34\x00\x00",
    )
    assert start(server).core.tunnel_up


def test_soft_reset_for_a_key_id_other_than_the_next_is_dropped() -> None:
    driver = start(ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]]))
    for wrong in (0, 2, 7):  # §5.8.10: only key id 1 may follow key id 0
        with pytest.raises(RemoteProtocolError, match="soft-reset-key-id-out-of-sync"):
            driver.core.receive(ControlMessage(opcodes.P_CONTROL_SOFT_RESET_V1, wrong), 300.0)
    assert driver.core.outputs() == []
    assert driver.core.tunnel_up and driver.core.current_key_id == 0


def test_certificate_error_propagates() -> None:
    from vpnstack.errors import CertificateError

    server = ScriptedServer(shared_pki())
    with pytest.raises(CertificateError, match="verify-x509-name"):
        start(server, tls__verify_x509_name=("other.example", "name"))
