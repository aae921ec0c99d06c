"""Every fuzz target, by name."""

from __future__ import annotations

from tests.fuzz import (
    grammar,
    targets_config,
    targets_control,
    targets_data,
    targets_icmp,
    targets_packets,
    targets_reliable,
    targets_session,
    targets_tcp,
    targets_tls,
    targets_x509,
)
from tests.fuzz.engine import Target


def all_targets() -> list[Target]:
    """All targets in a fixed order (wire up from the bottom, then the config)."""
    result: list[Target] = []
    for module in (
        targets_packets,
        targets_tcp,
        targets_control,
        targets_reliable,
        targets_data,
        targets_tls,
        targets_session,
        targets_x509,
        targets_icmp,
        targets_config,
        grammar,
    ):
        result += module.targets()
    names = [t.name for t in result]
    assert len(names) == len(set(names)), "duplicate target names"
    return result
