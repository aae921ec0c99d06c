"""Which data-channel keys live, which one sends, and when to ask for a new one (docs §5.7).

How this works: this sans-I/O ``KeyRing`` is the one owner of every per-key state of the data
channel: each installed key's own state (``K``: for the datachannel core, the key's packet
protector and compression framing) lives in the key's ``_KeyLife`` next to the key's life, so
nothing else keeps a second dict by key id to keep in step. Time is passed in as ``now``:

* **At most two keys**, like stock OpenVPN's primary and lame-duck key states: when the
  tlssession hands over keys for a new key id, the newest key so far becomes the lame duck,
  which must die ``tran-window`` seconds later (§5.7 step 4, §5.8.11), and any older one is
  forgotten at once (stock frees the previous lame duck at the soft reset, §5.7 step 1). Both
  keys decrypt until then.
* **Which key sends** is the stock rule (ssl.c ``tls_select_encryption_key``, §5.7 step 5):
  each key has a "deferred-auth" window, ``min(hand-window, reneg-sec / 2)`` long. The newest
  key sends, except while it is still inside its window *and* the lame duck is past its own:
  then the lame duck keeps sending. A server with deferred authentication drops packets on a
  key it has not authorised yet, so a stock client keeps using the old key for up to
  hand-window after a normal renegotiation; when renegotiations come faster than the window
  (reneg-sec of a few seconds) both keys are inside their windows and the newest sends.
  Stock opens the window when the key's negotiation starts; the ring opens it when the keys
  are installed, which is later by the handshake's duration (well under a second on a sane
  link), so the old key is kept a little longer, never shorter.
* **Renegotiation triggers** counted on the data channel (§5.7, §6.8): ``reneg-bytes`` and
  ``reneg-pkts`` count the newest key's packets both ways (bytes as on the wire; only packets
  that authenticate count when received, so a forger cannot force a rekey), and a send packet
  id at 0xFF000000 (``wants_renegotiation``). Each key asks at most once: a
  ``RenegotiationRequest`` the datachannel service forwards to the tlssession, which alone
  owns the control channel and decides (one owner per piece of state).
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

from vpnstack.errors import LocalError
from vpnstack.messages import RenegotiationRequest

K = TypeVar("K")
"""What the ring keeps for each key (the datachannel core: protector and framing)."""


@attrs.define
class _KeyLife(Generic[K]):
    """The life of one installed key, and its state."""

    key_id: int
    state: K
    installed_at: float
    deferred_until: float  # end of the deferred-auth window (§5.7 step 5)
    must_die: float | None = None  # set when a newer key arrives (tran-window)
    packets: int = 0
    bytes: int = 0
    requested: bool = False


class KeyRing(Generic[K]):
    """The newest key and the lame duck: who sends, who may still decrypt, when to rekey."""

    def __init__(
        self,
        *,
        tran_window: float,
        hand_window: float,
        reneg_sec: float | None,
        reneg_bytes: int | None = None,
        reneg_pkts: int | None = None,
    ) -> None:
        if tran_window <= 0 or hand_window <= 0:
            raise LocalError("tran-window and hand-window must be positive")
        self.tran_window = tran_window
        # ssl.c auth_deferred_expire_window: min(hand-window, reneg-sec / 2) when reneg-sec is on.
        window = hand_window
        if reneg_sec:
            window = min(window, reneg_sec / 2)
        self.deferred_window = window
        self.reneg_bytes = reneg_bytes if reneg_bytes else None
        self.reneg_pkts = reneg_pkts if reneg_pkts else None
        self._keys: list[_KeyLife[K]] = []  # oldest first; at most two
        self._requests: list[RenegotiationRequest] = []

    # --- keys coming and going ----------------------------------------------------------

    def install(self, key_id: int, now: float, state: K) -> list[int]:
        """A new newest key with its ``state``; returns the key ids forgotten now (older than
        the lame duck)."""
        if self._keys and self._keys[-1].key_id == key_id:
            # The same key id again (not something the tlssession does): a fresh life.
            self._keys[-1] = _KeyLife(key_id, state, now, now + self.deferred_window)
            return []
        forgotten = [k.key_id for k in self._keys[:-1] if k.key_id != key_id]
        lame = self._keys[-1] if self._keys and self._keys[-1].key_id != key_id else None
        if lame is not None:
            lame.must_die = now + self.tran_window  # §5.7 step 4
        self._keys = [lame] if lame is not None else []
        self._keys.append(_KeyLife(key_id, state, now, now + self.deferred_window))
        return forgotten

    def expire(self, now: float) -> list[int]:
        """Forget the lame duck once its tran-window is over; returns the ids forgotten."""
        dead = [k.key_id for k in self._keys if k.must_die is not None and now >= k.must_die]
        if dead:
            self._keys = [k for k in self._keys if k.key_id not in dead]
        return dead

    def next_timer(self) -> float | None:
        """When the lame duck dies (``expire`` has work), or None."""
        return min((k.must_die for k in self._keys if k.must_die is not None), default=None)

    # --- questions ----------------------------------------------------------------------

    @property
    def newest(self) -> int | None:
        """The key id installed last, or None before any key."""
        return self._keys[-1].key_id if self._keys else None

    def key_ids(self) -> list[int]:
        """The live key ids, oldest first."""
        return [k.key_id for k in self._keys]

    def accepts(self, key_id: int, now: float) -> bool:
        """Whether packets of ``key_id`` may be decrypted at ``now`` (§6.1, §5.7 step 4)."""
        return self.receiving(key_id, now) is not None

    def receiving(self, key_id: int, now: float) -> K | None:
        """The state of ``key_id`` if its packets may be decrypted at ``now``, else None."""
        for key in self._keys:
            if key.key_id == key_id:
                return key.state if key.must_die is None or now < key.must_die else None
        return None

    def state(self, key_id: int) -> K:
        """The state installed with the live key ``key_id`` (``LocalError`` if none)."""
        for key in self._keys:
            if key.key_id == key_id:
                return key.state
        raise LocalError(f"no live key with key id {key_id}")

    def sending_key(self, now: float) -> int | None:
        """The key id that encrypts at ``now``: the stock rule of §5.7 step 5 (module doc)."""
        selected: int | None = None
        for key in reversed(self._keys):  # newest first, like get_key_scan
            if key.must_die is not None and now >= key.must_die:
                continue
            if selected is None:
                selected = key.key_id
            if now >= key.deferred_until:
                return key.key_id
        return selected

    # --- counting and renegotiation triggers --------------------------------------------

    def count(self, key_id: int, packets: int, nbytes: int, *, near_wrap: bool = False) -> None:
        """Count packets sent or authentically received on ``key_id`` (§5.7 reneg-bytes/pkts).

        ``near_wrap``: the key's crypto wants a new key (``wants_renegotiation``): its send
        packet id reached 0xFF000000 (§6.8), or, in the 2.7 epoch format, its send epoch reached
        0xF000 (§6.9).
        """
        key = self._keys[-1] if self._keys else None
        if key is None or key.key_id != key_id:
            return  # stock counts and checks the primary (newest) key only
        key.packets += packets
        key.bytes += nbytes
        if key.requested:
            return
        reason = None
        if near_wrap:
            reason = "packet ids or epochs near their end (§6.8, §6.9)"
        elif self.reneg_bytes is not None and key.bytes >= self.reneg_bytes:
            reason = f"reneg-bytes {self.reneg_bytes}"
        elif self.reneg_pkts is not None and key.packets >= self.reneg_pkts:
            reason = f"reneg-pkts {self.reneg_pkts}"
        if reason is not None:
            key.requested = True
            self._requests.append(RenegotiationRequest(key_id, reason))

    def take_requests(self) -> list[RenegotiationRequest]:
        """Renegotiation requests since the last call (at most one per key)."""
        requests, self._requests = self._requests, []
        return requests
