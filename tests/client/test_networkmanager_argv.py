"""The argument vector NetworkManager-openvpn runs openvpn with, through vpnstack-client's parser.

NetworkManager-openvpn (``src/nm-openvpn-service.c``, ``nm_openvpn_start_openvpn_binary``, read
at GNOME/NetworkManager-openvpn 64852ea) writes no config file: every setting is an option on
the command line, followed by the options it always adds so that it keeps the tunnel's
configuration to itself (an ``--up`` helper reporting to it over D-Bus, ``--route-noexec``,
``--ifconfig-noexec``), asks for passwords over the management socket and runs openvpn as an
unprivileged user. ``nm_argv`` rebuilds that vector, option by option in NM's order, for a
"password-tls" connection (certificate and password) with two remotes (UDP, then TCP), tls-auth
and the usual TLS checks, on lab-like paths under ``tmp_path``.

The test runs it through the code ``vpnstack-client`` uses (``read_command_line(...).load()``),
taking out the options refused today one at a time, as the messages name them, and checks
that exactly ``REFUSED`` are refused and exactly ``IGNORED`` ignored: when a later step of
issue 10 implements one (the management interface, scripts, noexec, the process conventions),
this test fails and the lists must change with it. What is left must parse into the same
``Config`` as the equivalent .ovpn file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vpnstack.cli import read_command_line
from vpnstack.config import Config, Remote
from vpnstack.errors import ConfigError
from vpnstack.lab.pki import SERVER_NAME, Pki, generate_pki

UUID = "5c6d2f0e-8d1a-4a43-9b87-2f7c1d6e0a11"

REFUSED = {
    # the management interface (a later step of issue 10): NM asks for the password and
    # follows the connection's state over this unix socket
    "management": "the management interface is not supported; vpnstack-client prints its"
    " progress and answers SIGUSR1/SIGHUP/SIGUSR2; drop --management",
    "management-client-user": "the management interface is not supported; drop"
    " --management-client-user",
    "management-client-group": "the management interface is not supported; drop"
    " --management-client-group",
    "management-query-passwords": "the management interface is not supported; drop"
    " --management-query-passwords",
    # scripts (a later step): NM's helper reports the tun device, addresses, routes and DNS
    "up": "vpnstack-client runs no scripts ('up'); it applies pushed routes and DNS itself, so"
    " the usual update-resolv-conf / update-systemd-resolved scripts are not needed; drop --up",
    # noexec (a later step): NM, not openvpn, configures the routes and the tun address
    "route-noexec": "not supported: vpnstack-client always installs its routes (use"
    " route-nopull); drop --route-noexec",
    "ifconfig-noexec": "not supported: vpnstack-client always sets the address the server"
    " pushes on its tun device; drop --ifconfig-noexec",
}
"""NM's options vpnstack refuses today, with the message (the order is NM's)."""

IGNORED = {
    # process conventions (a later step): vpnstack keeps its keys and tun, runs as it is
    # started, logs to stderr
    "nobind": "vpnstack always uses a fresh local port",
    "syslog": "vpnstack logs to stderr or 'log'",
    "up-restart": "vpnstack-client runs no scripts",
    "persist-key": "vpnstack keeps its keys in memory across reconnects anyway",
    "persist-tun": "the tun device follows the session",
    "user": "vpnstack does not drop privileges itself",
    "group": "vpnstack does not drop privileges itself",
    "chroot": "vpnstack does not chroot itself",
}
"""NM's options vpnstack accepts with a warning today, with the reason."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates and keys where NM would have them (the connection's files)."""
    return generate_pki(str(tmp_path_factory.mktemp("nm-certs")))


def nm_argv(pki: Pki) -> list[str]:
    """NM's argv (without the binary), in the order ``nm_openvpn_start_openvpn_binary`` adds."""
    helper = "/usr/libexec/nm-openvpn-service-openvpn-helper"
    return [
        # remote "vpn.example.com:1194, vpn2.example.com:443:tcp": a remote without its own
        # protocol gets "udp" and --explicit-exit-notify, "tcp" becomes "tcp-client"
        "--remote", "vpn.example.com", "1194", "udp", "--explicit-exit-notify",
        "--remote", "vpn2.example.com", "443", "tcp-client",
        "--connect-timeout", "30",  # no connect-timeout set, 2 remotes: max(60 / 2, 20)
        "--nobind",
        "--dev", "tun",
        "--data-ciphers", "AES-256-GCM:AES-128-GCM",
        "--auth", "SHA256",
        "--auth-nocache",
        "--tls-auth", pki.tls_auth_key, "1",
        "--tls-version-min", "1.2",
        "--verify-x509-name", SERVER_NAME, "name",  # verify-x509-name=name:server...
        "--remote-cert-tls", "server",
        "--reneg-sec", "0",  # no reneg-seconds set: NM disables the client's renegotiation
        "--syslog", "nm-openvpn",  # NM_VPN_LOG_SYSLOG defaults to 1 unless debugging
        "--script-security", "2",
        "--up",
        f"{helper} --debug 0 4242 --bus-name org.freedesktop.NetworkManager.openvpn."
        "Connection_7 --tun --",  # one argument: NM passes the command line as one string
        "--up-restart",
        "--persist-key",
        "--persist-tun",
        "--management", f"/var/run/NetworkManager/nm-openvpn-{UUID}", "unix",
        "--management-client-user", "root",
        "--management-client-group", "root",
        "--management-query-passwords",
        "--auth-retry", "interact",
        "--route-noexec",
        "--ifconfig-noexec",
        "--client",  # password-tls: the certificates, then --auth-user-pass
        "--ca", pki.root_ca,
        "--cert", pki.client.cert,
        "--key", pki.client.key,
        "--auth-user-pass",
        "--user", "nm-openvpn",
        "--group", "nm-openvpn",
        "--chroot", "/var/lib/openvpn/chroot",
    ]  # fmt: skip


def equivalent_ovpn(pki: Pki) -> str:
    """The .ovpn file of the same connection, without the refused and ignored options."""
    return f"""\
client
remote vpn.example.com 1194 udp
explicit-exit-notify
remote vpn2.example.com 443 tcp-client
connect-timeout 30
dev tun
data-ciphers AES-256-GCM:AES-128-GCM
auth SHA256
auth-nocache
tls-auth {pki.tls_auth_key} 1
tls-version-min 1.2
verify-x509-name {SERVER_NAME} name
remote-cert-tls server
reneg-sec 0
script-security 2
auth-retry interact
ca {pki.root_ca}
cert {pki.client.cert}
key {pki.client.key}
auth-user-pass
"""


def drop_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without the first ``--name`` and its arguments."""
    start = argv.index(f"--{name}")
    end = start + 1
    while end < len(argv) and not argv[end].startswith("--"):
        end += 1
    return argv[:start] + argv[end:]


def parse_refusing(argv: list[str]) -> tuple[Config, dict[str, str]]:
    """Parse as vpnstack-client does; take out each refused option, keeping its message."""
    refused: dict[str, str] = {}
    while True:
        try:
            return read_command_line(argv).load(), refused
        except ConfigError as exc:
            assert exc.path == "command line" and exc.line is None, exc
            names = [a[2:] for a in argv if a.startswith("--")]
            named = [n for n in names if exc.message.endswith(f"; drop --{n}")]
            assert len(named) == 1, exc  # the message names exactly one option to drop
            refused[named[0]] = exc.message
            argv = drop_option(argv, named[0])


def test_networkmanagers_argv_parses_apart_from_the_refused_options(
    pki: Pki, tmp_path: Path
) -> None:
    argv = nm_argv(pki)
    config, refused = parse_refusing(argv)
    assert refused == REFUSED
    assert list(refused) == [n for n in (a[2:] for a in argv) if n in REFUSED]  # NM's order
    assert config.warnings == tuple(
        f"command line: --{name} is ignored ({why})" for name, why in IGNORED.items()
    )
    assert config.source == "command line"

    # what is left is the connection, field by field as its .ovpn file would give it
    path = tmp_path / "nm.ovpn"
    path.write_text(equivalent_ovpn(pki))
    from_file = read_command_line([str(path)]).load()
    assert from_file.warnings == ()
    for section in ("transport", "tls", "data", "routing", "client"):
        assert getattr(config, section) == getattr(from_file, section), section
    assert config.transport.remotes == (
        Remote("vpn.example.com", 1194, "udp"),
        Remote("vpn2.example.com", 443, "tcp"),
    )
    assert (config.transport.explicit_exit_notify, config.transport.server_poll_timeout) == (
        1,
        30.0,
    )
    assert config.tls.auth_key is not None and config.tls.key_direction == 1
    assert config.tls.verify_x509_name == (SERVER_NAME, "name")
    assert (config.tls.remote_cert_tls, config.tls.version_min, config.tls.reneg_sec) == (
        "server",
        "1.2",
        0,
    )
    assert config.data.ciphers == ("AES-256-GCM", "AES-128-GCM") and config.data.auth == "SHA256"
    client = config.client
    assert client.auth_user_pass_required and client.username is None and client.auth_nocache
    assert (client.auth_retry, client.script_security) == ("interact", 2)
    assert config.routing.dev == "tun" and not config.routing.nopull


def test_every_nm_option_is_classified(pki: Pki) -> None:
    # implemented, or in exactly one of the lists above: nothing NM sends is unknown
    implemented = {
        "remote", "explicit-exit-notify", "connect-timeout", "dev", "data-ciphers", "auth",
        "auth-nocache", "tls-auth", "tls-version-min", "verify-x509-name", "remote-cert-tls",
        "reneg-sec", "script-security", "auth-retry", "client", "ca", "cert", "key",
        "auth-user-pass",
    }  # fmt: skip
    names = {a[2:] for a in nm_argv(pki) if a.startswith("--")}
    assert names == implemented | set(REFUSED) | set(IGNORED)
    assert not (implemented & set(REFUSED)) and not (set(REFUSED) & set(IGNORED))
