"""When ICMP "port unreachable" means the server is gone: a hint, never one error (§1.6).

How this works: over UDP a server that stopped (or restarted and forgot us) shows up in two
ways: its packets stop, and our sends draw ICMP port-unreachable, which the connected socket
reports as ECONNREFUSED on a later recv or send. Either alone proves nothing: a server may be
quiet for a while, and an ICMP error can be forged by anyone who guesses the addresses and
ports. ``UnreachableHint`` therefore concludes only when both hold at once:

* nothing came from the server for at least ``silence`` seconds (2 s), and
* at least ``errors`` (3) unreachable errors arrived since the last thing that did.

Every packet from the server resets the count, so errors while the server's traffic flows are
ignored, and a single (or a few scattered) forged errors never add up while the tunnel is
busy. Traffic resets the suspicion, so a forger of server packets can only *delay* the
verdict (to ping-restart, as without this hint), never cause it.

Why these numbers: 3 errors need at least 3 of our sends to be refused, which a transient
ICMP (a route flap, a forged packet) rarely produces; 2 s is the stock ``tls-timeout`` and
what a reconnect costs anyway, and with a ``ping 1``..``2`` server a 2 s silence already
means a missed keepalive. Sans-I/O: ``now`` is passed in; ``deadline()`` says when
``verdict`` may next turn true without another event.
"""

from __future__ import annotations

UNREACHABLE_SILENCE = 2.0
"""Seconds without a packet from the server before unreachable errors are believed."""
UNREACHABLE_ERRORS = 3
"""Unreachable errors since the server's last packet needed for the verdict."""


class UnreachableHint:
    """Counts unreachable errors since the server's last packet; see the module docstring."""

    def __init__(
        self,
        now: float,
        *,
        silence: float = UNREACHABLE_SILENCE,
        errors: int = UNREACHABLE_ERRORS,
    ) -> None:
        self.silence = silence
        self.errors_needed = errors
        self.last_heard = now  # the session's start counts as "heard" (nothing yet)
        self.errors = 0

    def heard(self, now: float) -> None:
        """A packet came from the server: the suspicion is gone."""
        self.last_heard = max(self.last_heard, now)
        self.errors = 0

    def unreachable(self, now: float) -> None:
        """An ICMP unreachable error (ECONNREFUSED and the like) was reported."""
        self.errors += 1

    def verdict(self, now: float) -> bool:
        """True once the server is silent long enough and errors keep coming."""
        return self.errors >= self.errors_needed and now - self.last_heard >= self.silence

    def deadline(self) -> float | None:
        """When ``verdict`` turns true if nothing else happens (None: not without errors)."""
        if self.errors < self.errors_needed:
            return None
        return self.last_heard + self.silence
