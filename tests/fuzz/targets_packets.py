"""Packet codecs (core/shared/packets.py) and the packetmuxer's classification.

Contract: ``decode_control``, ``decode_reliable_section`` and ``classify`` raise only
``RemoteProtocolError`` on bad input. On top, a decoded packet re-encodes to the same bytes
(the layout of docs §3.3 is canonical), checked with an assert.
"""

from __future__ import annotations

from tests.fuzz.engine import Target
from tests.fuzz.keys import LOCAL_SESSION_ID, REMOTE_SESSION_ID
from vpnstack.core.datachannel.crypto import data_packet_key_id
from vpnstack.core.packetmuxer.muxer import Destination, classify
from vpnstack.core.shared import opcodes
from vpnstack.core.shared.packets import (
    decode_control,
    decode_reliable_section,
    encode_control,
)
from vpnstack.errors import RemoteProtocolError


def control_samples() -> tuple[bytes, ...]:
    """Plain control packets as the server sends them (and a few the client sends)."""
    sid, rsid = REMOTE_SESSION_ID, LOCAL_SESSION_ID
    packets = [
        encode_control(
            opcode=opcodes.P_CONTROL_HARD_RESET_SERVER_V2,
            key_id=0,
            session_id=sid,
            acks=(0,),
            remote_session_id=rsid,
            message_id=0,
            payload=bytes.fromhex("000100020001"),  # early-negotiation flags TLV
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_V1,
            key_id=0,
            session_id=sid,
            acks=(1, 2, 3, 4),
            remote_session_id=rsid,
            message_id=1,
            payload=bytes.fromhex("160303004a020000460303") + bytes(range(40)),
        ),
        encode_control(
            opcode=opcodes.P_ACK_V1,
            key_id=0,
            session_id=sid,
            acks=(1, 2, 3, 4, 5, 6, 7, 8),
            remote_session_id=rsid,
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_SOFT_RESET_V1, key_id=1, session_id=sid, message_id=0
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_HARD_RESET_CLIENT_V3, key_id=0, session_id=rsid, message_id=0
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_WKC_V1, key_id=0, session_id=rsid, message_id=1, payload=b"x"
        ),
    ]
    return tuple(packets)


def data_samples() -> tuple[bytes, ...]:
    """Data packet headers with a packet id and some ciphertext."""
    v1 = bytes([opcodes.P_DATA_V1 << 3]) + bytes(4) + bytes(range(32))
    v2 = bytes([opcodes.P_DATA_V2 << 3 | 1, 0, 0, 5]) + (7).to_bytes(4, "big") + bytes(range(32))
    return (v1, v2)


def _run_decode_control(data: bytes) -> None:
    try:
        packet = decode_control(data)
    except RemoteProtocolError:
        return
    if packet.opcode == opcodes.P_ACK_V1 and not packet.acks:
        return  # decodable but not something we would ever send (encode refuses it)
    again = encode_control(
        opcode=packet.opcode,
        key_id=packet.key_id,
        session_id=packet.session_id,
        acks=packet.acks,
        remote_session_id=packet.remote_session_id,
        message_id=packet.message_id,
        payload=packet.payload,
    )
    assert again == data, "decode_control -> encode_control does not give the same bytes"


def _run_reliable_section(data: bytes) -> None:
    if not data:
        return
    opcode, _key_id = opcodes.split_first_byte(data[0])
    decode_reliable_section(opcode, data[1:])


def _run_classify(data: bytes) -> None:
    destination = classify(data)
    if destination is Destination.DATA:
        data_packet_key_id(data)


_DICT = (*(bytes([op << 3]) for op in range(1, 12)), b"\x08", b"\xff" * 4, bytes(8))


def targets() -> list[Target]:
    control = control_samples()
    return [
        Target("packets-decode-control", control, _run_decode_control, dictionary=_DICT),
        Target("packets-reliable-section", control, _run_reliable_section, dictionary=_DICT),
        Target("muxer-classify", control + data_samples(), _run_classify, dictionary=_DICT),
    ]
