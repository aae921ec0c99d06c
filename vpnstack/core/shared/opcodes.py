"""Packet opcodes and the first-byte layout (docs §2.1)."""

from __future__ import annotations

P_CONTROL_HARD_RESET_CLIENT_V1 = 1
P_CONTROL_HARD_RESET_SERVER_V1 = 2
P_CONTROL_SOFT_RESET_V1 = 3
P_CONTROL_V1 = 4
P_ACK_V1 = 5
P_DATA_V1 = 6
P_CONTROL_HARD_RESET_CLIENT_V2 = 7
P_CONTROL_HARD_RESET_SERVER_V2 = 8
P_DATA_V2 = 9
P_CONTROL_HARD_RESET_CLIENT_V3 = 10
P_CONTROL_WKC_V1 = 11

KEY_ID_MASK = 0x07
SESSION_ID_LEN = 8

DATA_OPCODES = frozenset({P_DATA_V1, P_DATA_V2})
CONTROL_OPCODES = frozenset(range(P_CONTROL_SOFT_RESET_V1, P_CONTROL_WKC_V1 + 1)) - DATA_OPCODES
RESET_OPCODES = frozenset(
    {
        P_CONTROL_HARD_RESET_CLIENT_V2,
        P_CONTROL_HARD_RESET_SERVER_V2,
        P_CONTROL_HARD_RESET_CLIENT_V3,
        P_CONTROL_SOFT_RESET_V1,
    }
)

OPCODE_NAMES = {
    P_CONTROL_HARD_RESET_CLIENT_V1: "P_CONTROL_HARD_RESET_CLIENT_V1",
    P_CONTROL_HARD_RESET_SERVER_V1: "P_CONTROL_HARD_RESET_SERVER_V1",
    P_CONTROL_SOFT_RESET_V1: "P_CONTROL_SOFT_RESET_V1",
    P_CONTROL_V1: "P_CONTROL_V1",
    P_ACK_V1: "P_ACK_V1",
    P_DATA_V1: "P_DATA_V1",
    P_CONTROL_HARD_RESET_CLIENT_V2: "P_CONTROL_HARD_RESET_CLIENT_V2",
    P_CONTROL_HARD_RESET_SERVER_V2: "P_CONTROL_HARD_RESET_SERVER_V2",
    P_DATA_V2: "P_DATA_V2",
    P_CONTROL_HARD_RESET_CLIENT_V3: "P_CONTROL_HARD_RESET_CLIENT_V3",
    P_CONTROL_WKC_V1: "P_CONTROL_WKC_V1",
}


def first_byte(opcode: int, key_id: int) -> int:
    """``opcode << 3 | key_id`` (§2.1)."""
    return (opcode << 3) | (key_id & KEY_ID_MASK)


def split_first_byte(byte: int) -> tuple[int, int]:
    """Return ``(opcode, key_id)`` from a packet's first byte (§2.1)."""
    return byte >> 3, byte & KEY_ID_MASK
