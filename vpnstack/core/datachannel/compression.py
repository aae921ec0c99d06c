"""Compression framing without compression (docs §6.4, §6.10.6).

How this works: when ``comp-lzo`` or ``compress`` is configured or pushed, every data-channel
plaintext carries a compression header, even though nothing is compressed. vpnstack never
compresses, so it always sends the "uncompressed" form of the framing; it removes the framing
of received packets after decryption and *before* the ping/OCC check. Three framings exist:

    mode       directives                          uncompressed packet on the wire
    comp-lzo   comp-lzo [yes|no|adaptive],         0xFA || payload
               compress lzo
    stub       compress, compress stub,            0xFB || payload[1:] || payload[0]  ("swap")
               compress lz4
    stub-v2    compress stub-v2, compress lz4-v2   payload, unless payload[0] == 0x50:
                                                   then 0x50 0x00 || payload

A server that really compresses (``comp-lzo yes``, ``compress lz4``... with
``allow-compression yes``) sends some packets compressed: 0x66 (LZO), 0x69 (LZ4, swapped),
or 0x50 0x01/0x02/0x03 (v2 LZ4/LZO/Snappy). vpnstack cannot decompress them, so
``unframe`` raises ``ConfigError`` naming the algorithm and the server-side fix; forwarding
such a packet would put garbage on the tun. Empty payloads carry no framing (as in OpenVPN).
"""

from __future__ import annotations

from vpnstack.core.shared.drops import DropReason
from vpnstack.core.shared.framing import COMP_LZO, STUB, STUB_V2, Framing
from vpnstack.errors import ConfigError, LocalError, RemoteProtocolError

NO_COMPRESS_BYTE = 0xFA
"""comp-lzo / compress lzo: an uncompressed packet follows."""
NO_COMPRESS_BYTE_SWAP = 0xFB
"""compress stub / lz4: uncompressed, first byte moved to the end."""
LZO_COMPRESS_BYTE = 0x66
LZ4_COMPRESS_BYTE = 0x69
V2_INDICATOR = 0x50
"""compress stub-v2 / lz4-v2: a header of two bytes follows when the payload starts so."""
V2_UNCOMPRESSED = 0x00
_V2_ALGORITHMS = {0x01: "LZ4", 0x02: "LZO", 0x03: "Snappy"}

_V1_HEADER: dict[Framing, int] = {COMP_LZO: NO_COMPRESS_BYTE, STUB: NO_COMPRESS_BYTE_SWAP}
_V1_COMPRESSED = {LZO_COMPRESS_BYTE: "LZO", LZ4_COMPRESS_BYTE: "LZ4"}

def frame(payload: bytes, mode: Framing | None) -> bytes:
    """``payload`` with the uncompressed framing of ``mode`` (None: unchanged)."""
    if mode is None or not payload:
        return payload
    if mode == STUB_V2:
        # §6.4: escape a leading 0x50 so it is not read as a v2 header.
        return b"\x50\x00" + payload if payload[0] == V2_INDICATOR else payload
    if mode == COMP_LZO:
        return b"\xfa" + payload
    if mode == STUB:
        # §6.4, §6.10.6: the first byte moves to the end, 0xFB takes its place.
        return b"".join((b"\xfb", payload[1:], payload[:1]))
    raise LocalError(f"unknown compression framing {mode!r}")


def frame_batch(payloads: list[bytes], mode: Framing | None) -> list[bytes]:
    """``frame`` for each payload (the same list when ``mode`` is None)."""
    if mode is None:
        return payloads
    return [frame(payload, mode) for payload in payloads]


def unframe(packet: bytes, mode: Framing | None) -> bytes:
    """The payload inside the framing of ``mode`` (None: unchanged).

    Raises ``RemoteProtocolError(DropReason.BAD_COMPRESSION_HEADER)`` for a header that belongs to
    no known form, and ``ConfigError`` for a compressed packet (see the module docstring).
    """
    if mode is None or not packet:
        return packet
    head = packet[0]
    if mode == STUB_V2:
        if head != V2_INDICATOR:
            return packet
        if len(packet) < 2:
            raise RemoteProtocolError(DropReason.BAD_COMPRESSION_HEADER, "v2 header cut short")
        method = packet[1]
        if method == V2_UNCOMPRESSED:
            return packet[2:]
        if method in _V2_ALGORITHMS:
            raise compressed_packet_error(_V2_ALGORITHMS[method], mode)
        raise RemoteProtocolError(DropReason.BAD_COMPRESSION_HEADER, f"v2 method {method}")
    expected = _V1_HEADER.get(mode)
    if expected is None:
        raise LocalError(f"unknown compression framing {mode!r}")
    if head == expected:
        if mode == COMP_LZO:
            return packet[1:]
        # Undo the swap: the last byte goes back to the front (a lone 0xFB is empty).
        return packet[-1:] + packet[1:-1] if len(packet) > 1 else b""
    if head in _V1_COMPRESSED:
        raise compressed_packet_error(_V1_COMPRESSED[head], mode)
    raise RemoteProtocolError(DropReason.BAD_COMPRESSION_HEADER, f"0x{head:02x} in {mode} framing")


def compressed_packet_error(algorithm: str, mode: Framing) -> ConfigError:
    """The error for a received compressed packet: what happened and what to change."""
    return ConfigError(
        f"the server sent a packet compressed with {algorithm} ({mode} framing), but vpnstack "
        "does not support compression and never decompresses; configure the server with "
        "'compress stub-v2' (or 'compress migrate'), or with 'allow-compression no' or "
        "'asym' so that it stops compressing what it sends"
    )
