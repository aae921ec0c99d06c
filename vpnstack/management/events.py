"""The records that cross the management core's boundary: events in, outputs out.

How this works: the VPN client tells the management core what happens to it by handing it
*events* (``StateEvent``, ``LogEvent``, ``NeedPassword``, ...). The core answers every call
with a list of *outputs*: ``ToClient`` / ``CloseClient`` are for the trio service (bytes for,
or the end of, one management connection), every other output is a *request* the VPN client
must act on (``ReleaseHold``, ``Signal``, ``Credentials``, ...). All of them are frozen attrs
records; the ones that carry a secret have a ``repr`` that hides it.
"""

from __future__ import annotations

import enum

import attrs

# --- events: VPN client -> management core -------------------------------------------------


class State(enum.Enum):
    """OpenVPN's state names, as ``>STATE:`` and ``state`` print them (manage.c man_state_name)."""

    CONNECTING = "CONNECTING"
    WAIT = "WAIT"
    AUTH = "AUTH"
    GET_CONFIG = "GET_CONFIG"
    ASSIGN_IP = "ASSIGN_IP"
    ADD_ROUTES = "ADD_ROUTES"
    CONNECTED = "CONNECTED"
    RECONNECTING = "RECONNECTING"
    EXITING = "EXITING"
    RESOLVE = "RESOLVE"
    TCP_CONNECT = "TCP_CONNECT"
    AUTH_PENDING = "AUTH_PENDING"


@attrs.frozen
class StateEvent:
    """The client reached a state (``management_set_state``); kept in the state history."""

    state: State
    """The new state."""
    detail: str = ""
    """Field (c): e.g. ``SUCCESS`` on CONNECTED, the signal name on RECONNECTING/EXITING."""
    local_ip: str = ""
    """Field (d): our tunnel IPv4 address (ASSIGN_IP, CONNECTED), else empty."""
    remote_ip: str = ""
    """Field (e): the server's address (CONNECTED), else empty."""
    remote_port: int | None = None
    """Field (f): the server's port (CONNECTED); only printed with ``remote_ip``."""
    local_addr: str = ""
    """Field (g): our socket's local address (CONNECTED), else empty."""
    local_port: int | None = None
    """Field (h): our socket's local port (CONNECTED); only printed with ``local_addr``."""
    local_ipv6: str = ""
    """Field (i): our tunnel IPv6 address; the field is left out entirely when empty."""


class LogFlag(enum.Enum):
    """The message-flag letters of ``>LOG:`` (management-notes.txt, COMMAND -- log)."""

    INFO = "I"
    FATAL = "F"
    NONFATAL = "N"
    WARNING = "W"
    DEBUG = "D"


@attrs.frozen
class LogEvent:
    """One log line of the client; kept in the log cache. Must never hold a secret."""

    text: str
    """The message, one line, as the client's own log prints it."""
    flags: tuple[LogFlag, ...] = (LogFlag.INFO,)
    """Message flags; printed in the order given (stock prints ``F N W D``)."""


@attrs.frozen
class Fatal:
    """The client is about to exit with a fatal error: ``>FATAL:text`` and a log line (F)."""

    text: str
    """Why, for people."""


@attrs.frozen
class InfoMsg:
    """Authentication info from the server (``INFO_PRE``/``INFO``): ``>INFOMSG:text``."""

    text: str
    """E.g. ``CR_TEXT:R,E:Enter your OTP`` or ``WEB_AUTH::https://...``, as received."""


@attrs.frozen
class Echo:
    """A pushed or configured ``echo`` parameter; kept in the echo history (100 entries)."""

    text: str
    """The parameter text, e.g. ``forget-passwords``."""


@attrs.frozen
class Traffic:
    """The client's counters so far (feed freshly before timers and commands)."""

    link_read_bytes: int
    """Bytes received from the server (``>BYTECOUNT`` in, ``TCP/UDP read bytes``)."""
    link_write_bytes: int
    """Bytes sent to the server (``>BYTECOUNT`` out, ``TCP/UDP write bytes``)."""
    tun_read_bytes: int = 0
    """Bytes read from the TUN device (``TUN/TAP read bytes``)."""
    tun_write_bytes: int = 0
    """Bytes written to the TUN device (``TUN/TAP write bytes``)."""
    auth_read_bytes: int = 0
    """Authenticated data-channel bytes received (``Auth read bytes``)."""


class Need(enum.Enum):
    """What a ``NeedPassword`` query asks for (the end of the ``>PASSWORD:Need`` line)."""

    USERNAME_PASSWORD = "username/password"
    PASSWORD = "password"
    USERNAME = "username"


@attrs.frozen
class NeedPassword:
    """The client needs credentials from the interface (``--management-query-passwords``).

    The core answers, once a management client supplied them, with one ``Credentials``.
    """

    kind: str = "Auth"
    """The credential type in quotes: ``Auth`` (auth-user-pass), ``Private Key``, ..."""
    need: Need = Need.USERNAME_PASSWORD
    """Which parts are needed."""
    static_challenge: str | None = None
    """``--static-challenge`` text, announced as ``SC:<flag>,<text>``; None for none."""
    challenge_echo: bool = False
    """Static challenge: echo the response (flag bit 0)."""
    challenge_concat: bool = False
    """Static challenge: concatenate response to the password (flag bit 1)."""


@attrs.frozen
class AuthFailed:
    """Credentials were rejected: ``>PASSWORD:Verification Failed: 'kind'`` [``['reason']``]."""

    kind: str = "Auth"
    """The credential type that failed."""
    reason: str | None = None
    """The server's client-reason-text (e.g. a ``CRV1:...`` challenge), or None."""


@attrs.frozen(repr=False)
class AuthTokenEvent:
    """The server pushed an auth-token: ``>PASSWORD:Auth-Token:token``. Never logged."""

    token: str
    """The token itself (goes to management clients only, never to the log cache)."""

    def __repr__(self) -> str:
        return "AuthTokenEvent(<hidden>)"


@attrs.frozen
class HoldWaiting:
    """The client is about to start (or restart) a session and asks whether to hold.

    The core always answers with ``ReleaseHold``: at once when the hold flag is off, else when
    a management client says ``hold release``.
    """

    seconds: int = 0
    """How long the client would wait anyway (connect-retry backoff), for the notification."""


@attrs.frozen
class UpDown:
    """The tunnel went up or down (``--management-up-down``): ``>UPDOWN:UP`` plus its env."""

    direction: str
    """``UP`` or ``DOWN``."""
    env: tuple[tuple[str, str], ...] = ()
    """The environment an up/down script would get, as (name, value) pairs."""


Event = (
    StateEvent
    | LogEvent
    | Fatal
    | InfoMsg
    | Echo
    | Traffic
    | NeedPassword
    | AuthFailed
    | AuthTokenEvent
    | HoldWaiting
    | UpDown
)
"""Everything the VPN client may feed to ``ManagementCore.handle_event``."""


# --- outputs for the service ---------------------------------------------------------------


@attrs.frozen
class ToClient:
    """Bytes for management connection ``client`` (lines end in CRLF, like stock)."""

    client: int
    """The connection's id (given by the service to ``connect``)."""
    data: bytes
    """What to write, in order after everything sent to that client before."""


@attrs.frozen
class CloseClient:
    """Close management connection ``client`` (``exit``, ``quit``, 3 bad passwords, abuse)."""

    client: int
    """The connection's id."""
    reason: str
    """Why, for the log."""
    flush: bool = True
    """Write what is already queued first (``exit``); False drops it (an abusive client)."""


# --- requests: management core -> VPN client ------------------------------------------------


@attrs.frozen
class ReleaseHold:
    """Go on: start the session the last ``HoldWaiting`` was about."""


@attrs.frozen
class Signal:
    """Act as if this signal had been received (``signal``, ``--management-signal``)."""

    name: str
    """``SIGHUP``, ``SIGTERM``, ``SIGUSR1``, ``SIGUSR2`` or ``SIGINT`` (after --remap-usr1)."""
    reason: str = "management"
    """Who sent it: ``management`` or ``management-disconnect``."""


@attrs.frozen(repr=False)
class Credentials:
    """The answer to a ``NeedPassword``. ``repr`` hides the password."""

    kind: str
    """The credential type asked for (``Auth``, ``Private Key``, ...)."""
    username: str | None
    """The user name, or None when only a password was asked for."""
    password: str | None
    """The password (may be empty), or None when only a user name was asked for."""

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind!r}, username={self.username!r}, password=<hidden>)"


@attrs.frozen
class ForgetPasswords:
    """Drop cached passwords and any auth-token (``forget-passwords``, forget-disconnect)."""


@attrs.frozen
class SetAuthRetry:
    """Change ``--auth-retry`` to ``none``, ``interact`` or ``nointeract``."""

    mode: str
    """The new mode."""


@attrs.frozen
class SetVerb:
    """Change ``--verb`` (0..15)."""

    level: int
    """The new verbosity."""


@attrs.frozen
class SetMute:
    """Change ``--mute`` (>= 0)."""

    level: int
    """The new mute cutoff."""


@attrs.frozen
class CrResponse:
    """Send ``CR_RESPONSE,<text>`` to the server on the control channel (``cr-response``)."""

    text: str
    """The base64 response, passed on unchecked like stock does."""


Request = (
    ReleaseHold
    | Signal
    | Credentials
    | ForgetPasswords
    | SetAuthRetry
    | SetVerb
    | SetMute
    | CrResponse
)
"""Everything the VPN client must act on."""

Output = ToClient | CloseClient | Request
"""Everything the core can return."""
