"""What each control text from the server does (docs §5.5).

How this works: the session splits the TLS plaintext into NUL-terminated texts and
classifies each (``push.classify``); :func:`react` says what one text means, as a small
record the session acts on:

* ``PUSH_REPLY`` -> :class:`PushPart`: one part of the push (the session collects the parts;
  the final one becomes the state machine's ``PushComplete``);
* ``AUTH_PENDING`` -> :class:`Pending`: the server is still authenticating; while the key
  waits for its PUSH_REPLY the hand-window deadline moves (:func:`auth_pending_deadline`);
* ``INFO`` / ``INFO_PRE`` -> :class:`Report`: a line for the user;
* ``AUTH_FAILED``, ``RESTART``, ``HALT``, ``EXIT`` -> :class:`Fatal`: the error that ends
  the session (AUTH_FAILED naming a cipher failure is a ``CipherNegotiationFailed``);
* anything else -> :class:`Unknown`, ignored and counted.

The auth-token of a push (§5.2, §5.6) is taken out here too: :func:`auth_token_of`.
"""

from __future__ import annotations

import base64

import attrs

from vpnstack.core.tlssession.hints import auth_failed_message, server_ncp_failed_message
from vpnstack.core.tlssession.push import (
    ControlKind,
    ControlText,
    PushedOptions,
    parse_auth_failed_temp,
    restart_flags,
)
from vpnstack.errors import AuthFailed, CipherNegotiationFailed, ServerHalted, VPNError
from vpnstack.messages import AuthToken


@attrs.frozen
class PushPart:
    """One ``PUSH_REPLY`` part."""

    argument: str = attrs.field(repr=False)
    """The options after ``PUSH_REPLY,`` (may hold an auth-token: never shown)."""


@attrs.frozen
class Pending:
    """``AUTH_PENDING``: the server has not decided yet."""

    timeout: float | None
    """The ``timeout N`` the server announced, or None."""


@attrs.frozen
class Report:
    """``INFO`` / ``INFO_PRE``: text for the user."""

    detail: str
    """What to show, e.g. ``server: hello``."""


@attrs.frozen
class Fatal:
    """A text that ends the session."""

    error: VPNError
    """The error to raise."""


@attrs.frozen
class Unknown:
    """A text vpnstack does not know: ignored and counted (``unknown-control-message``)."""


Reaction = PushPart | Pending | Report | Fatal | Unknown
"""What one control text means for the session."""


def react(text: ControlText, *, ciphers: tuple[str, ...]) -> Reaction:
    """What ``text`` does (§5.5); ``ciphers`` are ours, for the cipher-failure message."""
    kind, argument = text.kind, text.argument
    if kind is ControlKind.PUSH_REPLY:
        return PushPart(argument)
    if kind is ControlKind.AUTH_FAILED:
        return Fatal(auth_failed_error(argument, ciphers))
    if kind is ControlKind.AUTH_PENDING:
        return Pending(auth_pending_timeout(argument))
    if kind in (ControlKind.INFO, ControlKind.INFO_PRE):
        return Report(f"server: {argument}")
    if kind is ControlKind.RESTART:
        return Fatal(
            ServerHalted(
                f"the server asked us to reconnect (RESTART{_suffix(argument)})",
                reconnect=True,
                next_remote="N" in restart_flags(argument),
            )
        )
    if kind is ControlKind.HALT:
        return Fatal(
            ServerHalted(
                f"the server ended the session and asked us not to reconnect "
                f"(HALT{_suffix(argument)})",
                reconnect=False,
            )
        )
    if kind is ControlKind.EXIT:
        return Fatal(
            ServerHalted("the server is going away (EXIT); reconnect later", reconnect=True)
        )
    return Unknown()


def auth_failed_error(reason: str, ciphers: tuple[str, ...]) -> VPNError:
    """``AUTH_FAILED,reason``: ``AuthFailed`` (temporary or not), or a cipher failure."""
    if "cipher negotiation failed" in reason.lower() or "no shared cipher" in reason:
        # A 2.6 server reports a failed NCP as AUTH_FAILED (seen on the wire).
        return CipherNegotiationFailed(server_ncp_failed_message(reason, ciphers))
    temp = parse_auth_failed_temp(reason)
    return AuthFailed(
        auth_failed_message(reason),
        reason=reason,
        temporary=temp is not None,
        backoff=temp.backoff if temp is not None else None,
        advance=temp.advance if temp is not None else None,
    )


def auth_pending_timeout(argument: str) -> float | None:
    """``AUTH_PENDING,timeout N`` -> N (§5.5)."""
    for item in argument.split(","):
        tokens = item.split()
        if len(tokens) == 2 and tokens[0] == "timeout" and tokens[1].isdigit():
            return float(tokens[1])
    return None


def auth_pending_deadline(
    *, deadline: float, started_at: float, timeout: float | None, limit: float
) -> float:
    """The key's new hand-window deadline after AUTH_PENDING (§5.5): ``started_at`` plus
    the announced timeout, capped at ``limit``; never earlier than ``deadline``."""
    if timeout is None:
        return deadline
    return max(deadline, started_at + min(timeout, limit))


def decode_token_user(encoded: str | None) -> str | None:
    """``auth-token-user`` is base64 (§5.2); an undecodable one is ignored."""
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def auth_token_of(options: PushedOptions) -> AuthToken | None:
    """The pushed auth-token, for the client lifecycle to reuse on reconnects (§5.6)."""
    if options.auth_token is None:
        return None
    return AuthToken(options.auth_token, decode_token_user(options.auth_token_user))


def _suffix(argument: str) -> str:
    return f": {argument}" if argument else ""
