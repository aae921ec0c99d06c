"""The "OpenVPN Static key V1" file and its key directions (docs §3.5).

How this works: the file holds 256 bytes of hex between two marker lines. They form two
128-byte ``struct key``s, ``keys[i] = cipher[64] || hmac[64]``. Which of the two a side sends
with depends on the key direction: NORMAL sends with keys[0] and receives with keys[1],
INVERSE the opposite, BIDIRECTIONAL uses keys[0] both ways. A client's tls-auth direction is
its ``key-direction`` option (1 = INVERSE, 0 = NORMAL, absent = BIDIRECTIONAL); tls-crypt and
tls-crypt-v2 ignore the option and always use INVERSE on the client.

Each primitive then takes a *prefix* of its 64-byte slot (32 bytes for AES-256, the digest
length for an HMAC); that slicing is done by the users of ``DirectionalKeys``.
"""

from __future__ import annotations

import string

import attrs

STATIC_KEY_LEN = 256
"""Bytes in a static key file: two ``struct key`` of cipher[64] || hmac[64]."""
SLOT_LEN = 64
"""Bytes in one cipher or hmac slot."""

BEGIN_MARKER = "-----BEGIN OpenVPN Static key V1-----"
END_MARKER = "-----END OpenVPN Static key V1-----"

_HEX_DIGITS = frozenset(string.hexdigits)
_REGENERATE = "regenerate it with `openvpn --genkey secret FILE`"


def parse_static_key(text: str) -> bytes:
    """Return the 256 key bytes of an "OpenVPN Static key V1" block in ``text``.

    Text outside the markers (comments) is ignored, whitespace inside is ignored
    (docs §3.5). Raises ``ValueError`` saying what is wrong with the text.
    """
    begin = text.find(BEGIN_MARKER)
    if begin < 0:
        raise ValueError(
            f"not an OpenVPN static key: the line {BEGIN_MARKER!r} is missing "
            "(is this a tls-crypt-v2 client key or a certificate instead?)"
        )
    body_start = begin + len(BEGIN_MARKER)
    end = text.find(END_MARKER, body_start)
    if end < 0:
        raise ValueError(
            f"OpenVPN static key is truncated: the line {END_MARKER!r} is missing; "
            "copy the whole key block"
        )
    digits: list[str] = []
    for lineno, line in enumerate(text[body_start:end].splitlines(), start=1):
        for char in line:
            if char.isspace():
                continue
            if char not in _HEX_DIGITS:
                raise ValueError(
                    f"OpenVPN static key: line {lineno} after the BEGIN marker contains "
                    f"the non-hex character {char!r}; the key must be hexadecimal only"
                )
            digits.append(char)
    if len(digits) % 2:
        raise ValueError(
            "OpenVPN static key: odd number of hex digits; the key is damaged, " + _REGENERATE
        )
    key = bytes.fromhex("".join(digits))
    if len(key) != STATIC_KEY_LEN:
        raise ValueError(
            f"OpenVPN static key: expected {STATIC_KEY_LEN} bytes between the markers, "
            f"found {len(key)}; the key is damaged or truncated, " + _REGENERATE
        )
    return key


def format_static_key(key: bytes) -> str:
    """Write ``key`` as an "OpenVPN Static key V1" block, 16 bytes per line."""
    if len(key) != STATIC_KEY_LEN:
        raise ValueError(f"a static key has {STATIC_KEY_LEN} bytes, not {len(key)}")
    lines = [BEGIN_MARKER]
    lines += [key[i : i + 16].hex() for i in range(0, STATIC_KEY_LEN, 16)]
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


@attrs.frozen(repr=False)
class DirectionalKeys:
    """The four 64-byte slots one side uses, already sorted by direction (§3.5).

    ``repr`` is deliberately opaque: key material must never reach a log line.
    """

    send_cipher: bytes
    """Cipher slot (64 bytes) for packets we send."""
    send_hmac: bytes
    """HMAC slot (64 bytes) for packets we send."""
    recv_cipher: bytes
    """Cipher slot (64 bytes) for packets we receive."""
    recv_hmac: bytes
    """HMAC slot (64 bytes) for packets we receive."""

    def __repr__(self) -> str:
        return "DirectionalKeys(<hidden>)"

    def inverse(self) -> DirectionalKeys:
        """The peer's view of the same keys (send and receive swapped)."""
        return DirectionalKeys(
            send_cipher=self.recv_cipher,
            send_hmac=self.recv_hmac,
            recv_cipher=self.send_cipher,
            recv_hmac=self.send_hmac,
        )


def _slots(key: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """keys[0].cipher, keys[0].hmac, keys[1].cipher, keys[1].hmac (§3.5 table)."""
    if len(key) != STATIC_KEY_LEN:
        raise ValueError(f"a static key has {STATIC_KEY_LEN} bytes, not {len(key)}")
    return key[0:64], key[64:128], key[128:192], key[192:256]


def _normal(key: bytes) -> DirectionalKeys:
    c0, h0, c1, h1 = _slots(key)
    return DirectionalKeys(send_cipher=c0, send_hmac=h0, recv_cipher=c1, recv_hmac=h1)


def client_tls_auth_keys(key: bytes, key_direction: int | None) -> DirectionalKeys:
    """The client's tls-auth keys for ``key-direction`` 0, 1 or None (§3.5 table)."""
    if key_direction is None:
        # BIDIRECTIONAL: keys[0] both ways.
        c0, h0, _, _ = _slots(key)
        return DirectionalKeys(send_cipher=c0, send_hmac=h0, recv_cipher=c0, recv_hmac=h0)
    if key_direction == 0:
        return _normal(key)
    if key_direction == 1:
        return _normal(key).inverse()
    raise ValueError(f"key-direction must be 0 or 1, not {key_direction!r}")


def client_tls_crypt_keys(key: bytes) -> DirectionalKeys:
    """The client's tls-crypt keys: always INVERSE, whatever key-direction says (§3.5)."""
    return _normal(key).inverse()
