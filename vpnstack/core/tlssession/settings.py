"""What the tlssession core needs to know from the configuration, and nothing more.

How this works: the core never sees a ``Config``. ``vpnstack.settings.session_settings``
builds one :class:`SessionSettings` (with a :class:`TLSSettings` inside) from the parsed
configuration, applying the defaults there; the core, ``TLSClient``, the peer-info and OCC
builders and the cipher negotiation read only these records. Secrets (the private key, the
password, the original wrapping key) are left out of ``repr``.
"""

from __future__ import annotations

import attrs

from vpnstack.core.tlssession.push import PullFilters, PushedRoute, PushedRoute6


@attrs.frozen
class TLSSettings:
    """What ``TLSClient`` and ``check_server_leaf`` need (docs §5.1)."""

    ca: bytes
    """PEM of the trusted CA certificate(s); may hold several, intermediates too."""
    cert: bytes | None = None
    """PEM client certificate, or None for a certificate-less client."""
    key: bytes | None = attrs.field(default=None, repr=False)
    """PEM client private key (never shown)."""
    extra_certs: bytes | None = None
    """PEM chain sent after our certificate."""
    remote_cert_tls: str | None = None
    """``remote-cert-tls``: "server" requires key usage and EKU serverAuth on the leaf."""
    verify_x509_name: tuple[str, str] | None = None
    """``verify-x509-name`` as (name, type); type is subject, name or name-prefix."""
    tls_version_min: str | None = None
    """Lowest TLS version to accept ("1.2" when None, as OpenVPN 2.6)."""
    tls_version_max: str | None = None
    """Highest TLS version to offer, or None for no limit."""
    tls_cipher: str | None = None
    """``tls-cipher``: OpenSSL cipher list for TLS 1.2 (OpenSSL's names), or None."""
    tls_ciphersuites: str | None = None
    """``tls-ciphersuites``: TLS 1.3 cipher suites, or None for OpenSSL's default."""
    keylog: str | None = None
    """Append the TLS secrets to this file in the NSS key log format (``SSLKEYLOGFILE``);
    None: never written anywhere."""


@attrs.frozen
class SessionSettings:
    """What ``SessionCore`` needs: credentials, ciphers, timers, push filters, local options."""

    tls: TLSSettings
    """The TLS client's settings."""
    username: str | None = None
    """``auth-user-pass`` user name, or None."""
    password: str | None = attrs.field(default=None, repr=False)
    """``auth-user-pass`` password, or None (never shown)."""
    data_ciphers: tuple[str, ...] = ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305")
    """``data-ciphers`` in order of preference, upper-case."""
    data_ciphers_fallback: str | None = None
    """``data-ciphers-fallback``: the cipher for a server that cannot negotiate."""
    cipher: str | None = None
    """Legacy ``cipher`` line (the fallback when ``data_ciphers_fallback`` is None)."""
    auth: str = "SHA1"
    """``auth`` digest: the HMAC of CBC data packets and the OCC string's ``auth``."""
    compression: str | None = None
    """``comp-lzo``/``compress`` as configured (only selects a framing, docs §6.4)."""
    tls_ekm: bool = True
    """Announce TLS-EKM key derivation (IV_PROTO bit 3, docs §5.3)."""
    hand_window: float = 60.0
    """Seconds a negotiation (key id 0 or a renegotiation) may take (docs §4)."""
    reneg_sec: float = 3600.0
    """Seconds after a key's key-method 2 exchange to renegotiate; 0 turns it off (§5.7)."""
    ping: int | None = None
    """Configured ``ping``; a pushed one wins."""
    ping_restart: int | None = None
    """Configured ``ping-restart``; a pushed one wins."""
    pull_filters: PullFilters = ()
    """``pull-filter`` lines in order, as (action, text)."""
    route_nopull: bool = False
    """``route-nopull``: pushed routes are filtered out."""
    routes: tuple[PushedRoute, ...] = ()
    """The configuration's own ``route`` lines, added to the pushed ones."""
    routes_ipv6: tuple[PushedRoute6, ...] = ()
    """The configuration's own ``route-ipv6`` lines."""
    redirect_gateway: tuple[str, ...] | None = None
    """Flags of a configured ``redirect-gateway`` (None: absent); a pushed one wins."""
    dhcp_options: tuple[tuple[str, str], ...] = ()
    """Configured ``dhcp-option`` lines as (TYPE, value)."""
    tun_mtu: int | None = None
    """Configured ``tun-mtu``; a pushed one wins."""
    proto: str = "udp"
    """Transport of the remote: udp, udp4, udp6, tcp, tcp4, tcp6 (for the OCC string)."""
    tls_crypt_v2: bool = False
    """tls-crypt-v2 is in use: start with HARD_RESET_CLIENT_V3 and answer RESEND_WKC (§3.9)."""
    wrap_key: bytes | None = attrs.field(default=None, repr=False)
    """The original wrapping's 256-byte key that dynamic tls-crypt XORs in (§3.10 step 2):
    tls-crypt-v2's Kc, else the tls-crypt key, else the tls-auth key; None without wrapping."""
