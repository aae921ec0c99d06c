"""OpenVPN's PRF key derivation for the data channel (docs §5.3 A, §5.8.3).

How this works: the TLS 1.0/1.1 PRF of RFC 2246 (``P_MD5(S1) XOR P_SHA1(S2)`` over the two
halves of the secret) turns the client's 48-byte ``pre_master`` and the four 32-byte randoms
exchanged in key-method 2 into ``key2``, the 256 bytes that ``datakeys.split_key2`` slices:

    master = PRF(pre_master, "OpenVPN master secret" || c.random1 || s.random1, 48)
    key2   = PRF(master, "OpenVPN key expansion" || c.random2 || s.random2 || Cs || Ss, 256)

The label is part of the seed here (as in OpenVPN's ``ssl_tls1_PRF``). MD5 and SHA-1 are used
only as HMACs inside this PRF, where that is what the protocol requires.
"""

from __future__ import annotations

import hmac

from vpnstack.errors import LocalError

MASTER_SECRET_LABEL = b"OpenVPN master secret"
"""Label of the master-secret step (no trailing space, §5.8.3)."""
KEY_EXPANSION_LABEL = b"OpenVPN key expansion"
"""Label of the key-expansion step (no trailing space, §5.8.3)."""
PRE_MASTER_LEN = 48
RANDOM_LEN = 32
SESSION_ID_LEN = 8
MASTER_SECRET_LEN = 48
KEY2_LEN = 256


def _p_hash(digest: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """RFC 2246 ``P_hash``: HMAC(k, A1||seed) || HMAC(k, A2||seed) || ..., A0 = seed."""
    base = hmac.new(secret, digestmod=digest)
    out = bytearray()
    a = seed
    while len(out) < length:
        step = base.copy()
        step.update(a)
        a = step.digest()
        step = base.copy()
        step.update(a + seed)
        out += step.digest()
    return bytes(out[:length])


def openvpn_prf(secret: bytes, seed: bytes, length: int) -> bytes:
    """TLS 1.0 PRF: ``P_MD5(S1, seed) XOR P_SHA1(S2, seed)`` (§5.3 A).

    S1 is the first ceil(n/2) bytes of the secret and S2 the last ceil(n/2) bytes (they share
    the middle byte when n is odd). ``seed`` already includes the label.
    """
    half = (len(secret) + 1) // 2
    s1 = secret[:half]
    s2 = secret[len(secret) - half :]
    md5 = _p_hash("md5", s1, seed, length)
    sha1 = _p_hash("sha1", s2, seed, length)
    return (int.from_bytes(md5, "big") ^ int.from_bytes(sha1, "big")).to_bytes(length, "big")


def _check_len(name: str, value: bytes, expected: int) -> None:
    if len(value) != expected:
        raise LocalError(f"{name} must be {expected} bytes, got {len(value)}")


def derive_key2_prf(
    *,
    pre_master: bytes,
    client_random1: bytes,
    server_random1: bytes,
    client_random2: bytes,
    server_random2: bytes,
    client_session_id: bytes,
    server_session_id: bytes,
) -> bytes:
    """The 256-byte ``key2`` from a key-method-2 exchange (§5.3 A, §5.8.3)."""
    _check_len("pre_master", pre_master, PRE_MASTER_LEN)
    for name, value in (
        ("client_random1", client_random1),
        ("server_random1", server_random1),
        ("client_random2", client_random2),
        ("server_random2", server_random2),
    ):
        _check_len(name, value, RANDOM_LEN)
    _check_len("client_session_id", client_session_id, SESSION_ID_LEN)
    _check_len("server_session_id", server_session_id, SESSION_ID_LEN)
    # docs §5.3 A: random1 for the master secret, random2 + session ids (client's
    # first) for the expansion, whose secret is the master secret.
    master = openvpn_prf(
        pre_master, MASTER_SECRET_LABEL + client_random1 + server_random1, MASTER_SECRET_LEN
    )
    return openvpn_prf(
        master,
        KEY_EXPANSION_LABEL
        + client_random2
        + server_random2
        + client_session_id
        + server_session_id,
        KEY2_LEN,
    )
