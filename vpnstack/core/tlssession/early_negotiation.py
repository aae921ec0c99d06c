"""The early-negotiation TLVs of the server's hard reset (§3.9).

The server's P_CONTROL_HARD_RESET_SERVER_V2 may carry a TLV list; the only TLV a client acts
on is the flags TLV whose RESEND_WKC bit asks a tls-crypt-v2 client to send
P_CONTROL_WKC_V1 as its message id 1.
"""

from __future__ import annotations

import struct

from vpnstack.errors import DropReason, RemoteProtocolError

TLV_EARLY_NEG_FLAGS = 0x0001
"""Early-negotiation TLV type: flags, a uint16 value (§3.9.2)."""
EARLY_NEG_FLAG_RESEND_WKC = 0x0001
"""Flag: the server kept no state; message id 1 must be P_CONTROL_WKC_V1 (§3.9.3)."""


def parse_early_negotiation_tlvs(payload: bytes) -> dict[int, bytes]:
    """The TLVs of the server's hard reset (§3.9): ``uint16 type, uint16 len, value``.

    Unknown types are returned too (callers ignore what they do not know); a truncated
    list raises ``RemoteProtocolError``.
    """
    tlvs: dict[int, bytes] = {}
    offset = 0
    while offset < len(payload):
        if offset + 4 > len(payload):
            raise RemoteProtocolError(DropReason.TRUNCATED_EARLY_NEGOTIATION_TLV)
        kind, length = struct.unpack_from("!HH", payload, offset)
        offset += 4
        if offset + length > len(payload):
            raise RemoteProtocolError(DropReason.TRUNCATED_EARLY_NEGOTIATION_TLV, f"type {kind}")
        tlvs[kind] = payload[offset : offset + length]
        offset += length
    return tlvs


def resend_wkc_requested(tlvs: dict[int, bytes]) -> bool:
    """Whether the server's early-negotiation TLVs ask for P_CONTROL_WKC_V1 (§3.9.2).

    A flags TLV whose value is not 2 bytes is malformed (``RemoteProtocolError``), as in
    OpenVPN's ``parse_early_negotiation_tlvs``; unknown flag bits are ignored.
    """
    value = tlvs.get(TLV_EARLY_NEG_FLAGS)
    if value is None:
        return False
    if len(value) != 2:
        raise RemoteProtocolError(
            DropReason.MALFORMED_EARLY_NEGOTIATION_FLAGS, f"{len(value)} bytes"
        )
    return bool(int.from_bytes(value, "big") & EARLY_NEG_FLAG_RESEND_WKC)
