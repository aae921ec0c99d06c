"""Dynamic tls-crypt (docs §3.10, §5.8.9): the key, and which packets it wraps.

Expected wire bytes come from ``tls_crypt_expected`` (tls-crypt written out with hmac and
AES-ECB in tests/core/test_controlwrap.py); the expected key from the scripted server's own
TLS exporter XORed here with the original key.
"""

from __future__ import annotations

import os

from tests.core.test_controlwrap import tls_crypt_expected
from tests.core.test_session import CLIENT_SID, Driver, config
from tests.core.tls_helpers import RenegotiatingServer, shared_pki
from vpnstack.core.controlchannel.channel import ControlChannelCore
from vpnstack.core.controlchannel.wrap import NoWrap, TlsAuthWrap
from vpnstack.core.tlssession.dynamic_tls_crypt import dynamic_tls_crypt_key
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.messages import DynamicTlsCryptKey, ReliablePacket
from vpnstack.settings import session_settings

LABEL = b"EXPORTER-OpenVPN-dynamic-tls-crypt"
PUSH = (
    b"PUSH_REPLY,route-gateway 10.8.0.1,topology subnet,ifconfig 10.8.0.2 255.255.255.0,"
    b"peer-id 3,cipher AES-256-GCM,protocol-flags tls-ekm dyn-tls-crypt\x00"
)
SERVER_SID = bytes.fromhex("a1a2a3a4a5a6a7a8")
TIME = 0x6000_0000


def session_up(push: bytes, **kw: object) -> tuple[Driver, list[object]]:
    server = RenegotiatingServer(shared_pki(), push_script=[[push]])
    core = SessionCore(session_settings(config(**kw)), local_session_id=CLIENT_SID)
    core.start(100.0)
    driver = Driver(core, server)
    driver.pump(100.0)
    assert core.tunnel_up
    return driver, list(driver.seen)


def dynamic_keys(outputs: list[object]) -> list[bytes]:
    return [o.key for o in outputs if isinstance(o, DynamicTlsCryptKey)]


def test_key_is_the_export_xor_the_tls_auth_key_file() -> None:
    tls_auth = os.urandom(256)
    driver, outputs = session_up(PUSH, tls__auth_key=tls_auth, tls__key_direction=1)
    export = driver.server.tls.export(LABEL, 256)  # key id 0's TLS session (§3.10 step 1)
    assert dynamic_keys(outputs) == [bytes(a ^ b for a, b in zip(export, tls_auth, strict=True))]
    # It is sent once, with key id 0's data keys, not again on a renegotiation.
    driver.core.receive(driver.server.soft_reset(1), 200.0)  # type: ignore[attr-defined]
    assert dynamic_keys(driver.pump(200.0)) == []


def test_key_without_original_wrapping_is_the_export_itself() -> None:
    driver, outputs = session_up(PUSH)
    assert dynamic_keys(outputs) == [driver.server.tls.export(LABEL, 256)]


def test_no_key_unless_the_server_pushed_dyn_tls_crypt() -> None:
    _, outputs = session_up(PUSH.replace(b" dyn-tls-crypt", b""), tls__crypt_key=os.urandom(256))
    assert dynamic_keys(outputs) == []


def test_repr_hides_the_key() -> None:
    key = bytes(range(256))
    assert key.hex() not in repr(DynamicTlsCryptKey(key))
    assert "hidden" in repr(DynamicTlsCryptKey(key))


def test_xor_with_the_original_key() -> None:
    ekm, original = os.urandom(256), os.urandom(256)
    assert dynamic_tls_crypt_key(ekm, original) == bytes(
        a ^ b for a, b in zip(ekm, original, strict=True)
    )
    assert dynamic_tls_crypt_key(ekm, None) == ekm


def plain(opcode: int, key_id: int, sid: bytes, message_id: int, payload: bytes = b"") -> bytes:
    """§3.3 layout without acks: [op|kid][sid][ack_count 0][message id][payload]."""
    return bytes([opcode << 3 | key_id]) + sid + b"\x00" + message_id.to_bytes(4, "big") + payload


def test_key_ids_above_0_use_dynamic_tls_crypt_even_without_wrapping() -> None:
    key = os.urandom(256)
    core = ControlChannelCore(wrap=NoWrap(), local_session_id=CLIENT_SID, session_time=TIME)
    # The server's hard reset (plain, no wrapping) teaches the core its session id.
    core.decode(plain(8, 0, SERVER_SID, 0), 1.0)
    core.install_dynamic_tls_crypt(key)
    assert core.dynamic_tls_crypt
    # Key id 0 keeps the original wrapping (none here).
    assert core.encode(ReliablePacket(4, 0, message_id=5, payload=b"tls")) == plain(
        4, 0, CLIENT_SID, 5, b"tls"
    )
    # Key id 1: tls-crypt with the client (INVERSE) half of the key, its own counter from 1.
    send_ke, send_ka = key[128:160], key[192:224]
    for counter in (1, 2):
        wire = core.encode(ReliablePacket(3, 1, message_id=0))
        expected = tls_crypt_expected(plain(3, 1, CLIENT_SID, 0), send_ke, send_ka, counter, TIME)
        assert wire == expected
    # The server's key id 1 packets come with the other half and decode.
    recv_ke, recv_ka = key[0:32], key[64:96]
    server = plain(4, 2, SERVER_SID, 3, b"hello")
    packet = core.decode(tls_crypt_expected(server, recv_ke, recv_ka, 1, TIME + 5), 2.0)
    assert (packet.opcode, packet.key_id, packet.message_id, packet.payload) == (4, 2, 3, b"hello")


def test_original_tls_auth_counter_and_dynamic_counter_are_separate() -> None:
    key, static = os.urandom(256), os.urandom(256)
    wrap = TlsAuthWrap(static, 1, "SHA256", TIME)
    core = ControlChannelCore(wrap=wrap, local_session_id=CLIENT_SID, session_time=TIME)
    for _ in range(3):  # three key id 0 packets use up tls-auth counters 1..3
        core.encode(ReliablePacket(7, 0, message_id=0))
    core.install_dynamic_tls_crypt(key)
    wire = core.encode(ReliablePacket(3, 1, message_id=0))
    assert wire[9:13] == (1).to_bytes(4, "big")  # dynamic counter starts at 1 (§3.10 step 4)
    wire0 = core.encode(ReliablePacket(7, 0, message_id=0))
    assert wire0[9 + 32 : 9 + 32 + 4] == (4).to_bytes(4, "big")  # tls-auth goes on at 4
