"""``vpnstack-client``: a drop-in OpenVPN client for .ovpn files, on a kernel TUN device.

How this works: the command line is parsed with option names taken from openvpn(8); each
option given becomes one config directive applied *after* the file (so it overrides it), by
the same parser that reads the file. Credentials are asked for up front when the config says
``auth-user-pass`` without a file. Then the TUN device is opened, and the client lifecycle
(``client/lifecycle.py``) runs sessions until a signal or a fatal error. Whatever happens, the
host's routes, addresses and DNS are put back and the TUN is closed before exiting.

Exit status: 0 after SIGINT/SIGTERM; 1 with one line on stderr for a fatal error (AUTH_FAILED,
certificate rejected, no shared cipher, TUN not permitted, ...); 2 for a bad command line or
configuration (the line names file:line and what to change).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence

import attrs
import trio

from vpnstack.client.hostnet import DNS_MODES, HostNetworkConfig
from vpnstack.client.lifecycle import ClientLifecycle, StatusFile
from vpnstack.client.output import DEFAULT_VERB, Reporter
from vpnstack.client.policy import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from vpnstack.config import Config, load_config, require_supported
from vpnstack.errors import ConfigError, VPNError
from vpnstack.system.tundev import KernelTunEndpoint, open_tun

PROG = "vpnstack-client"

# Options that map 1:1 onto config directives: (flag, nargs, metavar, help), by topic.
_DIRECTIVE_OPTIONS: dict[str, list[tuple[str, str | int | None, str | tuple[str, ...], str]]] = {
    "connection": [
        ("--remote", "+", "HOST [PORT [PROTO]]", "server to connect to (replaces the file's)"),
        ("--port", 1, "PORT", "default port for remotes without one"),
        ("--proto", 1, "PROTO", "udp, udp4 or udp6"),
        ("--remote-random", 0, "", "try the remotes in random order"),
        ("--connect-retry", "+", "N [MAX]", "seconds between attempts (doubling, capped at MAX)"),
        ("--connect-retry-max", 1, "N", "give up after N failed attempts in a row"),
        ("--hand-window", 1, "SECONDS", "time allowed for a handshake (default 60)"),
        ("--explicit-exit-notify", "?", "N", "tell the server when we leave"),
    ],
    "TLS and keys": [
        ("--ca", 1, "FILE", "CA certificate(s) to trust"),
        ("--cert", 1, "FILE", "client certificate"),
        ("--key", 1, "FILE", "client private key"),
        ("--tls-auth", "+", "FILE [DIR]", "HMAC firewall key"),
        ("--tls-crypt", 1, "FILE", "control channel encryption key"),
        ("--key-direction", 1, "0|1", "direction of the tls-auth key"),
        ("--remote-cert-tls", 1, "server", "require the server certificate's EKU"),
        ("--verify-x509-name", "+", "NAME [TYPE]", "require this server name"),
        ("--tls-version-min", "+", "1.2|1.3", "lowest TLS version"),
        ("--tls-version-max", 1, "1.2|1.3", "highest TLS version"),
    ],
    "data channel": [
        ("--data-ciphers", 1, "LIST", "colon-separated ciphers to negotiate"),
        ("--cipher", 1, "NAME", "legacy cipher (fallback)"),
        ("--auth", 1, "DIGEST", "HMAC digest for tls-auth"),
    ],
    "tunnel and routes": [
        ("--dev", 1, "NAME", "TUN device name (default tun, i.e. the first free tunN)"),
        ("--route-nopull", 0, "", "do not install pushed routes"),
        ("--pull-filter", 2, ("ACTION", "TEXT"), "accept|ignore|reject pushed options by prefix"),
    ],
    "authentication": [
        ("--auth-user-pass", "?", "FILE", "user name and password (file, or asked for)"),
        ("--auth-retry", 1, "none|nointeract|interact", "what to do after AUTH_FAILED"),
    ],
    "logging": [
        ("--verb", 1, "N", "verbosity: 1-3 stages, 4 every layer event, 5 counters"),
        ("--status", "+", "FILE [SECONDS]", "write a traffic summary to FILE every SECONDS"),
    ],
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, options grouped by topic for ``--help``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Connect to an OpenVPN server using an .ovpn file, on a kernel TUN device. "
        "Needs root (or CAP_NET_ADMIN). Options override the file's directives of the same "
        "name. SIGINT/SIGTERM disconnect, SIGUSR1 reconnects, SIGHUP re-reads the "
        "config, SIGUSR2 prints traffic counters.",
    )
    parser.add_argument("config_file", nargs="?", metavar="FILE", help="the .ovpn file")
    parser.add_argument("--config", metavar="FILE", help="the .ovpn file")
    for topic, options in _DIRECTIVE_OPTIONS.items():
        group = parser.add_argument_group(topic)
        for flag, nargs, metavar, help_text in options:
            dest = "d_" + flag[2:].replace("-", "_")
            if nargs == 0:
                group.add_argument(flag, dest=dest, action="store_const", const=[], help=help_text)
            elif flag == "--pull-filter":
                group.add_argument(
                    flag, dest=dest, nargs=2, metavar=metavar, action="append", help=help_text
                )
            elif nargs == "?":  # given alone, the directive has no argument: const [] marks it
                group.add_argument(
                    flag, dest=dest, nargs=nargs, const=[], metavar=metavar, help=help_text
                )
            else:
                group.add_argument(flag, dest=dest, nargs=nargs, metavar=metavar, help=help_text)
        if topic == "tunnel and routes":
            group.add_argument(
                "--dns-mode",
                choices=DNS_MODES,
                default="auto",
                help="how pushed DNS is applied: systemd-resolved, /etc/resolv.conf, or not at "
                "all (default auto: resolved when it runs)",
            )
    return parser


def overrides_from(args: argparse.Namespace) -> list[list[str]]:
    """The config directives the command line adds, in the order of the option table."""
    directives: list[list[str]] = []
    for options in _DIRECTIVE_OPTIONS.values():
        for flag, nargs, _, _ in options:
            value = getattr(args, "d_" + flag[2:].replace("-", "_"))
            name = flag[2:]
            if value is None:
                continue
            if flag == "--pull-filter":
                directives.extend([name, *pair] for pair in value)
            elif nargs == "?" and isinstance(value, str):
                directives.append([name, value])
            else:
                directives.append([name, *value])
    return directives


def config_path(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The one config file named by ``--config`` or the positional FILE."""
    if args.config and args.config_file and args.config != args.config_file:
        parser.error("give the config file once: --config FILE or FILE")
    path = args.config or args.config_file
    if not path:
        parser.error("a config file is needed: vpnstack-client --config FILE")
    return str(path)


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
    parser = build_parser()
    args = parser.parse_args(argv)
    path = config_path(parser, args)
    overrides = overrides_from(args)

    def reload_config() -> Config:
        return load_config(path, overrides=overrides)

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
    host = HostNetworkConfig(dns_mode=args.dns_mode)
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
