"""The TLS client (core/tlssession/tlsclient.py): the server certificate as our verify
callback sees it (``tls-verify-certificate``), and the records of a server's first TLS 1.2
flight replayed, mutated, into a fresh ``TLSClient`` (``tls-client-records``; contract:
``TLSError``/``CertificateError``, the ``VPNError`` family).

During the handshake OpenSSL calls ``TLSClient._verify`` for every certificate the server
sends, trusted or not, so whatever certificate any peer (or a man in the middle, when there
is no tls-auth/tls-crypt) presents reaches ``to_cryptography()`` and ``openvpn_subject``, and
a CA-signed one also ``check_server_leaf``. An exception there is stored by pyOpenSSL and
re-raised from ``do_handshake`` as itself, not as ``SSL.Error``, so it escapes ``TLSClient``
untyped instead of becoming ``CertificateError``.

Input: ``[mode 1][DER]``. Even mode: the DER is a whole certificate as a peer would send it.
Odd mode: the DER is a TBSCertificate that the harness signs with the test CA's key, as a
CA that issued an odd certificate would. If OpenSSL cannot parse the result the handshake
never reaches the callback (skipped); otherwise OpenSSL's own verdict (``ok``, ``errnum``,
from an ``X509StoreContext`` holding the CA) and the certificate are handed to the real
``TLSClient._verify`` at depth 0. Contract: the callback returns True or False, never raises.
"""

from __future__ import annotations

import contextlib
import warnings

from cryptography import x509
from OpenSSL import crypto

from tests.fuzz.engine import Target, mutate_records, pack_records, unpack_records
from tests.fuzz.keys import _CA_KEY, CA_PEM, CLIENT_CERT_PEM, SERVER_CERT_DER
from vpnstack.config import parse_config
from vpnstack.core.tlssession.settings import TLSSettings
from vpnstack.core.tlssession.tlsclient import TLSClient, check_server_leaf, openvpn_subject
from vpnstack.settings import tls_settings

_CONFIGS: list[TLSSettings] = []
_ED25519 = bytes.fromhex("300506032b6570")
"""AlgorithmIdentifier of Ed25519."""


def _configs() -> list[TLSSettings]:
    if not _CONFIGS:
        head = f"client\ndev tun\nremote 192.0.2.1\n<ca>\n{CA_PEM}</ca>\nauth-user-pass\n"
        for extra in (
            "remote-cert-tls server\nverify-x509-name server name\n",
            "verify-x509-name 'C=SE, O=vpnstack fuzz, CN=server' subject\n",
        ):
            _CONFIGS.append(tls_settings(parse_config(head + extra)))
    return _CONFIGS


_STORE: crypto.X509Store | None = None


def _store() -> crypto.X509Store:
    global _STORE
    if _STORE is None:
        _STORE = crypto.X509Store()
        _STORE.add_cert(crypto.load_certificate(crypto.FILETYPE_PEM, CA_PEM.encode()))
    return _STORE


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def sign_tbs(tbs: bytes) -> bytes:
    """A certificate: ``tbs`` signed with the test CA's Ed25519 key."""
    signature = _der(0x03, b"\x00" + _CA_KEY.sign(tbs))
    return _der(0x30, tbs + _ED25519 + signature)


def _tbs_of(der: bytes) -> bytes:
    """The TBSCertificate inside a certificate (the first element of the outer SEQUENCE)."""
    pos = 1
    first = der[pos]
    pos += 1 + (first & 0x7F if first & 0x80 else 0)
    start = pos
    first = der[pos + 1]
    if first & 0x80:
        width = first & 0x7F
        length = int.from_bytes(der[pos + 2 : pos + 2 + width], "big")
        return der[start : pos + 2 + width + length]
    return der[start : pos + 2 + first]


def run(data: bytes) -> None:
    if not data:
        return
    der = data[1:] if data[0] % 2 == 0 else sign_tbs(data[1:])
    try:
        cert = crypto.load_certificate(crypto.FILETYPE_ASN1, der)
    except crypto.Error:
        return  # OpenSSL refuses it before any callback
    try:
        crypto.X509StoreContext(_store(), cert).verify_certificate()
        ok, errnum = 1, 0
    except crypto.X509StoreContextError as exc:
        ok, errnum = 0, int(exc.errors[0])
    for config in _configs():
        client = TLSClient(config)
        verify = getattr(client, "_verify", None)
        if verify is not None:
            verify(None, cert, errnum, 0, ok)
        else:  # pragma: no cover - the callback was renamed: run what it runs
            crypto_cert = cert.to_cryptography()
            openvpn_subject(crypto_cert.subject)
            if ok:
                check_server_leaf(crypto_cert, config)


def samples() -> tuple[bytes, ...]:
    client = crypto.load_certificate(crypto.FILETYPE_PEM, CLIENT_CERT_PEM.encode())
    ca = crypto.load_certificate(crypto.FILETYPE_PEM, CA_PEM.encode())
    client_der = crypto.dump_certificate(crypto.FILETYPE_ASN1, client)
    ca_der = crypto.dump_certificate(crypto.FILETYPE_ASN1, ca)
    assert sign_tbs(_tbs_of(SERVER_CERT_DER)) == SERVER_CERT_DER  # Ed25519 is deterministic
    return (
        b"\x00" + SERVER_CERT_DER,
        b"\x00" + client_der,
        b"\x00" + ca_der,
        b"\x01" + _tbs_of(SERVER_CERT_DER),
        b"\x01" + _tbs_of(client_der),
    )


_DER_WORDS = (
    bytes.fromhex("0603550403"),  # OID commonName
    bytes.fromhex("06032b6570"),  # OID Ed25519
    bytes.fromhex("0603551d25"),  # OID extKeyUsage
    bytes.fromhex("0603551d0f"),  # OID keyUsage
    bytes.fromhex("0603551d11"),  # OID subjectAltName
    bytes.fromhex("0c00"),  # empty UTF8String
    bytes.fromhex("1e020041"),  # BMPString
    bytes.fromhex("1c0400000041"),  # UniversalString
    bytes.fromhex("0101ff"),  # BOOLEAN TRUE
    bytes.fromhex("300a060355040313037878"),  # an extra attribute
)


def targets() -> list[Target]:
    return [
        Target("tls-verify-certificate", samples(), run, expected=(), dictionary=_DER_WORDS),
        Target(
            "tls-client-records",
            (server_flight(),),
            run_records,
            mutator=mutate_records,
            max_len=16384,
        ),
    ]


def handshake_with_certificate(der: bytes, settings: TLSSettings | None = None) -> None:
    """A real TLS handshake over memory BIOs in which a server presents ``der`` to a
    ``TLSClient``: what a crash found by this target does end to end (for regression tests).

    Raises whatever escapes ``TLSClient`` (``CertificateError`` is the documented answer);
    ``ValueError`` if no harness key matches the certificate's public key.
    """
    from OpenSSL import SSL

    from tests.fuzz.keys import _CLIENT_KEY, _SERVER_KEY

    ctx = SSL.Context(SSL.TLS_METHOD)
    cert = crypto.load_certificate(crypto.FILETYPE_ASN1, der)
    with warnings.catch_warnings():
        # cryptography may not parse ``der`` at all (that is the point), so the deprecated
        # pyOpenSSL X509 object is the only way to hand it to the server
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.use_certificate(cert)
    for key in (_SERVER_KEY, _CLIENT_KEY, _CA_KEY):
        try:
            ctx.use_privatekey(key)
            break
        except SSL.Error:
            continue
    else:
        raise ValueError("no harness key matches this certificate")
    server = SSL.Connection(ctx, None)
    server.set_accept_state()
    client = TLSClient(settings if settings is not None else _configs()[0])
    client.start()
    for _ in range(10):
        if client.handshake_complete:
            return
        outgoing = client.outgoing()
        if outgoing:
            server.bio_write(outgoing)
        with contextlib.suppress(SSL.Error):  # the server only has to send its flight
            server.do_handshake()
        answer = b""
        while True:
            try:
                chunk = server.bio_read(65536)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            answer += chunk
        if answer:
            client.feed(answer)


# --- the TLS records of a server's first flight -------------------------------------------


def _tls12_config() -> TLSSettings:
    head = f"client\ndev tun\nremote 192.0.2.1\n<ca>\n{CA_PEM}</ca>\nauth-user-pass\n"
    return tls_settings(parse_config(head + "remote-cert-tls server\ntls-version-max 1.2\n"))


_TLS12: list[TLSSettings] = []


def _split_records(stream: bytes) -> list[bytes]:
    records = []
    pos = 0
    while pos + 5 <= len(stream):
        length = int.from_bytes(stream[pos + 3 : pos + 5], "big")
        records.append(stream[pos : pos + 5 + length])
        pos += 5 + length
    return records


def server_flight() -> bytes:
    """The TLS 1.2 records a server answers our ClientHello with (ServerHello, Certificate,
    ServerKeyExchange, ServerHelloDone), packed with ``engine.pack_records``.

    TLS randoms make these bytes differ from run to run (OpenSSL cannot be seeded), but in
    TLS 1.2 the certificate travels in the clear and is verified before the key exchange, so
    a replayed (mutated) flight still reaches the record parser and the verify callback.
    """
    from OpenSSL import SSL

    from tests.fuzz.keys import _SERVER_KEY

    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    ctx.use_certificate(x509.load_der_x509_certificate(SERVER_CERT_DER))
    ctx.use_privatekey(_SERVER_KEY)
    server = SSL.Connection(ctx, None)
    server.set_accept_state()
    client = TLSClient(_tls12_config())
    client.start()
    server.bio_write(client.outgoing())
    with contextlib.suppress(SSL.WantReadError):
        server.do_handshake()
    flight = server.bio_read(65536)
    return pack_records(_split_records(flight))


def run_records(data: bytes) -> None:
    if not _TLS12:
        _TLS12.append(_tls12_config())
    client = TLSClient(_TLS12[0])
    client.start()
    client.outgoing()
    for record in unpack_records(data):
        client.feed(record)
        client.outgoing()
    client.read_application_records()
