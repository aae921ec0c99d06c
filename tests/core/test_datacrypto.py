"""Data-channel keys and AEAD packets (docs §5.3, §6.1, §6.2, §6.5, §6.8).

Expected packets are assembled here from the §6.2 layout with the raw ``cryptography`` AEAD
primitives (which append the tag; the layout puts it before the ciphertext).
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from vpnstack.core.datachannel.crypto import (
    OCC_EXIT,
    OCC_MAGIC,
    PING_PAYLOAD,
    DataChannelCrypto,
    PacketIdExhausted,
    data_packet_key_id,
)
from vpnstack.core.shared.ciphers import AEAD_CIPHERS, CBC_CIPHERS, CIPHER_KEY_LENGTHS
from vpnstack.core.tlssession.datakeys import EKM_LABEL, split_key2
from vpnstack.errors import CipherNegotiationFailed, LocalError, RemoteProtocolError
from vpnstack.messages import DataKeys

KEY2 = bytes((101 * i + 7) % 256 for i in range(256))

# --- split_key2 (§5.3 table) ----------------------------------------------------------------


def test_constants() -> None:
    assert EKM_LABEL == b"EXPORTER-OpenVPN-datakeys"
    assert CIPHER_KEY_LENGTHS == {
        "AES-128-GCM": 16,
        "AES-192-GCM": 24,
        "AES-256-GCM": 32,
        "CHACHA20-POLY1305": 32,
        "AES-128-CBC": 16,
        "AES-192-CBC": 24,
        "AES-256-CBC": 32,
    }
    assert {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM", "CHACHA20-POLY1305"} == AEAD_CIPHERS
    assert frozenset(CIPHER_KEY_LENGTHS) == AEAD_CIPHERS | CBC_CIPHERS
    # §6.5, as printed in docs/.
    assert PING_PAYLOAD.hex(" ") == "2a 18 7b f3 64 1e b4 cb 07 ed 2d 0a 98 1f c7 48"
    assert OCC_MAGIC.hex(" ") == "28 7f 34 6b d4 ef 7a 81 2d 56 b8 d3 af c5 45 9c"
    assert OCC_EXIT == OCC_MAGIC + b"\x06"


@pytest.mark.parametrize(
    ("cipher", "klen"),
    [("AES-256-GCM", 32), ("aes-128-gcm", 16), ("CHACHA20-POLY1305", 32), ("AES-192-GCM", 24)],
)
def test_split_key2_client_normal_direction(cipher: str, klen: int) -> None:
    keys = split_key2(KEY2, cipher=cipher, key_id=3, peer_id=7)
    assert keys.cipher == cipher.upper()
    assert keys.key_id == 3
    assert keys.peer_id == 7
    assert keys.encrypt_key == KEY2[0:klen]
    assert keys.decrypt_key == KEY2[128 : 128 + klen]
    # Implicit IVs come from the hmac slots (§6.10.1).
    assert keys.encrypt_implicit_iv == KEY2[64:72]
    assert keys.decrypt_implicit_iv == KEY2[192:200]


def test_split_key2_rejects_all_zero_cipher_prefix() -> None:
    zero_send = bytes(32) + KEY2[32:]
    with pytest.raises(LocalError, match="all zero"):
        split_key2(zero_send, cipher="AES-256-GCM", key_id=0, peer_id=None)
    zero_recv = KEY2[:128] + bytes(32) + KEY2[160:]
    with pytest.raises(LocalError, match="all zero"):
        split_key2(zero_recv, cipher="AES-256-GCM", key_id=0, peer_id=None)
    # Only the prefix the cipher uses counts: AES-128 with 16 non-zero bytes is fine.
    half_zero = KEY2[:16] + bytes(16) + KEY2[32:144] + bytes(16) + KEY2[160:]
    split_key2(half_zero, cipher="AES-128-GCM", key_id=0, peer_id=None)


def test_split_key2_rejects_bad_input() -> None:
    with pytest.raises(CipherNegotiationFailed, match="BF-CBC"):
        split_key2(KEY2, cipher="BF-CBC", key_id=0, peer_id=None)
    with pytest.raises(LocalError):
        split_key2(KEY2[:255], cipher="AES-256-GCM", key_id=0, peer_id=None)
    with pytest.raises(LocalError):
        split_key2(KEY2, cipher="AES-256-GCM", key_id=8, peer_id=None)
    with pytest.raises(LocalError):
        split_key2(KEY2, cipher="AES-256-GCM", key_id=0, peer_id=1 << 24)


def test_data_keys_repr_hides_material() -> None:
    keys = split_key2(KEY2, cipher="AES-256-GCM", key_id=0, peer_id=None)
    assert KEY2[:4].hex() not in repr(keys)
    assert "\\x" not in repr(keys)


# --- packet layout (§6.1, §6.2) -------------------------------------------------------------


def keys_for(cipher: str = "AES-256-GCM", key_id: int = 0, peer_id: int | None = None) -> DataKeys:
    return split_key2(KEY2, cipher=cipher, key_id=key_id, peer_id=peer_id)


def aead(cipher: str, key: bytes) -> AESGCM | ChaCha20Poly1305:
    return ChaCha20Poly1305(key) if cipher == "CHACHA20-POLY1305" else AESGCM(key)


def expected_v2(
    keys: DataKeys, key: bytes, iv: bytes, peer_id: int, packet_id: int, payload: bytes
) -> bytes:
    """[hdr 4][pid 4][tag 16][ct]; nonce = pid || iv; AD = hdr || pid."""
    hdr = bytes([0x48 | keys.key_id]) + peer_id.to_bytes(3, "big")
    pid = struct.pack(">I", packet_id)
    sealed = aead(keys.cipher, key).encrypt(pid + iv, payload, hdr + pid)
    ct, tag = sealed[:-16], sealed[-16:]
    return hdr + pid + tag + ct


def expected_v1(keys: DataKeys, key: bytes, iv: bytes, packet_id: int, payload: bytes) -> bytes:
    """[0x30|kid][pid 4][tag 16][ct]; AD = pid only (opcode not authenticated, §6.10.2)."""
    pid = struct.pack(">I", packet_id)
    sealed = aead(keys.cipher, key).encrypt(pid + iv, payload, pid)
    return bytes([0x30 | keys.key_id]) + pid + sealed[-16:] + sealed[:-16]


@pytest.mark.parametrize("cipher", ["AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305"])
def test_encrypt_p_data_v2_layout(cipher: str) -> None:
    keys = keys_for(cipher, key_id=2, peer_id=0x0A0B0C)
    crypto = DataChannelCrypto(keys)
    assert crypto.overhead == 24
    payloads = [b"\x45" + bytes(range(60)), b"", PING_PAYLOAD]
    for packet_id, payload in enumerate(payloads, start=1):
        wire = crypto.encrypt(payload)
        assert wire == expected_v2(
            keys, KEY2[0 : len(keys.encrypt_key)], KEY2[64:72], 0x0A0B0C, packet_id, payload
        )
        assert wire[:4] == bytes.fromhex("4a0a0b0c")
        assert wire[4:8] == packet_id.to_bytes(4, "big")
        assert len(wire) == 24 + len(payload)


@pytest.mark.parametrize("cipher", ["AES-256-GCM", "CHACHA20-POLY1305"])
def test_encrypt_p_data_v1_layout(cipher: str) -> None:
    keys = keys_for(cipher, key_id=1, peer_id=None)
    crypto = DataChannelCrypto(keys)
    assert crypto.overhead == 21
    payload = bytes(range(200))
    wire = crypto.encrypt(payload)
    assert wire == expected_v1(keys, keys.encrypt_key, KEY2[64:72], 1, payload)
    assert wire[0] == 0x31
    assert len(wire) == 21 + 200


def test_v1_and_v2_ad_differ() -> None:
    """The same pid/payload under V2-style AD (hdr||pid) gives a different tag than V1's."""
    keys = keys_for(key_id=0, peer_id=None)
    v1 = DataChannelCrypto(keys).encrypt(b"x" * 32)
    pid = v1[1:5]
    with_header_ad = AESGCM(keys.encrypt_key).encrypt(
        pid + keys.encrypt_implicit_iv, b"x" * 32, v1[:1] + pid
    )
    assert v1[5:21] != with_header_ad[-16:]
    assert v1[21:] == with_header_ad[:-16]  # same key stream, only the tag differs


def test_batch_equals_sequential() -> None:
    keys = keys_for(peer_id=5)
    payloads = [bytes([i]) * i for i in range(10)]
    wires = DataChannelCrypto(keys).encrypt_batch(payloads)
    assert wires == [
        expected_v2(keys, keys.encrypt_key, keys.encrypt_implicit_iv, 5, i + 1, p)
        for i, p in enumerate(payloads)
    ]


def test_packet_ids_exhaust_at_0xffffffff() -> None:
    crypto = DataChannelCrypto(keys_for(peer_id=1), first_packet_id=0xFEFFFFFF)
    assert not crypto.wants_renegotiation
    crypto.encrypt(b"a")
    assert crypto.wants_renegotiation  # next id is 0xFF000000
    crypto = DataChannelCrypto(keys_for(peer_id=1), first_packet_id=0xFFFFFFFF)
    assert crypto.encrypt(b"a")[4:8] == b"\xff\xff\xff\xff"
    with pytest.raises(PacketIdExhausted):
        crypto.encrypt(b"b")
    with pytest.raises(LocalError):
        crypto.encrypt(b"c")


# --- decrypt -----------------------------------------------------------------------------


def server_v2(keys: DataKeys, packet_id: int, payload: bytes, peer_id: int = 0x123456) -> bytes:
    """What the server sends: encrypted with keys[1] (the client's decrypt key)."""
    return expected_v2(
        keys, keys.decrypt_key, keys.decrypt_implicit_iv, peer_id, packet_id, payload
    )


def server_v1(keys: DataKeys, packet_id: int, payload: bytes) -> bytes:
    return expected_v1(keys, keys.decrypt_key, keys.decrypt_implicit_iv, packet_id, payload)


def reason_of(crypto: DataChannelCrypto, packet: bytes, now: float = 0.0) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        crypto.decrypt(packet, now)
    return info.value.reason


@pytest.mark.parametrize("cipher", ["AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305"])
def test_decrypt_accepts_v1_and_v2(cipher: str) -> None:
    keys = keys_for(cipher, key_id=4, peer_id=9)
    crypto = DataChannelCrypto(keys)
    assert crypto.decrypt(server_v2(keys, 1, b"hello"), 0.0) == b"hello"
    assert crypto.decrypt(server_v1(keys, 2, b"world"), 0.0) == b"world"
    assert crypto.decrypt(server_v2(keys, 3, b"", peer_id=0xFFFFFF), 0.0) == b""


def test_decrypt_rejects_replays_only_after_authentication() -> None:
    keys = keys_for(peer_id=9)
    crypto = DataChannelCrypto(keys)
    genuine = server_v2(keys, 5, b"payload")
    forged = bytearray(genuine)
    forged[-1] ^= 1
    assert reason_of(crypto, bytes(forged)) == "auth-failed"
    assert crypto.decrypt(genuine, 0.0) == b"payload"
    assert reason_of(crypto, genuine) == "replay-duplicate"
    # The same id over V1 is the same replay state.
    assert reason_of(crypto, server_v1(keys, 5, b"payload")) == "replay-duplicate"
    assert reason_of(crypto, server_v2(keys, 0, b"zero")) == "replay-zero-id"
    crypto.decrypt(server_v2(keys, 100, b"late"), 0.0)
    assert reason_of(crypto, server_v2(keys, 36, b"old")) == "replay-too-old"
    crypto.decrypt(server_v2(keys, 37, b"just in"), 0.0)
    # Short-form expiry: id 99 arrives more than 15 s after id 100.
    assert reason_of(crypto, server_v2(keys, 99, b"stale"), now=15.5) == "replay-expired"


def test_decrypt_rejects_every_tampered_byte_v2() -> None:
    keys = keys_for(key_id=0, peer_id=9)
    packet = server_v2(keys, 1, bytes(range(40)))
    for index in range(1, len(packet)):  # peer-id, pid, tag and ciphertext are authenticated
        tampered = bytearray(packet)
        tampered[index] ^= 0x04
        assert reason_of(DataChannelCrypto(keys), bytes(tampered)) == "auth-failed", index


def test_decrypt_rejects_every_tampered_byte_v1() -> None:
    keys = keys_for(key_id=0, peer_id=None)
    packet = server_v1(keys, 1, bytes(range(40)))
    for index in range(1, len(packet)):
        tampered = bytearray(packet)
        tampered[index] ^= 0x40
        assert reason_of(DataChannelCrypto(keys), bytes(tampered)) == "auth-failed", index


def test_decrypt_header_checks() -> None:
    keys = keys_for(key_id=2, peer_id=9)
    crypto = DataChannelCrypto(keys)
    packet = server_v2(keys, 1, b"abc")
    assert reason_of(crypto, b"") == "too-short"
    assert reason_of(crypto, packet[:23]) == "too-short"
    assert reason_of(crypto, server_v1(keys, 1, b"")[:20]) == "too-short"
    wrong_kid = bytes([0x48 | 3]) + packet[1:]
    assert reason_of(crypto, wrong_kid) == "wrong-key-id"
    control = bytes([0x20 | 2]) + packet[1:]
    assert reason_of(crypto, control) == "not-data"
    # Our own packets (client->server keys) do not decrypt on the client.
    assert reason_of(crypto, DataChannelCrypto(keys).encrypt(b"abc")) == "auth-failed"


def test_data_packet_key_id() -> None:
    assert data_packet_key_id(bytes([0x48 | 5, 0, 0, 1])) == 5
    assert data_packet_key_id(bytes([0x30 | 7])) == 7
    assert data_packet_key_id(bytes([0x30])) == 0
    with pytest.raises(RemoteProtocolError, match="not-data"):
        data_packet_key_id(bytes([0x20]))
    with pytest.raises(RemoteProtocolError, match="too-short"):
        data_packet_key_id(b"")


# --- round trips with the server role -----------------------------------------------------


def test_server_role_sends_what_the_layout_says() -> None:
    keys = keys_for(key_id=1, peer_id=0x42)
    server = DataChannelCrypto(keys, role="server")
    assert server.encrypt(b"pong") == expected_v2(
        keys, keys.decrypt_key, keys.decrypt_implicit_iv, 0x42, 1, b"pong"
    )


@given(
    payloads=st.lists(st.binary(max_size=1600), min_size=1, max_size=8),
    cipher=st.sampled_from(sorted(AEAD_CIPHERS)),
    key_id=st.integers(min_value=0, max_value=7),
    peer_id=st.one_of(st.none(), st.integers(min_value=0, max_value=0xFFFFFF)),
)
def test_round_trip(payloads: list[bytes], cipher: str, key_id: int, peer_id: int | None) -> None:
    keys = split_key2(KEY2, cipher=cipher, key_id=key_id, peer_id=peer_id)
    client = DataChannelCrypto(keys)
    server = DataChannelCrypto(keys, role="server")
    assert [server.decrypt(w, 0.0) for w in client.encrypt_batch(payloads)] == payloads
    assert [client.decrypt(server.encrypt(p), 0.0) for p in payloads] == payloads
