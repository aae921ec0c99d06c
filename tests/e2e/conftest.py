"""End-to-end fixtures: ``openvpn_lab``, a factory of real OpenVPN servers in namespaces.

Usage::

    def test_something(openvpn_lab):
        lab = openvpn_lab(ServerOptions(wrapping="tls-auth", auth="SHA256"))
        text = lab.client_config_text()        # or lab.write_client_config(path)
        ... connect to (lab.server_address, lab.port) ...

Every lab started by the factory is stopped at teardown (server killed by pid, namespace and
temp dir deleted). Tests in this folder are marked ``e2e`` and skipped, with the reason, when
not running as root or when the ``openvpn``/``ip`` binaries are missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vpnstack.lab.server import OpenVPNLab, ServerOptions

from .clientproc import ClientProcess

_HERE = Path(__file__).parent


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "e2e tests need root (network namespaces, tun devices)"
    for binary in ("openvpn", "ip"):
        if shutil.which(binary) is None:
            return f"e2e tests need the '{binary}' binary (apt-get install -y openvpn iproute2)"
    if not os.path.exists("/dev/net/tun"):
        return "e2e tests need /dev/net/tun"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


StartLab = Callable[..., OpenVPNLab]


@pytest.fixture
def openvpn_lab() -> Iterator[StartLab]:
    """A factory ``start(options=ServerOptions()) -> OpenVPNLab`` (started, ready)."""
    labs: list[OpenVPNLab] = []

    def start(options: ServerOptions | None = None) -> OpenVPNLab:
        lab = OpenVPNLab(options)
        labs.append(lab)
        lab.start()
        return lab

    yield start
    for lab in labs:
        lab.stop()


@pytest.fixture
def clients() -> Iterator[list[ClientProcess]]:
    """vpnstack-client processes a test started (``clientproc``); all stopped at teardown."""
    started: list[ClientProcess] = []
    yield started
    for client in started:
        client.stop()
