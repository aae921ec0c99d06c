"""UnreachableHint with literal ``now`` values (docs §1.6)."""

from __future__ import annotations

from vpnstack.core.networkio.unreachable import UnreachableHint


def test_a_single_spoofed_error_is_ignored() -> None:
    hint = UnreachableHint(0.0)
    hint.heard(1.0)
    hint.unreachable(1.5)
    assert not hint.verdict(10.0)  # long silence, but one error is no evidence
    assert hint.deadline() is None


def test_errors_while_authentic_traffic_flows_are_ignored() -> None:
    hint = UnreachableHint(0.0)
    t = 0.0
    for _ in range(20):  # an error every 0.5 s, and the server's packets in between
        t += 0.5
        hint.unreachable(t)
        hint.unreachable(t)
        hint.heard(t + 0.25)
        assert not hint.verdict(t + 0.25)
    assert hint.errors == 0
    assert not hint.verdict(t + 1.9)


def test_errors_after_silence_trigger() -> None:
    hint = UnreachableHint(0.0)
    hint.heard(5.0)  # the server's last packet
    hint.unreachable(5.2)
    hint.unreachable(5.4)
    assert hint.deadline() is None
    hint.unreachable(5.6)
    assert hint.deadline() == 7.0
    assert not hint.verdict(6.99)  # 3 errors, but the server might still answer
    assert hint.verdict(7.0)


def test_traffic_resets_the_suspicion() -> None:
    hint = UnreachableHint(0.0)
    for t in (1.0, 1.2, 1.4, 1.6):
        hint.unreachable(t)
    hint.heard(1.9)  # the server is there after all
    assert not hint.verdict(10.0)
    assert hint.deadline() is None
    for t in (2.0, 2.2, 2.4):
        hint.unreachable(t)
    assert hint.deadline() == 3.9
    assert hint.verdict(3.9)


def test_a_server_never_heard_counts_from_the_start() -> None:
    hint = UnreachableHint(10.0)  # the session started at 10: nothing heard yet
    for t in (10.0, 12.0, 16.0):  # the hard reset and its retransmissions, all refused
        hint.unreachable(t)
    assert hint.verdict(16.0)


def test_thresholds_are_parameters() -> None:
    hint = UnreachableHint(0.0, silence=5.0, errors=1)
    hint.unreachable(1.0)
    assert hint.deadline() == 5.0
    assert not hint.verdict(4.9)
    assert hint.verdict(5.0)
