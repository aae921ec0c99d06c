"""Deterministic key material for the harness (never os.urandom: a seed must fix every input).

Static keys and tls-crypt-v2 client keys come from a fixed ``random.Random``; the small PKI
used by the config samples is Ed25519, whose signatures are deterministic, with fixed names,
serials and dates, so its PEM bytes are the same in every run.
"""

from __future__ import annotations

import base64
import datetime
import random

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vpnstack.core.controlchannel.statickey import format_static_key

_RNG = random.Random("vpnstack-fuzz-keys")

STATIC_KEY = _RNG.randbytes(256)
"""The harness's tls-auth / tls-crypt static key."""
OTHER_STATIC_KEY = _RNG.randbytes(256)
"""A second static key (dynamic tls-crypt)."""
_WKC_BODY = _RNG.randbytes(297)
TLS_CRYPT_V2_CLIENT_KEY = _RNG.randbytes(256) + _WKC_BODY + (len(_WKC_BODY) + 2).to_bytes(2, "big")
"""Kc (256 bytes) || WKc, WKc ending in its own length (docs §3.8)."""
LOCAL_SESSION_ID = bytes.fromhex("c1c2c3c4c5c6c7c8")
"""Our (the client's) session id."""
REMOTE_SESSION_ID = bytes.fromhex("5151515151515151")
"""The server's session id."""
SESSION_TIME = 0x65000000
"""The replay time field of every wrap."""


def static_key_text(key: bytes = STATIC_KEY) -> str:
    """The key as an "OpenVPN Static key V1" block."""
    return format_static_key(key)


def tls_crypt_v2_text(key: bytes = TLS_CRYPT_V2_CLIENT_KEY) -> str:
    """The tls-crypt-v2 client key as its PEM block."""
    b64 = base64.b64encode(key).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "\n".join(
        [
            "-----BEGIN OpenVPN tls-crypt-v2 client key-----",
            *lines,
            "-----END OpenVPN tls-crypt-v2 client key-----",
            "",
        ]
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str, key: Ed25519PrivateKey, issuer: str, signer: Ed25519PrivateKey, *, ca: bool
) -> bytes:
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(0x1234 if ca else 0x5678)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(signer, None).public_bytes(serialization.Encoding.PEM)


_CA_KEY = Ed25519PrivateKey.from_private_bytes(_RNG.randbytes(32))
_CLIENT_KEY = Ed25519PrivateKey.from_private_bytes(_RNG.randbytes(32))

CA_PEM = _cert("vpnstack fuzz CA", _CA_KEY, "vpnstack fuzz CA", _CA_KEY, ca=True).decode()
"""A self-signed CA certificate."""
CLIENT_CERT_PEM = _cert("client", _CLIENT_KEY, "vpnstack fuzz CA", _CA_KEY, ca=False).decode()
"""A client certificate signed by ``CA_PEM``."""
CLIENT_KEY_PEM = _CLIENT_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
"""The client certificate's private key (PKCS#8)."""


_SERVER_KEY = Ed25519PrivateKey.from_private_bytes(_RNG.randbytes(32))


def _server_cert() -> bytes:
    """A server certificate (DER) with what ``check_server_leaf`` looks at: a multi-RDN
    subject, keyUsage, EKU serverAuth and a SAN."""
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vpnstack fuzz"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ops\x01"),
            x509.NameAttribute(NameOID.COMMON_NAME, "server"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.com"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(_name("vpnstack fuzz CA"))
        .public_key(_SERVER_KEY.public_key())
        .serial_number(0x9ABC)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("server.example.com")]), critical=False
        )
    )
    return builder.sign(_CA_KEY, None).public_bytes(serialization.Encoding.DER)


SERVER_CERT_DER = _server_cert()
"""A server certificate signed by ``CA_PEM`` (DER)."""
