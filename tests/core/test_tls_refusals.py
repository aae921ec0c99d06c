"""The server refuses us: every alert ends the session at once with one line saying why, and
a server that goes quiet instead is explained at once (docs §5.1; issue 8 item 1).

A real TLS server (``tls_helpers``, pyOpenSSL over memory BIOs) checks our client certificate;
with TLS 1.3 it does so after our Finished, so its alert arrives while we wait for its
key-method 2. ``now`` is always a literal.
"""

from __future__ import annotations

import io

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from OpenSSL import SSL

from tests.core.test_session import Driver, config
from tests.core.tls_helpers import (
    Issued,
    ScriptedServer,
    make_ca,
    make_leaf,
    shared_pki,
)
from vpnstack.client.output import Reporter
from vpnstack.core.tlssession.alerts import alert_name, tls_failure
from vpnstack.core.tlssession.machine import Phase
from vpnstack.core.tlssession.progress import SessionProgress
from vpnstack.core.tlssession.session import QUIET_AFTER, SessionCore
from vpnstack.errors import (
    CertificateError,
    ConfigError,
    HandshakeTimeout,
    ServerHalted,
    TLSError,
    VPNError,
)
from vpnstack.messages import ControlMessage, Stage, StateChange
from vpnstack.settings import session_settings

CLIENT_SID = b"\xc1\x1e\x17\x00\x00\x00\x00\x01"
VERSIONS = [
    pytest.param(SSL.TLS1_3_VERSION, id="tls1.3"),
    pytest.param(SSL.TLS1_2_VERSION, id="tls1.2"),
]


def refusing_server(
    max_version: int, *, silent: bool = False, ciphersuites: bytes | None = None
) -> ScriptedServer:
    """The scripted server; its TLS engine's failure is swallowed so that its alert goes out
    (``silent``: dropped with the session, as a stock OpenVPN 2.6 server does)."""
    server = ScriptedServer(shared_pki(), max_version=max_version, ciphersuites=ciphersuites)
    tls = server.tls
    feed = tls.feed

    def tolerant_feed(data: bytes) -> None:
        try:
            feed(data)
        except SSL.Error:
            if silent:
                tls.outgoing()  # the alert is written, then thrown away with the session
                tls.feed = lambda data: None  # type: ignore[method-assign]
                tls.outgoing = lambda: b""  # type: ignore[method-assign]

    tls.feed = tolerant_feed  # type: ignore[method-assign]
    return server


def run_until_error(server: ScriptedServer, cert: Issued | None) -> tuple[VPNError, SessionCore]:
    if cert is None:
        fields: dict[str, object] = {"tls__cert": None, "tls__key": None}
    else:
        fields = {"tls__cert": cert.cert_pem, "tls__key": cert.key_pem}
    core = SessionCore(session_settings(config(**fields)), local_session_id=CLIENT_SID)
    core.start(100.0)
    with pytest.raises(VPNError) as info:
        Driver(core, server).pump(100.0)
    return info.value, core


def other_ca_client() -> Issued:
    other = make_ca("a CA the server does not trust")
    return make_leaf("client1", other, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_client_certificate_from_another_ca_is_unknown_ca_at_once(version: int) -> None:
    error, core = run_until_error(refusing_server(version), other_ca_client())
    assert type(error) is CertificateError
    assert str(error) == (
        "the server rejected our certificate (alert unknown_ca): the cert/key in the config "
        "were not issued by the CA the server trusts"
    )
    # TLS 1.3: the handshake was done on our side, we were waiting for key-method 2.
    expected = Phase.KEY_EXCHANGE if version == SSL.TLS1_3_VERSION else Phase.TLS_HANDSHAKE
    assert core.phases() == {0: expected}


@pytest.mark.parametrize("version", VERSIONS)
def test_an_expired_client_certificate_is_certificate_expired(version: int) -> None:
    expired = make_leaf(
        "client1", shared_pki().root, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,), expired=True
    )
    error, _ = run_until_error(refusing_server(version), expired)
    assert type(error) is CertificateError
    assert str(error) == (
        "the server rejected our certificate (alert certificate_expired): it has expired (or "
        "is not yet valid by the server's clock): renew the client certificate"
    )


def test_no_client_certificate_with_tls13_is_certificate_required() -> None:
    error, _ = run_until_error(refusing_server(SSL.TLS1_3_VERSION), None)
    assert type(error) is CertificateError
    assert str(error) == (
        "the server rejected our certificate (alert certificate_required): the server "
        "requires a client certificate: add cert and key to the config"
    )


def test_no_tls_version_in_common_is_protocol_version() -> None:
    core = SessionCore(
        session_settings(config(tls__version_min="1.3")), local_session_id=CLIENT_SID
    )
    core.start(100.0)
    with pytest.raises(TLSError) as info:
        Driver(core, refusing_server(SSL.TLS1_2_VERSION)).pump(100.0)
    assert str(info.value) == (
        "the server refused the TLS handshake (alert protocol_version): no TLS version in "
        "common: check tls-version-min and tls-version-max against the server's"
    )


@pytest.mark.parametrize(
    ("reason", "name"),
    [
        ("tlsv13 alert certificate required", "certificate_required"),
        ("sslv3 alert bad certificate", "bad_certificate"),
        ("tlsv1 alert unknown ca", "unknown_ca"),
        ("sslv3 alert certificate expired", "certificate_expired"),
        ("tls alert certificate expired", "certificate_expired"),
        ("sslv3 alert certificate revoked", "certificate_revoked"),
        ("sslv3 alert unsupported certificate", "unsupported_certificate"),
        ("sslv3 alert handshake failure", "handshake_failure"),
        ("tlsv1 alert protocol version", "protocol_version"),
        ("tlsv1 alert access denied", "access_denied"),
        ("certificate verify failed", None),
    ],
)
def test_openssl_reason_strings_name_the_alert(reason: str, name: str | None) -> None:
    assert alert_name(reason) == name


@pytest.mark.parametrize(
    ("reason", "kind", "text"),
    [
        (
            "sslv3 alert bad certificate",
            CertificateError,
            "the server rejected our certificate (alert bad_certificate): the server's checks "
            "refused it (the server's log says which: e.g. remote-cert-tls client needs "
            "extendedKeyUsage clientAuth, or a tls-verify script said no)",
        ),
        (
            "sslv3 alert certificate revoked",
            CertificateError,
            "the server rejected our certificate (alert certificate_revoked): it is revoked on "
            "the server's CRL: get a new client certificate",
        ),
        (
            "sslv3 alert handshake failure",
            TLSError,
            "the server refused the TLS handshake (alert handshake_failure): no TLS cipher "
            "suite or key-exchange group in common: check tls-cipher, tls-ciphersuites and "
            "tls-groups against the server's",
        ),
        (
            "unsupported protocol",
            TLSError,
            "TLS handshake failed (unsupported protocol): the server chose a TLS version "
            "outside our tls-version-min/max",
        ),
    ],
)
def test_each_failure_is_a_typed_error_naming_what_to_fix(
    reason: str, kind: type[VPNError], text: str
) -> None:
    error = tls_failure(SSL.Error([("SSL routines", "", reason)]), after_handshake=True)
    assert type(error) is kind
    assert str(error) == text


def quiet_notices(outputs: list[object]) -> list[str]:
    return [
        o.detail
        for o in outputs
        if isinstance(o, SessionProgress) and o.detail.startswith("still waiting")
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_server_that_drops_us_without_its_alert_is_explained_after_three_seconds(
    version: int,
) -> None:
    client = other_ca_client()
    settings = session_settings(config(tls__cert=client.cert_pem, tls__key=client.key_pem))
    core = SessionCore(settings, local_session_id=CLIENT_SID)
    core.start(100.0)
    driver = Driver(core, refusing_server(version, silent=True))
    driver.pump(100.0)
    assert core.next_timer() == 100.0 + QUIET_AFTER
    assert quiet_notices(driver.timer(102.9)) == []
    notices = quiet_notices(driver.timer(103.0))
    if version == SSL.TLS1_3_VERSION:
        assert notices == [
            "still waiting: no answer from the server for 3 s after our TLSv1.3 handshake and "
            "key-method 2: most likely the server refused our certificate (not issued by the "
            "CA the server trusts, expired, revoked, or without the extendedKeyUsage "
            "clientAuth that remote-cert-tls client asks) and dropped the session without "
            "sending its alert; or its auth script is slow; the server's log says why; the "
            "attempt ends at hand-window"
        ]
    else:
        assert notices == [
            "still waiting: no answer from the server for 3 s to our certificate and TLS "
            "Finished: most likely the server refused our certificate (not issued by the CA "
            "the server trusts, expired, revoked, or without the extendedKeyUsage clientAuth "
            "that remote-cert-tls client asks) or our TLS parameters, and dropped the session "
            "without sending its alert; the server's log says why; the attempt ends at "
            "hand-window"
        ]
    assert quiet_notices(driver.timer(110.0)) == []  # said once per silence
    assert core.next_timer() == 160.0  # then only the hand-window
    with pytest.raises(HandshakeTimeout, match="did not complete within 60 s"):
        core.on_timer(160.0)


def test_an_unanswered_client_hello_is_explained_as_a_refused_handshake() -> None:
    core = SessionCore(session_settings(config()), local_session_id=CLIENT_SID)
    core.start(100.0)
    core.outputs()
    core.receive(
        ControlMessage(8, 0, b"", peer_session_id=b"\x5e\x55\x10\x00\x00\x00\x00\x01"), 100.5
    )
    core.outputs()
    core.on_timer(103.5)
    assert quiet_notices(core.outputs()) == [
        "still waiting: no answer from the server for 3 s to our TLS ClientHello: most likely "
        "the server refused the handshake (no TLS version in common: check "
        "tls-version-min/max; or no cipher suite or group in common: check tls-cipher, "
        "tls-ciphersuites, tls-groups); the server's log says why; the attempt ends at "
        "hand-window"
    ]


def test_a_healthy_session_never_reports_quiet() -> None:
    from tests.core.test_session import PUSH_BASIC

    server = ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]])
    core = SessionCore(session_settings(config()), local_session_id=CLIENT_SID)
    core.start(100.0)
    driver = Driver(core, server)
    driver.pump(100.0)
    assert core.tunnel_up
    for now in (103.0, 200.0, 1000.0):
        assert quiet_notices(driver.timer(now)) == []



def test_tls_ciphersuites_are_applied_and_a_mismatch_is_handshake_failure() -> None:
    server = refusing_server(SSL.TLS1_3_VERSION, ciphersuites=b"TLS_AES_128_GCM_SHA256")
    core = SessionCore(
        session_settings(config(tls__ciphersuites="TLS_CHACHA20_POLY1305_SHA256")),
        local_session_id=CLIENT_SID,
    )
    core.start(100.0)
    with pytest.raises(TLSError) as info:
        Driver(core, server).pump(100.0)
    assert str(info.value) == (
        "the server refused the TLS handshake (alert handshake_failure): no TLS cipher suite "
        "or key-exchange group in common: check tls-cipher, tls-ciphersuites and tls-groups "
        "against the server's"
    )


@pytest.mark.parametrize("field", ["cipher", "ciphersuites"])
def test_an_unknown_tls_cipher_is_a_config_error(field: str) -> None:
    with pytest.raises(ConfigError, match=f"tls-{field} 'NOPE': no cipher suite OpenSSL knows"):
        SessionCore(
            session_settings(config(**{f"tls__{field}": "NOPE"})), local_session_id=CLIENT_SID
        ).start(100.0)


def test_vpnstack_client_shows_the_notice_at_the_default_verbosity() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream=stream)
    reporter.stage(StateChange("tlssession", Stage.TLS_HANDSHAKE, "server session 00"))
    reporter.stage(StateChange("tlssession", Stage.TLS_HANDSHAKE, "still waiting: no answer"))
    reporter.stage(StateChange("tlssession", Stage.TLS_HANDSHAKE, "warning: TLS secrets"))
    lines = [line.split(" ", 2)[2] for line in stream.getvalue().splitlines()]
    assert lines == ["still waiting: no answer", "warning: TLS secrets"]


def test_a_close_notify_instead_of_key_method_2_says_what_it_likely_means() -> None:
    server = ScriptedServer(shared_pki())
    server._on_app_data = lambda data: server.tls.conn.shutdown()  # type: ignore[method-assign]
    core = SessionCore(session_settings(config()), local_session_id=CLIENT_SID)
    core.start(100.0)
    with pytest.raises(ServerHalted) as info:
        Driver(core, server).pump(100.0)
    assert info.value.reconnect
    assert str(info.value) == (
        "the server closed the TLS session of the control channel before answering our "
        "key-method 2: it most likely refused our certificate or our TLS parameters; the "
        "server's log says why"
    )
