"""Slicing ``key2`` into the client's data-channel keys (docs §5.3, §3.11.6, §6.10.1).

How this works: ``key2`` (256 bytes, from the PRF or from TLS-EKM) has the same four-slot
layout as a static key file, ``keys[i] = cipher[64] || hmac[64]``. keys[0] protects
client->server traffic and keys[1] server->client, so the client uses direction NORMAL:

    send cipher key   = key2[0 .. klen)        recv cipher key   = key2[128 .. 128+klen)
    send implicit IV  = key2[64 .. 72)         recv implicit IV  = key2[192 .. 200)    (AEAD)
    send HMAC key     = key2[64 .. 64+L)       recv HMAC key     = key2[192 .. 192+L)   (CBC)

The implicit IVs of the AEAD ciphers come from the *hmac* slots; the CBC ciphers use the same
slots for their HMAC keys (L = the ``auth`` digest length). Keys whose cipher prefix is all
zero are rejected, as OpenVPN's ``check_key`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

from vpnstack.core.shared.ciphers import (
    AEAD_CIPHERS,
    CBC_CIPHERS,
    CIPHER_KEY_LENGTHS,
    COMPRESSION_FRAMINGS,
    DATA_CIPHERS,
    EPOCH_SECRET_LEN,
    HMAC_DIGEST_LENGTHS,
    IMPLICIT_IV_LEN,
)
from vpnstack.errors import CipherNegotiationFailed, LocalError
from vpnstack.messages import DataKeys

EKM_LABEL = b"EXPORTER-OpenVPN-datakeys"
"""RFC 5705 exporter label for ``key2`` (used with *no* context, §5.3 B, §5.8.4)."""
KEY2_LEN = 256
"""Bytes of key material per key id."""
_SLOT = 64


def split_key2(
    key2: bytes,
    *,
    cipher: str,
    key_id: int,
    peer_id: int | None,
    auth: str = "SHA1",
    compression: str | None = None,
) -> DataKeys:
    """The client's ``DataKeys`` for ``key_id`` from 256 bytes of ``key2`` (§5.3 table).

    ``auth`` (the ``auth`` digest) matters only for the CBC ciphers, whose HMAC keys are
    filled in; ``compression`` is the framing of §6.4 (None, ``comp-lzo``, ``stub``,
    ``stub-v2``), carried along for the datachannel.
    """
    if len(key2) != KEY2_LEN:
        raise LocalError(f"key2 must be {KEY2_LEN} bytes, got {len(key2)}")
    if not 0 <= key_id <= 7:
        raise LocalError(f"key_id must be 0..7, got {key_id}")
    if peer_id is not None and not 0 <= peer_id <= 0xFFFFFF:
        raise LocalError(f"peer_id must be a 24-bit value, got {peer_id}")
    if compression is not None and compression not in COMPRESSION_FRAMINGS:
        raise LocalError(f"unknown compression framing {compression!r}")
    name = cipher.upper()
    klen = CIPHER_KEY_LENGTHS.get(name)
    if klen is None:
        raise CipherNegotiationFailed(
            f"the data cipher {cipher!r} is not supported by vpnstack; allow one of "
            f"{', '.join(sorted(DATA_CIPHERS))} in the server's data-ciphers"
        )
    # docs §5.3: keys[0] = key2[0..128) is client->server, keys[1] server->client.
    send_cipher, send_hmac = key2[0:_SLOT], key2[_SLOT : 2 * _SLOT]
    recv_cipher, recv_hmac = key2[2 * _SLOT : 3 * _SLOT], key2[3 * _SLOT : 4 * _SLOT]
    encrypt_key = send_cipher[:klen]
    decrypt_key = recv_cipher[:klen]
    if not any(encrypt_key) or not any(decrypt_key):
        raise LocalError("derived data-channel cipher key is all zero (key derivation bug)")
    if name in CBC_CIPHERS:
        digest = auth.upper().replace("-", "")
        hlen = HMAC_DIGEST_LENGTHS.get(digest)
        if hlen is None:
            raise CipherNegotiationFailed(
                f"the data channel HMAC digest 'auth {auth}' is not supported by vpnstack; "
                f"use one of {', '.join(sorted(HMAC_DIGEST_LENGTHS))} on both sides"
            )
        # §6.3: the HMAC key is the first L bytes of the direction's hmac slot.
        return DataKeys(
            key_id=key_id,
            cipher=name,
            encrypt_key=encrypt_key,
            decrypt_key=decrypt_key,
            encrypt_implicit_iv=b"",
            decrypt_implicit_iv=b"",
            peer_id=peer_id,
            auth=digest,
            encrypt_hmac_key=send_hmac[:hlen],
            decrypt_hmac_key=recv_hmac[:hlen],
            compression=compression,
        )
    return DataKeys(
        key_id=key_id,
        cipher=name,
        encrypt_key=encrypt_key,
        decrypt_key=decrypt_key,
        encrypt_implicit_iv=send_hmac[:IMPLICIT_IV_LEN],
        decrypt_implicit_iv=recv_hmac[:IMPLICIT_IV_LEN],
        peer_id=peer_id,
        compression=compression,
    )


# --- the 2.7 epoch format (§6.9) ------------------------------------------------------------

IV_PROTO_DATA_EPOCH = 1 << 10
"""IV_PROTO bit 10: we speak the epoch data format (§5.4)."""
AEAD_EPOCH_FLAG = "aead-epoch"
"""The ``protocol-flags`` token a 2.7 server pushes to switch the format on (§6.9)."""


def epoch_format_negotiated(
    *, iv_proto: int, cipher: str, peer_id: int | None, protocol_flags: Sequence[str]
) -> bool:
    """Whether a key uses the epoch format (§6.9): we announced IV_PROTO bit 10, the cipher
    is AEAD, P_DATA_V2 is in use (a peer-id was pushed) and the server pushed
    ``protocol-flags ... aead-epoch``."""
    return (
        bool(iv_proto & IV_PROTO_DATA_EPOCH)
        and cipher.upper() in AEAD_CIPHERS
        and peer_id is not None
        and AEAD_EPOCH_FLAG in protocol_flags
    )


def split_key2_epoch(
    key2: bytes,
    *,
    cipher: str,
    key_id: int,
    peer_id: int,
    compression: str | None = None,
) -> DataKeys:
    """The client's ``DataKeys`` for the epoch format from 256 bytes of ``key2`` (§5.3, §6.9).

    ``encrypt_key`` / ``decrypt_key`` carry E(1) of each direction: the first 32 bytes of
    the key2 cipher slots (client: ``key2[0..32)`` out, ``key2[128..160)`` in), whatever the
    cipher's key length; the implicit IVs are unused (each epoch derives its own).
    """
    if len(key2) != KEY2_LEN:
        raise LocalError(f"key2 must be {KEY2_LEN} bytes, got {len(key2)}")
    name = cipher.upper()
    if name not in AEAD_CIPHERS:
        raise LocalError(f"the epoch data format needs an AEAD cipher, not {cipher!r}")
    # docs §5.3/§6.9: keys[0] (client->server) starts at 0, keys[1] at 128.
    send_e1 = key2[0:EPOCH_SECRET_LEN]
    recv_e1 = key2[128 : 128 + EPOCH_SECRET_LEN]
    if not any(send_e1) or not any(recv_e1):
        raise LocalError("derived epoch secret is all zero (key derivation bug)")
    return DataKeys(
        key_id=key_id,
        cipher=name,
        encrypt_key=send_e1,
        decrypt_key=recv_e1,
        encrypt_implicit_iv=b"",
        decrypt_implicit_iv=b"",
        peer_id=peer_id,
        compression=compression,
        epoch=True,
    )
