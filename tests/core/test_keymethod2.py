"""Key-method 2 byte layout (docs §5.2) and the peer-info/OCC strings (§5.4)."""

from __future__ import annotations

import pytest

from tests.core.tls_helpers import with_fields
from vpnstack.config import Config, Remote, TLSConfig, TransportConfig
from vpnstack.core.tlssession.keymethod2 import (
    KeySource,
    build_client_message,
    encode_string,
    parse_server_message,
)
from vpnstack.core.tlssession.peerinfo import IV_PROTO, build_peer_info, occ_options_string
from vpnstack.core.tlssession.settings import SessionSettings
from vpnstack.errors import ConfigError, RemoteProtocolError
from vpnstack.settings import session_settings

SOURCE = KeySource(bytes(range(48)), b"\xaa" * 32, b"\xbb" * 32)


def test_string_encoding() -> None:
    assert encode_string(None) == b"\x00\x00"
    # None is absent: 00 00, no NUL (§5.8.5, openvpn's write_empty_string). "" is present but
    # empty: openvpn's write_string writes 00 01 00, which the server counts as "provided".
    assert encode_string("") == b"\x00\x01\x00"
    assert encode_string("ab") == b"\x00\x03ab\x00"  # length counts the NUL


def test_client_message_without_credentials() -> None:
    message = build_client_message(
        SOURCE, options="V4,x", username=None, password=None, peer_info="IV_PLAT=linux\n"
    )
    expected = (
        bytes.fromhex("00000000 02")
        + bytes(range(48))
        + b"\xaa" * 32
        + b"\xbb" * 32
        + bytes.fromhex("0005") + b"V4,x\x00"
        + bytes.fromhex("0000")  # username absent
        + bytes.fromhex("0000")  # password absent
        + bytes.fromhex("000f") + b"IV_PLAT=linux\n\x00"
    )
    assert message == expected
    # §5.2 offsets: pre_master at 5, random1 at 53, random2 at 85, options at 117.
    assert message[5:53] == bytes(range(48))
    assert message[53:85] == b"\xaa" * 32
    assert message[85:117] == b"\xbb" * 32
    assert message[117:119] == b"\x00\x05"


def test_client_message_with_credentials() -> None:
    message = build_client_message(
        SOURCE, options="V4", username="alice", password="s3cret", peer_info=None
    )
    tail = message[117:]
    assert tail == (
        b"\x00\x03V4\x00" + b"\x00\x06alice\x00" + b"\x00\x07s3cret\x00" + b"\x00\x00"
    )


def test_client_message_limits() -> None:
    with pytest.raises(ConfigError, match="2048"):
        build_client_message(SOURCE, options="V4", username="u", password="p" * 2000, peer_info="")
    with pytest.raises(ConfigError, match="512"):
        build_client_message(SOURCE, options="x" * 512, username=None, password=None, peer_info="")
    with pytest.raises(ValueError, match="48"):
        KeySource(b"x", b"\x00" * 32, b"\x00" * 32)


def test_key_source_repr_hides_secrets() -> None:
    assert "aa" not in repr(SOURCE).lower()
    fresh = KeySource.generate()
    assert len(fresh.pre_master) == 48 and fresh.random1 != fresh.random2


def server_message(options: bytes = b"V4,dev-type tun\x00", method: int = 2) -> bytes:
    return (
        b"\x00\x00\x00\x00"
        + bytes([method])
        + b"\x11" * 32
        + b"\x22" * 32
        + len(options).to_bytes(2, "big")
        + options
        + b"\x00\x00\x00\x00\x00\x00"  # a 2.6 server's three empty strings
    )


def test_parse_server_message() -> None:
    parsed = parse_server_message(server_message())
    assert parsed.random1 == b"\x11" * 32
    assert parsed.random2 == b"\x22" * 32
    assert parsed.options == "V4,dev-type tun"


def test_parse_server_message_checks_low_nibble_only() -> None:
    assert parse_server_message(server_message(method=0x12)).random1 == b"\x11" * 32
    with pytest.raises(RemoteProtocolError, match="not-key-method-2"):
        parse_server_message(server_message(method=1))


@pytest.mark.parametrize(
    "data",
    [
        server_message()[:40],
        server_message(options=b"V4")[:-6],  # string without NUL
        server_message()[:71] + b"\xff\xff",  # length beyond the end
    ],
)
def test_parse_server_message_rejects_malformed(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_server_message(data)


def cfg(**kw: object) -> SessionSettings:
    config = Config(
        source="<t>", transport=TransportConfig(remotes=(Remote("h"),)), tls=TLSConfig(ca=b"")
    )
    return session_settings(with_fields(config, **kw))


def peer_info_dict(text: str) -> dict[str, str]:
    assert text.endswith("\n")
    return dict(line.split("=", 1) for line in text.splitlines())


def test_peer_info_bits_and_ciphers() -> None:
    info = peer_info_dict(build_peer_info(cfg()))
    proto = int(info["IV_PROTO"])
    assert proto == IV_PROTO
    # 128: cc-exit, 256: AUTH_FAILED,TEMP, 512: dynamic tls-crypt (§3.10), 1024: epoch data
    assert proto == 2 | 4 | 8 | 16 | 64 | 128 | 256 | 512 | 1024
    assert proto & 1 == 0  # reserved
    assert proto & 2  # DATA_V2 must be set when any other bit is (§5.8.9)
    for unimplemented in (32, 2048, 4096):
        assert not proto & unimplemented
    assert info["IV_CIPHERS"] == "AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305"
    assert info["IV_NCP"] == "2"
    assert info["IV_PLAT"] == "linux"
    assert info["IV_MTU"] == "1600"
    assert info["IV_TCPNL"] == "1"
    assert info["IV_VER"]
    assert "ID" not in info  # no 2.7 asymmetric peer-id (§5.8.12)


def test_peer_info_without_ekm_drops_only_bit_3() -> None:
    proto = int(peer_info_dict(build_peer_info(cfg(tls__ekm=False)))["IV_PROTO"])
    assert proto == 2 | 4 | 16 | 64 | 128 | 256 | 512 | 1024  # dyn tls-crypt uses EKM anyway


def test_peer_info_without_both_gcms() -> None:
    info = peer_info_dict(build_peer_info(cfg(data__ciphers=("AES-256-GCM", "AES-256-CBC"))))
    assert info["IV_CIPHERS"] == "AES-256-GCM:AES-256-CBC"
    assert "IV_NCP" not in info


def test_occ_string() -> None:
    assert occ_options_string(cfg()) == (
        "V4,dev-type tun,link-mtu 1549,tun-mtu 1500,proto UDPv4,cipher AES-256-GCM,"
        "auth [null-digest],keysize 256,key-method 2,tls-client"
    )
    tcp = occ_options_string(
        cfg(data__cipher="AES-128-GCM", transport__remotes=(Remote("h", proto="tcp"),))
    )
    assert "proto TCPv4_CLIENT" in tcp and "keysize 128" in tcp and "cipher AES-128-GCM" in tcp
    cbc = occ_options_string(cfg(data__cipher="AES-256-CBC", data__auth="SHA256"))
    assert ",auth SHA256," in cbc
    for text in (tcp, cbc):
        assert "comp-lzo" not in text and len(text) < 512
