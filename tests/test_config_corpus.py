"""The parser against a corpus of provider-shaped .ovpn files (``tests/configs/``).

The corpus holds placeholders instead of keys (see ``tests/configs/README.md``): the fixture
copies it to a temporary folder and fills them with a freshly generated PKI and static keys,
then every config is loaded from there with ``load_config`` and its fields are checked against
values derived here, independently of the parser (static keys decoded from their hex, the
tls-crypt-v2 key assembled byte by byte as docs §3.8 lays it out).
"""

from __future__ import annotations

import base64
import ipaddress
import os
import shutil
from pathlib import Path

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from vpnstack.config import (
    DEFAULT_DATA_CIPHERS,
    Config,
    ConfiguredRoute,
    ConfiguredRoute6,
    Remote,
    load_config,
    require_supported,
)
from vpnstack.errors import ConfigError
from vpnstack.lab.pki import Pki, new_static_key_text

CORPUS = Path(__file__).parent / "configs"


def static_key_bytes(text: str) -> bytes:
    """The 256 bytes of a static key block: the hex lines between the markers."""
    lines = text.splitlines()
    begin = lines.index("-----BEGIN OpenVPN Static key V1-----")
    end = lines.index("-----END OpenVPN Static key V1-----")
    return bytes.fromhex("".join(lines[begin + 1 : end]))


@attrs.frozen
class Corpus:
    folder: Path
    pki: Pki
    tls_auth_key: bytes
    tls_crypt_key: bytes
    tls_crypt_v2_key: bytes

    def path(self, name: str) -> str:
        return str(self.folder / name)

    def load(self, name: str) -> Config:
        return load_config(self.path(name))

    def pem(self, path: str) -> bytes:
        return Path(path).read_bytes()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, lab_pki: Pki) -> Corpus:
    folder = tmp_path_factory.mktemp("corpus") / "configs"
    shutil.copytree(CORPUS, folder)
    tls_auth_text = new_static_key_text()
    tls_crypt_text = new_static_key_text()
    # tls-crypt-v2 client key: Kc (256) || WKc, WKc ending in its own length (docs §3.8)
    kc, wkc_body = os.urandom(256), os.urandom(297)
    v2 = kc + wkc_body + (len(wkc_body) + 2).to_bytes(2, "big")
    b64 = base64.b64encode(v2).decode()
    v2_text = "\n".join(
        [
            "-----BEGIN OpenVPN tls-crypt-v2 client key-----",
            *(b64[i : i + 64] for i in range(0, len(b64), 64)),
            "-----END OpenVPN tls-crypt-v2 client key-----",
            "",
        ]
    )
    values = {
        "{{CA}}": Path(lab_pki.root_ca).read_text(),
        "{{INTERMEDIATE}}": Path(lab_pki.intermediate_ca).read_text(),
        "{{CERT}}": Path(lab_pki.client.cert).read_text(),
        "{{KEY}}": Path(lab_pki.client.key).read_text(),
        "{{TLS_AUTH_KEY}}": tls_auth_text,
        "{{TLS_CRYPT_KEY}}": tls_crypt_text,
        "{{TLS_CRYPT_V2_KEY}}": v2_text,
    }
    for path in folder.rglob("*"):
        if not path.is_file() or path.name in ("README.md", ".gitattributes"):
            continue
        text = path.read_bytes().decode()
        crlf = "\r\n" in text
        for placeholder, value in values.items():
            text = text.replace(placeholder, value.replace("\n", "\r\n") if crlf else value)
        assert "{{" not in text, path
        path.write_bytes(text.encode())
    key = serialization.load_pem_private_key(Path(lab_pki.client.key).read_bytes(), None)
    cert = x509.load_pem_x509_certificate(Path(lab_pki.client.cert).read_bytes())
    cas = [
        x509.load_pem_x509_certificate(Path(p).read_bytes())
        for p in (lab_pki.intermediate_ca, lab_pki.root_ca)
    ]
    (folder / "pkcs12" / "corp.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"corp",
            key,  # type: ignore[arg-type]
            cert,
            cas,
            serialization.NoEncryption(),
        )
    )
    return Corpus(
        folder=folder,
        pki=lab_pki,
        tls_auth_key=static_key_bytes(tls_auth_text),
        tls_crypt_key=static_key_bytes(tls_crypt_text),
        tls_crypt_v2_key=v2,
    )


def test_the_corpus_commits_no_key_material() -> None:
    for path in CORPUS.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "PRIVATE KEY-----" not in text and "Static key V1-----" not in text, path


def test_tls_auth_inline_with_key_direction_and_legacy_cipher(corpus: Corpus) -> None:
    cfg = corpus.load("nordish-udp.ovpn")
    src = corpus.path("nordish-udp.ovpn")
    assert cfg.transport.remotes == (Remote("203.0.113.45", 1194, "udp"),)
    assert cfg.transport.remote_random
    assert cfg.tls.ca == corpus.pem(corpus.pki.root_ca)
    assert (cfg.tls.auth_key, cfg.tls.key_direction) == (corpus.tls_auth_key, 1)
    assert cfg.tls.crypt_key is None and cfg.tls.cert is None
    # only a legacy 'cipher': it joins the default list (negotiation decides later)
    assert (cfg.data.cipher, cfg.data.auth) == ("AES-256-CBC", "SHA512")
    assert cfg.data.ciphers == (*DEFAULT_DATA_CIPHERS, "AES-256-CBC")
    assert cfg.client.auth_user_pass_required and (cfg.client.username, cfg.client.password) == (
        None,
        None,
    )
    assert (cfg.data.ping, cfg.data.ping_restart, cfg.tls.reneg_sec, cfg.routing.tun_mtu) == (
        15,
        0,
        0,
        1500,
    )
    assert (cfg.tls.remote_cert_tls, cfg.client.verb) == ("server", 3)
    assert cfg.warnings == tuple(
        f"{src}:{line}: '{name}' is ignored ({why})"
        for line, name, why in [
            (9, "nobind", "vpnstack always uses a fresh local port"),
            (11, "tun-mtu-extra", "not needed for tun devices"),
            (12, "mssfix", "TCP MSS clamping is not done"),
            (13, "persist-key", "vpnstack keeps its keys in memory across reconnects anyway"),
            (14, "persist-tun", "the tun device follows the session"),
            (17, "ping-timer-rem", "the ping timer always runs"),
            (19, "comp-noadapt", "vpnstack never compresses"),
            (27, "fast-io", "not applicable to vpnstack's event loop"),
        ]
    )


def test_remote_random_and_credentials_file_in_a_folder_with_a_space(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(corpus.folder / "office")  # relative paths follow the config, not cwd
    cfg = corpus.load("Mullvad Style/mullvad_se.ovpn")
    assert cfg.transport.remotes == (
        Remote("se-got-001.example.net", 1196, "udp"),
        Remote("se-got-002.example.net", 1197, "udp"),
        Remote("se-sto-003.example.net", 1300, "udp"),
    )
    assert cfg.transport.remote_random
    assert (cfg.client.username, cfg.client.password) == ("1234567890123456", "m")
    assert cfg.tls.ca == corpus.pem(corpus.pki.root_ca)
    assert cfg.data.cipher == "AES-256-GCM" and cfg.data.ciphers == DEFAULT_DATA_CIPHERS
    assert cfg.tls.cipher == "TLS-DHE-RSA-WITH-AES-256-GCM-SHA384"
    assert (cfg.data.ping, cfg.data.ping_restart, cfg.client.script_security) == (10, 60, 2)
    assert [w.split(": ", 1)[1] for w in cfg.warnings] == [
        "'nobind' is ignored (vpnstack always uses a fresh local port)",
        "'persist-key' is ignored (vpnstack keeps its keys in memory across reconnects anyway)",
        "'persist-tun' is ignored (the tun device follows the session)",
        "'sndbuf' is ignored (socket buffer sizes are left to the system)",
        "'rcvbuf' is ignored (socket buffer sizes are left to the system)",
        "'tun-ipv6' is ignored (obsolete: IPv6 is always enabled)",
        "'fast-io' is ignored (not applicable to vpnstack's event loop)",
    ]


def test_access_server_profile(corpus: Corpus) -> None:
    cfg = corpus.load("access-server-profile.ovpn")
    src = corpus.path("access-server-profile.ovpn")
    assert cfg.transport.remotes == (
        Remote("vpn.example.com", 1194, "udp"),
        Remote("vpn.example.com", 1195, "udp"),
        Remote("vpn.example.com", 443, "tcp"),
        Remote("vpn.example.com", 1196, "udp"),
    )
    assert cfg.transport.server_poll_timeout == 4.0
    assert cfg.tls.crypt_key == corpus.tls_crypt_key and cfg.tls.auth_key is None
    assert cfg.tls.cert == corpus.pem(corpus.pki.client.cert)
    assert cfg.tls.key == corpus.pem(corpus.pki.client.key)
    assert cfg.client.auth_user_pass_required
    assert (cfg.tls.version_min, cfg.tls.reneg_sec, cfg.routing.tun_mtu) == ("1.2", 604800, 1420)
    assert cfg.client.setenv == (("PUSH_PEER_INFO", "1"), ("UV_CLIENT_ID", "0123-abcd"))
    assert cfg.warnings == (
        f"{src}:12: 'nobind' is ignored (vpnstack always uses a fresh local port)",
        f"{src}:24: 'push-peer-info' is ignored (vpnstack sends its fixed peer info)",
        f"{src}:25: 'block-outside-dns' is ignored (Windows-only)",
        f"{src}:26: 'setenv PUSH_PEER_INFO' ignored (vpnstack runs no scripts)",
        f"{src}:30: unknown directive 'ovpn-gui-feature-x' ignored"
        " (ignore-unknown-option/setenv opt)",
    )


def test_windows_gui_profile_with_crlf_dashes_and_quoted_paths(corpus: Corpus) -> None:
    assert b"\r\n" in Path(corpus.path("windows-gui-crlf.ovpn")).read_bytes()
    cfg = corpus.load("windows-gui-crlf.ovpn")
    src = corpus.path("windows-gui-crlf.ovpn")
    assert cfg.transport.remotes == (Remote("gw.example.org", 1194, "udp"),)
    pki = corpus.pki
    assert cfg.tls.ca == corpus.pem(pki.root_ca) + corpus.pem(pki.intermediate_ca)  # the bundle
    assert cfg.tls.cert == corpus.pem(pki.client.cert)
    assert (cfg.tls.auth_key, cfg.tls.key_direction, cfg.client.verb) == (corpus.tls_auth_key, 1, 4)
    assert cfg.warnings == (
        f"{src}:11: unknown directive 'gui-remember-password' ignored"
        " (ignore-unknown-option/setenv opt)",
        f"{src}:12: unknown directive 'gui-connect-on-start' ignored"
        " (ignore-unknown-option/setenv opt)",
        f"{src}:15: 'block-outside-dns' is ignored (Windows-only)",
        f"{src}:16: 'register-dns' is ignored (Windows-only)",
        f"{src}:17: 'tap-sleep' is ignored (Windows-only)",
        f"{src}:18: 'route-method' is ignored (Windows-only)",
        f"{src}:19: 'route-delay' is ignored (routes are installed as soon as the tunnel is up)",
    )


def test_connection_blocks_with_tcp_fallback(corpus: Corpus) -> None:
    cfg = corpus.load("connection-blocks.ovpn")
    src = corpus.path("connection-blocks.ovpn")
    assert cfg.transport.remotes == (
        Remote("vpn-ams.example.net", 1194, "udp"),
        Remote("vpn-fra.example.net", 1195, "udp6"),
        Remote("vpn-ams.example.net", 443, "tcp"),
    )
    assert cfg.transport.remote_random
    # given before the blocks: every block copied them
    assert (
        cfg.transport.explicit_exit_notify,
        cfg.transport.connect_retry,
        cfg.transport.connect_retry_max_delay,
    ) == (
        3,
        2.0,
        120.0,
    )
    # tls-crypt after the blocks applies to every block without a key of its own
    assert cfg.tls.crypt_key == corpus.tls_crypt_key
    assert cfg.tls.verify_x509_name == ("vpn.example.net", "name-prefix")
    assert cfg.data.ciphers == ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305", "AES-128-CBC")
    assert (cfg.data.cipher, cfg.data.ciphers_fallback, cfg.data.auth) == (
        "AES-128-CBC",
        "AES-128-CBC",
        "SHA256",
    )
    assert cfg.warnings == (
        f"{src}:4: 'nobind' is ignored (vpnstack always uses a fresh local port)",
    )


def test_split_tunnel_office_profile(corpus: Corpus) -> None:
    cfg = corpus.load("office/office.ovpn")
    office = corpus.folder / "office"
    assert cfg.transport.remotes == (Remote("office.example.com", 1194, "udp4"),)
    assert cfg.routing.dev == "tun0"
    assert cfg.tls.crypt_key == corpus.tls_crypt_key
    assert (cfg.client.username, cfg.client.password) == ("alice", "correct horse battery staple")
    assert (cfg.client.auth_nocache, cfg.client.auth_retry, cfg.routing.nopull) == (
        True,
        "nointeract",
        True,
    )
    assert cfg.routing.routes == (
        ConfiguredRoute(ipaddress.IPv4Network("10.10.0.0/16"), None, "vpn_gateway"),
        ConfiguredRoute(ipaddress.IPv4Network("172.16.5.0/24")),
    )
    assert cfg.routing.routes_ipv6 == (ConfiguredRoute6(ipaddress.IPv6Network("fd00:10::/64")),)
    assert cfg.routing.dhcp_options == (("DNS", "10.10.0.53"), ("DOMAIN", "office.example.com"))
    assert cfg.routing.pull_filters == (
        ("ignore", "redirect-gateway"),
        ("ignore", "dhcp-option DNS"),
        ("accept", "route 10."),
        ("ignore", "route "),
    )
    assert (cfg.data.ping, cfg.data.ping_restart) == (10, 60)
    assert (cfg.client.status_file, cfg.client.status_interval) == (
        str(office / "office-status.log"),
        30,
    )
    assert (cfg.client.log_file, cfg.client.log_append) == (str(office / "office.log"), True)
    assert (cfg.client.verb, cfg.client.mute, cfg.tls.version_min) == (4, 20, "1.2")
    assert cfg.tls.ciphersuites == "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    assert cfg.warnings == ()


def test_legacy_cbc_profile_with_tls_auth_file(corpus: Corpus) -> None:
    cfg = corpus.load("legacy-cbc/ams-a01.ovpn")
    assert cfg.transport.remotes == (Remote("ams-a01.example-vpn.net", 443, "udp"),)
    assert cfg.transport.resolv_retry == 30.0
    assert cfg.tls.verify_x509_name == ("ams-a01.example-vpn.net", "name")
    assert (cfg.data.cipher, cfg.data.auth) == ("AES-256-CBC", "SHA256")
    assert cfg.data.ciphers == (*DEFAULT_DATA_CIPHERS, "AES-256-CBC")
    assert (cfg.tls.auth_key, cfg.tls.key_direction) == (corpus.tls_auth_key, 1)
    assert (cfg.client.auth_retry, cfg.data.ping, cfg.data.ping_restart) == ("interact", 5, 30)
    assert len(cfg.warnings) == 4 and "'persist-remote-ip' is ignored" in cfg.warnings[3]


def test_pkcs12_profile(corpus: Corpus) -> None:
    cfg = corpus.load("pkcs12/corp.ovpn")
    pki = corpus.pki
    assert cfg.tls.cert == corpus.pem(pki.client.cert)
    assert cfg.tls.key is not None
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ours = serialization.load_pem_private_key(cfg.tls.key, None).public_key().public_bytes(*der)
    assert ours == x509.load_pem_x509_certificate(cfg.tls.cert).public_key().public_bytes(*der)
    assert cfg.tls.ca == corpus.pem(pki.intermediate_ca) + corpus.pem(pki.root_ca)
    assert cfg.tls.extra_certs == corpus.pem(pki.intermediate_ca)
    assert (cfg.tls.auth_key, cfg.tls.key_direction) == (corpus.tls_auth_key, 1)
    assert cfg.routing.redirect_gateway == ("def1",)


def test_tls_crypt_v2_profile_parses_and_is_accepted_at_connect_time(corpus: Corpus) -> None:
    cfg = corpus.load("tls-crypt-v2.ovpn")
    assert cfg.tls.crypt_v2_key == corpus.tls_crypt_v2_key
    require_supported(cfg)  # spoken since issue 4


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        (
            "custom-up-script.ovpn",
            9,
            "vpnstack-client runs no scripts ('up'); it applies pushed routes and DNS itself, so"
            " the usual update-resolv-conf / update-systemd-resolved scripts are not needed;"
            " remove the 'up' line",
        ),
        (
            "compress-migrate.ovpn",
            8,
            "'compress migrate' is a server option; remove it (the server pushes the framing"
            " it wants) or use 'compress stub-v2'",
        ),
        (
            "crl-verify-inline.ovpn",
            15,
            "certificate revocation lists are not checked yet; remove the 'crl-verify' line",
        ),
        (
            "tap-bridge.ovpn",
            2,
            "'dev tap' is not supported; vpnstack only supports 'dev tun'",
        ),
        (
            "keysize.ovpn",
            8,
            "unknown directive 'keysize': vpnstack does not implement it; remove the line, or"
            " put 'ignore-unknown-option keysize' before it if the connection works without it",
        ),
        (
            "http-proxy.ovpn",
            5,
            "HTTP proxies are not supported yet; remove the 'http-proxy-retry' line",
        ),
        (
            "connection-no-remote.ovpn",
            6,
            "each <connection> block needs exactly one 'remote' line",
        ),
        (
            "daemon.ovpn",
            4,
            "vpnstack-client does not fork into the background; run it as a systemd service or"
            " with nohup instead; remove the 'daemon' line",
        ),
        (
            "windows-path.ovpn",
            4,
            "a backslash may only escape a backslash, a double quote or a space; write Windows"
            ' paths with double backslashes ("C:\\\\dir\\\\file") or in single quotes',
        ),
    ],
)
def test_refused_configs_name_file_and_line(
    corpus: Corpus, name: str, line: int, message: str
) -> None:
    path = corpus.path(f"refused/{name}")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.path, info.value.line, info.value.message) == (path, line, message)
    assert str(info.value) == f"{path}:{line}: {message}"


def test_overrides_on_a_corpus_profile(corpus: Corpus) -> None:
    cfg = load_config(
        corpus.path("nordish-udp.ovpn"),
        overrides=[
            ["auth-user-pass", corpus.path("office/credentials.txt")],
            ["verb", "1"],
            ["data-ciphers", "AES-128-GCM"],
            ["remote", "198.51.100.9", "1200"],
        ],
    )
    assert (cfg.client.username, cfg.client.verb, cfg.data.ciphers) == (
        "alice",
        1,
        ("AES-128-GCM",),
    )
    # as in openvpn, a --remote after the file is one more remote, tried after the file's
    file_only = load_config(corpus.path("nordish-udp.ovpn"))
    assert cfg.transport.remotes == (
        *file_only.transport.remotes,
        Remote("198.51.100.9", 1200, "udp"),
    )
    # the refused line of a corpus file stays refused whatever the command line says
    with pytest.raises(ConfigError, match=r"compress-migrate\.ovpn:8: "):
        load_config(corpus.path("refused/compress-migrate.ovpn"), overrides=[["verb", "3"]])
