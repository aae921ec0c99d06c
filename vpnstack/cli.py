"""``vpnstack-client``: a drop-in OpenVPN client for .ovpn files, on a kernel TUN device.

How this works: the command line is the config grammar, as with openvpn(8). Every directive
of a config file is an option ``--name args`` with the same arity, kind (implemented, ignored
with a warning, refused) and messages naming ``--name``; the options are applied left to
right and ``--config FILE`` (several are allowed; a bare first argument is one) reads the
file where it stands, so a later value wins: options before a ``--config`` are overridden by
the file where it sets them, options after it override the file. No file is needed at all:
``vpnstack-client --client --remote H 1194 udp --dev tun --ca ca.crt --cert c.crt --key
c.key`` (NetworkManager runs openvpn like that). Relative paths on the command line are
relative to the current directory, which ``--cd DIR`` changes. The splitting and the
directives are the config package's (``argv_directives``, ``load_directives``); this module
only takes out its own options (``--help``, ``--version``, ``--dns-mode``), which are not
config directives.

Credentials are asked for up front when the config says ``auth-user-pass`` without a file.
Then the TUN device is opened, and the client lifecycle (``client/lifecycle.py``) runs sessions
until a signal or a fatal error; SIGHUP re-reads the same command line and files. Whatever
happens, the host's routes, addresses and DNS are put back and the TUN is closed before
exiting.

Exit status: 0 after SIGINT/SIGTERM, ``--help`` and ``--version``; 1 with one line on stderr
for a fatal error (AUTH_FAILED, certificate rejected, no shared cipher, TUN not permitted,
...); 2 for a bad command line or configuration (the line names ``--option`` or file:line and
what to change).
"""

from __future__ import annotations

import getpass
import importlib.metadata
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Literal

import attrs
import trio

from vpnstack.client.hostnet import DNS_MODES, HostNetworkConfig
from vpnstack.client.lifecycle import ClientLifecycle, StatusFile
from vpnstack.client.output import DEFAULT_VERB, Reporter
from vpnstack.client.policy import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from vpnstack.config import (
    COMMAND_LINE,
    DIRECTIVES,
    TOPICS,
    Config,
    Directive,
    argv_directives,
    load_directives,
    require_supported,
)
from vpnstack.errors import ConfigError, VPNError
from vpnstack.system.dns import DnsMode
from vpnstack.system.tundev import KernelTunEndpoint, open_tun

PROG = "vpnstack-client"

PROTOCOL_LEVEL = "implements the OpenVPN 2.6 client protocol, with the 2.7 data-channel epochs"
"""What ``--version`` says vpnstack speaks (docs/; IV_PROTO in tlssession/peerinfo.py)."""

OWN_OPTIONS: dict[str, tuple[int, str, str]] = {
    "help": (0, "", "show this help and exit"),
    "version": (0, "", "show the version and the OpenVPN protocol level, and exit"),
    "dns-mode": (
        1,
        "|".join(DNS_MODES),
        "how pushed DNS is applied: systemd-resolved, /etc/resolv.conf, or not at all (default "
        "auto: resolved when it runs)",
    ),
}
"""vpnstack-client's options that are not config directives: name -> (arity, metavar, help)."""

Action = Literal["run", "help", "version"]


@attrs.frozen
class CommandLine:
    """The command line, split: the config directives in order and vpnstack-client's own."""

    directives: tuple[Directive, ...]
    """The config directives (``--config FILE`` included), in argv order."""
    cwd: str
    """The directory relative paths on the command line are relative to (before ``--cd``)."""
    dns_mode: DnsMode = "auto"
    """``--dns-mode``."""
    action: Action = "run"
    """``help`` or ``version`` when asked for (first one given), else ``run``."""

    def load(self) -> Config:
        """The ``Config`` the directives make (files read now: also what SIGHUP calls)."""
        return load_directives(self.directives, cwd=self.cwd)


def read_command_line(argv: Sequence[str]) -> CommandLine:
    """Split ``argv`` (without the program name) like openvpn; ``ConfigError`` when bad."""
    if not argv:
        raise ConfigError(
            f"give a config file ({PROG} FILE or --config FILE) or the options on the command"
            " line (see --help)",
            path=COMMAND_LINE,
        )
    directives: list[Directive] = []
    action: Action = "run"
    dns_mode: DnsMode = "auto"
    for d in argv_directives(argv):
        own = OWN_OPTIONS.get(d.name)
        if own is None:
            directives.append(d)
            continue
        if len(d.args) != own[0]:
            raise ConfigError(
                f"{d.label} takes {own[0]} argument(s), got {len(d.args)}", path=COMMAND_LINE
            )
        if d.name == "dns-mode":
            mode = next((m for m in DNS_MODES if m == d.args[0]), None)
            if mode is None:
                raise ConfigError(
                    f"--dns-mode {d.args[0]}: use one of {', '.join(DNS_MODES)}",
                    path=COMMAND_LINE,
                )
            dns_mode = mode
        elif action == "run":
            action = "help" if d.name == "help" else "version"
    return CommandLine(tuple(directives), os.getcwd(), dns_mode, action)


def version_text() -> str:
    """What ``--version`` prints: vpnstack's version and the protocol level it implements."""
    try:
        version = importlib.metadata.version("vpnstack")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a tree
        version = "unknown"
    return f"{PROG} (vpnstack) {version}\n{PROTOCOL_LEVEL}\n"


def _option_lines(name: str, metavar: str, text: str) -> list[str]:
    """One option of ``--help``: ``--name METAVAR`` then its help, wrapped in a column."""
    left = f"  --{name}" + (f" {metavar}" if metavar else "")
    indent = " " * 30
    lines = textwrap.wrap(
        text, 96, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    )
    if len(left) < len(indent) - 1:
        return [left.ljust(len(indent)) + lines[0].lstrip(), *lines[1:]]
    return [left, *lines]


def help_text() -> str:
    """``--help``: usage, vpnstack-client's own options, then every directive by topic."""
    out = [
        f"usage: {PROG} [FILE] [--config FILE] [--OPTION [ARGS...]]...",
        "",
        *textwrap.wrap(
            "Connect to an OpenVPN server, as openvpn(8) does for a client, on a kernel TUN "
            "device; needs root (or CAP_NET_ADMIN). Every config-file directive is also an "
            "option --NAME ARGS, applied left to right with the --config files where they "
            "stand (a later value wins); a bare first argument is a config file. "
            "SIGINT/SIGTERM disconnect, SIGUSR1 reconnects, SIGHUP re-reads the config, "
            "SIGUSR2 prints traffic counters.",
            96,
        ),
        "",
        f"{PROG}:",
    ]
    for name, (_, metavar, text) in OWN_OPTIONS.items():
        out.extend(_option_lines(name, metavar, text))
    for topic in TOPICS:
        out.extend(["", f"{topic}:"])
        for name, spec in DIRECTIVES.items():
            if spec.topic != topic:
                continue
            text = spec.help
            if spec.kind == "ignored":
                text = f"[ignored: {text}]"
            elif spec.kind == "refused":
                text = f"[refused: {text}]"
            elif not spec.command_line:
                text = f"{text} [config file only]"
            out.extend(_option_lines(name, spec.metavar, text))
    return "\n".join(out) + "\n"


def ask_credentials_now(config: Config) -> Config:
    """Prompt for what ``auth-user-pass`` left out (no echo for the password)."""
    if not sys.stdin.isatty():
        raise ConfigError(
            "auth-user-pass has no file and standard input is not a terminal: give a file "
            "with the user name and password on two lines (auth-user-pass FILE)",
            path=config.source,
        )
    username = config.client.username or input("Enter Auth Username: ")
    password = getpass.getpass("Enter Auth Password: ")
    return attrs.evolve(
        config, client=attrs.evolve(config.client, username=username, password=password)
    )


async def ask_credentials(config: Config) -> Config:
    """``ask_credentials_now`` without blocking the event loop (auth-retry interact)."""
    cleared = attrs.evolve(config, client=attrs.evolve(config.client, username=None, password=None))
    return await trio.to_thread.run_sync(ask_credentials_now, cleared)


def fail(message: str, status: int = EXIT_FAILURE) -> int:
    """Print the one line a fatal error gets, and return the exit status."""
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()
    return status


def run(argv: Sequence[str] | None = None) -> int:
    """Everything ``main`` does, returning the exit status."""
    try:
        command_line = read_command_line(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    if command_line.action == "help":
        sys.stdout.write(help_text())
        return EXIT_OK
    if command_line.action == "version":
        sys.stdout.write(version_text())
        return EXIT_OK
    reload_config = command_line.load
    try:
        config = reload_config()
        require_supported(config)
        if config.client.auth_user_pass_required and (
            config.client.username is None or not config.client.password
        ):
            config = ask_credentials_now(config)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    except (EOFError, KeyboardInterrupt):
        return fail("no credentials given", EXIT_USAGE)
    reporter = Reporter(verb=config.client.verb if config.client.verb is not None else DEFAULT_VERB)
    for warning in config.warnings:
        reporter.line(f"warning: {warning}", level=2)
    status_file = None
    if config.client.status_file is not None:
        status_file = StatusFile(config.client.status_file, config.client.status_interval)
    host = HostNetworkConfig(dns_mode=command_line.dns_mode)
    try:
        device = open_tun(config.routing.dev if config.routing.dev != "tun" else "tun%d")
    except VPNError as exc:
        return fail(str(exc))
    reporter.line(f"Opened TUN device {device.name}", level=2)
    endpoint = KernelTunEndpoint(device)
    lifecycle = ClientLifecycle(
        config,
        endpoint=endpoint,
        ifname=device.name,
        host=host,
        reporter=reporter,
        reload_config=reload_config,
        ask_credentials=ask_credentials,
        status_file=status_file,
    )
    try:
        status = trio.run(lifecycle.run)
    except VPNError as exc:
        return fail(str(exc))
    finally:
        host.revert()
        endpoint.close()
    reporter.line("Exiting")
    return status if status is not None else EXIT_OK


def main() -> None:
    """Console-script entry point."""
    if os.name != "posix":  # pragma: no cover
        sys.exit(fail("vpnstack-client runs on Linux only"))
    sys.exit(run())


if __name__ == "__main__":
    main()
