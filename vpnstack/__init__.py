"""vpnstack: an OpenVPN-compatible client built as a channel-pipelined layered protocol stack."""

from __future__ import annotations

from vpnstack.config import Config, Remote, load_config
from vpnstack.errors import (
    AuthFailed,
    CertificateError,
    CipherNegotiationFailed,
    ConfigError,
    HandshakeTimeout,
    KeepaliveTimeout,
    NetworkError,
    ServerHalted,
    TunnelClosed,
    VPNError,
)
from vpnstack.messages import Route, TunnelInfo

__all__ = [
    "AuthFailed",
    "CertificateError",
    "CipherNegotiationFailed",
    "Config",
    "ConfigError",
    "HandshakeTimeout",
    "KeepaliveTimeout",
    "NetworkError",
    "Remote",
    "Route",
    "ServerHalted",
    "TunnelClosed",
    "TunnelInfo",
    "VPNError",
    "load_config",
]
