"""Data-channel packet protection with the AEAD ciphers (PROTOCOL.md §7.1, §7.2, §7.5, §8).

How this works: one ``DataChannelCrypto`` per key id, built from the ``DataKeys`` that
tlssession derives. The AEAD objects are created once per direction. A packet is

    [hdr 1|4][packet_id 4][tag 16][ciphertext]        (tag BEFORE the ciphertext, §7.2)
    hdr   = 0x30|kid (P_DATA_V1) or uint32 (0x48|kid) << 24 | peer_id (P_DATA_V2, §7.1)
    nonce = packet_id(4) || implicit_iv(8)            (concatenation, §11.15)
    AD    = hdr(4) || packet_id(4) for V2; packet_id(4) alone for V1 (§11.16)

We send P_DATA_V2 when a peer-id was pushed, else P_DATA_V1, and accept both. Send ids start
at 1 and never wrap (§8): after 0xFFFFFFFF ``encrypt`` raises ``PacketIdExhausted``; a
renegotiation should have been started at 0xFF000000 (``wants_renegotiation``). On receive
the tag is verified first, then the replay window in short form.

Compression framing (§7.4) is not handled here; with no compression option there is none.
"""

from __future__ import annotations

import struct
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from vpnstack.core.opcodes import KEY_ID_MASK, P_DATA_V1, P_DATA_V2
from vpnstack.core.replay import DEFAULT_TIME_BACKTRACK, DEFAULT_WINDOW, ReplayWindow
from vpnstack.errors import CipherNegotiationFailed, LocalError, RemoteProtocolError
from vpnstack.messages import DataKeys

PING_PAYLOAD = bytes.fromhex("2a187bf3641eb4cb07ed2d0a981fc748")
"""Keepalive ping payload (§7.5): drop on receipt, never forward to the tun."""
OCC_MAGIC = bytes.fromhex("287f346bd4ef7a812d56b8d3afc5459c")
"""Prefix of OCC messages (§7.5); one type byte follows."""
OCC_EXIT = OCC_MAGIC + b"\x06"
"""The OCC EXIT message (explicit-exit-notify without cc-exit, §7.6)."""

TAG_LEN = 16
"""AEAD tag length."""
PACKET_ID_LEN = 4
MAX_PACKET_ID = 0xFFFFFFFF
"""The last usable send id; the id never wraps (§8)."""
RENEGOTIATE_AT_PACKET_ID = 0xFF000000
"""PACKET_ID_WRAP_TRIGGER: start a renegotiation when the send id gets here (§8)."""
UNDEFINED_PEER_ID = 0xFFFFFF
"""A P_DATA_V2 peer-id meaning "undefined" (§7.1)."""

Role = Literal["client", "server"]

_U32 = struct.Struct(">I")
_AEAD = AESGCM | ChaCha20Poly1305


class PacketIdExhausted(LocalError):
    """All 2^32-1 packet ids of a key were used; the key must be renegotiated (§8)."""


def _make_aead(cipher: str, key: bytes) -> _AEAD:
    if cipher in ("AES-128-GCM", "AES-192-GCM", "AES-256-GCM"):
        return AESGCM(key)
    if cipher == "CHACHA20-POLY1305":
        return ChaCha20Poly1305(key)
    raise CipherNegotiationFailed(
        f"the data cipher {cipher!r} is not supported by vpnstack; allow AES-256-GCM, "
        "AES-128-GCM or CHACHA20-POLY1305 in the server's data-ciphers"
    )


def data_packet_key_id(packet: bytes) -> int:
    """The key id of a P_DATA_V1/V2 packet; ``RemoteProtocolError`` for anything else."""
    if not packet:
        raise RemoteProtocolError("too-short", "empty packet")
    opcode = packet[0] >> 3
    if opcode != P_DATA_V1 and opcode != P_DATA_V2:
        raise RemoteProtocolError("not-data", f"opcode {opcode} is not a data opcode")
    return packet[0] & KEY_ID_MASK


class DataChannelCrypto:
    """Encrypts and decrypts the data packets of one key id (AEAD ciphers only).

    ``role="server"`` swaps the two directions (the peer's view of the same ``DataKeys``);
    vpnstack is always the client, the server role exists for tests and loopback peers.
    """

    def __init__(
        self,
        keys: DataKeys,
        *,
        role: Role = "client",
        replay_window: int = DEFAULT_WINDOW,
        time_backtrack: float = DEFAULT_TIME_BACKTRACK,
        first_packet_id: int = 1,
    ) -> None:
        if not 0 <= keys.key_id <= KEY_ID_MASK:
            raise LocalError(f"key_id must be 0..7, got {keys.key_id}")
        if keys.peer_id is not None and not 0 <= keys.peer_id <= 0xFFFFFF:
            raise LocalError(f"peer_id must be a 24-bit value, got {keys.peer_id}")
        if not 1 <= first_packet_id <= MAX_PACKET_ID + 1:
            raise LocalError(f"first_packet_id out of range: {first_packet_id}")
        send_key, send_iv = keys.encrypt_key, keys.encrypt_implicit_iv
        recv_key, recv_iv = keys.decrypt_key, keys.decrypt_implicit_iv
        if role == "server":
            send_key, send_iv, recv_key, recv_iv = recv_key, recv_iv, send_key, send_iv
        if len(send_iv) != 8 or len(recv_iv) != 8:
            raise LocalError("AEAD implicit IVs must be 8 bytes")
        self.key_id = keys.key_id
        self.cipher = keys.cipher
        self.peer_id = keys.peer_id
        self._send = _make_aead(keys.cipher, send_key)
        self._recv = _make_aead(keys.cipher, recv_key)
        self._send_iv = send_iv
        self._recv_iv = recv_iv
        self._next_id = first_packet_id
        self._replay = ReplayWindow(replay_window, time_backtrack)
        # PROTOCOL.md §7.1: the header we send.
        if keys.peer_id is None:
            self._header = bytes([P_DATA_V1 << 3 | keys.key_id])
        else:
            self._header = _U32.pack((P_DATA_V2 << 3 | keys.key_id) << 24 | keys.peer_id)
        self.overhead = len(self._header) + PACKET_ID_LEN + TAG_LEN
        """Bytes added to each payload: 24 for P_DATA_V2, 21 for P_DATA_V1 (§7.7)."""

    def __repr__(self) -> str:
        return f"DataChannelCrypto(key_id={self.key_id}, cipher={self.cipher!r})"

    @property
    def next_packet_id(self) -> int:
        """The id the next ``encrypt`` will use."""
        return self._next_id

    @property
    def wants_renegotiation(self) -> bool:
        """True once the send id reached PACKET_ID_WRAP_TRIGGER (§8)."""
        return self._next_id >= RENEGOTIATE_AT_PACKET_ID

    def encrypt(self, payload: bytes) -> bytes:
        """The whole wire packet for ``payload`` (§7.2); uses the next packet id."""
        packet_id = self._next_id
        if packet_id > MAX_PACKET_ID:
            raise PacketIdExhausted("data-channel packet ids exhausted; renegotiate the key")
        self._next_id = packet_id + 1
        pid = _U32.pack(packet_id)
        header = self._header
        # V2 authenticates the 4-byte header, V1 only the packet id (§11.16).
        ad = header + pid if len(header) == 4 else pid
        sealed = memoryview(self._send.encrypt(pid + self._send_iv, payload, ad))
        # The tag goes between the packet id and the ciphertext (§11.15).
        return b"".join((header, pid, sealed[-TAG_LEN:], sealed[:-TAG_LEN]))

    def encrypt_batch(self, payloads: list[bytes]) -> list[bytes]:
        """``encrypt`` for each payload, in order."""
        encrypt = self.encrypt
        return [encrypt(payload) for payload in payloads]

    def decrypt(self, packet: bytes, now: float) -> bytes:
        """The payload of a P_DATA_V1/V2 packet of our key id; ``RemoteProtocolError`` else.

        Reasons: ``too-short``, ``not-data``, ``wrong-key-id``, ``auth-failed`` and the
        ``replay-*`` reasons of ``ReplayWindow.check``.
        """
        if not packet:
            raise RemoteProtocolError("too-short", "empty packet")
        first = packet[0]
        opcode = first >> 3
        if opcode == P_DATA_V2:
            header_len = 4
        elif opcode == P_DATA_V1:
            header_len = 1
        else:
            raise RemoteProtocolError("not-data", f"opcode {opcode} is not a data opcode")
        if first & KEY_ID_MASK != self.key_id:
            raise RemoteProtocolError(
                "wrong-key-id", f"key id {first & KEY_ID_MASK}, expected {self.key_id}"
            )
        body = header_len + PACKET_ID_LEN + TAG_LEN
        if len(packet) < body:
            raise RemoteProtocolError("too-short", f"{len(packet)}-byte data packet")
        view = memoryview(packet)
        pid = bytes(view[header_len : header_len + PACKET_ID_LEN])
        ad = bytes(view[: header_len + PACKET_ID_LEN]) if header_len == 4 else pid
        sealed = b"".join((view[body:], view[body - TAG_LEN : body]))
        try:
            payload = self._recv.decrypt(pid + self._recv_iv, sealed, ad)
        except InvalidTag:
            raise RemoteProtocolError("auth-failed", "AEAD tag does not verify") from None
        self._replay.check(_U32.unpack(pid)[0], now)
        return payload
