"""What vpnstack-client does after a session ends: the reconnect policy, as pure functions.

How this works: the lifecycle (``client/lifecycle.py``) asks ``decide(error, ...)`` what a
failure means — end the run with an exit status, reconnect after the connect-retry backoff,
reconnect at once (a rejected auth-token: retry with the real password), or ask the user for
credentials again — and ``RemoteRotation`` which remote to try next. No I/O and no clock here,
so every rule is a unit test.

The rules follow openvpn(8):

* ``connect-retry n [max]``: wait n seconds between attempts; after 5 failed attempts the wait
  doubles each time, capped at max (default 300 s). ``connect-retry-max N`` ends the run
  after N failed attempts in a row.
* remotes are tried in order, wrapping round; ``remote-random`` shuffles them once at start.
  A failed attempt moves on to the next remote; a session that was up and then dropped
  (ping-restart, EXIT, RESTART) is retried on the same remote first, unless RESTART carries
  the ``[N]`` flag.
* AUTH_FAILED ends the run (``auth-retry none``), is retried with the same credentials
  (``nointeract``) or with credentials asked for again (``interact``); a rejected auth-token
  is dropped and the real credentials are used at once. ``AUTH_FAILED,TEMP`` is retried after
  at least its ``backoff``, on the same server for ``advance no``. HALT ends the run; RESTART,
  EXIT, ping-restart, handshake timeouts and network errors reconnect.
* A session that was up and ended with ``ServerUnreachable`` (the server went silent while
  our packets drew ICMP port unreachable: it stopped or restarted, docs §1.6) is retried after
  ``RESTART_RECONNECT_DELAY`` (1 s) every time, not after the growing connect-retry backoff:
  a restarting server is usually back within seconds, and each attempt that finds it still
  down costs at least 2 s of silence plus 3 refused packets before the next verdict, so the
  attempts stay rare. Before the tunnel was ever up, it is an ordinary network error.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence

import attrs

from vpnstack.config import Remote
from vpnstack.errors import (
    AuthFailed,
    HandshakeTimeout,
    KeepaliveTimeout,
    NetworkError,
    ServerHalted,
    ServerUnreachable,
    VPNError,
)

EXIT_OK = 0
"""A clean exit after SIGINT/SIGTERM."""
EXIT_FAILURE = 1
"""The run ended because of an error that a reconnect would not fix."""
EXIT_USAGE = 2
"""Bad command line or configuration (argparse uses 2 as well)."""

RETRIES_BEFORE_BACKOFF = 5
"""Failed attempts at the base delay before the delay starts doubling (openvpn(8))."""
RESTART_RECONNECT_DELAY = 1.0
"""Seconds before reconnecting to a server that stopped or restarted under an up session."""


class Action(enum.Enum):
    """What to do after a session ended with an error."""

    EXIT = "exit"
    RECONNECT = "reconnect after backoff"
    RECONNECT_NOW = "reconnect at once"
    ASK_CREDENTIALS = "ask for credentials, then reconnect"


@attrs.frozen
class Decision:
    """The verdict on one failure."""

    action: Action
    """What to do."""
    exit_status: int = EXIT_FAILURE
    """Exit status when ``action`` is EXIT."""
    min_delay: float = 0.0
    """Wait at least this long before reconnecting (AUTH_FAILED,TEMP backoff)."""
    next_remote: bool | None = None
    """Move to the next remote (True), stay (False), or the default for how it ended (None)."""
    delay: float | None = None
    """Reconnect after exactly this many seconds, instead of the connect-retry backoff."""


def decide(
    error: VPNError,
    *,
    auth_retry: str = "none",
    using_auth_token: bool = False,
    was_up: bool = False,
) -> Decision:
    """What a session failure means for the run (see the module docstring); ``was_up``:
    the session's tunnel had come up before it ended."""
    if isinstance(error, AuthFailed):
        if error.temporary:
            return Decision(
                Action.RECONNECT,
                min_delay=error.backoff or 0.0,
                next_remote=None if error.advance is None else error.advance != "no",
            )
        if using_auth_token:  # §5.5: drop the token, use the real credentials, same server
            return Decision(Action.RECONNECT_NOW, next_remote=False)
        if auth_retry == "nointeract":
            return Decision(Action.RECONNECT)
        if auth_retry == "interact":
            return Decision(Action.ASK_CREDENTIALS)
        return Decision(Action.EXIT)
    if isinstance(error, ServerHalted):
        if not error.reconnect:
            return Decision(Action.EXIT)
        return Decision(Action.RECONNECT, next_remote=True if error.next_remote else None)
    if isinstance(error, ServerUnreachable) and was_up:
        return Decision(Action.RECONNECT, delay=RESTART_RECONNECT_DELAY, next_remote=False)
    if isinstance(error, KeepaliveTimeout | HandshakeTimeout | NetworkError):
        return Decision(Action.RECONNECT)
    # Certificates, cipher negotiation, TLS, configuration: trying again cannot help.
    return Decision(Action.EXIT)


def retry_delay(failures: int, *, base: float, maximum: float) -> float:
    """Seconds to wait before the next attempt after ``failures`` failed ones in a row."""
    if failures <= 0:
        return 0.0
    if failures <= RETRIES_BEFORE_BACKOFF:
        return base
    return min(base * 2.0 ** (failures - RETRIES_BEFORE_BACKOFF), maximum)


class RemoteRotation:
    """The remotes to try, in order and wrapping round (shuffled once for remote-random)."""

    def __init__(
        self, remotes: Sequence[Remote], *, shuffle: bool = False, rng: random.Random | None = None
    ) -> None:
        if not remotes:
            raise ValueError("no remote to connect to")
        self._remotes = list(remotes)
        if shuffle:
            (rng or random.Random()).shuffle(self._remotes)
        self._next = 0

    def next(self) -> Remote:
        """The remote for the next attempt."""
        remote = self._remotes[self._next % len(self._remotes)]
        self._next += 1
        return remote

    def again(self) -> None:
        """Make the next attempt use the remote just tried once more."""
        self._next -= 1

    def __len__(self) -> int:
        return len(self._remotes)
