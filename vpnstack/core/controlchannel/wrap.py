"""Control-channel wrapping: none, tls-auth, tls-crypt, tls-crypt-v2 (docs §3.3-3.7, §3.5).

How this works: every wrapping maps a *plain* control packet

    [op|kid 1][own_session_id 8][reliable section]            (§3.3)

to its wire form and back. tls-auth inserts an HMAC and the 8-byte replay field after the
session id (§3.6); tls-crypt inserts the replay field and a 32-byte tag and encrypts the
reliable section with AES-256-CTR, the IV being the first 16 bytes of the tag (§3.7).
tls-crypt-v2 is tls-crypt with the client key Kc, a replay counter starting at 0x0F000000,
and the wrapped key WKc appended, unauthenticated, to opcodes 10 and 11 only (§3.7, §3.9).

The replay field is ``counter(4) || session_time(4)``: the counter starts at 1 and grows on
*every* wrap() (retransmissions and acks included, §3.4/§3.11.3); the time is the session start
time, given by the caller and constant. On receive, authentication comes first, then the
replay check in long form (§6.8), and only then is the plain packet returned.

Dynamic tls-crypt (§3.10): once negotiated, every packet with key id > 0 is wrapped with
tls-crypt under a key exported from key id 0's TLS session (XORed with the original key),
with its own replay counter from 1, whatever the original wrapping; ``DynamicTlsCryptKey``
carries that key from the tlssession to the controlchannel, which picks the wrap by key id.

The objects are sans-I/O: no clock inside (``now`` is passed to unwrap for replay expiry).
``role="server"`` builds the peer's side of the same keys; vpnstack itself is always the
client, the server role exists for tests and loopback peers.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Literal, Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vpnstack.core.controlchannel.statickey import (
    DirectionalKeys,
    client_tls_auth_keys,
    client_tls_crypt_keys,
)
from vpnstack.core.controlchannel.tlscryptv2 import WKC_OPCODES, split_client_key
from vpnstack.core.shared.drops import DropReason
from vpnstack.core.shared.replay import ReplayWindow
from vpnstack.errors import ConfigError, LocalError, RemoteProtocolError

Role = Literal["client", "server"]

HEADER_LEN = 9
"""``op|kid`` plus the 8-byte own session id."""
REPLAY_LEN = 8
"""``replay_id(4) || replay_time(4)`` (§3.4)."""
MIN_RELIABLE_LEN = 1
"""The smallest reliable section: just ``ack_count`` (§3.2)."""
TLS_CRYPT_TAG_LEN = 32
"""HMAC-SHA256 tag of tls-crypt (§3.7)."""
TLS_CRYPT_MTU_RESERVE = 56
"""The §4 "wrap" term for tls-crypt: 8 + 32 + 16 of reserve."""
TLS_CRYPT_V2_INITIAL_COUNTER = 0x0F000000
"""tls-crypt-v2 clients start here so that the first replay id is 0x0F000001 (§3.9)."""
_MAX_COUNTER = 0xFFFFFFFF

_REPLAY = struct.Struct(">II")

# ``--auth`` names (OpenSSL spelling) to hashlib names.
_DIGESTS = {
    "SHA1": "sha1",
    "SHA224": "sha224",
    "SHA256": "sha256",
    "SHA384": "sha384",
    "SHA512": "sha512",
    "SHA512-224": "sha512_224",
    "SHA512-256": "sha512_256",
    "SHA3-224": "sha3_224",
    "SHA3-256": "sha3_256",
    "SHA3-384": "sha3_384",
    "SHA3-512": "sha3_512",
    "MD5": "md5",
}


class ControlWrap(Protocol):
    """One control-channel wrapping; ``plain`` is ``[op|kid][own sid 8][reliable section]``."""

    overhead: int
    """Bytes the wrapping adds to a plain packet on the wire."""
    tls_mtu_reserve: int
    """The "wrap" term of the §4 TLS-bytes-per-packet formula."""

    def wrap(self, plain: bytes) -> bytes:
        """Return the wire form of ``plain``; consumes one replay counter value."""
        ...

    def unwrap(self, wire: bytes, now: float) -> bytes:
        """Authenticate, replay-check and strip ``wire``; raise ``RemoteProtocolError``."""
        ...


def digest_name(auth_digest: str) -> str:
    """The hashlib name of an ``--auth`` digest; ``ConfigError`` if unsupported."""
    name = _DIGESTS.get(auth_digest.upper())
    if name is None:
        supported = ", ".join(sorted(_DIGESTS))
        raise ConfigError(f"unsupported auth digest {auth_digest!r}; use one of {supported}")
    return name


def _check_plain(plain: bytes) -> None:
    if len(plain) < HEADER_LEN + MIN_RELIABLE_LEN:
        raise LocalError(f"a plain control packet has at least 10 bytes, got {len(plain)}")


class _Counter:
    """The per-session send counter of the replay field (§3.4)."""

    def __init__(self, initial: int) -> None:
        self.last = initial

    def next(self) -> int:
        if self.last >= _MAX_COUNTER:
            # §6.8: the long form may only wrap when the clock moved on; a session that sent
            # 4 billion control packets is a bug, not something to handle.
            raise LocalError("control-channel replay counter exhausted")
        self.last += 1
        return self.last


class NoWrap:
    """No tls-auth/tls-crypt: the plain packet is the wire packet (§3.3)."""

    def __init__(self) -> None:
        self.overhead = 0
        self.tls_mtu_reserve = 0

    def wrap(self, plain: bytes) -> bytes:
        """Return ``plain`` unchanged."""
        _check_plain(plain)
        return plain

    def unwrap(self, wire: bytes, now: float) -> bytes:
        """Return ``wire`` unchanged after a length check."""
        if len(wire) < HEADER_LEN + MIN_RELIABLE_LEN:
            raise RemoteProtocolError(DropReason.TOO_SHORT, f"{len(wire)}-byte control packet")
        return bytes(wire)


class TlsAuthWrap:
    """tls-auth: HMAC-<auth> over ``replay || header || reliable`` (§3.6, §3.11.4, §3.11.5)."""

    def __init__(
        self,
        key: bytes,
        key_direction: int | None,
        digest: str,
        session_time: int,
        *,
        role: Role = "client",
    ) -> None:
        keys = client_tls_auth_keys(key, key_direction)
        if role == "server":
            keys = keys.inverse()
        hash_name = digest_name(digest)
        self._hash_name = hash_name
        self.digest_len = hashlib.new(hash_name).digest_size
        # The HMAC key is the first L bytes of the 64-byte slot (§3.5).
        self._send_hmac = hmac.new(keys.send_hmac[: self.digest_len], digestmod=hash_name)
        self._recv_hmac = hmac.new(keys.recv_hmac[: self.digest_len], digestmod=hash_name)
        self._session_time = session_time
        self._counter = _Counter(0)
        self._replay = ReplayWindow()
        self.overhead = self.digest_len + REPLAY_LEN
        self.tls_mtu_reserve = self.digest_len + REPLAY_LEN

    def __repr__(self) -> str:
        return f"TlsAuthWrap(digest={self._hash_name!r})"

    def wrap(self, plain: bytes) -> bytes:
        """``[op|kid][sid][HMAC L][replay 8][reliable]`` (§3.6)."""
        _check_plain(plain)
        replay = _REPLAY.pack(self._counter.next(), self._session_time)
        mac = self._send_hmac.copy()
        mac.update(replay)
        mac.update(plain)
        return plain[:HEADER_LEN] + mac.digest() + replay + plain[HEADER_LEN:]

    def unwrap(self, wire: bytes, now: float) -> bytes:
        """Verify the HMAC, then the replay field (long form), and return the plain packet."""
        length = self.digest_len
        body = HEADER_LEN + length + REPLAY_LEN
        if len(wire) < body + MIN_RELIABLE_LEN:
            raise RemoteProtocolError(DropReason.TOO_SHORT, f"{len(wire)}-byte tls-auth packet")
        received = wire[HEADER_LEN : HEADER_LEN + length]
        replay = wire[HEADER_LEN + length : body]
        plain = wire[:HEADER_LEN] + wire[body:]
        mac = self._recv_hmac.copy()
        mac.update(replay)
        mac.update(plain)
        if not hmac.compare_digest(mac.digest(), received):
            raise RemoteProtocolError(DropReason.HMAC_MISMATCH, "tls-auth HMAC does not verify")
        packet_id, packet_time = _REPLAY.unpack(replay)
        self._replay.check(packet_id, now, packet_time)
        return bytes(plain)


class TlsCryptWrap:
    """tls-crypt: HMAC-SHA256 tag, then AES-256-CTR with IV = tag[0:16] (§3.7, §3.11.7)."""

    def __init__(
        self,
        key: bytes,
        session_time: int,
        initial_counter: int = 0,
        *,
        role: Role = "client",
    ) -> None:
        self.overhead = REPLAY_LEN + TLS_CRYPT_TAG_LEN
        self.tls_mtu_reserve = TLS_CRYPT_MTU_RESERVE
        self._init_keys(client_tls_crypt_keys(key), role)
        self._session_time = session_time
        self._counter = _Counter(initial_counter)
        self._replay = ReplayWindow()

    def _init_keys(self, keys: DirectionalKeys, role: Role) -> None:
        if role == "server":
            keys = keys.inverse()
        # Ke = first 32 bytes of the cipher slot, Ka = first 32 bytes of the hmac slot.
        self._send_ke = algorithms.AES256(keys.send_cipher[:32])
        self._recv_ke = algorithms.AES256(keys.recv_cipher[:32])
        self._send_ka = hmac.new(keys.send_hmac[:32], digestmod="sha256")
        self._recv_ka = hmac.new(keys.recv_hmac[:32], digestmod="sha256")

    def __repr__(self) -> str:
        return "TlsCryptWrap()"

    def wrap(self, plain: bytes) -> bytes:
        """``[op|kid][sid][replay 8][tag 32][AES-256-CTR(reliable)]`` (§3.7)."""
        _check_plain(plain)
        header = plain[:HEADER_LEN] + _REPLAY.pack(self._counter.next(), self._session_time)
        reliable = plain[HEADER_LEN:]
        mac = self._send_ka.copy()
        mac.update(header)
        mac.update(reliable)
        tag = mac.digest()
        encryptor = Cipher(self._send_ke, modes.CTR(tag[:16])).encryptor()
        return header + tag + encryptor.update(reliable) + encryptor.finalize()

    def unwrap(self, wire: bytes, now: float) -> bytes:
        """Decrypt, verify the tag over header || plaintext, check replay, return plain."""
        header_len = HEADER_LEN + REPLAY_LEN
        body = header_len + TLS_CRYPT_TAG_LEN
        if len(wire) < body + MIN_RELIABLE_LEN:
            raise RemoteProtocolError(DropReason.TOO_SHORT, f"{len(wire)}-byte tls-crypt packet")
        header = wire[:header_len]
        tag = wire[header_len:body]
        decryptor = Cipher(self._recv_ke, modes.CTR(tag[:16])).decryptor()
        reliable = decryptor.update(wire[body:]) + decryptor.finalize()
        mac = self._recv_ka.copy()
        mac.update(header)
        mac.update(reliable)
        if not hmac.compare_digest(mac.digest(), tag):
            raise RemoteProtocolError(DropReason.HMAC_MISMATCH, "tls-crypt tag does not verify")
        packet_id, packet_time = _REPLAY.unpack(header[HEADER_LEN:])
        self._replay.check(packet_id, now, packet_time)
        return bytes(header[:HEADER_LEN]) + reliable


class TlsCryptV2Wrap(TlsCryptWrap):
    """tls-crypt-v2: tls-crypt with Kc, first replay id 0x0F000001, WKc after ops 10/11.

    docs §3.7, §3.8, §3.9, §3.11.8: the raw WKc is appended after the tls-crypt output
    of P_CONTROL_HARD_RESET_CLIENT_V3 and P_CONTROL_WKC_V1 only; it is neither encrypted nor
    covered by the tag. On receive (a server's side, for tests), WKc is found through its
    trailing length field and cut off before the ordinary tls-crypt unwrap.
    """

    def __init__(self, client_key: bytes, session_time: int, *, role: Role = "client") -> None:
        key = split_client_key(client_key)
        # §3.9.1: only the client marks its packets with 0x0F...; a server counts from 1.
        initial = TLS_CRYPT_V2_INITIAL_COUNTER if role == "client" else 0
        super().__init__(key.kc, session_time, initial, role=role)
        self._wkc = key.wkc
        self.wkc_len = len(key.wkc)
        """Bytes appended to opcodes 10 and 11 on top of ``overhead``."""

    def __repr__(self) -> str:
        return f"TlsCryptV2Wrap(wkc_len={self.wkc_len})"

    def wrap(self, plain: bytes) -> bytes:
        """tls-crypt with Kc (§3.7), then WKc appended iff the opcode is 10 or 11 (§3.11.8)."""
        wire = super().wrap(plain)
        if plain[0] >> 3 in WKC_OPCODES:
            return wire + self._wkc
        return wire

    def unwrap(self, wire: bytes, now: float) -> bytes:
        """Strip a trailing WKc from opcodes 10/11 (by its length field), then tls-crypt."""
        if wire and wire[0] >> 3 in WKC_OPCODES:
            if len(wire) < 2:
                raise RemoteProtocolError(
                    DropReason.TOO_SHORT, f"{len(wire)}-byte tls-crypt-v2 packet"
                )
            wkc_len = int.from_bytes(wire[-2:], "big")
            if not 2 <= wkc_len <= len(wire):
                raise RemoteProtocolError(DropReason.BAD_WKC_LENGTH, str(wkc_len))
            wire = wire[:-wkc_len]
        return super().unwrap(wire, now)


def make_control_wrap(
    tls_auth_key: bytes | None,
    key_direction: int | None,
    auth_digest: str,
    tls_crypt_key: bytes | None,
    session_time: int,
    tls_crypt_v2_key: bytes | None = None,
) -> ControlWrap:
    """The client's wrapping for a configuration (at most one of the three keys)."""
    keys = {"tls-auth": tls_auth_key, "tls-crypt": tls_crypt_key, "tls-crypt-v2": tls_crypt_v2_key}
    given = [name for name, key in keys.items() if key is not None]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} cannot be used together; keep only one")
    if tls_crypt_v2_key is not None:
        return TlsCryptV2Wrap(tls_crypt_v2_key, session_time)
    if tls_crypt_key is not None:
        return TlsCryptWrap(tls_crypt_key, session_time)
    if tls_auth_key is not None:
        return TlsAuthWrap(tls_auth_key, key_direction, auth_digest, session_time)
    return NoWrap()


