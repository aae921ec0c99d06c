"""The plain control packet codec against hand-written byte vectors (docs §3.2, §3.3)."""

from __future__ import annotations

import pytest

from vpnstack.core.shared import opcodes as op
from vpnstack.core.shared.packets import (
    DecodedControl,
    ack_size,
    decode_control,
    encode_control,
    max_tls_payload,
)
from vpnstack.errors import DropReason, LocalError, RemoteProtocolError

CLIENT_SID = bytes.fromhex("0102030405060708")
SERVER_SID = bytes.fromhex("a1a2a3a4a5a6a7a8")


def test_ack_size_formula() -> None:
    assert ack_size(0) == 1
    assert ack_size(1) == 1 + 8 + 4
    assert ack_size(4) == 25
    assert ack_size(8) == 1 + 8 + 32
    with pytest.raises(LocalError):
        ack_size(9)


def test_client_hard_reset_is_14_bytes() -> None:
    # §3.3: "a client HARD_RESET is 14 bytes: 38 <sid x 8> 00 00000000"
    wire = encode_control(
        opcode=op.P_CONTROL_HARD_RESET_CLIENT_V2, key_id=0, session_id=CLIENT_SID, message_id=0
    )
    assert wire == bytes.fromhex("38" "0102030405060708" "00" "00000000")
    assert len(wire) == 14
    assert decode_control(wire) == DecodedControl(
        opcode=op.P_CONTROL_HARD_RESET_CLIENT_V2,
        key_id=0,
        session_id=CLIENT_SID,
        acks=(),
        remote_session_id=None,
        message_id=0,
        payload=b"",
    )


def test_server_reset_with_ack_and_remote_session_id() -> None:
    # §5.1: S: HARD_RESET_SERVER_V2 kid0 sid=Ss acks[0]+Cs mid=0
    wire = encode_control(
        opcode=op.P_CONTROL_HARD_RESET_SERVER_V2,
        key_id=0,
        session_id=SERVER_SID,
        acks=(0,),
        remote_session_id=CLIENT_SID,
        message_id=0,
    )
    expected = bytes.fromhex(
        "40" "a1a2a3a4a5a6a7a8" "01" "00000000" "0102030405060708" "00000000"
    )
    assert wire == expected
    decoded = decode_control(expected)
    assert decoded.acks == (0,)
    assert decoded.remote_session_id == CLIENT_SID
    assert decoded.message_id == 0


def test_control_with_several_acks_key_id_and_payload() -> None:
    wire = encode_control(
        opcode=op.P_CONTROL_V1,
        key_id=3,
        session_id=CLIENT_SID,
        acks=(7, 0x01020304, 5),
        remote_session_id=SERVER_SID,
        message_id=0xDEADBEEF,
        payload=b"\x16\x03\x01hello",
    )
    expected = (
        bytes([4 << 3 | 3])  # 0x23
        + CLIENT_SID
        + b"\x03"
        + bytes.fromhex("00000007" "01020304" "00000005")
        + SERVER_SID
        + bytes.fromhex("deadbeef")
        + b"\x16\x03\x01hello"
    )
    assert wire[0] == 0x23
    assert wire == expected
    d = decode_control(expected)
    assert (d.opcode, d.key_id, d.acks, d.message_id, d.payload) == (
        op.P_CONTROL_V1,
        3,
        (7, 0x01020304, 5),
        0xDEADBEEF,
        b"\x16\x03\x01hello",
    )


def test_ack_v1_has_no_message_id() -> None:
    # §3.11.2
    wire = encode_control(
        opcode=op.P_ACK_V1,
        key_id=0,
        session_id=CLIENT_SID,
        acks=(1, 2),
        remote_session_id=SERVER_SID,
    )
    assert wire == bytes.fromhex("28" "0102030405060708" "02" "00000001" "00000002") + SERVER_SID
    assert len(wire) == 1 + 8 + ack_size(2)
    d = decode_control(wire)
    assert d.message_id is None
    assert d.payload == b""
    assert d.acks == (1, 2)


def test_eight_acks_round_trip() -> None:
    acks = tuple(range(10, 18))
    wire = encode_control(
        opcode=op.P_ACK_V1, key_id=1, session_id=CLIENT_SID, acks=acks, remote_session_id=SERVER_SID
    )
    assert len(wire) == 9 + 1 + 32 + 8
    assert decode_control(wire).acks == acks


def test_remote_session_id_ignored_without_acks() -> None:
    wire = encode_control(
        opcode=op.P_CONTROL_V1,
        key_id=0,
        session_id=CLIENT_SID,
        remote_session_id=SERVER_SID,
        message_id=1,
        payload=b"x",
    )
    assert wire == bytes.fromhex("20" "0102030405060708" "00" "00000001") + b"x"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opcode": op.P_ACK_V1, "acks": (1,), "remote_session_id": SERVER_SID, "message_id": 3},
        {"opcode": op.P_ACK_V1, "acks": (1,), "remote_session_id": SERVER_SID, "payload": b"x"},
        {"opcode": op.P_ACK_V1},
        {"opcode": op.P_CONTROL_V1, "acks": (1,), "message_id": 1},
        {"opcode": op.P_CONTROL_V1, "acks": tuple(range(9)), "remote_session_id": SERVER_SID,
         "message_id": 1},
        {"opcode": op.P_CONTROL_V1},
        {"opcode": op.P_DATA_V2, "message_id": 1},
        {"opcode": op.P_CONTROL_V1, "message_id": 2**32},
        {"opcode": op.P_CONTROL_V1, "message_id": 1, "acks": (-1,),
         "remote_session_id": SERVER_SID},
        {"opcode": op.P_CONTROL_HARD_RESET_CLIENT_V2, "message_id": 0, "key_id": 1},
        {"opcode": op.P_CONTROL_V1, "message_id": 0, "key_id": 8},
        {"opcode": op.P_CONTROL_V1, "message_id": 0, "session_id": b"short"},
    ],
)
def test_encode_misuse_raises_local_error(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"key_id": 0, "session_id": CLIENT_SID}
    args.update(kwargs)
    with pytest.raises(LocalError):
        encode_control(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"", "control-too-short"),
        (bytes.fromhex("20" "0102030405060708"), "control-too-short"),
        (bytes.fromhex("30" "0102030405060708" "00" "00000000"), "data-opcode-on-control-path"),
        (bytes.fromhex("48" "0102030405060708" "00" "00000000"), "data-opcode-on-control-path"),
        (bytes.fromhex("08" "0102030405060708" "00" "00000000"), "unknown-control-opcode"),
        (bytes.fromhex("60" "0102030405060708" "00" "00000000"), "unknown-control-opcode"),
        (bytes.fromhex("00" "0102030405060708" "00" "00000000"), "unknown-control-opcode"),
        # One name per violation: the packetmuxer counts the same one (issue 7).
        (bytes.fromhex("39" "0102030405060708" "00" "00000000"), "hard-reset-nonzero-key-id"),
        (bytes.fromhex("20" "0102030405060708" "09") + bytes(36 + 8 + 4), "too-many-acks"),
        (bytes.fromhex("20" "0102030405060708" "02" "00000001"), "truncated-ack-section"),
        (bytes.fromhex("20" "0102030405060708" "01" "00000001" "a1a2a3"), "truncated-ack-section"),
        (bytes.fromhex("20" "0102030405060708" "00" "000000"), "truncated-message-id"),
        (bytes.fromhex("28" "0102030405060708" "00" "00000001"), "trailing-bytes-after-ack"),
    ],
)
def test_decode_malformed_raises_remote_protocol_error(wire: bytes, reason: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_control(wire)
    assert info.value.reason == reason
    assert isinstance(info.value.reason, DropReason)


def test_decode_soft_reset_with_key_id() -> None:
    # §5.7: SOFT_RESET with the new key id, message id 0, no payload.
    d = decode_control(bytes.fromhex("1a" "0102030405060708" "00" "00000000"))
    assert (d.opcode, d.key_id, d.message_id, d.acks) == (op.P_CONTROL_SOFT_RESET_V1, 2, 0, ())


def test_max_tls_payload_matches_protocol_example() -> None:
    # §4: tls-crypt over IPv4 with 4 acks: 1250 - 122 = 1128
    assert max_tls_payload(tls_mtu=1250, wrap_reserve=56, ipv6=False) == 1128
    # the same over IPv6: 20 bytes less
    assert max_tls_payload(tls_mtu=1250, wrap_reserve=56, ipv6=True) == 1108
    # tls-auth SHA1: wrap = 20 + 8
    assert max_tls_payload(tls_mtu=1250, wrap_reserve=28, ipv6=False) == 1250 - 94
    # no wrapping, no acks pending: 1 + 8 + 1 + 4 + 28 = 42
    assert max_tls_payload(tls_mtu=1250, wrap_reserve=0, ipv6=False, acks=0) == 1208
    # acks beyond 4 are capped at CONTROL_SEND_ACK_MAX
    assert max_tls_payload(tls_mtu=1250, wrap_reserve=56, ipv6=False, acks=8) == 1128
    # tls-mtu above 2048 is capped at TLS_CHANNEL_BUF_SIZE
    assert max_tls_payload(tls_mtu=4000, wrap_reserve=56, ipv6=False) == 2048 - 122
    with pytest.raises(LocalError):
        max_tls_payload(tls_mtu=100, wrap_reserve=56, ipv6=False)
