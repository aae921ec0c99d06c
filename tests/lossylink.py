"""A seeded lossy, duplicating, reordering link between two memory channels (test helper).

Every decision comes from ``random.Random(seed)``: each item is dropped with probability
``loss``; otherwise it is delivered once, or twice with probability ``duplicate``, each copy
after its own delay drawn from ``[min_delay, max_delay]``. Distinct delays reorder packets, and
under ``autojump_clock`` the outcome depends only on the seed and the input timing.
"""

from __future__ import annotations

import random
from typing import Generic, TypeVar

import attrs
import trio

T = TypeVar("T")


@attrs.define
class LinkCounters:
    """What the link did, so a test can check that the link really misbehaved."""

    received: int = 0
    dropped: int = 0
    duplicated: int = 0
    delivered: int = 0
    reordered: int = 0


class LossyLink(Generic[T]):
    """Forward items from ``source`` to ``sink`` unreliably; closes ``sink`` when done."""

    def __init__(
        self,
        source: trio.MemoryReceiveChannel[T],
        sink: trio.MemorySendChannel[T],
        *,
        seed: int,
        loss: float = 0.25,
        duplicate: float = 0.1,
        min_delay: float = 0.01,
        max_delay: float = 0.3,
    ) -> None:
        self._source = source
        self._sink = sink
        self._rng = random.Random(seed)
        self._loss = loss
        self._duplicate = duplicate
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._last_sequence = -1
        self.counters = LinkCounters()

    async def run(self) -> None:
        """Forward until ``source`` ends and every copy in flight has been delivered."""
        async with self._sink, trio.open_nursery() as nursery:
            sequence = 0
            async for item in self._source:
                self.counters.received += 1
                sequence += 1
                if self._rng.random() < self._loss:
                    self.counters.dropped += 1
                    continue
                copies = 2 if self._rng.random() < self._duplicate else 1
                self.counters.duplicated += copies - 1
                for _ in range(copies):
                    delay = self._rng.uniform(self._min_delay, self._max_delay)
                    nursery.start_soon(self._deliver, item, delay, sequence)

    async def _deliver(self, item: T, delay: float, sequence: int) -> None:
        await trio.sleep(delay)
        if sequence < self._last_sequence:
            self.counters.reordered += 1
        self._last_sequence = max(self._last_sequence, sequence)
        self.counters.delivered += 1
        await self._sink.send(item)
