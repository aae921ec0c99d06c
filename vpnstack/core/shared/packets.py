"""The plain control packet codec (docs §2, §3.2, §3.3, §4).

How this works: a control packet without tls-auth/tls-crypt wrapping is

    [op|kid 1][own session id 8][ack_count 1][acks 4 x n][remote session id 8 iff n > 0]
    [message id 4, absent in P_ACK_V1][payload]

``encode_control`` writes that layout from keyword arguments and raises ``LocalError`` when
the caller asks for something the protocol cannot express (a bug on our side);
``decode_control`` parses it and raises ``RemoteProtocolError`` with a short reason when the
peer sent something malformed. The wrapping layers (tls-auth, tls-crypt) put their own fields
between the session id and the reliable section; they reuse ``encode_reliable_section`` /
``decode_reliable_section`` for the part that is identical in every mode (§3.2).

``max_tls_payload`` is the §4 formula for how many TLS bytes fit in one control packet.
"""

from __future__ import annotations

import struct

import attrs

from vpnstack.core.shared.drops import DropReason
from vpnstack.core.shared.opcodes import (
    CONTROL_OPCODES,
    DATA_OPCODES,
    KEY_ID_MASK,
    P_ACK_V1,
    P_CONTROL_HARD_RESET_CLIENT_V2,
    P_CONTROL_HARD_RESET_CLIENT_V3,
    P_CONTROL_HARD_RESET_SERVER_V2,
    SESSION_ID_LEN,
    first_byte,
    split_first_byte,
)
from vpnstack.errors import LocalError, RemoteProtocolError

MAX_ACKS = 8
"""RELIABLE_ACK_SIZE: most acks one packet may carry (§4, §4.12.3)."""
MAX_PIGGYBACK_ACKS = 4
"""CONTROL_SEND_ACK_MAX: most acks piggy-backed on a P_CONTROL/reset packet (§4)."""
MESSAGE_ID_LEN = 4
"""A message packet-id is a uint32 (§3.2)."""
TLS_CHANNEL_BUF_SIZE = 2048
"""Upper bound applied to tls-mtu in the §4 payload formula."""
_MAX_U32 = 0xFFFFFFFF

HARD_RESET_OPCODES = frozenset(
    {P_CONTROL_HARD_RESET_CLIENT_V2, P_CONTROL_HARD_RESET_SERVER_V2, P_CONTROL_HARD_RESET_CLIENT_V3}
)
"""Hard resets: only valid with key_id 0 (§2)."""


def ack_size(n: int) -> int:
    """Bytes of the ack section with ``n`` acks: ``1 + (8 if n else 0) + 4n`` (§3.2)."""
    if n < 0 or n > MAX_ACKS:
        raise LocalError(f"ack_size: {n} acks is outside 0..{MAX_ACKS}")
    return 1 + (SESSION_ID_LEN if n else 0) + 4 * n


@attrs.frozen
class ReliableSection:
    """The reliable section of a control packet (§3.2), the same in every wrapping mode."""

    acks: tuple[int, ...]
    """Acknowledged message ids of the peer, in wire order."""
    remote_session_id: bytes | None
    """The peer's session id; present iff there are acks."""
    message_id: int | None
    """Our message packet-id; None for P_ACK_V1."""
    payload: bytes
    """Whatever follows (TLS bytes, TLVs, or nothing)."""


@attrs.frozen
class DecodedControl:
    """A decoded plain control packet (§3.3)."""

    opcode: int
    """One of the control opcodes of §2."""
    key_id: int
    """Low 3 bits of the first byte."""
    session_id: bytes
    """The sender's own 8-byte session id."""
    acks: tuple[int, ...]
    """Message ids of *our* packets that the sender acknowledges."""
    remote_session_id: bytes | None
    """Our session id as the sender knows it; present iff ``acks`` is not empty."""
    message_id: int | None
    """The sender's message packet-id; None for P_ACK_V1 (§3.11.2)."""
    payload: bytes
    """TLS bytes, early-negotiation TLVs or nothing."""


def _check_u32(value: int, what: str) -> None:
    if not 0 <= value <= _MAX_U32:
        raise LocalError(f"{what} {value} does not fit in a uint32")


def encode_reliable_section(
    *,
    opcode: int,
    acks: tuple[int, ...] = (),
    remote_session_id: bytes | None = None,
    message_id: int | None = None,
    payload: bytes = b"",
) -> bytes:
    """Serialise the reliable section of §3.2 (everything after the wrapping header).

    ``remote_session_id`` is written only when there are acks; callers that always know the
    peer's id may pass it unconditionally.
    """
    # docs §3.2: ack_count, acks (4 bytes each, §3.11.1), remote sid iff n > 0.
    if len(acks) > MAX_ACKS:
        raise LocalError(f"{len(acks)} acks in one packet; at most {MAX_ACKS} (§4.12.3)")
    parts = [bytes([len(acks)])]
    if acks:
        for ack in acks:
            _check_u32(ack, "ack id")
        parts.append(struct.pack(f"!{len(acks)}I", *acks))
        if remote_session_id is None or len(remote_session_id) != SESSION_ID_LEN:
            raise LocalError("acks need the peer's 8-byte remote_session_id (§3.2)")
        parts.append(remote_session_id)
    # docs §3.11.2: P_ACK_V1 has no message id and no payload; every other opcode has one.
    if opcode == P_ACK_V1:
        if message_id is not None:
            raise LocalError("P_ACK_V1 carries no message id (§3.11.2)")
        if payload:
            raise LocalError("P_ACK_V1 carries no payload")
        if not acks:
            raise LocalError("a P_ACK_V1 without acks says nothing; do not send it")
    else:
        if message_id is None:
            raise LocalError("every control opcode except P_ACK_V1 needs a message id (§3.2)")
        _check_u32(message_id, "message id")
        parts.append(struct.pack("!I", message_id))
        parts.append(bytes(payload))
    return b"".join(parts)


def decode_reliable_section(opcode: int, data: bytes | memoryview) -> ReliableSection:
    """Parse the reliable section of §3.2; raise ``RemoteProtocolError`` if malformed."""
    view = memoryview(data)
    if len(view) < 1:
        raise RemoteProtocolError(DropReason.TRUNCATED_ACK_SECTION, "no ack count")
    count = view[0]
    if count > MAX_ACKS:
        raise RemoteProtocolError(DropReason.TOO_MANY_ACKS, f"{count} acks (max {MAX_ACKS})")
    pos = 1
    acks: tuple[int, ...] = ()
    remote: bytes | None = None
    if count:
        need = 4 * count + SESSION_ID_LEN
        if len(view) < pos + need:
            raise RemoteProtocolError(
                DropReason.TRUNCATED_ACK_SECTION,
                f"{count} acks need {need} bytes, {len(view) - pos} left",
            )
        acks = struct.unpack_from(f"!{count}I", view, pos)
        pos += 4 * count
        remote = bytes(view[pos : pos + SESSION_ID_LEN])
        pos += SESSION_ID_LEN
    if opcode == P_ACK_V1:
        if len(view) != pos:
            raise RemoteProtocolError(
                DropReason.TRAILING_BYTES_AFTER_ACK, f"{len(view) - pos} bytes after the acks"
            )
        return ReliableSection(acks=acks, remote_session_id=remote, message_id=None, payload=b"")
    if len(view) < pos + MESSAGE_ID_LEN:
        raise RemoteProtocolError(DropReason.TRUNCATED_MESSAGE_ID)
    (message_id,) = struct.unpack_from("!I", view, pos)
    pos += MESSAGE_ID_LEN
    return ReliableSection(
        acks=acks, remote_session_id=remote, message_id=message_id, payload=bytes(view[pos:])
    )


def check_control_opcode(opcode: int, key_id: int) -> None:
    """Raise ``RemoteProtocolError`` unless ``opcode``/``key_id`` is a valid control pair (§2)."""
    if opcode in DATA_OPCODES:
        raise RemoteProtocolError(DropReason.DATA_OPCODE_ON_CONTROL_PATH, f"opcode {opcode}")
    if opcode not in CONTROL_OPCODES:
        raise RemoteProtocolError(DropReason.UNKNOWN_CONTROL_OPCODE, f"opcode {opcode}")
    if opcode in HARD_RESET_OPCODES and key_id != 0:
        # docs §2: hard resets must use key_id 0.
        raise RemoteProtocolError(DropReason.HARD_RESET_NONZERO_KEY_ID, f"key_id {key_id}")


def encode_control(
    *,
    opcode: int,
    key_id: int,
    session_id: bytes,
    acks: tuple[int, ...] = (),
    remote_session_id: bytes | None = None,
    message_id: int | None = None,
    payload: bytes = b"",
) -> bytes:
    """Serialise a plain control packet (§3.3); raise ``LocalError`` on misuse."""
    if opcode not in CONTROL_OPCODES:
        raise LocalError(f"opcode {opcode} is not a control opcode (§2)")
    if not 0 <= key_id <= KEY_ID_MASK:
        raise LocalError(f"key_id {key_id} is outside 0..7")
    if opcode in HARD_RESET_OPCODES and key_id != 0:
        raise LocalError("hard resets use key_id 0 (§2)")
    if len(session_id) != SESSION_ID_LEN:
        raise LocalError(f"session id must be {SESSION_ID_LEN} bytes")
    section = encode_reliable_section(
        opcode=opcode,
        acks=acks,
        remote_session_id=remote_session_id,
        message_id=message_id,
        payload=payload,
    )
    # docs §3.3: [op|kid][own sid 8][reliable section]
    return bytes([first_byte(opcode, key_id)]) + bytes(session_id) + section


def decode_control(plain: bytes) -> DecodedControl:
    """Parse a plain control packet (§3.3); raise ``RemoteProtocolError`` if malformed."""
    # The smallest packet is a P_ACK_V1 header with an ack count of 0: 1 + 8 + 1 bytes.
    if len(plain) < 1 + SESSION_ID_LEN + 1:
        raise RemoteProtocolError(DropReason.CONTROL_TOO_SHORT, f"{len(plain)} bytes")
    opcode, key_id = split_first_byte(plain[0])
    check_control_opcode(opcode, key_id)
    session_id = bytes(plain[1 : 1 + SESSION_ID_LEN])
    section = decode_reliable_section(opcode, memoryview(plain)[1 + SESSION_ID_LEN :])
    return DecodedControl(
        opcode=opcode,
        key_id=key_id,
        session_id=session_id,
        acks=section.acks,
        remote_session_id=section.remote_session_id,
        message_id=section.message_id,
        payload=section.payload,
    )


def max_tls_payload(*, tls_mtu: int, wrap_reserve: int, ipv6: bool, acks: int = 4) -> int:
    """TLS bytes that fit in one control packet (§4 ``write_outgoing_tls_ciphertext``).

    ``min(2048, tls_mtu) - [1 + 8 + ACK_SIZE(min(acks, 4)) + 4 + wrap_reserve + IP/UDP]``,
    where ``wrap_reserve`` is L+8 for tls-auth, 56 for tls-crypt, 0 for no wrapping, and the
    IP/UDP headers are 28 bytes (IPv4) or 48 (IPv6). Example: 1250, 56, IPv4 -> 1128.
    """
    # docs §4
    overhead = (
        1
        + SESSION_ID_LEN
        + ack_size(min(acks, MAX_PIGGYBACK_ACKS))
        + MESSAGE_ID_LEN
        + wrap_reserve
        + (48 if ipv6 else 28)
    )
    room = min(TLS_CHANNEL_BUF_SIZE, tls_mtu) - overhead
    if room < 1:
        raise LocalError(f"tls-mtu {tls_mtu} leaves no room for TLS bytes ({overhead} overhead)")
    return room
