"""The data ciphers and HMAC digests vpnstack implements, with their key lengths (§5.6, §6).

Shared by the tlssession core (which negotiates the cipher and slices keys) and the
datachannel core (which encrypts with them).
"""

from __future__ import annotations

from vpnstack.core.shared.framing import Framing

IMPLICIT_IV_LEN = 8
"""AEAD implicit IV: the nonce is ``packet_id(4) || implicit_iv(8)`` (§6.2)."""

CIPHER_KEY_LENGTHS: dict[str, int] = {
    "AES-128-GCM": 16,
    "AES-192-GCM": 24,
    "AES-256-GCM": 32,
    "CHACHA20-POLY1305": 32,
    "AES-128-CBC": 16,
    "AES-192-CBC": 24,
    "AES-256-CBC": 32,
}
"""Key length of each data cipher this module can slice keys for."""
AEAD_CIPHERS: frozenset[str] = frozenset(
    {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM", "CHACHA20-POLY1305"}
)
"""The AEAD data ciphers vpnstack implements (canonical upper-case names)."""
CBC_CIPHERS: frozenset[str] = frozenset({"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"})
"""The CBC + HMAC data ciphers vpnstack implements (§6.3)."""
DATA_CIPHERS: frozenset[str] = AEAD_CIPHERS | CBC_CIPHERS
"""Every data cipher vpnstack implements."""
HMAC_DIGEST_LENGTHS: dict[str, int] = {
    "SHA1": 20,
    "SHA224": 28,
    "SHA256": 32,
    "SHA384": 48,
    "SHA512": 64,
}
"""``auth`` digests usable for the CBC data HMAC, with their output (and key) length L."""
COMPRESSION_FRAMINGS: frozenset[str] = frozenset(Framing)
"""Values of ``DataKeys.compression`` besides None (§6.4)."""
EPOCH_SECRET_LEN = 32
"""Length of an epoch secret E(n) of the 2.7 format (the SHA-256 output length, §6.9)."""
STATIC_KEY_LEN = 256
"""A static key file (tls-auth, tls-crypt) or a tls-crypt-v2 Kc: two 128-byte keys (§3.5)."""
