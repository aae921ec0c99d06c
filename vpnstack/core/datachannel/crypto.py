"""Data-channel packet protection: AEAD and CBC + HMAC (docs §6.1-§6.3, §6.5, §6.8).

How this works: one protector per key id, built from the ``DataKeys`` that tlssession
derives, by ``make_data_crypto``: a ``DataChannelCrypto`` for the AEAD ciphers, a
``CbcHmacCrypto`` for AES-CBC with an ``auth`` HMAC. Both satisfy the ``DataCrypto``
protocol the datachannel uses. Cipher objects and HMAC keys are created once per key and
direction, never per packet.

AEAD (§6.2):

    [hdr 1|4][packet_id 4][tag 16][ciphertext]        (tag BEFORE the ciphertext, §6.2)
    hdr   = 0x30|kid (P_DATA_V1) or uint32 (0x48|kid) << 24 | peer_id (P_DATA_V2, §6.1)
    nonce = packet_id(4) || implicit_iv(8)            (concatenation, §6.10.1)
    AD    = hdr(4) || packet_id(4) for V2; packet_id(4) alone for V1 (§6.10.2)

CBC + HMAC (§6.3, §6.10.3):

    [hdr 1|4][HMAC L][IV 16][AES-CBC(packet_id 4 || payload, PKCS#7 padding)]
    HMAC  = HMAC-<auth>(hmac key of the direction, IV || ciphertext)   (header NOT covered)

We send P_DATA_V2 when a peer-id was pushed, else P_DATA_V1, and accept both. Send ids start
at 1 and never wrap (§6.8): after 0xFFFFFFFF ``encrypt`` raises ``PacketIdExhausted``; a
renegotiation should have been started at 0xFF000000 (``wants_renegotiation``). On receive
the tag / HMAC is verified first (the HMAC in constant time, before decrypting), then the
replay window in short form.

Compression framing (§6.4) is the datachannel's business (``compression.py``): these
classes see the framed plaintext.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Callable
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vpnstack.core.datachannel.aead import PacketIdExhausted, Role, make_aead
from vpnstack.core.datachannel.epoch import EpochDataCrypto
from vpnstack.core.shared.ciphers import CBC_CIPHERS, CIPHER_KEY_LENGTHS, HMAC_DIGEST_LENGTHS
from vpnstack.core.shared.drops import DropReason
from vpnstack.core.shared.opcodes import KEY_ID_MASK, P_DATA_V1, P_DATA_V2
from vpnstack.core.shared.replay import DEFAULT_TIME_BACKTRACK, DEFAULT_WINDOW, ReplayWindow
from vpnstack.errors import LocalError, RemoteProtocolError
from vpnstack.messages import DataKeys

__all__ = [
    "OCC_EXIT",
    "PING_PAYLOAD",
    "CbcHmacCrypto",
    "DataChannelCrypto",
    "DataCrypto",
    "PacketIdExhausted",
    "Role",
    "data_packet_key_id",
    "make_data_crypto",
]

PING_PAYLOAD = bytes.fromhex("2a187bf3641eb4cb07ed2d0a981fc748")
"""Keepalive ping payload (§6.5): drop on receipt, never forward to the tun."""
OCC_MAGIC = bytes.fromhex("287f346bd4ef7a812d56b8d3afc5459c")
"""Prefix of OCC messages (§6.5); one type byte follows."""
OCC_EXIT = OCC_MAGIC + b"\x06"
"""The OCC EXIT message (explicit-exit-notify without cc-exit, §6.6)."""

TAG_LEN = 16
"""AEAD tag length."""
PACKET_ID_LEN = 4
MAX_PACKET_ID = 0xFFFFFFFF
"""The last usable send id; the id never wraps (§6.8)."""
RENEGOTIATE_AT_PACKET_ID = 0xFF000000
"""PACKET_ID_WRAP_TRIGGER: start a renegotiation when the send id gets here (§6.8)."""
UNDEFINED_PEER_ID = 0xFFFFFF
"""A P_DATA_V2 peer-id meaning "undefined" (§6.1)."""

_U32 = struct.Struct(">I")


def data_packet_key_id(packet: bytes) -> int:
    """The key id of a P_DATA_V1/V2 packet; ``RemoteProtocolError`` for anything else."""
    if not packet:
        raise RemoteProtocolError(DropReason.TOO_SHORT, "empty packet")
    opcode = packet[0] >> 3
    if opcode != P_DATA_V1 and opcode != P_DATA_V2:
        raise RemoteProtocolError(DropReason.NOT_DATA, f"opcode {opcode} is not a data opcode")
    return packet[0] & KEY_ID_MASK


def _header_for(keys: DataKeys) -> bytes:
    # docs §6.1: the header we send.
    if keys.peer_id is None:
        return bytes([P_DATA_V1 << 3 | keys.key_id])
    return _U32.pack((P_DATA_V2 << 3 | keys.key_id) << 24 | keys.peer_id)


def _received_header_len(packet: bytes, key_id: int) -> int:
    """Length of a received data packet's header (§6.1): 4 for P_DATA_V2, 1 for P_DATA_V1.

    Raises ``RemoteProtocolError`` (``too-short``, ``not-data``, ``wrong-key-id``).
    """
    received = data_packet_key_id(packet)
    if received != key_id:
        raise RemoteProtocolError(DropReason.WRONG_KEY_ID, f"key id {received}, expected {key_id}")
    return 4 if packet[0] >> 3 == P_DATA_V2 else 1


def _check_ids(keys: DataKeys, first_packet_id: int) -> None:
    """The key id, peer id and first packet id both packet formats take (our misuse if not)."""
    if not 0 <= keys.key_id <= KEY_ID_MASK:
        raise LocalError(f"key_id must be 0..7, got {keys.key_id}")
    if keys.peer_id is not None and not 0 <= keys.peer_id <= 0xFFFFFF:
        raise LocalError(f"peer_id must be a 24-bit value, got {keys.peer_id}")
    if not 1 <= first_packet_id <= MAX_PACKET_ID + 1:
        raise LocalError(f"first_packet_id out of range: {first_packet_id}")


class _SendCounter:
    """The 32-bit send packet id both packet formats share (§6.8): from 1, never wrapping."""

    _next_id: int

    @property
    def next_packet_id(self) -> int:
        """The id the next ``encrypt`` will use."""
        return self._next_id

    @property
    def wants_renegotiation(self) -> bool:
        """True once the send id reached PACKET_ID_WRAP_TRIGGER (§6.8)."""
        return self._next_id >= RENEGOTIATE_AT_PACKET_ID


class DataChannelCrypto(_SendCounter):
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
        _check_ids(keys, first_packet_id)
        send_key, send_iv = keys.encrypt_key, keys.encrypt_implicit_iv
        recv_key, recv_iv = keys.decrypt_key, keys.decrypt_implicit_iv
        if role == "server":
            send_key, send_iv, recv_key, recv_iv = recv_key, recv_iv, send_key, send_iv
        if len(send_iv) != 8 or len(recv_iv) != 8:
            raise LocalError("AEAD implicit IVs must be 8 bytes")
        self.key_id = keys.key_id
        self.cipher = keys.cipher
        self.peer_id = keys.peer_id
        self._send = make_aead(keys.cipher, send_key)
        self._recv = make_aead(keys.cipher, recv_key)
        self._send_iv = send_iv
        self._recv_iv = recv_iv
        self._next_id = first_packet_id
        self._replay = ReplayWindow(replay_window, time_backtrack)
        self._header = _header_for(keys)
        # The first byte of the packets we accept, in each format (§6.1).
        self._v1_byte = P_DATA_V1 << 3 | keys.key_id
        self._v2_byte = P_DATA_V2 << 3 | keys.key_id
        self.overhead = len(self._header) + PACKET_ID_LEN + TAG_LEN
        """Bytes added to each payload: 24 for P_DATA_V2, 21 for P_DATA_V1 (§6.7)."""

    def __repr__(self) -> str:
        return f"DataChannelCrypto(key_id={self.key_id}, cipher={self.cipher!r})"

    def encrypt(self, payload: bytes) -> bytes:
        """The whole wire packet for ``payload`` (§6.2); uses the next packet id."""
        return self.encrypt_batch([payload])[0]

    def encrypt_batch(self, payloads: list[bytes]) -> list[bytes]:
        """``encrypt`` for each payload, in order (the per-key state looked up once)."""
        first = self._next_id
        if first + len(payloads) - 1 > MAX_PACKET_ID:
            raise PacketIdExhausted("data-channel packet ids exhausted; renegotiate the key")
        self._next_id = first + len(payloads)
        seal = self._send.encrypt
        iv = self._send_iv
        header = self._header
        v2 = len(header) == 4
        pack = _U32.pack
        join = b"".join
        packets: list[bytes] = []
        append = packets.append
        for packet_id in range(first, first + len(payloads)):
            pid = pack(packet_id)
            # V2 authenticates the 4-byte header, V1 only the packet id (§6.10.2).
            sealed = memoryview(
                seal(pid + iv, payloads[packet_id - first], header + pid if v2 else pid)
            )
            # The tag goes between the packet id and the ciphertext (§6.10.1).
            append(join((header, pid, sealed[-TAG_LEN:], sealed[:-TAG_LEN])))
        return packets

    def decrypt(self, packet: bytes, now: float) -> bytes:
        """The payload of a P_DATA_V1/V2 packet of our key id; ``RemoteProtocolError`` else.

        Reasons: ``too-short``, ``not-data``, ``wrong-key-id``, ``auth-failed`` and the
        ``replay-*`` reasons of ``ReplayWindow.check``.
        """
        first = packet[0] if packet else -1
        if first == self._v2_byte:
            header_len = 4
        elif first == self._v1_byte:
            header_len = 1
        else:
            header_len = _received_header_len(packet, self.key_id)  # raises: not ours
        body = header_len + PACKET_ID_LEN + TAG_LEN
        if len(packet) < body:
            raise RemoteProtocolError(DropReason.TOO_SHORT, f"{len(packet)}-byte data packet")
        ad_end = header_len + PACKET_ID_LEN
        view = memoryview(packet)
        pid = packet[header_len:ad_end]
        try:
            # One copy: the ciphertext and the tag, put back in the order the AEAD wants.
            payload = self._recv.decrypt(
                pid + self._recv_iv,
                b"".join((view[body:], view[ad_end:body])),
                view[:ad_end] if header_len == 4 else pid,
            )
        except InvalidTag:
            raise RemoteProtocolError(DropReason.AUTH_FAILED, "AEAD tag does not verify") from None
        self._replay.check(int.from_bytes(pid), now)
        return payload


# --- CBC + HMAC (§6.3) --------------------------------------------------------------------

CBC_BLOCK = 16
"""AES block size, and the length of the per-packet IV."""
_ZERO_BLOCK = bytes(CBC_BLOCK)
_PADDINGS = [bytes([n]) * n for n in range(CBC_BLOCK + 1)]


class CbcHmacCrypto(_SendCounter):
    """Encrypts and decrypts the data packets of one key id with AES-CBC + HMAC (§6.3).

    ``role="server"`` swaps the directions, as for ``DataChannelCrypto``.

    One CBC encryptor and one decryptor per key live as long as the key (the AES key
    schedule is done once). A CBC context carries its chaining block from one ``update``
    to the next, so a fresh IV per packet is obtained by letting the encryptor encrypt a
    block R of fresh random bytes first: its output ``AES_k(prev XOR R)`` is the packet's
    IV (unpredictable because R is; NIST SP 800-38A appendix C), and the packet's blocks
    chain from it exactly as in a CBC run started from that IV. The decryptor is fed
    ``IV || ciphertext`` and the first output block is discarded, which likewise makes the
    packet's first block chain from its IV whatever came before.
    """

    def __init__(
        self,
        keys: DataKeys,
        *,
        role: Role = "client",
        replay_window: int = DEFAULT_WINDOW,
        time_backtrack: float = DEFAULT_TIME_BACKTRACK,
        first_packet_id: int = 1,
        randbytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        _check_ids(keys, first_packet_id)
        if keys.cipher not in CBC_CIPHERS:
            raise LocalError(f"{keys.cipher!r} is not a CBC cipher")
        if keys.auth is None or keys.auth not in HMAC_DIGEST_LENGTHS:
            raise LocalError(f"CBC keys need a known auth digest, got {keys.auth!r}")
        digest_len = HMAC_DIGEST_LENGTHS[keys.auth]
        klen = CIPHER_KEY_LENGTHS[keys.cipher]
        send_key, send_hmac = keys.encrypt_key, keys.encrypt_hmac_key
        recv_key, recv_hmac = keys.decrypt_key, keys.decrypt_hmac_key
        if role == "server":
            send_key, send_hmac, recv_key, recv_hmac = recv_key, recv_hmac, send_key, send_hmac
        if len(send_key) != klen or len(recv_key) != klen:
            raise LocalError(f"{keys.cipher} needs {klen}-byte keys")
        if len(send_hmac) != digest_len or len(recv_hmac) != digest_len:
            raise LocalError(f"HMAC-{keys.auth} needs {digest_len}-byte keys")
        self.key_id = keys.key_id
        self.cipher = keys.cipher
        self.auth = keys.auth
        self.peer_id = keys.peer_id
        self._digest_len = digest_len
        self._encryptor = Cipher(algorithms.AES(send_key), modes.CBC(_ZERO_BLOCK)).encryptor()
        self._decryptor = Cipher(algorithms.AES(recv_key), modes.CBC(_ZERO_BLOCK)).decryptor()
        # Keyed once; each packet works on a copy (hmac.HMAC.copy keeps the keyed state).
        self._send_mac = hmac.new(send_hmac, digestmod=keys.auth.lower())
        self._recv_mac = hmac.new(recv_hmac, digestmod=keys.auth.lower())
        self._randbytes = randbytes
        self._next_id = first_packet_id
        self._replay = ReplayWindow(replay_window, time_backtrack)
        self._header = _header_for(keys)
        self.overhead = len(self._header) + digest_len + CBC_BLOCK + PACKET_ID_LEN + CBC_BLOCK
        """Most bytes added to a payload: header, HMAC, IV, packet id, 1..16 padding (§6.7)."""

    def __repr__(self) -> str:
        return f"CbcHmacCrypto(key_id={self.key_id}, cipher={self.cipher!r}, auth={self.auth!r})"

    def encrypt(self, payload: bytes) -> bytes:
        """The whole wire packet for ``payload`` (§6.3); uses the next packet id."""
        return self.encrypt_batch([payload])[0]

    def encrypt_batch(self, payloads: list[bytes]) -> list[bytes]:
        """``encrypt`` for each payload, in order, with one cipher call for the batch."""
        if not payloads:
            return []
        first = self._next_id
        if first + len(payloads) - 1 > MAX_PACKET_ID:
            raise PacketIdExhausted("data-channel packet ids exhausted; renegotiate the key")
        self._next_id = first + len(payloads)
        randoms = self._randbytes(CBC_BLOCK * len(payloads))
        plain: list[bytes] = []
        lengths: list[int] = []
        for index, payload in enumerate(payloads):
            # §6.3: packet_id || payload, PKCS#7 padded; preceded by the IV-making block.
            pad = _PADDINGS[CBC_BLOCK - (PACKET_ID_LEN + len(payload)) % CBC_BLOCK]
            plain.append(randoms[index * CBC_BLOCK : (index + 1) * CBC_BLOCK])
            plain.append(_U32.pack(first + index))
            plain.append(payload)
            plain.append(pad)
            lengths.append(CBC_BLOCK + PACKET_ID_LEN + len(payload) + len(pad))
        out = memoryview(self._encryptor.update(b"".join(plain)))
        header = self._header
        mac = self._send_mac
        packets: list[bytes] = []
        offset = 0
        for length in lengths:
            iv_and_ct = out[offset : offset + length]
            offset += length
            h = mac.copy()
            h.update(iv_and_ct)  # §6.10.3: the HMAC covers IV || ciphertext, not the header
            packets.append(b"".join((header, h.digest(), iv_and_ct)))
        return packets

    def decrypt(self, packet: bytes, now: float) -> bytes:
        """The payload of a P_DATA_V1/V2 packet of our key id; ``RemoteProtocolError`` else.

        Reasons: ``too-short``, ``not-data``, ``wrong-key-id``, ``bad-length``,
        ``auth-failed``, ``bad-padding`` and the ``replay-*`` reasons of
        ``ReplayWindow.check``.
        """
        header_len = _received_header_len(packet, self.key_id)
        body = header_len + self._digest_len
        # At least the IV and one ciphertext block; the ciphertext is whole blocks.
        if len(packet) < body + 2 * CBC_BLOCK:
            raise RemoteProtocolError(DropReason.TOO_SHORT, f"{len(packet)}-byte data packet")
        if (len(packet) - body) % CBC_BLOCK:
            raise RemoteProtocolError(DropReason.BAD_LENGTH, "CBC ciphertext is not whole blocks")
        view = memoryview(packet)
        h = self._recv_mac.copy()
        h.update(view[body:])
        # §6.3: constant-time HMAC check before anything is decrypted.
        if not hmac.compare_digest(h.digest(), view[header_len:body]):
            raise RemoteProtocolError(DropReason.AUTH_FAILED, "HMAC does not verify")
        plain = self._decryptor.update(view[body:])[CBC_BLOCK:]
        pad = plain[-1]
        if not 1 <= pad <= CBC_BLOCK or plain[-pad:] != _PADDINGS[pad]:
            raise RemoteProtocolError(DropReason.BAD_PADDING, "PKCS#7 padding is malformed")
        if len(plain) - pad < PACKET_ID_LEN:
            raise RemoteProtocolError(DropReason.TOO_SHORT, "no room for the packet id")
        # §6.8, §6.10.4: the replay check only after the packet was authenticated.
        self._replay.check(_U32.unpack_from(plain)[0], now)
        return plain[PACKET_ID_LEN:-pad]


class DataCrypto(Protocol):
    """What the datachannel needs from the protector of one key id (AEAD or CBC)."""

    @property
    def key_id(self) -> int:
        """The key id (0..7) of the packets this protects."""

    @property
    def cipher(self) -> str:
        """The data cipher."""

    @property
    def overhead(self) -> int:
        """Most bytes added to one payload on the wire."""

    @property
    def next_packet_id(self) -> int:
        """The id the next ``encrypt`` will use."""

    @property
    def wants_renegotiation(self) -> bool:
        """True once the send id reached PACKET_ID_WRAP_TRIGGER (§6.8)."""

    def encrypt(self, payload: bytes) -> bytes:
        """The wire packet for ``payload``; ``PacketIdExhausted`` when ids ran out."""

    def encrypt_batch(self, payloads: list[bytes]) -> list[bytes]:
        """``encrypt`` for each payload, in order."""

    def decrypt(self, packet: bytes, now: float) -> bytes:
        """The payload of a data packet; ``RemoteProtocolError`` to drop it."""


def make_data_crypto(
    keys: DataKeys,
    *,
    role: Role = "client",
    replay_window: int = DEFAULT_WINDOW,
    time_backtrack: float = DEFAULT_TIME_BACKTRACK,
    first_packet_id: int = 1,
) -> DataCrypto:
    """The protector for ``keys``: ``CbcHmacCrypto`` for CBC ciphers, else the AEAD one.

    With ``keys.epoch`` (2.7 ``aead-epoch``, §6.9) it is ``epoch.EpochDataCrypto``, which has
    no ``first_packet_id`` (each epoch's counter starts at 1).
    """
    if keys.epoch:
        return EpochDataCrypto(
            keys, role=role, replay_window=replay_window, time_backtrack=time_backtrack
        )
    if keys.cipher in CBC_CIPHERS:
        return CbcHmacCrypto(
            keys,
            role=role,
            replay_window=replay_window,
            time_backtrack=time_backtrack,
            first_packet_id=first_packet_id,
        )
    return DataChannelCrypto(
        keys,
        role=role,
        replay_window=replay_window,
        time_backtrack=time_backtrack,
        first_packet_id=first_packet_id,
    )
