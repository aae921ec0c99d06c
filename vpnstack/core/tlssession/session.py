"""The sans-I/O TLS session: reset, TLS, key-method 2, push, data keys (docs §5, §5.5, §5.7).

Read this module first; it coordinates the others. One :class:`SessionCore` owns the
control-channel conversation of an OpenVPN session above the reliable layer. It exchanges
whole ``ControlMessage`` objects with that layer, never packets, and its outputs (drained in
order with :meth:`SessionCore.outputs`) are ``ControlMessage`` (down), ``KeepaliveSettings``
and ``DataKeys`` (to the datachannel), ``DynamicTlsCryptKey`` (to the controlchannel) and
``SessionProgress`` (for the user). Time is always passed in as ``now``.

What lives where:

* ``machine.py``: the phases of one key and what moves them on, as one table. This module
  turns messages and timers into the table's events, fires them on the right key
  (:meth:`SessionCore._fire`), and carries out the actions the rows name: each action
  ``name`` is the method ``_do_<name>`` below, so the table reads as the outline of this file;
* ``control.py``: what a control text (PUSH_REPLY, AUTH_FAILED, AUTH_PENDING, INFO,
  RESTART, HALT, EXIT) means;
* ``apply_push.py``: what key id 0's push decides (cipher, framing, keepalive, EKM/epoch,
  dynamic tls-crypt, TunnelInfo); ``derivation.py``: how each key id's DataKeys are made;
* ``renegotiation.py``: when the next key id is due and which id it is;
* ``hints.py``: the words of the timeout and AUTH_FAILED errors.

State that lives for the whole session (session ids, the data-channel choice, auth-token,
the push collector) sits on the core; state that belongs to one TLS negotiation lives in a
:class:`_Key` per key id: the current key and, after a renegotiation, the lame duck (§5.7).

The whole negotiation of a key must finish within ``hand-window`` of its start (§4), or
``HandshakeTimeout``. Each new key has its own TLS session and new randoms; its ``DataKeys``
are derived as soon as the server's key-method 2 arrives, with key id 0's cipher and PRF/EKM
choice. The lame duck's messages are still read; it is forgotten at the next renegotiation
(the datachannel keeps decrypting with it for tran-window). A failed renegotiation
(hand-window, a TLS error) raises ``HandshakeTimeout``: the client lifecycle reconnects (§5.7
step 6 allows this simplification of stock's "keep the old key until it dies").
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

import attrs

from vpnstack.core.shared import opcodes
from vpnstack.core.shared.ciphers import STATIC_KEY_LEN
from vpnstack.core.tlssession.apply_push import (
    choose_data_channel,
    dynamic_tls_crypt_negotiated,
    keepalive_settings,
    negotiable_ciphers,
    push_summary,
    tunnel_up_info,
    up_summary,
)
from vpnstack.core.tlssession.control import (
    Fatal,
    Pending,
    PushPart,
    Report,
    auth_pending_deadline,
    auth_token_of,
    decode_token_user,
    react,
)
from vpnstack.core.tlssession.derivation import DataChannelChoice, derive_data_keys
from vpnstack.core.tlssession.dynamic_tls_crypt import (
    DYNAMIC_TLS_CRYPT_LABEL,
    dynamic_tls_crypt_key,
)
from vpnstack.core.tlssession.early_negotiation import (
    parse_early_negotiation_tlvs,
    resend_wkc_requested,
)
from vpnstack.core.tlssession.hints import (
    closed_message,
    keylog_warning,
    quiet_message,
    renegotiation_failed_message,
    timeout_message,
)
from vpnstack.core.tlssession.keymethod2 import (
    KeySource,
    ServerKeyMethod2,
    build_client_message,
    parse_server_message,
)
from vpnstack.core.tlssession.machine import (
    AuthPending,
    ControlRecord,
    Event,
    ExitRequested,
    HandWindowExpired,
    KeyMachine,
    KeyMethod2Received,
    Phase,
    PushComplete,
    PushRequestDue,
    RenegotiationDue,
    ServerQuiet,
    ServerRenegotiates,
    ServerReset,
    ServerSoftReset,
    Start,
    TlsData,
    TlsEstablished,
    unhandled,
)
from vpnstack.core.tlssession.peerinfo import build_peer_info, occ_options_string
from vpnstack.core.tlssession.progress import SessionProgress
from vpnstack.core.tlssession.push import (
    ControlText,
    ControlTextReader,
    PushCollector,
    PushedOptions,
    classify,
    client_pull_filters,
    is_auth_token_only,
)
from vpnstack.core.tlssession.renegotiation import (
    RENEG_SEC_DEFAULT,
    next_key_id,
    reneg_interval,
    renegotiate_at,
)
from vpnstack.core.tlssession.settings import SessionSettings
from vpnstack.core.tlssession.tlsclient import TLSClient
from vpnstack.errors import (
    CertificateError,
    DropReason,
    HandshakeTimeout,
    LocalError,
    RemoteProtocolError,
    ServerHalted,
    TLSError,
)
from vpnstack.messages import (
    ControlMessage,
    DataKeys,
    DynamicTlsCryptKey,
    KeepaliveSettings,
    Stage,
)

PUSH_REQUEST_INTERVAL = 5.0
"""Seconds between PUSH_REQUESTs until the PUSH_REPLY arrives (§5.5)."""
QUIET_AFTER = 3.0
"""Seconds of silence from a server that owes us an answer (a TLS flight, its key-method 2)
before the user is told what that most likely means (``ServerQuiet``). A healthy server
answers within a round trip; one lost packet is resent after 2 s (§4), so 3 s of silence is
rarely loss alone. Only a notice: the hand-window still decides."""

Output = ControlMessage | KeepaliveSettings | DataKeys | SessionProgress | DynamicTlsCryptKey
"""What the core asks its service to deliver: down, to the data channel, or to notify."""


@attrs.define
class _Key:
    """One TLS negotiation for one key id; its phase is its machine's."""

    key_id: int
    """0, then 1..7 cycling (§5.7)."""
    started_at: float
    """When the key was born: hand-window counts from here (§4)."""
    deadline: float
    """When the negotiation fails (AUTH_PENDING may move it, §5.5)."""
    source: KeySource
    """Our key-method 2 randoms (new for every key, §5.7)."""
    machine: KeyMachine
    """The key's phase (machine.py)."""
    tls: TLSClient
    """The key's own TLS session."""
    server_km2: ServerKeyMethod2 | None = None
    """The server's key-method 2, once received."""
    next_push_request: float | None = None
    """When to write PUSH_REQUEST again (key id 0 in PUSH_WAIT only)."""
    established_at: float | None = None
    """Key-method 2 done: reneg-sec counts from here (§5.7)."""
    heard_at: float = 0.0
    """When the server last sent a message for this key (or the key's birth)."""
    heard_tls: bool = False
    """The server sent TLS bytes for this key."""
    quiet_reported: bool = False
    """``ServerQuiet`` was fired for the current silence (cleared by the next message)."""

    @property
    def quiet_at(self) -> float | None:
        """When the silence becomes a ``ServerQuiet``, or None when none is due."""
        if self.quiet_reported or not self.machine.accepts(ServerQuiet):
            return None
        return self.heard_at + QUIET_AFTER

    @property
    def phase(self) -> Phase:
        """The key's phase."""
        return self.machine.phase

    @property
    def negotiating(self) -> bool:
        """Its hand-window deadline runs: the table has a HandWindowExpired row for it."""
        return self.machine.accepts(HandWindowExpired)


@attrs.frozen
class SessionCounters:
    """Counters for ``statistics()``."""

    push_requests_sent: int
    """PUSH_REQUEST messages written."""
    control_texts_received: int
    """Control text messages received (PUSH_REPLY, INFO, ...)."""
    ignored: dict[str, int]
    """Messages ignored, by reason."""
    renegotiations: int = 0
    """Key ids started after key id 0 (by either side)."""


class SessionCore:
    """The TLS session above the reliable layer (see the module docstring)."""

    def __init__(
        self,
        settings: SessionSettings,
        *,
        local_session_id: bytes,
        randbytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if len(local_session_id) != opcodes.SESSION_ID_LEN:
            raise LocalError("local_session_id must be 8 bytes")
        self._settings = settings
        self._local_session_id = local_session_id
        self._randbytes = randbytes
        self._ciphers = negotiable_ciphers(settings)
        self._reneg_interval = reneg_interval(settings.reneg_sec)
        self._server_session_id: bytes | None = None
        self._keys: dict[int, _Key] = {}  # the current key and the lame duck
        self._current: _Key | None = None  # the newest key
        self._renegotiations = 0
        self._up = False
        self._outputs: list[Output] = []
        self._text_reader = ControlTextReader()
        self._push = PushCollector(
            filters=client_pull_filters(
                pull_filters=settings.pull_filters, route_nopull=settings.route_nopull
            )
        )
        self._pushed: PushedOptions | None = None
        self._choice: DataChannelChoice | None = None  # decided with key id 0's push
        self._auth_token: str | None = None
        self._auth_token_user: str | None = None
        self._stage: Stage | None = None
        self._push_requests = 0
        self._texts = 0
        self._ignored: Counter[str] = Counter()

    # --- read-only views ---------------------------------------------------------------

    @property
    def stage(self) -> Stage | None:
        """The last stage reported."""
        return self._stage

    @property
    def server_session_id(self) -> bytes | None:
        """The server's session id, from its hard reset."""
        return self._server_session_id

    @property
    def pushed(self) -> PushedOptions | None:
        """The options of the final PUSH_REPLY, once received."""
        return self._pushed

    @property
    def tunnel_up(self) -> bool:
        """Key id 0 has data keys and the tunnel info was reported."""
        return self._up

    @property
    def current_key_id(self) -> int | None:
        """The key id of the newest key (negotiated or being negotiated)."""
        return self._current.key_id if self._current is not None else None

    def phases(self) -> dict[int, Phase]:
        """The phase of every key the session holds, by key id."""
        return {key_id: key.phase for key_id, key in self._keys.items()}

    @property
    def has_auth_token(self) -> bool:
        """The server pushed an auth-token (it is never exposed)."""
        return self._auth_token is not None

    def counters(self) -> SessionCounters:
        """A snapshot of the counters."""
        return SessionCounters(
            self._push_requests, self._texts, dict(self._ignored), self._renegotiations
        )

    def outputs(self) -> list[Output]:
        """Take every output produced so far, in order."""
        out, self._outputs = self._outputs, []
        return out

    # --- inputs: each becomes an event of machine.py ----------------------------------

    def start(self, now: float) -> None:
        """Begin key id 0: queue the client hard reset (§5.1)."""
        if 0 in self._keys:
            raise LocalError("SessionCore.start called twice")
        self._new_key(0, Start(), now)

    def receive(self, message: ControlMessage, now: float) -> None:
        """Handle one in-order message from the reliable layer.

        Raises ``RemoteProtocolError`` for a message to drop, and the ``VPNError``
        subclasses for conditions that end the session.
        """
        if message.opcode == opcodes.P_CONTROL_SOFT_RESET_V1:
            self._on_soft_reset(message.key_id, now)
            return
        key = self._keys.get(message.key_id)
        if key is None:
            raise RemoteProtocolError(DropReason.UNKNOWN_KEY_ID, str(message.key_id))
        key.heard_at, key.quiet_reported = now, False
        if message.opcode == opcodes.P_CONTROL_HARD_RESET_SERVER_V2:
            if key.key_id != 0:
                raise RemoteProtocolError(DropReason.HARD_RESET_NONZERO_KEY_ID)
            self._fire(key, ServerReset(message.peer_session_id, message.payload))
        elif message.opcode == opcodes.P_CONTROL_V1:
            key.heard_tls = True
            try:
                self._on_tls_bytes(key, message.payload, now)
            except (TLSError, CertificateError) as exc:
                if not self._up:
                    raise
                # §5.7 step 6: a failed renegotiation (or a broken TLS session once the tunnel
                # is up) ends the session; the client lifecycle reconnects on this error.
                raise HandshakeTimeout(renegotiation_failed_message(key.key_id, exc)) from exc
        else:
            name = opcodes.OPCODE_NAMES.get(message.opcode, str(message.opcode))
            raise RemoteProtocolError(DropReason.UNEXPECTED_CONTROL_OPCODE, name)

    def request_renegotiation(self, key_id: int, reason: str, now: float) -> bool:
        """Renegotiate the current key ``key_id`` now (asked by the datachannel, §5.7).

        Returns False, and does nothing, when ``key_id`` is not the current key or the current
        key is still being negotiated: a renegotiation is then already under way.
        """
        current = self._current
        if current is None or current.key_id != key_id:
            self._ignored[DropReason.STALE_RENEGOTIATION_REQUEST] += 1
            return False
        return self._renegotiate(RenegotiationDue(reason), now)

    def send_exit(self) -> bool:
        """Write ``EXIT`` on the current key's control channel (cc-exit, docs §6.6).

        Returns False, doing nothing, when no key is up to carry it (then the OCC EXIT data
        packet is the only notification left).
        """
        current = self._current
        return current is not None and self._fire(current, ExitRequested())

    def next_timer(self) -> float | None:
        """When :meth:`on_timer` must next be called, or None."""
        times: list[float] = []
        due = self._renegotiate_at()
        if due is not None:
            times.append(due)
        for key in self._keys.values():
            if key.negotiating:
                times.append(key.deadline)
            if key.next_push_request is not None:
                times.append(key.next_push_request)
            if key.quiet_at is not None:
                times.append(key.quiet_at)
        return min(times, default=None)

    def on_timer(self, now: float) -> None:
        """Fire due timers: hand-window deadline, PUSH_REQUEST resend, reneg-sec."""
        for key in list(self._keys.values()):
            if key.negotiating and now >= key.deadline:
                self._fire(key, HandWindowExpired())
            if key.next_push_request is not None and now >= key.next_push_request:
                self._fire(key, PushRequestDue(now))
            quiet_at = key.quiet_at
            if quiet_at is not None and now >= quiet_at:
                key.quiet_reported = True
                self._fire(key, ServerQuiet(now - key.heard_at))
        due = self._renegotiate_at()
        if due is not None and now >= due:
            assert self._reneg_interval is not None
            self._renegotiate(RenegotiationDue(f"reneg-sec {self._reneg_interval:g}"), now)

    # --- firing events ---------------------------------------------------------------

    def _fire(self, key: _Key, event: Event) -> bool:
        """Fire ``event`` on ``key``'s machine; False when it was ignored (and counted)."""
        ignored = key.machine.fire(event, lambda action, ev: self._act(key, action, ev))
        if ignored is None:
            return True
        if ignored.counter is not None:
            self._ignored[ignored.counter] += 1
        return False

    def _act(self, key: _Key, action: str, event: Event) -> None:
        """Carry out a table row's action: the method ``_do_<action>``."""
        getattr(self, f"_do_{action}")(key, event)

    def _new_key(self, key_id: int, event: Event, now: float) -> _Key:
        """A key born from ``event`` (a None row of the table) becomes the current key."""
        machine, action = KeyMachine.born(event)
        key = _Key(
            key_id=key_id,
            started_at=now,
            deadline=now + self._settings.hand_window,
            heard_at=now,
            source=KeySource.generate(self._randbytes),  # new randoms for every key (§5.7)
            machine=machine,
            # Built now so that a bad cert/key/ca surfaces as ConfigError before any traffic.
            tls=TLSClient(self._settings.tls),
        )
        self._keys[key_id] = key
        self._current = key
        self._act(key, action, event)
        return key

    def _renegotiate(self, event: RenegotiationDue | ServerRenegotiates, now: float) -> bool:
        """A new key id (§5.7): every key sees ``event`` (the current one becomes the lame duck,
        the old lame duck is forgotten), then the next key id is born from it."""
        current = self._current
        assert current is not None
        if not self._fire(current, event):
            return False
        for key in [k for k in self._keys.values() if k is not current]:
            self._fire(key, event)
        self._renegotiations += 1
        self._new_key(next_key_id(current.key_id), event, now)
        return True

    def _renegotiate_at(self) -> float | None:
        """reneg-sec: the current key's key-method 2 exchange + reneg-sec (§5.7)."""
        current = self._current
        if current is None or not current.machine.accepts(RenegotiationDue):
            return None
        if current.established_at is None:
            return None
        return renegotiate_at(current.established_at, self._reneg_interval)

    def _on_soft_reset(self, key_id: int, now: float) -> None:
        current = self._current
        if current is not None and key_id == current.key_id != 0:
            # The server's SOFT_RESET for the key id being renegotiated: its answer to ours.
            current.heard_at, current.quiet_reported = now, False
            self._fire(current, ServerSoftReset())
            return
        event = ServerRenegotiates(key_id)
        if current is None:
            unhandled(event)
            return
        self._renegotiate(event, now)

    def _on_tls_bytes(self, key: _Key, payload: bytes, now: float) -> None:
        tls = key.tls
        was_complete = tls.handshake_complete
        self._fire(key, TlsData(payload))
        if tls.handshake_complete and not was_complete:
            description = f"{tls.protocol_version} {tls.cipher_name}, server {tls.server_subject}"
            self._fire(key, TlsEstablished(description))
        self._flush_tls(key)
        errors: list[RemoteProtocolError] = []
        for record in tls.read_application_records():
            try:
                if key.machine.accepts(KeyMethod2Received):
                    # The first record after the handshake is the server's key-method 2 (§5.2).
                    self._fire(key, KeyMethod2Received(parse_server_message(record), now))
                else:
                    self._fire(key, ControlRecord(record))
            except RemoteProtocolError as exc:
                errors.append(exc)
        self._flush_tls(key)
        if tls.closed:
            raise ServerHalted(closed_message(key.phase, key.key_id), reconnect=True)
        if errors:
            raise errors[0]

    def _on_text(self, key: _Key, text: ControlText) -> None:
        """One control text (§5.5): what it means is control.py's business."""
        self._texts += 1
        reaction = react(text, ciphers=self._ciphers)
        if isinstance(reaction, PushPart):
            self._on_push_part(key, reaction.argument)
        elif isinstance(reaction, Pending):
            self._fire(key, AuthPending(reaction.timeout))
        elif isinstance(reaction, Report):
            self._notify(self._stage or Stage.PUSH_REQUESTED, reaction.detail)
        elif isinstance(reaction, Fatal):
            raise reaction.error
        else:
            self._ignored[DropReason.UNKNOWN_CONTROL_MESSAGE] += 1

    def _on_push_part(self, key: _Key, argument: str) -> None:
        options = self._push.add(argument)
        if options is None:
            return  # §5.8.7: more parts follow; apply nothing yet
        token = auth_token_of(options)
        if token is not None:
            self._auth_token = token.token
            if options.auth_token_user is not None:
                self._auth_token_user = decode_token_user(options.auth_token_user)
            # Handed to the client lifecycle for reconnects, in a field that is never shown.
            self._outputs.append(SessionProgress(Stage.AUTH_TOKEN, auth_token=token))
        self._fire(key, PushComplete(options))

    # --- the actions of the table (machine.py), in table order --------------------------

    def _do_send_hard_reset(self, key: _Key, event: Start) -> None:
        # The reliable layer reports RESET_SENT/RESET_ACKED when the reset actually goes out.
        # docs §3.9: a tls-crypt-v2 client starts with V3 (the wrap appends WKc).
        reset = opcodes.P_CONTROL_HARD_RESET_CLIENT_V2
        if self._settings.tls_crypt_v2:
            reset = opcodes.P_CONTROL_HARD_RESET_CLIENT_V3
        self._send(ControlMessage(reset, key.key_id))

    def _do_send_soft_reset(self, key: _Key, event: RenegotiationDue) -> None:
        """We initiate (§5.7 step 1): SOFT_RESET with the next key id, message id 0; TLS starts
        when the server's SOFT_RESET answers."""
        self._send(ControlMessage(opcodes.P_CONTROL_SOFT_RESET_V1, key.key_id))
        self._report(Stage.TLS_HANDSHAKE, f"renegotiating key id {key.key_id} ({event.reason})")

    def _do_answer_soft_reset(self, key: _Key, event: ServerRenegotiates) -> None:
        """The server initiated: our own SOFT_RESET (id 0 of the new key id; theirs is acked
        below us) and at once our ClientHello, as we stay the TLS client (§5.7 step 2)."""
        self._send(ControlMessage(opcodes.P_CONTROL_SOFT_RESET_V1, key.key_id))
        self._report(Stage.TLS_HANDSHAKE, f"renegotiating key id {key.key_id} (server-initiated)")
        key.tls.start()
        self._flush_tls(key)

    def _do_begin_tls(self, key: _Key, event: ServerReset) -> None:
        sid = event.peer_session_id
        if sid is None or len(sid) != opcodes.SESSION_ID_LEN:
            raise RemoteProtocolError(DropReason.SERVER_RESET_WITHOUT_SESSION_ID)
        # §3.9: the reset's payload is a TLV list; unknown types are ignored.
        resend_wkc = False
        try:
            resend_wkc = resend_wkc_requested(parse_early_negotiation_tlvs(event.payload))
        except RemoteProtocolError:
            self._ignored[DropReason.MALFORMED_EARLY_NEGOTIATION_TLVS] += 1
        self._server_session_id = sid
        key.tls.start()
        self._notify(Stage.TLS_HANDSHAKE, f"server session {sid.hex()}")
        if self._settings.tls.keylog is not None:
            self._report(Stage.TLS_HANDSHAKE, keylog_warning(self._settings.tls.keylog))
        if resend_wkc and self._settings.tls_crypt_v2:
            # §3.9.3/§3.11.8: our message id 1 must be P_CONTROL_WKC_V1 (the wrap appends WKc).
            # An empty one, as OpenVPN sends when it has only an ack to give: it carries the
            # ack of the server's reset, and the ClientHello follows as id 2, so the TLS
            # bytes never have to share a packet with the WKc.
            self._send(ControlMessage(opcodes.P_CONTROL_WKC_V1, 0))
        self._flush_tls(key)

    def _do_start_tls(self, key: _Key, event: ServerSoftReset) -> None:
        """A renegotiation's new TLS handshake: our ClientHello (§5.7 step 3)."""
        key.tls.start()
        self._flush_tls(key)

    def _do_feed_tls(self, key: _Key, event: TlsData) -> None:
        key.tls.feed(event.payload)

    def _do_send_key_method_2(self, key: _Key, event: TlsEstablished) -> None:
        # A renegotiation reports its handshake without leaving the TUNNEL_UP stage.
        report = self._report if key.key_id != 0 else self._notify
        report(Stage.TLS_ESTABLISHED, event.description)
        username, password = self._settings.username, self._settings.password
        if self._auth_token is not None:
            # §5.2: the auth-token replaces the password on renegotiation, with the user name
            # of auth-token-user if one was pushed; stock writes an empty name when there is
            # none (a certificate-only client that was given a token).
            username = self._auth_token_user or username or ""
            password = self._auth_token
        message = build_client_message(
            key.source,
            options=occ_options_string(self._settings),
            username=username,
            password=password,
            peer_info=build_peer_info(self._settings, ciphers=self._ciphers),
        )
        key.tls.write_application_data(message)  # §5.8.5: one TLS write

    def _do_request_push(self, key: _Key, event: KeyMethod2Received) -> None:
        key.server_km2 = event.message
        key.established_at = event.now
        self._notify(Stage.KEY_EXCHANGED)
        self._send_push_request(key, event.now)
        self._notify(Stage.PUSH_REQUESTED)

    def _do_install_data_keys(self, key: _Key, event: KeyMethod2Received) -> None:
        """A renegotiated key's key-method 2 exchange is done: its DataKeys right away (§5.3)."""
        key.server_km2 = event.message
        key.established_at = event.now
        keys = self._data_keys(key)
        self._outputs.append(keys)
        self._report(Stage.DATA_KEYS_READY, f"key id {key.key_id} renegotiated, {keys.cipher}")

    def _do_read_control_texts(self, key: _Key, event: ControlRecord) -> None:
        errors: list[RemoteProtocolError] = []
        for raw in self._text_reader.feed(event.record):
            if not raw:
                continue
            try:
                self._on_text(key, classify(raw))
            except RemoteProtocolError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _do_send_push_request(self, key: _Key, event: PushRequestDue) -> None:
        self._send_push_request(key, event.now)

    def _do_extend_hand_window(self, key: _Key, event: AuthPending) -> None:
        key.deadline = auth_pending_deadline(
            deadline=key.deadline,
            started_at=key.started_at,
            timeout=event.timeout,
            limit=max(RENEG_SEC_DEFAULT / 2, self._settings.hand_window),
        )
        self._notify(Stage.PUSH_REQUESTED, "authentication pending on the server")

    def _do_activate(self, key: _Key, event: PushComplete) -> None:
        """Key id 0's data keys, now that cipher and EKM flags are known (§5.8.8)."""
        assert key.server_km2 is not None
        pushed = event.options
        self._pushed = pushed
        key.next_push_request = None
        self._notify(Stage.PUSH_RECEIVED, push_summary(pushed))
        choice = choose_data_channel(pushed, self._settings, server_options=key.server_km2.options)
        self._choice = choice
        keys = self._data_keys(key)
        self._outputs.append(keepalive_settings(pushed, self._settings))
        self._outputs.append(keys)
        if dynamic_tls_crypt_negotiated(pushed, self._settings):
            # §3.10 step 1: exported from key id 0's TLS session when its keys are made; the
            # controlchannel wraps every key id > 0 with it from now on.
            ekm = key.tls.export_keying_material(DYNAMIC_TLS_CRYPT_LABEL, STATIC_KEY_LEN)
            dynamic = dynamic_tls_crypt_key(ekm, self._settings.wrap_key)
            self._outputs.append(DynamicTlsCryptKey(dynamic))
        self._notify(
            Stage.DATA_KEYS_READY, f"{choice.cipher}, key derivation {choice.key_derivation}"
        )
        info = tunnel_up_info(pushed, self._settings, choice)
        self._outputs.append(SessionProgress(Stage.TUNNEL_UP, up_summary(info), info))
        self._stage = Stage.TUNNEL_UP
        self._up = True

    def _do_report_quiet(self, key: _Key, event: ServerQuiet) -> None:
        """Tell the user what the server's silence most likely means (it owes an answer)."""
        detail = quiet_message(
            phase=key.phase,
            key_id=key.key_id,
            waited=event.waited,
            heard_tls=key.heard_tls,
            tls_version=key.tls.protocol_version if key.tls.handshake_complete else None,
        )
        self._report(Stage.TLS_HANDSHAKE, detail)

    def _do_fail_hand_window(self, key: _Key, event: HandWindowExpired) -> None:
        raise HandshakeTimeout(
            timeout_message(
                phase=key.phase,
                key_id=key.key_id,
                hand_window=self._settings.hand_window,
                server_answered=self._server_session_id is not None,
                tls_crypt_v2=self._settings.tls_crypt_v2,
            )
        )

    def _do_apply_later_push(self, key: _Key, event: PushComplete) -> None:
        # §5.5: a later PUSH_REPLY (e.g. an auth-token refresh) must not tear down the
        # tunnel; other changes would need a reconnect and are not applied.
        if not is_auth_token_only(event.options):
            self._ignored[DropReason.PUSH_REPLY_AFTER_TUNNEL_UP] += 1

    def _do_send_exit(self, key: _Key, event: ExitRequested) -> None:
        key.tls.write_application_data(b"EXIT\x00")  # §5.5: one record, NUL-terminated
        self._flush_tls(key)

    def _do_hand_over(self, key: _Key, event: RenegotiationDue) -> None:
        """The active key becomes the lame duck: still read, no longer renegotiated."""

    def _do_accept_server_renegotiation(self, key: _Key, event: ServerRenegotiates) -> None:
        expected = next_key_id(key.key_id)
        if event.key_id != expected:
            # §5.8.10: only our "next" key id may start a renegotiation. Dropped and counted;
            # the session goes on with its current key.
            raise RemoteProtocolError(
                DropReason.SOFT_RESET_KEY_ID_OUT_OF_SYNC,
                f"key id {event.key_id}, expected {expected}",
            )

    def _do_forget(self, key: _Key, event: Event) -> None:
        """The previous lame duck is forgotten (stock frees it at the soft reset, §5.7 step 1)."""
        del self._keys[key.key_id]

    # --- helpers ----------------------------------------------------------------------

    def _data_keys(self, key: _Key) -> DataKeys:
        """The DataKeys of one key id, with key id 0's choices (§5.7 step 3, §5.3, §5.8.8)."""
        assert key.server_km2 is not None and self._choice is not None
        assert self._server_session_id is not None
        return derive_data_keys(
            self._choice,
            key.key_id,
            tls=key.tls,
            source=key.source,
            server_km2=key.server_km2,
            client_session_id=self._local_session_id,
            server_session_id=self._server_session_id,
        )

    def _send_push_request(self, key: _Key, now: float) -> None:
        key.tls.write_application_data(b"PUSH_REQUEST\x00")  # §5.5, §5.8.6: one record
        self._flush_tls(key)
        self._push_requests += 1
        key.next_push_request = now + PUSH_REQUEST_INTERVAL

    def _flush_tls(self, key: _Key) -> None:
        data = key.tls.outgoing()
        if data:
            self._send(ControlMessage(opcodes.P_CONTROL_V1, key.key_id, data))

    def _send(self, message: ControlMessage) -> None:
        self._outputs.append(message)

    def _notify(self, stage: Stage, detail: str = "") -> None:
        """Record a new stage of the handshake and report it."""
        self._stage = stage
        self._outputs.append(SessionProgress(stage, detail))

    def _report(self, stage: Stage, detail: str) -> None:
        """Report a renegotiation step without changing the session's stage."""
        self._outputs.append(SessionProgress(stage, detail))
