"""SessionCore: CBC ciphers, legacy (non-NCP) cipher choice and compression framing
(docs §5.2, §5.3, §5.4, §5.6 ``cipher``/``comp-lzo``/``compress``, §6.3, §6.4).

Driven against the scripted in-process server of ``tests/core/tls_helpers``; the expected
keys come from the independent §5.3 PRF in ``tests/core/test_session``.
"""

from __future__ import annotations

import pytest

from tests.core.test_session import (
    PUSH_BASIC,
    config,
    expected_prf_key2,
)
from tests.core.tls_helpers import ScriptedServer, data_keys_after_handshake, shared_pki
from vpnstack.core.tlssession.apply_push import occ_cipher
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.errors import CipherNegotiationFailed, ConfigError
from vpnstack.messages import DataKeys
from vpnstack.settings import session_settings

CLIENT_SID = bytes.fromhex("c1c2c3c4c5c6c7c8")
PUSH_NO_CIPHER = b"PUSH_REPLY,topology subnet,ifconfig 10.8.0.2 255.255.255.0,peer-id 1\x00"


def run(server: ScriptedServer, **kw: object) -> tuple[DataKeys, ScriptedServer]:
    core = SessionCore(session_settings(config(**kw)), local_session_id=CLIENT_SID)
    return data_keys_after_handshake(core, server), server


def peer_info(server: ScriptedServer) -> dict[str, str]:
    assert server.client_km2 is not None
    raw = server.client_km2.strings[3]
    assert raw is not None
    return dict(line.split("=", 1) for line in raw.decode().splitlines())


def occ_string(server: ScriptedServer) -> str:
    assert server.client_km2 is not None
    raw = server.client_km2.strings[0]
    assert raw is not None
    return raw.decode()


def test_pushed_cbc_cipher_gets_hmac_keys_from_key2() -> None:
    push = PUSH_BASIC.replace(b"cipher AES-256-GCM", b"cipher AES-256-CBC")
    keys, server = run(
        ScriptedServer(shared_pki(), push_script=[[push]]),
        data__ciphers=("AES-256-GCM", "AES-256-CBC"),
        data__auth="SHA256",
    )
    key2 = expected_prf_key2(server)
    assert (keys.cipher, keys.auth, keys.compression) == ("AES-256-CBC", "SHA256", None)
    assert keys.encrypt_key == key2[0:32] and keys.decrypt_key == key2[128:160]
    assert keys.encrypt_hmac_key == key2[64:96] and keys.decrypt_hmac_key == key2[192:224]
    # IV_CIPHERS lists the CBC cipher because it is in data-ciphers (as a stock client).
    assert peer_info(server)["IV_CIPHERS"] == "AES-256-GCM:AES-256-CBC"


def test_cbc_is_not_announced_unless_configured() -> None:
    _, server = run(ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]]))
    assert "CBC" not in peer_info(server)["IV_CIPHERS"]


def test_a_pushed_cipher_outside_our_list_fails_naming_both() -> None:
    push = PUSH_BASIC.replace(b"cipher AES-256-GCM", b"cipher AES-128-CBC")
    with pytest.raises(CipherNegotiationFailed, match=r"AES-128-CBC.*AES-256-GCM:AES-128-GCM"):
        run(ScriptedServer(shared_pki(), push_script=[[push]]))


def test_legacy_server_cipher_from_its_occ_string() -> None:
    # No cipher pushed (a server without NCP): its OCC "cipher" is used when it is ours.
    server = ScriptedServer(
        shared_pki(),
        push_script=[[PUSH_NO_CIPHER]],
        occ_options=b"V4,dev-type tun,link-mtu 1557,tun-mtu 1500,proto UDPv4,cipher AES-128-CBC,"
        b"auth SHA1,keysize 128,key-method 2,tls-server",
    )
    keys, _ = run(server, data__ciphers=("AES-256-GCM", "AES-128-CBC"), data__auth="SHA1")
    assert (keys.cipher, keys.auth) == ("AES-128-CBC", "SHA1")
    assert len(keys.encrypt_hmac_key) == 20


def test_legacy_server_cipher_not_ours_names_both_sides() -> None:
    server = ScriptedServer(
        shared_pki(),
        push_script=[[PUSH_NO_CIPHER]],
        occ_options=b"V4,dev-type tun,cipher AES-192-CBC,auth SHA1,keysize 192,tls-server",
    )
    with pytest.raises(CipherNegotiationFailed) as info:
        run(
            server,
            data__ciphers=("AES-256-GCM", "AES-128-CBC"),
            data__ciphers_fallback="AES-128-CBC",
        )
    message = str(info.value)
    assert "AES-192-CBC" in message and "AES-256-GCM:AES-128-CBC" in message
    assert "add AES-192-CBC to data-ciphers" in message
    server = ScriptedServer(
        shared_pki(),
        push_script=[[PUSH_NO_CIPHER]],
        occ_options=b"V4,dev-type tun,cipher BF-CBC,auth SHA1,keysize 128,tls-server",
    )
    with pytest.raises(CipherNegotiationFailed, match="does not implement BF-CBC"):
        run(server)


def test_legacy_server_without_occ_cipher_gets_the_fallback() -> None:
    server = ScriptedServer(shared_pki(), push_script=[[PUSH_NO_CIPHER]])
    keys, server = run(server, data__ciphers_fallback="AES-256-CBC", data__auth="SHA512")
    assert (keys.cipher, keys.auth) == ("AES-256-CBC", "SHA512")
    assert keys.encrypt_hmac_key == expected_prf_key2(server)[64:128]
    # The OCC string describes the fallback cipher (§5.2).
    occ = occ_string(server)
    assert ",auth SHA512," in occ and ",keysize 256," in occ


def test_occ_cipher_parsing() -> None:
    assert occ_cipher("V4,dev-type tun,cipher aes-256-cbc,auth SHA1") == "AES-256-CBC"
    assert occ_cipher("V4,dev-type tun,auth SHA1") is None
    assert occ_cipher("") is None


@pytest.mark.parametrize(
    ("pushed", "configured", "framing"),
    [
        (b"comp-lzo no", None, "comp-lzo"),
        (b"compress stub-v2", None, "stub-v2"),
        (b"compress", None, "stub"),
        (b"compress lz4-v2", None, "stub-v2"),
        (None, "compress stub", "stub"),
        (None, "comp-lzo no", "comp-lzo"),
        (b"compress stub-v2", "comp-lzo no", "stub-v2"),  # the pushed one wins
        (None, None, None),
    ],
)
def test_compression_framing_pushed_or_configured(
    pushed: bytes | None, configured: str | None, framing: str | None
) -> None:
    push = PUSH_BASIC if pushed is None else PUSH_BASIC[:-1] + b"," + pushed + b"\x00"
    keys, _ = run(ScriptedServer(shared_pki(), push_script=[[push]]), data__compression=configured)
    assert keys.compression == framing


def test_an_unknown_pushed_compression_is_refused() -> None:
    push = PUSH_BASIC[:-1] + b",compress zstd\x00"
    with pytest.raises(ConfigError, match="compress zstd"):
        run(ScriptedServer(shared_pki(), push_script=[[push]]))


def test_peer_info_announces_the_stubs_only() -> None:
    _, server = run(ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]]))
    info = peer_info(server)
    assert info["IV_LZO_STUB"] == info["IV_COMP_STUB"] == info["IV_COMP_STUBv2"] == "1"
    for real in ("IV_LZO", "IV_LZ4", "IV_LZ4v2"):
        assert real not in info
    assert "comp-lzo" not in occ_string(server)


def test_occ_string_says_comp_lzo_only_when_framing_is_configured() -> None:
    _, server = run(
        ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]]), data__compression="comp-lzo no"
    )
    assert ",comp-lzo," in occ_string(server)
