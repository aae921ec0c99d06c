"""Sans-I/O core of the packetmuxer: which way does an incoming datagram go?

The first byte of every OpenVPN packet is ``opcode << 3 | key_id`` (docs §2), in the
clear in every wrapping mode, so the demultiplexer needs nothing but that byte and a length
check. Everything a client must never receive is refused here, before any crypto runs:
obsolete key-method 1 opcodes, client resets (a client must reject HARD_RESET_CLIENT_*), the
client-only WKC opcode, unknown opcodes, and hard resets with a key id other than 0.
"""

from __future__ import annotations

import enum

from vpnstack.core.shared.drops import DropReason
from vpnstack.core.shared.opcodes import (
    P_ACK_V1,
    P_CONTROL_HARD_RESET_SERVER_V2,
    P_CONTROL_SOFT_RESET_V1,
    P_CONTROL_V1,
    P_DATA_V1,
    P_DATA_V2,
    SESSION_ID_LEN,
    split_first_byte,
)
from vpnstack.errors import RemoteProtocolError


class Destination(enum.Enum):
    """Where a datagram goes."""

    CONTROL = "control"
    DATA = "data"


CONTROL_FROM_SERVER = frozenset(
    {P_CONTROL_SOFT_RESET_V1, P_CONTROL_V1, P_ACK_V1, P_CONTROL_HARD_RESET_SERVER_V2}
)
"""Control opcodes a server may send to a client (§2: V1 resets are obsolete, and a client
must reject HARD_RESET_CLIENT_*; WKC and V3 are client->server only)."""

MIN_CONTROL_LEN = 1 + SESSION_ID_LEN + 1
"""op byte, session id and at least the ack count (§3.2, §3.3)."""

MIN_DATA_LEN = {P_DATA_V1: 1 + 4, P_DATA_V2: 4 + 4}
"""Header plus a packet id; the datachannel checks the rest."""


def classify(datagram: bytes) -> Destination:
    """Say whether ``datagram`` is a control or a data packet; raise RemoteProtocolError."""
    if not datagram:
        raise RemoteProtocolError(DropReason.EMPTY)
    opcode, key_id = split_first_byte(datagram[0])
    if opcode in MIN_DATA_LEN:
        if len(datagram) < MIN_DATA_LEN[opcode]:
            raise RemoteProtocolError(DropReason.DATA_TOO_SHORT)
        return Destination.DATA
    if opcode not in CONTROL_FROM_SERVER:
        raise RemoteProtocolError(DropReason.UNEXPECTED_OPCODE, f"opcode {opcode}")
    if len(datagram) < MIN_CONTROL_LEN:
        raise RemoteProtocolError(DropReason.CONTROL_TOO_SHORT)
    if opcode == P_CONTROL_HARD_RESET_SERVER_V2 and key_id != 0:
        # docs §2: hard resets use key_id 0.
        raise RemoteProtocolError(DropReason.HARD_RESET_NONZERO_KEY_ID)
    return Destination.CONTROL
