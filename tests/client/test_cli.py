"""vpnstack-client's command line: option names, overrides, exit statuses, --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpnstack.cli import build_parser, overrides_from, run
from vpnstack.client.policy import EXIT_USAGE
from vpnstack.lab.pki import Pki


def test_options_become_directives_applied_after_the_file() -> None:
    args = build_parser().parse_args(
        [
            "client.ovpn", "--verb", "4", "--remote", "vpn.example", "443", "udp",
            "--auth-user-pass", "--route-nopull", "--pull-filter", "ignore", "route ",
            "--pull-filter", "reject", "dhcp-option", "--explicit-exit-notify", "2",
            "--connect-retry", "3", "60",
        ]
    )
    assert args.config_file == "client.ovpn"
    assert overrides_from(args) == [
        ["remote", "vpn.example", "443", "udp"],
        ["connect-retry", "3", "60"],
        ["explicit-exit-notify", "2"],
        ["route-nopull"],
        ["pull-filter", "ignore", "route "],
        ["pull-filter", "reject", "dhcp-option"],
        ["auth-user-pass"],
        ["verb", "4"],
    ]


def test_help_groups_options_by_topic(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for topic in ("connection:", "TLS and keys:", "data channel:", "tunnel and routes:",
                  "authentication:", "logging:"):
        assert topic in text
    assert text.index("--remote") < text.index("--ca") < text.index("--data-ciphers")
    assert "--dns-mode" in text


def test_a_config_error_is_one_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "broken.ovpn"
    config.write_text("client\ndev tun\nremote vpn.example 1194\nfrobnicate yes\n")
    assert run([str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"vpnstack-client: {config}:4: ")
    assert "frobnicate" in err[0]


def test_a_bad_override_names_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lab_pki: Pki
) -> None:
    config = tmp_path / "c.ovpn"
    config.write_text(
        f"client\nremote vpn.example\nca {lab_pki.root_ca}\ncert {lab_pki.client.cert}\n"
        f"key {lab_pki.client.key}\n"
    )
    assert run([str(config), "--verb", "loud"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("vpnstack-client: ") and "command line" in err and "verb" in err


def test_the_config_file_is_needed_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run([])
    assert info.value.code == 2
    assert "a config file is needed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(["a.ovpn", "--config", "b.ovpn"])
    assert "give the config file once" in capsys.readouterr().err
