"""The workers manager: starts the layers, carries their notifications, stops them together.

How this works: ``run`` opens one nursery and starts the layers bottom-up with
``nursery.start``, so each layer is ready (``task_status.started()``) before the one above it
begins. Layers report progress through ``notify``, which never blocks: it puts a
``StateChange`` on a channel that a dispatcher task in the same nursery drains, recording the
first notification of each stage (so a long session's record stays bounded), waking
``wait_for`` callers and calling the optional ``on_state`` hook (progress output, tracing).

Shutdown is trio's: the first layer that raises cancels the nursery, which cancels every
other layer, and the failure leaves ``run`` as an ExceptionGroup that the public API turns into
one ``VPNError`` (``primary_error``). ``shutdown()`` cancels on request. A layer that returns on
its own while the stack should be running is a bug, reported as ``LocalError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import trio

from vpnstack.errors import LocalError, VPNError
from vpnstack.layers.base import Layer
from vpnstack.messages import Stage, StateChange


class WorkersManager:
    """Runs a stack of layers as one unit."""

    def __init__(self, *, on_state: Callable[[StateChange], None] | None = None) -> None:
        self._on_state = on_state
        # Unbounded on purpose: a handful of events per handshake, drained continuously, and
        # a layer must never block (or lose an event) because progress output is slow.
        self._events_send, self._events_receive = trio.open_memory_channel[StateChange](
            math.inf
        )
        self.first_by_stage: dict[Stage, StateChange] = {}
        """The first notification of each stage (bounded: one per stage, however long it runs)."""
        self._changed = trio.Event()
        self._cancel_scope: trio.CancelScope | None = None
        self._stopping = False
        self.layers: Sequence[Layer] = ()

    def notify(self, change: StateChange) -> None:
        """Record a state change (called by layers; never blocks)."""
        self._events_send.send_nowait(change)

    async def run(
        self,
        layers: Sequence[Layer],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start ``layers`` in order, each once the previous is ready; run until stopped."""
        self.layers = layers
        async with trio.open_nursery() as nursery:
            self._cancel_scope = nursery.cancel_scope
            nursery.start_soon(self._dispatch)
            for layer in layers:
                await nursery.start(self._supervise, layer)
            task_status.started()

    def shutdown(self) -> None:
        """Stop every layer now (cancellation); safe to call more than once."""
        self._stopping = True
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    async def wait_for(self, stage: Stage) -> StateChange:
        """Wait until some layer has reported ``stage``; return that notification."""
        while True:
            if stage in self.first_by_stage:
                return self.first_by_stage[stage]
            changed = self._changed
            await changed.wait()

    def statistics(self) -> dict[str, object]:
        """Every layer's statistics, by layer name."""
        return {layer.name: layer.statistics() for layer in self.layers}

    async def _supervise(
        self, layer: Layer, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            await layer.run(task_status=task_status)
        except Exception as exc:
            exc.add_note(f"(raised in the {layer.name} layer)")
            raise
        if not self._stopping:
            raise LocalError(f"the {layer.name} layer stopped while the stack was running")

    async def _dispatch(self) -> None:
        async for change in self._events_receive:
            self.first_by_stage.setdefault(change.stage, change)
            if self._on_state is not None:
                self._on_state(change)
            self._changed.set()
            self._changed = trio.Event()


@contextmanager
def one_error() -> Iterator[None]:
    """At a public boundary: an ExceptionGroup leaving the block becomes its primary error,
    raised from the group (ARCHITECTURE.md "Errors")."""
    try:
        yield
    except BaseExceptionGroup as group:
        error = primary_error(group)
        if error is group:
            raise
        raise error from group


def leaf_exceptions(error: BaseException) -> list[BaseException]:
    """Flatten nested exception groups into their leaves, in order."""
    if isinstance(error, BaseExceptionGroup):
        leaves: list[BaseException] = []
        for inner in error.exceptions:
            leaves.extend(leaf_exceptions(inner))
        return leaves
    return [error]


def primary_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception to show a caller for a failed stack.

    The first ``VPNError`` wins (it says what the user must do); otherwise a lone exception
    (e.g. one raised by the caller's own code inside ``open_tunnel``) is passed through as it
    is; anything else is a bug and becomes a ``VPNError`` naming it.
    """
    leaves = leaf_exceptions(group)
    for leaf in leaves:
        if isinstance(leaf, VPNError):
            return leaf
    if len(leaves) == 1:
        return leaves[0]
    for leaf in leaves:
        if not isinstance(leaf, Exception):
            return group  # KeyboardInterrupt and friends travel unchanged
    return VPNError(f"internal error in vpnstack: {leaves[0]!r} (please report it)")
