"""Control-channel wrapping (docs §3.3-3.7, §3.5).

Expected wire bytes are built here from the docs/ layouts with ``hmac``/``hashlib`` and
raw AES (ECB to make the CTR key stream by hand), never from the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from vpnstack.core.controlchannel.wrap import (
    ControlWrap,
    NoWrap,
    TlsAuthWrap,
    TlsCryptWrap,
    make_control_wrap,
)
from vpnstack.errors import ConfigError, RemoteProtocolError

KEY = bytes((37 * i + 11) % 256 for i in range(256))
CLIENT_SID = bytes.fromhex("0102030405060708")
SERVER_SID = bytes.fromhex("a1a2a3a4a5a6a7a8")
CLIENT_TIME = 0x5F5E1000
SERVER_TIME = 0x5F5E1003

# A client HARD_RESET_CLIENT_V2 (§3.3 example): 38 <sid> 00 00000000, 14 bytes.
HARD_RESET = bytes([0x38]) + CLIENT_SID + b"\x00" + b"\x00\x00\x00\x00"
# A SOFT_RESET for key id 1 without acks, and one with one ack (§3.2, §3.7).
SOFT_RESET = bytes([3 << 3 | 1]) + CLIENT_SID + b"\x00" + b"\x00\x00\x00\x00"
SOFT_RESET_ACK = (
    bytes([3 << 3 | 1]) + CLIENT_SID + b"\x01" + b"\x00\x00\x00\x00" + SERVER_SID + b"\x00" * 4
)
# A server P_CONTROL_V1 acking our id 0, message id 1, with TLS bytes.
SERVER_CONTROL = (
    bytes([0x20])
    + SERVER_SID
    + b"\x01\x00\x00\x00\x00"
    + CLIENT_SID
    + b"\x00\x00\x00\x01"
    + bytes(range(100))
)


def replay_field(counter: int, time: int) -> bytes:
    return struct.pack(">II", counter, time)


def reason_of(wrap: NoWrap | TlsAuthWrap | TlsCryptWrap, wire: bytes, now: float = 1.0) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        wrap.unwrap(wire, now)
    return info.value.reason


# --- no wrapping --------------------------------------------------------------------------


def test_nowrap_is_identity() -> None:
    wrap = NoWrap()
    assert wrap.overhead == 0
    assert wrap.tls_mtu_reserve == 0
    assert wrap.wrap(HARD_RESET) == HARD_RESET
    assert len(wrap.wrap(HARD_RESET)) == 14
    assert wrap.unwrap(SERVER_CONTROL, 1.0) == SERVER_CONTROL
    assert reason_of(wrap, HARD_RESET[:9]) == "too-short"


# --- tls-auth -----------------------------------------------------------------------------


def tls_auth_expected(plain: bytes, hmac_key: bytes, digest: str, counter: int, time: int) -> bytes:
    """§3.6: [op|kid][sid][HMAC L][replay 8][reliable]; HMAC over replay || op || sid || rest."""
    replay = replay_field(counter, time)
    mac = hmac.new(hmac_key, replay + plain[:1] + plain[1:9] + plain[9:], digest).digest()
    return plain[:1] + plain[1:9] + mac + replay + plain[9:]


def test_tls_auth_sha256_direction_1_wire_bytes() -> None:
    wrap = TlsAuthWrap(KEY, 1, "SHA256", CLIENT_TIME)
    # key-direction 1 sends with hmac slot keys[1] = [192..), first 32 bytes (§3.5).
    expected = tls_auth_expected(HARD_RESET, KEY[192:224], "sha256", 1, CLIENT_TIME)
    wire = wrap.wrap(HARD_RESET)
    assert wire == expected
    assert len(wire) == 14 + 32 + 8
    assert wire[41:49] == bytes.fromhex("00000001") + CLIENT_TIME.to_bytes(4, "big")
    assert wrap.overhead == 40
    assert wrap.tls_mtu_reserve == 40


def test_tls_auth_hmac_input_is_not_wire_order() -> None:
    """The HMAC must cover replay first (§3.11.4); a wire-order HMAC would differ."""
    wire = TlsAuthWrap(KEY, 1, "SHA256", CLIENT_TIME).wrap(HARD_RESET)
    replay = replay_field(1, CLIENT_TIME)
    wire_order = hmac.new(KEY[192:224], HARD_RESET[:9] + replay + HARD_RESET[9:], "sha256")
    assert wire[9:41] != wire_order.digest()


def test_tls_auth_counter_increments_on_every_wrap() -> None:
    wrap = TlsAuthWrap(KEY, 1, "SHA256", CLIENT_TIME)
    wires = [wrap.wrap(HARD_RESET) for _ in range(3)]  # e.g. retransmissions
    for counter, wire in enumerate(wires, start=1):
        assert wire == tls_auth_expected(HARD_RESET, KEY[192:224], "sha256", counter, CLIENT_TIME)
    ack = bytes([0x28]) + CLIENT_SID + b"\x01\x00\x00\x00\x00" + SERVER_SID
    assert wrap.wrap(ack) == tls_auth_expected(ack, KEY[192:224], "sha256", 4, CLIENT_TIME)


@pytest.mark.parametrize(
    ("direction", "digest", "send_key", "length"),
    [
        (None, "SHA1", KEY[64:84], 20),
        (0, "sha1", KEY[64:84], 20),
        (1, "SHA512", KEY[192:256], 64),
        (0, "SHA384", KEY[64:112], 48),
    ],
)
def test_tls_auth_digests_and_directions(
    direction: int | None, digest: str, send_key: bytes, length: int
) -> None:
    wrap = TlsAuthWrap(KEY, direction, digest, CLIENT_TIME)
    wire = wrap.wrap(HARD_RESET)
    assert wire == tls_auth_expected(HARD_RESET, send_key, digest.lower(), 1, CLIENT_TIME)
    assert wrap.overhead == wrap.tls_mtu_reserve == length + 8


def test_tls_auth_unwrap_server_packet() -> None:
    wrap = TlsAuthWrap(KEY, 1, "SHA256", CLIENT_TIME)
    # The server (key-direction 0) sends with hmac keys[0] = [64..96).
    wire = tls_auth_expected(SERVER_CONTROL, KEY[64:96], "sha256", 1, SERVER_TIME)
    assert wrap.unwrap(wire, 1.0) == SERVER_CONTROL
    # Our own packets (signed with the other slot) do not verify.
    assert reason_of(wrap, wrap.wrap(HARD_RESET)) == "hmac-mismatch"


def test_tls_auth_without_direction_unwraps_keys0() -> None:
    wrap = TlsAuthWrap(KEY, None, "SHA1", CLIENT_TIME)
    wire = tls_auth_expected(SERVER_CONTROL, KEY[64:84], "sha1", 1, SERVER_TIME)
    assert wrap.unwrap(wire, 1.0) == SERVER_CONTROL


def test_tls_auth_rejects_every_tampered_byte() -> None:
    wire = tls_auth_expected(SERVER_CONTROL, KEY[64:84], "sha1", 1, SERVER_TIME)
    for index in range(len(wire)):
        wrap = TlsAuthWrap(KEY, 1, "SHA1", CLIENT_TIME)
        tampered = bytearray(wire)
        tampered[index] ^= 0x01
        assert reason_of(wrap, bytes(tampered)) == "hmac-mismatch", index


def test_tls_auth_replays_rejected_after_authentication() -> None:
    wrap = TlsAuthWrap(KEY, 1, "SHA256", CLIENT_TIME)
    first = tls_auth_expected(SERVER_CONTROL, KEY[64:96], "sha256", 1, SERVER_TIME)
    second = tls_auth_expected(SERVER_CONTROL, KEY[64:96], "sha256", 2, SERVER_TIME)
    # A forged id 2 must not mark id 2 as seen.
    forged = bytearray(second)
    forged[9] ^= 0xFF
    assert reason_of(wrap, bytes(forged)) == "hmac-mismatch"
    wrap.unwrap(first, 1.0)
    wrap.unwrap(second, 1.0)
    assert reason_of(wrap, first) == "replay-duplicate"
    zero = tls_auth_expected(SERVER_CONTROL, KEY[64:96], "sha256", 0, SERVER_TIME)
    assert reason_of(wrap, zero) == "replay-zero-id"
    older = tls_auth_expected(SERVER_CONTROL, KEY[64:96], "sha256", 3, SERVER_TIME - 1)
    assert reason_of(wrap, older) == "replay-time-backwards"


def test_tls_auth_too_short() -> None:
    wrap = TlsAuthWrap(KEY, 1, "SHA256", CLIENT_TIME)
    assert reason_of(wrap, bytes(9 + 32 + 8)) == "too-short"


def test_tls_auth_unknown_digest_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="WHIRLPOOL"):
        TlsAuthWrap(KEY, 1, "WHIRLPOOL", CLIENT_TIME)


# --- tls-crypt ----------------------------------------------------------------------------


def ctr_by_hand(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-256-CTR from AES-ECB: counter blocks iv, iv+1, ... as 128-bit big-endian (§3.7)."""
    ecb = Cipher(algorithms.AES256(key), modes.ECB()).encryptor()
    start = int.from_bytes(iv, "big")
    blocks = (len(data) + 15) // 16
    counters = b"".join(((start + i) % (1 << 128)).to_bytes(16, "big") for i in range(blocks))
    stream = ecb.update(counters) + ecb.finalize()
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


def tls_crypt_expected(plain: bytes, ke: bytes, ka: bytes, counter: int, time: int) -> bytes:
    """§3.7: [op|kid][sid][replay 8][tag 32][CTR(reliable)], tag over header || plaintext."""
    header = plain[:9] + replay_field(counter, time)
    tag = hmac.new(ka, header + plain[9:], hashlib.sha256).digest()
    return header + tag + ctr_by_hand(ke, tag[:16], plain[9:])


# The client sends with keys[1] (INVERSE): Ke [128..160), Ka [192..224) (§3.5).
CLIENT_KE, CLIENT_KA = KEY[128:160], KEY[192:224]
SERVER_KE, SERVER_KA = KEY[0:32], KEY[64:96]


def test_tls_crypt_soft_reset_is_54_bytes() -> None:
    wrap = TlsCryptWrap(KEY, CLIENT_TIME)
    wire = wrap.wrap(SOFT_RESET)
    assert len(wire) == 54
    assert wire == tls_crypt_expected(SOFT_RESET, CLIENT_KE, CLIENT_KA, 1, CLIENT_TIME)
    assert len(wrap.wrap(SOFT_RESET_ACK)) == 66
    assert wrap.overhead == 40
    assert wrap.tls_mtu_reserve == 56


def test_tls_crypt_long_payload_and_counter() -> None:
    wrap = TlsCryptWrap(KEY, CLIENT_TIME)
    plain = bytes([0x20]) + CLIENT_SID + b"\x00" + b"\x00\x00\x00\x02" + bytes(range(256)) * 5
    for counter in (1, 2, 3):
        assert wrap.wrap(plain) == tls_crypt_expected(
            plain, CLIENT_KE, CLIENT_KA, counter, CLIENT_TIME
        )


def test_tls_crypt_v2_initial_counter() -> None:
    wrap = TlsCryptWrap(KEY, CLIENT_TIME, initial_counter=0x0F000000)
    wire = wrap.wrap(HARD_RESET)
    assert wire[9:13] == bytes.fromhex("0f000001")
    assert wire == tls_crypt_expected(HARD_RESET, CLIENT_KE, CLIENT_KA, 0x0F000001, CLIENT_TIME)
    assert wrap.wrap(HARD_RESET)[9:13] == bytes.fromhex("0f000002")


def test_tls_crypt_unwrap_server_packet_and_replays() -> None:
    wrap = TlsCryptWrap(KEY, CLIENT_TIME)
    first = tls_crypt_expected(SERVER_CONTROL, SERVER_KE, SERVER_KA, 1, SERVER_TIME)
    second = tls_crypt_expected(SERVER_CONTROL, SERVER_KE, SERVER_KA, 2, SERVER_TIME)
    assert wrap.unwrap(second, 5.0) == SERVER_CONTROL
    assert wrap.unwrap(first, 5.0) == SERVER_CONTROL  # reordered, within the window
    assert reason_of(wrap, second, 5.0) == "replay-duplicate"
    # Our own direction's keys do not authenticate.
    mine = tls_crypt_expected(SERVER_CONTROL, CLIENT_KE, CLIENT_KA, 3, SERVER_TIME)
    assert reason_of(wrap, mine) == "hmac-mismatch"
    # Time going backwards (an older session) is rejected; forward is accepted.
    old = tls_crypt_expected(SERVER_CONTROL, SERVER_KE, SERVER_KA, 3, SERVER_TIME - 10)
    assert reason_of(wrap, old) == "replay-time-backwards"
    new = tls_crypt_expected(SERVER_CONTROL, SERVER_KE, SERVER_KA, 1, SERVER_TIME + 10)
    assert wrap.unwrap(new, 5.0) == SERVER_CONTROL


def test_tls_crypt_rejects_every_tampered_byte() -> None:
    wire = tls_crypt_expected(SERVER_CONTROL, SERVER_KE, SERVER_KA, 1, SERVER_TIME)
    for index in range(len(wire)):
        wrap = TlsCryptWrap(KEY, CLIENT_TIME)
        tampered = bytearray(wire)
        tampered[index] ^= 0x80
        assert reason_of(wrap, bytes(tampered)) == "hmac-mismatch", index
    # A forged packet did not burn its id.
    wrap = TlsCryptWrap(KEY, CLIENT_TIME)
    forged = bytearray(wire)
    forged[-1] ^= 1
    assert reason_of(wrap, bytes(forged)) == "hmac-mismatch"
    assert wrap.unwrap(wire, 1.0) == SERVER_CONTROL


def test_tls_crypt_too_short() -> None:
    wrap = TlsCryptWrap(KEY, CLIENT_TIME)
    assert reason_of(wrap, bytes(49)) == "too-short"


# --- server role and round trips ----------------------------------------------------------


def test_server_role_matches_the_layout() -> None:
    server = TlsCryptWrap(KEY, SERVER_TIME, role="server")
    assert server.wrap(SERVER_CONTROL) == tls_crypt_expected(
        SERVER_CONTROL, SERVER_KE, SERVER_KA, 1, SERVER_TIME
    )
    server_auth = TlsAuthWrap(KEY, 1, "SHA256", SERVER_TIME, role="server")
    assert server_auth.wrap(SERVER_CONTROL) == tls_auth_expected(
        SERVER_CONTROL, KEY[64:96], "sha256", 1, SERVER_TIME
    )


@given(
    reliable=st.binary(min_size=1, max_size=1500),
    first=st.integers(min_value=0, max_value=255),
    direction=st.sampled_from([None, 0, 1]),
)
def test_round_trip_both_ways(reliable: bytes, first: int, direction: int | None) -> None:
    plain = bytes([first]) + CLIENT_SID + reliable
    pairs: list[tuple[ControlWrap, ControlWrap]] = [
        (TlsCryptWrap(KEY, CLIENT_TIME), TlsCryptWrap(KEY, SERVER_TIME, role="server")),
        (
            TlsAuthWrap(KEY, direction, "SHA1", CLIENT_TIME),
            TlsAuthWrap(KEY, direction, "SHA1", SERVER_TIME, role="server"),
        ),
    ]
    for client, server in pairs:
        assert server.unwrap(client.wrap(plain), 0.0) == plain
        assert client.unwrap(server.wrap(plain), 0.0) == plain


# --- factory ------------------------------------------------------------------------------


def test_make_control_wrap_picks_the_configured_wrapping() -> None:
    assert isinstance(make_control_wrap(None, None, "SHA1", None, CLIENT_TIME), NoWrap)
    auth = make_control_wrap(KEY, 1, "SHA256", None, CLIENT_TIME)
    assert isinstance(auth, TlsAuthWrap)
    assert auth.wrap(HARD_RESET) == tls_auth_expected(
        HARD_RESET, KEY[192:224], "sha256", 1, CLIENT_TIME
    )
    crypt = make_control_wrap(None, 1, "SHA256", KEY, CLIENT_TIME)
    assert isinstance(crypt, TlsCryptWrap)
    assert crypt.wrap(HARD_RESET) == tls_crypt_expected(
        HARD_RESET, CLIENT_KE, CLIENT_KA, 1, CLIENT_TIME
    )
    with pytest.raises(ConfigError, match="tls-auth and tls-crypt"):
        make_control_wrap(KEY, 1, "SHA1", KEY, CLIENT_TIME)


def test_repr_hides_keys() -> None:
    for wrap in (TlsAuthWrap(KEY, 1, "SHA1", 0), TlsCryptWrap(KEY, 0)):
        assert KEY[:4].hex() not in repr(wrap)
        assert "\\x" not in repr(wrap)
