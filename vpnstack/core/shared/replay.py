"""Replay protection: OpenVPN's ``packet_id_test`` / ``packet_id_add`` (docs §6.8).

How this works: the state is (highest_time, highest_id, a window of the last ``size`` ids).
Each slot of the window remembers *when* its id was received (``now``), or nothing if it has
not been seen. A packet id is accepted if

* it is not 0 (senders start at 1),
* in the long form (control wrapping) its time is not older than ``highest_time``; a newer
  time restarts the window,
* it is newer than ``highest_id``, or it is at most ``size - 1`` behind it, has not been seen,
  and is not *expired*.

Expiry (``--replay-window 64 15``): a slot is expired once some packet with an id >= the slot's
id was received more than ``time_backtrack`` seconds ago, so a reordered packet must arrive
within 15 s of the newer ones. OpenVPN marks expired slots from a periodic reaper; here the
same predicate is evaluated when a late packet is checked, which gives the same answers
without a timer (time only moves forward, so an expired slot stays expired).

The data channel uses the short form (``packet_time`` always 0). Call ``check`` only after the
packet was authenticated: a forged packet must not move the window.
"""

from __future__ import annotations

import math

from vpnstack.core.shared.drops import DropReason
from vpnstack.errors import RemoteProtocolError

DEFAULT_WINDOW = 64
"""``--replay-window`` default window size (ids)."""
DEFAULT_TIME_BACKTRACK = 15.0
"""``--replay-window`` default time backtrack (seconds)."""
MAX_WINDOW = 65536
"""Largest window OpenVPN accepts."""
_NEVER = [math.inf]
"""The receive time of a slot whose id was not seen (times one slot)."""


class ReplayWindow:
    """The receive-side replay state of one key (data) or one session (control wrap)."""

    def __init__(
        self, size: int = DEFAULT_WINDOW, time_backtrack: float = DEFAULT_TIME_BACKTRACK
    ) -> None:
        if not 1 <= size <= MAX_WINDOW:
            raise ValueError(f"replay window size must be 1..{MAX_WINDOW}, not {size}")
        self.size = size
        self.time_backtrack = time_backtrack
        self._highest_time = 0
        self._highest_id = 0
        # _times[id % size] = receive time of that id, for the ids highest_id - size + 1 ..
        # highest_id; +inf for those not seen. Slots are cleared and scanned with slice
        # operations, never a Python loop over ids.
        self._times: list[float] = _NEVER * size

    @property
    def highest_id(self) -> int:
        """The highest id accepted so far in the current time epoch (0 before any)."""
        return self._highest_id

    @property
    def highest_time(self) -> int:
        """The time field of the current epoch (long form; always 0 in the short form)."""
        return self._highest_time

    def check(self, packet_id: int, now: float, packet_time: int = 0) -> None:
        """Accept ``packet_id`` (and record it as seen) or raise ``RemoteProtocolError``.

        Reasons: ``replay-zero-id``, ``replay-time-backwards``, ``replay-too-old``,
        ``replay-duplicate``, ``replay-expired`` (docs §6.8).
        """
        highest = self._highest_id
        if packet_id == highest + 1 and packet_time == self._highest_time:
            # The common case, the next id in order (never 0: highest >= 0).
            self._times[packet_id % self.size] = now
            self._highest_id = packet_id
            return
        if packet_id == 0:
            raise RemoteProtocolError(DropReason.REPLAY_ZERO_ID, "packet id 0 is never sent")
        if packet_time != self._highest_time:
            if packet_time < self._highest_time:
                raise RemoteProtocolError(
                    DropReason.REPLAY_TIME_BACKWARDS,
                    f"time {packet_time} is older than {self._highest_time}",
                )
            # Time moved forward: restart the window (packet_id_add) with this id.
            self._highest_time = packet_time
            self._highest_id = packet_id
            self._times[:] = _NEVER * self.size
            self._times[packet_id % self.size] = now
            return
        size = self.size
        times = self._times
        if packet_id > highest:
            if packet_id - highest == 2:  # one id skipped (reordered): one slot
                times[(highest + 1) % size] = math.inf
            elif packet_id - highest < size:
                self._forget(highest + 1, packet_id)
            else:
                times[:] = _NEVER * size
            times[packet_id % size] = now
            self._highest_id = packet_id
            return
        behind = highest - packet_id
        if behind >= size:
            raise RemoteProtocolError(
                DropReason.REPLAY_TOO_OLD,
                f"id {packet_id} is {behind} behind {highest} (window {size})",
            )
        slot = packet_id % size
        if times[slot] != math.inf:
            raise RemoteProtocolError(
                DropReason.REPLAY_DUPLICATE, f"id {packet_id} was already received"
            )
        # Expired if any seen id in packet_id+1 .. highest arrived over time_backtrack ago
        # (the slots of ids not seen hold +inf, so the oldest of the slots decides).
        start, end = (packet_id + 1) % size, highest % size + 1
        if behind <= 1:
            oldest = times[start] if behind else math.inf
        elif start < end:
            oldest = min(times[start:end])
        else:
            oldest = min(min(times[start:]), min(times[:end]))
        if oldest < now - self.time_backtrack:
            raise RemoteProtocolError(
                DropReason.REPLAY_EXPIRED,
                f"id {packet_id} arrived over {self.time_backtrack:g} s after a newer id",
            )
        times[slot] = now

    def _forget(self, first: int, end: int) -> None:
        """Mark the slots of ids ``first`` .. ``end - 1`` (fewer than ``size``) as not seen."""
        size = self.size
        a, b = first % size, end % size
        if a < b:
            self._times[a:b] = _NEVER * (b - a)
        elif a > b:
            self._times[a:] = _NEVER * (size - a)
            self._times[:b] = _NEVER * b
