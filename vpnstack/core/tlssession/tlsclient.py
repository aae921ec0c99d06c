"""The TLS client of the control channel, over memory BIOs (sans-I/O).

How this works: pyOpenSSL runs a client-side ``SSL.Connection`` with no socket (memory BIOs).
Ciphertext from the server is written in with :meth:`TLSClient.feed`; ciphertext for the
server is taken out with :meth:`TLSClient.outgoing` and handed to the reliable layer, which
cuts it into control packets without regard to record boundaries (docs §4 rule 7).

Server verification (docs §5.1) happens *inside* the handshake, in OpenSSL's verify
callback, so a refused server gets a TLS alert and no key material is ever exported:

* the chain is built by OpenSSL from the certificates the server sent (its intermediates)
  and the trust store, which holds only the certificates of ``settings.ca``;
* OpenSSL's own errors (unknown issuer, expiry, purpose...) are turned into a
  ``CertificateError`` whose message says what is wrong;
* on the leaf (depth 0) we add what OpenVPN adds: ``remote-cert-tls server`` (key usage
  present and EKU serverAuth, like OpenVPN's ``remote-cert-ku``/``remote-cert-eku``) and
  ``verify-x509-name`` (``subject``, ``name``, ``name-prefix``).

With ``settings.keylog`` set (``SSLKEYLOGFILE``), every TLS secret of the session is appended
to that file in the NSS key log format, for Wireshark; the session warns once that the file
decrypts the control channel.

No SNI and no ALPN are sent (§5.1). Key material for the data channel comes from
:meth:`TLSClient.export_keying_material` with *no* context (§5.3 B, §5.8.4).
"""

from __future__ import annotations

import os
import weakref

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL, crypto

from vpnstack.core.tlssession.alerts import tls_failure
from vpnstack.core.tlssession.settings import TLSSettings
from vpnstack.errors import CertificateError, ConfigError, LocalError

# tls-version-min / tls-version-max values (OpenVPN accepts these spellings).
_TLS_VERSIONS = {
    "1.0": SSL.TLS1_VERSION,
    "1.1": SSL.TLS1_1_VERSION,
    "1.2": SSL.TLS1_2_VERSION,
    "1.3": SSL.TLS1_3_VERSION,
}

# Short names OpenSSL prints with XN_FLAG_FN_SN (as OpenVPN's x509_get_subject does).
_SHORT_NAMES: dict[x509.ObjectIdentifier, str] = {
    NameOID.COMMON_NAME: "CN",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.STREET_ADDRESS: "street",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.TITLE: "title",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.INITIALS: "initials",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.USER_ID: "UID",
    NameOID.UNSTRUCTURED_NAME: "unstructuredName",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}

# X509_V_ERR_* codes that mean "this chain does not lead to a CA you configured".
_UNTRUSTED = {
    2,  # UNABLE_TO_GET_ISSUER_CERT
    7,  # CERT_SIGNATURE_FAILURE
    18,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19,  # SELF_SIGNED_CERT_IN_CHAIN
    20,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
}
_OTHER_VERIFY_ERRORS = {
    9: "is not yet valid (check this machine's clock)",
    10: "has expired (check this machine's clock, or renew it on the server)",
    13: "has a malformed notBefore field",
    14: "has a malformed notAfter field",
    22: "chain is too long",
    23: "has been revoked",
    24: "chain contains a certificate that is not a CA (basicConstraints CA:FALSE)",
    26: "may not be used for TLS server authentication (its extendedKeyUsage lacks serverAuth)",
    32: "chain contains a CA certificate whose keyUsage does not allow certificate signing",
}


def openvpn_subject(name: x509.Name) -> str:
    """Format a DN the way OpenVPN prints it and matches ``verify-x509-name ... subject``.

    OpenVPN uses ``X509_NAME_print_ex`` with ``XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN |
    ASN1_STRFLGS_UTF8_CONVERT | ASN1_STRFLGS_ESC_CTRL``: RDNs in certificate order joined by
    ``", "``, multi-valued RDNs joined by ``" + "``, short attribute names, UTF-8 values with
    control characters escaped as ``\\XX``.
    """
    rdns = []
    for rdn in name.rdns:
        parts = []
        for attribute in rdn:
            key = _SHORT_NAMES.get(attribute.oid, attribute.oid.dotted_string)
            value = attribute.value
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            escaped = "".join(_escape_ctrl(c) for c in value)
            parts.append(f"{key}={escaped}")
        rdns.append(" + ".join(parts))
    return ", ".join(rdns)


def _escape_ctrl(c: str) -> str:
    """ASN1_STRFLGS_ESC_CTRL: control characters become ``\\XX``."""
    return f"\\{ord(c):02X}" if ord(c) < 0x20 or ord(c) == 0x7F else c


def _common_name(cert: x509.Certificate) -> str | None:
    """The (last) CN of the subject, like OpenVPN's ``x509-username-field CN``."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[-1].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def check_server_leaf(cert: x509.Certificate, settings: TLSSettings) -> str | None:
    """The reason ``cert`` must be refused as the server leaf, or None if it is acceptable.

    Implements ``remote-cert-tls server`` and ``verify-x509-name`` (docs §5.1).
    """
    if settings.remote_cert_tls is not None:
        if settings.remote_cert_tls != "server":
            return f"remote-cert-tls {settings.remote_cert_tls!r} is not valid for a client"
        # OpenVPN's remote-cert-tls server = remote-cert-ku (present) + remote-cert-eku serverAuth.
        try:
            cert.extensions.get_extension_for_class(x509.KeyUsage)
        except x509.ExtensionNotFound:
            return (
                "server certificate has no keyUsage extension, required by remote-cert-tls "
                "server (reissue the server certificate as a server certificate)"
            )
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is None or ExtendedKeyUsageOID.SERVER_AUTH not in eku:
            return (
                "server certificate lacks EKU serverAuth required by remote-cert-tls server "
                "(reissue it as a server certificate, or remove remote-cert-tls)"
            )
    if settings.verify_x509_name is not None:
        wanted, kind = settings.verify_x509_name
        if kind == "subject":
            actual = openvpn_subject(cert.subject)
            if actual != wanted:
                return f"server name {actual!r} does not match verify-x509-name {wanted!r} subject"
        elif kind in ("name", "name-prefix"):
            cn = _common_name(cert)
            ok = cn is not None and (cn == wanted if kind == "name" else cn.startswith(wanted))
            if not ok:
                return f"server name {cn!r} does not match verify-x509-name {wanted!r} {kind}"
        else:
            return f"verify-x509-name type {kind!r} is not one of subject, name, name-prefix"
    return None


def _load_certs(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ConfigError(f"{what}: no valid PEM certificate could be read ({exc})") from None
    return certs


@attrs.frozen
class _VerifyFailure:
    """The first reason the verify callback refused the server."""

    message: str
    """Human-readable reason, ready for ``CertificateError``."""


class TLSClient:
    """A TLS 1.2/1.3 client over memory BIOs, configured from ``TLSSettings``.

    Call :meth:`start` once, then alternate :meth:`feed` (server ciphertext in) and
    :meth:`outgoing` (ciphertext out). After :attr:`handshake_complete`, use
    :meth:`write_application_data` (one TLS record per call, §5.8.5-6) and
    :meth:`read_application_data`.
    """

    def __init__(self, settings: TLSSettings) -> None:
        self._settings = settings
        self._failure: _VerifyFailure | None = None
        self._handshake_complete = False
        self._closed = False
        self.server_subject: str | None = None
        """The server leaf's subject as OpenVPN prints it (set once verified)."""
        self._conn = SSL.Connection(self._make_context(settings), None)
        self._conn.set_connect_state()

    # --- setup ---------------------------------------------------------------------------

    def _make_context(self, settings: TLSSettings) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        minimum = settings.tls_version_min or "1.2"  # OpenVPN 2.6 default (§5.1)
        if minimum == "or-highest":
            minimum = "1.3"
        for value, setter in (
            (minimum, ctx.set_min_proto_version),
            (settings.tls_version_max, ctx.set_max_proto_version),
        ):
            if value is None:
                continue
            if value not in _TLS_VERSIONS:
                raise ConfigError(f"TLS version {value!r} is not one of 1.0, 1.1, 1.2, 1.3")
            setter(_TLS_VERSIONS[value])
        ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION)
        for value, name in (
            (settings.tls_cipher, "tls-cipher"),
            (settings.tls_ciphersuites, "tls-ciphersuites"),
        ):
            if value is None:
                continue
            try:
                if name == "tls-cipher":
                    ctx.set_cipher_list(value.encode())
                else:
                    ctx.set_tls13_ciphersuites(value.encode())
            except SSL.Error:
                raise ConfigError(
                    f"{name} {value!r}: no cipher suite OpenSSL knows (use OpenSSL's names, "
                    "e.g. ECDHE-ECDSA-AES256-GCM-SHA384 or TLS_AES_256_GCM_SHA384)"
                ) from None

        cas = _load_certs(settings.ca, "ca")
        store = ctx.get_cert_store()
        if store is None:  # pragma: no cover - OpenSSL always gives a context a store
            raise LocalError("SSL context has no certificate store")
        for ca in cas:
            store.add_cert(crypto.X509.from_cryptography(ca))

        if (settings.cert is None) != (settings.key is None):
            raise ConfigError("cert and key must be given together")
        if settings.cert is not None and settings.key is not None:
            chain = _load_certs(settings.cert, "cert")
            try:
                key = serialization.load_pem_private_key(settings.key, password=None)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"key: the private key cannot be read (it must be an unencrypted PEM key): "
                    f"{exc}"
                ) from None
            ctx.use_certificate(chain[0])
            try:
                ctx.use_privatekey(key)  # type: ignore[arg-type]
                ctx.check_privatekey()
            except (SSL.Error, TypeError) as exc:
                raise ConfigError(
                    f"key does not match cert, or is of an unusable type: {exc}"
                ) from None
            extra = list(chain[1:])
            if settings.extra_certs is not None:
                extra += _load_certs(settings.extra_certs, "extra-certs")
            for cert in extra:
                ctx.add_extra_chain_cert(cert)

        # The context keeps its callbacks; bound methods would make a cycle (client -> its
        # connection -> context -> callback -> client) that only the cyclic garbage collector
        # frees, so each finished key's OpenSSL memory (~100 kB) would linger until a full
        # collection. The callbacks hold the client weakly instead.
        ref = weakref.ref(self)

        def verify(
            conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int
        ) -> bool:
            client = ref()
            return client._verify(conn, cert, errnum, depth, ok) if client is not None else False

        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, verify)
        if settings.keylog is not None:

            def keylog(conn: SSL.Connection, line: bytes) -> None:
                client = ref()
                if client is not None:
                    client._write_keylog(conn, line)

            ctx.set_keylog_callback(keylog)
        return ctx

    def _write_keylog(self, conn: SSL.Connection, line: bytes) -> None:
        """OpenSSL's keylog callback: one NSS key log line (``SSLKEYLOGFILE``) per secret.

        Appended to ``settings.keylog``, created 0600; the secrets go nowhere else.
        """
        path = self._settings.keylog
        assert path is not None
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as f:
            f.write(line + b"\n")

    def _verify(
        self, conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int
    ) -> bool:
        """OpenSSL's verify callback: keep OpenSSL's verdict and add OpenVPN's leaf checks.

        The certificates come from the peer before anything is trusted: one that OpenSSL
        parses but cryptography cannot read (a bad date, version, name or extension) is
        refused here, since an exception escaping a verify callback would leave the
        handshake as an untyped error.
        """
        if self._failure is not None:
            return False
        try:
            return self._check(cert, errnum, depth, ok)
        except Exception as exc:  # any parse failure of a hostile certificate
            where = "server certificate" if depth == 0 else f"certificate at depth {depth}"
            self._failure = _VerifyFailure(
                f"{where} cannot be read ({type(exc).__name__}: {exc}); it is malformed"
            )
            return False

    def _check(self, cert: crypto.X509, errnum: int, depth: int, ok: int) -> bool:
        """The verdict on one certificate of the server's chain (see ``_verify``)."""
        crypto_cert = cert.to_cryptography()
        where = "server certificate" if depth == 0 else f"certificate at depth {depth} of the chain"
        if not ok:
            subject = openvpn_subject(crypto_cert.subject)
            if errnum in _UNTRUSTED:
                message = (
                    f"server certificate is not signed by the configured CA "
                    f"(no chain from {subject!r} to a certificate in 'ca'; OpenSSL error {errnum})"
                )
            elif errnum in _OTHER_VERIFY_ERRORS:
                message = f"{where} {subject!r} {_OTHER_VERIFY_ERRORS[errnum]}"
            else:
                message = f"{where} {subject!r} failed verification (OpenSSL X509 error {errnum})"
            self._failure = _VerifyFailure(message)
            return False
        if depth == 0:
            reason = check_server_leaf(crypto_cert, self._settings)
            if reason is not None:
                self._failure = _VerifyFailure(reason)
                return False
            self.server_subject = openvpn_subject(crypto_cert.subject)
        return True

    # --- the sans-I/O surface ------------------------------------------------------------

    @property
    def handshake_complete(self) -> bool:
        """True once the TLS handshake finished and the server was verified."""
        return self._handshake_complete

    @property
    def closed(self) -> bool:
        """True once the server sent close_notify."""
        return self._closed

    @property
    def protocol_version(self) -> str:
        """The negotiated TLS version, e.g. ``TLSv1.3`` (``unknown`` before the handshake)."""
        return self._conn.get_protocol_version_name()

    @property
    def cipher_name(self) -> str | None:
        """The negotiated TLS cipher suite."""
        return self._conn.get_cipher_name()

    def start(self) -> None:
        """Begin the handshake: the ClientHello becomes available from :meth:`outgoing`."""
        self._advance()

    def feed(self, data: bytes) -> None:
        """Give ciphertext received from the server to the TLS engine."""
        if data:
            self._conn.bio_write(data)
        if not self._handshake_complete:
            self._advance()

    def outgoing(self) -> bytes:
        """All ciphertext waiting to go to the server (may be empty)."""
        chunks = []
        while True:
            try:
                chunk = self._conn.bio_read(65536)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def read_application_data(self) -> bytes:
        """All decrypted application data available now (may be empty)."""
        return b"".join(self.read_application_records())

    def read_application_records(self) -> list[bytes]:
        """Decrypted application data available now, one item per TLS record.

        OpenSSL's ``SSL_read`` never returns bytes of two records at once, so record
        boundaries survive; key-method 2 relies on this (its message is one record, §5.2).
        """
        if not self._handshake_complete:
            return []
        records = []
        while not self._closed:
            try:
                record = self._conn.recv(65536)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self._closed = True
                break
            except SSL.Error as exc:
                # A fatal alert after our Finished (TLS 1.3 checks our certificate here).
                raise tls_failure(exc, after_handshake=True) from None
            if not record:
                break
            records.append(record)
        return records

    def write_application_data(self, data: bytes) -> None:
        """Encrypt ``data`` as one TLS record (callers keep it ≤ 2048 bytes, §5.8.5)."""
        if not self._handshake_complete:
            raise LocalError("write_application_data before the TLS handshake completed")
        if len(data) > 16384:
            raise LocalError("one control message must fit one TLS record")
        self._conn.sendall(data)

    def export_keying_material(self, label: bytes, length: int) -> bytes:
        """RFC 5705/8446 exporter with *no* context (§5.3 B, §5.8.4)."""
        if not self._handshake_complete:
            raise LocalError("export_keying_material before the TLS handshake completed")
        return self._conn.export_keying_material(label, length, None)

    # --- internals -----------------------------------------------------------------------

    def _advance(self) -> None:
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            return
        except SSL.Error as exc:
            if self._failure is not None:
                raise CertificateError(self._failure.message) from None
            raise tls_failure(exc, after_handshake=False) from None
        if self._failure is not None:  # pragma: no cover - OpenSSL aborts on a refusal
            raise CertificateError(self._failure.message)
        if self.server_subject is None:  # pragma: no cover - VERIFY_PEER guarantees a leaf
            raise CertificateError("the server sent no certificate")
        self._handshake_complete = True
