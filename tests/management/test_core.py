"""The sans-I/O management core: literal inputs, exact bytes out.

Expected lines are stock's; "notes N" cites doc/management-notes.txt and "manage.c N"
src/openvpn/manage.c, both at OpenVPN commit 3de9260 (2026-08-22).
"""

from __future__ import annotations

import time

import attrs

from vpnstack.management import events as ev
from vpnstack.management.core import ManagementCore, atoi
from vpnstack.management.settings import ManagementSettings

T0 = 1_700_000_000.0
GREETING = b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"


class Harness:
    """One core, its clients' received bytes, and the requests it made."""

    def __init__(
        self, settings: ManagementSettings | None = None, *, password: str | None = None
    ) -> None:
        self.core = ManagementCore(settings or ManagementSettings(), pid=4242, password=password)
        self.received: dict[int, bytes] = {}
        self.requests: list[ev.Output] = []
        self.closed: list[int] = []

    def _take(self, outputs: list[ev.Output]) -> None:
        for item in outputs:
            if isinstance(item, ev.ToClient):
                self.received[item.client] = self.received.get(item.client, b"") + item.data
            elif isinstance(item, ev.CloseClient):
                self.closed.append(item.client)
            else:
                self.requests.append(item)

    def connect(self, client: int = 1, now: float = T0) -> bytes:
        self._take(self.core.connect(client, now))
        return self.read(client)

    def send(self, line: str, client: int = 1, now: float = T0) -> bytes:
        self._take(self.core.receive(client, line.encode() + b"\r\n", now))
        return self.read(client)

    def event(self, event: ev.Event, now: float = T0) -> None:
        self._take(self.core.handle_event(event, now))

    def read(self, client: int = 1) -> bytes:
        return self.received.pop(client, b"")

    def pop_requests(self) -> list[ev.Output]:
        requests, self.requests = self.requests, []
        return requests


def connected(settings: ManagementSettings | None = None) -> Harness:
    h = Harness(settings)
    assert h.connect() == GREETING
    return h


# --- greeting, simple commands --------------------------------------------------------------


def test_greeting_is_stocks() -> None:
    # manage.c 208
    assert Harness().connect() == GREETING


def test_unknown_command() -> None:
    # OpenVPN 2.6.14's reply (manage.c 1842 at 3de9260 adds "[frobnicate]"; we keep 2.6's,
    # which cannot echo a mistyped secret)
    h = connected()
    assert h.send("frobnicate now") == b"ERROR: unknown command, enter 'help' for more options\r\n"


def test_pid_and_version() -> None:
    h = connected()
    assert h.send("pid") == b"SUCCESS: pid=4242\r\n"  # manage.c 1508
    assert h.send("version") == (  # manage.c 1502-1504
        b"OpenVPN Version: vpnstack\r\nManagement Version: 5\r\nEND\r\n"
    )
    # notes 577-579: no reply below version 4, SUCCESS from 4 on (manage.c 1429)
    assert h.send("version 3") == b""
    assert h.send("version 5") == b"SUCCESS: Management client version set to 5\r\n"


def test_help_ends_with_end() -> None:
    reply = connected().send("help").decode().split("\r\n")
    assert reply[0] == "Management Interface for vpnstack"
    assert reply[-2:] == ["END", ""]
    for command in ("hold [on|off|release]", "signal s", "state [on|off] [N|all]"):
        assert any(line.startswith(command) for line in reply)


def test_missing_parameters() -> None:
    # manage.c 1362
    h = connected()
    assert h.send("signal") == b"ERROR: the 'signal' command requires 1 parameter\r\n"
    assert h.send("log") == b"ERROR: the 'log' command requires at least 1 parameter\r\n"
    assert h.send("username Auth") == b"ERROR: the 'username' command requires 2 parameters\r\n"
    assert h.send("password Auth") == b"ERROR: the 'password' command requires 2 parameters\r\n"


def test_syntax_error_reply() -> None:
    h = connected()
    assert h.send('echo "on') == b'ERROR: Options error: No closing quotation (") in TCP:0\r\n'
    assert h.send("") == b""


def test_exit_and_quit_close_the_connection() -> None:
    for word in ("exit", "quit"):
        h = connected()
        assert h.send(word) == b""
        assert h.closed == [1]


def test_server_only_commands() -> None:
    h = connected()
    assert h.send("kill foo") == (
        b"ERROR: The 'kill' command is not supported by the current daemon mode\r\n"
    )


def test_atoi_is_cs() -> None:
    assert [atoi(s) for s in ("12", "  7x", "-3", "abc", "", "+4")] == [12, 7, -3, 0, 0, 4]


# --- settings commands -> requests ----------------------------------------------------------


def test_verb_mute_auth_retry() -> None:
    h = connected(ManagementSettings(verb=3))
    assert h.send("verb") == b"SUCCESS: verb=3\r\n"  # manage.c 1578
    assert h.send("verb 5") == b"SUCCESS: verb level changed\r\n"
    assert h.send("verb 16") == b"ERROR: verb level is out of range\r\n"
    assert h.send("verb") == b"SUCCESS: verb=5\r\n"
    assert h.send("mute") == b"SUCCESS: mute=0\r\n"
    assert h.send("mute 40") == b"SUCCESS: mute level changed\r\n"
    assert h.send("mute -1") == b"ERROR: mute level is out of range\r\n"
    assert h.send("auth-retry") == b"SUCCESS: auth-retry=none\r\n"
    assert h.send("auth-retry interact") == b"SUCCESS: auth-retry parameter changed\r\n"
    assert h.send("auth-retry sometimes") == (  # options.c auth_retry_set, then manage.c 1610
        b"--auth-retry method must be 'interact', 'nointeract', or 'none'\r\n"
        b"ERROR: bad auth-retry parameter\r\n"
    )
    assert h.pop_requests() == [ev.SetVerb(5), ev.SetMute(40), ev.SetAuthRetry("interact")]


def test_signal() -> None:
    h = connected()
    assert h.send("signal SIGUSR1") == b"SUCCESS: signal SIGUSR1 thrown\r\n"  # manage.c 483
    assert h.send("signal SIGKILL") == (  # manage.c 496
        b"ERROR: signal 'SIGKILL' is not a known signal type\r\n"
    )
    assert h.send("signal sigterm") == b"ERROR: signal 'sigterm' is not a known signal type\r\n"
    assert h.pop_requests() == [ev.Signal("SIGUSR1")]


def test_remap_usr1() -> None:
    h = connected(ManagementSettings(remap_usr1="SIGHUP"))
    assert h.send("signal SIGUSR1") == b"SUCCESS: signal SIGHUP thrown\r\n"
    assert h.pop_requests() == [ev.Signal("SIGHUP")]


def test_cr_response_and_forget_passwords() -> None:
    h = connected()
    assert h.send("cr-response SGFsbG8gV2VsdCE=") == b"SUCCESS: command succeeded\r\n"
    assert h.send("forget-passwords") == b"SUCCESS: Passwords were forgotten\r\n"  # manage.c 850
    assert h.pop_requests() == [ev.CrResponse("SGFsbG8gV2VsdCE="), ev.ForgetPasswords()]


# --- state ----------------------------------------------------------------------------------


CONNECTED = ev.StateEvent(
    ev.State.CONNECTED,
    "SUCCESS",
    local_ip="10.8.0.2",
    remote_ip="198.51.100.1",
    remote_port=1194,
    local_addr="192.0.2.7",
    local_port=50123,
)


def test_state_line_layout() -> None:
    # manage.c 4078-4116: time,NAME,detail,local_ip, then remote and local sockets as
    # "addr,port" or two empty fields, then the tunnel IPv6 address only when set.
    h = connected()
    h.event(ev.StateEvent(ev.State.CONNECTING), now=T0)
    h.event(CONNECTED, now=T0 + 5)
    h.event(attrs.evolve(CONNECTED, local_ipv6="fd00::1000"), now=T0 + 6)
    assert h.send("state all") == (
        b"1700000000,CONNECTING,,,,,,\r\n"
        b"1700000005,CONNECTED,SUCCESS,10.8.0.2,198.51.100.1,1194,192.0.2.7,50123\r\n"
        b"1700000006,CONNECTED,SUCCESS,10.8.0.2,198.51.100.1,1194,192.0.2.7,50123,fd00::1000\r\n"
        b"END\r\n"
    )


def test_state_without_argument_shows_the_current_state() -> None:
    # manage.c 1622-1625: "state" is "state 1"
    h = connected()
    h.event(ev.StateEvent(ev.State.RESOLVE), now=T0)
    h.event(ev.StateEvent(ev.State.WAIT), now=T0 + 1)
    assert h.send("state") == b"1700000001,WAIT,,,,,,\r\nEND\r\n"
    assert h.send("state 2") == b"1700000000,RESOLVE,,,,,,\r\n1700000001,WAIT,,,,,,\r\nEND\r\n"


def test_state_on_all_and_realtime() -> None:
    # notes 452 "state on all"; manage.c 687 the SUCCESS line
    h = connected()
    h.event(ev.StateEvent(ev.State.AUTH), now=T0)
    assert h.send("state on all") == (
        b"SUCCESS: real-time state notification set to ON\r\n1700000000,AUTH,,,,,,\r\nEND\r\n"
    )
    h.event(ev.StateEvent(ev.State.RECONNECTING, "SIGUSR1"), now=T0 + 2)
    assert h.read() == b">STATE:1700000002,RECONNECTING,SIGUSR1,,,,,\r\n"
    assert h.send("state off") == b"SUCCESS: real-time state notification set to OFF\r\n"
    h.event(ev.StateEvent(ev.State.EXITING), now=T0 + 3)
    assert h.read() == b""


def test_state_bad_parameter() -> None:
    # manage.c 713
    assert connected().send("state sometimes") == (
        b"ERROR: state parameter must be 'on' or 'off' or some number n or 'all'\r\n"
    )


def test_state_history_is_bounded() -> None:
    h = connected(ManagementSettings(state_cache=2))
    for i, state in enumerate((ev.State.RESOLVE, ev.State.WAIT, ev.State.AUTH)):
        h.event(ev.StateEvent(state), now=T0 + i)
    assert h.send("state all") == b"1700000001,WAIT,,,,,,\r\n1700000002,AUTH,,,,,,\r\nEND\r\n"


# --- log, echo, fatal, infomsg --------------------------------------------------------------


def test_log_cache_and_realtime() -> None:
    # notes 226-247: ">LOG:" time,flags,text; "log 20" the last 20 lines
    h = connected(ManagementSettings(log_cache=3))
    for i in range(5):
        h.event(ev.LogEvent(f"line {i}"), now=T0 + i)
    assert h.send("log 2") == b"1700000003,I,line 3\r\n1700000004,I,line 4\r\nEND\r\n"
    assert h.send("log all") == (
        b"1700000002,I,line 2\r\n1700000003,I,line 3\r\n1700000004,I,line 4\r\nEND\r\n"
    )
    assert h.send("log on") == b"SUCCESS: real-time log notification set to ON\r\n"
    h.event(ev.LogEvent("careful", (ev.LogFlag.WARNING,)), now=T0 + 9)
    assert h.read() == b">LOG:1700000009,W,careful\r\n"


def test_echo_history_and_realtime() -> None:
    # notes 117 and 130
    h = connected()
    h.event(ev.Echo("forget-passwords"), now=1101519562)
    assert h.send("echo all") == b"1101519562,forget-passwords\r\nEND\r\n"
    assert h.send("echo on") == b"SUCCESS: real-time echo notification set to ON\r\n"
    h.event(ev.Echo("forget-passwords"), now=1101519562)
    assert h.read() == b">ECHO:1101519562,forget-passwords\r\n"


def test_fatal_and_infomsg_go_to_every_client() -> None:
    h = connected()
    h.event(ev.InfoMsg("CR_TEXT:R,E:Enter your OTP"))
    assert h.read() == b">INFOMSG:CR_TEXT:R,E:Enter your OTP\r\n"
    h.event(ev.Fatal("Cannot open TUN"), now=T0)
    assert h.read() == b">FATAL:Cannot open TUN\r\n"
    assert h.send("log 1") == b"1700000000,F,Cannot open TUN\r\nEND\r\n"


# --- bytecount and status -------------------------------------------------------------------


def test_bytecount_timer() -> None:
    # notes 44-56; manage.c 562, 574
    h = connected()
    assert h.core.next_timer() is None
    assert h.send("bytecount 5", now=T0) == b"SUCCESS: bytecount interval changed\r\n"
    assert h.core.next_timer() == T0 + 5
    h.event(ev.Traffic(link_read_bytes=1234, link_write_bytes=567))
    h._take(h.core.on_timer(T0 + 4.9))
    assert h.read() == b""
    h._take(h.core.on_timer(T0 + 5))
    assert h.read() == b">BYTECOUNT:1234,567\r\n"
    assert h.core.next_timer() == T0 + 10
    h.send("bytecount 0")
    assert h.core.next_timer() is None


def test_status_is_the_client_status_report() -> None:
    # sig.c print_status: the same lines as the --status file of a client
    h = connected()
    h.event(ev.Traffic(10, 20, tun_read_bytes=3, tun_write_bytes=4, auth_read_bytes=5))
    updated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(T0))
    assert h.send("status 2", now=T0) == (
        b"OpenVPN STATISTICS\r\n"
        + f"Updated,{updated}\r\n".encode()
        + b"TUN/TAP read bytes,3\r\nTUN/TAP write bytes,4\r\n"
        b"TCP/UDP read bytes,10\r\nTCP/UDP write bytes,20\r\nAuth read bytes,5\r\nEND\r\n"
    )


# --- hold -----------------------------------------------------------------------------------


def test_hold_flow() -> None:
    # notes 160-197; manage.c 977-996, 3950
    h = connected(ManagementSettings(hold=True))
    assert h.send("hold") == b"SUCCESS: hold=1\r\n"
    h.event(ev.HoldWaiting(10))
    assert h.read() == b">HOLD:Waiting for hold release:10\r\n"
    assert h.pop_requests() == []
    # SIGUSR1/SIGHUP are ignored while holding, and the hold line is repeated (manage.c 487)
    assert h.send("signal SIGUSR1") == (
        b"ERROR: signal 'SIGUSR1' is currently ignored\r\n>HOLD:Waiting for hold release:10\r\n"
    )
    # a client connecting during the hold sees it after the greeting (manage.c 210-213)
    assert h.connect(client=2) == GREETING + b">HOLD:Waiting for hold release:10\r\n"
    assert h.send("hold release") == b"SUCCESS: hold release succeeded\r\n"
    assert h.pop_requests() == [ev.ReleaseHold()]
    assert h.send("signal SIGUSR1") == b"SUCCESS: signal SIGUSR1 thrown\r\n"


def test_no_hold_releases_at_once() -> None:
    h = connected()
    h.event(ev.HoldWaiting(0))
    assert h.read() == b""
    assert h.pop_requests() == [ev.ReleaseHold()]


def test_hold_on_off_and_early_release() -> None:
    h = connected()
    assert h.send("hold on") == b"SUCCESS: hold flag set to ON\r\n"
    assert h.send("hold release") == b"SUCCESS: hold release succeeded\r\n"
    h.event(ev.HoldWaiting(5))  # already released: the next hold does not wait
    assert h.pop_requests() == [ev.ReleaseHold()]
    h.event(ev.HoldWaiting(5))  # ... but the one after does
    assert h.read() == b">HOLD:Waiting for hold release:5\r\n"
    assert h.send("hold off") == b"SUCCESS: hold flag set to OFF\r\n"
    assert h.send("hold maybe") == b"ERROR: bad hold command parameter\r\n"


# --- credentials ----------------------------------------------------------------------------


def test_password_query_flow_with_escaping() -> None:
    # notes 299-326 and 1266-1281; manage.c 788
    h = connected()
    h.event(ev.NeedPassword())
    assert h.read() == b">PASSWORD:Need 'Auth' username/password\r\n"
    assert h.send('username "Auth" foo') == (
        b"SUCCESS: 'Auth' username entered, but not yet verified\r\n"
    )
    assert h.pop_requests() == []
    assert h.send('password "Auth" "pa\\"ss\\\\word"') == (
        b"SUCCESS: 'Auth' password entered, but not yet verified\r\n"
    )
    assert h.pop_requests() == [ev.Credentials("Auth", "foo", 'pa"ss\\word')]
    # the query is answered: a second password is not needed (manage.c 798)
    assert h.send("password Auth again") == (
        b"ERROR: no password is currently needed at this time\r\n"
    )


def test_password_of_the_wrong_type() -> None:
    # manage.c 792
    h = connected()
    h.event(ev.NeedPassword("Private Key", ev.Need.PASSWORD))
    assert h.read() == b">PASSWORD:Need 'Private Key' password\r\n"
    assert h.send("password Auth x") == (
        b"ERROR: password of type 'Auth' entered, but we need one of type 'Private Key'\r\n"
    )
    assert h.send("username 'Private Key' x") == (
        b"ERROR: no username is currently needed at this time\r\n"
    )
    assert h.send('password "Private Key" ""') == (
        b"SUCCESS: 'Private Key' password entered, but not yet verified\r\n"
    )
    assert h.pop_requests() == [ev.Credentials("Private Key", None, "")]


def test_username_only_needs_version_4() -> None:
    # notes 311-321
    h = connected()
    h.event(ev.NeedPassword(need=ev.Need.USERNAME))
    assert h.read() == b">PASSWORD:Need 'Auth' username/password\r\n"
    h.send("version 4")
    h.event(ev.NeedPassword(need=ev.Need.USERNAME))
    assert h.read() == b">PASSWORD:Need 'Auth' username\r\n"
    h.send("username Auth me")
    assert h.pop_requests() == [ev.Credentials("Auth", "me", None)]


def test_static_challenge_and_failures_and_token() -> None:
    h = connected()
    h.event(ev.NeedPassword(static_challenge="Please enter token PIN", challenge_echo=True))
    assert h.read() == b">PASSWORD:Need 'Auth' username/password SC:1,Please enter token PIN\r\n"
    h.event(ev.AuthFailed())
    assert h.read() == b">PASSWORD:Verification Failed: 'Auth'\r\n"  # notes 357
    h.event(ev.AuthFailed(reason="CRV1:R,E:Om01u7Fh4LrGBS7uh0SWmzwabUiGiW6l:Y3Ix:Please enter"))
    assert h.read() == (  # manage.c 3214
        b">PASSWORD:Verification Failed: 'Auth' "
        b"['CRV1:R,E:Om01u7Fh4LrGBS7uh0SWmzwabUiGiW6l:Y3Ix:Please enter']\r\n"
    )
    h.event(ev.AuthTokenEvent("foobar"))
    assert h.read() == b">PASSWORD:Auth-Token:foobar\r\n"  # notes 368


def test_pending_query_is_shown_to_a_new_client() -> None:
    h = connected()
    h.event(ev.NeedPassword())
    h.read()
    assert h.connect(client=2) == GREETING + b">PASSWORD:Need 'Auth' username/password\r\n"


# --- management password --------------------------------------------------------------------


def test_management_password() -> None:
    # manage.c 236, 304: "ENTER PASSWORD:" has no line end; 3 tries (manage.h 54)
    h = Harness(password="s3cret")
    assert h.connect() == b"ENTER PASSWORD:"
    h.event(ev.StateEvent(ev.State.CONNECTING))
    h.event(ev.InfoMsg("nothing for strangers"))
    assert h.read() == b""
    # stock's "ERROR: bad password" never reaches the wire (see core.py): only the prompt does
    assert h.send("wrong") == b"ENTER PASSWORD:"
    assert h.send("s3cret") == b"SUCCESS: password is correct\r\n" + GREETING
    assert h.send("pid") == b"SUCCESS: pid=4242\r\n"


def test_three_bad_passwords_close_the_connection() -> None:
    h = Harness(password="s3cret")
    h.connect()
    h.send("a")
    h.send("b")
    assert h.send("c") == b""
    assert h.closed == [1]


# --- disconnect options ---------------------------------------------------------------------


def test_forget_disconnect_and_management_signal() -> None:
    h = connected(ManagementSettings(forget_disconnect=True, signal_on_disconnect=True))
    h._take(h.core.disconnect(1, T0))
    assert h.pop_requests() == [
        ev.ForgetPasswords(),
        ev.Signal("SIGUSR1", reason="management-disconnect"),
    ]
    # nothing when the client never gave the password, or when we are exiting
    h2 = Harness(ManagementSettings(forget_disconnect=True), password="pw")
    h2.connect()
    h2._take(h2.core.disconnect(1, T0))
    h3 = connected(ManagementSettings(forget_disconnect=True))
    h3._take(h3.core.disconnect(1, T0, exiting=True))
    assert h2.pop_requests() == h3.pop_requests() == []


def test_up_down_notifications() -> None:
    # manage.c 3021 and 2992-2998
    env = (("dev", "tun0"), ("ifconfig_local", "10.8.0.2"))
    h = connected()
    h.event(ev.UpDown("UP", env))
    assert h.read() == b""
    h = connected(ManagementSettings(up_down=True))
    h.event(ev.UpDown("UP", env))
    assert h.read() == (
        b">UPDOWN:UP\r\n>UPDOWN:ENV,dev=tun0\r\n>UPDOWN:ENV,ifconfig_local=10.8.0.2\r\n"
        b">UPDOWN:ENV,END\r\n"
    )


# --- secrets --------------------------------------------------------------------------------


def test_no_secret_in_reprs_or_log() -> None:
    h = connected()
    h.event(ev.NeedPassword())
    h.send("log on")
    h.send("username Auth alice")
    h.send('password Auth "hunter2"')
    h.event(ev.AuthTokenEvent("TOKEN-XYZ"))
    h.read()
    everything = repr(h.pop_requests()) + repr(ev.AuthTokenEvent("TOKEN-XYZ"))
    everything += h.send("log all").decode() + h.send("state all").decode()
    assert "hunter2" not in everything and "TOKEN-XYZ" not in everything
    assert "alice" in everything  # the username is not a secret


def test_an_endless_line_closes_without_flushing() -> None:
    h = Harness(ManagementSettings(max_line=1024))
    h.connect()
    outputs = h.core.receive(1, b"x" * 1025, T0)
    assert outputs == [ev.CloseClient(1, "line too long", flush=False)]
