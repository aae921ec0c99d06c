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
    Phase.TLS_HANDSHAKE: "the TLS handshake did not finish: the server most likely refused it "
    "(our certificate, or no TLS version or cipher in common) and dropped the session without "
    "a word, as OpenVPN 2.6 does; its log says why",
    Phase.KEY_EXCHANGE: "the server did not answer our key-method 2 message: with TLS 1.3 it "
    "checks our certificate only after the handshake, and an OpenVPN 2.6 server that refuses "
    "it drops the session without sending its alert; its log says why (VERIFY ERROR)",
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


QUIET_PREFIX = "still waiting:"
"""How a ``ServerQuiet`` notice begins (vpnstack-client shows it at every verbosity)."""
WARNING_PREFIX = "warning:"
"""How a warning detail begins (likewise)."""

_CERT_CAUSES = (
    "not issued by the CA the server trusts, expired, revoked, or without the extendedKeyUsage "
    "clientAuth that remote-cert-tls client asks"
)


def quiet_message(
    *, phase: Phase, key_id: int, waited: float, heard_tls: bool, tls_version: str | None
) -> str:
    """What a server's silence most likely means, while it owes us an answer (``ServerQuiet``).

    Seen on the wire with OpenVPN 2.6.14: a server that refuses our certificate, TLS version or
    cipher logs the alert ("Sent fatal SSL alert: ...") but frees the session before sending
    it, and then drops every packet of ours; nothing more arrives.
    """
    prefix = f"{QUIET_PREFIX} no answer from the server for {waited:.0f} s"
    if key_id != 0:
        prefix += f" (renegotiation of key id {key_id})"
    owner = "the server's log says why; the attempt ends at hand-window"
    if phase in (Phase.KEY_EXCHANGE, Phase.REKEY_KEY_EXCHANGE):
        after = f"our {tls_version} handshake" if tls_version else "our TLS handshake"
        return (
            f"{prefix} after {after} and key-method 2: most likely the server refused our "
            f"certificate ({_CERT_CAUSES}) and dropped the session without sending its alert; "
            f"or its auth script is slow; {owner}"
        )
    if not heard_tls:
        return (
            f"{prefix} to our TLS ClientHello: most likely the server refused the handshake "
            "(no TLS version in common: check tls-version-min/max; or no cipher suite or "
            f"group in common: check tls-cipher, tls-ciphersuites, tls-groups); {owner}"
        )
    return (
        f"{prefix} to our certificate and TLS Finished: most likely the server refused our "
        f"certificate ({_CERT_CAUSES}) or our TLS parameters, and dropped the session without "
        f"sending its alert; {owner}"
    )


def closed_message(phase: Phase, key_id: int) -> str:
    """The server closed the TLS session (close_notify): what that means in ``phase``."""
    base = "the server closed the TLS session of the control channel"
    if key_id == 0 and phase in (Phase.TLS_HANDSHAKE, Phase.KEY_EXCHANGE):
        return (
            f"{base} before answering our key-method 2: it most likely refused our certificate "
            "or our TLS parameters; the server's log says why"
        )
    return base


def keylog_warning(path: str) -> str:
    """Said once per session when the TLS secrets are written out (SSLKEYLOGFILE)."""
    return (
        f"{WARNING_PREFIX} TLS secrets of the control channel are appended to {path} "
        "(SSLKEYLOGFILE): that file decrypts this session's control channel, including its "
        "password and keys; delete it when done"
    )


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
