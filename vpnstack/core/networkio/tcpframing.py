"""TCP length framing of OpenVPN packets (docs §1), sans-I/O.

How this works: over TCP every OpenVPN packet travels as ``uint16 length || packet``, the
length counting the packet only. ``frame`` / ``frame_all`` do the sending side. On the
receiving side a ``TcpDeframer`` is fed whatever bytes one ``recv`` returned (a fraction of a
packet, exactly one, or many back-to-back) and returns the packets completed so far, keeping the
unfinished tail for the next call. A length of 0, or one above ``max_packet``, means the stream
is not OpenVPN framing (or is corrupt); nothing after it can be trusted, so the deframer raises
``RemoteProtocolError`` and stays failed: the caller must drop the connection, as the stock
receiver does.
"""

from __future__ import annotations

from collections.abc import Iterable

from vpnstack.core.shared.drops import DropReason
from vpnstack.errors import LocalError, RemoteProtocolError

LENGTH_SIZE = 2
"""Bytes of the length prefix."""

MAX_PACKET = 16384
"""Default largest packet accepted. No stock peer sends more: a control packet is at most
``tls-mtu`` (≤ 2048, §4) and a data packet is one tun-mtu sized IP packet plus < 100 bytes of
overhead (§6.7), so this leaves room for tun-mtu up to about 16 000 while still refusing a
garbage length before buffering it."""


def frame(packet: bytes) -> bytes:
    """``packet`` with its 2-byte length in front (docs §1)."""
    if not 0 < len(packet) <= 0xFFFF:
        raise LocalError(f"cannot frame a packet of {len(packet)} bytes over TCP")
    return len(packet).to_bytes(LENGTH_SIZE, "big") + packet


def frame_all(packets: Iterable[bytes]) -> bytes:
    """Several packets framed back to back, ready for one ``send``."""
    return b"".join(frame(packet) for packet in packets)


class TcpDeframer:
    """Cuts a TCP byte stream into OpenVPN packets (docs §1)."""

    def __init__(self, *, max_packet: int = MAX_PACKET) -> None:
        if not 0 < max_packet <= 0xFFFF:
            raise LocalError(f"max_packet must be 1..65535, not {max_packet}")
        self._max_packet = max_packet
        self._buffer = bytearray()
        self._failed: RemoteProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole packet."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> list[bytes]:
        """Add ``data`` from the stream; return every packet it completes, in order.

        Raises ``RemoteProtocolError`` (reason ``tcp-length-zero`` or ``tcp-length-too-big``)
        when a length is invalid, and again on every later call: the stream is lost.
        """
        if self._failed is not None:
            raise self._failed
        buffer = self._buffer
        buffer += data
        packets: list[bytes] = []
        offset = 0
        end = len(buffer)
        while end - offset >= LENGTH_SIZE:
            length = (buffer[offset] << 8) | buffer[offset + 1]
            if length == 0 or length > self._max_packet:
                self._failed = RemoteProtocolError(
                    DropReason.TCP_LENGTH_ZERO if length == 0 else DropReason.TCP_LENGTH_TOO_BIG,
                    f"a packet length of {length} (accepted: 1..{self._max_packet})",
                )
                buffer.clear()
                raise self._failed
            start = offset + LENGTH_SIZE
            if end - start < length:
                break
            packets.append(bytes(buffer[start : start + length]))
            offset = start + length
        if offset:
            del buffer[:offset]
        return packets
