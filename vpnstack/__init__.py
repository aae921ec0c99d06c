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
    TLSError,
    TunnelClosed,
    VPNError,
)
from vpnstack.messages import Route, StateChange, TunnelInfo
from vpnstack.tunnel import Tunnel, open_tunnel

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
    "StateChange",
    "TLSError",
    "Tunnel",
    "TunnelClosed",
    "TunnelInfo",
    "VPNError",
    "load_config",
    "open_tunnel",
]
