################################################################################################
# The per-key state machine of the TLS session (docs §5, §5.5, §5.7)
################################################################################################
#
# Rule: every phase a key goes through, and what moves it on, is in TRANSITIONS below. The
# session (session.py) only turns packets and timers into events, fires them, and carries out
# the named actions; it never sets a phase itself.
#
# Theory of operation
# ===================
#
# An OpenVPN session negotiates one *key* per key id: key id 0 when it starts, then a new key id
# (1..7, then 1 again) on every renegotiation. Each key has its own machine (KeyMachine), so
# at most three exist at a time: the lame duck, the active key and the one being negotiated.
#
# Key id 0 (left column) and a renegotiated key (right column) take different roads to ACTIVE:
#
#   Start -> HARD_RESET_SENT             RenegotiationDue -> SOFT_RESET_SENT  (we ask, §5.7 step 1)
#        ServerReset -> TLS_HANDSHAKE         ServerSoftReset -> REKEY_TLS
#     TlsEstablished -> KEY_EXCHANGE     ServerRenegotiates -> REKEY_TLS      (the server asks)
#   KeyMethod2Received -> PUSH_WAIT         TlsEstablished -> REKEY_KEY_EXCHANGE
#       PushComplete -> ACTIVE           KeyMethod2Received -> ACTIVE
#
# The event that starts a new key id (RenegotiationDue, ServerRenegotiates) is seen by every
# key, the way h11's client and server machines both see a Request: the active key becomes the
# LAME_DUCK (still read, §5.7), the old lame duck is CLOSED and forgotten, and the new key is
# born. A birth is a row whose state is None ("no key state yet"): the key is created directly
# in the row's next phase, so there is no unobservable initial phase.
#
# While a key negotiates, its hand-window deadline runs (§4): HandWindowExpired has a row in
# exactly those phases, and the session asks the table (``negotiating``) instead of keeping
# its own list. Likewise a record after the TLS handshake is key-method 2 exactly where
# KeyMethod2Received has a row, and control text elsewhere.
#
# Firing: the row for (current phase, type(event)) names the next phase and an action. The
# action runs first, in the old phase; when it returns the key takes the next phase. An action
# that raises leaves the key where it was (a dropped message changes nothing; a fatal error ends
# the session, so a row whose action always raises names CLOSED only for the picture). An
# action may fire further events on the same key (a control record that completes the push):
# those transitions stand; the self-loop that carried them does not undo them.
#
# An event with no row for the key's phase takes the path UNHANDLED names for its type, which is
# what the session did before the table existed: drop the message as a protocol violation
# (RemoteProtocolError, counted by the service), ignore it (counted, or silently), or treat it
# as our own bug (LocalError).
#
# The diagram in diagrams/tlssession.md is drawn from this table by vpnstack/diagram.py.

"""The per-key state machine of the TLS session as one table (see the comment above)."""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from vpnstack.core.tlssession.keymethod2 import ServerKeyMethod2
from vpnstack.core.tlssession.push import PushedOptions
from vpnstack.errors import DropReason, LocalError, RemoteProtocolError


class Phase(enum.Enum):
    """Phases of one key (see the table)."""

    HARD_RESET_SENT = "hard reset sent"
    TLS_HANDSHAKE = "TLS handshake"
    KEY_EXCHANGE = "key-method 2 exchange"
    PUSH_WAIT = "waiting for PUSH_REPLY"
    SOFT_RESET_SENT = "soft reset sent"
    REKEY_TLS = "renegotiation TLS handshake"
    REKEY_KEY_EXCHANGE = "renegotiation key-method 2 exchange"
    ACTIVE = "active"
    LAME_DUCK = "lame duck"
    CLOSED = "closed"


KEY_ID_0_PHASES = frozenset(
    {Phase.HARD_RESET_SENT, Phase.TLS_HANDSHAKE, Phase.KEY_EXCHANGE, Phase.PUSH_WAIT}
)
"""Phases only key id 0 goes through."""
RENEGOTIATION_PHASES = frozenset({Phase.SOFT_RESET_SENT, Phase.REKEY_TLS, Phase.REKEY_KEY_EXCHANGE})
"""Phases only a renegotiated key id goes through."""
FINAL_PHASE = Phase.CLOSED
"""The phase with no way out."""


# --- events ------------------------------------------------------------------------------------


@attrs.frozen
class Event:
    """Something that happened to one key."""

    def detail(self) -> str:
        """Extra text for a dropped event's ``RemoteProtocolError``."""
        return ""


@attrs.frozen
class Start(Event):
    """The session starts: key id 0 is born (§5.1)."""


@attrs.frozen
class ServerReset(Event):
    """The server's P_CONTROL_HARD_RESET_SERVER_V2 (§5.1, §3.9)."""

    peer_session_id: bytes | None
    """The session id it carries (must be 8 bytes)."""
    payload: bytes
    """Its early-negotiation TLVs (§3.9)."""


@attrs.frozen
class TlsData(Event):
    """TLS ciphertext from the server (a P_CONTROL_V1 payload)."""

    payload: bytes
    """The bytes, for the key's TLS client."""


@attrs.frozen
class TlsEstablished(Event):
    """The key's TLS handshake finished and the server's certificate was accepted (§5.1)."""

    description: str
    """Version, cipher suite and server subject, for the user."""


@attrs.frozen
class KeyMethod2Received(Event):
    """The server's key-method 2 record: the first record after the handshake (§5.2)."""

    message: ServerKeyMethod2 = attrs.field(repr=False)
    """The parsed message (randoms: never shown)."""
    now: float
    """When it arrived: reneg-sec counts from here (§5.7)."""


@attrs.frozen
class ControlRecord(Event):
    """A later TLS record: control texts (§5.5)."""

    record: bytes = attrs.field(repr=False)
    """The plaintext (may hold an auth-token: never shown)."""


@attrs.frozen
class PushRequestDue(Event):
    """Five seconds passed without a PUSH_REPLY (§5.5)."""

    now: float
    """The time of the timer."""


@attrs.frozen
class AuthPending(Event):
    """The server sent AUTH_PENDING (§5.5)."""

    timeout: float | None
    """The announced timeout, or None."""


@attrs.frozen
class PushComplete(Event):
    """The final PUSH_REPLY part arrived (§5.5, §5.8.7)."""

    options: PushedOptions
    """Everything pushed, all parts together."""


@attrs.frozen
class ExitRequested(Event):
    """The application leaves and the server speaks cc-exit: write EXIT (§6.6)."""


@attrs.frozen
class RenegotiationDue(Event):
    """We start the next key id: reneg-sec, or the datachannel asked (§5.7, §6.8)."""

    reason: str
    """Why, for the user (e.g. ``reneg-sec 3600``)."""


@attrs.frozen
class ServerRenegotiates(Event):
    """The server's SOFT_RESET for a key id we do not have yet (§5.7 step 2)."""

    key_id: int
    """The key id it names."""

    def detail(self) -> str:
        return f"key id {self.key_id}"


@attrs.frozen
class ServerSoftReset(Event):
    """The server's SOFT_RESET for this key's own id: its answer to ours (§5.7 step 2)."""


@attrs.frozen
class ServerQuiet(Event):
    """The server has sent nothing on this key for a while although it owes us an answer.

    A stock OpenVPN 2.6 server that refuses our certificate, TLS version or cipher frees the
    session and sends nothing more, not even the alert it logged (seen on the wire, §5.8.14): the
    user is told at once what that most likely means, and the hand-window still runs.
    """

    waited: float
    """Seconds since the server was last heard on this key."""


@attrs.frozen
class HandWindowExpired(Event):
    """The key did not finish negotiating within hand-window of its start (§4)."""


# --- what happens to an event without a row ------------------------------------------------------


@attrs.frozen
class Drop:
    """Refuse the message: ``RemoteProtocolError(reason)``, dropped and counted by the service."""

    reason: DropReason
    """The drop reason."""


@attrs.frozen
class Ignore:
    """Ignore the event; the caller learns it was not taken."""

    counter: DropReason | None = None
    """The ``ignored`` counter to raise, or None to ignore silently."""


@attrs.frozen
class Impossible:
    """No such event can reach this phase: our own bug (``LocalError``)."""


Unhandled = Drop | Ignore | Impossible

UNHANDLED: dict[type[Event], Unhandled] = {
    Start: Impossible(),
    ServerReset: Ignore(DropReason.DUPLICATE_SERVER_RESET),
    TlsData: Drop(DropReason.TLS_DATA_BEFORE_SERVER_RESET),
    TlsEstablished: Impossible(),
    KeyMethod2Received: Impossible(),
    ControlRecord: Drop(DropReason.APP_DATA_BEFORE_KEY_METHOD_2),
    PushRequestDue: Impossible(),
    AuthPending: Ignore(),  # once the tunnel is up it means nothing
    PushComplete: Impossible(),
    ExitRequested: Ignore(),  # no key is up to carry it
    RenegotiationDue: Ignore(DropReason.STALE_RENEGOTIATION_REQUEST),
    ServerRenegotiates: Drop(DropReason.SOFT_RESET_DURING_NEGOTIATION),  # §5.7 step 2: keys first
    ServerSoftReset: Ignore(DropReason.DUPLICATE_SOFT_RESET),
    ServerQuiet: Ignore(),  # the server owes nothing in this phase
    HandWindowExpired: Impossible(),
}
"""The documented path of an event that has no row for the key's phase."""


# --- the table -----------------------------------------------------------------------------------

P = Phase

TRANSITIONS: dict[Phase | None, dict[type[Event], tuple[Phase, str]]] = {
    # None: the key does not exist yet; the row creates it in its next phase.
    None: {
        Start: (P.HARD_RESET_SENT, "send_hard_reset"),
        RenegotiationDue: (P.SOFT_RESET_SENT, "send_soft_reset"),
        ServerRenegotiates: (P.REKEY_TLS, "answer_soft_reset"),
    },
    # --- key id 0 (§5.1, §5.2, §5.5)
    P.HARD_RESET_SENT: {
        ServerReset: (P.TLS_HANDSHAKE, "begin_tls"),
        HandWindowExpired: (P.CLOSED, "fail_hand_window"),
    },
    P.TLS_HANDSHAKE: {
        TlsData: (P.TLS_HANDSHAKE, "feed_tls"),
        ServerQuiet: (P.TLS_HANDSHAKE, "report_quiet"),
        TlsEstablished: (P.KEY_EXCHANGE, "send_key_method_2"),
        HandWindowExpired: (P.CLOSED, "fail_hand_window"),
    },
    P.KEY_EXCHANGE: {
        TlsData: (P.KEY_EXCHANGE, "feed_tls"),
        ServerQuiet: (P.KEY_EXCHANGE, "report_quiet"),
        KeyMethod2Received: (P.PUSH_WAIT, "request_push"),
        HandWindowExpired: (P.CLOSED, "fail_hand_window"),
    },
    P.PUSH_WAIT: {
        TlsData: (P.PUSH_WAIT, "feed_tls"),
        ControlRecord: (P.PUSH_WAIT, "read_control_texts"),
        PushRequestDue: (P.PUSH_WAIT, "send_push_request"),
        AuthPending: (P.PUSH_WAIT, "extend_hand_window"),
        PushComplete: (P.ACTIVE, "activate"),
        HandWindowExpired: (P.CLOSED, "fail_hand_window"),
    },
    # --- a renegotiated key id (§5.7)
    P.SOFT_RESET_SENT: {
        ServerSoftReset: (P.REKEY_TLS, "start_tls"),
        HandWindowExpired: (P.CLOSED, "fail_hand_window"),
    },
    P.REKEY_TLS: {
        TlsData: (P.REKEY_TLS, "feed_tls"),
        ServerQuiet: (P.REKEY_TLS, "report_quiet"),
        TlsEstablished: (P.REKEY_KEY_EXCHANGE, "send_key_method_2"),
        HandWindowExpired: (P.CLOSED, "fail_hand_window"),
    },
    P.REKEY_KEY_EXCHANGE: {
        TlsData: (P.REKEY_KEY_EXCHANGE, "feed_tls"),
        ServerQuiet: (P.REKEY_KEY_EXCHANGE, "report_quiet"),
        KeyMethod2Received: (P.ACTIVE, "install_data_keys"),
        HandWindowExpired: (P.CLOSED, "fail_hand_window"),
    },
    # --- every key id once it has data keys
    P.ACTIVE: {
        TlsData: (P.ACTIVE, "feed_tls"),
        ControlRecord: (P.ACTIVE, "read_control_texts"),
        PushComplete: (P.ACTIVE, "apply_later_push"),
        ExitRequested: (P.ACTIVE, "send_exit"),
        RenegotiationDue: (P.LAME_DUCK, "hand_over"),
        ServerRenegotiates: (P.LAME_DUCK, "accept_server_renegotiation"),
    },
    P.LAME_DUCK: {
        TlsData: (P.LAME_DUCK, "feed_tls"),
        ControlRecord: (P.LAME_DUCK, "read_control_texts"),
        PushComplete: (P.LAME_DUCK, "apply_later_push"),
        RenegotiationDue: (P.CLOSED, "forget"),
        ServerRenegotiates: (P.CLOSED, "forget"),
    },
    P.CLOSED: {},
}
"""(phase, event type) -> (next phase, action): the whole life of one key."""

del P


def rows() -> list[tuple[Phase | None, type[Event], Phase, str]]:
    """Every row of the table as (phase, event type, next phase, action), in table order."""
    return [
        (phase, event, next_phase, action)
        for phase, row in TRANSITIONS.items()
        for event, (next_phase, action) in row.items()
    ]


def unhandled(event: Event) -> Ignore:
    """Take ``event``'s documented path when no row takes it (raises for Drop/Impossible)."""
    path = UNHANDLED[type(event)]
    if isinstance(path, Drop):
        raise RemoteProtocolError(path.reason, event.detail())
    if isinstance(path, Impossible):
        raise LocalError(f"{type(event).__name__} cannot happen here")
    return path


class KeyMachine:
    """The phase of one key, moved only by :meth:`fire` (see the comment at the top)."""

    def __init__(self, phase: Phase) -> None:
        self._phase = phase

    @classmethod
    def born(cls, event: Event) -> tuple[KeyMachine, str]:
        """A new key's machine and the birth row's action (the session runs it)."""
        row = TRANSITIONS[None].get(type(event))
        if row is None:
            raise LocalError(f"{type(event).__name__} does not start a key")
        return cls(row[0]), row[1]

    @property
    def phase(self) -> Phase:
        """The key's phase."""
        return self._phase

    def accepts(self, event_type: type[Event]) -> bool:
        """Whether the table has a row for ``event_type`` in the current phase."""
        return event_type in TRANSITIONS[self._phase]

    def fire(self, event: Event, run: Callable[[str, Event], None]) -> Ignore | None:
        """Take ``event``: run the row's action with ``run(action, event)``, then move on.

        Returns None when a row took the event, or the ``Ignore`` of its unhandled path.
        """
        row = TRANSITIONS[self._phase].get(type(event))
        if row is None:
            return unhandled(event)
        before = self._phase
        next_phase, action = row
        run(action, event)
        if self._phase is before:  # nested events moved it on themselves: they stand
            self._phase = next_phase
        return None
