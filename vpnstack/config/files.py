"""Reading the files a config names: certificates, keys, PKCS#12, static and tls-crypt-v2 keys.

How this works: file arguments inside the config are relative to the config's folder (or to a
``cd DIR`` given earlier); on the command line they are relative to the current directory. A
directive that takes a file may instead be an inline ``<name>...</name>`` block
(``file_or_inline``). Every file is parsed here, with ``cryptography`` for X.509/PKCS#12 and
``vpnstack.core.controlchannel.statickey`` for OpenVPN static keys, so that a broken file is
reported at the line that names it, not in the middle of a handshake.

The loaded certificates and keys collect in ``Credentials``; ``finish_credentials`` then does
what needs all of them: ``pkcs12`` against ``cert``/``key``, the PKCS#12 CAs (trusted without a
``ca``, else only sent as our chain), the chain after the first certificate of ``cert``, and
the private key matching the certificate. Messages name the file or the inline block, never
its contents.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import stat
from typing import TYPE_CHECKING

import attrs
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12 as pkcs12_format

from vpnstack.config.lexer import Directive
from vpnstack.core.controlchannel.statickey import parse_static_key

if TYPE_CHECKING:
    from vpnstack.config.parser import Parser

TLS_CRYPT_V2_CLIENT_BEGIN = "-----BEGIN OpenVPN tls-crypt-v2 client key-----"
TLS_CRYPT_V2_CLIENT_END = "-----END OpenVPN tls-crypt-v2 client key-----"


# --- reading ---------------------------------------------------------------------------------


def is_inline_name(arg: str) -> bool:
    """``inline`` / ``[inline]``: the data comes from an inline block."""
    return arg.lower() in ("inline", "[inline]", "[[inline]]")


def inline_name(p: Parser, d: Directive, arg: str) -> bool:
    """``arg`` is ``[inline]`` (the data comes from a block); refused on the command line."""
    if not is_inline_name(arg):
        return False
    if d.cli:
        raise p.error(
            d,
            f"{d.label} {arg}: inline data can only come from a <{d.name}> block in a config"
            " file; give a file name",
        )
    return True


def path_of(p: Parser, d: Directive, name: str) -> str:
    """The absolute path of a file argument of ``d``."""
    base = p.cwd if d.cli else p.base_dir
    return os.path.normpath(os.path.join(base, os.path.expanduser(name)))


MAX_FILE_BYTES = 16 << 20
"""Largest file a directive may name: certificates, keys and configs are a few KiB."""


def read_regular_file(path: str) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``MAX_FILE_BYTES``.

    Raises ``OSError`` (with a ``strerror`` that says what is wrong) for anything else: a
    device such as /dev/zero would be read forever, and opening a FIFO blocks until someone
    writes to it, so both are refused before they are opened; so is a name with a NUL byte.
    """
    if "\0" in path:
        raise OSError(errno.EINVAL, "the file name contains a NUL byte")
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(errno.EINVAL, "not a regular file (a device, FIFO or directory)")
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(errno.EFBIG, f"larger than {MAX_FILE_BYTES >> 20} MiB")
    return data


def read_bytes(p: Parser, d: Directive, name: str) -> bytes:
    """The contents of a file argument of ``d``."""
    path = path_of(p, d, name)
    try:
        return read_regular_file(path)
    except OSError as exc:
        raise p.error(
            d, f"cannot read the '{d.name}' file {path!r}: {exc.strerror}; check the path"
        ) from None


def read_text(p: Parser, d: Directive, name: str) -> str:
    """The contents of a text file argument of ``d``."""
    data = read_bytes(p, d, name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        path = path_of(p, d, name)
        raise p.error(d, f"'{d.name}' file {path!r} is not text") from None


def file_or_inline(p: Parser, d: Directive) -> tuple[str, str]:
    """The data of a file-or-inline directive and a description of where it came from."""
    if d.inline is not None:
        return d.inline, f"inline <{d.name}> block"
    if inline_name(p, d, d.args[0]):
        raise p.error(d, f"{d.label} {d.args[0]} needs an inline <{d.name}> block")
    return read_text(p, d, d.args[0]), f"file {path_of(p, d, d.args[0])!r}"


# --- what was loaded -------------------------------------------------------------------------


@attrs.frozen
class Pkcs12Contents:
    """What a ``pkcs12`` file held."""

    key_pem: bytes = attrs.field(repr=False)
    """The private key as PKCS#8 PEM."""
    cert_pem: bytes
    """The client certificate as PEM."""
    key: PrivateKeyTypes = attrs.field(repr=False)
    """The private key."""
    cert: x509.Certificate
    """The client certificate."""
    others: tuple[x509.Certificate, ...]
    """The other certificates (CAs, intermediates)."""


@attrs.define
class Credentials:
    """Certificates and keys as loaded by ``ca``, ``cert``, ``key``, ``extra-certs``,
    ``pkcs12`` (None: not given)."""

    ca: bytes | None = None
    """PEM of ``ca``."""
    cert: bytes | None = None
    """PEM of ``cert``."""
    cert_obj: x509.Certificate | None = None
    """The first certificate of ``cert`` (ours)."""
    chain_from_cert: bytes | None = None
    """PEM of the certificates after the first in ``cert`` (our chain)."""
    key: bytes | None = attrs.field(default=None, repr=False)
    """PEM of ``key``."""
    key_obj: PrivateKeyTypes | None = attrs.field(default=None, repr=False)
    """The private key of ``key``."""
    extra_certs: bytes | None = None
    """PEM of ``extra-certs``."""
    pkcs12: Pkcs12Contents | None = None
    """What ``pkcs12`` held."""


@attrs.frozen
class LoadedCredentials:
    """The checked result: what ``TLSConfig`` gets."""

    ca: bytes
    cert: bytes | None
    key: bytes | None = attrs.field(repr=False)
    extra_certs: bytes | None


# --- parse functions -------------------------------------------------------------------------


def _pem_certificates(p: Parser, d: Directive) -> tuple[bytes, list[x509.Certificate]]:
    text, where = file_or_inline(p, d)
    data = text.encode()
    try:
        certs = x509.load_pem_x509_certificates(data)
    except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm):
        certs = []
    if not certs:
        raise p.error(d, f"{d.label}: {where} holds no readable PEM certificate; check the file")
    p.remember(d)
    return data, certs


def ca(p: Parser, d: Directive) -> None:
    """``ca FILE`` / ``<ca>``: the CA certificate(s) to trust."""
    p.creds.ca, _ = _pem_certificates(p, d)


def extra_certs(p: Parser, d: Directive) -> None:
    """``extra-certs FILE`` / ``<extra-certs>``: the chain sent after ours."""
    p.creds.extra_certs, _ = _pem_certificates(p, d)


def cert(p: Parser, d: Directive) -> None:
    """``cert FILE`` / ``<cert>``: our certificate, optionally followed by its chain."""
    data, certs = _pem_certificates(p, d)
    # like OpenVPN: further certificates after ours form the chain
    p.creds.chain_from_cert = (
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs[1:])
        if len(certs) > 1
        else None
    )
    p.creds.cert_obj = certs[0]
    p.creds.cert = data


def key(p: Parser, d: Directive) -> None:
    """``key FILE`` / ``<key>``: our private key (not encrypted)."""
    text, where = file_or_inline(p, d)
    data = text.encode()
    if b"ENCRYPTED" in data:
        raise p.error(
            d,
            f"{d.label}: {where} is an encrypted private key, which is not supported yet;"
            " decrypt it (e.g. 'openssl pkey -in key.pem -out plain.pem')",
        )
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise p.error(
            d, f"{d.label}: {where} holds no readable PEM private key; check the file"
        ) from None
    p.remember(d)
    p.creds.key_obj = private_key
    p.creds.key = data


def pkcs12(p: Parser, d: Directive) -> None:
    """``pkcs12 FILE`` / ``<pkcs12>`` (base64): certificate, key and CAs without passphrase."""
    if d.inline is not None:
        where = "inline <pkcs12> block"
        try:
            data = base64.b64decode("".join(d.inline.split()), validate=True)
        except (binascii.Error, ValueError):
            raise p.error(d, f"{d.label}: the {where} is not base64 text") from None
    else:
        if inline_name(p, d, d.args[0]):
            raise p.error(d, f"{d.label} {d.args[0]} needs an inline <pkcs12> block")
        data = read_bytes(p, d, d.args[0])
        where = f"file {path_of(p, d, d.args[0])!r}"
    loaded = None
    for password in (None, b""):  # OpenVPN tries an empty passphrase before asking
        try:
            loaded = pkcs12_format.load_key_and_certificates(data, password)
            break
        except (ValueError, TypeError):
            continue
    if loaded is None:
        if _looks_like_pkcs12(data):
            raise p.error(
                d,
                f"{d.label}: {where} is protected by a passphrase, which is not supported"
                " yet; export it without one (openssl pkcs12 -in in.p12 -nodes -out"
                " plain.pem) and use 'ca', 'cert' and 'key'",
            )
        raise p.error(d, f"{d.label}: {where} is not a PKCS#12 file; check the file")
    private_key, certificate, others = loaded
    if private_key is None or certificate is None:
        raise p.error(d, f"{d.label}: {where} lacks the client certificate or its private key")
    pem = serialization.Encoding.PEM
    p.creds.pkcs12 = Pkcs12Contents(
        key_pem=private_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert_pem=certificate.public_bytes(pem),
        key=private_key,
        cert=certificate,
        others=tuple(others),
    )
    p.remember(d)


def _looks_like_pkcs12(data: bytes) -> bool:
    """DER ``PFX ::= SEQUENCE { version INTEGER (3), ... }`` (RFC 7292 §4)."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    length = data[1]
    offset = 2 + (length & 0x7F if length & 0x80 else 0)
    return data[offset : offset + 3] == b"\x02\x01\x03"


def _static_key(p: Parser, d: Directive) -> bytes:
    text, where = file_or_inline(p, d)
    try:
        return parse_static_key(text)
    except ValueError as exc:
        raise p.error(
            d, f"{d.label}: {where} is not an OpenVPN static key ({exc}); check the file"
        ) from None


def _direction(p: Parser, d: Directive, text: str) -> int:
    if text not in ("0", "1"):
        raise p.error(d, f"bad key direction '{text}': use 0 or 1 (a client uses 1)")
    return int(text)


def tls_auth(p: Parser, d: Directive) -> None:
    """``tls-auth FILE [DIRECTION]`` / ``<tls-auth>``: the HMAC static key (docs §3.5)."""
    if d.inline is None:
        if len(d.args) == 2:
            p.conn = attrs.evolve(p.conn, key_direction=_direction(p, d, d.args[1]))
        if inline_name(p, d, d.args[0]):
            # "tls-auth [inline] 1": the key comes from a <tls-auth> block
            p.tls_auth_inline_at = d
            return
    p.conn = attrs.evolve(p.conn, tls_auth_key=_static_key(p, d))
    p.remember(d)


def key_direction(p: Parser, d: Directive) -> None:
    """``key-direction 0|1``."""
    p.conn = attrs.evolve(p.conn, key_direction=_direction(p, d, d.args[0]))


def tls_crypt(p: Parser, d: Directive) -> None:
    """``tls-crypt FILE`` / ``<tls-crypt>``: the encrypt-and-sign static key."""
    p.conn = attrs.evolve(p.conn, tls_crypt_key=_static_key(p, d))
    p.remember(d)


def tls_crypt_v2(p: Parser, d: Directive) -> None:
    """``tls-crypt-v2 FILE`` / ``<tls-crypt-v2>``: the client key Kc || WKc."""
    # docs §3.8: PEM whose base64 body is Kc (256 bytes) || WKc; WKc ends in its
    # own length (uint16, the 2 bytes included) and is at most 1024 bytes
    text, where = file_or_inline(p, d)
    if "OpenVPN tls-crypt-v2 server key" in text:
        raise p.error(
            d,
            f"{d.label}: {where} is the tls-crypt-v2 *server* key; a client needs its own"
            " client key (openvpn --tls-crypt-v2 server.key --genkey tls-crypt-v2-client)",
        )
    begin = text.find(TLS_CRYPT_V2_CLIENT_BEGIN)
    end = text.find(TLS_CRYPT_V2_CLIENT_END, begin + 1)
    problem = None
    data = b""
    if begin < 0 or end < 0:
        problem = "has no 'OpenVPN tls-crypt-v2 client key' PEM block"
    else:
        body = "".join(text[begin + len(TLS_CRYPT_V2_CLIENT_BEGIN) : end].split())
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            problem = "holds a tls-crypt-v2 key that is not valid base64"
        if problem is None:
            wkc_len = len(data) - 256
            if wkc_len < 2 or wkc_len > 1024 or int.from_bytes(data[-2:]) != wkc_len:
                problem = "holds a truncated or damaged tls-crypt-v2 client key"
    if problem is not None:
        raise p.error(d, f"{d.label}: {where} {problem}; check the file")
    p.conn = attrs.evolve(p.conn, tls_crypt_v2_key=data)
    p.remember(d)


# --- the whole -------------------------------------------------------------------------------


def finish_credentials(p: Parser) -> LoadedCredentials:
    """Combine ``pkcs12``/``cert``/``key``/``ca``/``extra-certs`` and check them together."""
    c = p.creds
    ca_pem, cert_pem, key_pem, extra = c.ca, c.cert, c.key, c.extra_certs
    cert_obj, key_obj = c.cert_obj, c.key_obj
    key_at = p.lines.get("key")
    say = p.say
    if c.pkcs12 is not None:
        for name, value in (("cert", c.cert), ("key", c.key)):
            if value is not None:
                raise p.error_at(
                    p.lines.get(name),
                    f"{say(name)} cannot be used together with {say('pkcs12')}; keep one of them",
                )
        cert_pem, key_pem = c.pkcs12.cert_pem, c.pkcs12.key_pem
        cert_obj, key_obj = c.pkcs12.cert, c.pkcs12.key
        key_at = p.lines["pkcs12"]
        others = c.pkcs12.others
        pem = serialization.Encoding.PEM
        # OpenVPN (tls_ctx_load_pkcs12): without 'ca' the PKCS#12 CAs are trusted (and
        # complete our chain); with 'ca' they are only sent as our chain
        if ca_pem is None:
            if not others:
                raise p.error_at(
                    p.lines["pkcs12"],
                    f"the {say('pkcs12')} file holds no CA certificate: add {say('ca FILE')}",
                )
            ca_pem = b"".join(o.public_bytes(pem) for o in others)
            chain = [o for o in others if o.issuer != o.subject]
        else:
            chain = list(others)
        if chain and extra is None:
            extra = b"".join(o.public_bytes(pem) for o in chain)
    has_cert = cert_pem is not None
    has_key = key_pem is not None
    if has_cert != has_key:
        given, missing = ("cert", "key") if has_cert else ("key", "cert")
        raise p.error_at(
            p.lines.get("cert") if has_cert else key_at,
            f"{say(given)} without {say(missing)}: add the {missing}",
        )
    if not has_cert and not p.client.auth_user_pass_required:
        raise p.error_at(
            None,
            f"no client certificate: add {say('cert')} and {say('key')}, or"
            f" {say('auth-user-pass')} if the server accepts passwords only",
        )
    if cert_obj is not None and key_obj is not None:
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        try:
            cert_public = cert_obj.public_key().public_bytes(*spki)
        except (ValueError, UnsupportedAlgorithm):
            raise p.error_at(
                p.lines.get("cert"),
                f"the certificate ({say('cert')}) has a public key of a type vpnstack cannot"
                " use; use an RSA, EC or Ed25519 certificate",
            ) from None
        if cert_public != key_obj.public_key().public_bytes(*spki):
            raise p.error_at(
                key_at,
                f"the private key ({say('key')}) does not belong to the certificate"
                f" ({say('cert')}); use the matching pair",
            )
    if c.chain_from_cert is not None and extra is None:
        extra = c.chain_from_cert
    assert ca_pem is not None  # Parser.finish checked: 'ca' or 'pkcs12'
    return LoadedCredentials(ca=ca_pem, cert=cert_pem, key=key_pem, extra_certs=extra)
