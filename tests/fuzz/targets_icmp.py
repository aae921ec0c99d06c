"""ICMP echo replies out of the tunnel (vpnstack/icmp.py ``parse_echo_reply``, used by the
demo on every packet the server sends through the tunnel).

Contract (its docstring): None for anything that is not a well-formed echo reply, never an
exception. Mutations would almost always break a checksum, so the mutator recomputes the
IPv4 header and ICMP/ICMPv6 checksums of most mutated packets.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Sequence

from tests.fuzz.engine import Target, mutate
from vpnstack.icmp import (
    ICMP_ECHO_REPLY,
    ICMPV6_ECHO_REPLY,
    build_echo_request,
    build_echo_request6,
    internet_checksum,
    parse_echo_reply,
)


def _fix4(packet: bytearray) -> None:
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < max(ihl, 20) + 8:
        return
    packet[10:12] = b"\x00\x00"
    packet[10:12] = struct.pack("!H", internet_checksum(bytes(packet[:ihl])))
    total = struct.unpack_from("!H", packet, 2)[0]
    icmp = packet[ihl:total]
    if len(icmp) >= 8:
        icmp[2:4] = b"\x00\x00"
        icmp[2:4] = struct.pack("!H", internet_checksum(bytes(icmp)))
        packet[ihl:total] = icmp


def _fix6(packet: bytearray) -> None:
    if len(packet) < 48:
        return
    length = struct.unpack_from("!H", packet, 4)[0]
    icmp = packet[40 : 40 + length]
    if len(icmp) < 8:
        return
    pseudo = bytes(packet[8:40]) + struct.pack("!I3xB", length, 58)
    icmp[2:4] = b"\x00\x00"
    icmp[2:4] = struct.pack("!H", internet_checksum(pseudo + bytes(icmp)))
    packet[40 : 40 + length] = icmp


def fix_checksums(data: bytes) -> bytes:
    """``data`` with its IPv4 header and ICMP(v6) checksums recomputed where it can be."""
    packet = bytearray(data)
    if packet and packet[0] >> 4 == 4:
        _fix4(packet)
    elif packet and packet[0] >> 4 == 6:
        _fix6(packet)
    return bytes(packet)


def _mutator(sample: bytes, rng: random.Random, samples: Sequence[bytes]) -> bytes:
    data = mutate(sample, rng, samples)
    return fix_checksums(data) if rng.random() < 0.7 else data


def _run(data: bytes) -> None:
    parse_echo_reply(data)


def samples() -> tuple[bytes, ...]:
    v4 = bytearray(
        build_echo_request(
            ipaddress.IPv4Address("10.8.0.1"), ipaddress.IPv4Address("10.8.0.2"), 7, 1
        )
    )
    v4[20] = ICMP_ECHO_REPLY
    v6 = bytearray(
        build_echo_request6(
            ipaddress.IPv6Address("fd00::1"), ipaddress.IPv6Address("fd00::2"), 7, 1
        )
    )
    v6[40] = ICMPV6_ECHO_REPLY
    result = (fix_checksums(bytes(v4)), fix_checksums(bytes(v6)))
    assert all(parse_echo_reply(p) is not None for p in result)
    return result


def targets() -> list[Target]:
    return [Target("icmp-echo-reply", samples(), _run, mutator=_mutator, expected=())]
