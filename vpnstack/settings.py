"""What each layer's core gets from the config, and the defaults.

The cores in ``vpnstack/core/`` never import ``vpnstack.config``: each takes a small frozen
settings record holding exactly what it reads. The builders here are the one place that maps
the parsed ``Config`` onto those records and applies the defaults that are not the parser's
business (e.g. ``reneg-sec`` 3600 when the configuration says nothing).
"""

from __future__ import annotations

from vpnstack.config import Config
from vpnstack.core.shared.ciphers import STATIC_KEY_LEN
from vpnstack.core.tlssession.renegotiation import RENEG_SEC_DEFAULT
from vpnstack.core.tlssession.settings import SessionSettings, TLSSettings

# --- tlssession ---------------------------------------------------------------------------------


def tls_settings(config: Config) -> TLSSettings:
    """The TLS client's certificates, checks and version limits."""
    return TLSSettings(
        ca=config.ca,
        cert=config.cert,
        key=config.key,
        extra_certs=config.extra_certs,
        remote_cert_tls=config.remote_cert_tls,
        verify_x509_name=config.verify_x509_name,
        tls_version_min=config.tls_version_min,
        tls_version_max=config.tls_version_max,
    )


def session_settings(config: Config) -> SessionSettings:
    """The tlssession core's settings: ``reneg-sec`` defaults to 3600 (0 stays "off"), the
    transport is the first remote's, and of the three wrapping keys only the one dynamic
    tls-crypt XORs in is kept (tls-crypt-v2's Kc, else tls-crypt's, else tls-auth's)."""
    if config.tls_crypt_v2_key is not None:
        wrap_key: bytes | None = config.tls_crypt_v2_key[:STATIC_KEY_LEN]  # Kc
    else:
        wrap_key = config.tls_crypt_key if config.tls_crypt_key is not None else config.tls_auth_key
    return SessionSettings(
        tls=tls_settings(config),
        username=config.username,
        password=config.password,
        data_ciphers=config.data_ciphers,
        data_ciphers_fallback=config.data_ciphers_fallback,
        cipher=config.cipher,
        auth=config.auth,
        compression=config.compression,
        tls_ekm=config.tls_ekm,
        hand_window=config.hand_window,
        reneg_sec=RENEG_SEC_DEFAULT if config.reneg_sec is None else float(config.reneg_sec),
        ping=config.ping,
        ping_restart=config.ping_restart,
        pull_filters=config.pull_filters,
        route_nopull=config.route_nopull,
        routes=config.routes,
        routes_ipv6=config.routes_ipv6,
        redirect_gateway=config.redirect_gateway,
        dhcp_options=config.dhcp_options,
        tun_mtu=config.tun_mtu,
        proto=config.remotes[0].proto if config.remotes else "udp",
        tls_crypt_v2=config.tls_crypt_v2_key is not None,
        wrap_key=wrap_key,
    )
