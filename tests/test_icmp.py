"""Tests of the ICMP helper: checksums checked independently and by the Linux kernel itself."""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from vpnstack.icmp import (
    EchoReply,
    build_echo_request,
    build_echo_request6,
    internet_checksum,
    parse_echo_reply,
)

SRC = IPv4Address("10.8.0.2")
DST = IPv4Address("10.8.0.1")
SRC6 = IPv6Address("fd00:8::2")
DST6 = IPv6Address("fd00:8::1")


def ones_complement_sum_ok(data: bytes) -> bool:
    """Independent check: the 16-bit ones' complement sum of a checksummed block is 0xFFFF."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += int.from_bytes(data[i : i + 2], "big")
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def test_checksum_known_answer() -> None:
    # RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to ddf2 -> checksum 220d
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    # the classic IPv4 header example (checksum field zeroed) -> b861
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861
    assert internet_checksum(b"\x01") == (~0x0100 & 0xFFFF)  # odd length pads with zero


def test_echo_request_layout() -> None:
    packet = build_echo_request(SRC, DST, 0x1234, 7, b"hello")
    assert len(packet) == 20 + 8 + 5
    ver_ihl, _tos, total, _id, frag, ttl, proto, _ck = struct.unpack("!BBHHHBBH", packet[:12])
    assert (ver_ihl, total, frag, ttl, proto) == (0x45, 33, 0x4000, 64, 1)
    assert packet[12:16] == SRC.packed and packet[16:20] == DST.packed
    assert ones_complement_sum_ok(packet[:20])
    kind, code, _ck, ident, seq = struct.unpack("!BBHHH", packet[20:28])
    assert (kind, code, ident, seq) == (8, 0, 0x1234, 7)
    assert packet[28:] == b"hello"
    assert ones_complement_sum_ok(packet[20:])


def test_echo_request6_layout() -> None:
    packet = build_echo_request6(SRC6, DST6, 0xBEEF, 65535, b"odd")
    first, length, nh, hops = struct.unpack("!IHBB", packet[:8])
    assert (first >> 28, length, nh, hops) == (6, 11, 58, 64)
    assert packet[8:24] == SRC6.packed and packet[24:40] == DST6.packed
    kind, code, _ck, ident, seq = struct.unpack("!BBHHH", packet[40:48])
    assert (kind, code, ident, seq) == (128, 0, 0xBEEF, 65535)
    pseudo = SRC6.packed + DST6.packed + length.to_bytes(4, "big") + b"\0\0\0\x3a"
    assert ones_complement_sum_ok(pseudo + packet[40:])
    assert not ones_complement_sum_ok(packet[40:])  # the pseudo-header really is included


def make_reply4(src: IPv4Address, dst: IPv4Address, ident: int, seq: int, data: bytes) -> bytes:
    """An echo reply built by hand in the test, checksums via the independent sum."""

    def fill(block: bytes, offset: int) -> bytes:
        for ck in range(0x10000):  # brute force: the value that makes the sum 0xFFFF
            candidate = block[:offset] + ck.to_bytes(2, "big") + block[offset + 2 :]
            if ones_complement_sum_ok(candidate):
                return candidate
        raise AssertionError("no checksum")

    icmp = fill(struct.pack("!BBHHH", 0, 0, 0, ident, seq) + data, 2)
    header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(icmp), 1, 0, 63, 1, 0)
    header = fill(header + src.packed + dst.packed, 10)
    return header + icmp


def test_parse_hand_made_reply() -> None:
    packet = make_reply4(DST, SRC, 0x0102, 3, b"abc")
    assert parse_echo_reply(packet) == EchoReply(DST, SRC, 0x0102, 3, b"abc")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p[:20] + bytes([8]) + p[21:],  # a request, not a reply
        lambda p: p[:-1] + bytes([p[-1] ^ 1]),  # ICMP checksum wrong
        lambda p: p[:8] + bytes([p[8] - 1]) + p[9:],  # TTL changed: IP checksum wrong
        lambda p: p[:25],  # truncated
        lambda p: b"",
        lambda p: b"\x50" + p[1:],  # version 5
    ],
)
def test_parse_rejects(mangle: object) -> None:
    packet = make_reply4(DST, SRC, 1, 1, b"abc")
    assert parse_echo_reply(packet) is not None
    assert parse_echo_reply(mangle(packet)) is None  # type: ignore[operator]


def test_parse_rejects_fragment_and_other_protocol() -> None:
    packet = make_reply4(DST, SRC, 1, 1, b"abc")
    frag = bytearray(packet)
    frag[6] |= 0x20  # more fragments
    frag[10:12] = b"\0\0"
    frag[10:12] = internet_checksum(bytes(frag[:20])).to_bytes(2, "big")
    assert parse_echo_reply(bytes(frag)) is None
    # our own request is not a reply
    assert parse_echo_reply(build_echo_request(SRC, DST, 1, 1)) is None
    assert parse_echo_reply(build_echo_request6(SRC6, DST6, 1, 1)) is None


def test_parse_reply6() -> None:
    request = build_echo_request6(SRC6, DST6, 9, 10, b"payload")
    # turn it into the reply the peer would send: swap addresses, type 129, fix the checksum
    icmp = bytearray(request[40:])
    icmp[0] = 129
    icmp[2:4] = b"\0\0"
    pseudo = DST6.packed + SRC6.packed + len(icmp).to_bytes(4, "big") + b"\0\0\0\x3a"
    icmp[2:4] = internet_checksum(pseudo + bytes(icmp)).to_bytes(2, "big")
    reply = request[:8] + DST6.packed + SRC6.packed + bytes(icmp)
    assert parse_echo_reply(reply) == EchoReply(DST6, SRC6, 9, 10, b"payload")
    other = IPv6Address("fd00:8::3").packed
    broken = reply[:8] + other + SRC6.packed + bytes(icmp)  # pseudo-header mismatch
    assert parse_echo_reply(broken) is None


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw sockets need root")


def receive(sock: socket.socket, want: object, timeout: float = 2.0) -> bytes:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if ready:
            data = sock.recv(65535)
            if want(data):  # type: ignore[operator]
                return data
    raise AssertionError("no reply from the kernel")


@needs_root
def test_linux_answers_our_ipv4_request() -> None:
    """The kernel drops requests with bad checksums, so a reply proves ours are right."""
    if Path("/proc/sys/net/ipv4/icmp_echo_ignore_all").read_text().strip() != "0":
        pytest.skip("the kernel ignores pings (icmp_echo_ignore_all)")
    lo = IPv4Address("127.0.0.1")
    ident = os.getpid() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        sock.sendto(build_echo_request(lo, lo, ident, 42, b"kernel check"), ("127.0.0.1", 0))
        data = receive(sock, lambda d: (r := parse_echo_reply(d)) is not None and r.ident == ident)
    assert parse_echo_reply(data) == EchoReply(lo, lo, ident, 42, b"kernel check")


@needs_root
def test_linux_answers_our_ipv6_request() -> None:
    lo = IPv6Address("::1")
    ident = (os.getpid() + 1) & 0xFFFF
    try:
        sender = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except OSError as exc:  # pragma: no cover - depends on the kernel
        pytest.skip(f"no raw IPv6 socket: {errno.errorcode.get(exc.errno or 0)}")
    with sender, socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as recv:
        sender.sendto(build_echo_request6(lo, lo, ident, 5, b"v6 kernel check"), ("::1", 0))
        # ICMPv6 raw sockets deliver the message without the IPv6 header
        icmp = receive(recv, lambda d: d[0] == 129 and d[4:6] == ident.to_bytes(2, "big"))
    packet = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 64) + lo.packed + lo.packed + icmp
    assert parse_echo_reply(packet) == EchoReply(lo, lo, ident, 5, b"v6 kernel check")
