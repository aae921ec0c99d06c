"""The reliability layer of the control channel, sans-I/O (docs §4).

How this works
--------------
Every key_id has its own reliability state (§4 rule 1, §4.12.1): a send side and a receive side,
each counting message ids from 0. ``ReliableCore`` keeps one ``_KeyState`` per key_id.

Send side. ``send()`` takes a ``ControlMessage`` from the TLS layer and cuts it into packets of
at most ``max_payload`` bytes, with no regard for TLS record boundaries (§4 rule 7). Each packet
gets the next message id at once and waits in ``outgoing`` (ordered by id) until it is acked.
``packets_to_send(now)`` transmits, per key_id and in id order:

* a packet never sent before, if it is inside the send window (``id - oldest_unacked < 6``) and,
  for ids >= 1, only once our id 0 (the reset) has been acked (§5.1, §5.8.2);
* a packet whose retransmission time has come: first after the retransmission timeout (RTO),
  then the timeout doubles at every transmission, capped at ``max_timeout`` (the hand-window,
  60 s). Before any RTT sample the RTO is ``tls_timeout`` (2 s), so with nothing ever acked a
  packet goes out at t, t+2, t+6, t+14, t+30 ... as stock (reliable.c ``reliable_send``);
  once acks gave RTT samples it is RFC 6298's ``srtt + 4 rttvar`` with a 0.2 s floor
  (``recovery.py``, §4.9);
* a packet declared lost by ack order: 3 acks of *later* ids arrived (fast retransmit,
  N_ACK_RETRANSMIT), or a packet sent after it was acked and RFC 9002's time threshold
  ``9/8 max(srtt, latest_rtt)`` passed since it was sent.

RTT samples come only from packets acked after a single transmission (Karn). Every
retransmission, whatever triggered it, takes a token from one ``RetransmitBudget`` shared by
all key ids (6 at once, refilled at 6 per RTO): the retransmission rate stays bounded.

Acks are individual per id (§4 rule 3). Each outgoing P_CONTROL/reset packet carries up to 4 of
the acks we owe (CONTROL_SEND_ACK_MAX); whatever is left goes in dedicated P_ACK_V1 packets of up
to 8 acks, sent only when new ids wait to be acked (§4 rule 4, §4.12.3). Like OpenVPN, free ack
slots are filled with recently acked ids (the "MRU" list) so a lost ack is repeated for free.

Receive side. ``receive()`` first applies the packet's acks to the send side (unknown ids are
ignored), then looks at its message id: ids below ``next_expected + 12`` are acked, even
duplicates and replays (§4 rule 2); new ids inside the window are buffered; ids beyond the
window are dropped and counted without an ack. Buffered payloads are handed up strictly in id
order as ``ControlMessage`` objects. When the peer's first packet of a key_id (its reset)
arrives, everything of ours still unacked on that key_id is retransmitted at once (§4 rule 5).

tls-crypt-v2 (§3.9): after our HARD_RESET_CLIENT_V3, the ack of the server's reset must ride
on our next packet of that key id (the P_CONTROL_WKC_V1 that carries the WKc, or the first TLS
bytes), never on a lone P_ACK_V1: a stateless tls-crypt-v2 server cannot authenticate a P_ACK_V1
before it has our WKc, and drops it. So the state of that key id holds its acks back
(``acks_ride``: no P_ACK_V1, and ``next_timer`` does not count them as work) until one of our
packets carries them.

Key ids are reused after 7 -> 1 (§5.7, §5.8.10), so a reset may have to start a fresh state for a
key_id that already has one. Sending a reset on a key_id whose state already sent one starts a
fresh state (a new client hard reset forgets every key_id: a new session). Receiving a soft
reset starts a fresh state only if that key_id's state already received a reset *and* it is
the successor of the newest key_id; otherwise it is a retransmission and is only acked again.

Time is only ever passed in as ``now``; ``next_timer()`` says when ``packets_to_send`` (alias
``on_timer``) next has something to do.
"""

from __future__ import annotations

import enum
from collections import Counter

import attrs

from vpnstack.core.reliabletransport.recovery import RetransmitBudget, RttEstimator
from vpnstack.core.shared.drops import DropCounter, DropReason
from vpnstack.core.shared.opcodes import (
    CONTROL_OPCODES,
    KEY_ID_MASK,
    P_ACK_V1,
    P_CONTROL_HARD_RESET_CLIENT_V2,
    P_CONTROL_HARD_RESET_CLIENT_V3,
    P_CONTROL_HARD_RESET_SERVER_V2,
    P_CONTROL_V1,
    P_CONTROL_WKC_V1,
    RESET_OPCODES,
)
from vpnstack.core.shared.packets import MAX_ACKS, MAX_PIGGYBACK_ACKS
from vpnstack.errors import LocalError, RemoteProtocolError
from vpnstack.messages import ControlMessage, ReliablePacket

SEND_WINDOW = 6
"""TLS_RELIABLE_N_SEND_BUFFERS (§4)."""
RECEIVE_WINDOW = 12
"""TLS_RELIABLE_N_REC_BUFFERS (§4)."""
N_ACK_RETRANSMIT = 3
"""Fast retransmit once this many acks for later ids arrived (§4)."""
RECENT_ACKS = MAX_ACKS
"""Length of the list of recently sent acks repeated in free ack slots (§4 rule 3)."""

_TLS_OPCODES = frozenset({P_CONTROL_V1, P_CONTROL_WKC_V1})
_CLIENT_HARD_RESETS = frozenset({P_CONTROL_HARD_RESET_CLIENT_V2, P_CONTROL_HARD_RESET_CLIENT_V3})
_HARD_RESETS = _CLIENT_HARD_RESETS | {P_CONTROL_HARD_RESET_SERVER_V2}


class ReliableEventKind(enum.Enum):
    """What happened to one of our resets."""

    RESET_SENT = "reset_sent"
    """The first transmission of our id 0 (a reset)."""
    RESET_ACKED = "reset_acked"
    """The peer acked our id 0."""


@attrs.frozen
class ReliableEvent:
    """Something the service may report upward (only resets are reported)."""

    kind: ReliableEventKind
    """Sent or acked."""
    key_id: int
    """The key id of the reset."""
    opcode: int
    """The reset's opcode."""


@attrs.frozen
class ReliableStatistics:
    """Counters of the reliable transport (core counters plus the service's drops)."""

    packets_sent: int
    """Every packet handed down, retransmissions and P_ACK_V1 included."""
    packets_received: int
    """Every well-formed packet received from below."""
    messages_queued: int
    """ControlMessages accepted from above."""
    messages_delivered: int
    """ControlMessages handed up (one per received packet with a message id, in order)."""
    retransmissions: int
    """Transmissions of a message id after its first, fast retransmits included."""
    fast_retransmits: int
    """Retransmissions triggered by ack order before the timeout: N_ACK_RETRANSMIT later acks,
    or the time threshold after a later packet was acked (§4.9)."""
    acks_sent: int
    """Dedicated P_ACK_V1 packets sent."""
    duplicates: int
    """Received packets whose id had already been received (acked again, not delivered)."""
    queue_peak: int
    """Most packets waiting for an ack (or for their first transmission) at any time."""
    queued: int
    """Packets waiting for an ack (or their first transmission) now."""
    drops: dict[str, int]
    """Dropped received packets by reason (out of window, malformed, ...)."""
    rtt_samples: int = 0
    """RTT measurements taken (acks of packets transmitted once, Karn's rule)."""
    srtt: float | None = None
    """Smoothed round-trip time in seconds, None before the first sample."""
    rto: float = 0.0
    """The current retransmission timeout of a first transmission, seconds."""
    budget_waits: int = 0
    """Times a due retransmission waited for the retransmission budget (rate bound)."""


@attrs.define
class _Outgoing:
    """One packet of ours that is not acked yet."""

    message_id: int
    opcode: int
    payload: bytes
    timeout: float
    sent: bool = False
    next_try: float = 0.0
    n_acks: int = 0
    transmissions: int = 0
    first_sent: float = 0.0
    last_sent: float = 0.0
    acked_after: bool = False  # a packet sent after our last transmission was acked


class _KeyState:
    """Send and receive reliability state of one key_id (§4 rule 1)."""

    def __init__(self, key_id: int) -> None:
        self.key_id = key_id
        # send side
        self.next_send_id = 0
        self.outgoing: dict[int, _Outgoing] = {}  # insertion order == id order
        self.reset_acked = False  # our id 0 was acked: ids >= 1 may go out (§5.8.2)
        self.sent_reset: int | None = None  # the opcode of our reset on this key id
        # §3.9: after HARD_RESET_CLIENT_V3, the server reset's ack waits for a packet of ours.
        self.acks_ride = False
        # receive side
        self.next_expected = 0
        self.buffered: dict[int, ReliablePacket] = {}
        self.pending_acks: list[int] = []  # ids we owe an ack for, oldest first
        self.recent_acks: list[int] = []  # most recently sent acks first (OpenVPN ack_mru)
        self.repeats_owed = 0  # extra P_ACK_V1s of recent acks owed (§4.9)

    @property
    def received_reset(self) -> bool:
        return self.next_expected > 0 or 0 in self.buffered

    def eligible(self) -> list[_Outgoing]:
        """Unacked packets that the send window and the reset gate allow on the wire."""
        result: list[_Outgoing] = []
        oldest: int | None = None
        for entry in self.outgoing.values():
            if oldest is None:
                oldest = entry.message_id
            # docs §4: send window, next_id - oldest_unacked < 6
            if entry.message_id - oldest >= SEND_WINDOW:
                break
            # docs §5.1 / §5.8.2: nothing after the reset until the reset is acked
            if entry.message_id >= 1 and not self.reset_acked:
                break
            result.append(entry)
        return result


def _next_key_id(key_id: int) -> int:
    """0 -> 1 -> ... -> 7 -> 1 (§5.7, §5.8.10)."""
    return 1 if key_id == KEY_ID_MASK else key_id + 1


class ReliableCore:
    """Message ids, acks, windows and retransmission for every key_id (docs §4).

    API: ``send(message, now)`` queues a message from above; ``receive(packet, now)`` returns
    the messages now deliverable in order; ``packets_to_send(now)`` (alias ``on_timer``) returns
    the packets to transmit now; ``next_timer()`` says when to call it next; ``backlog()`` counts
    packets not yet transmitted (for backpressure); ``pop_events()`` returns reset events.
    """

    def __init__(
        self,
        *,
        max_payload: int,
        tls_timeout: float = 2.0,
        repeat_acks: bool = True,
        max_timeout: float = 60.0,
    ) -> None:
        if max_payload < 1:
            raise LocalError(f"max_payload must be positive, got {max_payload}")
        if tls_timeout <= 0:
            raise LocalError(f"tls_timeout must be positive, got {tls_timeout}")
        self.max_payload = max_payload
        self.tls_timeout = tls_timeout
        self.repeat_acks = repeat_acks
        # §4.9: RTO from RTT samples; backoff capped by the hand-window (max_timeout).
        self.rtt = RttEstimator(initial_rto=tls_timeout, max_rto=max_timeout)
        self.budget = RetransmitBudget()
        self._budget_waits = 0
        self._states: dict[int, _KeyState] = {}
        self._latest_key_id: int | None = None
        self._now = 0.0
        self._events: list[ReliableEvent] = []
        # counters
        self._packets_sent = 0
        self._packets_received = 0
        self._messages_queued = 0
        self._messages_delivered = 0
        self._retransmissions = 0
        self._fast_retransmits = 0
        self._acks_sent = 0
        self._duplicates = 0
        self._queued = 0
        self._queue_peak = 0
        self._drops = DropCounter()

    # --- key_id generations -------------------------------------------------------------

    def _new_state(self, key_id: int) -> _KeyState:
        old = self._states.get(key_id)
        if old is not None:
            self._queued -= len(old.outgoing)
        state = _KeyState(key_id)
        self._states[key_id] = state
        self._latest_key_id = key_id
        return state

    def _state_for_sent_reset(self, opcode: int, key_id: int) -> _KeyState:
        if opcode in _CLIENT_HARD_RESETS and any(s.next_send_id for s in self._states.values()):
            # A new client hard reset means a new session: forget every key_id.
            self._states.clear()
            self._queued = 0
        state = self._states.get(key_id)
        if state is None or state.next_send_id > 0:
            # No state yet, or we already sent a reset on this key_id: a new generation.
            return self._new_state(key_id)
        return state  # the peer's reset created it; we are answering (§5.7 step 2)

    def _state_for_received_reset(self, opcode: int, key_id: int) -> _KeyState:
        state = self._states.get(key_id)
        if state is None:
            return self._new_state(key_id)
        if (
            state.received_reset
            and opcode not in _HARD_RESETS
            and key_id != self._latest_key_id
            and self._latest_key_id is not None
            and key_id == _next_key_id(self._latest_key_id)
        ):
            # key_id reused after 7 -> 1: the peer starts a renegotiation (§5.7 step 1).
            return self._new_state(key_id)
        return state  # a retransmission of a reset we already know, or our own new key

    # --- from above ---------------------------------------------------------------------

    def send(self, message: ControlMessage, now: float) -> None:
        """Queue a message from the TLS layer; it is cut into packets of ``max_payload``."""
        self._now = now
        opcode, key_id = message.opcode, message.key_id
        if opcode not in CONTROL_OPCODES or opcode == P_ACK_V1:
            raise LocalError(f"cannot send opcode {opcode} as a reliable message")
        if not 0 <= key_id <= KEY_ID_MASK:
            raise LocalError(f"key_id {key_id} is outside 0..7")
        payload = bytes(message.payload)
        if opcode in RESET_OPCODES:
            if len(payload) > self.max_payload:
                raise LocalError("a reset payload must fit in one packet")
            state = self._state_for_sent_reset(opcode, key_id)
            if state.next_send_id != 0:
                raise LocalError(f"reset on key_id {key_id} after other messages")
            chunks = [payload]
        else:
            maybe_state = self._states.get(key_id)
            if maybe_state is None:
                raise LocalError(f"key_id {key_id} has no reset yet; send the reset first")
            state = maybe_state
            if opcode not in _TLS_OPCODES:
                raise LocalError(f"opcode {opcode} is not a reliable message opcode")
            if state.next_send_id == 0:
                # docs §4 rule 1: our id 0 on every key_id is our reset.
                raise LocalError(f"send our reset on key_id {key_id} before TLS bytes")
            # docs §4 rule 7: cut TLS bytes with no regard for record boundaries.
            step = self.max_payload
            chunks = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
        if opcode in RESET_OPCODES:
            state.sent_reset = opcode
        for chunk in chunks:
            mid = state.next_send_id
            state.next_send_id += 1
            state.outgoing[mid] = _Outgoing(
                message_id=mid, opcode=opcode, payload=chunk, timeout=self.tls_timeout
            )
        self._messages_queued += 1
        self._queued += len(chunks)
        self._queue_peak = max(self._queue_peak, self._queued)

    # --- from below ---------------------------------------------------------------------

    def receive(self, packet: ReliablePacket, now: float) -> list[ControlMessage]:
        """Process one packet from below; return the messages now deliverable, in id order.

        Raises ``RemoteProtocolError`` for packets that no decoder should have produced.
        """
        self._now = now
        opcode, key_id, mid = packet.opcode, packet.key_id, packet.message_id
        if opcode not in CONTROL_OPCODES or not 0 <= key_id <= KEY_ID_MASK:
            raise RemoteProtocolError(DropReason.NOT_A_CONTROL_PACKET, f"opcode {opcode}")
        if len(packet.acks) > MAX_ACKS:
            raise RemoteProtocolError(DropReason.TOO_MANY_ACKS, f"{len(packet.acks)} acks")
        if (opcode == P_ACK_V1) != (mid is None):
            raise RemoteProtocolError(DropReason.MESSAGE_ID_PRESENCE, "P_ACK_V1 <=> no message id")
        self._packets_received += 1

        is_reset = opcode in RESET_OPCODES
        if is_reset and mid != 0:
            # docs §4 rule 1: a reset is always message id 0.
            self._drops.drop(DropReason.RESET_WITH_NONZERO_MESSAGE_ID)
            return []
        if is_reset:
            state = self._state_for_received_reset(opcode, key_id)
        else:
            maybe_state = self._states.get(key_id)
            if maybe_state is None:
                self._drops.drop(DropReason.UNKNOWN_KEY_ID)
                return []
            state = maybe_state

        self._apply_acks(state, packet.acks)
        if mid is None:
            return []

        # docs §4 rule 2: the receive window.
        if mid >= state.next_expected + RECEIVE_WINDOW:
            self._drops.drop(DropReason.OUT_OF_RECEIVE_WINDOW)
            return []
        if mid not in state.pending_acks:
            state.pending_acks.append(mid)  # acked even if it is a duplicate or replay
        if mid < state.next_expected or mid in state.buffered:
            self._duplicates += 1
            return []
        state.buffered[mid] = packet
        if mid > state.next_expected and self.repeat_acks:
            # §4.9: a gap. The peer fast-retransmits a packet once it counted 3 acks of later
            # ids, repeated ones included (reliable.c): repeat the later acks in extra P_ACK_V1s
            # so that the missing packet comes back after one RTT instead of its timer.
            state.repeats_owed = max(state.repeats_owed, N_ACK_RETRANSMIT - 1)
        if opcode == P_CONTROL_HARD_RESET_SERVER_V2 and (
            state.sent_reset == P_CONTROL_HARD_RESET_CLIENT_V3
        ):
            state.acks_ride = True  # §3.9: acked by our next packet, never a lone P_ACK_V1
        if mid == 0:
            # docs §4 rule 5: the peer's reset arrived; resend all unacked now.
            for entry in state.outgoing.values():
                if entry.sent:
                    entry.next_try = now
                    entry.timeout = self.rtt.rto()

        delivered: list[ControlMessage] = []
        while state.next_expected in state.buffered:
            got = state.buffered.pop(state.next_expected)
            state.next_expected += 1
            delivered.append(
                ControlMessage(
                    opcode=got.opcode,
                    key_id=got.key_id,
                    payload=got.payload,
                    peer_session_id=got.peer_session_id,
                )
            )
        self._messages_delivered += len(delivered)
        return delivered

    def _apply_acks(self, state: _KeyState, acks: tuple[int, ...]) -> None:
        # docs §4 rule 3: acks are individual; ignore ids we never sent.
        for ack in acks:
            if ack >= state.next_send_id:
                continue
            entry = state.outgoing.get(ack)
            if entry is not None and entry.sent:
                del state.outgoing[ack]
                self._queued -= 1
                if entry.transmissions == 1:
                    # §4.9, Karn: only a packet sent once tells which copy was acked.
                    self.rtt.sample(self._now - entry.first_sent)
                # RFC 9002: packets sent before this one are candidates for the time threshold.
                for other in state.outgoing.values():
                    if other.message_id > ack:
                        break
                    if other.sent and other.last_sent <= entry.last_sent:
                        other.acked_after = True
                if ack == 0 and not state.reset_acked:
                    state.reset_acked = True
                    if entry.opcode in RESET_OPCODES:
                        kind = ReliableEventKind.RESET_ACKED
                        self._events.append(ReliableEvent(kind, state.key_id, entry.opcode))
            # reliable.c reliable_send_purge: count acks for later ids (fast retransmit).
            for other in state.outgoing.values():
                if other.message_id >= ack:
                    break
                if other.sent:
                    other.n_acks += 1

    # --- to below -----------------------------------------------------------------------

    def packets_to_send(self, now: float) -> list[ReliablePacket]:
        """Every packet due at ``now``: first sends, retransmissions, then P_ACK_V1s."""
        self._now = now
        out: list[ReliablePacket] = []
        rto = self.rtt.rto()
        loss_delay = self.rtt.loss_delay()
        for state in self._states.values():
            for entry in state.eligible():
                if not entry.sent:
                    if entry.message_id == 0 and entry.opcode in RESET_OPCODES:
                        self._events.append(
                            ReliableEvent(ReliableEventKind.RESET_SENT, state.key_id, entry.opcode)
                        )
                    entry.timeout = rto  # §4.9: the RTO of the path as known now
                    entry.first_sent = now
                else:
                    timer = entry.next_try <= now
                    by_order = entry.n_acks >= N_ACK_RETRANSMIT or (
                        loss_delay is not None
                        and entry.acked_after
                        and now >= entry.last_sent + loss_delay
                    )
                    if not (timer or by_order):
                        continue
                    if not self.budget.take(now, rto):
                        self._budget_waits += 1  # §4.9 rate bound: wait for a token
                        continue
                    self._retransmissions += 1
                    if not timer:
                        self._fast_retransmits += 1
                # reliable.c reliable_send: exponential backoff, here capped (§4.9).
                entry.sent = True
                entry.transmissions += 1
                entry.last_sent = now
                entry.next_try = now + entry.timeout
                entry.timeout = min(entry.timeout * 2, self.rtt.max_rto)
                entry.n_acks = 0
                entry.acked_after = False
                acks = self._take_acks(state, MAX_PIGGYBACK_ACKS)
                if acks:
                    state.acks_ride = False  # §3.9: the held ack has its ride
                out.append(
                    ReliablePacket(
                        opcode=entry.opcode,
                        key_id=state.key_id,
                        acks=acks,
                        message_id=entry.message_id,
                        payload=entry.payload,
                    )
                )
            # docs §4 rule 4: a P_ACK_V1 only when new ids wait to be acked,
            # and (§3.9) never while the acks must ride on our next packet.
            if state.pending_acks and not state.acks_ride and self.repeat_acks:
                # §4.9: a lone ack that is lost stalls the peer until its timer (it waits for
                # every ack before moving on, e.g. reset -> TLS): send it twice.
                state.repeats_owed = max(state.repeats_owed, 1)
            while state.pending_acks and not state.acks_ride:
                out.append(
                    ReliablePacket(
                        opcode=P_ACK_V1,
                        key_id=state.key_id,
                        acks=self._take_acks(state, MAX_ACKS),
                    )
                )
                self._acks_sent += 1
            # §4.9: the repeated acks (recent acks only; the newest ids are in front).
            while state.repeats_owed > 0 and not state.acks_ride and state.recent_acks:
                state.repeats_owed -= 1
                out.append(
                    ReliablePacket(
                        opcode=P_ACK_V1,
                        key_id=state.key_id,
                        acks=self._take_acks(state, MAX_ACKS),
                    )
                )
                self._acks_sent += 1
        self._packets_sent += len(out)
        return out

    on_timer = packets_to_send

    def _take_acks(self, state: _KeyState, limit: int) -> tuple[int, ...]:
        fresh = state.pending_acks[:limit]
        del state.pending_acks[:limit]
        acks = list(fresh)
        if self.repeat_acks:
            for old in state.recent_acks:
                if len(acks) >= limit:
                    break
                if old not in acks:
                    acks.append(old)
            # Move the fresh acks to the front of the MRU list (reliable.c copy_acks_to_mru).
            recent = fresh[::-1] + [a for a in state.recent_acks if a not in fresh]
            state.recent_acks = recent[:RECENT_ACKS]
        return tuple(acks)

    # --- timers, backpressure, events, statistics ---------------------------------------

    def next_timer(self) -> float | None:
        """When ``packets_to_send`` next has work: the last ``now`` if work is ready already."""
        deadline: float | None = None
        loss_delay = self.rtt.loss_delay()
        budget_ready: float | None = None
        for state in self._states.values():
            if (state.pending_acks or state.repeats_owed) and not state.acks_ride:
                return self._now
            for entry in state.eligible():
                if not entry.sent:
                    return self._now
                due = entry.next_try
                if entry.n_acks >= N_ACK_RETRANSMIT:
                    due = self._now
                elif loss_delay is not None and entry.acked_after:
                    due = min(due, entry.last_sent + loss_delay)
                if due <= self._now:
                    # Due now, but a retransmission also needs a token (§4.9 rate bound).
                    if budget_ready is None:
                        budget_ready = self.budget.ready_at(self._now, self.rtt.rto())
                    due = max(due, budget_ready)
                if deadline is None or due < deadline:
                    deadline = due
        return deadline

    def backlog(self) -> int:
        """Packets queued but never transmitted yet (the service's backpressure measure)."""
        return sum(
            1 for state in self._states.values() for e in state.outgoing.values() if not e.sent
        )

    def unacked(self, key_id: int) -> int:
        """Packets of ``key_id`` still waiting for an ack (sent or not)."""
        state = self._states.get(key_id)
        return 0 if state is None else len(state.outgoing)

    def pop_events(self) -> list[ReliableEvent]:
        """Reset events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def statistics(self, extra_drops: dict[str, int] | None = None) -> ReliableStatistics:
        """A frozen snapshot of the counters; ``extra_drops`` are merged into ``drops``."""
        drops = Counter(self._drops.snapshot())
        if extra_drops:
            drops.update(extra_drops)
        return ReliableStatistics(
            packets_sent=self._packets_sent,
            packets_received=self._packets_received,
            messages_queued=self._messages_queued,
            messages_delivered=self._messages_delivered,
            retransmissions=self._retransmissions,
            fast_retransmits=self._fast_retransmits,
            acks_sent=self._acks_sent,
            duplicates=self._duplicates,
            queue_peak=self._queue_peak,
            queued=self._queued,
            drops=dict(drops),
            rtt_samples=self.rtt.samples,
            srtt=self.rtt.srtt,
            rto=self.rtt.rto(),
            budget_waits=self._budget_waits,
        )
