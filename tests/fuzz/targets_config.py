"""The config parser (``vpnstack.config.load_config`` / ``parse_config``).

Samples: every .ovpn of ``tests/configs/`` (placeholders filled with the harness's
deterministic PKI and keys, in a private copy of the folder, as ``test_config_corpus.py``
does) and client configs the lab writes (``OpenVPNLab.client_config_text``, one per
wrapping). Each sample starts with a ``# fuzz-base: <folder>`` comment naming its folder in
the copy; the runner writes the (mutated) input to a file there and calls ``load_config``, so
relative ``ca``/``cert``/``tls-auth`` files resolve as in the corpus and the UTF-8 decoding
is exercised too. Contract: ``ConfigError`` (the ``VPNError`` family) only.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12

import vpnstack.config
from tests.fuzz.engine import Target
from tests.fuzz.keys import (
    CA_PEM,
    CLIENT_CERT_PEM,
    CLIENT_KEY_PEM,
    OTHER_STATIC_KEY,
    static_key_text,
    tls_crypt_v2_text,
)
from vpnstack.config import load_config
from vpnstack.lab.pki import CertKey, Pki
from vpnstack.lab.server import OpenVPNLab, Wrapping

CORPUS = Path(__file__).resolve().parent.parent / "configs"
BASE_MARK = b"# fuzz-base: "
INPUT_NAME = "fuzz-input.ovpn"

_ROOT: Path | None = None


def corpus_root() -> Path:
    """The private, filled copy of ``tests/configs/`` (made once per process)."""
    global _ROOT
    if _ROOT is None:
        top = Path(tempfile.mkdtemp(prefix="vpnstack-fuzz-config-"))
        atexit.register(shutil.rmtree, top, True)
        root = top / "configs"
        shutil.copytree(CORPUS, root)
        values = {
            "{{CA}}": CA_PEM,
            "{{INTERMEDIATE}}": CA_PEM,
            "{{CERT}}": CLIENT_CERT_PEM,
            "{{KEY}}": CLIENT_KEY_PEM,
            "{{TLS_AUTH_KEY}}": static_key_text(),
            "{{TLS_CRYPT_KEY}}": static_key_text(OTHER_STATIC_KEY),
            "{{TLS_CRYPT_V2_KEY}}": tls_crypt_v2_text(),
        }
        for path in root.rglob("*"):
            if not path.is_file() or path.name in ("README.md", ".gitattributes"):
                continue
            text = path.read_bytes().decode()
            crlf = "\r\n" in text
            for placeholder, value in values.items():
                text = text.replace(placeholder, value.replace("\n", "\r\n") if crlf else value)
            path.write_bytes(text.encode())
        key = serialization.load_pem_private_key(CLIENT_KEY_PEM.encode(), None)
        assert isinstance(key, Ed25519PrivateKey)
        cert = x509.load_pem_x509_certificate(CLIENT_CERT_PEM.encode())
        ca = x509.load_pem_x509_certificate(CA_PEM.encode())
        p12 = pkcs12.serialize_key_and_certificates(
            b"corp",
            key,
            cert,
            [ca],
            serialization.NoEncryption(),
        )
        (root / "pkcs12" / "corp.p12").write_bytes(p12)
        lab = root / "lab"
        lab.mkdir()
        for name, text in (("ca.crt", CA_PEM), ("client.crt", CLIENT_CERT_PEM)):
            (lab / name).write_text(text)
        (lab / "client.key").write_text(CLIENT_KEY_PEM)
        (lab / "ta.key").write_text(static_key_text())
        _ROOT = root
    return _ROOT


def _lab_configs(root: Path) -> list[str]:
    lab_dir = root / "lab"
    pair = CertKey(cert=str(lab_dir / "client.crt"), key=str(lab_dir / "client.key"))
    ca = str(lab_dir / "ca.crt")
    ta = str(lab_dir / "ta.key")
    pki = Pki(
        directory=str(lab_dir),
        root_ca=ca,
        intermediate_ca=ca,
        server=pair,
        server_chain=ca,
        server_noeku=pair,
        server_noeku_chain=ca,
        client=pair,
        client_chain=ca,
        server_ca_bundle=ca,
        other_ca=ca,
        other_server=pair,
        tls_auth_key=ta,
        tls_crypt_key=ta,
    )
    lab = OpenVPNLab()
    lab.pki = pki
    texts = []
    wrappings: tuple[tuple[Wrapping, str | None], ...] = (
        ("tls-crypt", None),
        ("tls-auth", None),
        ("tls-crypt-v2", tls_crypt_v2_text()),
        ("none", None),
    )
    for wrapping, key_text in wrappings:
        texts.append(
            lab.client_config_text(
                remote_host="192.0.2.10",
                remote_port=1194,
                wrapping=wrapping,
                static_key_text=key_text,
                credentials=("alice", "secret"),
                extra_lines=("data-ciphers-fallback AES-256-CBC", "compress stub-v2"),
            )
        )
    return texts


def samples() -> tuple[bytes, ...]:
    root = corpus_root()
    result: list[bytes] = []
    for path in sorted(root.rglob("*.ovpn")):
        base = path.parent.relative_to(root).as_posix()
        result.append(BASE_MARK + base.encode() + b"\n" + path.read_bytes())
    for text in _lab_configs(root):
        result.append(BASE_MARK + b"lab\n" + text.encode())
    return tuple(result)


def run(data: bytes) -> None:
    root = corpus_root()
    base = root
    if data.startswith(BASE_MARK):
        name = data[len(BASE_MARK) :].split(b"\n", 1)[0].decode("utf-8", "replace")
        candidate = root / name
        if ".." not in name and candidate.is_dir():
            base = candidate
    path = base / INPUT_NAME
    path.write_bytes(data)
    try:
        load_config(os.fspath(path))
    finally:
        path.unlink()


def _dictionary() -> tuple[bytes, ...]:
    directives = getattr(vpnstack.config, "DIRECTIVES", {})
    words = [f"\n{name} ".encode() for name in sorted(directives)]
    words += [
        w.encode()
        for w in (
            "\n<ca>\n",
            "\n</ca>\n",
            "\n<connection>\n",
            "\n</connection>\n",
            "\n<tls-crypt>\n",
            "\n<tls-auth>\n",
            "\n<key>\n",
            " [inline]",
            ' "',
            " '",
            "\\",
            "\\ ",
            " #",
            " ;",
            "\r\n",
            "\r",
            "\ufeff",
            "\nsetenv opt ",
            "\nsetenv FORWARD_COMPATIBLE 1\n",
            "\nignore-unknown-option ",
            "\ncd ..\n",
            " 0",
            " 65536",
            " -1",
            " 4294967296",
            " udp6",
            " tcp-client",
            " ::1",
            " 999.1.1.1",
            "\n--",
        )
    ]
    return tuple(words)


def targets() -> list[Target]:
    return [
        Target(
            "config",
            samples(),
            run,
            dictionary=_dictionary(),
            max_len=65536,
            text=True,
        )
    ]
