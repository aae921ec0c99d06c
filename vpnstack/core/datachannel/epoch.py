"""OpenVPN 2.7 epoch data keys: key schedule, packet format, epoch changes (docs §6.9).

How this works. With ``protocol-flags aead-epoch`` each key id's data channel no longer uses
the key2 cipher keys directly: each direction has a chain of *epoch secrets*

    E(1)   = the first 32 bytes of the direction's key2 cipher slot
    E(n+1) = OVPN-Expand-Label(E(n), "datakey upd", 32)
    K(n)   = OVPN-Expand-Label(E(n), "data_key", cipher key length)
    IV(n)  = OVPN-Expand-Label(E(n), "data_iv", 12)

where OVPN-Expand-Label is TLS 1.3's HKDF-Expand-Label (RFC 5869 HKDF-Expand with SHA-256)
with the label prefix ``"ovpn "`` instead of ``"tls13 "`` and an empty context. A packet is

    [hdr 4][epoch 16 bits || counter 48 bits][ciphertext][tag 16]     (tag at the END)
    AD    = hdr(4) || packet_id(8)
    nonce = IV(n) XOR (packet_id(8) || 00 00 00 00)

and is only ever sent as P_DATA_V2. The counter restarts at 1 in each epoch.

Sending: ``EpochDataCrypto`` moves its send side to the next epoch (new K, IV, counter 1)
before the AEAD usage limit of §6.8 is reached (AES-GCM: packets + 16-byte plaintext blocks
<= 2^36 - 1; we move at 7/8 of it; ChaCha20-Poly1305 has no limit), when the counter is used
up (2^48 - 1), and when our *receive* key of the same epoch nears its limit or sees many tag
failures (so that the peer follows us to a fresh key). From epoch 0xF000 on it asks for a
renegotiation (``wants_renegotiation``), long before the 16-bit epoch runs out.

Receiving: we keep the current receive epoch, the one before it ("retiring", for packets
still in flight) and the next ``future_epochs`` (4, as OpenVPN) epochs, each with its own
replay window on the 48-bit counter. A packet that authenticates in a future epoch makes
that epoch current (the current one retires, the future window slides on), and if our send
epoch is lower we move it up to the same epoch, as OpenVPN does (crypto_epoch.c
``epoch_replace_update_recv_key``). Epochs further ahead, older than the retiring one, or 0
are dropped without trying to decrypt.

``role="server"`` swaps the two directions; vpnstack is the client, the server role is for
tests and loopback peers (as in ``datacrypto``).
"""

from __future__ import annotations

import hmac
import struct
from typing import Literal

from cryptography.exceptions import InvalidTag

from vpnstack.core.datachannel.aead import PacketIdExhausted, Role, make_aead
from vpnstack.core.shared.ciphers import AEAD_CIPHERS, CIPHER_KEY_LENGTHS, EPOCH_SECRET_LEN
from vpnstack.core.shared.drops import DropReason
from vpnstack.core.shared.opcodes import KEY_ID_MASK, P_DATA_V1, P_DATA_V2
from vpnstack.core.shared.replay import DEFAULT_TIME_BACKTRACK, DEFAULT_WINDOW, ReplayWindow
from vpnstack.errors import CipherNegotiationFailed, LocalError, RemoteProtocolError
from vpnstack.messages import DataKeys

EPOCH_IV_LEN = 12
"""Length of IV(n): the whole AEAD nonce, XORed with the packet id (§6.9)."""
HEADER_LEN = 4
"""The P_DATA_V2 header: opcode/key id and the 24-bit peer-id (§6.1)."""
PACKET_ID_LEN = 8
"""epoch(16 bits) || counter(48 bits)."""
TAG_LEN = 16
"""AEAD tag length; the tag is the last 16 bytes of the packet."""
OVERHEAD = HEADER_LEN + PACKET_ID_LEN + TAG_LEN
"""Bytes an epoch-format packet adds to its payload: 28 (§6.7)."""

FIRST_EPOCH = 1
"""Epochs start at 1; 0 is never valid on the wire (§6.9)."""
MAX_EPOCH = 0xFFFF
"""The last epoch a 16-bit field can carry."""
MAX_COUNTER = (1 << 48) - 1
"""The last per-epoch counter (PACKET_ID_EPOCH_MAX); the sender then moves on (§6.9)."""
RENEGOTIATE_AT_EPOCH = 0xF000
"""Ask for a renegotiation once the send epoch reaches this (§6.9)."""
FUTURE_EPOCHS = 4
"""Epochs ahead of the current receive epoch that are accepted (§6.9)."""

AES_GCM_USAGE_LIMIT = (1 << 36) - 1
"""AES-GCM: packets + 16-byte plaintext blocks per key must stay <= this (§6.8)."""
USAGE_BLOCK = 16
"""Block size of the usage count (AEAD_LIMIT_BLOCKSIZE)."""
FAILED_VERIFY_WARN = 1 << 35
"""More tag failures than this on our current receive key: move our send epoch on (§6.8)."""
FAILED_VERIFY_MAX = 1 << 36
"""More tag failures than this on a key: drop everything on it (§6.8)."""

_LABEL_PREFIX = b"ovpn "
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


# --- key schedule (§6.9, RFC 5869) -----------------------------------------------------


def hkdf_expand_sha256(secret: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-Expand with HMAC-SHA256: T(i) = HMAC(secret, T(i-1) || info || i)."""
    if not 0 < length <= 255 * 32:
        raise LocalError(f"HKDF-Expand length must be 1..8160, not {length}")
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(secret, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def ovpn_expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """OVPN-Expand-Label(secret, label, length) with an empty context (§6.9).

    info = uint16(length) || uint8(5 + len(label)) || "ovpn " || label || uint8(0)
    """
    if len(secret) != EPOCH_SECRET_LEN:
        raise LocalError(f"epoch secrets are {EPOCH_SECRET_LEN} bytes, not {len(secret)}")
    if not 1 <= len(label) <= 250:
        raise LocalError(f"label must be 1..250 bytes, not {len(label)}")
    info = b"".join(
        (_U16.pack(length), bytes([len(_LABEL_PREFIX) + len(label)]), _LABEL_PREFIX, label, b"\0")
    )
    return hkdf_expand_sha256(secret, info, length)


def next_epoch_secret(secret: bytes) -> bytes:
    """E(n+1) from E(n)."""
    return ovpn_expand_label(secret, b"datakey upd", EPOCH_SECRET_LEN)


def epoch_data_key(secret: bytes, key_len: int) -> bytes:
    """K(n): the AEAD key of epoch n (16, 24 or 32 bytes)."""
    return ovpn_expand_label(secret, b"data_key", key_len)


def epoch_data_iv(secret: bytes) -> bytes:
    """IV(n): the 12-byte implicit IV of epoch n (XORed with the packet id)."""
    return ovpn_expand_label(secret, b"data_iv", EPOCH_IV_LEN)


def default_usage_limit(cipher: str) -> int | None:
    """The AEAD usage limit of ``cipher`` (§6.8); None means unlimited (ChaCha20-Poly1305)."""
    return None if cipher == "CHACHA20-POLY1305" else AES_GCM_USAGE_LIMIT


# --- per-epoch state --------------------------------------------------------------------


class _EpochKey:
    """The AEAD, IV and counters of one epoch in one direction (never shown in a repr)."""

    __slots__ = ("aead", "epoch", "failed", "iv_high", "iv_low", "replay", "usage")

    def __init__(
        self, epoch: int, secret: bytes, cipher: str, replay: ReplayWindow | None
    ) -> None:
        self.epoch = epoch
        self.aead = make_aead(cipher, epoch_data_key(secret, CIPHER_KEY_LENGTHS[cipher]))
        iv = epoch_data_iv(secret)
        # nonce = IV XOR (packet_id(8) || 0000): XOR the first 8 bytes as one integer.
        self.iv_high = _U64.unpack(iv[:8])[0]
        self.iv_low = iv[8:]
        self.replay = replay
        self.usage = 0
        """Packets + 16-byte plaintext blocks protected with this key (§6.8)."""
        self.failed = 0
        """Packets in this epoch whose tag did not verify."""

    def nonce(self, packet_id: int) -> bytes:
        return _U64.pack(packet_id ^ self.iv_high) + self.iv_low

    def count(self, length: int) -> None:
        self.usage += 1 + (length + USAGE_BLOCK - 1) // USAGE_BLOCK


# --- the data-channel crypto of one key id ------------------------------------------------


class EpochDataCrypto:
    """Encrypts and decrypts the epoch-format data packets of one key id (§6.9).

    The same interface as ``datacrypto.DataChannelCrypto``. ``keys.encrypt_key`` and
    ``keys.decrypt_key`` carry E(1) of each direction: the first 32 bytes of the key2 cipher
    slots (``split_key2_epoch``), whatever the cipher's key length.

    ``usage_limit`` (``"cipher"``: §6.8 for the cipher; None: unlimited), ``max_counter`` and
    ``future_epochs``
    exist so that tests can force epoch changes quickly; a real session keeps the defaults.
    """

    def __init__(
        self,
        keys: DataKeys,
        *,
        role: Role = "client",
        replay_window: int = DEFAULT_WINDOW,
        time_backtrack: float = DEFAULT_TIME_BACKTRACK,
        usage_limit: int | Literal["cipher"] | None = "cipher",
        max_counter: int = MAX_COUNTER,
        future_epochs: int = FUTURE_EPOCHS,
    ) -> None:
        if not keys.epoch:
            raise LocalError("EpochDataCrypto needs DataKeys negotiated with epoch=True")
        if not 0 <= keys.key_id <= KEY_ID_MASK:
            raise LocalError(f"key_id must be 0..7, got {keys.key_id}")
        if keys.peer_id is None or not 0 <= keys.peer_id <= 0xFFFFFF:
            # §6.9: the epoch format exists only with P_DATA_V2, i.e. with a pushed peer-id.
            raise LocalError("the epoch data format needs P_DATA_V2 and a pushed peer-id")
        if keys.cipher not in AEAD_CIPHERS:
            raise CipherNegotiationFailed(
                f"the data cipher {keys.cipher!r} is not an AEAD cipher vpnstack supports; "
                "the epoch data format needs AES-GCM or CHACHA20-POLY1305"
            )
        if not 1 <= max_counter <= MAX_COUNTER:
            raise LocalError(f"max_counter must be 1..2^48-1, not {max_counter}")
        if future_epochs < 1:
            raise LocalError(f"future_epochs must be at least 1, not {future_epochs}")
        send_secret, recv_secret = keys.encrypt_key, keys.decrypt_key
        if role == "server":
            send_secret, recv_secret = recv_secret, send_secret
        if len(send_secret) != EPOCH_SECRET_LEN or len(recv_secret) != EPOCH_SECRET_LEN:
            raise LocalError(
                "epoch data keys need the first 32 bytes of each key2 cipher slot as E1"
            )
        self.key_id = keys.key_id
        self.cipher = keys.cipher
        self.peer_id = keys.peer_id
        # docs §6.1: P_DATA_V2 header.
        self._header = _U32.pack((P_DATA_V2 << 3 | keys.key_id) << 24 | keys.peer_id)
        self.overhead = OVERHEAD
        """Bytes added to each payload: 28 (§6.7)."""
        limit = default_usage_limit(keys.cipher) if usage_limit == "cipher" else usage_limit
        # §6.8: move on at 7/8 of the limit, well before it.
        self._usage_trigger = None if limit is None else limit * 7 // 8
        self._max_counter = max_counter
        self._future_count = future_epochs
        self._replay_window = replay_window
        self._time_backtrack = time_backtrack
        self.epoch_changes_sent = 0
        """How often our send side moved to a new epoch."""
        self.epoch_changes_received = 0
        """How often a peer's packet made a later receive epoch current."""

        # Send side: E(n), K(n)/IV(n) as an _EpochKey, the next counter.
        self._send_secret = send_secret
        self._send = _EpochKey(FIRST_EPOCH, send_secret, self.cipher, None)
        self._next_counter = 1

        # Receive side: current, retiring, future; _recv_secret is E(highest generated).
        self._recv_current = _EpochKey(FIRST_EPOCH, recv_secret, self.cipher, self._window())
        self._recv_retiring: _EpochKey | None = None
        self._recv_future: dict[int, _EpochKey] = {}
        self._recv_secret = recv_secret
        self._recv_secret_epoch = FIRST_EPOCH
        self._fill_future()

    def __repr__(self) -> str:
        return (
            f"EpochDataCrypto(key_id={self.key_id}, cipher={self.cipher!r}, "
            f"send_epoch={self.send_epoch}, recv_epoch={self.recv_epoch})"
        )

    # --- state -----------------------------------------------------------------------

    @property
    def send_epoch(self) -> int:
        """The epoch the next ``encrypt`` uses (unless a limit moves it first)."""
        return self._send.epoch

    @property
    def recv_epoch(self) -> int:
        """The current receive epoch."""
        return self._recv_current.epoch

    @property
    def retiring_epoch(self) -> int | None:
        """The previous receive epoch, still accepted; None before the first change."""
        return None if self._recv_retiring is None else self._recv_retiring.epoch

    @property
    def accepted_epochs(self) -> tuple[int, ...]:
        """Every epoch a packet may currently arrive in, ascending."""
        epochs = [self._recv_current.epoch, *sorted(self._recv_future)]
        if self._recv_retiring is not None:
            epochs.insert(0, self._recv_retiring.epoch)
        return tuple(epochs)

    @property
    def next_packet_id(self) -> int:
        """The counter the next ``encrypt`` uses in the send epoch (restarts at 1)."""
        return self._next_counter

    @property
    def wants_renegotiation(self) -> bool:
        """True once the send epoch reached 0xF000 (§6.9)."""
        return self._send.epoch >= RENEGOTIATE_AT_EPOCH

    def _window(self) -> ReplayWindow:
        return ReplayWindow(self._replay_window, self._time_backtrack)

    # --- sending ---------------------------------------------------------------------

    def _advance_send(self, to_epoch: int) -> None:
        """Move the send side up to ``to_epoch``: new K, IV, counter 1 (§6.9)."""
        assert self._send.epoch < to_epoch <= MAX_EPOCH
        secret, epoch = self._send_secret, self._send.epoch
        while epoch < to_epoch:
            secret = next_epoch_secret(secret)
            epoch += 1
        self._send_secret = secret
        self._send = _EpochKey(epoch, secret, self.cipher, None)
        self._next_counter = 1
        self.epoch_changes_sent += 1

    def _send_key_worn_out(self) -> bool:
        """Whether the send side must move to the next epoch before this packet (§6.8, §6.9)."""
        if self._next_counter > self._max_counter:
            return True
        trigger = self._usage_trigger
        if trigger is None:
            # ChaCha20-Poly1305: only tag failures on our receive key push us on.
            return (
                self._recv_current.epoch == self._send.epoch
                and self._recv_current.failed > FAILED_VERIFY_WARN
            )
        if self._send.usage >= trigger:
            return True
        # Our receive key of the same epoch is worn: move on so that the peer follows.
        current = self._recv_current
        return current.epoch == self._send.epoch and (
            current.usage >= trigger or current.failed > FAILED_VERIFY_WARN
        )

    def encrypt(self, payload: bytes) -> bytes:
        """The whole wire packet for ``payload`` (§6.9); moves epochs when a limit is near."""
        if self._send_key_worn_out():
            if self._send.epoch >= MAX_EPOCH:
                if self._next_counter > self._max_counter:
                    raise PacketIdExhausted(
                        "epoch data keys exhausted (epoch 65535); renegotiate the key"
                    )
            else:
                self._advance_send(self._send.epoch + 1)
        send = self._send
        packet_id = send.epoch << 48 | self._next_counter
        self._next_counter += 1
        send.count(len(payload))
        pid = _U64.pack(packet_id)
        header = self._header
        return header + pid + send.aead.encrypt(send.nonce(packet_id), payload, header + pid)

    def encrypt_batch(self, payloads: list[bytes]) -> list[bytes]:
        """``encrypt`` for each payload, in order."""
        encrypt = self.encrypt
        return [encrypt(payload) for payload in payloads]

    # --- receiving -------------------------------------------------------------------

    def _fill_future(self) -> None:
        """Derive receive keys for current+1 .. current+future_epochs (as far as 0xFFFF)."""
        current = self._recv_current.epoch
        for epoch in [e for e in self._recv_future if e <= current]:
            del self._recv_future[epoch]
        last = min(current + self._future_count, MAX_EPOCH)
        while self._recv_secret_epoch < last:
            self._recv_secret = next_epoch_secret(self._recv_secret)
            self._recv_secret_epoch += 1
            epoch = self._recv_secret_epoch
            if epoch > current:
                self._recv_future[epoch] = _EpochKey(
                    epoch, self._recv_secret, self.cipher, self._window()
                )

    def _lookup(self, epoch: int) -> _EpochKey | None:
        current = self._recv_current
        if epoch == current.epoch:
            return current
        retiring = self._recv_retiring
        if retiring is not None and epoch == retiring.epoch:
            return retiring
        return self._recv_future.get(epoch)

    def _promote(self, key: _EpochKey) -> None:
        """``key`` (a future epoch) authenticated a packet: make it current (§6.9)."""
        self._recv_retiring = self._recv_current
        self._recv_current = key
        self._fill_future()
        self.epoch_changes_received += 1
        if self._send.epoch < key.epoch:
            # §6.9: our send epoch follows the peer's (confirmed against 2.7.6).
            self._advance_send(key.epoch)

    def decrypt(self, packet: bytes, now: float) -> bytes:
        """The payload of an epoch-format P_DATA_V2 packet of our key id (§6.9).

        Reasons for ``RemoteProtocolError``: ``too-short``, ``not-data``, ``wrong-key-id``,
        ``epoch-needs-data-v2``, ``unknown-epoch``, ``epoch-key-failed``, ``auth-failed``
        and the ``replay-*`` reasons of ``ReplayWindow.check`` (on the 48-bit counter).
        """
        if not packet:
            raise RemoteProtocolError(DropReason.TOO_SHORT, "empty packet")
        first = packet[0]
        opcode = first >> 3
        if opcode != P_DATA_V2:
            if opcode == P_DATA_V1:
                raise RemoteProtocolError(
                    DropReason.EPOCH_NEEDS_DATA_V2,
                    "a P_DATA_V1 packet where the epoch format is in use",
                )
            raise RemoteProtocolError(DropReason.NOT_DATA, f"opcode {opcode} is not a data opcode")
        if first & KEY_ID_MASK != self.key_id:
            raise RemoteProtocolError(
                DropReason.WRONG_KEY_ID, f"key id {first & KEY_ID_MASK}, expected {self.key_id}"
            )
        # OpenVPN insists on at least one byte of ciphertext.
        if len(packet) < OVERHEAD + 1:
            raise RemoteProtocolError(DropReason.TOO_SHORT, f"{len(packet)}-byte epoch data packet")
        packet_id = _U64.unpack_from(packet, HEADER_LEN)[0]
        epoch = packet_id >> 48
        key = self._lookup(epoch)
        if key is None:
            raise RemoteProtocolError(
                DropReason.UNKNOWN_EPOCH, f"epoch {epoch} is not among {self.accepted_epochs}"
            )
        if key.failed > FAILED_VERIFY_MAX:
            raise RemoteProtocolError(
                DropReason.EPOCH_KEY_FAILED, f"too many forgeries in epoch {epoch}"
            )
        ad_end = HEADER_LEN + PACKET_ID_LEN
        view = memoryview(packet)
        try:
            payload = key.aead.decrypt(key.nonce(packet_id), view[ad_end:], view[:ad_end])
        except InvalidTag:
            key.failed += 1
            raise RemoteProtocolError(DropReason.AUTH_FAILED, "AEAD tag does not verify") from None
        # §6.8, §6.9: replay protection per epoch, on the 48-bit counter, after authentication.
        assert key.replay is not None
        key.replay.check(packet_id & MAX_COUNTER, now)
        key.count(len(payload))
        if epoch > self._recv_current.epoch:
            self._promote(key)
        return payload
