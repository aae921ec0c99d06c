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

from vpnstack.core.shared.drops import DropReason
from vpnstack.errors import RemoteProtocolError

DEFAULT_WINDOW = 64
"""``--replay-window`` default window size (ids)."""
DEFAULT_TIME_BACKTRACK = 15.0
"""``--replay-window`` default time backtrack (seconds)."""
MAX_WINDOW = 65536
"""Largest window OpenVPN accepts."""


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
        # _seen[id % size] = receive time of that id, or None; valid for the ids
        # highest_id - size + 1 .. highest_id.
        self._seen: list[float | None] = [None] * size

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
        if packet_id == 0:
            raise RemoteProtocolError(DropReason.REPLAY_ZERO_ID, "packet id 0 is never sent")
        if packet_time != self._highest_time:
            if packet_time < self._highest_time:
                raise RemoteProtocolError(
                    DropReason.REPLAY_TIME_BACKWARDS,
                    f"time {packet_time} is older than {self._highest_time}",
                )
            # Time moved forward: restart the window (packet_id_add).
            self._highest_time = packet_time
            self._highest_id = 0
            self._seen = [None] * self.size
        highest = self._highest_id
        size = self.size
        if packet_id > highest:
            seen = self._seen
            if packet_id - highest >= size:
                self._seen = seen = [None] * size
            else:
                for cleared in range(highest + 1, packet_id):
                    seen[cleared % size] = None
            seen[packet_id % size] = now
            self._highest_id = packet_id
            return
        behind = highest - packet_id
        if behind >= size:
            raise RemoteProtocolError(
                DropReason.REPLAY_TOO_OLD,
                f"id {packet_id} is {behind} behind {highest} (window {size})",
            )
        seen = self._seen
        if seen[packet_id % size] is not None:
            raise RemoteProtocolError(
                DropReason.REPLAY_DUPLICATE, f"id {packet_id} was already received"
            )
        # Expired if any seen id in packet_id+1 .. highest arrived over time_backtrack ago.
        deadline = now - self.time_backtrack
        for newer in range(packet_id + 1, highest + 1):
            received = seen[newer % size]
            if received is not None and received < deadline:
                raise RemoteProtocolError(
                    DropReason.REPLAY_EXPIRED,
                    f"id {packet_id} arrived over {self.time_backtrack:g} s after id {newer}",
                )
        seen[packet_id % size] = now
