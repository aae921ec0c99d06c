"""The management service over real sockets: a unix socket in tmp_path and TCP on 127.0.0.1.

Every wait is bounded with ``fail_after`` (no sleeps); timing tests run on ``autojump_clock``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import socket
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from vpnstack.errors import ConfigError
from vpnstack.management import events as ev
from vpnstack.management.service import ManagementInterface
from vpnstack.management.settings import ManagementSettings

GREETING = b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"
LIMIT = 10  # seconds of real time any single test step may take


@asynccontextmanager
async def running(
    settings: ManagementSettings, **kwargs: object
) -> AsyncIterator[ManagementInterface]:
    mi = ManagementInterface(settings, **kwargs)  # type: ignore[arg-type]
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(mi.run)
            yield mi
            nursery.cancel_scope.cancel()
    finally:
        while _PEERS:
            await _PEERS.pop().stream.aclose()


_PEERS: list[Peer] = []
"""Peers opened by the running test, closed when its service stops."""


class Peer:
    """A management client over a real socket."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    async def to(cls, mi: ManagementInterface) -> Peer:
        address = mi.address
        if isinstance(address, str):
            peer = cls(await trio.open_unix_socket(address))
        else:
            assert address is not None
            peer = cls(await trio.open_tcp_stream(*address))
        _PEERS.append(peer)
        return peer

    async def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else line.encode() + b"\r\n"
        await self.stream.send_all(data)

    async def until(self, marker: bytes) -> bytes:
        """Everything up to and including ``marker``."""
        with trio.fail_after(LIMIT):
            while marker not in self.buffer:
                data = await self.stream.receive_some(65536)
                assert data, f"closed before {marker!r}; got {self.buffer!r}"
                self.buffer += data
        end = self.buffer.index(marker) + len(marker)
        head, self.buffer = self.buffer[:end], self.buffer[end:]
        return head

    async def ask(self, line: str, marker: bytes = b"\r\n") -> bytes:
        await self.send(line)
        return await self.until(marker)

    async def closed(self) -> bool:
        """Read until the service closes the connection."""
        with trio.fail_after(LIMIT):
            while True:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return True
                if not data:
                    return True
                self.buffer += data


async def next_request(mi: ManagementInterface) -> ev.Request:
    with trio.fail_after(LIMIT):
        return await mi.requests.receive()


@pytest.fixture(params=["unix", "tcp"])
def listen(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., ManagementSettings]:
    """Settings for a unix socket in tmp_path or TCP on 127.0.0.1 port 0, with overrides."""

    def make(**kwargs: object) -> ManagementSettings:
        if request.param == "unix":
            return unix(tmp_path, **kwargs)
        return ManagementSettings(host="127.0.0.1", port=0, **kwargs)  # type: ignore[arg-type]

    return make


def unix(tmp_path: Path, **kwargs: object) -> ManagementSettings:
    return ManagementSettings(unix_path=str(tmp_path / "mgmt.sock"), **kwargs)  # type: ignore[arg-type]


# --- listening ------------------------------------------------------------------------------


async def test_unix_socket_greets_and_is_removed_after(tmp_path: Path) -> None:
    path = tmp_path / "mgmt.sock"
    async with running(unix(tmp_path)) as mi:
        assert mi.address == str(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o777  # like stock (umask 0)
        peer = await Peer.to(mi)
        assert await peer.until(b"\r\n") == GREETING
        assert await peer.ask("pid") == f"SUCCESS: pid={os.getpid()}\r\n".encode()
    assert not path.exists()


async def test_tcp_on_loopback_port_0() -> None:
    async with running(ManagementSettings(host="127.0.0.1", port=0)) as mi:
        assert isinstance(mi.address, tuple) and mi.address[1] > 0
        peer = await Peer.to(mi)
        await peer.until(GREETING)
        reply = await peer.ask("help", b"END\r\n")
        assert reply.startswith(b"Management Interface for vpnstack\r\nCommands:\r\n")


async def test_a_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        mi = ManagementInterface(ManagementSettings(host="127.0.0.1", port=port))
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1 port {port}"):
            await mi.run()


async def test_last_notifications_go_out_at_shutdown(tmp_path: Path) -> None:
    mi = ManagementInterface(unix(tmp_path))
    async with trio.open_nursery() as nursery:
        await nursery.start(mi.run)
        peer = await Peer.to(mi)
        await peer.until(GREETING)
        await peer.ask("state on")
        mi.post(ev.StateEvent(ev.State.EXITING, "SIGTERM"))
        mi.post(ev.Fatal("going away"))
        nursery.cancel_scope.cancel()
    assert await peer.closed()
    assert peer.buffer.endswith(b",EXITING,SIGTERM,,,,,\r\n>FATAL:going away\r\n"), peer.buffer
    await peer.stream.aclose()


def test_non_loopback_needs_to_be_asked_for() -> None:
    with pytest.raises(ConfigError, match="reachable from other hosts"):
        ManagementInterface(ManagementSettings(host="0.0.0.0"))


async def test_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret pass\nnot this line\n")
    async with running(unix(tmp_path, password_file=str(pw))) as mi:
        peer = await Peer.to(mi)
        assert await peer.until(b"ENTER PASSWORD:") == b"ENTER PASSWORD:"
        assert await peer.ask("not this line", b"ENTER PASSWORD:") == (b"ENTER PASSWORD:")
        assert await peer.ask("s3cret pass", GREETING) == (
            b"SUCCESS: password is correct\r\n" + GREETING
        )
        assert await peer.ask("hold") == b"SUCCESS: hold=0\r\n"


async def test_three_bad_passwords_disconnect(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("right\n")
    async with running(unix(tmp_path, password_file=str(pw))) as mi:
        peer = await Peer.to(mi)
        await peer.until(b"ENTER PASSWORD:")
        assert await peer.ask("a", b"ENTER PASSWORD:") == b"ENTER PASSWORD:"
        assert await peer.ask("b", b"ENTER PASSWORD:") == b"ENTER PASSWORD:"
        await peer.send("c")
        assert await peer.closed()
        assert peer.buffer == b""  # like stock 2.6.14: closed without a word


async def test_peer_credentials(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    async with running(unix(tmp_path, client_user=me, client_group=os.getgid())) as mi:
        peer = await Peer.to(mi)
        assert await peer.until(b"\r\n") == GREETING
    async with running(unix(tmp_path, client_user=os.getuid() + 1)) as mi:
        peer = await Peer.to(mi)
        assert await peer.closed()
        assert peer.buffer == b""
        assert mi.statistics().refused == {"peer credentials": 1}


def test_unknown_client_user_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such user 'no-such-user-x'"):
        ManagementInterface(unix(tmp_path, client_user="no-such-user-x"))


async def test_too_many_clients_are_refused(tmp_path: Path) -> None:
    async with running(unix(tmp_path, max_clients=1)) as mi:
        first = await Peer.to(mi)
        await first.until(GREETING)
        second = await Peer.to(mi)
        assert await second.closed() and second.buffer == b""
        assert mi.statistics().refused == {"too many clients": 1}
        assert await first.ask("hold") == b"SUCCESS: hold=0\r\n"


# --- flows with the VPN client ---------------------------------------------------------------


async def test_hold_release_flow(tmp_path: Path) -> None:
    async with running(unix(tmp_path, hold=True)) as mi:
        mi.post(ev.HoldWaiting(10))
        peer = await Peer.to(mi)
        assert await peer.until(b"release:10\r\n") == (
            GREETING + b">HOLD:Waiting for hold release:10\r\n"
        )
        assert await peer.ask("hold release") == b"SUCCESS: hold release succeeded\r\n"
        assert await next_request(mi) == ev.ReleaseHold()


async def test_password_query_flow_with_escaping(tmp_path: Path) -> None:
    async with running(unix(tmp_path, query_passwords=True)) as mi:
        peer = await Peer.to(mi)
        await peer.until(GREETING)
        mi.post(ev.NeedPassword())
        assert await peer.until(b"\r\n") == b">PASSWORD:Need 'Auth' username/password\r\n"
        await peer.ask('username "Auth" "jo\\ doe"')
        assert await peer.ask('password "Auth" "pa\\"ss"') == (
            b"SUCCESS: 'Auth' password entered, but not yet verified\r\n"
        )
        request = await next_request(mi)
        assert request == ev.Credentials("Auth", "jo doe", 'pa"ss')
        assert "pa" + '"ss' not in repr(request) + repr(mi.statistics())


async def test_disconnect_forgets_and_signals(tmp_path: Path) -> None:
    settings = unix(tmp_path, forget_disconnect=True, signal_on_disconnect=True)
    async with running(settings) as mi:
        peer = await Peer.to(mi)
        await peer.until(GREETING)
        await peer.stream.aclose()
        assert await next_request(mi) == ev.ForgetPasswords()
        assert await next_request(mi) == ev.Signal("SIGUSR1", reason="management-disconnect")


async def test_exit_closes_after_the_reply(tmp_path: Path) -> None:
    async with running(unix(tmp_path)) as mi:
        peer = await Peer.to(mi)
        await peer.until(GREETING)
        await peer.send("pid\r\nexit")
        assert await peer.closed()
        assert peer.buffer.startswith(b"SUCCESS: pid=")


async def test_bytecount_notifications(autojump_clock: trio.testing.MockClock) -> None:
    counts = iter(range(1000))

    def traffic() -> ev.Traffic:
        n = next(counts)
        return ev.Traffic(link_read_bytes=100 * n, link_write_bytes=n)

    async with running(ManagementSettings(), traffic=traffic) as mi:
        peer = await Peer.to(mi)
        await peer.until(GREETING)
        start = trio.current_time()
        assert await peer.ask("bytecount 2") == b"SUCCESS: bytecount interval changed\r\n"
        first = await peer.until(b"\r\n")
        second = await peer.until(b"\r\n")
        assert first.startswith(b">BYTECOUNT:") and second.startswith(b">BYTECOUNT:")
        assert first != second
        assert trio.current_time() - start == pytest.approx(4)


# --- hostile clients --------------------------------------------------------------------------


async def test_garbage_gets_errors_and_others_are_unaffected(
    listen: Callable[..., ManagementSettings],
) -> None:
    async with running(listen()) as mi:
        bad, good = await Peer.to(mi), await Peer.to(mi)
        await bad.until(GREETING)
        await good.until(GREETING)
        await bad.send(bytes(b for b in range(256) if b != 0x0A) * 4 + b"\n")
        await bad.until(b"\r\n")
        await bad.send(b'"unclosed\n\x00\xff\xfe\n')
        assert await bad.until(b"\r\n") == (
            b'ERROR: Options error: No closing quotation (") in TCP:0\r\n'
        )
        assert await bad.until(b"\r\n") == (  # the invalid UTF-8 line
            b"ERROR: unknown command, enter 'help' for more options\r\n"
        )
        assert await good.ask("hold") == b"SUCCESS: hold=0\r\n"
        assert await bad.ask("hold") == b"SUCCESS: hold=0\r\n"


async def test_a_one_mib_line_drops_the_client(
    listen: Callable[..., ManagementSettings],
) -> None:
    async with running(listen()) as mi:
        bad, good = await Peer.to(mi), await Peer.to(mi)
        await bad.until(GREETING)
        with contextlib.suppress(trio.BrokenResourceError):  # it may close while we send
            await bad.send(b"x" * (1 << 20))
        assert await bad.closed()
        assert mi.statistics().dropped == {"line too long": 1}
        await good.until(GREETING)
        assert await good.ask("hold") == b"SUCCESS: hold=0\r\n"


async def test_disconnect_mid_command(
    listen: Callable[..., ManagementSettings],
) -> None:
    async with running(listen()) as mi:
        peer = await Peer.to(mi)
        await peer.until(GREETING)
        await peer.send(b'password "Auth" "half')
        await peer.stream.aclose()
        other = await Peer.to(mi)
        await other.until(GREETING)
        assert await other.ask("state") == b"END\r\n"
        assert mi.statistics().clients == 1


async def test_a_client_that_never_reads_is_dropped_without_blocking(
    listen: Callable[..., ManagementSettings],
) -> None:
    async with running(listen(max_queued_bytes=256 * 1024)) as mi:
        slow, good = await Peer.to(mi), await Peer.to(mi)
        if isinstance(slow.stream, trio.SocketStream):  # keep TCP from buffering megabytes
            slow.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await slow.until(GREETING)
        await slow.send("log on")  # and never reads again
        await good.until(GREETING)
        await good.ask("log on")
        received = 0

        async def read_all() -> None:
            nonlocal received
            rest = good.buffer
            while received < 10_000:
                *lines, rest = (rest + await good.stream.receive_some(1 << 16)).split(b"\r\n")
                received += sum(line.startswith(b">LOG:") for line in lines)

        text = "x" * 500
        with trio.fail_after(LIMIT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_all)
                await trio.testing.wait_all_tasks_blocked()
                for batch in range(100):  # 100 x 100 notifications of ~530 bytes
                    for i in range(100):
                        mi.post(ev.LogEvent(f"{batch}.{i} {text}"))  # never blocks
                    await trio.testing.wait_all_tasks_blocked()
        assert received == 10_000
        assert mi.statistics().dropped == {"slow consumer": 1}
        assert await slow.closed()


async def test_requests_beyond_the_buffer_are_dropped_not_queued(tmp_path: Path) -> None:
    async with running(unix(tmp_path), request_buffer=4) as mi:
        peer = await Peer.to(mi)
        await peer.until(GREETING)
        await peer.send(b"signal SIGUSR2\r\n" * 20)
        for _ in range(20):
            await peer.until(b"SUCCESS: signal SIGUSR2 thrown\r\n")
        assert mi.statistics().requests_dropped == 16
        assert [await next_request(mi) for _ in range(4)] == [ev.Signal("SIGUSR2")] * 4


# --- secrets ----------------------------------------------------------------------------------


async def test_no_password_or_token_in_any_log_or_repr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = ("MgmtPw-1", "UserPw-2", "Token-3")
    pw = tmp_path / "pw"
    pw.write_text(secrets[0] + "\n")
    settings = unix(tmp_path, password_file=str(pw), query_passwords=True)
    async with running(settings) as mi:
        peer = await Peer.to(mi)
        await peer.until(b"ENTER PASSWORD:")
        await peer.ask(secrets[0], GREETING)
        await peer.ask("log on all", b"END\r\n")
        mi.post(ev.NeedPassword())
        await peer.until(b"username/password\r\n")
        await peer.ask("username Auth alice")
        await peer.ask(f"password Auth {secrets[1]}")
        request = await next_request(mi)
        mi.post(ev.AuthTokenEvent(secrets[2]))
        assert await peer.until(b"\r\n") == f">PASSWORD:Auth-Token:{secrets[2]}\r\n".encode()
        mi.post(ev.LogEvent("authenticated"))
        await peer.until(b"authenticated\r\n")
        history = await peer.ask("log all", b"END\r\n")
        seen = "\n".join(
            [
                caplog.text,
                history.decode(),
                repr(request),
                repr(ev.AuthTokenEvent(secrets[2])),
                repr(mi.statistics()),
                repr(settings),
            ]
        )
    assert isinstance(request, ev.Credentials) and request.password == secrets[1]
    for secret in secrets:
        assert secret not in seen
