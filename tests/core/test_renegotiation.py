"""SessionCore renegotiation (docs §5.7, §5.8.8, §5.8.10) with literal ``now`` values.

The peer is ``RenegotiatingServer``: a real pyOpenSSL TLS server per key id, so every new key
really runs a fresh TLS handshake and key-method 2 exchange; the expected data keys are
computed here from that server's own TLS session (EKM) or with an independent PRF.
"""

from __future__ import annotations

import pytest

from tests.core.test_session import CLIENT_SID, Driver, config, of_type
from tests.core.tls_helpers import RenegotiatingServer, ServerKeySession, shared_pki, tls10_prf
from vpnstack.core.shared import opcodes
from vpnstack.core.tlssession.progress import SessionProgress
from vpnstack.core.tlssession.renegotiation import next_key_id
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.errors import HandshakeTimeout, RemoteProtocolError
from vpnstack.messages import ControlMessage, DataKeys, KeepaliveSettings, Stage
from vpnstack.settings import session_settings

SOFT_RESET = opcodes.P_CONTROL_SOFT_RESET_V1
PUSH = (
    b"PUSH_REPLY,route-gateway 10.8.0.1,topology subnet,ping 10,ping-restart 60,"
    b"ifconfig 10.8.0.2 255.255.255.0,peer-id 3,cipher AES-256-GCM"
)
PUSH_EKM = PUSH + b",key-derivation tls-ekm,auth-token SESS_ID_AT_dG9rZW4=\x00"
PUSH_PRF = PUSH + b"\x00"
EKM_LABEL = b"EXPORTER-OpenVPN-datakeys"


def up(push: bytes = PUSH_EKM, now: float = 100.0, **kw: object) -> Driver:
    """A session with key id 0 up at ``now`` against a RenegotiatingServer."""
    server = RenegotiatingServer(shared_pki(), push_script=[[push]])
    core = SessionCore(session_settings(config(**kw)), local_session_id=CLIENT_SID)
    core.start(now)
    driver = Driver(core, server)
    driver.pump(now)
    assert core.tunnel_up
    return driver


def server_of(driver: Driver) -> RenegotiatingServer:
    assert isinstance(driver.server, RenegotiatingServer)
    return driver.server


def data_keys(outputs: list[object]) -> list[DataKeys]:
    return [o for o in outputs if isinstance(o, DataKeys)]


def server_initiated(driver: Driver, key_id: int, now: float) -> list[object]:
    """The server sends SOFT_RESET for ``key_id``; exchange until quiet."""
    driver.core.receive(server_of(driver).soft_reset(key_id), now)
    return list(driver.pump(now))


def slots(key2: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """§5.3: AES-256 send/recv keys and the implicit IVs, sliced here independently."""
    return key2[0:32], key2[128:160], key2[64:72], key2[192:200]


def assert_keys(keys: DataKeys, key2: bytes) -> None:
    assert (
        keys.encrypt_key,
        keys.decrypt_key,
        keys.encrypt_implicit_iv,
        keys.decrypt_implicit_iv,
    ) == slots(key2)


def prf_key2(session: ServerKeySession, server_sid: bytes) -> bytes:
    km2 = session.client_km2
    assert km2 is not None
    master = tls10_prf(km2.pre_master, b"OpenVPN master secret" + km2.random1 + session.random1, 48)
    seed = b"OpenVPN key expansion" + km2.random2 + session.random2 + CLIENT_SID + server_sid
    return tls10_prf(master, seed, 256)


# --- tests ---------------------------------------------------------------------------------------


def test_key_ids_cycle_1_to_7_then_1_never_0() -> None:
    ids = [0]
    for _ in range(16):
        ids.append(next_key_id(ids[-1]))
    assert ids == [0, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 1, 2]


def test_server_initiated_renegotiation_derives_ekm_keys_from_the_new_tls_session() -> None:
    driver = up()
    server = server_of(driver)
    driver.core.receive(server.soft_reset(1), 200.0)
    first = driver.core.outputs()
    # §5.7 step 2: our own SOFT_RESET (id 0 of key id 1) first, then the new ClientHello.
    assert first[0] == ControlMessage(SOFT_RESET, 1)
    hello = [o for o in first if isinstance(o, ControlMessage) and o.opcode == opcodes.P_CONTROL_V1]
    assert len(hello) == 1 and hello[0].key_id == 1 and hello[0].payload[0] == 0x16
    for reply in server.handle(first):  # what we took out by hand goes to the server
        driver.core.receive(reply, 200.0)
    outputs = first + driver.pump(200.0)
    [keys] = data_keys(outputs)
    session = server.sessions[1]
    assert keys.key_id == 1 and keys.cipher == "AES-256-GCM" and keys.peer_id == 3
    # §5.8.8: EKM from key id 1's TLS session, not key id 0's.
    assert_keys(keys, session.tls.export(EKM_LABEL, 256))
    assert keys.encrypt_key != server.tls.export(EKM_LABEL, 256)[0:32]
    # A new key-method 2 with new randoms and the auth-token as password (§5.2).
    km2 = session.client_km2
    assert km2 is not None and server.client_km2 is not None
    assert km2.random1 != server.client_km2.random1
    assert km2.pre_master != server.client_km2.pre_master
    assert km2.strings[2] == b"SESS_ID_AT_dG9rZW4="  # a certificate-only client given a token
    # No PUSH_REQUEST, no keepalive change, the tunnel stays up.
    assert session.texts == [] and not of_type(outputs, KeepaliveSettings)
    assert not [o for o in outputs if isinstance(o, SessionProgress) and o.stage is Stage.TUNNEL_UP]
    assert driver.core.tunnel_up and driver.core.current_key_id == 1
    assert driver.core.stage is Stage.TUNNEL_UP  # reported, but the session stays up
    assert Stage.TLS_ESTABLISHED in [o.stage for o in outputs if isinstance(o, SessionProgress)]
    assert driver.core.counters().renegotiations == 1


def test_renegotiated_prf_keys_use_the_new_randoms() -> None:
    driver = up(PUSH_PRF, client__username="alice", client__password="secret")
    server = server_of(driver)
    outputs = server_initiated(driver, 1, 300.0)
    [keys] = data_keys(outputs)
    session = server.sessions[1]
    assert_keys(keys, prf_key2(session, server.session_id))
    assert session.client_km2 is not None
    assert session.client_km2.strings[1:3] == (b"alice", b"secret")  # no token: the password


def test_client_initiated_at_reneg_sec_exactly() -> None:
    driver = up(now=100.0, tls__reneg_sec=50)
    server = server_of(driver)
    # reneg-sec counts from key id 0's key-method 2 exchange (at 100.0); the client uses
    # exactly its reneg-sec (no randomisation, §5.7 table).
    assert driver.core.next_timer() == 150.0
    driver.core.on_timer(149.999)
    assert driver.core.outputs() == []
    driver.core.on_timer(150.0)
    first = driver.core.outputs()
    assert first[0] == ControlMessage(SOFT_RESET, 1)
    # TLS waits for the server's SOFT_RESET answer.
    assert not [o for o in first if isinstance(o, ControlMessage) and o.opcode != SOFT_RESET]
    for reply in server.handle(first):
        driver.core.receive(reply, 150.5)
    outputs = driver.pump(150.5)
    assert server.client_soft_resets == [1]
    [keys] = data_keys(outputs)
    assert keys.key_id == 1
    assert_keys(keys, server.sessions[1].tls.export(EKM_LABEL, 256))
    # The next one is due reneg-sec after key id 1's key-method 2 exchange.
    assert driver.core.next_timer() == 150.5 + 50.0


def test_reneg_sec_0_turns_the_timer_off() -> None:
    driver = up(tls__reneg_sec=0)
    assert driver.core.next_timer() is None


def test_key_id_wraps_from_7_to_1_and_each_key_gets_its_own_keys() -> None:
    driver = up()
    server = server_of(driver)
    seen: list[int] = []
    now = 200.0
    for turn in range(9):
        now += 10.0
        if turn % 2:  # alternate who starts
            expected = next_key_id(driver.core.current_key_id or 0)
            outputs = server_initiated(driver, expected, now)
        else:
            assert driver.core.request_renegotiation(driver.core.current_key_id or 0, "test", now)
            outputs = driver.pump(now)
        [keys] = data_keys(outputs)
        seen.append(keys.key_id)
        assert_keys(keys, server.sessions[keys.key_id].tls.export(EKM_LABEL, 256))
    assert seen == [1, 2, 3, 4, 5, 6, 7, 1, 2]


def test_soft_reset_while_a_key_is_being_negotiated_is_dropped() -> None:
    driver = up(tls__reneg_sec=50)
    driver.core.on_timer(150.0)  # we start key id 1; the server has not answered yet
    driver.core.outputs()
    with pytest.raises(RemoteProtocolError, match="soft-reset-during-negotiation"):
        driver.core.receive(ControlMessage(SOFT_RESET, 2), 151.0)
    assert driver.core.current_key_id == 1


def test_stale_renegotiation_request_is_ignored() -> None:
    driver = up()
    assert not driver.core.request_renegotiation(5, "reneg-pkts 10", 200.0)
    assert driver.core.outputs() == []
    assert driver.core.counters().ignored == {"stale-renegotiation-request": 1}


def test_renegotiation_not_finished_within_hand_window_is_a_handshake_timeout() -> None:
    driver = up(tls__reneg_sec=50, tls__hand_window=30.0)
    driver.core.on_timer(150.0)
    driver.core.outputs()  # the server never answers our SOFT_RESET
    assert driver.core.next_timer() == 180.0
    driver.core.on_timer(179.9)
    with pytest.raises(HandshakeTimeout, match="renegotiation of data-channel key id 1"):
        driver.core.on_timer(180.0)


def test_tls_failure_during_renegotiation_is_a_handshake_timeout() -> None:
    driver = up()
    driver.core.receive(server_of(driver).soft_reset(1), 200.0)
    driver.core.outputs()
    alert = bytes.fromhex("15030300020228")  # a fatal TLS alert (handshake_failure)
    with pytest.raises(HandshakeTimeout, match="renegotiation of key id 1 failed"):
        driver.core.receive(ControlMessage(opcodes.P_CONTROL_V1, 1, alert), 200.1)


def test_lame_duck_key_still_reads_control_messages() -> None:
    driver = up()
    server = server_of(driver)
    server_initiated(driver, 1, 200.0)
    # A late auth-token refresh on the old key id 0 is still applied, not dropped.
    server.send_texts([b"PUSH_REPLY,auth-token SESS_ID_AT_bmV3\x00"])
    outputs = driver.pump(201.0)
    tokens = [o for o in outputs if isinstance(o, SessionProgress) and o.stage is Stage.AUTH_TOKEN]
    assert len(tokens) == 1
