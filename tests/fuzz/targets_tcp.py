"""TCP length framing (core/networkio/tcpframing.py): a stream fed in random chunkings.

An input is ``[chunking seed 2][max_packet 2][stream]``. The stream is fed to a fresh
``TcpDeframer`` in chunks cut by a ``random.Random`` seeded from the input (deterministic per
input), and again in one piece; both must give the same packets, or both fail with
``RemoteProtocolError`` (the only documented error), after which every call fails again.
"""

from __future__ import annotations

import random

from tests.fuzz.engine import Target
from vpnstack.core.networkio.tcpframing import MAX_PACKET, TcpDeframer, frame_all
from vpnstack.errors import RemoteProtocolError


def _deframe(stream: bytes, chunks: list[int], max_packet: int) -> tuple[list[bytes], bool]:
    deframer = TcpDeframer(max_packet=max_packet)
    packets: list[bytes] = []
    pos = 0
    for size in chunks:
        try:
            packets += deframer.receive_data(stream[pos : pos + size])
        except RemoteProtocolError:
            try:
                deframer.receive_data(b"\x00\x01x")
            except RemoteProtocolError:
                return packets, True
            raise AssertionError("a failed TcpDeframer accepted data again") from None
        pos += size
    assert deframer.pending == len(stream) - sum(2 + len(p) for p in packets)
    return packets, False


def run(data: bytes) -> None:
    if len(data) < 4:
        return
    rng = random.Random(int.from_bytes(data[:2], "big"))
    max_packet = int.from_bytes(data[2:4], "big") or MAX_PACKET
    stream = data[4:]
    chunks: list[int] = []
    left = len(stream)
    while left > 0:
        size = min(left, rng.choice((1, 1, 2, 3, rng.randint(1, 64), rng.randint(1, 2048))))
        chunks.append(size)
        left -= size
    chunks.append(0)  # an empty read as well
    one, one_failed = _deframe(stream, [len(stream)], max_packet)
    many, many_failed = _deframe(stream, chunks, max_packet)
    assert one_failed == many_failed, "chunking changed whether the stream fails"
    if not one_failed:
        assert one == many, "chunking changed the packets"


def samples() -> tuple[bytes, ...]:
    packets = [b"\x38" + bytes(range(40)), b"\x48\x00\x00\x05" + bytes(100), b"\x20" * 14]
    stream = frame_all(packets)
    return (
        b"\x00\x01\x00\x00" + stream,
        b"\x12\x34\x00\x80" + stream * 3,
        b"\xff\xff\x40\x00" + frame_all([bytes(1500)] * 2),
    )


def targets() -> list[Target]:
    return [Target("tcp-deframer", samples(), run, max_len=16384)]
