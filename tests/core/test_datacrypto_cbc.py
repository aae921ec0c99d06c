"""CBC + HMAC data packets (docs §5.3, §6.1, §6.3, §6.8, §6.10.3).

Expected packets are taken apart (and built) here from the §6.3 layout with the stdlib
``hmac`` module and a fresh ``cryptography`` AES-CBC context per packet, so nothing in the
checks comes from the code under test:

    [hdr][HMAC L][IV 16][AES-CBC(packet_id 4 || payload, PKCS#7)]
    HMAC = HMAC-<auth>(key2 hmac slot prefix of the direction, IV || ciphertext)
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import attrs
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from vpnstack.core.datachannel.crypto import (
    CbcHmacCrypto,
    DataChannelCrypto,
    PacketIdExhausted,
    make_data_crypto,
)
from vpnstack.core.shared.ciphers import CBC_CIPHERS, HMAC_DIGEST_LENGTHS
from vpnstack.core.tlssession.datakeys import split_key2
from vpnstack.errors import CipherNegotiationFailed, LocalError, RemoteProtocolError
from vpnstack.messages import DataKeys

KEY2 = bytes((101 * i + 7) % 256 for i in range(256))
KLEN = {"AES-128-CBC": 16, "AES-192-CBC": 24, "AES-256-CBC": 32}
DIGEST_LEN = {"SHA1": 20, "SHA256": 32, "SHA512": 64}


def keys_for(
    cipher: str = "AES-256-CBC",
    auth: str = "SHA256",
    key_id: int = 0,
    peer_id: int | None = None,
) -> DataKeys:
    return split_key2(KEY2, cipher=cipher, key_id=key_id, peer_id=peer_id, auth=auth)


# --- key slicing (§5.3 table) ---------------------------------------------------------------


@pytest.mark.parametrize("cipher", sorted(KLEN))
@pytest.mark.parametrize("auth", sorted(DIGEST_LEN))
def test_split_key2_fills_the_hmac_keys_for_cbc(cipher: str, auth: str) -> None:
    keys = split_key2(KEY2, cipher=cipher.lower(), key_id=2, peer_id=9, auth=auth.lower())
    klen, hlen = KLEN[cipher], DIGEST_LEN[auth]
    assert (keys.cipher, keys.auth, keys.key_id, keys.peer_id) == (cipher, auth, 2, 9)
    assert keys.encrypt_key == KEY2[0:klen]
    assert keys.decrypt_key == KEY2[128 : 128 + klen]
    # The HMAC key is the first L bytes of the direction's hmac slot.
    assert keys.encrypt_hmac_key == KEY2[64 : 64 + hlen]
    assert keys.decrypt_hmac_key == KEY2[192 : 192 + hlen]
    assert keys.encrypt_implicit_iv == b"" and keys.decrypt_implicit_iv == b""
    assert KEY2[64:70].hex() not in repr(keys)


def test_split_key2_aead_keys_have_no_auth_and_carry_the_framing() -> None:
    keys = split_key2(
        KEY2, cipher="AES-256-GCM", key_id=0, peer_id=None, auth="SHA512", compression="stub"
    )
    assert keys.auth is None and keys.encrypt_hmac_key == b"" and keys.decrypt_hmac_key == b""
    assert keys.compression == "stub"
    with pytest.raises(LocalError):
        split_key2(KEY2, cipher="AES-256-GCM", key_id=0, peer_id=None, compression="lz4")


def test_split_key2_rejects_an_unknown_digest() -> None:
    with pytest.raises(CipherNegotiationFailed, match="MD5"):
        split_key2(KEY2, cipher="AES-128-CBC", key_id=0, peer_id=None, auth="MD5")
    assert HMAC_DIGEST_LENGTHS["SHA1"] == hashlib.sha1().digest_size
    assert HMAC_DIGEST_LENGTHS["SHA512"] == hashlib.sha512().digest_size


# --- the packet layout, checked with independent primitives -----------------------------------


def open_packet(packet: bytes, header_len: int, cipher: str, auth: str, direction: str) -> bytes:
    """Verify and decrypt per §6.3 with fresh primitives; returns packet_id || payload."""
    klen, hlen = KLEN[cipher], DIGEST_LEN[auth]
    base = 0 if direction == "client->server" else 128
    cipher_key, hmac_key = KEY2[base : base + klen], KEY2[base + 64 : base + 64 + hlen]
    tag = packet[header_len : header_len + hlen]
    iv = packet[header_len + hlen : header_len + hlen + 16]
    ciphertext = packet[header_len + hlen + 16 :]
    expected = hmac.new(hmac_key, iv + ciphertext, auth.lower()).digest()
    assert hmac.compare_digest(tag, expected)
    decryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def build_packet(
    header: bytes,
    packet_id: int,
    payload: bytes,
    *,
    cipher: str = "AES-256-CBC",
    auth: str = "SHA256",
    iv: bytes = bytes(range(16)),
    direction: str = "server->client",
    pad: bytes | None = None,
) -> bytes:
    """A §6.3 packet built from scratch (default: as the server sends to the client)."""
    klen, hlen = KLEN[cipher], DIGEST_LEN[auth]
    base = 128 if direction == "server->client" else 0
    cipher_key, hmac_key = KEY2[base : base + klen], KEY2[base + 64 : base + 64 + hlen]
    plain = struct.pack(">I", packet_id) + payload
    if pad is None:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plain) + padder.finalize()
    else:
        padded = plain + pad
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    tag = hmac.new(hmac_key, iv + ciphertext, auth.lower()).digest()
    return header + tag + iv + ciphertext


@pytest.mark.parametrize("cipher", sorted(KLEN))
@pytest.mark.parametrize("auth", sorted(DIGEST_LEN))
def test_encrypt_v2_layout(cipher: str, auth: str) -> None:
    crypto = CbcHmacCrypto(keys_for(cipher, auth, key_id=5, peer_id=0x0A0B0C))
    payload = bytes(range(60))
    packet = crypto.encrypt(payload)
    assert packet[:4] == bytes([0x48 | 5, 0x0A, 0x0B, 0x0C])
    assert open_packet(packet, 4, cipher, auth, "client->server") == b"\x00\x00\x00\x01" + payload
    # 4 + 60 = 64 bytes of plaintext: a whole extra block of padding (PKCS#7).
    assert len(packet) == 4 + DIGEST_LEN[auth] + 16 + 64 + 16
    second = crypto.encrypt(payload)
    assert open_packet(second, 4, cipher, auth, "client->server")[:4] == b"\x00\x00\x00\x02"


def test_encrypt_v1_layout_and_overhead() -> None:
    crypto = CbcHmacCrypto(keys_for("AES-128-CBC", "SHA1", key_id=1))
    for size in range(0, 40):
        packet = crypto.encrypt(b"x" * size)
        assert packet[0] == 0x30 | 1
        assert open_packet(packet, 1, "AES-128-CBC", "SHA1", "client->server")[4:] == b"x" * size
        # 1 + 20 + 16 + 4 + 1..16 padding (§6.7, minus the V2 header difference)
        assert crypto.overhead - 15 <= len(packet) - size <= crypto.overhead
    assert crypto.overhead == 1 + 20 + 16 + 4 + 16


def test_every_packet_gets_a_fresh_iv() -> None:
    crypto = CbcHmacCrypto(keys_for())
    packets = [*crypto.encrypt_batch([b"same payload"] * 8), crypto.encrypt(b"same payload")]
    ivs = {p[1 + 32 : 1 + 32 + 16] for p in packets}
    assert len(ivs) == len(packets)
    ids = [open_packet(p, 1, "AES-256-CBC", "SHA256", "client->server")[:4] for p in packets]
    assert ids == [struct.pack(">I", i) for i in range(1, 10)]


def test_randomness_comes_from_randbytes() -> None:
    # With a constant random source the IVs still differ (they chain), but two protectors
    # with the same keys and source produce the same packets: nothing else is random.
    def same(n: int) -> bytes:
        return b"\x07" * n

    a = CbcHmacCrypto(keys_for(), randbytes=same)
    b = CbcHmacCrypto(keys_for(), randbytes=same)
    assert a.encrypt_batch([b"p1", b"p2"]) == b.encrypt_batch([b"p1", b"p2"])


@pytest.mark.parametrize("header", [b"\x30", b"\x48\x00\x00\x07"], ids=["v1", "v2"])
def test_decrypt_a_server_packet_built_from_the_layout(header: bytes) -> None:
    crypto = CbcHmacCrypto(keys_for())
    packet = build_packet(header, 1, b"\x45hello from the server")
    assert crypto.decrypt(packet, 0.0) == b"\x45hello from the server"
    assert crypto.decrypt(build_packet(header, 2, b""), 0.0) == b""


def test_the_header_is_not_authenticated() -> None:
    # §6.10.3: the HMAC covers IV || ciphertext only; a peer-id rewritten in transit
    # (the server echoes ours, the client ignores it) does not fail the packet.
    crypto = CbcHmacCrypto(keys_for())
    packet = build_packet(b"\x48\x00\x00\x07", 1, b"abc")
    assert crypto.decrypt(b"\x48\xff\xff\xff" + packet[4:], 0.0) == b"abc"


def reason_of(crypto: CbcHmacCrypto, packet: bytes, now: float = 0.0) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        crypto.decrypt(packet, now)
    return info.value.reason


def test_every_byte_after_the_header_is_authenticated() -> None:
    packet = build_packet(b"\x30", 1, b"payload bytes")
    for index in range(1, len(packet)):
        tampered = bytearray(packet)
        tampered[index] ^= 0x01
        assert reason_of(CbcHmacCrypto(keys_for()), bytes(tampered)) == "auth-failed", index


def test_hmac_is_checked_before_the_replay_window_moves() -> None:
    crypto = CbcHmacCrypto(keys_for())
    forged = bytearray(build_packet(b"\x30", 1000, b"forged"))
    forged[5] ^= 0xFF  # breaks the HMAC
    assert reason_of(crypto, bytes(forged)) == "auth-failed"
    # Had the forged id 1000 entered the window, id 2 would now be too old.
    assert crypto.decrypt(build_packet(b"\x30", 2, b"ok"), 0.0) == b"ok"


def test_replay_and_reordering() -> None:
    crypto = CbcHmacCrypto(keys_for())
    first, second, third = (build_packet(b"\x30", i, b"p%d" % i) for i in (1, 2, 3))
    assert crypto.decrypt(third, 0.0) == b"p3"
    assert crypto.decrypt(first, 0.0) == b"p1"
    assert reason_of(crypto, first).startswith("replay")
    assert crypto.decrypt(second, 0.0) == b"p2"
    assert reason_of(crypto, build_packet(b"\x30", 0, b"zero")).startswith("replay")


def test_malformed_packets() -> None:
    crypto = CbcHmacCrypto(keys_for(key_id=0))
    good = build_packet(b"\x30", 1, b"abc")
    assert reason_of(crypto, b"") == "too-short"
    assert reason_of(crypto, b"\x20" + good[1:]) == "not-data"
    assert reason_of(crypto, b"\x31" + good[1:]) == "wrong-key-id"
    assert reason_of(crypto, good[: 1 + 32 + 16]) == "too-short"  # no ciphertext block
    assert reason_of(crypto, good + b"\x00") == "bad-length"
    # Authentic but badly padded: wrong pad bytes, a pad length of 0, one above 16.
    for pad in (b"\x01\x01\x01\x04", bytes(4), b"\x14" * 20):
        packet = build_packet(b"\x30", 2, b"abcdefgh", pad=pad)  # 4 + 8 + pad: whole blocks
        assert reason_of(crypto, packet) == "bad-padding", pad
    # One authentic block holding 3 bytes and 13 of padding: no room for the packet id.
    cipher_key, hmac_key, iv = KEY2[128:160], KEY2[192:224], bytes(16)
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(b"\x00\x00\x00" + b"\x0d" * 13) + encryptor.finalize()
    tag = hmac.new(hmac_key, iv + ciphertext, "sha256").digest()
    assert reason_of(crypto, b"\x30" + tag + iv + ciphertext) == "too-short"


def test_packet_ids_run_out_and_ask_for_renegotiation() -> None:
    crypto = CbcHmacCrypto(keys_for(peer_id=1), first_packet_id=0xFEFFFFFF)
    assert not crypto.wants_renegotiation
    crypto.encrypt(b"a")
    assert crypto.wants_renegotiation and crypto.next_packet_id == 0xFF000000
    last = CbcHmacCrypto(keys_for(), first_packet_id=0xFFFFFFFF)
    packet = last.encrypt(b"last")
    assert open_packet(packet, 1, "AES-256-CBC", "SHA256", "client->server")[:4] == b"\xff" * 4
    with pytest.raises(PacketIdExhausted):
        last.encrypt(b"one too many")
    with pytest.raises(PacketIdExhausted):
        CbcHmacCrypto(keys_for(), first_packet_id=0xFFFFFFFF).encrypt_batch([b"a", b"b"])


def test_construction_checks() -> None:
    with pytest.raises(LocalError):
        CbcHmacCrypto(split_key2(KEY2, cipher="AES-256-GCM", key_id=0, peer_id=None))
    keys = keys_for()
    with pytest.raises(LocalError):
        CbcHmacCrypto(DataKeys(**{**_fields(keys), "encrypt_hmac_key": b"short"}))
    with pytest.raises(LocalError):
        CbcHmacCrypto(keys, first_packet_id=0)
    assert repr(CbcHmacCrypto(keys)) == (
        "CbcHmacCrypto(key_id=0, cipher='AES-256-CBC', auth='SHA256')"
    )


def _fields(keys: DataKeys) -> dict[str, object]:
    return attrs.asdict(keys)


def test_make_data_crypto_picks_by_cipher() -> None:
    assert isinstance(make_data_crypto(keys_for()), CbcHmacCrypto)
    aead = split_key2(KEY2, cipher="CHACHA20-POLY1305", key_id=0, peer_id=None)
    assert isinstance(make_data_crypto(aead), DataChannelCrypto)


@given(
    cipher=st.sampled_from(sorted(CBC_CIPHERS)),
    auth=st.sampled_from(sorted(HMAC_DIGEST_LENGTHS)),
    peer_id=st.one_of(st.none(), st.integers(0, 0xFFFFFF)),
    payloads=st.lists(st.binary(max_size=80), min_size=1, max_size=6),
)
def test_client_and_server_roles_round_trip(
    cipher: str, auth: str, peer_id: int | None, payloads: list[bytes]
) -> None:
    keys = split_key2(KEY2, cipher=cipher, key_id=4, peer_id=peer_id, auth=auth)
    client = make_data_crypto(keys)
    server = make_data_crypto(keys, role="server")
    assert [server.decrypt(p, 1.0) for p in client.encrypt_batch(payloads)] == payloads
    assert [client.decrypt(server.encrypt(p), 1.0) for p in payloads] == payloads
