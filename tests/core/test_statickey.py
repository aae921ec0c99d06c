"""Static key file parsing and key directions (docs §3.5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpnstack.core.controlchannel.statickey import (
    client_tls_auth_keys,
    client_tls_crypt_keys,
    format_static_key,
    parse_static_key,
)

# Each byte is its own index, so every slice is recognisable.
KEY = bytes(range(256))

# Written out by hand in the file format (what `openvpn --genkey secret` produces),
# with a comment header as real files have.
KEY_FILE = (
    "#\n# 2048 bit OpenVPN static key\n#\n"
    "-----BEGIN OpenVPN Static key V1-----\n"
    + "".join(
        "".join(f"{b:02x}" for b in range(row * 16, row * 16 + 16)) + "\n" for row in range(16)
    )
    + "-----END OpenVPN Static key V1-----\n"
)


def test_parse_reads_256_bytes_in_file_order() -> None:
    assert parse_static_key(KEY_FILE) == KEY


def test_parse_ignores_whitespace_and_case_inside() -> None:
    body = KEY.hex().upper()
    text = (
        "-----BEGIN OpenVPN Static key V1-----\r\n  "
        + " ".join(body[i : i + 7] for i in range(0, len(body), 7))
        + "\t\r\n-----END OpenVPN Static key V1-----"
    )
    assert parse_static_key(text) == KEY


def test_format_is_sixteen_bytes_per_line_and_parses_back() -> None:
    text = format_static_key(KEY)
    lines = text.splitlines()
    assert lines[0] == "-----BEGIN OpenVPN Static key V1-----"
    assert lines[-1] == "-----END OpenVPN Static key V1-----"
    assert lines[1:-1] == [KEY[i : i + 16].hex() for i in range(0, 256, 16)]
    assert text == KEY_FILE.split("#\n", 3)[-1]


@given(st.binary(min_size=256, max_size=256))
def test_format_parse_round_trip(key: bytes) -> None:
    assert parse_static_key(format_static_key(key)) == key


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("just text", "BEGIN OpenVPN Static key V1"),
        ("-----BEGIN OpenVPN Static key V1-----\n" + KEY.hex(), "END OpenVPN Static key V1"),
        (KEY_FILE.replace("0001", "00zz", 1), "non-hex character 'z'"),
        (KEY_FILE.replace("0001", "001", 1), "odd number of hex digits"),
        (KEY_FILE.replace("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\n", ""), "found 240"),
        (KEY_FILE.replace("0001", "000100", 1), "found 257"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_static_key(text)


def test_tls_auth_key_direction_1_is_inverse() -> None:
    # §3.5 table: key-direction 1 sends with hmac [192..) and receives with [64..).
    keys = client_tls_auth_keys(KEY, 1)
    assert keys.send_hmac == bytes(range(192, 256))
    assert keys.recv_hmac == bytes(range(64, 128))
    assert keys.send_cipher == bytes(range(128, 192))
    assert keys.recv_cipher == bytes(range(0, 64))


def test_tls_auth_key_direction_0_is_normal() -> None:
    keys = client_tls_auth_keys(KEY, 0)
    assert keys.send_hmac == bytes(range(64, 128))
    assert keys.recv_hmac == bytes(range(192, 256))


def test_tls_auth_without_direction_uses_keys0_both_ways() -> None:
    keys = client_tls_auth_keys(KEY, None)
    assert keys.send_hmac == keys.recv_hmac == bytes(range(64, 128))
    assert keys.send_cipher == keys.recv_cipher == bytes(range(0, 64))


def test_tls_auth_rejects_other_directions() -> None:
    with pytest.raises(ValueError, match="key-direction"):
        client_tls_auth_keys(KEY, 2)


def test_tls_crypt_client_is_inverse() -> None:
    # §3.5: client sends with Ke [128..160), Ka [192..224); receives with [0..32), [64..96).
    keys = client_tls_crypt_keys(KEY)
    assert keys.send_cipher[:32] == bytes(range(128, 160))
    assert keys.send_hmac[:32] == bytes(range(192, 224))
    assert keys.recv_cipher[:32] == bytes(range(0, 32))
    assert keys.recv_hmac[:32] == bytes(range(64, 96))
    inverse = keys.inverse()
    assert inverse.send_cipher == keys.recv_cipher
    assert inverse.recv_hmac == keys.send_hmac


def test_wrong_key_length_rejected() -> None:
    with pytest.raises(ValueError, match="256"):
        client_tls_crypt_keys(KEY[:128])


def test_repr_hides_key_material() -> None:
    text = repr(client_tls_auth_keys(KEY, 1))
    assert "\\x" not in text
    assert "c0c1" not in text
    assert "<hidden>" in text
