"""The workers manager: start order, notifications, failure and shutdown."""

from __future__ import annotations

import pytest
import trio

from vpnstack.errors import AuthFailed, LocalError, VPNError
from vpnstack.manager import WorkersManager, one_error, primary_error
from vpnstack.messages import Stage, StateChange


class FakeLayer:
    """A layer that records when it started and can be told to fail."""

    def __init__(self, name: str, log: list[str], *, fail_after: float | None = None,
                 error: Exception | None = None) -> None:
        self.name = name
        self._log = log
        self._fail_after = fail_after
        self._error = error
        self.cancelled = False

    def statistics(self) -> dict[str, str]:
        return {"name": self.name}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep(1)  # takes a while to get ready
        self._log.append(f"{self.name} ready")
        task_status.started()
        try:
            if self._fail_after is not None:
                await trio.sleep(self._fail_after)
                assert self._error is not None
                raise self._error
            await trio.sleep_forever()
        except trio.Cancelled:
            self.cancelled = True
            raise


async def test_layers_start_bottom_up_each_after_the_previous_is_ready(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    layers = [FakeLayer(n, log) for n in ("bottom", "middle", "top")]
    manager = WorkersManager()
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run, layers)
        assert log == ["bottom ready", "middle ready", "top ready"]
        assert trio.current_time() == pytest.approx(3.0)
        assert manager.statistics() == {n: {"name": n} for n in ("bottom", "middle", "top")}
        manager.shutdown()
    assert all(layer.cancelled for layer in layers)


async def test_notifications_reach_waiters_and_the_hook_in_order(
    autojump_clock: trio.abc.Clock,
) -> None:
    seen: list[Stage] = []
    manager = WorkersManager(on_state=lambda change: seen.append(change.stage))
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run, [FakeLayer("only", [])])

        async def later() -> None:
            await trio.sleep(5)
            manager.notify(StateChange("x", Stage.RESET_SENT))
            manager.notify(StateChange("x", Stage.TUNNEL_UP, "up"))

        nursery.start_soon(later)
        change = await manager.wait_for(Stage.TUNNEL_UP)
        assert change.detail == "up"
        assert trio.current_time() == pytest.approx(6.0)
        assert seen == [Stage.RESET_SENT, Stage.TUNNEL_UP]
        manager.shutdown()


async def test_first_failure_cancels_every_layer_and_names_itself(
    autojump_clock: trio.abc.Clock,
) -> None:
    layers = [
        FakeLayer("a", []),
        FakeLayer("b", [], fail_after=2, error=AuthFailed("bad password")),
        FakeLayer("c", []),
    ]
    manager = WorkersManager()
    with pytest.raises(BaseExceptionGroup) as info:
        async with trio.open_nursery() as nursery:
            await nursery.start(manager.run, layers)
    error = primary_error(info.value)
    assert isinstance(error, AuthFailed)
    assert "(raised in the b layer)" in getattr(error, "__notes__", [])
    assert layers[0].cancelled and layers[2].cancelled


async def test_a_layer_returning_on_its_own_is_reported_as_a_bug() -> None:
    class Quitter(FakeLayer):
        async def run(
            self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
        ) -> None:
            task_status.started()

    manager = WorkersManager()
    with pytest.raises(BaseExceptionGroup) as info:
        async with trio.open_nursery() as nursery:
            await nursery.start(manager.run, [Quitter("quitter", [])])
    leaves = info.value.exceptions[0]
    assert isinstance(leaves, BaseExceptionGroup)
    assert isinstance(leaves.exceptions[0], LocalError)
    assert "quitter" in str(leaves.exceptions[0])


def test_primary_error_prefers_vpn_errors_and_wraps_bugs() -> None:
    auth = AuthFailed("no")
    group = ExceptionGroup("x", [ValueError("bug"), ExceptionGroup("y", [auth])])
    assert primary_error(group) is auth
    lone = KeyError("user code")
    assert primary_error(ExceptionGroup("x", [lone])) is lone
    wrapped = primary_error(ExceptionGroup("x", [ValueError("a"), TypeError("b")]))
    assert isinstance(wrapped, VPNError)
    assert "internal error" in str(wrapped)


def test_one_error_raises_the_primary_error_from_the_group() -> None:
    auth = AuthFailed("no")
    with pytest.raises(AuthFailed) as info, one_error():
        raise ExceptionGroup("x", [ValueError("bug"), auth])
    assert info.value is auth
    assert isinstance(info.value.__cause__, ExceptionGroup)
