"""settings.py: per-layer records, stock defaults applied once, the §4 payload arithmetic."""

from __future__ import annotations

import attrs

from vpnstack.config import Config, Remote, TLSConfig, TransportConfig
from vpnstack.settings import (
    RENEG_SEC_DEFAULT,
    DataChannelSettings,
    datachannel_settings,
    reliable_settings,
)

CONFIG = Config(
    source="<test>",
    transport=TransportConfig(remotes=(Remote("192.0.2.1"),)),
    tls=TLSConfig(ca=b""),
)


def with_tls(**fields: object) -> Config:
    """CONFIG with these TLSConfig fields changed."""
    return attrs.evolve(CONFIG, tls=attrs.evolve(CONFIG.tls, **fields))


def test_reneg_sec_default_is_applied_here_once() -> None:
    assert RENEG_SEC_DEFAULT == 3600.0
    assert datachannel_settings(CONFIG) == DataChannelSettings(
        tran_window=3600.0, hand_window=60.0, reneg_sec=3600.0
    )
    off = datachannel_settings(with_tls(reneg_sec=0))
    assert off.reneg_sec == 0.0
    custom = datachannel_settings(
        with_tls(reneg_sec=20, reneg_bytes=1000, tran_window=5.0, hand_window=9.0)
    )
    assert custom == DataChannelSettings(
        tran_window=5.0, hand_window=9.0, reneg_sec=20.0, reneg_bytes=1000
    )


def test_tls_payload_reserves_dynamic_tls_crypt_room_and_an_ipv6_header() -> None:
    # docs §4: min(2048, 1250) - [1 + 8 + ACK_SIZE(4) 25 + 4 + wrap + 48 (IPv6)].
    plain = reliable_settings(CONFIG, wrap_reserve=0)
    assert plain.max_payload == 1250 - (1 + 8 + 25 + 4 + 56 + 48)  # at least tls-crypt's 56
    tls_auth_sha512 = reliable_settings(CONFIG, wrap_reserve=64 + 8)
    assert tls_auth_sha512.max_payload == 1250 - (1 + 8 + 25 + 4 + 72 + 48)
    assert plain.tls_timeout == 2.0
    assert reliable_settings(with_tls(timeout=5.0), wrap_reserve=0).tls_timeout == 5
