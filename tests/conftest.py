"""Shared test fixtures: a generated lab PKI (certificates and static keys, never checked in).

``VPNSTACK_REQUIRE_E2E=1`` (set by ``.ci/run``) makes a run with any skipped test fail, naming
each skip and its reason: a machine without root, ``openvpn``, ``ip`` or ``/dev/net/tun`` skips
the end-to-end and system tiers, and CI must not pass with them silently gone.
"""

from __future__ import annotations

import os

import pytest

from vpnstack.lab.pki import Pki, generate_pki

REQUIRE_E2E_VARIABLE = "VPNSTACK_REQUIRE_E2E"
"""The environment variable that makes a missing end-to-end environment a failure."""


def e2e_required() -> bool:
    """Whether this run must have the real environment (``VPNSTACK_REQUIRE_E2E=1``)."""
    return os.environ.get(REQUIRE_E2E_VARIABLE, "") not in ("", "0")


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every skipped test with its reason."""
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Under VPNSTACK_REQUIRE_E2E=1, name each skipped test: each one is a failure."""
    if e2e_required() and _skipped:
        terminalreporter.section(f"skips are failures ({REQUIRE_E2E_VARIABLE}=1)", red=True)
        for line in _skipped:
            terminalreporter.line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under VPNSTACK_REQUIRE_E2E=1, a run with skipped tests fails."""
    if e2e_required() and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A PKI (root, intermediate, server/client certs, static keys) as PEM files in a tmp dir."""
    return generate_pki(str(tmp_path_factory.mktemp("pki")))
