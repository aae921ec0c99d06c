"""Test helpers: a PKI generated with ``cryptography`` and a pyOpenSSL TLS *server* over
memory BIOs, used to exercise our TLS client, SessionCore and the tlssession service.

Nothing here is the code under test; the server side is plain pyOpenSSL.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_NOW = datetime.datetime.now(datetime.UTC)


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


@attrs.frozen
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(cn: str, extra: Sequence[tuple[x509.ObjectIdentifier, str]] = ()) -> x509.Name:
    attrs_ = [x509.NameAttribute(oid, value) for oid, value in extra]
    attrs_.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs_)


def make_ca(
    cn: str, *, parent: Issued | None = None, kind: str = "ec", path_length: int | None = None
) -> Issued:
    key = new_key(kind)
    subject = _name(cn, [(NameOID.ORGANIZATION_NAME, "vpnstack tests")])
    issuer = parent.cert.subject if parent else subject
    signer = parent.key if parent else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(days=1))
        .not_valid_after(_NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def make_leaf(
    cn: str,
    issuer: Issued,
    *,
    kind: str = "ec",
    eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.SERVER_AUTH,),
    key_usage: bool = True,
    subject_extra: Sequence[tuple[x509.ObjectIdentifier, str]] = (),
    expired: bool = False,
) -> Issued:
    key = new_key(kind)
    start = _NOW - datetime.timedelta(days=10 if expired else 1)
    end = _NOW - datetime.timedelta(days=1) if expired else _NOW + datetime.timedelta(days=30)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, subject_extra))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if key_usage:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=kind == "rsa",
                data_encipherment=False,
                key_agreement=kind == "ec",
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


@attrs.frozen
class PKI:
    """Root -> intermediate -> server; a client cert from the root; and a foreign CA."""

    root: Issued
    intermediate: Issued
    server: Issued
    client: Issued
    other_ca: Issued


def make_pki(kind: str = "ec") -> PKI:
    root = make_ca("vpnstack test root", kind=kind)
    intermediate = make_ca("vpnstack test intermediate", parent=root, kind=kind, path_length=0)
    server = make_leaf(
        "server.example",
        intermediate,
        kind=kind,
        subject_extra=[(NameOID.COUNTRY_NAME, "DE"), (NameOID.ORGANIZATION_NAME, "Example Org")],
    )
    client = make_leaf("client1", root, kind=kind, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    other_ca = make_ca("somebody else's CA", kind=kind)
    return PKI(root, intermediate, server, client, other_ca)


class TLSServer:
    """A pyOpenSSL TLS server over memory BIOs (the other end for our client)."""

    def __init__(
        self,
        leaf: Issued,
        chain: Sequence[x509.Certificate] = (),
        *,
        max_version: int | None = None,
        client_ca: x509.Certificate | None = None,
    ) -> None:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.use_certificate(leaf.cert)
        ctx.use_privatekey(leaf.key)
        for cert in chain:
            ctx.add_extra_chain_cert(cert)
        if max_version is not None:
            ctx.set_max_proto_version(max_version)
        if client_ca is not None:
            from OpenSSL import crypto

            store = ctx.get_cert_store()
            assert store is not None
            store.add_cert(crypto.X509.from_cryptography(client_ca))
            ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, None)
        self.conn = SSL.Connection(ctx, None)
        self.conn.set_accept_state()
        self.handshake_complete = False

    def feed(self, data: bytes) -> None:
        if data:
            self.conn.bio_write(data)
        if not self.handshake_complete:
            try:
                self.conn.do_handshake()
            except SSL.WantReadError:
                return
            self.handshake_complete = True

    def outgoing(self) -> bytes:
        out = b""
        while True:
            try:
                chunk = self.conn.bio_read(65536)
            except SSL.WantReadError:
                return out
            if not chunk:
                return out
            out += chunk

    def read(self) -> bytes:
        out = b""
        while True:
            try:
                out += self.conn.recv(65536)
            except SSL.WantReadError:
                return out

    def write(self, data: bytes) -> None:
        self.conn.sendall(data)

    def export(self, label: bytes, length: int) -> bytes:
        return self.conn.export_keying_material(label, length, None)
