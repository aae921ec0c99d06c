"""Inputs the fuzz harness found crashing, each now answered with the documented typed error."""

from __future__ import annotations

import pytest

from tests.fuzz.keys import SERVER_CERT_DER
from tests.fuzz.targets_x509 import handshake_with_certificate
from vpnstack.config import parse_config
from vpnstack.errors import CertificateError, ConfigError


def test_a_server_certificate_cryptography_cannot_parse_is_a_certificate_error() -> None:
    # notBefore "2501010000x0Z" (offset 68): OpenSSL parses the certificate, cryptography
    # raises ValueError inside the verify callback, which used to escape TLSClient.feed.
    der = bytearray(SERVER_CERT_DER)
    assert der[68:69] == b"0"
    der[68:69] = b"x"
    with pytest.raises(CertificateError, match="cannot be read"):
        handshake_with_certificate(bytes(der))


def test_a_nul_in_a_file_argument_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="NUL"):
        parse_config("client\nremote h\ncert a\0\n", source="c.ovpn")


def test_nested_setenv_opt_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nests"):
        parse_config("setenv opt " * 500 + "verb 3\n", source="c.ovpn")
