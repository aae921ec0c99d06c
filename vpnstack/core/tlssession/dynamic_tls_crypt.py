"""The dynamic tls-crypt key: exported from key id 0's TLS session (§3.10).

The tlssession derives it and hands it to the controlchannel, which wraps every key id > 0
with it.
"""

from __future__ import annotations

from vpnstack.core.shared.ciphers import STATIC_KEY_LEN
from vpnstack.errors import LocalError

DYNAMIC_TLS_CRYPT_LABEL = b"EXPORTER-OpenVPN-dynamic-tls-crypt"
"""RFC 5705 exporter label of the dynamic tls-crypt key (256 bytes, no context)."""


def dynamic_tls_crypt_key(ekm: bytes, original: bytes | None) -> bytes:
    """§3.10 steps 1-2: the 256 exported bytes, XORed with the original wrapping's 256-byte key
    (tls-auth or tls-crypt key file in file order, tls-crypt-v2 Kc) when there is one."""
    if len(ekm) != STATIC_KEY_LEN:
        raise LocalError(f"the dynamic tls-crypt export must be {STATIC_KEY_LEN} bytes")
    if original is None:
        return bytes(ekm)
    if len(original) != STATIC_KEY_LEN:
        raise LocalError(f"the original wrapping key must be {STATIC_KEY_LEN} bytes")
    return bytes(a ^ b for a, b in zip(ekm, original, strict=True))
