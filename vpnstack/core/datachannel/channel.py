"""Sans-I/O core of the datachannel: keys by key id, batches of packets, keepalive timers.

How this works:

* ``install_keys`` builds one protector per key id with ``make_data_crypto`` (AEAD or
  CBC + HMAC; its cipher objects are made once per key and direction there, never per
  packet) and hands it, with the key's compression framing, to the ``KeyRing``
  (``keyring.py``, docs §5.7), the one owner of per-key state: which keys live,
  which one sends, and each one's ``InstalledKey``. The newest key and the lame duck both
  decrypt until the lame duck's tran-window ends (§6.1, §5.8.11); the sending key follows the
  stock rule; the ring's renegotiation requests (reneg-bytes, reneg-pkts, packet id
  0xFF000000) are taken with ``take_renegotiation_requests`` and handed to the tlssession
  by the service.
* ``seal`` encrypts a batch of IP packets; ``open`` decrypts a batch of data packets, dropping
  and counting what fails authentication or the replay window, and swallowing keepalive pings
  (§6.5), which still count as signs of life.
* Compression framing (§6.4, §6.10.6), when the keys carry one: added before encryption and
  removed after decryption, *before* the ping check. A compressed packet from the server is
  dropped, counted and ends the session with ``ConfigError`` (``core/datachannel/compression.py``).
* Keepalive (§5.6, §6.10.7): a ping is due ``ping`` seconds after the last packet *sent*;
  ``KeepaliveTimeout`` is raised ``ping-restart`` seconds after the last authentic packet
  *received*. Time is always passed in as ``now``.
"""

from __future__ import annotations

import attrs

from vpnstack.core.datachannel.compression import frame_batch, unframe
from vpnstack.core.datachannel.crypto import (
    PING_PAYLOAD,
    DataCrypto,
    PacketIdExhausted,
    data_packet_key_id,
    make_data_crypto,
)
from vpnstack.core.datachannel.keyring import KeyRing
from vpnstack.core.shared.drops import DropCounter, DropReason
from vpnstack.core.shared.framing import Framing
from vpnstack.errors import ConfigError, KeepaliveTimeout, LocalError, RemoteProtocolError
from vpnstack.messages import Batch, DataKeys, KeepaliveSettings, RenegotiationRequest


@attrs.frozen
class InstalledKey:
    """What the key ring keeps for one key id of the data channel."""

    crypto: DataCrypto
    """The key's packet protector (both directions)."""
    framing: Framing | None
    """The key's compression framing (§6.4), or None."""


class DataChannelCore:
    """Encrypts and decrypts batches; decides when to ping and when the peer is gone."""

    def __init__(self, keyring: KeyRing[InstalledKey]) -> None:
        self.keyring = keyring
        self._keepalive = KeepaliveSettings(ping=None, ping_restart=None)
        self._last_sent = 0.0
        self._last_received = 0.0
        self.drops = DropCounter()
        self.cipher: str | None = None
        self.packets_sealed = 0
        self.packets_opened = 0
        self.packets_in = 0
        self.batches_sealed = 0
        self.batches_opened = 0
        self.pings_sent = 0
        self.pings_received = 0

    @property
    def ready(self) -> bool:
        """True once a key to send with is installed."""
        return self.keyring.newest is not None

    def install_keys(self, keys: DataKeys, now: float) -> None:
        """Start using ``keys``; the previous newest key becomes the lame duck (§5.7)."""
        installed = InstalledKey(
            crypto=make_data_crypto(keys), framing=_framing(keys.compression)
        )
        self.keyring.install(keys.key_id, now, installed)
        self.cipher = keys.cipher
        self._last_received = max(self._last_received, now)
        self._last_sent = now

    def set_keepalive(self, settings: KeepaliveSettings, now: float) -> None:
        """Apply pushed ping / ping-restart; the restart clock starts now."""
        self._keepalive = settings
        self._last_received = now
        self._last_sent = now

    def seal(self, packets: Batch, now: float) -> Batch:
        """Encrypt a batch of IP packets into data packets (dropped if no key yet)."""
        self._expire(now)
        send_key_id = self.keyring.sending_key(now)  # §5.7 step 5
        if send_key_id is None:
            self.drops.drop(DropReason.NO_KEYS_YET, len(packets))
            return []
        key = self.keyring.state(send_key_id)
        crypto = key.crypto
        try:
            # §6.4: the compression framing goes inside the encryption.
            sealed = crypto.encrypt_batch(frame_batch(packets, key.framing))
        except PacketIdExhausted:
            # §6.8: the id never wraps; until renegotiation gives a new key, packets are dropped.
            self.drops.drop(DropReason.PACKET_IDS_EXHAUSTED, len(packets))
            return []
        if sealed:
            self._last_sent = now
            self.packets_sealed += len(sealed)
            self.batches_sealed += 1
            self.keyring.count(
                send_key_id,
                len(sealed),
                sum(len(p) for p in sealed),
                near_wrap=crypto.wants_renegotiation,  # §6.8
            )
        return sealed

    def open(self, packets: Batch, now: float) -> Batch:
        """Decrypt a batch of data packets into IP packets; bad ones are dropped and counted.

        The key of a batch is looked up once per distinct first byte (opcode and key id),
        and counted for reneg-bytes / reneg-pkts once per key at the end of the batch.
        """
        opened: Batch = []
        self._expire(now)
        self.packets_in += len(packets)
        self.batches_opened += 1
        drop = self.drops.drop
        # first byte -> (key id, its key or None, [packets, bytes] authenticated)
        keys: dict[int, tuple[int, InstalledKey | None, list[int]]] = {}
        try:
            for packet in packets:
                try:
                    entry = keys[packet[0]]
                except (KeyError, IndexError):
                    key_id = data_packet_key_id(packet)
                    entry = keys[packet[0]] = (
                        key_id,
                        self.keyring.receiving(key_id, now),
                        [0, 0],
                    )
                key = entry[1]
                if key is None:
                    drop(DropReason.UNKNOWN_KEY_ID)
                    continue
                try:
                    payload = key.crypto.decrypt(packet, now)
                except RemoteProtocolError as exc:
                    drop(exc.reason)
                    continue
                counts = entry[2]
                counts[0] += 1
                counts[1] += len(packet)
                framing = key.framing
                if framing is not None:
                    try:
                        # §6.10.6: the framing comes off before the ping/OCC check.
                        payload = unframe(payload, framing)
                    except RemoteProtocolError as exc:
                        drop(exc.reason)
                        continue
                    except ConfigError:
                        # Never passed up as garbage; the session ends.
                        drop(DropReason.COMPRESSED)
                        raise
                if payload == PING_PAYLOAD:  # §6.5: a keepalive, not for the tun
                    self.pings_received += 1
                    continue
                opened.append(payload)
        finally:
            for key_id, _key, (authentic, nbytes) in keys.values():
                if authentic:
                    self._last_received = now
                    self.keyring.count(key_id, authentic, nbytes)
        self.packets_opened += len(opened)
        return opened

    def next_timer(self) -> float | None:
        """When ``on_timer`` must run next, or None if no keepalive is configured."""
        deadlines = []
        lame_duck_dies = self.keyring.next_timer()
        if lame_duck_dies is not None:
            deadlines.append(lame_duck_dies)
        if self._keepalive.ping is not None and self.ready:
            deadlines.append(self._last_sent + self._keepalive.ping)
        if self._keepalive.ping_restart is not None:
            deadlines.append(self._last_received + self._keepalive.ping_restart)
        return min(deadlines) if deadlines else None

    def on_timer(self, now: float) -> Batch:
        """Return the keepalive pings due now; raise KeepaliveTimeout if the peer is silent."""
        self._expire(now)
        restart = self._keepalive.ping_restart
        if restart is not None and now - self._last_received >= restart:
            raise KeepaliveTimeout(
                f"nothing heard from the server for {restart:g} s (ping-restart); "
                "the server or the network path is down"
            )
        ping = self._keepalive.ping
        if ping is not None and self.ready and now - self._last_sent >= ping:
            self.pings_sent += 1
            return self.seal([PING_PAYLOAD], now)
        return []

    def take_renegotiation_requests(self) -> list[RenegotiationRequest]:
        """The keyring's renegotiation requests since the last call (for the tlssession)."""
        return self.keyring.take_requests()

    def _expire(self, now: float) -> None:
        """Forget the lame duck once its tran-window is over (§5.7 step 4)."""
        self.keyring.expire(now)


def _framing(name: str | None) -> Framing | None:
    """The framing a ``DataKeys.compression`` names (the tlssession made it: a bug if odd)."""
    if name is None:
        return None
    try:
        return Framing(name)
    except ValueError:
        raise LocalError(f"unknown compression framing {name!r}") from None
