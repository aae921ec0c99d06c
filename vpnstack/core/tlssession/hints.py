"""What the user is told when the session fails: the hand-window timeout and AUTH_FAILED texts.

How this works: each function turns what the session knows at the moment of failure (the
phase the key was stuck in, whether the server ever answered, the server's reason) into one
message that says what to check. Nothing here decides anything; the session raises the
error, these only word it.
"""

from __future__ import annotations

from vpnstack.core.tlssession.machine import Phase

_PHASE_TEXT = {
    Phase.HARD_RESET_SENT: "reset sent",
    Phase.SOFT_RESET_SENT: "reset sent",
    Phase.TLS_HANDSHAKE: "TLS handshake",
    Phase.REKEY_TLS: "TLS handshake",
    Phase.KEY_EXCHANGE: "key-method 2 exchange",
    Phase.REKEY_KEY_EXCHANGE: "key-method 2 exchange",
    Phase.PUSH_WAIT: "waiting for PUSH_REPLY",
}

_STUCK_HINTS = {
    Phase.TLS_HANDSHAKE: "the TLS handshake did not finish (check tls-version-min/max and the "
    "server's log for TLS errors)",
    Phase.KEY_EXCHANGE: "the server did not answer our key-method 2 message (check the "
    "server's log: our certificate or user/password may have been refused)",
    Phase.PUSH_WAIT: "the server did not send its PUSH_REPLY (check the server's log: "
    "authentication and client-connect scripts may be failing or pending)",
}


def phase_text(phase: Phase) -> str:
    """The phase as the messages name it (a renegotiation's phases read like key id 0's)."""
    return _PHASE_TEXT.get(phase, phase.value)


def timeout_message(
    *,
    phase: Phase,
    key_id: int,
    hand_window: float,
    server_answered: bool,
    tls_crypt_v2: bool,
) -> str:
    """Why the negotiation of ``key_id`` did not finish within hand-window (§4), and what
    to check."""
    window = hand_window
    if key_id != 0:
        return (
            f"the renegotiation of data-channel key id {key_id} did not complete "
            f"within {window:g} s (hand-window, stuck in phase {phase_text(phase)}); a new "
            "session is needed"
        )
    if not server_answered and tls_crypt_v2:
        # docs §3.8: a server that cannot unwrap our WKc drops the reset without a word.
        return (
            f"no answer from the server at all within {window:g} s (hand-window): check "
            "the remote address and port, the firewall, and that the tls-crypt-v2 client "
            "key was made for this server's tls-crypt-v2 server key"
        )
    if not server_answered:
        return (
            f"no answer from the server at all within {window:g} s (hand-window): check "
            "the remote address and port, the firewall, and that the tls-auth/tls-crypt "
            "key (and key-direction) match the server's"
        )
    hint = _STUCK_HINTS.get(phase, f"stuck in phase {phase_text(phase)}")
    return f"handshake started but did not complete within {window:g} s (hand-window): {hint}"


def renegotiation_failed_message(key_id: int, error: Exception) -> str:
    """A TLS failure on a renegotiation (or once the tunnel is up) ends the session (§5.7)."""
    return f"renegotiation of key id {key_id} failed ({error}); a new session is needed"


def auth_failed_message(reason: str) -> str:
    """The server's AUTH_FAILED (§5.5), with what to do about it."""
    base = "the server refused our credentials (AUTH_FAILED"
    base += f": {reason})" if reason else ")"
    if reason.startswith("TEMP"):
        return base + "; the failure is temporary, try again later"
    if reason.startswith("CRV1"):
        return base + "; the server asks a dynamic challenge, which vpnstack does not support"
    return base + "; check the username and password of auth-user-pass and the client certificate"


def server_ncp_failed_message(reason: str, ciphers: tuple[str, ...]) -> str:
    """A 2.6 server reports a failed cipher negotiation as AUTH_FAILED (seen on the wire)."""
    return (
        f"the server has no data cipher in common with our data-ciphers "
        f"({':'.join(ciphers)}) (AUTH_FAILED: {reason}); add one of the "
        "server's data-ciphers to ours"
    )
