"""The error vocabulary of vpnstack (ARCHITECTURE.md "Errors").

Three families, kept apart on purpose:

* ``VPNError`` and its subclasses: conditions the *user* must act on. They are the only
  exceptions that cross the public API, and each message says what to change.
* ``RemoteProtocolError``: the peer (or an attacker) sent something that violates the
  protocol. Layers catch it, drop the packet and count the reason; it never ends a session.
* ``LocalError``: our own misuse of an internal API, i.e. a bug in vpnstack.
"""

from __future__ import annotations


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
        """``AUTH_FAILED,TEMP``: try again later (PROTOCOL.md §6.2)."""
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

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


class LocalError(Exception):
    """vpnstack misused one of its own internal interfaces (a bug)."""
