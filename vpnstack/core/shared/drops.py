"""Counting dropped packets by reason.

Hostile or stale input is dropped and counted, never raised out of a layer: each core (or
its service) keeps a ``DropCounter`` and reports ``snapshot()`` in its statistics.
"""

from __future__ import annotations

from collections import Counter


class DropCounter:
    """Counts dropped packets by reason; hostile input is dropped and counted, never raised."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def drop(self, reason: str, count: int = 1) -> None:
        """Record ``count`` packets dropped for ``reason``."""
        self._counts[reason] += count

    def snapshot(self) -> dict[str, int]:
        """The counts so far, as a plain dict (safe to put in a frozen record)."""
        return dict(self._counts)

    @property
    def total(self) -> int:
        """All drops, whatever the reason."""
        return sum(self._counts.values())
