"""The key-method 2 messages exchanged inside TLS (docs §5.2, §5.8.5).

How this works: once TLS is up, the client writes one TLS record holding its random
material (pre_master, random1, random2), the OCC options string, optional username and
password, and the peer-info block; the server answers with the same layout minus
``pre_master``. The randoms feed the PRF key derivation (§5.3 A); with EKM only the TLS
exporter matters, but the exchange is still required.

String encoding (§5.2): ``uint16`` length *including* the trailing NUL, then the bytes and
the NUL; an absent string is just ``00 00``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

import attrs

from vpnstack.errors import ConfigError, DropReason, RemoteProtocolError

KEY_METHOD_2 = 2
PRE_MASTER_LEN = 48
RANDOM_LEN = 32
MAX_MESSAGE = 2048  # TLS_CHANNEL_BUF_SIZE (§4): the server reads at most this much
MAX_OPTIONS = 512  # OCC options string including NUL (§5.2)


def _exact_len(n: int) -> Callable[[object, attrs.Attribute[bytes], bytes], None]:
    def check(_: object, attribute: attrs.Attribute[bytes], value: bytes) -> None:
        if len(value) != n:
            raise ValueError(f"{attribute.name} must be {n} bytes")

    return check


@attrs.frozen(repr=False)
class KeySource:
    """Our random material for one key id (§5.2). ``repr`` hides it."""

    pre_master: bytes = attrs.field(validator=_exact_len(PRE_MASTER_LEN))
    """48 random bytes, sent by the client only."""
    random1: bytes = attrs.field(validator=_exact_len(RANDOM_LEN))
    """32 random bytes for the PRF master secret."""
    random2: bytes = attrs.field(validator=_exact_len(RANDOM_LEN))
    """32 random bytes for the PRF key expansion."""

    @classmethod
    def generate(cls, randbytes: Callable[[int], bytes] = os.urandom) -> KeySource:
        """Fresh random material."""
        return cls(randbytes(PRE_MASTER_LEN), randbytes(RANDOM_LEN), randbytes(RANDOM_LEN))

    def __repr__(self) -> str:
        return "KeySource(<secret>)"


@attrs.frozen
class ServerKeyMethod2:
    """The parsed server key-method-2 message (§5.2: no pre_master)."""

    random1: bytes
    """Server random1 (32 bytes)."""
    random2: bytes
    """Server random2 (32 bytes)."""
    options: str
    """The server's OCC options string (informational)."""


def encode_string(value: str | None) -> bytes:
    """A §5.2 string: ``uint16 len(incl. NUL) || bytes || 00``; None (absent) is ``00 00``.

    An empty string is *present*: ``00 01 00``, as openvpn's ``write_string`` writes it. That
    matters for an auth-token held by a certificate-only client: the server treats length 0
    as "no username" but ``00 01 00`` as "provided" (§5.2).
    """
    if value is None:
        return b"\x00\x00"
    raw = value.encode("utf-8") + b"\x00"
    if len(raw) > 0xFFFF:
        raise ConfigError("a key-method 2 string is longer than 65534 bytes")
    return struct.pack("!H", len(raw)) + raw


def build_client_message(
    source: KeySource,
    *,
    options: str,
    username: str | None,
    password: str | None,
    peer_info: str | None,
) -> bytes:
    """The client's key-method-2 message (§5.2), to be written as one TLS record."""
    if len(options.encode("utf-8")) + 1 > MAX_OPTIONS:
        raise ConfigError("the OCC options string is longer than 512 bytes")
    if (username is None) != (password is None):
        raise ConfigError("auth-user-pass needs both a username and a password")
    message = b"".join(
        [
            b"\x00\x00\x00\x00",  # §5.2: literal zero uint32
            bytes([KEY_METHOD_2]),
            source.pre_master,
            source.random1,
            source.random2,
            encode_string(options),
            # §5.2: username/password only with user/pass auth, else two absent strings.
            encode_string(username),
            encode_string(password),
            encode_string(peer_info),
        ]
    )
    if len(message) > MAX_MESSAGE:
        raise ConfigError(
            f"the key-method 2 message would be {len(message)} bytes, over the 2048-byte limit "
            "of the server; shorten the username/password"
        )
    return message


def _read_string(data: bytes, offset: int, what: str) -> tuple[str, int]:
    if offset + 2 > len(data):
        raise RemoteProtocolError(DropReason.KEY_METHOD_2_TRUNCATED, f"no length for {what}")
    (length,) = struct.unpack_from("!H", data, offset)
    offset += 2
    if length == 0:
        return "", offset
    end = offset + length
    if end > len(data):
        raise RemoteProtocolError(DropReason.KEY_METHOD_2_TRUNCATED, f"{what} needs {length} bytes")
    raw = data[offset:end]
    if raw[-1] != 0:
        raise RemoteProtocolError(DropReason.KEY_METHOD_2_STRING_NOT_NUL_TERMINATED, what)
    return raw[:-1].decode("utf-8", "replace"), end


def parse_server_message(data: bytes) -> ServerKeyMethod2:
    """Parse the server's key-method-2 message (§5.2: random1 at 5, random2 at 37, options at 69).

    What follows the options string (three empty strings from a 2.6 server) is ignored.
    """
    if len(data) < 5 + 2 * RANDOM_LEN + 2:
        raise RemoteProtocolError(DropReason.KEY_METHOD_2_TRUNCATED, f"{len(data)} bytes")
    if data[4] & 0x0F != KEY_METHOD_2:  # §5.2: the receiver checks the low 4 bits
        raise RemoteProtocolError(DropReason.NOT_KEY_METHOD_2, f"method byte {data[4]:#04x}")
    random1 = data[5 : 5 + RANDOM_LEN]
    random2 = data[5 + RANDOM_LEN : 5 + 2 * RANDOM_LEN]
    options, _ = _read_string(data, 5 + 2 * RANDOM_LEN, "options")
    return ServerKeyMethod2(random1=random1, random2=random2, options=options)
