"""TLSClient against an in-process pyOpenSSL server over memory BIOs, with a generated PKI."""

from __future__ import annotations

import contextlib
import functools
import gc
import shutil
import subprocess
import weakref

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL

from tests.core.tls_helpers import PKI, Issued, TLSServer, client_config, make_leaf, make_pki
from vpnstack.core.tlssession.settings import TLSSettings
from vpnstack.core.tlssession.tlsclient import TLSClient, openvpn_subject
from vpnstack.errors import CertificateError, ConfigError, TLSError
from vpnstack.settings import tls_settings


@functools.cache
def pki(kind: str = "ec") -> PKI:
    return make_pki(kind)


def config(p: PKI, **kw: object) -> TLSSettings:
    return tls_settings(client_config(p, **kw))


def server_for(p: PKI, leaf: Issued | None = None, **kw: object) -> TLSServer:
    return TLSServer(
        leaf or p.server, [p.intermediate.cert], client_ca=p.root.cert, **kw  # type: ignore[arg-type]
    )


def handshake(client: TLSClient, server: TLSServer) -> None:
    """Move bytes both ways until both ends are done (bounded)."""
    client.start()
    for _ in range(20):
        server.feed(client.outgoing())
        client.feed(server.outgoing())
        if client.handshake_complete and server.handshake_complete:
            # TLS 1.3: the server's tickets and the client's Finished may still be in flight.
            server.feed(client.outgoing())
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_root_only_trust_accepts_server_sending_intermediate(kind: str) -> None:
    p = pki(kind)
    client = TLSClient(config(p, tls__remote_cert_tls="server"))
    server = server_for(p)
    handshake(client, server)
    assert client.server_subject == "C=DE, O=Example Org, CN=server.example"
    assert client.protocol_version == "TLSv1.3"


def test_ekm_without_context_matches_server_side() -> None:
    p = pki()
    client = TLSClient(config(p))
    server = server_for(p)
    handshake(client, server)
    label = b"EXPORTER-OpenVPN-datakeys"
    ours = client.export_keying_material(label, 256)
    assert len(ours) == 256
    assert ours == server.export(label, 256)
    # "No context" differs from "empty context" under TLS 1.2; under 1.3 also check the label.
    assert ours != server.export(b"EXPORTER-OpenVPN-other", 256)


def test_tls12_only_server_and_ekm_no_context_differs_from_empty_context() -> None:
    p = pki()
    client = TLSClient(config(p))
    server = server_for(p, max_version=SSL.TLS1_2_VERSION)
    handshake(client, server)
    assert client.protocol_version == "TLSv1.2"
    label = b"EXPORTER-OpenVPN-datakeys"
    ours = client.export_keying_material(label, 256)
    assert ours == server.export(label, 256)
    assert ours != server.conn.export_keying_material(label, 256, b"")


def test_application_data_both_ways_one_record_per_write() -> None:
    p = pki()
    client = TLSClient(config(p))
    server = server_for(p)
    handshake(client, server)
    client.write_application_data(b"hello\x00")
    client.write_application_data(b"world\x00")
    server.feed(client.outgoing())
    assert server.read() == b"hello\x00world\x00"
    server.write(b"PUSH_REPLY,ping 10\x00")
    client.feed(server.outgoing())
    assert client.read_application_data() == b"PUSH_REPLY,ping 10\x00"
    assert client.read_application_data() == b""


def test_tls_version_min_13_refuses_tls12_server() -> None:
    p = pki()
    client = TLSClient(config(p, tls__version_min="1.3"))
    server = server_for(p, max_version=SSL.TLS1_2_VERSION)
    client.start()
    with contextlib.suppress(SSL.Error):  # the server answers with a protocol_version alert
        server.feed(client.outgoing())
    with pytest.raises(TLSError, match="tls-version-min"):
        client.feed(server.outgoing())


def test_tls_version_max_12_gives_tls12() -> None:
    p = pki()
    client = TLSClient(config(p, tls__version_max="1.2"))
    server = server_for(p)
    handshake(client, server)
    assert client.protocol_version == "TLSv1.2"


def refused(cfg: TLSSettings, server: TLSServer) -> str:
    client = TLSClient(cfg)
    with pytest.raises(CertificateError) as info:
        handshake(client, server)
    assert not client.handshake_complete
    return str(info.value)


def test_other_ca_refused() -> None:
    p = pki()
    message = refused(config(p, tls__ca=p.other_ca.cert_pem), server_for(p))
    assert "not signed by the configured CA" in message


def test_missing_intermediate_refused() -> None:
    p = pki()
    server = TLSServer(p.server, [], client_ca=p.root.cert)
    assert "not signed by the configured CA" in refused(config(p), server)


def test_several_cas_in_ca_file() -> None:
    p = pki()
    client = TLSClient(config(p, tls__ca=p.other_ca.cert_pem + p.root.cert_pem))
    handshake(client, server_for(p))
    assert client.handshake_complete


def test_server_without_server_auth_refused_with_remote_cert_tls() -> None:
    p = pki()
    leaf = make_leaf("server.example", p.intermediate, eku=None)
    message = refused(config(p, tls__remote_cert_tls="server"), server_for(p, leaf))
    assert "lacks EKU serverAuth required by remote-cert-tls server" in message
    # Without remote-cert-tls the same certificate is accepted (no EKU at all).
    client = TLSClient(config(p))
    handshake(client, server_for(p, leaf))


def test_server_with_client_auth_eku_refused() -> None:
    p = pki()
    leaf = make_leaf("server.example", p.intermediate, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    message = refused(config(p, tls__remote_cert_tls="server"), server_for(p, leaf))
    assert "serverAuth" in message


def test_server_without_key_usage_refused_with_remote_cert_tls() -> None:
    p = pki()
    leaf = make_leaf("server.example", p.intermediate, key_usage=False)
    message = refused(config(p, tls__remote_cert_tls="server"), server_for(p, leaf))
    assert "keyUsage" in message


def test_expired_server_refused() -> None:
    p = pki()
    leaf = make_leaf("server.example", p.intermediate, expired=True)
    assert "expired" in refused(config(p), server_for(p, leaf))


@pytest.mark.parametrize(
    ("name", "kind", "ok"),
    [
        ("server.example", "name", True),
        ("server", "name", False),
        ("server", "name-prefix", True),
        ("client", "name-prefix", False),
        ("C=DE, O=Example Org, CN=server.example", "subject", True),
        ("CN=server.example", "subject", False),
    ],
)
def test_verify_x509_name(name: str, kind: str, ok: bool) -> None:
    p = pki()
    cfg = config(p, tls__verify_x509_name=(name, kind))
    if ok:
        client = TLSClient(cfg)
        handshake(client, server_for(p))
        assert client.handshake_complete
    else:
        message = refused(cfg, server_for(p))
        assert f"does not match verify-x509-name {name!r}" in message


def test_no_sni_sent() -> None:
    p = pki()
    server = server_for(p)
    handshake(TLSClient(config(p)), server)
    assert server.conn.get_servername() is None


def test_client_certificate_presented() -> None:
    p = pki()
    server = server_for(p)
    handshake(TLSClient(config(p)), server)
    peer = server.conn.get_peer_certificate(as_cryptography=True)
    assert peer is not None
    assert peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "client1"


def test_bad_config() -> None:
    p = pki()
    with pytest.raises(ConfigError, match="ca"):
        TLSClient(config(p, tls__ca=b"not a pem"))
    with pytest.raises(ConfigError, match="does not match"):
        TLSClient(config(p, tls__key=p.server.key_pem))
    with pytest.raises(ConfigError, match="TLS version"):
        TLSClient(config(p, tls__version_min="1.4"))


NAMEOPT = "sep_comma_plus_space,sname,utf8,esc_ctrl"  # OpenVPN's x509_get_subject flags


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_subject_format_matches_openssl_oneline_as_openvpn_prints_it() -> None:
    p = pki()
    leaf = make_leaf(
        "vpn+1, gw",
        p.root,
        subject_extra=[
            (NameOID.COUNTRY_NAME, "KG"),
            (NameOID.STATE_OR_PROVINCE_NAME, "NA"),
            (NameOID.LOCALITY_NAME, "Bishkek"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "Ünit"),
            (NameOID.EMAIL_ADDRESS, "me@example.org"),
        ],
    )
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-nameopt", NAMEOPT],
        input=leaf.cert_pem,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8").strip()
    assert out.startswith("subject=")
    assert openvpn_subject(leaf.cert.subject) == out.removeprefix("subject=")


def test_a_finished_client_is_freed_without_the_cyclic_garbage_collector() -> None:
    # The context's verify callback held the client (client -> connection -> context ->
    # callback -> client): each renegotiated key's OpenSSL memory waited for a full
    # collection, and the 10-minute soak's RSS grew by it.
    gc.disable()
    try:
        client = TLSClient(config(pki()))
        client.start()
        ref = weakref.ref(client)
        del client
        assert ref() is None
    finally:
        gc.enable()
