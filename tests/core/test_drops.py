"""The drop vocabulary: one enum, one name per violation, counted as plain strings."""

from __future__ import annotations

import json

from vpnstack.core.shared.drops import DropCounter, DropReason
from vpnstack.errors import RemoteProtocolError


def test_values_are_unique_kebab_case() -> None:
    values = [reason.value for reason in DropReason]
    assert len(values) == len(set(values))
    for value in values:
        assert value == value.lower() and " " not in value and "_" not in value


def test_the_hard_reset_key_id_violation_has_one_name() -> None:
    names = [r for r in DropReason if "hard-reset" in r.value]
    assert names == [DropReason.HARD_RESET_NONZERO_KEY_ID]


def test_counter_snapshot_has_plain_string_keys() -> None:
    drops = DropCounter()
    drops.drop(DropReason.MUXER_BUSY, 3)
    drops.drop(DropReason.MUXER_BUSY)
    snapshot = drops.snapshot()
    assert snapshot == {"muxer-busy": 4}
    (key,) = snapshot
    assert type(key) is str
    assert json.dumps(snapshot) == '{"muxer-busy": 4}'
    assert drops.total == 4


def test_remote_protocol_error_carries_the_member() -> None:
    error = RemoteProtocolError(DropReason.FOREIGN_SESSION, "session 01")
    assert error.reason is DropReason.FOREIGN_SESSION
    assert str(error) == "foreign-session: session 01"
