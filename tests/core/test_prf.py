"""OpenVPN PRF and key2 derivation (docs §5.3 A, §5.8.3)."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpnstack.core.tlssession.prf import derive_key2_prf, openvpn_prf
from vpnstack.errors import LocalError

# The widely used TLS 1.0/1.1 "PRF Testvector" (originally posted to the IETF TLS list,
# msg01589; reproduced in e.g. BearSSL's test_crypto.c and forge's TLS tests):
# secret = 48 x 0xAB, label = "PRF Testvector", seed = 64 x 0xCD, 104 bytes of output.
TESTVECTOR_OUT = bytes.fromhex(
    "d3d4d1e349b5d515044666d51de32bab258cb521b6b053463e354832fd976754"
    "443bcf9a296519bc289abcbc1187e4ebd31e602353776c408aafb74cbc85eff6"
    "9255f9788faa184cbb957a9819d84a5d7eb006eb459d3ae8de9810454b8b2d8f"
    "1afbc655a8c9a013"
)

# OpenVPN's own unit test (tests/unit_tests/openvpn/test_crypto.c, crypto_test_tls_prf):
# ssl_tls1_PRF(seed, secret, 32) with an odd-length (117-byte) secret.
OPENVPN_SECRET = (
    b"Lorem ipsum dolor sit amet, consectetur adipisici elit, sed eiusmod tempor incidunt "
    b"ut labore et dolore magna aliqua."
)
OPENVPN_SEED = b"Quis aute iure reprehenderit in voluptate velit esse cillum dolore"
OPENVPN_GOOD_PRF = bytes.fromhex("d98c8518c85e946927916acfc2d592fbb1567e4b4b1459e6a904ac2ddab72d67")


def test_tls10_prf_testvector() -> None:
    out = openvpn_prf(b"\xab" * 48, b"PRF Testvector" + b"\xcd" * 64, 104)
    assert out == TESTVECTOR_OUT


def test_openvpn_unit_test_vector_with_odd_secret() -> None:
    assert len(OPENVPN_SECRET) == 117
    assert openvpn_prf(OPENVPN_SECRET, OPENVPN_SEED, 32) == OPENVPN_GOOD_PRF


def test_shorter_output_is_a_prefix() -> None:
    seed = b"PRF Testvector" + b"\xcd" * 64
    assert openvpn_prf(b"\xab" * 48, seed, 17) == TESTVECTOR_OUT[:17]


# --- an independent reference, written straight from RFC 2246 §5 ----------------------


def reference_p_hash(hash_name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    out = b""
    a = seed  # A(0)
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()  # A(i) = HMAC(secret, A(i-1))
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:length]


def reference_prf(secret: bytes, seed: bytes, length: int) -> bytes:
    half = -(-len(secret) // 2)
    s1, s2 = secret[:half], secret[len(secret) - half :]  # S2 = the last ceil(n/2) bytes
    md5 = reference_p_hash("md5", s1, seed, length)
    sha1 = reference_p_hash("sha1", s2, seed, length)
    return bytes(x ^ y for x, y in zip(md5, sha1, strict=True))


def test_reference_agrees_with_the_published_vectors() -> None:
    assert reference_prf(b"\xab" * 48, b"PRF Testvector" + b"\xcd" * 64, 104) == TESTVECTOR_OUT
    assert reference_prf(OPENVPN_SECRET, OPENVPN_SEED, 32) == OPENVPN_GOOD_PRF


@given(
    secret=st.binary(min_size=1, max_size=80),
    seed=st.binary(max_size=120),
    length=st.integers(min_value=1, max_value=300),
)
def test_prf_matches_reference(secret: bytes, seed: bytes, length: int) -> None:
    assert openvpn_prf(secret, seed, length) == reference_prf(secret, seed, length)


# --- key2 layout -------------------------------------------------------------------------


def test_derive_key2_layout_step_by_step() -> None:
    pre_master = bytes(range(48))
    client_random1 = bytes([0x11]) * 32
    server_random1 = bytes([0x22]) * 32
    client_random2 = bytes([0x33]) * 32
    server_random2 = bytes([0x44]) * 32
    client_sid = bytes.fromhex("c1c2c3c4c5c6c7c8")
    server_sid = bytes.fromhex("5152535455565758")

    # Step 1 (§5.3 A): master = PRF(pre_master, "OpenVPN master secret" || c.r1 || s.r1, 48).
    master_seed = b"OpenVPN master secret" + client_random1 + server_random1
    assert len(master_seed) == 21 + 64
    master = reference_prf(pre_master, master_seed, 48)
    # Step 2: key2 = PRF(master, "OpenVPN key expansion" || c.r2 || s.r2 || Cs || Ss, 256).
    expansion_seed = (
        b"OpenVPN key expansion" + client_random2 + server_random2 + client_sid + server_sid
    )
    assert len(expansion_seed) == 21 + 64 + 16
    expected = reference_prf(master, expansion_seed, 256)

    key2 = derive_key2_prf(
        pre_master=pre_master,
        client_random1=client_random1,
        server_random1=server_random1,
        client_random2=client_random2,
        server_random2=server_random2,
        client_session_id=client_sid,
        server_session_id=server_sid,
    )
    assert len(key2) == 256
    assert key2 == expected

    # The classic mistakes of §5.8.3 all give different keys.
    wrong = [
        # trailing space in the label (the draft's version)
        reference_prf(
            master,
            b"OpenVPN key expansion " + client_random2 + server_random2 + client_sid + server_sid,
            256,
        ),
        # no session ids in the expansion
        reference_prf(master, b"OpenVPN key expansion" + client_random2 + server_random2, 256),
        # the seed as secret
        reference_prf(expansion_seed, master, 256),
        # random1 in the expansion
        reference_prf(
            master,
            b"OpenVPN key expansion" + client_random1 + server_random1 + client_sid + server_sid,
            256,
        ),
    ]
    assert all(candidate != key2 for candidate in wrong)


def test_derive_key2_checks_lengths() -> None:
    args = {
        "pre_master": bytes(48),
        "client_random1": bytes(32),
        "server_random1": bytes(32),
        "client_random2": bytes(32),
        "server_random2": bytes(32),
        "client_session_id": bytes(8),
        "server_session_id": bytes(8),
    }
    derive_key2_prf(**args)
    for name in args:
        bad = dict(args, **{name: args[name] + b"\x00"})
        with pytest.raises(LocalError, match=name):
            derive_key2_prf(**bad)
