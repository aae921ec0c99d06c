"""tls-crypt-v2 on the client side: the client key and the early-negotiation flags.

How this works (docs §3.8, §3.9, §3.11.8). A tls-crypt-v2 client key is
``Kc (256 bytes) || WKc``: Kc is an ordinary tls-crypt key (client = INVERSE), WKc is Kc
wrapped by the *server's* key, opaque to us, ending in its own uint16 length. The client:

1. starts its tls-crypt replay counter at 0x0F000000, so its first packet carries
   0x0F000001: that marker tells a 2.6+ server "I can resend WKc" (§3.9.1);
2. sends P_CONTROL_HARD_RESET_CLIENT_V3 (opcode 10) with the raw WKc appended after the
   tls-crypt output, unauthenticated (§3.7);
3. reads the TLVs of the server's HARD_RESET_SERVER_V2; if type 0x0001 (flags) has 0x0001
   (resend WKc), the client's message id 1 must be a P_CONTROL_WKC_V1 (opcode 11), again with
   WKc appended (§3.9.2-3).

The wrapping itself (tls-crypt with Kc, WKc appended for opcodes 10/11) is
``TlsCryptV2Wrap`` in ``core/controlchannel/wrap.py``; the session decides which opcodes to send.
The config parser already checks the PEM and the WKc length (``Config.tls.crypt_v2_key``);
``split_client_key`` re-checks the length field because the core may be fed directly.
"""

from __future__ import annotations

import attrs

from vpnstack.core.shared.opcodes import P_CONTROL_HARD_RESET_CLIENT_V3, P_CONTROL_WKC_V1
from vpnstack.errors import ConfigError

KC_LEN = 256
"""Kc: a full 256-byte tls-crypt key (§3.8)."""
WKC_MAX_LEN = 1024
"""Largest WKc a server accepts (TLS_CRYPT_V2_MAX_WKC_LEN, §3.8)."""
WKC_MIN_LEN = 2 + 32 + KC_LEN + 1
"""The length field, the tag, the wrapped Kc and the metadata type byte (§3.8)."""
WKC_OPCODES = frozenset({P_CONTROL_HARD_RESET_CLIENT_V3, P_CONTROL_WKC_V1})
"""The only opcodes that carry WKc (§3.7, §3.11.8)."""
INITIAL_COUNTER = 0x0F000000
"""Replay counter start: the first packet carries 0x0F000001 (§3.9.1)."""
EARLY_NEG_MASK = 0xFF000000
"""The server tests ``replay_id & EARLY_NEG_MASK == INITIAL_COUNTER`` (§3.9.1)."""
V3_RESET_MIN_LEN = 336
"""Shortest V3 reset a port-share server recognises (§1.3)."""
V3_RESET_MAX_LEN = 1278
"""Longest V3 reset a port-share server recognises (§1.3)."""


@attrs.frozen
class ClientKey:
    """A tls-crypt-v2 client key split into its two parts (never shown in repr)."""

    kc: bytes = attrs.field(repr=False)
    """The 256-byte tls-crypt key used for this client's control packets."""
    wkc: bytes = attrs.field(repr=False)
    """The wrapped client key, sent as is after opcodes 10 and 11."""


def split_client_key(key: bytes) -> ClientKey:
    """Split ``Kc || WKc`` (§3.8); ``ConfigError`` if the WKc length field is wrong."""
    wkc = key[KC_LEN:]
    if (
        len(key) <= KC_LEN
        or not WKC_MIN_LEN <= len(wkc) <= WKC_MAX_LEN
        or int.from_bytes(wkc[-2:], "big") != len(wkc)
    ):
        raise ConfigError(
            "the tls-crypt-v2 client key is truncated or damaged; ask the provider for a new "
            "client key (openvpn --tls-crypt-v2 server.key --genkey tls-crypt-v2-client)"
        )
    return ClientKey(kc=bytes(key[:KC_LEN]), wkc=bytes(wkc))
