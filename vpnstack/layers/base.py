"""Conventions every layer service follows (ARCHITECTURE.md "Rules that keep it simple").

A layer is a class with:

* ``name``: its name in the wiring and the diagrams;
* ``async def run(self, *, task_status=trio.TASK_STATUS_IGNORED)``: starts its workers in a
  nursery of its own, calls ``task_status.started()`` once it can accept work, and returns
  only when its input channels end or it is cancelled. It closes the send ends it owns on the
  way out (``async with send_channel:``) so that ``EndOfChannel`` cascades to the next layer;
* ``statistics()``: a frozen record of counters (packets in/out, drops by reason, ...).

The protocol logic lives in a sans-I/O core in ``vpnstack/core/``; the service only moves
items between channels and the core and sleeps until the core's next timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import trio

from vpnstack.messages import StateChange

Notify = Callable[[StateChange], None]
"""How a layer reports a stage to the workers manager. Never blocks."""


def ignore_notifications(change: StateChange) -> None:
    """A ``Notify`` for layers run alone in tests."""


class Layer(Protocol):
    """What the workers manager needs from every layer."""

    name: str

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the layer's workers until its inputs end or it is cancelled."""
        ...

    def statistics(self) -> object:
        """A frozen snapshot of the layer's counters."""
        ...
