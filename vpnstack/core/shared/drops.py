"""Counting dropped packets by reason.

Hostile or stale input is dropped and counted, never raised out of a layer: each core (or
its service) keeps a ``DropCounter`` and reports ``snapshot()`` in its statistics. Reasons
are ``DropReason`` members (defined in ``vpnstack/errors.py`` beside ``RemoteProtocolError``,
which carries them, and re-exported here): one name per violation, whichever layer sees it.
"""

from __future__ import annotations

from collections import Counter

from vpnstack.errors import DropReason

__all__ = ["DropCounter", "DropReason"]


class DropCounter:
    """Counts dropped packets by reason; hostile input is dropped and counted, never raised."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def drop(self, reason: DropReason | str, count: int = 1) -> None:
        """Record ``count`` packets dropped for ``reason``.

        ``str`` is accepted for one site only: the kernel TUN device's ``write-error-<errno>``,
        which names an errno the kernel returned, not a violation of the peer.
        """
        self._counts[reason] += count

    def snapshot(self) -> dict[str, int]:
        """The counts so far, as a plain dict of plain strings (safe in a frozen record)."""
        return {str(reason): count for reason, count in self._counts.items()}

    @property
    def total(self) -> int:
        """All drops, whatever the reason."""
        return sum(self._counts.values())
