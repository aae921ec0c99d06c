"""Slicing ``key2`` into the client's data-channel keys (PROTOCOL.md §5.3, §11.7, §11.15).

How this works: ``key2`` (256 bytes, from the PRF or from TLS-EKM) has the same four-slot
layout as a static key file, ``keys[i] = cipher[64] || hmac[64]``. keys[0] protects
client->server traffic and keys[1] server->client, so the client uses direction NORMAL:

    send cipher key   = key2[0 .. klen)        recv cipher key   = key2[128 .. 128+klen)
    send implicit IV  = key2[64 .. 72)         recv implicit IV  = key2[192 .. 200)

The implicit IVs of the AEAD ciphers come from the *hmac* slots. Keys whose cipher prefix is
all zero are rejected, as OpenVPN's ``check_key`` does.
"""

from __future__ import annotations

from vpnstack.errors import CipherNegotiationFailed, LocalError
from vpnstack.messages import DataKeys

EKM_LABEL = b"EXPORTER-OpenVPN-datakeys"
"""RFC 5705 exporter label for ``key2`` (used with *no* context, §5.3 B, §11.14)."""
KEY2_LEN = 256
"""Bytes of key material per key id."""
IMPLICIT_IV_LEN = 8
"""AEAD implicit IV: the nonce is ``packet_id(4) || implicit_iv(8)`` (§7.2)."""

CIPHER_KEY_LENGTHS: dict[str, int] = {
    "AES-128-GCM": 16,
    "AES-192-GCM": 24,
    "AES-256-GCM": 32,
    "CHACHA20-POLY1305": 32,
}
"""Key length of each data cipher this module can slice keys for."""
AEAD_CIPHERS: frozenset[str] = frozenset(CIPHER_KEY_LENGTHS)
"""The AEAD data ciphers vpnstack implements (canonical upper-case names)."""

_SLOT = 64


def split_key2(key2: bytes, *, cipher: str, key_id: int, peer_id: int | None) -> DataKeys:
    """The client's ``DataKeys`` for ``key_id`` from 256 bytes of ``key2`` (§5.3 table)."""
    if len(key2) != KEY2_LEN:
        raise LocalError(f"key2 must be {KEY2_LEN} bytes, got {len(key2)}")
    if not 0 <= key_id <= 7:
        raise LocalError(f"key_id must be 0..7, got {key_id}")
    if peer_id is not None and not 0 <= peer_id <= 0xFFFFFF:
        raise LocalError(f"peer_id must be a 24-bit value, got {peer_id}")
    name = cipher.upper()
    klen = CIPHER_KEY_LENGTHS.get(name)
    if klen is None:
        raise CipherNegotiationFailed(
            f"the data cipher {cipher!r} is not supported by vpnstack; allow one of "
            f"{', '.join(sorted(AEAD_CIPHERS))} in the server's data-ciphers"
        )
    # PROTOCOL.md §5.3: keys[0] = key2[0..128) is client->server, keys[1] server->client.
    send_cipher, send_hmac = key2[0:_SLOT], key2[_SLOT : 2 * _SLOT]
    recv_cipher, recv_hmac = key2[2 * _SLOT : 3 * _SLOT], key2[3 * _SLOT : 4 * _SLOT]
    encrypt_key = send_cipher[:klen]
    decrypt_key = recv_cipher[:klen]
    if not any(encrypt_key) or not any(decrypt_key):
        raise LocalError("derived data-channel cipher key is all zero (key derivation bug)")
    return DataKeys(
        key_id=key_id,
        cipher=name,
        encrypt_key=encrypt_key,
        decrypt_key=decrypt_key,
        encrypt_implicit_iv=send_hmac[:IMPLICIT_IV_LEN],
        decrypt_implicit_iv=recv_hmac[:IMPLICIT_IV_LEN],
        peer_id=peer_id,
    )
