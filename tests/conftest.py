"""Shared test fixtures: a generated lab PKI (certificates and static keys, never checked in)."""

from __future__ import annotations

import pytest

from vpnstack.lab.pki import Pki, generate_pki


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A PKI (root, intermediate, server/client certs, static keys) as PEM files in a tmp dir."""
    return generate_pki(str(tmp_path_factory.mktemp("pki")))
