"""The reconnect policy of vpnstack-client, as plain function calls."""

from __future__ import annotations

import random

import pytest

from vpnstack.client.policy import (
    RESTART_RECONNECT_DELAY,
    Action,
    RemoteRotation,
    decide,
    retry_delay,
)
from vpnstack.config import Remote
from vpnstack.errors import (
    AuthFailed,
    CertificateError,
    CipherNegotiationFailed,
    ConfigError,
    HandshakeTimeout,
    KeepaliveTimeout,
    NetworkError,
    ServerHalted,
    ServerUnreachable,
    TLSError,
)


def test_connect_retry_waits_the_base_five_times_then_doubles_up_to_the_cap() -> None:
    delays = [retry_delay(n, base=5, maximum=300) for n in range(0, 12)]
    assert delays == [0, 5, 5, 5, 5, 5, 10, 20, 40, 80, 160, 300]


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (KeepaliveTimeout("ping-restart"), Action.RECONNECT),
        (HandshakeTimeout("no answer"), Action.RECONNECT),
        (NetworkError("unreachable"), Action.RECONNECT),
        (ServerHalted("RESTART", reconnect=True), Action.RECONNECT),
        (ServerHalted("HALT", reconnect=False), Action.EXIT),
        (CertificateError("bad CA"), Action.EXIT),
        (CipherNegotiationFailed("none shared"), Action.EXIT),
        (TLSError("version"), Action.EXIT),
        (ConfigError("bad"), Action.EXIT),
        (AuthFailed("refused"), Action.EXIT),
    ],
)
def test_which_failures_end_the_run(error: Exception, action: Action) -> None:
    assert decide(error).action is action  # type: ignore[arg-type]


def test_auth_failed_follows_auth_retry_and_drops_a_rejected_token() -> None:
    refused = AuthFailed("refused")
    assert decide(refused, auth_retry="none").action is Action.EXIT
    assert decide(refused, auth_retry="nointeract").action is Action.RECONNECT
    assert decide(refused, auth_retry="interact").action is Action.ASK_CREDENTIALS
    assert decide(refused, using_auth_token=True).action is Action.RECONNECT_NOW


def test_remotes_are_tried_in_order_and_wrap_round() -> None:
    remotes = [Remote("a"), Remote("b", 443), Remote("c", proto="udp6")]
    rotation = RemoteRotation(remotes)
    assert [rotation.next().host for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]


def test_remote_random_shuffles_once_then_keeps_that_order() -> None:
    remotes = [Remote(name) for name in "abcdefgh"]
    rotation = RemoteRotation(remotes, shuffle=True, rng=random.Random(7))
    first_round = [rotation.next().host for _ in range(8)]
    assert sorted(first_round) == list("abcdefgh")
    assert first_round != list("abcdefgh")
    assert [rotation.next().host for _ in range(8)] == first_round


def test_no_remote_is_refused() -> None:
    with pytest.raises(ValueError, match="no remote"):
        RemoteRotation([])


def test_auth_failed_temp_waits_its_backoff_on_the_server_it_names() -> None:
    stay = AuthFailed("later", temporary=True, backoff=30, advance="no")
    decision = decide(stay)
    assert (decision.action, decision.min_delay, decision.next_remote) == (
        Action.RECONNECT, 30, False)
    move = decide(AuthFailed("later", temporary=True, advance="remote"))
    assert (move.min_delay, move.next_remote) == (0, True)
    assert decide(AuthFailed("later", temporary=True)).next_remote is None


def test_restart_with_n_moves_to_the_next_remote() -> None:
    assert decide(ServerHalted("RESTART [N]", reconnect=True, next_remote=True)).next_remote
    assert decide(ServerHalted("RESTART", reconnect=True)).next_remote is None
    assert decide(AuthFailed("token"), using_auth_token=True).next_remote is False


def test_again_repeats_the_remote_just_tried() -> None:
    rotation = RemoteRotation([Remote("a"), Remote("b")])
    assert rotation.next().host == "a"
    rotation.again()
    assert [rotation.next().host for _ in range(3)] == ["a", "b", "a"]


def test_a_server_gone_under_an_up_session_is_retried_after_one_second() -> None:
    error = ServerUnreachable("silent and refusing")
    up = decide(error, was_up=True)
    assert (up.action, up.delay, up.next_remote) == (Action.RECONNECT, 1.0, False)
    assert RESTART_RECONNECT_DELAY == 1.0
    # before the tunnel was ever up it is an ordinary network error: connect-retry backoff
    never = decide(error, was_up=False)
    assert (never.action, never.delay) == (Action.RECONNECT, None)
    assert decide(NetworkError("x"), was_up=True).delay is None
