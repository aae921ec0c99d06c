"""The error vocabulary of vpnstack (ARCHITECTURE.md "Errors").

Three families, kept apart on purpose:

* ``VPNError`` and its subclasses: conditions the *user* must act on. They are the only
  exceptions that cross the public API, and each message says what to change.
* ``RemoteProtocolError``: the peer (or an attacker) sent something that violates the
  protocol. Layers catch it, drop the packet and count the reason; it never ends a session.
* ``LocalError``: our own misuse of an internal API, i.e. a bug in vpnstack.

``DropReason`` is the one vocabulary of why a packet or message was dropped (or deliberately
ignored): every ``RemoteProtocolError`` and every ``DropCounter`` count names one of its
members, one name per violation. It is a ``StrEnum``, so statistics dicts keyed by it still
read (and compare, and print) as the plain strings. It lives here, beside the exception that
carries it, so that this module imports nothing of vpnstack; ``core/shared/drops.py``
re-exports it for the cores.
"""

from __future__ import annotations

import enum


class DropReason(enum.StrEnum):
    """Why a packet or message from the peer (or for the application) was dropped or ignored."""

    # --- packetmuxer: the first byte and the length (docs §2)
    EMPTY = "empty"
    DATA_TOO_SHORT = "data-too-short"
    UNEXPECTED_OPCODE = "unexpected-opcode"
    CONTROL_TOO_SHORT = "control-too-short"
    HARD_RESET_NONZERO_KEY_ID = "hard-reset-nonzero-key-id"
    """A hard reset with a key id other than 0 (§2.5.1); counted under this one name everywhere."""
    # --- the control packet codec (core/shared/packets.py, §3.2, §3.3)
    DATA_OPCODE_ON_CONTROL_PATH = "data-opcode-on-control-path"
    UNKNOWN_CONTROL_OPCODE = "unknown-control-opcode"
    TOO_MANY_ACKS = "too-many-acks"
    TRUNCATED_ACK_SECTION = "truncated-ack-section"
    TRUNCATED_MESSAGE_ID = "truncated-message-id"
    TRAILING_BYTES_AFTER_ACK = "trailing-bytes-after-ack"
    # --- controlchannel: wrapping and session ids (§3.6-§3.4, §3.5, §5.1)
    TOO_SHORT = "too-short"
    HMAC_MISMATCH = "hmac-mismatch"
    BAD_WKC_LENGTH = "bad-wkc-length"
    BEFORE_SERVER_RESET = "before-server-reset"
    FOREIGN_SESSION = "foreign-session"
    ACK_FOR_OTHER_SESSION = "ack-for-other-session"
    # --- the replay window (core/shared/replay.py, §6.8)
    REPLAY_ZERO_ID = "replay-zero-id"
    REPLAY_TIME_BACKWARDS = "replay-time-backwards"
    REPLAY_TOO_OLD = "replay-too-old"
    REPLAY_DUPLICATE = "replay-duplicate"
    REPLAY_EXPIRED = "replay-expired"
    # --- reliabletransport (§4)
    NOT_A_CONTROL_PACKET = "not-a-control-packet"
    MESSAGE_ID_PRESENCE = "message-id-presence"
    RESET_WITH_NONZERO_MESSAGE_ID = "reset-with-nonzero-message-id"
    UNKNOWN_KEY_ID = "unknown-key-id"
    """A packet or message for a key id with no state (reliable, datachannel, tlssession)."""
    OUT_OF_RECEIVE_WINDOW = "out-of-receive-window"
    # --- datachannel (§6, §6.8, §6.9)
    NOT_DATA = "not-data"
    WRONG_KEY_ID = "wrong-key-id"
    AUTH_FAILED = "auth-failed"
    BAD_LENGTH = "bad-length"
    BAD_PADDING = "bad-padding"
    EPOCH_NEEDS_DATA_V2 = "epoch-needs-data-v2"
    UNKNOWN_EPOCH = "unknown-epoch"
    EPOCH_KEY_FAILED = "epoch-key-failed"
    BAD_COMPRESSION_HEADER = "bad-compression-header"
    COMPRESSED = "compressed"
    NO_KEYS_YET = "no-keys-yet"
    PACKET_IDS_EXHAUSTED = "packet-ids-exhausted"
    # --- networkio (§1)
    TCP_LENGTH_ZERO = "tcp-length-zero"
    TCP_LENGTH_TOO_BIG = "tcp-length-too-big"
    ICMP_PORT_UNREACHABLE = "icmp-port-unreachable"
    ICMP_UNREACHABLE = "icmp-unreachable"
    SEND_UNREACHABLE = "send-unreachable"
    MUXER_BUSY = "muxer-busy"
    # --- tun: the userspace endpoint and the kernel TUN device (system/tundev.py)
    APPLICATION_NOT_READING = "application-not-reading"
    APPLICATION_CLOSED = "application-closed"
    TUN_CLOSED = "tun-closed"
    EMPTY_PACKET = "empty-packet"
    REFUSED_BY_KERNEL = "refused-by-kernel"
    TOO_LARGE = "too-large"
    KERNEL_OUT_OF_BUFFERS = "kernel-out-of-buffers"
    TUN_GONE = "tun-gone"
    # --- tlssession: early negotiation, key-method 2, control messages (§3.9, §5, §5.5, §5.7)
    TRUNCATED_EARLY_NEGOTIATION_TLV = "truncated-early-negotiation-tlv"
    MALFORMED_EARLY_NEGOTIATION_FLAGS = "malformed-early-negotiation-flags"
    MALFORMED_EARLY_NEGOTIATION_TLVS = "malformed-early-negotiation-tlvs"
    KEY_METHOD_2_TRUNCATED = "key-method-2-truncated"
    KEY_METHOD_2_STRING_NOT_NUL_TERMINATED = "key-method-2-string-not-nul-terminated"
    NOT_KEY_METHOD_2 = "not-key-method-2"
    CONTROL_MESSAGE_TOO_LONG = "control-message-too-long"
    NON_PRINTABLE_CONTROL_MESSAGE = "non-printable-control-message"
    UNEXPECTED_CONTROL_OPCODE = "unexpected-control-opcode"
    STALE_RENEGOTIATION_REQUEST = "stale-renegotiation-request"
    DUPLICATE_SOFT_RESET = "duplicate-soft-reset"
    SOFT_RESET_DURING_NEGOTIATION = "soft-reset-during-negotiation"
    SOFT_RESET_KEY_ID_OUT_OF_SYNC = "soft-reset-key-id-out-of-sync"
    DUPLICATE_SERVER_RESET = "duplicate-server-reset"
    SERVER_RESET_WITHOUT_SESSION_ID = "server-reset-without-session-id"
    TLS_DATA_BEFORE_SERVER_RESET = "tls-data-before-server-reset"
    APP_DATA_BEFORE_KEY_METHOD_2 = "app-data-before-key-method-2"
    UNKNOWN_CONTROL_MESSAGE = "unknown-control-message"
    PUSH_REPLY_AFTER_TUNNEL_UP = "push-reply-after-tunnel-up"
    PUSH_REPLY_TOO_LONG = "push-reply-too-long"


class VPNError(Exception):
    """Base class of every error vpnstack raises to its users."""


class ConfigError(VPNError):
    """The configuration cannot be used; the message names file:line and what to change."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class HandshakeTimeout(VPNError):
    """The server did not complete the handshake within the allowed time."""


class AuthFailed(VPNError):
    """The server refused our credentials (AUTH_FAILED)."""

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        temporary: bool = False,
        backoff: float | None = None,
        advance: str | None = None,
    ) -> None:
        self.reason = reason
        self.temporary = temporary
        """``AUTH_FAILED,TEMP``: try again later (docs §5.5)."""
        self.backoff = backoff
        """TEMP ``backoff N``: wait at least N seconds."""
        self.advance = advance
        """TEMP ``advance no|addr|remote``: which server to try next (None: not said)."""
        super().__init__(message)


class CertificateError(VPNError):
    """The server's certificate was rejected (untrusted CA, wrong EKU, wrong name...)."""


class TLSError(VPNError):
    """The TLS handshake failed for a reason other than the server certificate."""


class CipherNegotiationFailed(VPNError):
    """Client and server have no data-channel cipher in common."""


class KeepaliveTimeout(VPNError):
    """Nothing was heard from the server for ping-restart seconds."""


class NetworkError(VPNError):
    """The transport failed: the remote could not be resolved or reached."""


class ServerUnreachable(NetworkError):
    """Over UDP the server went silent and our packets keep drawing ICMP port unreachable:
    it stopped or restarted and forgot the session (docs §1.6). Reconnect soon."""


class ServerHalted(VPNError):
    """The server ended the session (HALT, RESTART or EXIT on the control channel)."""

    def __init__(self, message: str, *, reconnect: bool, next_remote: bool = False) -> None:
        self.reconnect = reconnect
        """True for RESTART and EXIT (come back later), False for HALT (stay away)."""
        self.next_remote = next_remote
        """RESTART with the ``[N]`` flag: reconnect to the next remote, not the same one."""
        super().__init__(message)


class TunnelClosed(VPNError):
    """The tunnel was used after it was closed, or closed while a call was waiting."""


class RemoteProtocolError(Exception):
    """A packet from the peer violates the protocol; drop it and count ``reason``."""

    def __init__(self, reason: DropReason, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


class LocalError(Exception):
    """vpnstack misused one of its own internal interfaces (a bug)."""
