"""TCP length framing (docs §1): byte vectors, arbitrary cuts, invalid lengths."""

from __future__ import annotations

import struct

import pytest

from vpnstack.core.networkio.tcpframing import MAX_PACKET, TcpDeframer, frame, frame_all
from vpnstack.errors import LocalError, RemoteProtocolError

# A client hard reset with no wrapping (§3.3): 14 bytes, opcode 7 key_id 0.
HARD_RESET = bytes.fromhex("38") + bytes(range(1, 9)) + bytes.fromhex("00 00000000")
PACKETS = [HARD_RESET, b"\x48" + bytes(range(200)) * 3, b"\x28\x00", b"\x30" * 1300]


def framed(packet: bytes) -> bytes:
    """The §1 layout written out: big-endian uint16 length of the packet, then the packet."""
    return struct.pack(">H", len(packet)) + packet


STREAM = b"".join(framed(p) for p in PACKETS)


def test_frame_byte_vectors() -> None:
    assert frame(HARD_RESET) == bytes.fromhex("000e 38 0102030405060708 00 00000000")
    assert frame(b"\x30" * 300)[:2] == b"\x01\x2c"
    assert frame(b"x" * 0xFFFF)[:2] == b"\xff\xff"
    assert frame_all(PACKETS) == STREAM
    assert frame_all([]) == b""


@pytest.mark.parametrize("size", [0, 0x10000])
def test_frame_refuses_what_the_length_cannot_say(size: int) -> None:
    with pytest.raises(LocalError):
        frame(b"x" * size)


def test_one_read_with_several_packets() -> None:
    deframer = TcpDeframer()
    assert deframer.receive_data(STREAM) == PACKETS
    assert deframer.pending == 0


def test_a_stream_cut_at_every_offset_reassembles() -> None:
    for cut in range(len(STREAM) + 1):
        deframer = TcpDeframer()
        got = deframer.receive_data(STREAM[:cut])
        got += deframer.receive_data(STREAM[cut:])
        assert got == PACKETS, cut
        assert deframer.pending == 0


def test_a_stream_cut_twice_at_every_pair_of_offsets_in_the_first_packets() -> None:
    stream = b"".join(framed(p) for p in (HARD_RESET, b"\x28\x00", HARD_RESET))
    for first in range(len(stream) + 1):
        for second in range(first, len(stream) + 1):
            deframer = TcpDeframer()
            got = deframer.receive_data(stream[:first])
            got += deframer.receive_data(stream[first:second])
            got += deframer.receive_data(stream[second:])
            assert got == [HARD_RESET, b"\x28\x00", HARD_RESET], (first, second)


def test_one_byte_at_a_time() -> None:
    deframer = TcpDeframer()
    got: list[bytes] = []
    completed_at: list[int] = []
    for i in range(len(STREAM)):
        new = deframer.receive_data(STREAM[i : i + 1])
        if new:
            completed_at.append(i + 1)
        got += new
    assert got == PACKETS
    ends, total = [], 0
    for p in PACKETS:
        total += 2 + len(p)
        ends.append(total)
    assert completed_at == ends  # each packet is handed up the moment its last byte arrives


def test_pending_counts_the_unfinished_tail() -> None:
    deframer = TcpDeframer()
    assert deframer.receive_data(framed(HARD_RESET) + b"\x00") == [HARD_RESET]
    assert deframer.pending == 1
    assert deframer.receive_data(b"\x02\x28") == []
    assert deframer.pending == 3
    assert deframer.receive_data(b"\x00") == [b"\x28\x00"]
    assert deframer.pending == 0


def test_length_zero_drops_the_stream_for_good() -> None:
    deframer = TcpDeframer()
    with pytest.raises(RemoteProtocolError) as info:
        deframer.receive_data(framed(HARD_RESET) + b"\x00\x00" + framed(HARD_RESET))
    assert info.value.reason == "tcp-length-zero"
    # Nothing after a bad length can be trusted, whatever comes next.
    with pytest.raises(RemoteProtocolError):
        deframer.receive_data(framed(HARD_RESET))


def test_a_length_above_the_limit_is_refused_before_its_bytes_arrive() -> None:
    deframer = TcpDeframer(max_packet=1500)
    assert deframer.receive_data(framed(b"y" * 1500)) == [b"y" * 1500]  # the limit itself is fine
    with pytest.raises(RemoteProtocolError) as info:
        deframer.receive_data(struct.pack(">H", 1501))
    assert info.value.reason == "tcp-length-too-big"
    assert deframer.pending == 0


def test_default_limit() -> None:
    deframer = TcpDeframer()
    assert deframer.receive_data(framed(b"z" * MAX_PACKET)) == [b"z" * MAX_PACKET]
    with pytest.raises(RemoteProtocolError, match="tcp-length-too-big"):
        deframer.receive_data(struct.pack(">H", MAX_PACKET + 1))


@pytest.mark.parametrize("bad", [0, 0x10000])
def test_max_packet_must_fit_the_length_field(bad: int) -> None:
    with pytest.raises(LocalError):
        TcpDeframer(max_packet=bad)
