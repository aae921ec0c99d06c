"""Compression framing without compression (docs §6.4, §6.10.6), and its place in the
datachannel core: framed before encryption, unframed after decryption and before the ping
check; a compressed packet from the server is never passed up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpnstack.config import parse_config
from vpnstack.core.datachannel.channel import DataChannelCore
from vpnstack.core.datachannel.compression import frame, frame_batch, unframe
from vpnstack.core.datachannel.crypto import PING_PAYLOAD, DataCrypto, make_data_crypto
from vpnstack.core.datachannel.keyring import KeyRing
from vpnstack.core.shared.ciphers import COMPRESSION_FRAMINGS
from vpnstack.core.shared.framing import FRAMINGS, Framing, compresses, framing_of
from vpnstack.core.tlssession.datakeys import split_key2
from vpnstack.errors import ConfigError, RemoteProtocolError
from vpnstack.lab.pki import Pki

IPV4 = (
    bytes.fromhex("4500001c00000000400100000a0800010a080002") + b"\x08\x00\xf7\xff\x00\x00\x00\x00"
)


def test_comp_lzo_prefixes_0xfa() -> None:
    assert frame(IPV4, "comp-lzo") == b"\xfa" + IPV4
    assert unframe(b"\xfa" + IPV4, "comp-lzo") == IPV4


def test_stub_swaps_the_first_byte_to_the_end() -> None:
    framed = frame(IPV4, "stub")
    assert framed == b"\xfb" + IPV4[1:] + b"\x45"
    assert framed[0] == 0xFB and framed[-1] == 0x45 and len(framed) == len(IPV4) + 1
    assert unframe(framed, "stub") == IPV4
    assert frame(b"\x45", "stub") == b"\xfb\x45"
    assert unframe(b"\xfb\x45", "stub") == b"\x45"
    assert unframe(b"\xfb", "stub") == b""


def test_stub_v2_escapes_only_a_leading_0x50() -> None:
    assert frame(IPV4, "stub-v2") == IPV4  # 0x45: nothing to escape
    assert frame(b"\x50\x01\x02", "stub-v2") == b"\x50\x00\x50\x01\x02"
    assert frame(b"\x50", "stub-v2") == b"\x50\x00\x50"
    assert frame(b"\x01\x50", "stub-v2") == b"\x01\x50"
    assert unframe(b"\x50\x00\x50\x01\x02", "stub-v2") == b"\x50\x01\x02"
    assert unframe(b"\x50\x00", "stub-v2") == b""
    assert unframe(IPV4, "stub-v2") == IPV4


def test_no_framing_and_empty_payloads() -> None:
    assert frame(IPV4, None) == IPV4 and unframe(IPV4, None) == IPV4
    for mode in FRAMINGS:
        assert frame(b"", mode) == b"" and unframe(b"", mode) == b""
    batch = [IPV4, b"\x50x"]
    assert frame_batch(batch, None) is batch
    assert frame_batch(batch, "stub-v2") == [IPV4, b"\x50\x00\x50x"]


@given(mode=st.sampled_from(FRAMINGS), payload=st.binary(max_size=64))
def test_unframe_inverts_frame(mode: str, payload: bytes) -> None:
    assert unframe(frame(payload, mode), mode) == payload


@pytest.mark.parametrize(
    ("mode", "packet", "algorithm"),
    [
        ("comp-lzo", b"\x66lzo data", "LZO"),
        ("stub", b"\x69lz4 data", "LZ4"),
        ("stub", b"\x66lzo data", "LZO"),
        ("stub-v2", b"\x50\x01lz4 data", "LZ4"),
        ("stub-v2", b"\x50\x02lzo data", "LZO"),
        ("stub-v2", b"\x50\x03snappy", "Snappy"),
    ],
)
def test_a_compressed_packet_is_refused_clearly(mode: str, packet: bytes, algorithm: str) -> None:
    with pytest.raises(ConfigError) as info:
        unframe(packet, mode)
    message = str(info.value)
    assert f"compressed with {algorithm}" in message
    assert "compress stub-v2" in message and "allow-compression" in message


@pytest.mark.parametrize(
    ("mode", "packet"),
    [
        ("comp-lzo", b"\xfbx"),
        ("comp-lzo", IPV4),
        ("stub", b"\xfax"),
        ("stub-v2", b"\x50"),
        ("stub-v2", b"\x50\x07x"),
    ],
)
def test_an_unknown_header_is_a_protocol_error(mode: str, packet: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        unframe(packet, mode)
    assert info.value.reason == "bad-compression-header"


@pytest.mark.parametrize(
    ("directive", "mode", "really"),
    [
        ("comp-lzo", "comp-lzo", True),
        ("comp-lzo no", "comp-lzo", False),
        ("comp-lzo yes", "comp-lzo", True),
        ("comp-lzo adaptive", "comp-lzo", True),
        ("compress", "stub", False),
        ("compress stub", "stub", False),
        ("compress lz4", "stub", True),
        ("compress lzo", "comp-lzo", True),
        ("compress stub-v2", "stub-v2", False),
        ("compress lz4-v2", "stub-v2", True),
    ],
)
def test_directive_to_framing(directive: str, mode: str, really: bool) -> None:
    assert framing_of(directive) == mode
    assert compresses(directive) is really


def test_unknown_directives() -> None:
    for directive in ("compress migrate", "compress zstd", "comp-lzo maybe", "tun-mtu 1500"):
        with pytest.raises(ValueError, match="compression"):
            framing_of(directive)


# --- in the datachannel core ---------------------------------------------------------------

KEY2 = bytes((37 * i + 11) % 256 for i in range(256))


def core_and_server(cipher: str, compression: str | None) -> tuple[DataChannelCore, DataCrypto]:
    keys = split_key2(
        KEY2, cipher=cipher, key_id=0, peer_id=3, auth="SHA1", compression=compression
    )
    core = DataChannelCore(KeyRing(tran_window=3600.0, hand_window=60.0, reneg_sec=3600.0))
    core.install_keys(keys, 0.0)
    return core, make_data_crypto(keys, role="server")


@pytest.mark.parametrize("cipher", ["AES-256-GCM", "AES-128-CBC"])
@pytest.mark.parametrize("mode", FRAMINGS)
def test_core_frames_before_encrypting_and_unframes_before_the_ping_check(
    cipher: str, mode: str
) -> None:
    core, server = core_and_server(cipher, mode)
    sealed = core.seal([IPV4, b"\x50abc"], 1.0)
    # What the server decrypts is the framed payload.
    assert [server.decrypt(p, 1.0) for p in sealed] == [
        frame(IPV4, mode),
        frame(b"\x50abc", mode),
    ]
    incoming = [
        server.encrypt(frame(PING_PAYLOAD, mode)),
        server.encrypt(frame(b"\x50\x01\x02", mode)),
        server.encrypt(frame(IPV4, mode)),
    ]
    assert core.open(incoming, 2.0) == [b"\x50\x01\x02", IPV4]
    assert core.pings_received == 1


def test_core_without_framing_sends_the_bare_payload() -> None:
    core, server = core_and_server("AES-128-CBC", None)
    assert server.decrypt(core.seal([IPV4], 0.0)[0], 0.0) == IPV4


def test_core_drops_bad_headers_and_ends_on_a_compressed_packet() -> None:
    core, server = core_and_server("AES-256-CBC", "stub-v2")
    bad = server.encrypt(b"\x50\x09junk")
    good = server.encrypt(IPV4)
    assert core.open([bad, good], 1.0) == [IPV4]
    assert core.drops.snapshot() == {"bad-compression-header": 1}
    compressed = server.encrypt(b"\x50\x01" + b"lz4 block")
    with pytest.raises(ConfigError, match="LZ4"):
        core.open([compressed], 2.0)
    assert core.drops.snapshot()["compressed"] == 1


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "stored", "warns"),
    [
        ("comp-lzo no", "comp-lzo no", False),
        ("comp-lzo", "comp-lzo", True),
        ("compress", "compress", False),
        ("compress stub", "compress stub", False),
        ("compress stub-v2", "compress stub-v2", False),
        ("compress lz4-v2", "compress lz4-v2", True),
    ],
)
def test_config_accepts_the_framings(lab_pki: Pki, line: str, stored: str, warns: bool) -> None:
    text = f"client\nremote h\nca {lab_pki.root_ca}\nauth-user-pass\n{line}\n"
    cfg = parse_config(text, source="c.ovpn")
    assert cfg.data.compression == stored
    assert any("does not compress" in w for w in cfg.warnings) is warns
    assert parse_config(text.replace(line, ""), source="c.ovpn").data.compression is None


def test_framing_modes_are_one_enum_read_as_their_names() -> None:
    assert [str(f) for f in Framing] == ["comp-lzo", "stub", "stub-v2"]
    assert framing_of("compress lz4-v2") is Framing.STUB_V2
    assert framing_of("comp-lzo no") is Framing.COMP_LZO
    assert frozenset({"comp-lzo", "stub", "stub-v2"}) == COMPRESSION_FRAMINGS
