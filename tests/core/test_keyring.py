"""KeyRing with literal ``now``: lame duck, the stock sending rule, triggers (docs §5.7)."""

from __future__ import annotations

import attrs
import pytest

from vpnstack.core.datachannel.keyring import KeyRing
from vpnstack.errors import LocalError
from vpnstack.messages import RenegotiationRequest
from vpnstack.settings import DataChannelSettings


def stock_ring(**overrides: float | int | None) -> KeyRing[str]:
    """A ring with the stock settings (settings.py), some of them overridden."""
    settings = attrs.evolve(DataChannelSettings(), **overrides)
    return KeyRing[str](**attrs.asdict(settings))


def test_one_key_sends_and_receives() -> None:
    ring = stock_ring()
    assert ring.sending_key(0.0) is None and ring.newest is None
    assert ring.install(0, 10.0, "k0") == []
    assert ring.sending_key(10.0) == 0 and ring.accepts(0, 10.0)
    assert not ring.accepts(1, 10.0)
    assert ring.next_timer() is None  # no lame duck, nothing to expire


def test_stock_rule_keeps_the_old_key_sending_during_the_new_keys_deferred_auth_window() -> None:
    # hand-window 60, reneg-sec 3600: the window is min(60, 1800) = 60 s (ssl.c).
    ring = stock_ring(hand_window=60.0, reneg_sec=3600.0, tran_window=3600.0)
    assert ring.deferred_window == 60.0
    ring.install(0, 0.0, "k0")
    ring.install(1, 3600.0, "k1")
    # Key 0 is past its window (0 + 60), key 1 is not (3600 + 60): key 0 still sends.
    assert ring.sending_key(3600.0) == 0
    assert ring.sending_key(3659.999) == 0
    assert ring.sending_key(3660.0) == 1
    # Both decrypt meanwhile.
    assert ring.accepts(0, 3659.0) and ring.accepts(1, 3659.0)


def test_newest_sends_at_once_when_both_keys_are_inside_their_windows() -> None:
    ring = stock_ring(hand_window=60.0, reneg_sec=None)
    ring.install(0, 0.0, "k0")
    ring.install(1, 4.0, "k1")  # key 0's window (until 60) is not over: no older key to prefer
    assert ring.sending_key(4.0) == 1


def test_window_is_half_of_a_short_reneg_sec() -> None:
    ring = stock_ring(hand_window=60.0, reneg_sec=4.0)
    assert ring.deferred_window == 2.0
    ring.install(0, 0.0, "k0")
    ring.install(1, 4.0, "k1")
    assert ring.sending_key(5.999) == 0
    assert ring.sending_key(6.0) == 1


def test_lame_duck_dies_after_tran_window_and_a_third_key_forgets_the_oldest() -> None:
    ring = stock_ring(tran_window=30.0, hand_window=10.0)
    ring.install(0, 0.0, "k0")
    assert ring.install(1, 100.0, "k1") == []
    assert ring.next_timer() == 130.0
    assert ring.accepts(0, 129.999)
    assert not ring.accepts(0, 130.0)
    assert ring.expire(129.0) == []
    assert ring.expire(130.0) == [0]
    assert ring.key_ids() == [1] and ring.sending_key(130.0) == 1
    ring.install(2, 200.0, "k2")
    assert ring.install(3, 201.0, "k3") == [1]  # key 1 was the lame duck of key 2: now forgotten
    assert ring.key_ids() == [2, 3]


def test_an_expired_lame_duck_never_sends() -> None:
    ring = stock_ring(tran_window=5.0, hand_window=60.0, reneg_sec=3600.0)
    ring.install(0, 0.0, "k0")
    ring.install(1, 100.0, "k1")  # key 0 past its window: it would send until 160 ...
    assert ring.sending_key(104.0) == 0
    assert ring.sending_key(105.0) == 1  # ... but it dies at 105


def test_reneg_pkts_and_bytes_ask_once_for_the_newest_key_only() -> None:
    ring = stock_ring(reneg_pkts=10, reneg_bytes=None)
    ring.install(0, 0.0, "k0")
    ring.count(0, 9, 900)
    assert ring.take_requests() == []
    ring.count(0, 1, 100)
    assert ring.take_requests() == [RenegotiationRequest(0, "reneg-pkts 10")]
    ring.count(0, 50, 100)
    assert ring.take_requests() == []  # once per key
    ring.install(1, 10.0, "k1")
    ring.count(0, 100, 100)  # the lame duck's traffic does not count
    assert ring.take_requests() == []
    ring.count(1, 10, 10)
    assert ring.take_requests() == [RenegotiationRequest(1, "reneg-pkts 10")]

    ring = stock_ring(reneg_bytes=1000)
    ring.install(0, 0.0, "k0")
    ring.count(0, 3, 999)
    assert ring.take_requests() == []
    ring.count(0, 1, 1)
    assert ring.take_requests() == [RenegotiationRequest(0, "reneg-bytes 1000")]


def test_packet_id_trigger_and_zero_limits_are_off() -> None:
    ring = stock_ring(reneg_bytes=0, reneg_pkts=0)
    ring.install(3, 0.0, "k3")
    ring.count(3, 10**9, 10**12)
    assert ring.take_requests() == []
    ring.count(3, 1, 100, near_wrap=True)  # §6.8: send id reached 0xFF000000
    reason = "packet ids or epochs near their end (§6.8, §6.9)"
    assert ring.take_requests() == [RenegotiationRequest(3, reason)]


def test_the_ring_owns_each_keys_state_and_forgets_it_with_the_key() -> None:
    # One owner of per-key state (issue 7): the state lives and dies with the key's life.
    ring = stock_ring(tran_window=30.0, hand_window=10.0)
    ring.install(0, 0.0, "protector 0")
    ring.install(1, 100.0, "protector 1")
    assert ring.state(0) == "protector 0" and ring.state(1) == "protector 1"
    assert ring.receiving(0, 129.999) == "protector 0"
    assert ring.receiving(0, 130.0) is None  # past its tran-window, even before expire()
    assert ring.receiving(5, 100.0) is None
    assert ring.expire(130.0) == [0]
    with pytest.raises(LocalError):
        ring.state(0)
