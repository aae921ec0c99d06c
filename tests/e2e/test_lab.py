"""Self-tests of the lab: a stock OpenVPN server starts in its namespace for each option set,
and a *stock OpenVPN client* (not vpnstack) in a peer namespace connects with the generated
client config. No vpnstack client code is involved here; this proves the fixture itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import StartLab
from vpnstack.config import load_config
from vpnstack.lab.netns import namespace_exists
from vpnstack.lab.server import OpenVPNLab, ServerOptions

CASES = {
    "tls-crypt-ec-default": ServerOptions(),
    "tls-auth-sha256-aes128gcm": ServerOptions(
        wrapping="tls-auth", auth="SHA256", data_ciphers=("AES-128-GCM",)
    ),
    "no-wrap": ServerOptions(wrapping="none"),
    "chacha-only": ServerOptions(data_ciphers=("CHACHA20-POLY1305",)),
    "tls12-max": ServerOptions(tls_version_max="1.2"),
    "rsa": ServerOptions(key_type="rsa"),
}

# What the stock client's or the server's log must say for each case, once connected.
EXPECTED_LOG = {
    "tls-crypt-ec-default": [r"Data Channel: cipher 'AES-256-GCM'", r"Control Channel: TLSv1\.3"],
    "tls-auth-sha256-aes128gcm": [
        r"Data Channel: cipher 'AES-128-GCM'",
        r"Using 256 bit message hash 'SHA256' for HMAC authentication",
    ],
    "no-wrap": [r"Data Channel: cipher 'AES-256-GCM'"],
    "chacha-only": [r"Data Channel: cipher 'CHACHA20-POLY1305'"],
    "tls12-max": [r"Control Channel: TLSv1\.2"],
    "rsa": [r"peer certificate: 2048 bits? RSA"],
}


def hex_key(path: str) -> bytes:
    """The bytes of a static key file, read independently of vpnstack's parser."""
    text = Path(path).read_text()
    body = text.split("-----BEGIN OpenVPN Static key V1-----")[1].split("-----END")[0]
    return bytes.fromhex("".join(body.split()))


def udp_ports_in(namespace: str) -> set[int]:
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, "ss", "-Huln"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


@contextmanager
def stock_client(
    lab: OpenVPNLab, tmp_path: Path, name: str = "client", **overrides: object
) -> Iterator[Path]:
    """Run Debian's openvpn as a client in a peer namespace; yield its log path."""
    peer = lab.add_peer_namespace()
    config = lab.write_client_config(
        str(tmp_path / f"{name}.ovpn"), remote_host=str(peer.server_ipv4), **overrides
    )
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            peer.namespace,
            "openvpn",
            "--config",
            config,
            "--log",
            str(log),
            "--disable-dco",
            "--connect-retry-max",
            "1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield log
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_for_log(log: Path, pattern: str, timeout: float = 15.0) -> str:
    """Wait (bounded) until ``pattern`` appears in the log; return the log text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in the log after {timeout} s:\n{text}")


def ping(namespace: str, address: str) -> bool:
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, "ping", "-c", "1", "-W", "2", address],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return proc.returncode == 0


@pytest.mark.parametrize("case", list(CASES))
def test_server_starts_and_stock_client_connects(
    openvpn_lab: StartLab, tmp_path: Path, case: str
) -> None:
    options = CASES[case]
    lab = openvpn_lab(options)
    assert lab.is_running()
    assert lab.port in udp_ports_in(lab.namespace)
    assert "Initialization Sequence Completed" in lab.log_text()

    # the generated client config parses, and matches the server's files
    cfg = load_config(lab.write_client_config(str(tmp_path / "lab.ovpn")))
    assert lab.pki is not None
    assert [(r.host, r.port) for r in cfg.transport.remotes] == [
        (str(lab.server_address), lab.port)
    ]
    assert cfg.tls.ca == Path(lab.pki.root_ca).read_bytes()
    assert cfg.data.ciphers == options.data_ciphers
    assert cfg.data.auth == options.auth
    assert cfg.tls.remote_cert_tls == "server"
    assert cfg.tls.verify_x509_name == ("server.vpnstack.test", "name")
    if options.wrapping == "tls-crypt":
        assert cfg.tls.crypt_key == hex_key(lab.pki.tls_crypt_key)
    elif options.wrapping == "tls-auth":
        assert cfg.tls.auth_key == hex_key(lab.pki.tls_auth_key)
        assert cfg.tls.key_direction == 1
    else:
        assert cfg.tls.auth_key is None and cfg.tls.crypt_key is None

    # a stock OpenVPN client accepts the same config and gets a working tunnel
    with stock_client(lab, tmp_path) as log:
        text = wait_for_log(log, "Initialization Sequence Completed")
        text = wait_for_log(log, "Data Channel: cipher")
        for pattern in EXPECTED_LOG[case]:
            assert re.search(pattern, text + lab.log_text()), pattern
        assert "route 192.0.2.0 255.255.255.0" in text  # the pushed route arrived
        assert ping(lab.peers[0].namespace, str(lab.tunnel_server_address))


@pytest.mark.parametrize(
    ("variant", "pattern"),
    [
        ("no-serverauth", r"VERIFY EKU ERROR"),
        ("other-ca", r"VERIFY ERROR"),
    ],
)
def test_bad_server_certificates_are_refused_by_stock_client(
    openvpn_lab: StartLab, tmp_path: Path, variant: str, pattern: str
) -> None:
    lab = openvpn_lab(ServerOptions(server_cert=variant))  # type: ignore[arg-type]
    with stock_client(lab, tmp_path) as log:
        text = wait_for_log(log, r"TLS Error|VERIFY ERROR|EKU")
        assert re.search(pattern, text)
        assert "Initialization Sequence Completed" not in text


def test_no_serverauth_cert_is_refused_only_by_remote_cert_tls(
    openvpn_lab: StartLab, tmp_path: Path
) -> None:
    """The no-serverauth certificate is otherwise valid: without the EKU check it connects."""
    lab = openvpn_lab(ServerOptions(server_cert="no-serverauth"))
    with stock_client(lab, tmp_path, remote_cert_tls=False) as log:
        wait_for_log(log, "Initialization Sequence Completed")


def test_password_auth(openvpn_lab: StartLab, tmp_path: Path) -> None:
    lab = openvpn_lab(ServerOptions(credentials=("alice", "correct horse")))
    cfg = load_config(lab.write_client_config(str(tmp_path / "pw.ovpn")))
    assert (cfg.client.username, cfg.client.password) == ("alice", "correct horse")
    with stock_client(lab, tmp_path, "good") as log:
        wait_for_log(log, "Initialization Sequence Completed")
    with stock_client(lab, tmp_path, "bad", credentials=("alice", "wrong")) as log:
        wait_for_log(log, "AUTH_FAILED")


def test_labs_coexist_and_stop_cleans_up(openvpn_lab: StartLab) -> None:
    first = openvpn_lab(ServerOptions())
    second = openvpn_lab(ServerOptions(wrapping="none"))
    assert first.namespace != second.namespace
    assert first.server_address != second.server_address
    pid, namespace, directory = first.pid, first.namespace, first.directory
    assert pid is not None and directory is not None
    first.stop()
    assert not namespace_exists(namespace)
    assert not os.path.exists(directory)
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert second.is_running()
    first.stop()  # idempotent


def test_server_ipv6_address_reachable(openvpn_lab: StartLab) -> None:
    lab = openvpn_lab(ServerOptions())
    proc = subprocess.run(
        ["ping", "-6", "-c", "1", "-W", "2", str(lab.server_address6)],
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
