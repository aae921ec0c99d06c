"""Test helpers: a PKI generated with ``cryptography`` and a pyOpenSSL TLS *server* over
memory BIOs, used to exercise our TLS client, SessionCore and the tlssession service.

Nothing here is the code under test; the server side is plain pyOpenSSL.
"""

from __future__ import annotations

import datetime
import functools
import hmac
from collections.abc import Sequence

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL

from vpnstack.config import Config, Remote, TLSConfig, TransportConfig
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.core.tlssession.settings import SessionSettings
from vpnstack.messages import ControlMessage, DataKeys
from vpnstack.settings import session_settings

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
        ciphersuites: bytes | None = None,
    ) -> None:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        if ciphersuites is not None:
            ctx.set_tls13_ciphersuites(ciphersuites)
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


# --- a scripted OpenVPN server peer for SessionCore / TLSSession tests ------------------------

P_CONTROL_V1 = 4
P_CONTROL_HARD_RESET_CLIENT_V2 = 7
P_CONTROL_HARD_RESET_SERVER_V2 = 8


@attrs.frozen
class ClientKM2:
    """The client's key-method-2 message, parsed here following docs §5.2."""

    pre_master: bytes
    random1: bytes
    random2: bytes
    strings: tuple[bytes | None, ...]  # options, username, password, peer-info (None: 00 00)


def parse_client_km2(data: bytes) -> ClientKM2:
    assert data[:5] == b"\x00\x00\x00\x00\x02"
    pre_master, random1, random2 = data[5:53], data[53:85], data[85:117]
    offset, strings = 117, []
    for _ in range(4):
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if length == 0:
            strings.append(None)
            continue
        assert data[offset + length - 1] == 0
        strings.append(data[offset : offset + length - 1])
        offset += length
    assert offset == len(data)
    return ClientKM2(pre_master, random1, random2, tuple(strings))


def server_km2(random1: bytes, random2: bytes, options: bytes = b"V4,dev-type tun") -> bytes:
    """The server's key-method-2 message (§5.2: no pre_master, three empty strings)."""
    body = options + b"\x00"
    return (
        b"\x00\x00\x00\x00\x02" + random1 + random2 + len(body).to_bytes(2, "big") + body
        + b"\x00\x00" * 3
    )


class ScriptedServer:
    """Plays the server side of the ControlMessage exchange with a real TLS server.

    It answers the client reset with its own reset, runs TLS, answers key-method 2, and
    answers each PUSH_REQUEST with the next scripted list of control texts (if any).
    """

    def __init__(
        self,
        pki: PKI,
        *,
        session_id: bytes = b"\x5e\x55\x10\x00\x00\x00\x00\x01",
        push_script: Sequence[Sequence[bytes]] = (),
        after_km2: Sequence[bytes] = (),
        reset_payload: bytes = b"",
        max_version: int | None = None,
        occ_options: bytes = b"V4,dev-type tun",
        ciphersuites: bytes | None = None,
    ) -> None:
        self.session_id = session_id
        self.occ_options = occ_options
        self.tls = TLSServer(
            pki.server,
            [pki.intermediate.cert],
            client_ca=pki.root.cert,
            max_version=max_version,
            ciphersuites=ciphersuites,
        )
        self.random1 = bytes(range(100, 132))
        self.random2 = bytes(range(200, 232))
        self.push_script = [list(texts) for texts in push_script]
        self.after_km2 = list(after_km2)
        self.reset_payload = reset_payload
        self.client_km2: ClientKM2 | None = None
        self.push_requests = 0
        self.texts: list[bytes] = []
        self.resets = 0

    def handle(self, messages: Sequence[object]) -> list[ControlMessage]:
        """Feed client messages; return the server's ControlMessages."""
        out: list[ControlMessage] = []
        for message in messages:
            if not isinstance(message, ControlMessage):
                continue
            if message.opcode == P_CONTROL_HARD_RESET_CLIENT_V2:
                self.resets += 1
                out.append(
                    ControlMessage(
                        P_CONTROL_HARD_RESET_SERVER_V2,
                        0,
                        self.reset_payload,
                        peer_session_id=self.session_id,
                    )
                )
            elif message.opcode == P_CONTROL_V1:
                self.tls.feed(message.payload)
                if self.tls.handshake_complete:
                    self._on_app_data(self.tls.read())
        data = self.tls.outgoing()
        if data:
            out.append(ControlMessage(P_CONTROL_V1, 0, data, peer_session_id=self.session_id))
        return out

    def send_texts(self, texts: Sequence[bytes]) -> None:
        for text in texts:
            self.tls.write(text)  # one record each

    def _on_app_data(self, data: bytes) -> None:
        if not data:
            return
        if self.client_km2 is None:
            self.client_km2 = parse_client_km2(data)
            self.tls.write(server_km2(self.random1, self.random2, self.occ_options))
            self.send_texts(self.after_km2)
            return
        for text in data.split(b"\x00")[:-1]:
            self.texts.append(text)
            if text == b"PUSH_REQUEST":
                self.push_requests += 1
                if self.push_script:
                    self.send_texts(self.push_script.pop(0))


@functools.cache
def shared_pki() -> PKI:
    """One EC PKI for every test that needs a plain, valid chain (generated once)."""
    return make_pki()


def with_fields(config: Config, **fields: object) -> Config:
    """``config`` with fields replaced, named ``section__field`` (``tls__hand_window=30.0``
    sets ``config.tls.hand_window``)."""
    sections: dict[str, dict[str, object]] = {}
    for name, value in fields.items():
        section, _, field = name.partition("__")
        assert field, f"name fields as section__field, not {name!r}"
        sections.setdefault(section, {})[field] = value
    changed = {s: attrs.evolve(getattr(config, s), **f) for s, f in sections.items()}
    return attrs.evolve(config, **changed)  # type: ignore[misc]


def client_config(pki: PKI | None = None, **fields: object) -> Config:
    """A client ``Config`` trusting ``pki``'s root (default ``shared_pki()``), with its
    client cert and key; ``fields`` as in ``with_fields``."""
    p = pki if pki is not None else shared_pki()
    config = Config(
        source="<test>",
        transport=TransportConfig(remotes=(Remote("127.0.0.1"),)),
        tls=TLSConfig(ca=p.root.cert_pem, cert=p.client.cert_pem, key=p.client.key_pem),
    )
    return with_fields(config, **fields)


def client_settings(pki: PKI | None = None, **overrides: object) -> SessionSettings:
    """``session_settings`` of ``client_config(pki, **overrides)``: what a SessionCore takes."""
    return session_settings(client_config(pki, **overrides))



# --- renegotiation: a new TLS server and key-method 2 per key id (docs §5.7) ------------

P_CONTROL_SOFT_RESET_V1 = 3


@attrs.define
class ServerKeySession:
    """The server side of one renegotiated key id: its own TLS server and randoms."""

    key_id: int
    tls: TLSServer
    random1: bytes
    random2: bytes
    client_km2: ClientKM2 | None = None
    texts: list[bytes] = attrs.Factory(list)


class RenegotiatingServer(ScriptedServer):
    """A ScriptedServer that also renegotiates (§5.7): key id 0 is the base class's business;
    every later key id gets a fresh TLS server, fresh randoms and its own key-method 2.

    ``soft_reset(key_id)`` starts a server-initiated renegotiation; a client SOFT_RESET for a
    key id the server does not know yet is answered with the server's own SOFT_RESET.
    """

    def __init__(self, pki: PKI, *, texts_after_km2: Sequence[bytes] = (), **kw: object) -> None:
        super().__init__(pki, **kw)  # type: ignore[arg-type]
        self._pki = pki
        self.sessions: dict[int, ServerKeySession] = {}
        self.client_soft_resets: list[int] = []
        self.texts_after_km2 = list(texts_after_km2)

    def _new_session(self, key_id: int) -> ServerKeySession:
        pki = self._pki
        tls = TLSServer(pki.server, [pki.intermediate.cert], client_ca=pki.root.cert)
        session = ServerKeySession(
            key_id,
            tls,
            random1=bytes((key_id * 16 + i) % 256 for i in range(32)),
            random2=bytes((key_id * 32 + 7 * i) % 256 for i in range(32)),
        )
        self.sessions[key_id] = session
        return session

    def soft_reset(self, key_id: int) -> ControlMessage:
        """The server starts renegotiating ``key_id``: its SOFT_RESET for the client."""
        self._new_session(key_id)
        return ControlMessage(P_CONTROL_SOFT_RESET_V1, key_id, peer_session_id=self.session_id)

    def handle(self, messages: Sequence[object]) -> list[ControlMessage]:
        base = [m for m in messages if isinstance(m, ControlMessage) and m.key_id == 0]
        out = super().handle(base)  # also flushes what key id 0's TLS server wrote
        touched: list[ServerKeySession] = []
        for message in messages:
            if not isinstance(message, ControlMessage) or message.key_id == 0:
                continue
            kid = message.key_id
            if message.opcode == P_CONTROL_SOFT_RESET_V1:
                self.client_soft_resets.append(kid)
                if kid not in self.sessions or self.sessions[kid].client_km2 is not None:
                    # The client started it (or reuses the id after 7 -> 1): answer (§5.7 step 2).
                    self._new_session(kid)
                    sid = self.session_id
                    out.append(ControlMessage(P_CONTROL_SOFT_RESET_V1, kid, peer_session_id=sid))
            elif message.opcode == P_CONTROL_V1:
                session = self.sessions[kid]
                session.tls.feed(message.payload)
                if session.tls.handshake_complete:
                    self._on_key_app_data(session, session.tls.read())
                touched.append(session)
        for session in touched:
            data = session.tls.outgoing()
            if data:
                sid = self.session_id
                out.append(ControlMessage(P_CONTROL_V1, session.key_id, data, peer_session_id=sid))
        return out

    def _on_key_app_data(self, session: ServerKeySession, data: bytes) -> None:
        if not data:
            return
        if session.client_km2 is None:
            session.client_km2 = parse_client_km2(data)
            session.tls.write(server_km2(session.random1, session.random2))
            for text in self.texts_after_km2:
                session.tls.write(text)
            return
        session.texts += data.split(b"\x00")[:-1]


# --- an independent OpenVPN PRF (docs §5.3 A), for expected keys -------------------------


def _p_hash(name: str, secret: bytes, seed: bytes, n: int) -> bytes:
    out, a = b"", seed
    while len(out) < n:
        a = hmac.new(secret, a, name).digest()
        out += hmac.new(secret, a + seed, name).digest()
    return out[:n]


def tls10_prf(secret: bytes, seed: bytes, n: int) -> bytes:
    """The TLS 1.0 PRF written out from RFC 2246, independently of ``core/tlssession/prf.py``."""
    half = (len(secret) + 1) // 2
    md5 = _p_hash("md5", secret[:half], seed, n)
    sha1 = _p_hash("sha1", secret[len(secret) - half :], seed, n)
    return bytes(x ^ y for x, y in zip(md5, sha1, strict=True))


def data_keys_after_handshake(core: SessionCore, server: ScriptedServer) -> DataKeys:
    """Start ``core`` at now=100, exchange with ``server`` until quiet (bounded), and return
    the one ``DataKeys`` the session produced."""
    core.start(100.0)
    seen: list[object] = []
    for _ in range(10):
        outputs = core.outputs()
        seen += outputs
        replies = server.handle(outputs)
        if not replies and not outputs:
            break
        for reply in replies:
            core.receive(reply, 100.0)
    keys = [output for output in seen if isinstance(output, DataKeys)]
    assert len(keys) == 1, keys
    return keys[0]

