"""Build ICMP echo requests and parse echo replies as whole IP packets (for tests and demos).

How this works: an echo request is an IP header (IPv4, RFC 791, 20 bytes without options; or
IPv6, RFC 8200, 40 bytes) followed by the ICMP message ``type, code, checksum, identifier,
sequence, payload`` (RFC 792 / RFC 4443). The checksum is the Internet checksum (RFC 1071):
the ones' complement of the ones' complement sum of 16-bit words. ICMPv4 sums only the ICMP
message; ICMPv6 also sums a pseudo-header of source, destination, upper-layer length and next
header 58. The IPv4 header has its own checksum; IPv6 has none.

``parse_echo_reply`` returns None for anything that is not a well-formed echo reply with
correct checksums, so a test can feed it every packet that comes out of a tunnel.
"""

from __future__ import annotations

import ipaddress
import struct

import attrs

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
PROTO_ICMP = 1
PROTO_ICMPV6 = 58
DEFAULT_PAYLOAD = b"vpnstack echo payload 0123456789"


@attrs.frozen
class EchoReply:
    """An ICMP or ICMPv6 echo reply taken from an IP packet."""

    src: IPAddress
    """Source address of the IP packet (who answered)."""
    dst: IPAddress
    """Destination address of the IP packet."""
    ident: int
    """Echo identifier (16 bits)."""
    seq: int
    """Echo sequence number (16 bits)."""
    payload: bytes
    """Echo data, returned unchanged by the peer."""


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum of ``data`` (padded with a zero byte if its length is odd)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _icmp_message(kind: int, ident: int, seq: int, payload: bytes, pseudo: bytes = b"") -> bytes:
    if not (0 <= ident <= 0xFFFF and 0 <= seq <= 0xFFFF):
        raise ValueError("ident and seq are 16-bit numbers")
    body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload
    checksum = internet_checksum(pseudo + body)
    return body[:2] + struct.pack("!H", checksum) + body[4:]


def build_echo_request(
    src: ipaddress.IPv4Address,
    dst: ipaddress.IPv4Address,
    ident: int,
    seq: int,
    payload: bytes = DEFAULT_PAYLOAD,
    *,
    ttl: int = 64,
    ip_id: int = 0,
) -> bytes:
    """A complete IPv4 packet carrying an ICMP echo request, with both checksums set."""
    icmp = _icmp_message(ICMP_ECHO_REQUEST, ident, seq, payload)
    total = 20 + len(icmp)
    if total > 0xFFFF:
        raise ValueError("payload too large for one IPv4 packet")
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,  # version 4, IHL 5 (no options)
        0,  # DSCP/ECN
        total,
        ip_id,
        0x4000,  # flags: don't fragment
        ttl,
        PROTO_ICMP,
        0,  # checksum, filled below
        src.packed,
        dst.packed,
    )
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return header + icmp


def _pseudo_header6(src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address, length: int) -> bytes:
    # RFC 8200 §8.1: src, dst, upper-layer packet length (32 bits), 3 zero bytes, next header
    return src.packed + dst.packed + struct.pack("!I3xB", length, PROTO_ICMPV6)


def build_echo_request6(
    src: ipaddress.IPv6Address,
    dst: ipaddress.IPv6Address,
    ident: int,
    seq: int,
    payload: bytes = DEFAULT_PAYLOAD,
    *,
    hop_limit: int = 64,
) -> bytes:
    """A complete IPv6 packet carrying an ICMPv6 echo request (checksum over pseudo-header)."""
    length = 8 + len(payload)
    if length > 0xFFFF:
        raise ValueError("payload too large for one IPv6 packet")
    icmp = _icmp_message(
        ICMPV6_ECHO_REQUEST, ident, seq, payload, _pseudo_header6(src, dst, length)
    )
    header = struct.pack(
        "!IHBB16s16s", 6 << 28, length, PROTO_ICMPV6, hop_limit, src.packed, dst.packed
    )
    return header + icmp


def parse_echo_reply(packet: bytes) -> EchoReply | None:
    """The echo reply in an IPv4 or IPv6 packet, or None if it is not a valid echo reply."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4:
        return _parse4(packet)
    if version == 6:
        return _parse6(packet)
    return None


def _parse4(packet: bytes) -> EchoReply | None:
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack_from("!H", packet, 2)[0]
    if ihl < 20 or total < ihl + 8 or len(packet) < total:
        return None
    if internet_checksum(packet[:ihl]) != 0:
        return None  # IPv4 header checksum
    flags_frag = struct.unpack_from("!H", packet, 6)[0]
    if flags_frag & 0x3FFF:  # more fragments, or an offset: not a whole message
        return None
    if packet[9] != PROTO_ICMP:
        return None
    icmp = packet[ihl:total]
    if icmp[0] != ICMP_ECHO_REPLY or icmp[1] != 0 or internet_checksum(icmp) != 0:
        return None
    ident, seq = struct.unpack_from("!HH", icmp, 4)
    return EchoReply(
        src=ipaddress.IPv4Address(packet[12:16]),
        dst=ipaddress.IPv4Address(packet[16:20]),
        ident=ident,
        seq=seq,
        payload=bytes(icmp[8:]),
    )


def _parse6(packet: bytes) -> EchoReply | None:
    if len(packet) < 48:
        return None
    length, next_header = struct.unpack_from("!HB", packet, 4)
    if next_header != PROTO_ICMPV6 or length < 8 or len(packet) < 40 + length:
        return None  # extension headers are not followed
    src = ipaddress.IPv6Address(packet[8:24])
    dst = ipaddress.IPv6Address(packet[24:40])
    icmp = packet[40 : 40 + length]
    if icmp[0] != ICMPV6_ECHO_REPLY or icmp[1] != 0:
        return None
    if internet_checksum(_pseudo_header6(src, dst, length) + icmp) != 0:
        return None
    ident, seq = struct.unpack_from("!HH", icmp, 4)
    return EchoReply(src=src, dst=dst, ident=ident, seq=seq, payload=bytes(icmp[8:]))
