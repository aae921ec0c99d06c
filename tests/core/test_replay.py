"""Replay window edges (docs §6.8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpnstack.core.shared.drops import DropReason
from vpnstack.core.shared.replay import ReplayWindow
from vpnstack.errors import RemoteProtocolError


def reason_of(window: ReplayWindow, packet_id: int, now: float, packet_time: int = 0) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        window.check(packet_id, now, packet_time)
    return info.value.reason


def test_id_zero_is_always_rejected() -> None:
    window = ReplayWindow()
    assert reason_of(window, 0, 1.0) == "replay-zero-id"
    window.check(1, 1.0)
    assert reason_of(window, 0, 1.0) == "replay-zero-id"


def test_in_order_ids_accepted_and_duplicates_rejected() -> None:
    window = ReplayWindow()
    for packet_id in range(1, 200):
        window.check(packet_id, 1.0)
    assert window.highest_id == 199
    assert reason_of(window, 199, 1.0) == "replay-duplicate"
    assert reason_of(window, 150, 1.0) == "replay-duplicate"


def test_exactly_63_behind_accepted_64_behind_rejected() -> None:
    window = ReplayWindow()
    window.check(100, 1.0)
    window.check(100 - 63, 1.0)  # d = 63: inside the 64-slot window
    assert reason_of(window, 100 - 64, 1.0) == "replay-too-old"  # d = 64
    assert reason_of(window, 100 - 63, 1.0) == "replay-duplicate"


def test_gap_then_reordered_fill_in() -> None:
    window = ReplayWindow()
    window.check(1, 0.0)
    window.check(10, 0.0)
    for packet_id in range(9, 1, -1):
        window.check(packet_id, 0.0)
    for packet_id in range(1, 11):
        assert reason_of(window, packet_id, 0.0) == "replay-duplicate"


def test_big_jump_forward_clears_the_window() -> None:
    window = ReplayWindow()
    window.check(5, 0.0)
    window.check(5 + 64, 0.0)  # exactly one full window ahead
    # 6..68 were never seen; 5 is now 64 behind.
    window.check(6, 0.0)
    window.check(68, 0.0)
    assert reason_of(window, 5, 0.0) == "replay-too-old"
    window.check(1000, 0.0)
    window.check(1000 - 63, 0.0)


def test_slot_reuse_after_window_moves() -> None:
    # Id 3 and id 67 share the slot 3 % 64; 67 must not look "seen" because 3 was.
    window = ReplayWindow()
    window.check(3, 0.0)
    window.check(66, 0.0)
    window.check(68, 0.0)
    window.check(67, 0.0)
    assert reason_of(window, 67, 0.0) == "replay-duplicate"


def test_expiry_after_time_backtrack() -> None:
    window = ReplayWindow()
    window.check(10, 100.0)
    # A reordered packet within 15 s of the newer one is fine (the bound is inclusive).
    window.check(9, 115.0)
    # Id 8: the newer id 10 arrived more than 15 s ago.
    assert reason_of(window, 8, 115.5) == "replay-expired"


def test_expiry_measured_from_any_newer_seen_id() -> None:
    window = ReplayWindow()
    window.check(5, 0.0)
    window.check(20, 10.0)
    # At 16 s: id 5 arrived 16 s ago, so ids below 5 are expired ...
    assert reason_of(window, 4, 16.0) == "replay-expired"
    # ... but ids between 5 and 20 only have id 20 (10 s old) newer than them.
    window.check(6, 16.0)
    # At 26 s, id 20 is also more than 15 s old.
    assert reason_of(window, 7, 25.5) == "replay-expired"


def test_expiry_does_not_apply_to_new_ids() -> None:
    window = ReplayWindow()
    window.check(1, 0.0)
    window.check(2, 1000.0)


def test_custom_size_and_backtrack() -> None:
    window = ReplayWindow(size=4, time_backtrack=1.0)
    window.check(10, 0.0)
    window.check(7, 0.5)
    assert reason_of(window, 6, 0.5) == "replay-too-old"
    assert reason_of(window, 8, 1.5) == "replay-expired"


def test_long_form_time_forward_restarts_the_window() -> None:
    window = ReplayWindow()
    window.check(50, 0.0, packet_time=1000)
    # A newer time is accepted even with a low id, and restarts the window at that id.
    window.check(2, 0.0, packet_time=1001)
    assert window.highest_time == 1001
    assert window.highest_id == 2
    window.check(1, 0.0, packet_time=1001)
    assert reason_of(window, 2, 0.0, packet_time=1001) == "replay-duplicate"


def test_long_form_time_backwards_rejected() -> None:
    window = ReplayWindow()
    window.check(1, 0.0, packet_time=1000)
    window.check(2, 0.0, packet_time=1001)
    assert reason_of(window, 3, 0.0, packet_time=1000) == "replay-time-backwards"
    # The rejected packet changed nothing.
    window.check(3, 0.0, packet_time=1001)


def test_long_form_same_time_behaves_like_short_form() -> None:
    window = ReplayWindow()
    window.check(1, 0.0, packet_time=77)
    window.check(3, 0.0, packet_time=77)
    window.check(2, 0.0, packet_time=77)
    assert reason_of(window, 2, 0.0, packet_time=77) == "replay-duplicate"


def test_all_reasons_start_with_replay() -> None:
    window = ReplayWindow()
    window.check(100, 0.0, 5)
    reasons = {
        reason_of(window, 0, 0.0, 5),
        reason_of(window, 100, 0.0, 5),
        reason_of(window, 1, 0.0, 5),
        reason_of(window, 99, 20.0, 5),
        reason_of(window, 101, 0.0, 4),
    }
    assert len(reasons) == 5
    assert all(reason.startswith("replay") for reason in reasons)


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=300))
def test_matches_a_reference_model_without_expiry(ids: list[int]) -> None:
    """Against a plain set-based model of §6.8 steps 1 and 3 (no time involved)."""
    window = ReplayWindow()
    seen: set[int] = set()
    highest = 0
    for packet_id in ids:
        expected_ok = packet_id > highest or (highest - packet_id < 64 and packet_id not in seen)
        try:
            window.check(packet_id, 0.0)
            accepted = True
        except RemoteProtocolError:
            accepted = False
        assert accepted == expected_ok, (packet_id, highest)
        if accepted:
            seen.add(packet_id)
            highest = max(highest, packet_id)


class _ListWindow:
    """The former list-of-slots window, kept as the model the bit-mask window must match."""

    def __init__(self, size: int, time_backtrack: float) -> None:
        self.size, self.time_backtrack = size, time_backtrack
        self.highest_time = self.highest_id = 0
        self.seen: list[float | None] = [None] * size

    def check(self, packet_id: int, now: float, packet_time: int = 0) -> None:
        if packet_id == 0:
            raise RemoteProtocolError(DropReason.REPLAY_ZERO_ID, "")
        if packet_time != self.highest_time:
            if packet_time < self.highest_time:
                raise RemoteProtocolError(DropReason.REPLAY_TIME_BACKWARDS, "")
            self.highest_time, self.highest_id = packet_time, 0
            self.seen = [None] * self.size
        highest, size, seen = self.highest_id, self.size, self.seen
        if packet_id > highest:
            if packet_id - highest >= size:
                self.seen = seen = [None] * size
            else:
                for cleared in range(highest + 1, packet_id):
                    seen[cleared % size] = None
            seen[packet_id % size] = now
            self.highest_id = packet_id
            return
        if highest - packet_id >= size:
            raise RemoteProtocolError(DropReason.REPLAY_TOO_OLD, "")
        if seen[packet_id % size] is not None:
            raise RemoteProtocolError(DropReason.REPLAY_DUPLICATE, "")
        for newer in range(packet_id + 1, highest + 1):
            received = seen[newer % size]
            if received is not None and received < now - self.time_backtrack:
                raise RemoteProtocolError(DropReason.REPLAY_EXPIRED, "")
        seen[packet_id % size] = now


@settings(max_examples=400, deadline=None)
@given(
    size=st.sampled_from([1, 2, 5, 8, 64]),
    steps=st.lists(
        st.tuples(
            st.one_of(st.integers(-9, 9), st.integers(-70, 70)),
            st.sampled_from([0.0, 0.5, 4.0, 16.0]),
            st.integers(0, 2),
        ),
        max_size=120,
    ),
)
def test_bit_mask_window_answers_like_the_list_window(
    size: int, steps: list[tuple[int, float, int]]
) -> None:
    window, model = ReplayWindow(size, 15.0), _ListWindow(size, 15.0)
    now, packet_id, packet_time = 0.0, 0, 0
    for delta, elapsed, time_step in steps:
        now += elapsed
        packet_id = max(0, packet_id + delta)
        packet_time += 1 if time_step == 2 and delta % 7 == 0 else 0
        outcomes = []
        for w in (window, model):
            try:
                w.check(packet_id, now, packet_time)
                outcomes.append(None)
            except RemoteProtocolError as exc:
                outcomes.append(exc.reason)
        assert outcomes[0] == outcomes[1], (packet_id, now, packet_time)
        assert (window.highest_id, window.highest_time) == (model.highest_id, model.highest_time)
