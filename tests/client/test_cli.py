"""vpnstack-client's command line: the config grammar as options, argv order, exit statuses."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from vpnstack.cli import OWN_OPTIONS, PROG, help_text, read_command_line, run
from vpnstack.client.policy import EXIT_OK, EXIT_USAGE
from vpnstack.config import DIRECTIVES, TOPICS, Config, Remote
from vpnstack.errors import ConfigError
from vpnstack.lab.pki import Pki


def creds(pki: Pki) -> list[str]:
    """The options naming the lab client's CA, certificate and key."""
    return ["--ca", pki.root_ca, "--cert", pki.client.cert, "--key", pki.client.key]


def load(argv: list[str]) -> Config:
    """What the CLI would run with (the same code as ``run``)."""
    return read_command_line(argv).load()


def write(path: Path, *lines: str) -> str:
    path.write_text("".join(f"{line}\n" for line in lines))
    return str(path)


@pytest.fixture
def profile(tmp_path: Path, lab_pki: Pki) -> str:
    """A complete client file: verb 3, two remotes."""
    return write(
        tmp_path / "client.ovpn",
        "client",
        "dev tun",
        "remote file-1.example 1194",
        "remote file-2.example 1195",
        f"ca {lab_pki.root_ca}",
        f"cert {lab_pki.client.cert}",
        f"key {lab_pki.client.key}",
        "verb 3",
    )


# --- argv order: as openvpn processes its argv, left to right ----------------------------------


def test_an_option_after_the_config_overrides_it(profile: str) -> None:
    assert load(["--config", profile, "--verb", "5"]).client.verb == 5
    assert load([profile, "--verb", "5"]).client.verb == 5  # bare first argument: --config


def test_the_config_overrides_an_option_before_it(profile: str) -> None:
    assert load(["--verb", "5", "--config", profile]).client.verb == 3
    # what the file does not set stays as the command line said
    cfg = load(["--verb", "5", "--mute", "7", "--config", profile])
    assert (cfg.client.verb, cfg.client.mute) == (3, 7)


def test_two_configs_and_options_in_any_order(tmp_path: Path, profile: str) -> None:
    second = write(tmp_path / "more.ovpn", "verb 4", "remote file-3.example 1196", "mute 2")
    cfg = load(["--mute", "9", "--config", profile, "--config", second, "--verb", "6"])
    assert (cfg.client.verb, cfg.client.mute) == (6, 2)
    assert cfg.source == profile  # the first config file, as openvpn's options->config
    cfg = load(["--config", second, "--config", profile])
    assert (cfg.client.verb, cfg.client.mute, cfg.source) == (3, 2, second)


def test_remotes_from_argv_and_files_join_in_argv_order(tmp_path: Path, profile: str) -> None:
    # openvpn's "remote": each one, from argv or a file, is appended to one remote list
    cfg = load(
        ["--remote", "cli-1.example", "--config", profile, "--remote", "cli-2.example", "53"]
    )
    assert cfg.transport.remotes == (
        Remote("cli-1.example", 1194, "udp"),
        Remote("file-1.example", 1194, "udp"),
        Remote("file-2.example", 1195, "udp"),
        Remote("cli-2.example", 53, "udp"),
    )
    # a later --port is the default of every remote without its own, as in a file
    cfg = load(["--remote", "cli-1.example", "--config", profile, "--port", "443"])
    assert cfg.transport.remotes[0] == Remote("cli-1.example", 443, "udp")


def test_connection_blocks_win_over_command_line_remotes(tmp_path: Path, lab_pki: Pki) -> None:
    path = write(
        tmp_path / "blocks.ovpn",
        "client",
        f"ca {lab_pki.root_ca}",
        f"cert {lab_pki.client.cert}",
        f"key {lab_pki.client.key}",
        "<connection>",
        "remote block.example 1194",
        "</connection>",
    )
    cfg = load(["--remote", "before.example", "--config", path, "--remote", "after.example"])
    assert cfg.transport.remotes == (Remote("block.example", 1194, "udp"),)
    assert cfg.warnings == (
        "command line: --remote is ignored: it comes after the <connection> blocks",
        "command line: --remote before.example is ignored because the config has <connection>"
        " blocks (put it in a block of its own)",
    )


def test_an_argument_never_starts_with_two_dashes(profile: str) -> None:
    # openvpn: "--" starts the next option, so "--verb --mute 2" gives verb no argument
    with pytest.raises(ConfigError, match="--verb takes 1 argument"):
        load([profile, "--verb", "--mute", "2"])
    # and a word after an option's arguments is one argument too many
    with pytest.raises(ConfigError, match=r"--verb takes 1 argument\(s\), got 2"):
        load([profile, "--verb", "4", "extra"])


# --- no config file at all ---------------------------------------------------------------------


def test_a_run_without_a_config_file(lab_pki: Pki) -> None:
    options = ["--remote-cert-tls", "server", "--verb", "4"]
    cfg = load(["--client", "--remote", "vpn.example", "1194", "udp", *creds(lab_pki), *options])
    assert cfg.source == "command line"
    assert cfg.transport.remotes == (Remote("vpn.example", 1194, "udp"),)
    assert cfg.tls.ca == Path(lab_pki.root_ca).read_bytes()
    assert cfg.tls.remote_cert_tls == "server" and cfg.client.verb == 4
    assert cfg.warnings == ()


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("--client", "command line: not a client config: add --client"),
        ("--remote", "command line: no --remote: add --remote HOST [PORT]"),
        ("--ca", "command line: no --ca: add --ca FILE with the server's CA certificate"),
        ("--key", "command line: --cert without --key: add the key"),
    ],
)
def test_checks_of_the_whole_name_options_without_a_file(
    lab_pki: Pki, drop: str, message: str
) -> None:
    argv = ["--client", "--remote", "vpn.example", *creds(lab_pki)]
    at = argv.index(drop)
    del argv[at : at + (1 if drop == "--client" else 2)]
    with pytest.raises(ConfigError) as info:
        load(argv)
    assert str(info.value).startswith(message)


def test_relative_paths_are_relative_to_the_cwd_and_cd(
    tmp_path: Path, lab_pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    for name, source in (("ca.crt", lab_pki.root_ca), ("c.crt", lab_pki.client.cert),
                         ("c.key", lab_pki.client.key)):  # fmt: skip
        (keys / name).write_bytes(Path(source).read_bytes())
    (keys / "more.ovpn").write_text("verb 4\n")
    monkeypatch.chdir(tmp_path)
    base = ["--client", "--remote", "h", "--ca", "ca.crt", "--cert", "c.crt", "--key", "c.key"]
    with pytest.raises(ConfigError, match="cannot read the 'ca' file"):
        load(base)
    cfg = load(["--cd", "keys", *base, "--config", "more.ovpn", "--status", "st.txt"])
    assert cfg.client.verb == 4 and cfg.client.status_file == str(keys / "st.txt")
    monkeypatch.chdir(keys)
    assert load(base).tls.ca == Path(lab_pki.root_ca).read_bytes()
    with pytest.raises(ConfigError, match="'/nonexistent' is not a directory"):
        load(["--cd", "/nonexistent", *base])


def test_a_config_file_including_itself_stops(tmp_path: Path) -> None:
    path = write(tmp_path / "loop.ovpn", "config loop.ovpn")
    with pytest.raises(ConfigError, match="nest deeper than 10 levels") as info:
        load([path])
    assert (info.value.path, info.value.line) == (path, 1)


# --- every directive is an option --------------------------------------------------------------


def _args(count: int) -> list[str]:
    return ["1"] * count


@pytest.mark.parametrize("name", sorted(DIRECTIVES))
def test_every_directive_is_an_option_with_its_arity(profile: str, name: str) -> None:
    spec = DIRECTIVES[name]
    if not spec.command_line:
        with pytest.raises(ConfigError) as info:
            load([profile, f"--{name}", *_args(spec.min_args)])
        assert f"--{name} can only be given in a config file" in info.value.message
        return
    if spec.kind == "refused":  # whatever the arguments: the same reason as in a file
        for count in {spec.min_args, spec.min_args + 1}:
            with pytest.raises(ConfigError) as info:
                load([profile, f"--{name}", *_args(count)])
            assert info.value.path == "command line"
            assert info.value.message == f"{spec.help}; drop --{name}"
        return
    too_few = spec.min_args - 1
    too_many = None if spec.max_args is None else spec.max_args + 1
    for count in (too_few, too_many):
        if count is None or count < 0:
            continue
        if name == "setenv" and count > 2:
            continue  # setenv NAME VALUE | opt DIRECTIVE ...: setenv checks the forms itself
        with pytest.raises(ConfigError) as info:
            load([profile, f"--{name}", *_args(count)])
        assert info.value.path == "command line" and info.value.line is None
        assert info.value.message.startswith(f"--{name} takes "), info.value.message
        assert info.value.message.endswith(f"argument(s), got {count}")
    if spec.kind == "ignored":
        cfg = load([profile, f"--{name}", *_args(spec.min_args)])
        assert cfg.warnings == (f"command line: --{name} is ignored ({spec.help})",)


def test_unknown_and_file_only_options(profile: str) -> None:
    with pytest.raises(ConfigError) as info:
        load([profile, "--frobnicate", "yes"])
    assert str(info.value) == (
        "command line: unknown option --frobnicate: vpnstack does not implement it; drop it"
    )
    # ignore-unknown-option works from the command line too, for the options after it
    cfg = load([profile, "--ignore-unknown-option", "frobnicate", "--frobnicate", "yes"])
    assert cfg.warnings == (
        "command line: unknown directive --frobnicate ignored (ignore-unknown-option/setenv opt)",
    )
    with pytest.raises(ConfigError, match=r"--ca \[inline\]: inline data can only come from"):
        load([profile, "--ca", "[inline]"])


# --- --help, --version, exit statuses ---------------------------------------------------------


def test_version_names_the_package_and_the_protocol_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["--version"]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{PROG} (vpnstack) {importlib.metadata.version('vpnstack')}",
        "implements the OpenVPN 2.6 client protocol, with the 2.7 data-channel epochs",
    ]
    # as with openvpn, nothing else is read: not even a missing config file
    assert run(["/nonexistent.ovpn", "--version"]) == EXIT_OK


def test_help_lists_every_directive_by_topic(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == EXIT_OK
    text = capsys.readouterr().out
    assert text == help_text()
    headings = [text.index(f"\n{topic}:\n") for topic in TOPICS]
    assert headings == sorted(headings)
    lines = text.splitlines()
    for name, spec in DIRECTIVES.items():
        line = next(line for line in lines if f"{line} ".startswith(f"  --{name} "))
        topic_start = headings[TOPICS.index(spec.topic)]
        assert text.index(f"\n{line}\n") > topic_start, name
    for name in OWN_OPTIONS:
        assert f"  --{name}" in text
    assert "[refused: the management interface is not supported" in text
    assert "[ignored: vpnstack does not drop privileges itself]" in text


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a config file (vpnstack-client FILE or --config FILE) or the options"),
        (["-h"], "'-h' is not an option: options are --NAME followed by their arguments"),
        (["--dns-mode", "magic"], "--dns-mode magic: use one of auto, resolved, resolv-conf"),
        (["--help", "me"], "--help takes 0 argument(s), got 1"),
        (["--config", "/nonexistent.ovpn"], "--config: cannot read the config file"),
        (["CONFIG", "--verb", "loud"], "--verb: bad number 'loud', use 0..11"),
    ],
)
def test_a_bad_command_line_is_status_2_naming_the_option(
    profile: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [profile if a == "CONFIG" else a for a in argv]
    assert run(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"{PROG}: command line: {message}"), err
    assert err.count("\n") == 1


def test_dns_mode_is_vpnstack_clients_own(profile: str) -> None:
    command_line = read_command_line(["--dns-mode", "none", "--config", profile])
    assert command_line.dns_mode == "none" and command_line.action == "run"
    assert [d.name for d in command_line.directives] == ["config"]
