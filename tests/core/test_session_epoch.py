"""SessionCore and the 2.7 epoch data format (docs §5.4 bit 10, §6.9).

Driven against the scripted in-process server of ``tests/core/tls_helpers``; the expected
key2 comes from the independent §5.3 PRF in ``tests/core/test_session``, the expected packet
from the §6.9 layout written out in ``tests/core/test_epoch``.
"""

from __future__ import annotations

import pytest

from tests.core.test_epoch import ref_packet
from tests.core.test_session import PUSH_BASIC, config, expected_prf_key2
from tests.core.tls_helpers import ScriptedServer, data_keys_after_handshake, shared_pki
from vpnstack.core.datachannel.crypto import make_data_crypto
from vpnstack.core.datachannel.epoch import EpochDataCrypto
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.messages import DataKeys
from vpnstack.settings import session_settings

CLIENT_SID = bytes.fromhex("c1c2c3c4c5c6c7c8")


def run(push: bytes) -> tuple[DataKeys, ScriptedServer]:
    server = ScriptedServer(shared_pki(), push_script=[[push]])
    ciphers = ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305", "AES-256-CBC")
    core = SessionCore(
        session_settings(config(data__ciphers=ciphers)), local_session_id=CLIENT_SID
    )
    return data_keys_after_handshake(core, server), server


def iv_proto(server: ScriptedServer) -> int:
    assert server.client_km2 is not None
    raw = server.client_km2.strings[3]
    assert raw is not None
    fields = dict(line.split("=", 1) for line in raw.decode().splitlines())
    return int(fields["IV_PROTO"])


def with_options(*options: bytes, cipher: bytes = b"AES-256-GCM") -> bytes:
    push = PUSH_BASIC.replace(b"cipher AES-256-GCM", b"cipher " + cipher)
    return push[:-1] + b"".join(b"," + option for option in options) + b"\x00"


@pytest.mark.parametrize("cipher", ["AES-128-GCM", "CHACHA20-POLY1305"])
def test_pushed_aead_epoch_gives_epoch_keys_from_32_bytes_of_each_cipher_slot(
    cipher: str,
) -> None:
    keys, server = run(with_options(b"protocol-flags cc-exit aead-epoch", cipher=cipher.encode()))
    assert iv_proto(server) & 1024  # §5.4: bit 10 announced
    key2 = expected_prf_key2(server)
    assert keys.epoch and keys.cipher == cipher and keys.peer_id == 3
    # §6.9: E1 = the first 32 bytes of each cipher slot, also for a 16-byte AES key.
    assert keys.encrypt_key == key2[0:32]
    assert keys.decrypt_key == key2[128:160]
    # The datachannel's protector reads a server packet built from the §6.9 layout.
    wire = ref_packet(
        cipher, key2[128:160], key_id=0, peer_id=3, epoch=2, counter=1, payload=b"2.7"
    )
    assert make_data_crypto(keys).decrypt(wire, 0.0) == b"2.7"


@pytest.mark.parametrize(
    "push",
    [
        with_options(b"protocol-flags cc-exit tls-ekm"),  # a 2.6 server: no aead-epoch
        with_options(),
        with_options(b"protocol-flags aead-epoch", cipher=b"AES-256-CBC"),  # not AEAD
        with_options(b"protocol-flags aead-epoch").replace(b",peer-id 3", b""),  # no V2
    ],
)
def test_without_every_condition_the_keys_stay_in_the_2_6_format(push: bytes) -> None:
    keys, _ = run(push)
    assert not keys.epoch
    assert not isinstance(make_data_crypto(keys), EpochDataCrypto)
