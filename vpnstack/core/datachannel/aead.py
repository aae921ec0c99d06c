"""What every data-packet protector shares: the one AEAD factory, the role, the id error.

How this works: ``crypto.py`` (the key2 AEAD and CBC formats, §6.2-§6.3) and ``epoch.py`` (the
2.7 epoch format, §6.9) both build their cipher objects with ``make_aead``, once per key and
direction, and both raise ``PacketIdExhausted`` when a key's send ids run out. Keeping these
here lets ``crypto.make_data_crypto`` import ``epoch`` at the top, with no import cycle.
``make_aead`` raises ``CipherNegotiationFailed`` for a cipher it does not implement: a
protector never quietly falls back to another cipher than the one negotiated.
"""

from __future__ import annotations

from typing import Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from vpnstack.errors import CipherNegotiationFailed, LocalError

Role = Literal["client", "server"]
"""Whose view of the keys a protector takes; ``"server"`` (tests, loopback peers) swaps them."""

Aead = AESGCM | ChaCha20Poly1305
"""The cipher object of one AEAD key and direction."""

_AES_GCM = frozenset({"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"})


class PacketIdExhausted(LocalError):
    """All 2^32-1 packet ids of a key were used; the key must be renegotiated (§6.8)."""


def make_aead(cipher: str, key: bytes) -> Aead:
    """The AEAD object for ``cipher`` under ``key``; ``CipherNegotiationFailed`` otherwise."""
    if cipher in _AES_GCM:
        return AESGCM(key)
    if cipher == "CHACHA20-POLY1305":
        return ChaCha20Poly1305(key)
    raise CipherNegotiationFailed(
        f"the data cipher {cipher!r} is not supported by vpnstack; allow AES-256-GCM, "
        "AES-128-GCM or CHACHA20-POLY1305 in the server's data-ciphers"
    )
