"""Per-layer settings: what each layer takes from the configuration, defaults applied once.

How this works: each layer that takes several values from the configuration takes one frozen
settings record, built here from a ``Config`` by a function named after the layer; the wiring
calls these functions and hands the records on. Stock defaults that the configuration leaves
open (``reneg-sec``) and the arithmetic that turns configuration values into the numbers a
layer works with (the TLS bytes per control packet, docs §4) are applied here and
nowhere else. The cores never import this module (it reads the configuration): they take
plain values, which the layer services unpack from these records.

Sections are headed ``# --- <layer>``, one per layer.

The tlssession core takes ``SessionSettings`` (defined with the core, in
``core/tlssession/settings.py``, so that its tests can build one without a config); the
``reneg-sec`` default is the core's ``RENEG_SEC_DEFAULT``, since a core cannot import this module.
"""

from __future__ import annotations

import os

import attrs

from vpnstack.config import Config
from vpnstack.core.controlchannel.wrap import TLS_CRYPT_MTU_RESERVE
from vpnstack.core.shared.ciphers import STATIC_KEY_LEN
from vpnstack.core.shared.packets import max_tls_payload
from vpnstack.core.tlssession.push import PushedRoute, PushedRoute6
from vpnstack.core.tlssession.renegotiation import RENEG_SEC_DEFAULT
from vpnstack.core.tlssession.settings import SessionSettings, TLSSettings

HAND_WINDOW_DEFAULT = 60.0
"""Stock ``hand-window``: a key negotiation must finish within a minute (§5.7)."""

# --- reliabletransport


@attrs.frozen
class ReliableSettings:
    """What the reliable transport takes from the configuration."""

    max_payload: int
    """TLS bytes per control packet (§4; ``max_tls_payload``)."""
    tls_timeout: float
    """``tls-timeout``: the first retransmission timeout before any RTT sample (§4.9)."""
    hand_window: float = HAND_WINDOW_DEFAULT
    """``hand-window``: the cap of the doubling retransmission timeout (§4.9, §4.10)."""


def reliable_settings(config: Config, *, wrap_reserve: int) -> ReliableSettings:
    """The reliable transport's settings; ``wrap_reserve`` is the wrapping's §4 "wrap" term."""
    # docs §4: TLS bytes per control packet. The remote's address family is known only
    # after networkio resolves it, so assume the larger IPv6 header: 20 bytes of slack at
    # most. Renegotiations may be wrapped with dynamic tls-crypt (§3.10), so reserve at least
    # its room.
    max_payload = max_tls_payload(
        tls_mtu=config.tls.mtu,
        wrap_reserve=max(wrap_reserve, TLS_CRYPT_MTU_RESERVE),
        ipv6=True,
    )
    return ReliableSettings(
        max_payload=max_payload,
        tls_timeout=config.tls.timeout,
        hand_window=config.tls.hand_window,
    )


# --- datachannel

TRAN_WINDOW_DEFAULT = 3600.0
"""Stock ``tran-window``: the lame-duck key decrypts for an hour after a renegotiation (§5.7)."""


@attrs.frozen
class DataChannelSettings:
    """What the datachannel's key ring takes from the configuration (docs §5.7)."""

    tran_window: float = TRAN_WINDOW_DEFAULT
    """``tran-window``: how long the lame-duck key still decrypts after a newer key arrives."""
    hand_window: float = HAND_WINDOW_DEFAULT
    """``hand-window``: bounds the deferred-auth window of a new key (§5.7 step 5)."""
    reneg_sec: float | None = RENEG_SEC_DEFAULT
    """``reneg-sec`` with the stock default applied; 0 or None: no time-based renegotiation."""
    reneg_bytes: int | None = None
    """``reneg-bytes``: ask for a new key after this many bytes (None or 0: never)."""
    reneg_pkts: int | None = None
    """``reneg-pkts``: ask for a new key after this many packets (None or 0: never)."""


def reneg_sec(config: Config) -> float:
    """``reneg-sec`` as a client uses it: the configured value, or the stock default (§5.7)."""
    return RENEG_SEC_DEFAULT if config.tls.reneg_sec is None else float(config.tls.reneg_sec)


def datachannel_settings(config: Config) -> DataChannelSettings:
    """The datachannel's settings, with the stock ``reneg-sec`` when none is configured."""
    return DataChannelSettings(
        tran_window=config.tls.tran_window,
        hand_window=config.tls.hand_window,
        reneg_sec=reneg_sec(config),
        reneg_bytes=config.tls.reneg_bytes,
        reneg_pkts=config.tls.reneg_pkts,
    )


# --- tlssession


def tls_settings(config: Config) -> TLSSettings:
    """The TLS client's certificates, checks and version limits."""
    return TLSSettings(
        ca=config.tls.ca,
        cert=config.tls.cert,
        key=config.tls.key,
        extra_certs=config.tls.extra_certs,
        remote_cert_tls=config.tls.remote_cert_tls,
        verify_x509_name=config.tls.verify_x509_name,
        tls_version_min=config.tls.version_min,
        tls_version_max=config.tls.version_max,
        tls_cipher=config.tls.cipher,
        tls_ciphersuites=config.tls.ciphersuites,
        # The convention of curl, Firefox and Chrome; a --tls-keylog option may come later.
        keylog=os.environ.get("SSLKEYLOGFILE") or None,
    )


def session_settings(config: Config) -> SessionSettings:
    """The tlssession core's settings: ``reneg-sec`` defaults to 3600 (0 stays "off"), the
    transport is the first remote's, and of the three wrapping keys only the one dynamic
    tls-crypt XORs in is kept (tls-crypt-v2's Kc, else tls-crypt's, else tls-auth's)."""
    if config.tls.crypt_v2_key is not None:
        wrap_key: bytes | None = config.tls.crypt_v2_key[:STATIC_KEY_LEN]  # Kc
    else:
        wrap_key = config.tls.crypt_key if config.tls.crypt_key is not None else config.tls.auth_key
    return SessionSettings(
        tls=tls_settings(config),
        username=config.client.username,
        password=config.client.password,
        data_ciphers=config.data.ciphers,
        data_ciphers_fallback=config.data.ciphers_fallback,
        cipher=config.data.cipher,
        auth=config.data.auth,
        compression=config.data.compression,
        tls_ekm=config.tls.ekm,
        hand_window=config.tls.hand_window,
        reneg_sec=reneg_sec(config),
        ping=config.data.ping,
        ping_restart=config.data.ping_restart,
        pull_filters=config.routing.pull_filters,
        route_nopull=config.routing.nopull,
        routes=tuple(
            PushedRoute(r.network, r.gateway, r.gateway_keyword, r.metric)
            for r in config.routing.routes
        ),
        routes_ipv6=tuple(
            PushedRoute6(r.network, r.gateway, r.metric) for r in config.routing.routes_ipv6
        ),
        redirect_gateway=config.routing.redirect_gateway,
        dhcp_options=config.routing.dhcp_options,
        tun_mtu=config.routing.tun_mtu,
        proto=config.transport.remotes[0].proto if config.transport.remotes else "udp",
        tls_crypt_v2=config.tls.crypt_v2_key is not None,
        wrap_key=wrap_key,
    )
