"""The sans-I/O TLS session: reset, TLS, key-method 2, push, data keys (PROTOCOL.md §5, §6).

Theory of operation. One :class:`SessionCore` owns the control-channel conversation of an
OpenVPN session above the reliable layer. It exchanges whole ``ControlMessage`` objects
with that layer, never packets. State that lives for the whole session (session ids,
negotiated cipher, key-derivation choice, auth-token) sits on the core; state that belongs
to one TLS negotiation lives in a :class:`_KeyState` per key id: the current key and, after
a renegotiation, the lame duck (§9).

Key id 0 moves through these phases (each line: what moves it on, what it emits):

    INITIAL      start()                       -> HARD_RESET_CLIENT_V2 (V3    (none)
                                                  with tls-crypt-v2, §4.4)
    RESET_SENT   HARD_RESET_SERVER_V2 (sid)    -> [empty WKC_V1 if the TLV    TLS_HANDSHAKE
                                                  asks, §4.4] ClientHello
    TLS          handshake done, server ok     -> key-method-2 (one record)   TLS_ESTABLISHED
    KEY_EXCHANGE server key-method-2 record    -> "PUSH_REQUEST\\0" (every 5s) KEY_EXCHANGED,
                                                                              PUSH_REQUESTED
    PUSHING      final PUSH_REPLY part         -> KeepaliveSettings, DataKeys PUSH_RECEIVED,
                                                                              DATA_KEYS_READY,
                                                                              TUNNEL_UP
    ACTIVE       later control messages: auth-token refresh; RESTART/HALT/EXIT end it.

The whole negotiation must finish within ``hand-window`` of ``start`` (§3), or
``HandshakeTimeout``.

Renegotiation (§9, §11.26). Once the current key is ACTIVE, the next key id (1..7, then 1
again, never 0: :func:`next_key_id`) is negotiated when

* the server sends a SOFT_RESET for exactly that key id: we answer with our own SOFT_RESET
  (id 0 of the new key id; the reliable layer acks theirs) and start TLS at once (we stay the
  TLS client). A SOFT_RESET for any other key id, or while a key is still being negotiated,
  is dropped and counted (``soft-reset-key-id-out-of-sync``); the session goes on;
* ``reneg-sec`` seconds have passed since the current key's key-method 2 exchange (a client
  uses exactly its ``reneg-sec``, default 3600; 0 turns it off), or the datachannel asks with
  :meth:`SessionCore.request_renegotiation` (``reneg-bytes``, ``reneg-pkts``, data packet id
  0xFF000000, §8): we send SOFT_RESET and start TLS when the server's SOFT_RESET answers.

    RESET_SENT   server SOFT_RESET (we started)  -> ClientHello
    TLS          handshake done                  -> key-method 2 (auth-token as password)
    KEY_EXCHANGE server key-method-2 record      -> DataKeys for the new key id   ACTIVE

Each new key has its own TLS session and new randoms; its ``DataKeys`` are derived as soon as
the server's key-method 2 arrives, with key id 0's cipher and PRF/EKM choice, EKM running on
the new key's own TLS session (§5.3, §11.22). The old key becomes the lame duck: messages on
it are still read, and it is forgotten at the next renegotiation (the datachannel keeps
decrypting with it for tran-window). A failed renegotiation (hand-window, a TLS error) raises
``HandshakeTimeout``: the client lifecycle reconnects (§9 step 6 allows this simplification
of stock's "keep the old key until it dies").

Outputs are drained with :meth:`SessionCore.outputs` in order; time is always passed in as
``now``.
"""

from __future__ import annotations

import base64
import enum
import os
import struct
from collections import Counter
from collections.abc import Callable

import attrs

from vpnstack.core.shared import opcodes
from vpnstack.core.shared.ciphers import DATA_CIPHERS, STATIC_KEY_LEN
from vpnstack.core.shared.framing import framing_of
from vpnstack.core.tlssession.datakeys import (
    EKM_LABEL,
    KEY2_LEN,
    epoch_format_negotiated,
    split_key2,
    split_key2_epoch,
)
from vpnstack.core.tlssession.dynamic_tls_crypt import (
    DYNAMIC_TLS_CRYPT_LABEL,
    dynamic_tls_crypt_key,
)
from vpnstack.core.tlssession.early_negotiation import resend_wkc_requested
from vpnstack.core.tlssession.keymethod2 import (
    KeySource,
    ServerKeyMethod2,
    build_client_message,
    parse_server_message,
)
from vpnstack.core.tlssession.peerinfo import (
    IV_PROTO_DYN_TLS_CRYPT,
    announced_iv_proto,
    build_peer_info,
    occ_options_string,
)
from vpnstack.core.tlssession.prf import derive_key2_prf
from vpnstack.core.tlssession.progress import SessionProgress
from vpnstack.core.tlssession.push import (
    ControlKind,
    ControlText,
    ControlTextReader,
    PushCollector,
    PushedOptions,
    classify,
    client_pull_filters,
    is_auth_token_only,
    parse_auth_failed_temp,
    restart_flags,
    tunnel_info,
    with_local_options,
)
from vpnstack.core.tlssession.renegotiation import RENEG_SEC_DEFAULT, next_key_id
from vpnstack.core.tlssession.settings import SessionSettings
from vpnstack.core.tlssession.tlsclient import TLSClient
from vpnstack.errors import (
    AuthFailed,
    CertificateError,
    CipherNegotiationFailed,
    ConfigError,
    HandshakeTimeout,
    LocalError,
    RemoteProtocolError,
    ServerHalted,
    TLSError,
)
from vpnstack.messages import (
    AuthToken,
    ControlMessage,
    DataKeys,
    DynamicTlsCryptKey,
    KeepaliveSettings,
    Stage,
    TunnelInfo,
)

PUSH_REQUEST_INTERVAL = 5.0
"""Seconds between PUSH_REQUESTs until the PUSH_REPLY arrives (§6.2)."""

Output = ControlMessage | KeepaliveSettings | DataKeys | SessionProgress | DynamicTlsCryptKey
"""What the core asks its service to deliver: down, to the data channel, or to notify."""


class Phase(enum.Enum):
    """Phases of one key state (see the table at the top of the module)."""

    INITIAL = "initial"
    RESET_SENT = "reset sent"
    TLS = "TLS handshake"
    KEY_EXCHANGE = "key-method 2 exchange"
    PUSHING = "waiting for PUSH_REPLY"
    ACTIVE = "active"


@attrs.define
class _KeyState:
    """One TLS negotiation for one key id."""

    key_id: int
    started_at: float
    deadline: float
    source: KeySource
    phase: Phase = Phase.INITIAL
    tls: TLSClient | None = None
    server_km2: ServerKeyMethod2 | None = None
    next_push_request: float | None = None
    established_at: float | None = None  # key-method 2 done: reneg-sec counts from here (§9)
    renegotiation: bool = False  # a key id after 0, started by a SOFT_RESET


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


def parse_early_negotiation_tlvs(payload: bytes) -> dict[int, bytes]:
    """The TLVs of the server's hard reset (§4.4): ``uint16 type, uint16 len, value``.

    Unknown types are returned too (callers ignore what they do not know); a truncated
    list raises ``RemoteProtocolError``.
    """
    tlvs: dict[int, bytes] = {}
    offset = 0
    while offset < len(payload):
        if offset + 4 > len(payload):
            raise RemoteProtocolError("truncated-early-negotiation-tlv")
        kind, length = struct.unpack_from("!HH", payload, offset)
        offset += 4
        if offset + length > len(payload):
            raise RemoteProtocolError("truncated-early-negotiation-tlv", f"type {kind}")
        tlvs[kind] = payload[offset : offset + length]
        offset += length
    return tlvs


def negotiable_ciphers(config: SessionSettings) -> tuple[str, ...]:
    """The data ciphers we announce and accept: ``data-ciphers`` that vpnstack implements."""
    ours = tuple(c.upper() for c in config.data_ciphers if c.upper() in DATA_CIPHERS)
    if not ours:
        raise ConfigError(
            f"none of data-ciphers {':'.join(config.data_ciphers)} is implemented by vpnstack; "
            f"use {', '.join(sorted(DATA_CIPHERS))}"
        )
    return ours


def occ_cipher(options: str) -> str | None:
    """The ``cipher X`` of a peer's OCC options string (§5.2), upper-cased, or None."""
    for item in options.split(","):
        name, _, value = item.strip().partition(" ")
        if name == "cipher" and value.strip():
            return value.strip().upper()
    return None


def negotiate_cipher(
    pushed: PushedOptions, config: SessionSettings, *, server_options: str = ""
) -> str:
    """The data cipher to use (§6.3 ``cipher``), as a stock 2.6 client picks it.

    A pushed cipher must be one of ours. A server that pushes none (no NCP, e.g. before 2.4)
    uses the cipher of its OCC options string (``server_options``, §5.2), which we accept if
    it is one of ours; a server whose OCC string names no cipher gets our
    ``data-ciphers-fallback`` (or legacy ``cipher``). Anything else fails with
    ``CipherNegotiationFailed`` naming both sides' ciphers.
    """
    ours = negotiable_ciphers(config)
    if pushed.cipher is not None:
        if pushed.cipher.upper() not in ours:
            raise CipherNegotiationFailed(
                f"the server chose data cipher {pushed.cipher}, which is not in our "
                f"data-ciphers ({':'.join(ours)}); add it to data-ciphers, or allow one of "
                f"ours in the server's data-ciphers"
            )
        return pushed.cipher.upper()
    theirs = occ_cipher(server_options)
    if theirs is not None:
        if theirs not in ours:
            fix = (
                f"add {theirs} to data-ciphers"
                if theirs in DATA_CIPHERS
                else f"vpnstack does not implement {theirs}: the server must use one of "
                f"{', '.join(sorted(DATA_CIPHERS))}"
            )
            raise CipherNegotiationFailed(
                f"the server does not negotiate ciphers and uses data cipher {theirs}, which "
                f"is not in our data-ciphers ({':'.join(ours)}); {fix}"
            )
        return theirs
    fallback = config.data_ciphers_fallback or config.cipher
    if fallback is None:
        raise CipherNegotiationFailed(
            f"the server pushed no data cipher and named none, and we offered "
            f"{':'.join(ours)}; it may be too old for cipher negotiation: set "
            "data-ciphers-fallback to the server's cipher"
        )
    if fallback.upper() not in DATA_CIPHERS:
        raise CipherNegotiationFailed(
            f"the server pushed no data cipher and the fallback {fallback} is not implemented "
            f"by vpnstack (use one of {', '.join(sorted(DATA_CIPHERS))})"
        )
    return fallback.upper()


def compression_framing(pushed: PushedOptions, config: SessionSettings) -> str | None:
    """The framing of §7.4 for the data channel: the pushed option wins over the config's."""
    directive = pushed.compression if pushed.compression is not None else config.compression
    if directive is None:
        return None
    try:
        return framing_of(directive)
    except ValueError:
        raise ConfigError(
            f"the server pushed '{directive}', a compression option vpnstack does not know; "
            "configure the server with 'compress stub-v2' or without compression"
        ) from None


class SessionCore:
    """The TLS session state machine above the reliable layer (see the module docstring)."""

    def __init__(
        self,
        settings: SessionSettings,
        *,
        local_session_id: bytes,
        randbytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if len(local_session_id) != opcodes.SESSION_ID_LEN:
            raise LocalError("local_session_id must be 8 bytes")
        self._config = config = settings
        self._local_session_id = local_session_id
        self._randbytes = randbytes
        self._ciphers = negotiable_ciphers(config)
        self._server_session_id: bytes | None = None
        self._keys: dict[int, _KeyState] = {}  # the current key and the lame duck
        self._current: _KeyState | None = None  # the newest key state
        self._reneg_sec = config.reneg_sec if config.reneg_sec > 0 else None
        self._renegotiations = 0
        self._up = False
        self._outputs: list[Output] = []
        self._text_reader = ControlTextReader()
        self._push = PushCollector(
            filters=client_pull_filters(
                pull_filters=config.pull_filters, route_nopull=config.route_nopull
            )
        )
        self._pushed: PushedOptions | None = None
        self._cipher: str | None = None
        self._compression: str | None = None
        self._use_ekm: bool | None = None
        self._epoch = False  # 2.7 epoch data format (§10), decided with key id 0
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
        """The key id of the newest key state (negotiated or being negotiated)."""
        return self._current.key_id if self._current is not None else None

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

    # --- inputs -----------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin key id 0: queue the client hard reset (§5.1)."""
        if 0 in self._keys:
            raise LocalError("SessionCore.start called twice")
        key = _KeyState(
            key_id=0,
            started_at=now,
            deadline=now + self._config.hand_window,
            source=KeySource.generate(self._randbytes),
        )
        self._keys[0] = key
        self._current = key
        # Built now so that a bad cert/key/ca surfaces as ConfigError before any traffic.
        key.tls = TLSClient(self._config.tls)
        # The reliable layer reports RESET_SENT/RESET_ACKED when the reset actually goes out.
        # PROTOCOL.md §4.4: a tls-crypt-v2 client starts with V3 (the wrap appends WKc).
        reset = opcodes.P_CONTROL_HARD_RESET_CLIENT_V2
        if self._config.tls_crypt_v2:
            reset = opcodes.P_CONTROL_HARD_RESET_CLIENT_V3
        self._send(ControlMessage(reset, 0))
        key.phase = Phase.RESET_SENT

    def receive(self, message: ControlMessage, now: float) -> None:
        """Handle one in-order message from the reliable layer.

        Raises ``RemoteProtocolError`` for a message to drop, and the ``VPNError``
        subclasses for conditions that end the session.
        """
        if message.opcode == opcodes.P_CONTROL_SOFT_RESET_V1:
            self._on_soft_reset(message, now)
            return
        key = self._keys.get(message.key_id)
        if key is None:
            raise RemoteProtocolError("unknown-key-id", str(message.key_id))
        if message.opcode == opcodes.P_CONTROL_HARD_RESET_SERVER_V2:
            self._on_server_reset(key, message)
        elif message.opcode == opcodes.P_CONTROL_V1:
            try:
                self._on_tls_bytes(key, message.payload, now)
            except (TLSError, CertificateError) as exc:
                if not self._up:
                    raise
                # §9 step 6: a failed renegotiation (or a broken TLS session once the tunnel
                # is up) ends the session; the client lifecycle reconnects on this error.
                raise HandshakeTimeout(
                    f"renegotiation of key id {key.key_id} failed ({exc}); a new session "
                    "is needed"
                ) from exc
        else:
            name = opcodes.OPCODE_NAMES.get(message.opcode, str(message.opcode))
            raise RemoteProtocolError("unexpected-control-opcode", name)

    def request_renegotiation(self, key_id: int, reason: str, now: float) -> bool:
        """Renegotiate the current key ``key_id`` now (asked by the datachannel, §9).

        Returns False, and does nothing, when ``key_id`` is not the current key or the current
        key is still being negotiated: a renegotiation is then already under way.
        """
        current = self._current
        if current is None or current.key_id != key_id or current.phase is not Phase.ACTIVE:
            self._ignored["stale-renegotiation-request"] += 1
            return False
        self._start_renegotiation(now, reason)
        return True

    def send_exit(self) -> bool:
        """Write ``EXIT`` on the current key's control channel (cc-exit, PROTOCOL.md §7.6).

        Returns False, doing nothing, when no key is up to carry it (then the OCC EXIT data
        packet is the only notification left).
        """
        current = self._current
        if current is None or current.phase is not Phase.ACTIVE or current.tls is None:
            return False
        current.tls.write_application_data(b"EXIT\x00")  # §6.2: one record, NUL-terminated
        self._flush_tls(current)
        return True

    def next_timer(self) -> float | None:
        """When :meth:`on_timer` must next be called, or None."""
        times: list[float] = []
        renegotiate_at = self._renegotiate_at()
        if renegotiate_at is not None:
            times.append(renegotiate_at)
        for key in self._keys.values():
            if key.phase is not Phase.ACTIVE:
                times.append(key.deadline)
            if key.next_push_request is not None:
                times.append(key.next_push_request)
        return min(times, default=None)

    def on_timer(self, now: float) -> None:
        """Fire due timers: PUSH_REQUEST resend, hand-window deadline."""
        for key in self._keys.values():
            if key.phase is not Phase.ACTIVE and now >= key.deadline:
                raise HandshakeTimeout(self._timeout_message(key))
            if key.next_push_request is not None and now >= key.next_push_request:
                self._send_push_request(key, now)
        renegotiate_at = self._renegotiate_at()
        if renegotiate_at is not None and now >= renegotiate_at:
            assert self._reneg_sec is not None
            self._start_renegotiation(now, f"reneg-sec {self._reneg_sec:g}")

    # --- renegotiation (§9) ---------------------------------------------------------------

    def _renegotiate_at(self) -> float | None:
        """reneg-sec: the current key's key-method 2 exchange + reneg-sec (§9)."""
        current = self._current
        if self._reneg_sec is None or current is None or current.phase is not Phase.ACTIVE:
            return None
        assert current.established_at is not None
        return current.established_at + self._reneg_sec

    def _new_key(self, now: float) -> _KeyState:
        """A new current key state with the next key id; the old one becomes the lame duck."""
        old = self._current
        assert old is not None
        # The previous lame duck is forgotten (stock frees it at the soft reset, §9 step 1).
        self._keys = {old.key_id: old}
        key = _KeyState(
            key_id=next_key_id(old.key_id),
            started_at=now,
            deadline=now + self._config.hand_window,
            source=KeySource.generate(self._randbytes),  # new randoms for every key (§9)
            renegotiation=True,
        )
        key.tls = TLSClient(self._config.tls)
        self._keys[key.key_id] = key
        self._current = key
        self._renegotiations += 1
        return key

    def _start_renegotiation(self, now: float, reason: str) -> None:
        """We initiate (§9 step 1): SOFT_RESET with the next key id, message id 0."""
        key = self._new_key(now)
        self._send(ControlMessage(opcodes.P_CONTROL_SOFT_RESET_V1, key.key_id))
        key.phase = Phase.RESET_SENT
        self._report(Stage.TLS_HANDSHAKE, f"renegotiating key id {key.key_id} ({reason})")

    def _on_soft_reset(self, message: ControlMessage, now: float) -> None:
        key_id = message.key_id
        current = self._current
        if current is not None and current.renegotiation and key_id == current.key_id:
            if current.phase is Phase.RESET_SENT:
                # The server's answer to our SOFT_RESET (§9 step 2): TLS can start.
                self._start_tls(current)
            else:
                self._ignored["duplicate-soft-reset"] += 1
            return
        if current is None or current.phase is not Phase.ACTIVE:
            # §9 step 2: the responder must have keys for its current key first.
            raise RemoteProtocolError("soft-reset-during-negotiation", f"key id {key_id}")
        expected = next_key_id(current.key_id)
        if key_id != expected:
            # §11.26: only our "next" key id may start a renegotiation. Dropped and counted;
            # the session goes on with its current key.
            raise RemoteProtocolError(
                "soft-reset-key-id-out-of-sync", f"key id {key_id}, expected {expected}"
            )
        key = self._new_key(now)
        # §9 step 2: our own SOFT_RESET (id 0 of the new key id); theirs is acked below us.
        self._send(ControlMessage(opcodes.P_CONTROL_SOFT_RESET_V1, key_id))
        self._report(Stage.TLS_HANDSHAKE, f"renegotiating key id {key_id} (server-initiated)")
        self._start_tls(key)

    def _start_tls(self, key: _KeyState) -> None:
        """A renegotiation's new TLS handshake: our ClientHello (§9 step 3)."""
        assert key.tls is not None
        key.tls.start()
        key.phase = Phase.TLS
        self._flush_tls(key)

    def _finish_renegotiation(self, key: _KeyState) -> None:
        """The new key's key-method 2 exchange is done: its DataKeys right away (§5.3)."""
        keys = self._data_keys(key)
        key.phase = Phase.ACTIVE
        self._outputs.append(keys)
        self._report(Stage.DATA_KEYS_READY, f"key id {key.key_id} renegotiated, {self._cipher}")

    # --- the steps --------------------------------------------------------------------

    def _on_server_reset(self, key: _KeyState, message: ControlMessage) -> None:
        if key.key_id != 0:
            raise RemoteProtocolError("hard-reset-key-id-not-0")
        if key.phase is not Phase.RESET_SENT:
            self._ignored["duplicate-server-reset"] += 1
            return
        sid = message.peer_session_id
        if sid is None or len(sid) != opcodes.SESSION_ID_LEN:
            raise RemoteProtocolError("server-reset-without-session-id")
        # §4.4: the reset's payload is a TLV list; unknown types are ignored.
        resend_wkc = False
        try:
            resend_wkc = resend_wkc_requested(parse_early_negotiation_tlvs(message.payload))
        except RemoteProtocolError:
            self._ignored["malformed-early-negotiation-tlvs"] += 1
        self._server_session_id = sid
        assert key.tls is not None
        key.tls.start()
        key.phase = Phase.TLS
        self._notify(Stage.TLS_HANDSHAKE, f"server session {sid.hex()}")
        if resend_wkc and self._config.tls_crypt_v2:
            # §4.4.3/§11.9: our message id 1 must be P_CONTROL_WKC_V1 (the wrap appends WKc).
            # An empty one, as OpenVPN sends when it has only an ack to give: it carries the
            # ack of the server's reset, and the ClientHello follows as id 2, so the TLS
            # bytes never have to share a packet with the WKc.
            self._send(ControlMessage(opcodes.P_CONTROL_WKC_V1, 0))
        self._flush_tls(key)

    def _on_tls_bytes(self, key: _KeyState, payload: bytes, now: float) -> None:
        tls = key.tls
        if tls is None or key.phase is Phase.RESET_SENT:
            raise RemoteProtocolError("tls-data-before-server-reset")
        was_complete = tls.handshake_complete
        tls.feed(payload)
        if tls.handshake_complete and not was_complete:
            # A renegotiation reports its handshake without leaving the TUNNEL_UP stage.
            report = self._report if key.renegotiation else self._notify
            report(
                Stage.TLS_ESTABLISHED,
                f"{tls.protocol_version} {tls.cipher_name}, server {tls.server_subject}",
            )
            self._write_key_method_2(key)
        self._flush_tls(key)
        errors: list[RemoteProtocolError] = []
        for record in tls.read_application_records():
            try:
                self._on_record(key, record, now)
            except RemoteProtocolError as exc:
                errors.append(exc)
        self._flush_tls(key)
        if tls.closed:
            raise ServerHalted(
                "the server closed the TLS session of the control channel", reconnect=True
            )
        if errors:
            raise errors[0]

    def _write_key_method_2(self, key: _KeyState) -> None:
        assert key.tls is not None
        username, password = self._config.username, self._config.password
        if self._auth_token is not None:
            # §5.2: the auth-token replaces the password on renegotiation, with the user name
            # of auth-token-user if one was pushed; stock writes an empty name when there is
            # none (a certificate-only client that was given a token).
            username = self._auth_token_user or username or ""
            password = self._auth_token
        message = build_client_message(
            key.source,
            options=occ_options_string(self._config),
            username=username,
            password=password,
            peer_info=build_peer_info(self._config, ciphers=self._ciphers),
        )
        key.tls.write_application_data(message)  # §11.19: one TLS write
        key.phase = Phase.KEY_EXCHANGE

    def _on_record(self, key: _KeyState, record: bytes, now: float) -> None:
        if key.phase is Phase.KEY_EXCHANGE:
            # The first record after the handshake is the server's key-method 2 (§5.2).
            key.server_km2 = parse_server_message(record)
            key.established_at = now
            if key.renegotiation:
                self._finish_renegotiation(key)
                return
            self._notify(Stage.KEY_EXCHANGED)
            key.phase = Phase.PUSHING
            self._send_push_request(key, now)
            self._notify(Stage.PUSH_REQUESTED)
            return
        if key.phase not in (Phase.PUSHING, Phase.ACTIVE):
            raise RemoteProtocolError("app-data-before-key-method-2")
        errors: list[RemoteProtocolError] = []
        for raw in self._text_reader.feed(record):
            if not raw:
                continue
            try:
                self._on_text(key, classify(raw), now)
            except RemoteProtocolError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _on_text(self, key: _KeyState, text: ControlText, now: float) -> None:
        self._texts += 1
        kind = text.kind
        if kind is ControlKind.PUSH_REPLY:
            self._on_push_reply(key, text.argument)
        elif kind is ControlKind.AUTH_FAILED:
            reason = text.argument
            if "cipher negotiation failed" in reason.lower() or "no shared cipher" in reason:
                # A 2.6 server reports a failed NCP as AUTH_FAILED (seen on the wire).
                raise CipherNegotiationFailed(
                    f"the server has no data cipher in common with our data-ciphers "
                    f"({':'.join(self._ciphers)}) (AUTH_FAILED: {reason}); add one of the "
                    "server's data-ciphers to ours"
                )
            temp = parse_auth_failed_temp(reason)
            raise AuthFailed(
                _auth_failed_message(reason),
                reason=reason,
                temporary=temp is not None,
                backoff=temp.backoff if temp is not None else None,
                advance=temp.advance if temp is not None else None,
            )
        elif kind is ControlKind.AUTH_PENDING:
            if key.phase is Phase.PUSHING:
                timeout = _auth_pending_timeout(text.argument)
                limit = max(RENEG_SEC_DEFAULT / 2, self._config.hand_window)
                if timeout is not None:
                    key.deadline = max(key.deadline, key.started_at + min(timeout, limit))
                self._notify(Stage.PUSH_REQUESTED, "authentication pending on the server")
        elif kind in (ControlKind.INFO, ControlKind.INFO_PRE):
            self._notify(self._stage or Stage.PUSH_REQUESTED, f"server: {text.argument}")
        elif kind is ControlKind.RESTART:
            raise ServerHalted(
                f"the server asked us to reconnect (RESTART{_suffix(text.argument)})",
                reconnect=True,
                next_remote="N" in restart_flags(text.argument),
            )
        elif kind is ControlKind.HALT:
            raise ServerHalted(
                f"the server ended the session and asked us not to reconnect "
                f"(HALT{_suffix(text.argument)})",
                reconnect=False,
            )
        elif kind is ControlKind.EXIT:
            raise ServerHalted("the server is going away (EXIT); reconnect later", reconnect=True)
        else:
            self._ignored["unknown-control-message"] += 1

    def _on_push_reply(self, key: _KeyState, argument: str) -> None:
        options = self._push.add(argument)
        if options is None:
            return  # §11.21: more parts follow; apply nothing yet
        if options.auth_token is not None:
            self._auth_token = options.auth_token
            if options.auth_token_user is not None:
                self._auth_token_user = _decode_token_user(options.auth_token_user)
            # Handed to the client lifecycle for reconnects, in a field that is never shown.
            token = AuthToken(options.auth_token, _decode_token_user(options.auth_token_user))
            self._outputs.append(SessionProgress(Stage.AUTH_TOKEN, auth_token=token))
        if key.phase is Phase.ACTIVE:
            # §6.2: a later PUSH_REPLY (e.g. an auth-token refresh) must not tear down
            # the tunnel; other changes would need a reconnect and are not applied.
            if not is_auth_token_only(options):
                self._ignored["push-reply-after-tunnel-up"] += 1
            return
        self._pushed = options
        key.next_push_request = None
        self._notify(Stage.PUSH_RECEIVED, _push_summary(options))
        self._activate(key, options)

    def _activate(self, key: _KeyState, pushed: PushedOptions) -> None:
        """Derive key id 0's data keys, now that cipher and EKM flags are known (§11.22)."""
        assert key.tls is not None and key.server_km2 is not None
        # §7.4, §11.24: even "comp-lzo no" changes the data framing; it holds for every key.
        self._compression = compression_framing(pushed, self._config)
        self._cipher = negotiate_cipher(pushed, self._config, server_options=key.server_km2.options)
        # §5.3/§11.14: EKM only when we announced bit 3 *and* the server pushed tls-ekm.
        self._use_ekm = pushed.uses_ekm and self._config.tls_ekm
        # §10: epoch format only with our bit 10, AEAD, P_DATA_V2 and the pushed aead-epoch.
        self._epoch = epoch_format_negotiated(
            iv_proto=announced_iv_proto(self._config),
            cipher=self._cipher,
            peer_id=pushed.peer_id,
            protocol_flags=pushed.protocol_flags,
        )
        keys = self._data_keys(key)
        self._outputs.append(
            KeepaliveSettings(
                ping=_seconds(pushed.ping if pushed.ping is not None else self._config.ping),
                ping_restart=_seconds(
                    pushed.ping_restart
                    if pushed.ping_restart is not None
                    else self._config.ping_restart
                ),
            )
        )
        self._outputs.append(keys)
        if self._dynamic_tls_crypt_negotiated(pushed):
            # §4.2 step 1: exported from key id 0's TLS session when its keys are made; the
            # controlchannel wraps every key id > 0 with it from now on.
            ekm = key.tls.export_keying_material(DYNAMIC_TLS_CRYPT_LABEL, STATIC_KEY_LEN)
            self._outputs.append(DynamicTlsCryptKey(dynamic_tls_crypt_key(ekm, self._wrap_key())))
        derivation = "tls-ekm" if self._use_ekm else "prf"
        self._notify(Stage.DATA_KEYS_READY, f"{self._cipher}, key derivation {derivation}")
        key.phase = Phase.ACTIVE
        local = with_local_options(
            pushed,
            routes=self._config.routes,
            routes_ipv6=self._config.routes_ipv6,
            redirect_gateway=self._config.redirect_gateway,
            dhcp_options=self._config.dhcp_options,
            tun_mtu=self._config.tun_mtu,
        )
        info = tunnel_info(local, cipher=self._cipher, key_derivation=derivation)
        self._outputs.append(SessionProgress(Stage.TUNNEL_UP, _up_summary(info), info))
        self._stage = Stage.TUNNEL_UP
        self._up = True

    def _dynamic_tls_crypt_negotiated(self, pushed: PushedOptions) -> bool:
        """Our IV_PROTO bit 9 and the server's ``protocol-flags dyn-tls-crypt`` (§4.2, §6.3)."""
        announced = announced_iv_proto(self._config) & IV_PROTO_DYN_TLS_CRYPT
        return bool(announced) and "dyn-tls-crypt" in pushed.protocol_flags

    def _wrap_key(self) -> bytes | None:
        """The original wrapping's 256-byte key that dynamic tls-crypt XORs in (§4.2 step 2)."""
        return self._config.wrap_key

    def _data_keys(self, key: _KeyState) -> DataKeys:
        """The DataKeys of one key id: key id 0 and every renegotiated key come from here.

        The cipher and the PRF/EKM choice are key id 0's (§9 step 3); EKM runs on the TLS
        session of *this* key id and the PRF uses its randoms (§5.3, §11.22).
        """
        assert key.tls is not None and key.server_km2 is not None
        assert self._cipher is not None and self._pushed is not None
        if self._use_ekm:
            key2 = key.tls.export_keying_material(EKM_LABEL, KEY2_LEN)
        else:
            assert self._server_session_id is not None
            key2 = derive_key2_prf(
                pre_master=key.source.pre_master,
                client_random1=key.source.random1,
                server_random1=key.server_km2.random1,
                client_random2=key.source.random2,
                server_random2=key.server_km2.random2,
                client_session_id=self._local_session_id,
                server_session_id=self._server_session_id,
            )
        if self._epoch:
            assert self._pushed.peer_id is not None
            return split_key2_epoch(
                key2,
                cipher=self._cipher,
                key_id=key.key_id,
                peer_id=self._pushed.peer_id,
                compression=self._compression,
            )
        return split_key2(
            key2,
            cipher=self._cipher,
            key_id=key.key_id,
            peer_id=self._pushed.peer_id,
            auth=self._config.auth,
            compression=self._compression,
        )

    # --- helpers ----------------------------------------------------------------------

    def _send_push_request(self, key: _KeyState, now: float) -> None:
        assert key.tls is not None
        key.tls.write_application_data(b"PUSH_REQUEST\x00")  # §6.2, §11.20: one record
        self._flush_tls(key)
        self._push_requests += 1
        key.next_push_request = now + PUSH_REQUEST_INTERVAL

    def _flush_tls(self, key: _KeyState) -> None:
        if key.tls is None:
            return
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

    def _timeout_message(self, key: _KeyState) -> str:
        window = self._config.hand_window
        if key.renegotiation:
            return (
                f"the renegotiation of data-channel key id {key.key_id} did not complete "
                f"within {window:g} s (hand-window, stuck in phase {key.phase.value}); a new "
                "session is needed"
            )
        if self._server_session_id is None and self._config.tls_crypt_v2:
            # §4.3: a server that cannot unwrap our WKc drops the reset without a word.
            return (
                f"no answer from the server at all within {window:g} s (hand-window): check "
                "the remote address and port, the firewall, and that the tls-crypt-v2 client "
                "key was made for this server's tls-crypt-v2 server key"
            )
        if self._server_session_id is None:
            return (
                f"no answer from the server at all within {window:g} s (hand-window): check "
                "the remote address and port, the firewall, and that the tls-auth/tls-crypt "
                "key (and key-direction) match the server's"
            )
        hint = {
            Phase.TLS: "the TLS handshake did not finish (check tls-version-min/max and the "
            "server's log for TLS errors)",
            Phase.KEY_EXCHANGE: "the server did not answer our key-method 2 message (check "
            "the server's log: our certificate or user/password may have been refused)",
            Phase.PUSHING: "the server did not send its PUSH_REPLY (check the server's log: "
            "authentication and client-connect scripts may be failing or pending)",
        }.get(key.phase, f"stuck in phase {key.phase.value}")
        return (
            f"handshake started but did not complete within {window:g} s (hand-window): {hint}"
        )


def _seconds(value: int | None) -> float | None:
    return None if value is None or value <= 0 else float(value)


def _suffix(argument: str) -> str:
    return f": {argument}" if argument else ""


def _auth_failed_message(reason: str) -> str:
    base = "the server refused our credentials (AUTH_FAILED"
    base += f": {reason})" if reason else ")"
    if reason.startswith("TEMP"):
        return base + "; the failure is temporary, try again later"
    if reason.startswith("CRV1"):
        return base + "; the server asks a dynamic challenge, which vpnstack does not support"
    return base + "; check the username and password of auth-user-pass and the client certificate"


def _auth_pending_timeout(argument: str) -> float | None:
    """``AUTH_PENDING,timeout N`` -> N (§6.2)."""
    for item in argument.split(","):
        tokens = item.split()
        if len(tokens) == 2 and tokens[0] == "timeout" and tokens[1].isdigit():
            return float(tokens[1])
    return None


def _push_summary(options: PushedOptions) -> str:
    parts = []
    if options.ifconfig is not None:
        parts.append(f"ifconfig {options.ifconfig[0]} {options.ifconfig[1]}")
    if options.cipher:
        parts.append(f"cipher {options.cipher}")
    if options.peer_id is not None:
        parts.append(f"peer-id {options.peer_id}")
    parts.append(f"{len(options.routes) + len(options.routes_ipv6)} routes")
    return ", ".join(parts)


def _up_summary(info: TunnelInfo) -> str:
    return f"address {info.address}" if info.address is not None else ""


def _decode_token_user(encoded: str | None) -> str | None:
    """``auth-token-user`` is base64 (§5.2); an undecodable one is ignored."""
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
