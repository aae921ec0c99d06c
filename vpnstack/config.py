"""Client configuration: the ``Config`` record and ``load_config`` for .ovpn files.

PARSER: to be written (see load_config). The field names of ``Config`` are a contract used by
the layers; add fields freely, but do not rename these.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Remote:
    """One ``remote`` line."""

    host: str
    """Host name or address literal."""
    port: int = 1194
    """UDP/TCP port."""
    proto: str = "udp"
    """``udp``, ``udp4``, ``udp6`` (TCP arrives in a later issue)."""


@attrs.frozen(repr=False)
class Config:
    """A parsed client configuration. ``repr`` hides key material."""

    source: str
    """Path of the file it came from (or ``<string>``)."""
    remotes: tuple[Remote, ...]
    """``remote`` lines in order."""
    ca: bytes
    """PEM of the trusted CA certificate(s) (``ca``); may hold several, intermediates too."""
    cert: bytes | None = None
    """PEM client certificate (``cert``)."""
    key: bytes | None = None
    """PEM client private key (``key``)."""
    extra_certs: bytes | None = None
    """PEM chain sent after our certificate (``extra-certs``)."""
    tls_auth_key: bytes | None = None
    """The 256-byte static key of ``tls-auth`` (PROTOCOL.md §4.1), or None."""
    key_direction: int | None = None
    """``key-direction`` 0 or 1 (or the inline direction of ``tls-auth FILE 1``)."""
    tls_crypt_key: bytes | None = None
    """The 256-byte static key of ``tls-crypt``, or None."""
    auth: str = "SHA1"
    """``auth`` digest name: SHA1, SHA256, SHA512 (tls-auth HMAC, CBC data HMAC)."""
    cipher: str | None = None
    """Legacy ``cipher`` line (appended to the negotiable list as the fallback)."""
    data_ciphers: tuple[str, ...] = ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305")
    """``data-ciphers`` in order of preference, upper-case canonical names."""
    remote_cert_tls: str | None = None
    """``remote-cert-tls server`` -> "server": require EKU serverAuth on the server cert."""
    verify_x509_name: tuple[str, str] | None = None
    """``verify-x509-name NAME [TYPE]`` as (name, type); type is subject/name/name-prefix."""
    tls_version_min: str | None = None
    """``tls-version-min`` "1.2" or "1.3"."""
    tls_version_max: str | None = None
    """``tls-version-max`` "1.2" or "1.3"."""
    tls_mtu: int = 1250
    """``tls-mtu``: upper bound of a control packet including IP/UDP headers (§3)."""
    tls_timeout: float = 2.0
    """``tls-timeout``: initial control-packet retransmission timeout (§3)."""
    hand_window: float = 60.0
    """``hand-window``: the whole handshake must finish within this many seconds."""
    username: str | None = None
    """From ``auth-user-pass`` (file or inline); None when not used."""
    password: str | None = None
    """From ``auth-user-pass``; never logged."""
    verb: int = 1
    """``verb`` level."""

    def __repr__(self) -> str:
        remotes = ", ".join(f"{r.host}:{r.port}/{r.proto}" for r in self.remotes)
        return f"Config(source={self.source!r}, remotes=[{remotes}])"


def load_config(path: str) -> Config:
    """Parse the .ovpn file at ``path``; raise ``ConfigError`` with file:line on bad input."""
    raise NotImplementedError("load_config: parser not written yet")
