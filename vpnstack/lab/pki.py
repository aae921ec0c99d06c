"""A throw-away PKI for the lab server and the tests, generated at run time.

How this works: ``generate_pki(directory)`` creates, with ``cryptography``:

* a root CA (the only certificate a client trusts) and an intermediate CA signed by it;
* server certificates signed by the intermediate, so the server must send its chain:
  ``server`` (EKU serverAuth, CN ``server.vpnstack.test``) and ``server-noeku`` (same name,
  no EKU extension at all, for the ``remote-cert-tls server`` refusal test: a TLS library
  accepts it, only the EKU check of ``remote-cert-tls server`` refuses it);
* a client certificate (EKU clientAuth) signed by the intermediate;
* an unrelated "other" root CA with its own ``other-server`` certificate (wrong-CA test);
* on request (``issue_client_cert``), further client certificates from the intermediate:
  expired, or with another extendedKeyUsage (the refusal tests);
* two static keys (tls-auth and tls-crypt) written with ``format_static_key``;
* on request (``generate_tls_crypt_v2_keys``), a tls-crypt-v2 server key and a client key made
  for it, by ``openvpn --genkey`` (the only tool here that is not ``cryptography``).

Everything is written as PEM files into the given directory and described by a ``Pki`` record
of paths. Nothing here is ever checked into git; keys are generated per lab.
"""

from __future__ import annotations

import datetime
import os
import subprocess
from typing import Literal

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vpnstack.core.controlchannel.statickey import STATIC_KEY_LEN, format_static_key
from vpnstack.lab.netns import LabError

KeyType = Literal["ec", "rsa"]
SERVER_NAME = "server.vpnstack.test"
"""CN (and DNS SAN) of every lab server certificate."""
CLIENT_NAME = "client.vpnstack.test"
"""CN of the lab client certificate."""

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@attrs.frozen
class CertKey:
    """Paths of one certificate and its private key."""

    cert: str
    """PEM certificate file."""
    key: str
    """PEM private key file (unencrypted PKCS#8)."""


@attrs.frozen
class Pki:
    """The files of one generated PKI."""

    directory: str
    """Folder holding every file below."""
    root_ca: str
    """PEM of the root CA certificate: the client's ``ca``."""
    intermediate_ca: str
    """PEM of the intermediate CA certificate."""
    server: CertKey
    """Server certificate with EKU serverAuth, signed by the intermediate."""
    server_chain: str
    """PEM of the server certificate followed by the intermediate (the server's ``cert``)."""
    server_noeku: CertKey
    """Server certificate without serverAuth (no EKU extension at all)."""
    server_noeku_chain: str
    """``server_noeku`` followed by the intermediate."""
    client: CertKey
    """Client certificate (EKU clientAuth), signed by the intermediate."""
    client_chain: str
    """PEM of the intermediate, to be sent by the client as ``extra-certs``."""
    server_ca_bundle: str
    """Root + intermediate: the server's ``ca`` (verifies client certificates)."""
    other_ca: str
    """PEM of an unrelated root CA."""
    other_server: CertKey
    """A server certificate (serverAuth, same name) signed by the unrelated CA."""
    tls_auth_key: str
    """Static key file for tls-auth."""
    tls_crypt_key: str
    """Static key file for tls-crypt."""
    intermediate_key: str | None = None
    """PEM private key of the intermediate CA (``issue_client_cert`` signs with it)."""
    key_type: KeyType = "ec"
    """Key type of every certificate of this PKI."""


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"key type must be 'ec' or 'rsa', not {key_type!r}")


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vpnstack lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject_cn: str,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    *,
    ca: bool,
    path_length: int | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    dns: str | None = None,
    expired: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    if expired:  # valid for a day, ten days ago
        now -= datetime.timedelta(days=10)
    subject = _name(subject_cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1 if expired else 30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
    else:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=isinstance(key, rsa.RSAPrivateKey),
            data_encipherment=False,
            key_agreement=isinstance(key, ec.EllipticCurvePrivateKey),
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
    builder = builder.add_extension(usage, critical=True)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
        critical=False,
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if dns is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: str, data: bytes, *, secret: bool = False) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def generate_pki(directory: str, *, key_type: KeyType = "ec") -> Pki:
    """Generate the lab PKI (see the module docstring) as PEM files in ``directory``."""
    os.makedirs(directory, exist_ok=True)

    def p(name: str) -> str:
        return os.path.join(directory, name)

    root_key = _new_key(key_type)
    root = _cert("vpnstack lab root CA", root_key, None, root_key, ca=True, path_length=1)
    inter_key = _new_key(key_type)
    inter = _cert("vpnstack lab intermediate CA", inter_key, root, root_key, ca=True, path_length=0)

    def leaf(
        cn: str,
        eku: list[x509.ObjectIdentifier],
        issuer: x509.Certificate,
        issuer_key: PrivateKey,
        base: str,
    ) -> tuple[CertKey, x509.Certificate]:
        key = _new_key(key_type)
        cert = _cert(cn, key, issuer, issuer_key, ca=False, eku=eku, dns=cn)
        files = CertKey(
            cert=_write(p(f"{base}.crt"), _pem(cert)),
            key=_write(p(f"{base}.key"), _key_pem(key), secret=True),
        )
        return files, cert

    server, server_cert = leaf(
        SERVER_NAME, [ExtendedKeyUsageOID.SERVER_AUTH], inter, inter_key, "server"
    )
    # no EKU extension at all: TLS libraries accept it, only remote-cert-tls refuses it
    noeku, noeku_cert = leaf(SERVER_NAME, [], inter, inter_key, "server-noeku")
    client, _ = leaf(CLIENT_NAME, [ExtendedKeyUsageOID.CLIENT_AUTH], inter, inter_key, "client")

    other_key = _new_key(key_type)
    other = _cert("vpnstack lab other CA", other_key, None, other_key, ca=True, path_length=0)
    other_server, _ = leaf(
        SERVER_NAME, [ExtendedKeyUsageOID.SERVER_AUTH], other, other_key, "other-server"
    )

    return Pki(
        directory=directory,
        root_ca=_write(p("root-ca.crt"), _pem(root)),
        intermediate_ca=_write(p("intermediate-ca.crt"), _pem(inter)),
        server=server,
        server_chain=_write(p("server-chain.crt"), _pem(server_cert) + _pem(inter)),
        server_noeku=noeku,
        server_noeku_chain=_write(p("server-noeku-chain.crt"), _pem(noeku_cert) + _pem(inter)),
        client=client,
        client_chain=_write(p("client-chain.crt"), _pem(inter)),
        server_ca_bundle=_write(p("server-ca-bundle.crt"), _pem(root) + _pem(inter)),
        other_ca=_write(p("other-ca.crt"), _pem(other)),
        other_server=other_server,
        tls_auth_key=_write(p("ta.key"), new_static_key_text().encode(), secret=True),
        tls_crypt_key=_write(p("tc.key"), new_static_key_text().encode(), secret=True),
        intermediate_key=_write(p("intermediate-ca.key"), _key_pem(inter_key), secret=True),
        key_type=key_type,
    )


def issue_client_cert(
    pki: Pki,
    name: str,
    *,
    expired: bool = False,
    eku: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.CLIENT_AUTH,),
) -> CertKey:
    """A further client certificate signed by ``pki``'s intermediate CA, written as
    ``<name>.crt``/``<name>.key`` in its directory.

    ``expired``: its validity ended nine days ago (for the refusal tests); ``eku``: its
    extendedKeyUsage (empty: no such extension, which ``remote-cert-tls client`` refuses).
    """
    if pki.intermediate_key is None:
        raise LabError("this PKI has no intermediate CA key to sign with")
    with open(pki.intermediate_key, "rb") as f:
        inter_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(pki.intermediate_ca, "rb") as f:
        inter = x509.load_pem_x509_certificate(f.read())
    assert isinstance(inter_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    key = _new_key(pki.key_type)
    cert = _cert(name, key, inter, inter_key, ca=False, eku=list(eku), dns=name, expired=expired)
    base = os.path.join(pki.directory, name)
    return CertKey(
        cert=_write(f"{base}.crt", _pem(cert)),
        key=_write(f"{base}.key", _key_pem(key), secret=True),
    )


@attrs.frozen
class TlsCryptV2Keys:
    """A tls-crypt-v2 server key and one client key wrapped with it (docs §3.8)."""

    server_key: str
    """PEM "OpenVPN tls-crypt-v2 server key" file (``tls-crypt-v2`` on the server)."""
    client_key: str
    """PEM "OpenVPN tls-crypt-v2 client key" file (``tls-crypt-v2`` on the client)."""


def generate_tls_crypt_v2_keys(directory: str, name: str = "tc2") -> TlsCryptV2Keys:
    """Run ``openvpn --genkey`` for a new server key and a client key made for it.

    Local file operations only (Debian's openvpn 2.6): the client key holds Kc and WKc,
    WKc wrapped by the server key with the default timestamp metadata (299 bytes).
    """
    os.makedirs(directory, exist_ok=True)
    server = os.path.join(directory, f"{name}-server.key")
    client = os.path.join(directory, f"{name}-client.key")
    for argv in (
        ["openvpn", "--genkey", "tls-crypt-v2-server", server],
        ["openvpn", "--tls-crypt-v2", server, "--genkey", "tls-crypt-v2-client", client],
    ):
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise LabError(f"{' '.join(argv[:4])} failed ({done.returncode}): {output}")
    return TlsCryptV2Keys(server_key=server, client_key=client)


def new_static_key_text() -> str:
    """A fresh random "OpenVPN Static key V1" block (docs §3.5)."""
    return format_static_key(os.urandom(STATIC_KEY_LEN))
