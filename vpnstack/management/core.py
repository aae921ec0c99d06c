"""The management interface's protocol logic, sans I/O (management-notes.txt, manage.c).

How this works: ``ManagementCore`` holds everything the interface knows — the state, log and
echo histories, the hold flag, a pending credentials query, the current verb/mute/auth-retry —
and, per connected management client, what that client asked for: real-time state, log and
echo notifications, a bytecount interval, its announced version, whether it gave the
management password. It is driven by plain calls, each with the wall-clock time ``now``
(unix seconds; it is printed in ``>STATE:`` and ``>LOG:``):

* ``connect(k, now)`` / ``receive(k, data, now)`` / ``disconnect(k, now)`` for management
  connection ``k`` (the service numbers them);
* ``handle_event(event, now)`` for what happens to the VPN client (``events.Event``);
* ``next_timer()`` / ``on_timer(now)`` for the ``bytecount`` notifications.

Each returns a list of outputs (``events.Output``): bytes for a connection, a connection to
close, or a request for the VPN client. Replies are stock's lines, byte for byte, ending in
CRLF. Notifications that are not opted into (``>HOLD``, ``>PASSWORD``, ``>FATAL``,
``>INFOMSG``, ``>UPDOWN``) go to every client that has passed the password; the others
(``>STATE``, ``>LOG``, ``>ECHO``, ``>BYTECOUNT``) to the clients that turned them on.

Where stock serves one management client at a time, this core serves several; the hold,
the credentials query and the histories are shared, the notification switches are not.
Secrets: passwords and the auth-token never reach the log cache, and the core never logs.
"""

from __future__ import annotations

import hmac
import os
import time
from collections import deque
from collections.abc import Callable, Iterable

import attrs

from vpnstack.management import events as ev
from vpnstack.management.parse import CommandSyntaxError, LineReader, LineTooLong, split_command
from vpnstack.management.settings import AUTH_RETRY_MODES, ManagementSettings

_Send = Callable[..., None]
"""Sends reply lines to the client whose command is running."""

MANAGEMENT_VERSION = 5
"""The interface version we announce (stock 2.6: 5; 6 adds multi-line base64 passwords)."""

MAX_PASSWORD_TRIES = 3
"""Bad management passwords before the connection is closed (MANAGEMENT_N_PASSWORD_RETRIES)."""

MAX_VERB = 15
"""Highest ``verb`` level (M_DEBUG_LEVEL)."""

_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
"""The names ``signal`` accepts (sig.c signames, upper case)."""

_MCV_PKSIGN_ALG = 3
"""Client versions above this get a reply to ``version N`` (manage.c set_client_version)."""

_MCV_USERNAME_ONLY = 4
"""Client versions from this on may be asked for a username alone."""

_HELP = (
    "Commands:",
    "auth-retry t           : Auth failure retry mode (none,interact,nointeract).",
    "bytecount n            : Show bytes in/out, update every n secs (0=off).",
    "cr-response response   : Send a challenge response answer via CR_RESPONSE to server",
    "echo [on|off] [N|all]  : Like log, but only show messages in echo buffer.",
    "exit|quit              : Close management session.",
    "forget-passwords       : Forget passwords entered so far.",
    "help                   : Print this message.",
    "hold [on|off|release]  : Set/show hold flag to on/off state, or",
    "                         release current hold and start tunnel.",
    "log [on|off] [N|all]   : Turn on/off realtime log display",
    "                         + show last N lines or 'all' for entire history.",
    "mute [n]               : Set log mute level to n, or show level if n is absent.",
    "password type p        : Enter password p for a queried OpenVPN password.",
    "pid                    : Show process ID of the current OpenVPN process.",
    "signal s               : Send signal s to daemon,",
    "                         s = SIGHUP|SIGTERM|SIGUSR1|SIGUSR2.",
    "state [on|off] [N|all] : Like log, but show state history.",
    "status [n]             : Show current daemon status info using format #n.",
    "username type u        : Enter username u for a queried OpenVPN username.",
    "verb [n]               : Set log verbosity level to n, or show if n is absent.",
    "version [n]            : Set client's version to n or show current version of daemon.",
    "END",
)

# Stock commands of server mode or of features we do not have, and stock's answer to each in
# a client without them (manage.c man_command_unsupported and friends).
_NOT_AVAILABLE = {
    "kill": "ERROR: The 'kill' command is not supported by the current daemon mode",
    "client-kill": "ERROR: The 'client-kill' command is not supported by the current daemon mode",
    "client-deny": "ERROR: The 'client-deny' command is not supported by the current daemon mode",
    "client-auth": "ERROR: The 'client-auth' command is not supported by the current daemon mode",
    "client-auth-nt": (  # sic: stock names both client-auth commands the same
        "ERROR: The 'client-auth' command is not supported by the current daemon mode"
    ),
    "client-pending-auth": (
        "ERROR: The 'client-pending-auth' command is not supported by the current daemon mode"
    ),
    "nclients": "ERROR: The 'nclients' command is not supported by the current daemon mode",
    "net": "ERROR: Sorry, this command is currently only implemented on Windows",
    "remote": "ERROR: The 'remote' command is not supported by the current daemon mode",
    "proxy": "ERROR: The 'proxy' command is not supported by the current daemon mode",
    "remote-entry-count": (
        "ERROR: The 'remote-entry-count' command is not supported by the current daemon mode"
    ),
    "remote-entry-get": (
        "ERROR: The 'remote-entry-get' command is not supported by the current daemon mode"
    ),
    "rsa-sig": "ERROR: The rsa-sig command is not currently available",
    "pk-sig": "ERROR: The pk-sig command is not currently available",
    "certificate": "ERROR: The certificate command is not currently available",
}


def atoi(text: str) -> int:
    """C ``atoi``: optional sign and leading digits, else 0 (``bytecount abc`` is 0)."""
    text = text.lstrip()
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    digits = ""
    for char in text:
        if not char.isdigit() or not char.isascii():
            break
        digits += char
    return sign * int(digits) if digits else 0


def state_line(when: float, e: ev.StateEvent) -> str:
    """A state history entry as stock prints it, without the ``>STATE:`` prefix.

    ``time,NAME,detail,local_ip,remote_ip,remote_port,local_addr,local_port[,local_ipv6]``
    (manage.c log_entry_print with LOG_PRINT_STATE | LOG_PRINT_LOCAL_IP | LOG_PRINT_REMOTE_IP):
    an undefined remote or local socket prints as two empty fields, and the IPv6 address is
    appended only when there is one.
    """
    remote = f"{e.remote_ip},{e.remote_port or 0}" if e.remote_ip else ","
    local = f"{e.local_addr},{e.local_port or 0}" if e.local_addr else ","
    line = f"{int(when)},{e.state.value},{e.detail},{e.local_ip},{remote},{local}"
    if e.local_ipv6:
        line += f",{e.local_ipv6}"
    return line


@attrs.frozen
class _StateEntry:
    time: float
    event: ev.StateEvent


@attrs.frozen
class _LogEntry:
    time: float
    flags: str
    text: str


@attrs.frozen
class _EchoEntry:
    time: float
    text: str


def log_flags(flags: Iterable[ev.LogFlag]) -> str:
    """The flags field of ``>LOG:`` (``I``, ``F``, ``N``, ``W``, ``D``, concatenated)."""
    return "".join(flag.value for flag in flags)


@attrs.define
class _Connection:
    """What one management client asked for."""

    reader: LineReader
    verified: bool
    password_tries: int = 0
    version: int = 1
    state_realtime: bool = False
    log_realtime: bool = False
    echo_realtime: bool = False
    bytecount_interval: int = 0
    bytecount_due: float | None = None


@attrs.define
class _Query:
    """A pending credentials query (``NeedPassword``) and what has been entered so far."""

    request: ev.NeedPassword
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)


class ManagementCore:
    """The management interface's state machine; see the module docstring."""

    def __init__(
        self,
        settings: ManagementSettings,
        *,
        password: str | None = None,
        title: str = "vpnstack",
        pid: int | None = None,
    ) -> None:
        self._settings = settings
        self._password = password
        self._title = title
        self._pid = os.getpid() if pid is None else pid
        self._connections: dict[int, _Connection] = {}
        self._state_history: deque[_StateEntry] = deque(maxlen=max(1, settings.state_cache))
        self._log_history: deque[_LogEntry] = deque(maxlen=max(1, settings.log_cache))
        self._echo_history: deque[_EchoEntry] = deque(maxlen=max(1, settings.echo_cache))
        self._hold_flag = settings.hold
        self._hold_released = False
        self._holding: ev.HoldWaiting | None = None
        self._query: _Query | None = None
        self._traffic = ev.Traffic(0, 0)
        self._verb = settings.verb
        self._mute = settings.mute
        self._auth_retry = settings.auth_retry

    # --- connections ----------------------------------------------------------------------

    @property
    def hold_flag(self) -> bool:
        """The hold flag (``--management-hold``, ``hold on|off``)."""
        return self._hold_flag

    @property
    def holding(self) -> bool:
        """Whether the client is waiting for ``hold release`` now."""
        return self._holding is not None

    def clients(self) -> list[int]:
        """The ids of the connected management clients."""
        return list(self._connections)

    def connect(self, client: int, now: float) -> list[ev.Output]:
        """A management client connected: greet it, or ask for the password."""
        assert client not in self._connections, f"management client {client} already connected"
        conn = _Connection(
            reader=LineReader(self._settings.max_line), verified=self._password is None
        )
        self._connections[client] = conn
        if not conn.verified:
            return [ev.ToClient(client, b"ENTER PASSWORD:")]
        return self._welcome(client)

    def disconnect(self, client: int, now: float, *, exiting: bool = False) -> list[ev.Output]:
        """Management client ``client`` is gone (or was closed); ``exiting``: we are."""
        conn = self._connections.pop(client, None)
        if conn is None or exiting or not conn.verified:
            return []
        out: list[ev.Output] = []
        if self._settings.forget_disconnect:
            out.append(ev.ForgetPasswords())
        if self._settings.signal_on_disconnect:
            name = self._mod_signal("SIGUSR1")
            if name is not None:
                out.append(ev.Signal(name, reason="management-disconnect"))
        return out

    def receive(self, client: int, data: bytes, now: float) -> list[ev.Output]:
        """Bytes from management client ``client``: run each complete command line."""
        conn = self._connections.get(client)
        if conn is None:
            return []
        try:
            lines = conn.reader.feed(data)
        except LineTooLong:
            return [ev.CloseClient(client, "line too long", flush=False)]
        out: list[ev.Output] = []
        processed = False
        for line in lines:
            processed = True
            closing = self._line(client, conn, line, now, out)
            if closing is not None:
                out.append(ev.CloseClient(client, closing))
                return out
        if processed and not conn.verified:
            out.append(ev.ToClient(client, b"ENTER PASSWORD:"))
        return out

    # --- events from the VPN client -------------------------------------------------------

    def handle_event(self, event: ev.Event, now: float) -> list[ev.Output]:
        """Something happened to the VPN client; see ``events.Event``."""
        out: list[ev.Output] = []
        if isinstance(event, ev.StateEvent):
            entry = _StateEntry(now, event)
            self._state_history.append(entry)
            line = f">STATE:{state_line(now, event)}"
            self._notify(out, line, lambda c: c.state_realtime)
        elif isinstance(event, ev.LogEvent):
            self._log(out, now, log_flags(event.flags), event.text)
        elif isinstance(event, ev.Fatal):
            self._log(out, now, log_flags((ev.LogFlag.FATAL,)), event.text)
            self._notify(out, f">FATAL:{event.text}")
        elif isinstance(event, ev.InfoMsg):
            self._notify(out, f">INFOMSG:{event.text}")
        elif isinstance(event, ev.Echo):
            entry_e = _EchoEntry(now, event.text)
            self._echo_history.append(entry_e)
            self._notify(out, f">ECHO:{int(now)},{event.text}", lambda c: c.echo_realtime)
        elif isinstance(event, ev.Traffic):
            self._traffic = event
        elif isinstance(event, ev.NeedPassword):
            self._query = _Query(event)
            for client, conn in self._connections.items():
                if conn.verified:
                    self._send(out, client, self._query_line(conn))
        elif isinstance(event, ev.AuthFailed):
            line = f">PASSWORD:Verification Failed: '{event.kind}'"
            if event.reason is not None:
                line += f" ['{event.reason}']"
            self._notify(out, line)
        elif isinstance(event, ev.AuthTokenEvent):
            self._notify(out, f">PASSWORD:Auth-Token:{event.token}")
        elif isinstance(event, ev.HoldWaiting):
            if self._hold_flag and not self._hold_released:
                self._holding = event
                self._notify(out, self._hold_line(event))
            else:
                self._hold_released = False
                out.append(ev.ReleaseHold())
        elif isinstance(event, ev.UpDown):
            if self._settings.up_down:
                self._notify(out, f">UPDOWN:{event.direction}")
                for name, value in event.env:
                    self._notify(out, f">UPDOWN:ENV,{name}={value}")
                self._notify(out, ">UPDOWN:ENV,END")
        else:  # pragma: no cover - exhaustive
            raise AssertionError(f"unknown management event {event!r}")
        return out

    # --- timers -----------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        """When ``on_timer`` has something to do (a bytecount is due), or None."""
        due = [c.bytecount_due for c in self._connections.values() if c.bytecount_due]
        return min(due) if due else None

    def on_timer(self, now: float) -> list[ev.Output]:
        """Send the ``>BYTECOUNT:in,out`` notifications that are due."""
        out: list[ev.Output] = []
        line = (
            f">BYTECOUNT:{self._traffic.link_read_bytes},{self._traffic.link_write_bytes}"
        ).encode() + b"\r\n"
        for client, conn in self._connections.items():
            if conn.bytecount_due is not None and conn.bytecount_due <= now:
                while conn.bytecount_due <= now:
                    conn.bytecount_due += conn.bytecount_interval
                if conn.verified:
                    out.append(ev.ToClient(client, line))
        return out

    # --- internals: output ------------------------------------------------------------------

    @staticmethod
    def _send(out: list[ev.Output], client: int, *lines: str) -> None:
        data = "".join(f"{line}\r\n" for line in lines).encode()
        if out and isinstance(out[-1], ev.ToClient) and out[-1].client == client:
            out[-1] = ev.ToClient(client, out[-1].data + data)
        else:
            out.append(ev.ToClient(client, data))

    def _notify(
        self,
        out: list[ev.Output],
        line: str,
        wants: Callable[[_Connection], bool] | None = None,
    ) -> None:
        for client, conn in self._connections.items():
            if not conn.verified:
                continue
            if wants is not None and not wants(conn):
                continue
            self._send(out, client, line)

    def _log(self, out: list[ev.Output], now: float, flags: str, text: str) -> None:
        entry = _LogEntry(now, flags, text)
        self._log_history.append(entry)
        self._notify(out, f">LOG:{int(now)},{flags},{text}", lambda c: c.log_realtime)

    def _welcome(self, client: int) -> list[ev.Output]:
        out: list[ev.Output] = []
        lines = [
            f">INFO:OpenVPN Management Interface Version {MANAGEMENT_VERSION} "
            "-- type 'help' for more info"
        ]
        special = self._special_state(self._connections[client])
        if special is not None:
            lines.append(special)
        self._send(out, client, *lines)
        return out

    def _special_state(self, conn: _Connection) -> str | None:
        """The hold or query line a newly (or re-)greeted client must see (special_state_msg)."""
        if self._holding is not None:
            return self._hold_line(self._holding)
        if self._query is not None:
            return self._query_line(conn)
        return None

    @staticmethod
    def _hold_line(event: ev.HoldWaiting) -> str:
        return f">HOLD:Waiting for hold release:{event.seconds}"

    def _query_line(self, conn: _Connection) -> str:
        assert self._query is not None
        request = self._query.request
        need = request.need
        if need is ev.Need.USERNAME and conn.version < _MCV_USERNAME_ONLY:
            need = ev.Need.USERNAME_PASSWORD
        line = f">PASSWORD:Need '{request.kind}' {need.value}"
        if request.static_challenge is not None and need is ev.Need.USERNAME_PASSWORD:
            flag = int(request.challenge_echo) | (int(request.challenge_concat) << 1)
            line += f" SC:{flag},{request.static_challenge}"
        return line

    # --- internals: commands ----------------------------------------------------------------

    def _line(
        self, client: int, conn: _Connection, line: str, now: float, out: list[ev.Output]
    ) -> str | None:
        """Run one line; return a reason when the connection must be closed."""
        if not conn.verified:
            assert self._password is not None
            if hmac.compare_digest(line.encode(), self._password.encode()):
                conn.verified = True
                self._send(out, client, "SUCCESS: password is correct")
                out.extend(self._welcome(client))
                return None
            conn.password_tries += 1
            # Stock composes "ERROR: bad password" (manage.c 242) but its output path drops
            # everything while the password is still needed, so a client only ever sees the
            # next "ENTER PASSWORD:" (checked against OpenVPN 2.6.14). We send what it sends.
            if conn.password_tries >= MAX_PASSWORD_TRIES:
                return f"{MAX_PASSWORD_TRIES} failed password attempts"
            return None
        try:
            params = split_command(line)
        except CommandSyntaxError as exc:
            self._send(out, client, str(exc))
            return None
        if not params:
            return None
        return self._dispatch(client, conn, params, now, out)

    def _need(
        self, client: int, p: list[str], n: int, out: list[ev.Output], at_least: bool = False
    ) -> bool:
        if len(p) > n:
            return True
        plural = "s" if n > 1 else ""
        least = "at least " if at_least else ""
        self._send(
            out, client, f"ERROR: the '{p[0]}' command requires {least}{n} parameter{plural}"
        )
        return False

    def _dispatch(
        self, client: int, conn: _Connection, p: list[str], now: float, out: list[ev.Output]
    ) -> str | None:
        cmd = p[0]
        arg = p[1] if len(p) > 1 else None

        def send(*lines: str) -> None:
            self._send(out, client, *lines)

        if cmd in ("exit", "quit"):
            return cmd
        if cmd == "help":
            send(f"Management Interface for {self._title}", *_HELP)
        elif cmd == "version" and arg is not None:
            conn.version = atoi(arg)
            if conn.version > _MCV_PKSIGN_ALG:
                send(f"SUCCESS: Management client version set to {conn.version}")
        elif cmd == "version":
            send(f"OpenVPN Version: {self._title}", f"Management Version: {MANAGEMENT_VERSION}")
            send("END")
        elif cmd == "pid":
            send(f"SUCCESS: pid={self._pid}")
        elif cmd == "signal":
            if self._need(client, p, 1, out):
                self._signal(p[1], out, client)
        elif cmd == "status":
            self._status(now, send)
        elif cmd == "verb":
            if arg is None:
                send(f"SUCCESS: verb={self._verb}")
            elif 0 <= atoi(arg) <= MAX_VERB:
                self._verb = atoi(arg)
                out.append(ev.SetVerb(self._verb))
                send("SUCCESS: verb level changed")
            else:
                send("ERROR: verb level is out of range")
        elif cmd == "mute":
            if arg is None:
                send(f"SUCCESS: mute={self._mute}")
            elif atoi(arg) >= 0:
                self._mute = atoi(arg)
                out.append(ev.SetMute(self._mute))
                send("SUCCESS: mute level changed")
            else:
                send("ERROR: mute level is out of range")
        elif cmd == "auth-retry":
            if arg is None:
                send(f"SUCCESS: auth-retry={self._auth_retry}")
            elif arg in AUTH_RETRY_MODES:
                self._auth_retry = arg
                out.append(ev.SetAuthRetry(arg))
                send("SUCCESS: auth-retry parameter changed")
            else:
                send(
                    "--auth-retry method must be 'interact', 'nointeract', or 'none'",
                    "ERROR: bad auth-retry parameter",
                )
        elif cmd == "state":
            if arg is None:
                self._history(conn, "state", "1", send)
            else:
                for parm in p[1:3]:
                    self._history(conn, "state", parm, send)
        elif cmd in ("log", "echo"):
            if self._need(client, p, 1, out, at_least=True):
                for parm in p[1:3]:
                    self._history(conn, cmd, parm, send)
        elif cmd == "username":
            if self._need(client, p, 2, out):
                self._enter(out, client, "username", p[1], p[2])
        elif cmd == "password":
            if self._need(client, p, 1, out, at_least=True):
                if len(p) > 2:
                    self._enter(out, client, "password", p[1], p[2])
                else:
                    send("ERROR: the 'password' command requires 2 parameters")
        elif cmd == "forget-passwords":
            out.append(ev.ForgetPasswords())
            send("SUCCESS: Passwords were forgotten")
        elif cmd in ("needok", "needstr"):
            if self._need(client, p, 2, out):
                what = "needok-confirmation" if cmd == "needok" else "needstr-string"
                send(f"ERROR: no {what} is currently needed at this time")
        elif cmd == "cr-response":
            if self._need(client, p, 1, out):
                out.append(ev.CrResponse(p[1]))
                send("SUCCESS: command succeeded")
        elif cmd == "hold":
            self._hold(arg, out, send)
        elif cmd == "bytecount":
            if self._need(client, p, 1, out):
                seconds = atoi(p[1])
                conn.bytecount_interval = max(0, seconds)
                conn.bytecount_due = now + seconds if seconds > 0 else None
                send("SUCCESS: bytecount interval changed")
        elif cmd == "load-stats":  # manage.c man_load_stats: the process's byte totals
            t = self._traffic
            send(f"SUCCESS: nclients=0,bytesin={t.link_read_bytes},bytesout={t.link_write_bytes}")
        elif cmd == "env-filter":
            send(f"SUCCESS: env_filter_level={atoi(arg) if arg is not None else 0}")
        elif cmd in _NOT_AVAILABLE:
            send(_NOT_AVAILABLE[cmd])
        else:
            # 2.6's wording; 2.7 repeats the command in brackets, which would echo a password
            # typed at the wrong moment back to the screen.
            send("ERROR: unknown command, enter 'help' for more options")
        return None

    def _mod_signal(self, name: str) -> str | None:
        """--remap-usr1, and the SIGUSR1/SIGHUP that a hold ignores (manage.c man_mod_signal)."""
        if name == "SIGUSR1" and self._settings.remap_usr1 in ("SIGHUP", "SIGTERM"):
            name = self._settings.remap_usr1
        if self._holding is not None and name in ("SIGHUP", "SIGUSR1"):
            return None
        return name

    def _signal(self, name: str, out: list[ev.Output], client: int) -> None:
        if name not in _SIGNALS:
            self._send(out, client, f"ERROR: signal '{name}' is not a known signal type")
            return
        mapped = self._mod_signal(name)
        if mapped is None:
            self._send(out, client, f"ERROR: signal '{name}' is currently ignored")
            special = self._special_state(self._connections[client])
            if special is not None:
                self._send(out, client, special)
            return
        out.append(ev.Signal(mapped))
        self._send(out, client, f"SUCCESS: signal {mapped} thrown")

    def _hold(self, arg: str | None, out: list[ev.Output], send: _Send) -> None:
        if arg is None:
            send(f"SUCCESS: hold={int(self._hold_flag)}")
        elif arg == "on":
            self._hold_flag = True
            send("SUCCESS: hold flag set to ON")
        elif arg == "off":
            self._hold_flag = False
            send("SUCCESS: hold flag set to OFF")
        elif arg == "release":
            if self._holding is not None:
                self._holding = None
                out.append(ev.ReleaseHold())
            else:
                self._hold_released = True
            send("SUCCESS: hold release succeeded")
        else:
            send("ERROR: bad hold command parameter")

    def _history(self, conn: _Connection, kind: str, parm: str, send: _Send) -> None:
        """``state``/``log``/``echo`` with one parameter (manage.c man_history)."""
        if parm in ("on", "off"):
            setattr(conn, f"{kind}_realtime", parm == "on")
            send(f"SUCCESS: real-time {kind} notification set to {parm.upper()}")
            return
        n = 0 if parm == "all" else atoi(parm)
        if parm != "all" and n <= 0:
            send(f"ERROR: {kind} parameter must be 'on' or 'off' or some number n or 'all'")
            return
        lines: list[str]
        if kind == "state":
            lines = [state_line(e.time, e.event) for e in self._state_history]
        elif kind == "log":
            lines = [f"{int(e.time)},{e.flags},{e.text}" for e in self._log_history]
        else:
            lines = [f"{int(e.time)},{e.text}" for e in self._echo_history]
        if n:
            lines = lines[-n:]
        send(*lines, "END")

    def _enter(self, out: list[ev.Output], client: int, what: str, kind: str, value: str) -> None:
        """``username``/``password`` for the pending query (manage.c man_query_user_pass)."""
        query = self._query
        needs = {
            "username": (ev.Need.USERNAME_PASSWORD, ev.Need.USERNAME),
            "password": (ev.Need.USERNAME_PASSWORD, ev.Need.PASSWORD),
        }[what]
        if query is None or query.request.need not in needs:
            self._send(out, client, f"ERROR: no {what} is currently needed at this time")
            return
        if kind != query.request.kind:
            self._send(
                out,
                client,
                f"ERROR: {what} of type '{kind}' entered, but we need one of type "
                f"'{query.request.kind}'",
            )
            return
        if what == "username":
            query.username = value
        else:
            query.password = value
        self._send(out, client, f"SUCCESS: '{kind}' {what} entered, but not yet verified")
        need = query.request.need
        complete = (
            (need is ev.Need.USERNAME and bool(query.username))
            or (need is ev.Need.PASSWORD and query.password is not None)
            or (
                need is ev.Need.USERNAME_PASSWORD
                and bool(query.username)
                and query.password is not None
            )
        )
        if complete:
            self._query = None
            out.append(ev.Credentials(kind, query.username, query.password))

    def _status(self, now: float, send: _Send) -> None:
        """``status [n]``: the client status report (sig.c print_status; n is ignored)."""
        t = self._traffic
        send(
            "OpenVPN STATISTICS",
            "Updated," + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
            f"TUN/TAP read bytes,{t.tun_read_bytes}",
            f"TUN/TAP write bytes,{t.tun_write_bytes}",
            f"TCP/UDP read bytes,{t.link_read_bytes}",
            f"TCP/UDP write bytes,{t.link_write_bytes}",
            f"Auth read bytes,{t.auth_read_bytes}",
            "END",
        )
