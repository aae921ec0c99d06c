"""Fixtures for the system tests: throw-away namespaces and helper processes inside them.

Tests that need them are marked ``e2e`` (they need root, ``ip`` and ``/dev/net/tun``) and are
skipped with the reason otherwise. Nothing is created in the test machine's own namespace.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.system.nstools import Namespaces, NsChild


def netns_skip_reason() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, TUN devices)"
    if shutil.which("ip") is None:
        return "needs the 'ip' binary (apt-get install -y iproute2)"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    return None


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    """A client namespace with a default route via a router namespace; deleted afterwards."""
    reason = netns_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    spaces = Namespaces.create()
    try:
        yield spaces
    finally:
        spaces.delete()


StartChild = Callable[[str, dict[str, Any]], NsChild]


@pytest.fixture
def ns_child(namespaces: Namespaces) -> Iterator[StartChild]:
    """A factory ``start(mode, args) -> NsChild`` running the helper in the client namespace."""
    children: list[NsChild] = []

    def start(mode: str, args: dict[str, Any]) -> NsChild:
        child = NsChild(namespaces.client, mode, args)
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()
