"""The life of one vpnstack-client run: sessions in a loop, signals, and a clean machine at exit.

How this works: ``ClientLifecycle.run`` listens for signals in one task and runs sessions in
another. A session is one ``running_stack`` (every layer, fresh) on the kernel TUN endpoint,
which stays open across sessions. Once a session's tunnel is up, the pushed addresses, routes
and DNS are applied to the host (``HostNetwork``); whenever the session ends, for whatever
reason, they are reverted before anything else happens. Between sessions the reconnect policy
(``policy.py``) decides: exit, reconnect after the connect-retry backoff, reconnect at once,
or ask for credentials again.

Signals (openvpn(8) semantics):

* SIGINT / SIGTERM: leave. If the tunnel is up, send the exit notification when
  ``explicit-exit-notify`` is set (bounded), then close; exit status 0.
* SIGUSR1: reconnect now (a fresh session).   SIGHUP: re-read the config, then reconnect.
* SIGUSR2: print the traffic summary.

A pushed auth-token replaces the password on reconnects; if the server rejects it, it is
dropped and the real credentials are used at once.
"""

from __future__ import annotations

import enum
import ipaddress
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import attrs
import trio

from vpnstack.client.output import Reporter, tunnel_addresses
from vpnstack.client.policy import (
    EXIT_OK,
    EXIT_USAGE,
    Action,
    RemoteRotation,
    decide,
    retry_delay,
)
from vpnstack.client.status import (
    status_line,
    status_text,
    summarize,
    write_bench_statistics,
    write_status_file,
)
from vpnstack.config import Config, Remote
from vpnstack.errors import ConfigError, VPNError
from vpnstack.layers.tun import TunEndpoint
from vpnstack.manager import one_error
from vpnstack.messages import AuthToken, Stage, StateChange, TunnelInfo
from vpnstack.tunnel import Stack, running_stack

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HostNetwork(Protocol):
    """Applies a tunnel's pushed settings to the host and takes them back."""

    def apply(self, ifname: str, info: TunnelInfo, *, remote: IPAddress | None) -> list[str]:
        """Configure address, routes and DNS; return one line per thing done, for people."""
        ...

    def revert(self) -> None:
        """Undo everything ``apply`` did (idempotent, never raises)."""
        ...


class Leave(enum.Enum):
    """Why an up session is being left on purpose."""

    STOP = "stop"
    RESTART = "restart"
    RELOAD = "reload"


@attrs.frozen
class StatusFile:
    """``--status FILE SECONDS``."""

    path: str
    interval: float


class ClientLifecycle:
    """Runs sessions until a signal or a fatal error; see the module docstring."""

    def __init__(
        self,
        config: Config,
        *,
        endpoint: TunEndpoint,
        ifname: str,
        host: HostNetwork,
        reporter: Reporter,
        reload_config: Callable[[], Config],
        ask_credentials: Callable[[Config], Awaitable[Config]] | None = None,
        status_file: StatusFile | None = None,
    ) -> None:
        self._config = config
        self._endpoint = endpoint
        self._ifname = ifname
        self._host = host
        self._out = reporter
        self._reload_config = reload_config
        self._ask_credentials = ask_credentials
        self._status_file = status_file
        self._auth_token: AuthToken | None = None
        self._stack: Stack | None = None
        self._leave_requested: Leave | None = None
        self._leave_event = trio.Event()
        self._attempt_scope: trio.CancelScope | None = None
        self._was_up = False

    async def run(self) -> int:
        """Run until SIGINT/SIGTERM (0) or a fatal error (non-zero, one line printed)."""
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
        with trio.open_signal_receiver(*signals) as receiver, one_error():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_signals, receiver)
                if self._status_file is not None:
                    nursery.start_soon(self._write_status, self._status_file)
                status = await self._session_loop()
                nursery.cancel_scope.cancel()
        return status

    # --- sessions ------------------------------------------------------------------------

    async def _session_loop(self) -> int:
        rotation = RemoteRotation(
            self._config.transport.remotes, shuffle=self._config.transport.remote_random
        )
        failures = 0
        while True:
            # Requests made by signals are handled here, wherever they arrived: during a
            # session, a backoff sleep or a credentials prompt.
            leave, self._leave_requested = self._leave_requested, None
            if leave is Leave.STOP:
                return EXIT_OK
            if leave is Leave.RELOAD:
                try:
                    self._config = self._reload_config()
                except ConfigError as exc:
                    self._out.line(f"Re-reading the configuration failed: {exc}")
                    return EXIT_USAGE
                rotation = RemoteRotation(
                    self._config.transport.remotes, shuffle=self._config.transport.remote_random
                )
                self._out.line("Configuration re-read; reconnecting")
            elif leave is Leave.RESTART:
                self._out.line("Reconnecting (SIGUSR1)")
            self._was_up = False
            error = await self._one_session(rotation.next())
            if self._leave_requested is not None or error is None:
                failures = 0
                continue
            decision = decide(
                error,
                auth_retry=self._config.client.auth_retry,
                using_auth_token=self._auth_token is not None,
                was_up=self._was_up,
            )
            if decision.action is Action.EXIT:
                raise error
            # A session that was up is retried on the same remote; a failed attempt moves on.
            next_remote = decision.next_remote
            if next_remote is False or (next_remote is None and self._was_up):
                rotation.again()
            if decision.action is Action.RECONNECT_NOW:
                self._out.line(f"{error}; retrying with the configured credentials")
                self._auth_token = None
                continue
            if decision.action is Action.ASK_CREDENTIALS and self._ask_credentials is not None:
                self._out.line(f"{error}")
                self._config = await self._ask_credentials(self._config)
                continue
            if decision.delay is not None:
                # A server that restarted under an up session: back soon (policy.py).
                failures = 0
                self._out.line(f"{error}; reconnecting in {decision.delay:g} s")
                with trio.CancelScope() as self._attempt_scope:
                    await trio.sleep(decision.delay)
                self._attempt_scope = None
                continue
            failures += 1
            limit = self._config.transport.connect_retry_max
            if limit is not None and failures >= limit:
                self._out.line(f"{error}; giving up after {failures} attempts (connect-retry-max)")
                raise error
            delay = max(
                decision.min_delay,
                retry_delay(
                    failures,
                    base=self._config.transport.connect_retry,
                    maximum=self._config.transport.connect_retry_max_delay,
                ),
            )
            self._out.line(f"{error}; reconnecting in {delay:g} s")
            with trio.CancelScope() as self._attempt_scope:
                await trio.sleep(delay)
            self._attempt_scope = None

    async def _one_session(self, remote: Remote) -> VPNError | None:
        """Run one session to its end; return the error that ended it, if any."""
        self._leave_event = trio.Event()
        config = attrs.evolve(
            self._config, transport=attrs.evolve(self._config.transport, remotes=(remote,))
        )
        if self._auth_token is not None:
            config = attrs.evolve(
                config,
                client=attrs.evolve(
                    config.client,
                    username=self._auth_token.username or config.client.username,
                    password=self._auth_token.token,
                ),
            )
        self._out.attempt(f"New session with {remote.host} port {remote.port} ({remote.proto})")
        try:
            with trio.CancelScope() as self._attempt_scope:
                async with running_stack(
                    config, endpoint=self._endpoint, on_state=self._on_state
                ) as stack:
                    await self._tunnel_up(stack, config)
        except VPNError as error:
            return error
        finally:
            self._attempt_scope = None
        return None

    async def _tunnel_up(self, stack: Stack, config: Config) -> None:
        self._stack = stack
        self._was_up = True
        try:
            remote = stack.remote_address
            for line in self._host.apply(self._ifname, stack.info, remote=remote):
                self._out.line(line, level=3)
            self._out.tunnel_up(self._ifname, _summary(stack.info))
            self._out.counters(stack.statistics())
            await self._leave_event.wait()
            if self._leave_requested is Leave.STOP and config.transport.explicit_exit_notify:
                await stack.send_exit_notification()
        finally:
            self._stack = None
            self._host.revert()

    def _on_state(self, change: StateChange) -> None:
        if change.stage is Stage.AUTH_TOKEN and change.auth_token is not None:
            self._auth_token = change.auth_token
            return
        self._out.stage(change)

    # --- signals and status ----------------------------------------------------------------

    async def _watch_signals(self, receiver: AsyncIterator[int]) -> None:
        async for signum in receiver:
            if signum in (signal.SIGINT, signal.SIGTERM):
                self._out.line(f"{signal.Signals(signum).name} received, closing the tunnel")
                self._leave(Leave.STOP)
            elif signum == signal.SIGUSR1:
                self._leave(Leave.RESTART)
            elif signum == signal.SIGHUP:
                self._out.line("SIGHUP received, re-reading the configuration")
                self._leave(Leave.RELOAD)
            elif signum == signal.SIGUSR2:
                stack = self._stack
                if stack is None:
                    self._out.line("Traffic: no tunnel up")
                else:
                    self._out.line(status_line(summarize(stack.statistics())))

    def _leave(self, why: Leave) -> None:
        """End the current session on purpose: gently when it is up, at once otherwise."""
        self._leave_requested = why
        if self._stack is not None:
            self._leave_event.set()
        elif self._attempt_scope is not None:
            self._attempt_scope.cancel()

    async def _write_status(self, status: StatusFile) -> None:
        while True:
            stack = self._stack
            if stack is not None:
                write_status_file(status.path, status_text(summarize(stack.statistics())))
                write_bench_statistics(stack.statistics())
            await trio.sleep(status.interval)


def _summary(info: TunnelInfo) -> str:
    parts = tunnel_addresses(info)
    parts.append(f"mtu {info.mtu}")
    parts.append(f"cipher {info.cipher}")
    if info.peer_id is not None:
        parts.append(f"peer-id {info.peer_id}")
    return ", ".join(parts)
