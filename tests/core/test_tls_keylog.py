"""TLS keylog (issue 12 item 2): with ``keylog`` set (``SSLKEYLOGFILE``), the control
channel's TLS secrets are appended to that file in the NSS key log format, created 0600, with
one warning; without it nothing is written, and no secret appears in any output."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import attrs
import pytest
from OpenSSL import SSL

from tests.core.test_session import CLIENT_SID, PUSH_BASIC, Driver, config
from tests.core.tls_helpers import ScriptedServer, shared_pki
from vpnstack.core.tlssession.progress import SessionProgress
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.settings import session_settings

TLS13_LABELS = {
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "EXPORTER_SECRET",
}


def handshake(keylog: str | None, max_version: int) -> tuple[SessionCore, Driver]:
    settings = session_settings(config())
    settings = attrs.evolve(settings, tls=attrs.evolve(settings.tls, keylog=keylog))
    server = ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]], max_version=max_version)
    core = SessionCore(settings, local_session_id=CLIENT_SID)
    core.start(100.0)
    driver = Driver(core, server)
    driver.pump(100.0)
    assert core.tunnel_up
    return core, driver


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param(SSL.TLS1_3_VERSION, TLS13_LABELS, id="tls1.3"),
        pytest.param(SSL.TLS1_2_VERSION, {"CLIENT_RANDOM"}, id="tls1.2"),
    ],
)
def test_keylog_holds_the_sessions_secrets_in_nss_format(
    tmp_path: Path, version: int, expected: set[str]
) -> None:
    path = tmp_path / "keys.log"
    path.write_text("# an earlier session\n")
    os.chmod(path, 0o600)
    core, driver = handshake(str(path), version)
    lines = path.read_text().splitlines()
    assert lines[0] == "# an earlier session"  # appended, never truncated
    entries = [line.split(" ") for line in lines[1:]]
    assert {e[0] for e in entries} == expected
    client_random = driver.server.tls.conn.client_random()
    assert client_random is not None
    for label, random_hex, secret in entries:
        assert random_hex == client_random.hex()  # this session's ClientHello random
        # TLS 1.2: the 48-byte master secret; TLS 1.3 here: SHA-384 secrets (AES-256-GCM)
        assert re.fullmatch("[0-9a-f]{96}", secret), (label, secret)
    warnings = [
        o.detail
        for o in driver.seen
        if isinstance(o, SessionProgress) and o.detail.startswith("warning:")
    ]
    assert warnings == [
        f"warning: TLS secrets of the control channel are appended to {path} (SSLKEYLOGFILE): "
        "that file decrypts this session's control channel, including its password and keys; "
        "delete it when done"
    ]
    # No secret leaves by another way: not in any output, nor in the settings' repr.
    secrets = [e[2] for e in entries]
    shown = " ".join(repr(o) for o in driver.seen) + repr(core._settings)
    assert not any(secret in shown for secret in secrets)


def test_keylog_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new.log"
    handshake(str(path), SSL.TLS1_3_VERSION)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().splitlines()) == 5


def test_no_keylog_without_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _, driver = handshake(None, SSL.TLS1_3_VERSION)
    assert list(tmp_path.iterdir()) == []
    assert not any(
        isinstance(o, SessionProgress) and "SSLKEYLOGFILE" in o.detail for o in driver.seen
    )


def test_the_settings_builder_takes_sslkeylogfile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", "/tmp/somewhere.log")
    assert session_settings(config()).tls.keylog == "/tmp/somewhere.log"
    monkeypatch.setenv("SSLKEYLOGFILE", "")
    assert session_settings(config()).tls.keylog is None
    monkeypatch.delenv("SSLKEYLOGFILE")
    assert session_settings(config()).tls.keylog is None
