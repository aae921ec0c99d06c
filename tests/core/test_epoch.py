"""Epoch data keys: key schedule, packet layout, epoch changes (docs §6.8, §6.9).

Expected values come from three independent places:

* the published vectors of OpenVPN's own unit tests (OpenVPN/openvpn master,
  ``tests/unit_tests/openvpn/test_crypto.c``: ``crypto_test_ovpn_label_expand``,
  ``crypto_test_hkdf_expand_test_ovpn``, ``epoch_test_derive_data_key``) and RFC 5869
  appendix A for HKDF-Expand;
* the key schedule written out here step by step with ``cryptography``'s ``HKDFExpand``;
* packets assembled here from the §6.9 layout with the raw ``AESGCM`` / ``ChaCha20Poly1305``.
"""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from vpnstack.core.datachannel import aead
from vpnstack.core.datachannel import crypto as crypto_module
from vpnstack.core.datachannel import epoch as epoch_module
from vpnstack.core.datachannel.crypto import PacketIdExhausted
from vpnstack.core.datachannel.epoch import (
    AES_GCM_USAGE_LIMIT,
    FUTURE_EPOCHS,
    MAX_COUNTER,
    OVERHEAD,
    RENEGOTIATE_AT_EPOCH,
    EpochDataCrypto,
    default_usage_limit,
    epoch_data_iv,
    epoch_data_key,
    hkdf_expand_sha256,
    next_epoch_secret,
    ovpn_expand_label,
)
from vpnstack.core.tlssession.datakeys import (
    IV_PROTO_DATA_EPOCH,
    epoch_format_negotiated,
    split_key2_epoch,
)
from vpnstack.errors import CipherNegotiationFailed, LocalError, RemoteProtocolError
from vpnstack.messages import DataKeys

# --- independent reference: §6.9 written out with cryptography's HKDFExpand -----------------


def ref_expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """OVPN-Expand-Label as §6.9 prints it: TLS 1.3 HkdfLabel with the prefix "ovpn "."""
    info = (
        struct.pack(">H", length)  # uint16 output length
        + bytes([5 + len(label)])  # uint8 label length, prefix included
        + b"ovpn "
        + label
        + b"\x00"  # uint8 context length: empty context
    )
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def ref_epoch(e1: bytes, n: int, key_len: int) -> tuple[bytes, bytes]:
    """(K(n), IV(n)) from E(1), following the chain E(n+1) = Expand(E(n), "datakey upd")."""
    secret = e1
    for _ in range(n - 1):
        secret = ref_expand_label(secret, b"datakey upd", 32)
    return ref_expand_label(secret, b"data_key", key_len), ref_expand_label(
        secret, b"data_iv", 12
    )


def ref_packet(
    cipher: str, e1: bytes, *, key_id: int, peer_id: int, epoch: int, counter: int,
    payload: bytes,
) -> bytes:
    """An epoch-format packet assembled from the §6.9 layout."""
    key_len = 16 if cipher == "AES-128-GCM" else 24 if cipher == "AES-192-GCM" else 32
    key, iv = ref_epoch(e1, epoch, key_len)
    header = struct.pack(">I", (9 << 3 | key_id) << 24 | peer_id)  # P_DATA_V2
    packet_id = struct.pack(">HHI", epoch, counter >> 32, counter & 0xFFFFFFFF)
    nonce = bytes(a ^ b for a, b in zip(iv, packet_id + b"\x00" * 4, strict=True))
    aead = ChaCha20Poly1305(key) if cipher == "CHACHA20-POLY1305" else AESGCM(key)
    # cryptography appends the tag, which is where §6.9 wants it.
    return header + packet_id + aead.encrypt(nonce, payload, header + packet_id)


E1_CLIENT = bytes(range(0x40, 0x60))  # client->server E(1)
E1_SERVER = bytes(range(0xA0, 0xC0))  # server->client E(1)


def epoch_keys(
    cipher: str = "AES-256-GCM", *, key_id: int = 0, peer_id: int | None = 5,
    send: bytes = E1_CLIENT, recv: bytes = E1_SERVER, epoch: bool = True,
) -> DataKeys:
    return DataKeys(
        key_id=key_id, cipher=cipher, encrypt_key=send, decrypt_key=recv,
        encrypt_implicit_iv=b"", decrypt_implicit_iv=b"", peer_id=peer_id, epoch=epoch,
    )


def pid_of(packet: bytes) -> tuple[int, int]:
    """(epoch, counter) of a packet, read straight from the §6.9 layout."""
    value = int.from_bytes(packet[4:12], "big")
    return value >> 48, value & (2**48 - 1)


def reason(crypto: EpochDataCrypto, packet: bytes, now: float = 0.0) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        crypto.decrypt(packet, now)
    return info.value.reason


# --- key schedule ----------------------------------------------------------------------


RFC5869_A1_PRK = bytes.fromhex(
    "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
)


@pytest.mark.parametrize(
    ("prk", "info", "okm"),
    [
        # RFC 5869 A.1, A.2 and A.3 (SHA-256): PRK, info -> OKM.
        (
            RFC5869_A1_PRK,
            bytes(range(0xF0, 0xFA)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            bytes.fromhex("06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244"),
            bytes(range(0xB0, 0x100)),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac78272"
            "71cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f"
            "1d87",
        ),
        (
            bytes.fromhex("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"),
            b"",
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ],
)
def test_hkdf_expand_rfc5869_vectors(prk: bytes, info: bytes, okm: str) -> None:
    assert hkdf_expand_sha256(prk, info, len(okm) // 2).hex() == okm


def test_ovpn_expand_label_published_vectors() -> None:
    # OpenVPN test_crypto.c crypto_test_ovpn_label_expand: "unit test", 16 bytes.
    assert ovpn_expand_label(RFC5869_A1_PRK, b"unit test", 16).hex() == (
        "185eaa1c7f228ab8eb29773214d92046"
    )
    # test_crypto.c crypto_test_hkdf_expand_test_ovpn: the same label as raw HKDF info,
    # 00 1b | 0e | "ovpn unit test" | 00, 27 bytes of output.
    info = bytes.fromhex("001b0e") + b"ovpn unit test" + b"\x00"
    okm = "875a8eec18556380b8d933ed323c2df8e8eccf4972e683f06a83ac"
    assert hkdf_expand_sha256(RFC5869_A1_PRK, info, 27).hex() == okm
    assert ovpn_expand_label(RFC5869_A1_PRK, b"unit test", 27).hex() == okm
    # ... and the independent construction agrees on both.
    assert ref_expand_label(RFC5869_A1_PRK, b"unit test", 16).hex().startswith("185eaa1c")
    assert ref_expand_label(RFC5869_A1_PRK, b"unit test", 27).hex() == okm


def test_epoch_data_key_published_vector() -> None:
    # OpenVPN test_crypto.c epoch_test_derive_data_key: E17 = {19, 12, 0...}, AES-192-GCM.
    e17 = bytes([19, 12]) + bytes(30)
    assert epoch_data_key(e17, 24).hex() == "ed8533db1c28ace418e9006ab29c17417d60ebe6cd90bf0a"
    assert epoch_data_iv(e17).hex() == "86890aabf032cb59f4cfa34e"


@pytest.mark.parametrize("key_len", [16, 24, 32])
def test_key_schedule_matches_the_reference_chain(key_len: int) -> None:
    secret = E1_CLIENT
    for n in range(1, 6):
        assert (epoch_data_key(secret, key_len), epoch_data_iv(secret)) == ref_epoch(
            E1_CLIENT, n, key_len
        )
        secret = next_epoch_secret(secret)
    assert next_epoch_secret(E1_CLIENT) == ref_expand_label(E1_CLIENT, b"datakey upd", 32)
    assert next_epoch_secret(E1_CLIENT) != E1_CLIENT


def test_expand_label_refuses_a_wrong_secret_length() -> None:
    with pytest.raises(LocalError, match="32 bytes"):
        ovpn_expand_label(bytes(16), b"data_key", 16)


KEY2 = bytes((37 * i + 11) % 256 for i in range(256))


@pytest.mark.parametrize("cipher", ["aes-128-gcm", "AES-256-GCM", "CHACHA20-POLY1305"])
def test_e1_is_the_first_32_bytes_of_each_cipher_slot(cipher: str) -> None:
    keys = split_key2_epoch(KEY2, cipher=cipher, key_id=2, peer_id=9, compression="stub-v2")
    assert (keys.cipher, keys.key_id, keys.peer_id, keys.epoch) == (cipher.upper(), 2, 9, True)
    assert keys.compression == "stub-v2"
    # §6.9: E1_send = key2[0..32), E1_recv = key2[128..160), even for 16-byte AES keys.
    assert keys.encrypt_key == KEY2[0:32]
    assert keys.decrypt_key == KEY2[128:160]
    crypto = EpochDataCrypto(keys)
    wire = ref_packet(
        cipher.upper(), KEY2[128:160], key_id=2, peer_id=9, epoch=1, counter=1, payload=b"hi"
    )
    assert crypto.decrypt(wire, 0.0) == b"hi"
    assert crypto.encrypt(b"yo") == ref_packet(
        cipher.upper(), KEY2[0:32], key_id=2, peer_id=9, epoch=1, counter=1, payload=b"yo"
    )


def test_split_key2_epoch_refusals() -> None:
    with pytest.raises(LocalError, match="AEAD"):
        split_key2_epoch(KEY2, cipher="AES-256-CBC", key_id=0, peer_id=1)
    with pytest.raises(LocalError, match="256 bytes"):
        split_key2_epoch(KEY2[:128], cipher="AES-256-GCM", key_id=0, peer_id=1)
    with pytest.raises(LocalError, match="all zero"):
        split_key2_epoch(bytes(256), cipher="AES-256-GCM", key_id=0, peer_id=1)


# --- packet layout ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cipher", ["AES-128-GCM", "AES-192-GCM", "AES-256-GCM", "CHACHA20-POLY1305"]
)
def test_sent_packets_match_the_layout(cipher: str) -> None:
    crypto = EpochDataCrypto(epoch_keys(cipher, key_id=3, peer_id=0x0A0B0C))
    assert crypto.overhead == OVERHEAD == 28
    payloads = [b"first packet", os.urandom(1400), b"x"]
    wires = crypto.encrypt_batch(payloads)
    for counter, (payload, wire) in enumerate(zip(payloads, wires, strict=True), start=1):
        assert wire[:4] == bytes([9 << 3 | 3, 0x0A, 0x0B, 0x0C])
        assert wire[4:12] == bytes([0, 1, 0, 0, 0, 0, 0, counter])  # epoch 1, counter from 1
        assert len(wire) == len(payload) + 28
        assert wire == ref_packet(
            cipher, E1_CLIENT, key_id=3, peer_id=0x0A0B0C, epoch=1, counter=counter,
            payload=payload,
        )


@pytest.mark.parametrize("cipher", ["AES-128-GCM", "CHACHA20-POLY1305"])
def test_received_reference_packets_decrypt_in_several_epochs(cipher: str) -> None:
    crypto = EpochDataCrypto(epoch_keys(cipher))
    for epoch, counter in [(1, 1), (1, 2), (2, 1), (3, 7), (3, 2**48 - 1)]:
        payload = f"epoch {epoch} counter {counter}".encode()
        wire = ref_packet(
            cipher, E1_SERVER, key_id=0, peer_id=5, epoch=epoch, counter=counter,
            payload=payload,
        )
        assert crypto.decrypt(wire, 0.0) == payload
    assert crypto.recv_epoch == 3


def test_client_and_server_roles_talk_and_use_the_other_direction() -> None:
    keys = epoch_keys("AES-256-GCM")
    client, server = EpochDataCrypto(keys), EpochDataCrypto(keys, role="server")
    assert server.decrypt(client.encrypt(b"up"), 0.0) == b"up"
    assert client.decrypt(server.encrypt(b"down"), 0.0) == b"down"
    # A client cannot read its own packets: the directions have different E(1).
    assert reason(EpochDataCrypto(keys), EpochDataCrypto(keys).encrypt(b"x")) == "auth-failed"


def test_every_authenticated_byte_matters() -> None:
    crypto = EpochDataCrypto(epoch_keys())
    wire = ref_packet(
        "AES-256-GCM", E1_SERVER, key_id=0, peer_id=5, epoch=1, counter=1, payload=b"payload"
    )
    # Header bits other than the key id, the 8-byte packet id (counter part), ciphertext, tag.
    for index in [1, 2, 3, 6, 11, 12, len(wire) - 17, len(wire) - 1]:
        tampered = bytearray(wire)
        tampered[index] ^= 0x01
        assert reason(EpochDataCrypto(epoch_keys()), bytes(tampered)) == "auth-failed", index
    assert crypto.decrypt(wire, 0.0) == b"payload"


def test_malformed_packets_are_refused_with_reasons() -> None:
    crypto = EpochDataCrypto(epoch_keys(key_id=2))
    good = ref_packet(
        "AES-256-GCM", E1_SERVER, key_id=2, peer_id=5, epoch=1, counter=1, payload=b"p"
    )
    assert reason(crypto, b"") == "too-short"
    assert reason(crypto, good[:28]) == "too-short"  # no ciphertext byte at all
    assert reason(crypto, bytes([6 << 3 | 2]) + good[4:]) == "epoch-needs-data-v2"
    assert reason(crypto, bytes([4 << 3 | 2]) + good[1:]) == "not-data"
    assert reason(crypto, bytes([9 << 3 | 1]) + good[1:]) == "wrong-key-id"
    epoch0 = ref_packet(
        "AES-256-GCM", E1_SERVER, key_id=2, peer_id=5, epoch=0, counter=1, payload=b"p"
    )
    assert reason(crypto, epoch0) == "unknown-epoch"
    assert crypto.decrypt(good, 0.0) == b"p"


def test_constructor_refusals() -> None:
    with pytest.raises(LocalError, match="epoch=True"):
        EpochDataCrypto(epoch_keys(epoch=False))
    with pytest.raises(LocalError, match="peer-id"):
        EpochDataCrypto(epoch_keys(peer_id=None))
    with pytest.raises(LocalError, match="32 bytes"):
        EpochDataCrypto(epoch_keys("AES-128-GCM", send=bytes(range(1, 17))))
    with pytest.raises(CipherNegotiationFailed, match="AES-256-CBC"):
        EpochDataCrypto(epoch_keys("AES-256-CBC"))


def test_repr_shows_no_key_material() -> None:
    crypto = EpochDataCrypto(epoch_keys())
    text = repr(crypto)
    assert "send_epoch=1" in text and "recv_epoch=1" in text
    assert E1_CLIENT.hex() not in text and E1_SERVER.hex() not in text
    assert str(list(E1_CLIENT[:4]))[1:-1] not in text


# --- sending: epoch changes before the limits -----------------------------------------------


def test_usage_limits_per_cipher() -> None:
    assert AES_GCM_USAGE_LIMIT == 2**36 - 1
    for cipher in ("AES-128-GCM", "AES-192-GCM", "AES-256-GCM"):
        assert default_usage_limit(cipher) == 2**36 - 1
    assert default_usage_limit("CHACHA20-POLY1305") is None


def test_sender_moves_on_at_seven_eighths_of_the_usage_limit() -> None:
    # Limit 160 -> move at 140. Each 20-byte payload counts 1 packet + 2 blocks = 3.
    crypto = EpochDataCrypto(epoch_keys(), usage_limit=160)
    wires = [crypto.encrypt(bytes(20)) for _ in range(50)]
    epochs = [pid_of(w) for w in wires]
    # 47 packets use 141 >= 140: the 48th goes in epoch 2, counter 1.
    assert epochs[:47] == [(1, n) for n in range(1, 48)]
    assert epochs[47:] == [(2, 1), (2, 2), (2, 3)]
    assert crypto.send_epoch == 2
    assert crypto.epoch_changes_sent == 1
    assert wires[47] == ref_packet(
        "AES-256-GCM", E1_CLIENT, key_id=0, peer_id=5, epoch=2, counter=1, payload=bytes(20)
    )
    server = EpochDataCrypto(epoch_keys(), role="server")
    assert all(server.decrypt(w, 0.0) == bytes(20) for w in wires)


def test_default_aes_limit_is_used_and_chacha_has_none() -> None:
    # A limit of 2^36-1 is far away: thousands of large packets stay in epoch 1 ...
    aes = EpochDataCrypto(epoch_keys("AES-256-GCM"))
    chacha = EpochDataCrypto(epoch_keys("CHACHA20-POLY1305"), usage_limit=None)
    for crypto in (aes, chacha):
        crypto.encrypt_batch([bytes(1500)] * 2000)
        assert crypto.send_epoch == 1
    # ... and an explicit tiny limit moves AES at once while ChaCha20 ignores "cipher".
    tiny = EpochDataCrypto(epoch_keys("AES-256-GCM"), usage_limit=8)
    assert [pid_of(tiny.encrypt(bytes(16)))[0] for _ in range(5)] == [1, 1, 1, 1, 2]
    chacha_default = EpochDataCrypto(epoch_keys("CHACHA20-POLY1305"))
    chacha_default.encrypt_batch([bytes(1500)] * 200)
    assert chacha_default.send_epoch == 1


def test_counter_exhaustion_moves_to_the_next_epoch() -> None:
    crypto = EpochDataCrypto(epoch_keys(), max_counter=3)
    assert [pid_of(crypto.encrypt(b"x")) for _ in range(7)] == [
        (1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (3, 1),
    ]
    assert MAX_COUNTER == 2**48 - 1


def test_renegotiation_requested_at_epoch_0xf000_and_exhaustion_at_0xffff() -> None:
    assert RENEGOTIATE_AT_EPOCH == 0xF000
    crypto = EpochDataCrypto(epoch_keys("CHACHA20-POLY1305"), max_counter=1)
    for _ in range(0xEFFF):
        crypto.encrypt(b"x")
    assert crypto.send_epoch == 0xEFFF
    assert not crypto.wants_renegotiation
    assert pid_of(crypto.encrypt(b"x")) == (0xF000, 1)
    assert crypto.wants_renegotiation
    for _ in range(0xFFFF - 0xF000):
        crypto.encrypt(b"x")
    assert crypto.send_epoch == 0xFFFF
    with pytest.raises(PacketIdExhausted, match="renegotiate"):
        crypto.encrypt(b"x")


# --- receiving: current, retiring, future epochs ---------------------------------------------


def server_packet(epoch: int, counter: int, payload: bytes = b"data") -> bytes:
    return ref_packet(
        "AES-256-GCM", E1_SERVER, key_id=0, peer_id=5, epoch=epoch, counter=counter,
        payload=payload,
    )


def test_receive_window_current_retiring_and_four_future_epochs() -> None:
    assert FUTURE_EPOCHS == 4
    crypto = EpochDataCrypto(epoch_keys())
    assert crypto.accepted_epochs == (1, 2, 3, 4, 5)
    assert crypto.retiring_epoch is None
    assert reason(crypto, server_packet(6, 1)) == "unknown-epoch"  # 5 ahead of epoch 1
    assert crypto.decrypt(server_packet(1, 1), 0.0) == b"data"
    assert crypto.decrypt(server_packet(3, 1, b"three"), 1.0) == b"three"
    assert (crypto.recv_epoch, crypto.retiring_epoch) == (3, 1)
    assert crypto.accepted_epochs == (1, 3, 4, 5, 6, 7)
    assert crypto.epoch_changes_received == 1
    # The retiring epoch still delivers (its own replay window), epoch 2 is skipped for good.
    assert crypto.decrypt(server_packet(1, 2, b"late"), 2.0) == b"late"
    assert reason(crypto, server_packet(2, 1)) == "unknown-epoch"
    assert reason(crypto, server_packet(8, 1)) == "unknown-epoch"  # 5 ahead of epoch 3
    # The next change retires epoch 3; epoch 1 is gone.
    assert crypto.decrypt(server_packet(4, 1), 3.0) == b"data"
    assert (crypto.recv_epoch, crypto.retiring_epoch) == (4, 3)
    assert reason(crypto, server_packet(1, 3)) == "unknown-epoch"
    assert crypto.decrypt(server_packet(8, 1), 4.0) == b"data"  # now 4 ahead: accepted
    assert crypto.accepted_epochs == (4, 8, 9, 10, 11, 12)


def test_replay_windows_are_per_epoch_on_the_48_bit_counter() -> None:
    crypto = EpochDataCrypto(epoch_keys())
    big = 2**40 + 5
    assert crypto.decrypt(server_packet(1, big), 0.0) == b"data"
    assert reason(crypto, server_packet(1, big)) == "replay-duplicate"
    assert crypto.decrypt(server_packet(1, big - 63), 0.0) == b"data"
    assert reason(crypto, server_packet(1, big - 64)) == "replay-too-old"
    assert reason(crypto, server_packet(1, 0)) == "replay-zero-id"
    # The same counters in the next epoch are new packets ...
    assert crypto.decrypt(server_packet(2, 1), 0.0) == b"data"
    assert crypto.decrypt(server_packet(2, big), 0.0) == b"data"
    # ... and epoch 1, now retiring, keeps its own window.
    assert reason(crypto, server_packet(1, big)) == "replay-duplicate"
    assert crypto.decrypt(server_packet(1, big - 1), 0.0) == b"data"
    # Reordered packets of the retiring epoch expire after the time backtrack as usual.
    assert reason(crypto, server_packet(1, big - 2), now=16.0) == "replay-expired"


def test_forged_packet_in_a_future_epoch_moves_nothing() -> None:
    crypto = EpochDataCrypto(epoch_keys())
    forged = bytearray(server_packet(3, 1))
    forged[-1] ^= 0x40
    assert reason(crypto, bytes(forged)) == "auth-failed"
    assert (crypto.recv_epoch, crypto.send_epoch, crypto.retiring_epoch) == (1, 1, None)
    # ... and its counter was not marked seen: the genuine packet still goes through.
    assert crypto.decrypt(server_packet(3, 1), 0.0) == b"data"


def test_send_epoch_follows_a_higher_receive_epoch_but_never_goes_down() -> None:
    crypto = EpochDataCrypto(epoch_keys())
    assert pid_of(crypto.encrypt(b"a")) == (1, 1)
    assert crypto.decrypt(server_packet(3, 9), 0.0) == b"data"
    # As 2.7.6 does: answer in the peer's epoch, counter 1.
    wire = crypto.encrypt(b"b")
    assert pid_of(wire) == (3, 1)
    assert wire == ref_packet(
        "AES-256-GCM", E1_CLIENT, key_id=0, peer_id=5, epoch=3, counter=1, payload=b"b"
    )
    # Our send side moves on by itself (counter limit) ...
    ahead = EpochDataCrypto(epoch_keys(), max_counter=1)
    for _ in range(6):
        ahead.encrypt(b"x")
    assert ahead.send_epoch == 6
    # ... a peer still in a lower epoch does not pull it back.
    assert ahead.decrypt(server_packet(2, 1), 0.0) == b"data"
    assert ahead.recv_epoch == 2
    assert pid_of(ahead.encrypt(b"y")) == (7, 1)


def test_receive_side_near_its_limit_pushes_our_send_epoch_on() -> None:
    # Limit 64 -> trigger 56; 30-byte payloads count 1 + 2 = 3 each: 19 packets = 57.
    crypto = EpochDataCrypto(epoch_keys(), usage_limit=64)
    for counter in range(1, 20):
        crypto.decrypt(server_packet(1, counter, bytes(30)), 0.0)
    assert crypto.recv_epoch == 1
    # We barely sent anything, yet the next packet moves to epoch 2 so the peer follows.
    assert pid_of(crypto.encrypt(b"x")) == (2, 1)


def test_two_peers_walk_through_epochs_together() -> None:
    keys = epoch_keys("AES-128-GCM")
    client = EpochDataCrypto(keys, max_counter=5)
    server = EpochDataCrypto(keys, role="server", usage_limit=40)
    now = 0.0
    for round_ in range(40):
        for n in range(3):
            payload = f"up {round_} {n}".encode()
            assert server.decrypt(client.encrypt(payload), now) == payload
        payload = f"down {round_}".encode()
        assert client.decrypt(server.encrypt(payload), now) == payload
        now += 0.1
        # Each side's send epoch is at least the epoch it last received in.
        assert client.send_epoch >= client.recv_epoch
        assert server.send_epoch >= server.recv_epoch
    assert client.send_epoch > 10
    assert server.recv_epoch == client.send_epoch
    assert client.epoch_changes_sent > 0 and server.epoch_changes_received > 0


def test_make_data_crypto_picks_the_epoch_format_when_negotiated() -> None:
    from vpnstack.core.datachannel.crypto import DataChannelCrypto, make_data_crypto

    assert isinstance(make_data_crypto(epoch_keys()), EpochDataCrypto)
    server = make_data_crypto(epoch_keys(), role="server")
    assert EpochDataCrypto(epoch_keys()).decrypt(server.encrypt(b"s"), 0.0) == b"s"
    plain = DataKeys(
        key_id=0, cipher="AES-256-GCM", encrypt_key=E1_CLIENT, decrypt_key=E1_SERVER,
        encrypt_implicit_iv=bytes(8), decrypt_implicit_iv=bytes(8), peer_id=5,
    )
    assert isinstance(make_data_crypto(plain), DataChannelCrypto)


def test_epoch_format_needs_bit_10_an_aead_cipher_a_peer_id_and_the_pushed_flag() -> None:
    assert IV_PROTO_DATA_EPOCH == 1024  # §5.4

    def negotiated(
        iv_proto: int = 2 | 4 | 1024, cipher: str = "AES-256-GCM", peer_id: int | None = 3,
        flags: tuple[str, ...] = ("cc-exit", "tls-ekm", "aead-epoch"),
    ) -> bool:
        return epoch_format_negotiated(
            iv_proto=iv_proto, cipher=cipher, peer_id=peer_id, protocol_flags=flags
        )

    assert negotiated()
    assert negotiated(cipher="chacha20-poly1305")
    assert not negotiated(iv_proto=2 | 4)
    assert not negotiated(cipher="AES-256-CBC")
    assert not negotiated(peer_id=None)
    assert not negotiated(flags=("cc-exit", "tls-ekm"))
    assert not negotiated(flags=())


def test_one_aead_factory_raises_on_an_unknown_cipher() -> None:
    # crypto.py and epoch.py share aead.make_aead: no quiet fallback to AES-GCM (issue 7).
    assert not hasattr(crypto_module, "_make_aead")
    assert not hasattr(epoch_module, "_make_aead")
    with pytest.raises(CipherNegotiationFailed):
        aead.make_aead("AES-256-CBC", bytes(32))
    assert isinstance(aead.make_aead("CHACHA20-POLY1305", bytes(32)), ChaCha20Poly1305)
