"""CI's share of the fuzz harness: every target, 300 inputs, a fixed seed, zero crashes.

The long runs are ``scripts/fuzz N``; this keeps the whole file well under 20 s. A target that
crashes on today's code is listed in ``KNOWN_CRASHES`` with the crash it shows, and left out
until the lead fixes it and adds the regression test.
"""

from __future__ import annotations

import random

import pytest

from tests.fuzz.engine import Target
from tests.fuzz.registry import all_targets
from tests.fuzz.runner import TargetResult, fuzz_target

INPUTS = 300
SEED = 20250801

KNOWN_CRASHES: dict[str, str] = {}
"""target name -> the crash it shows today, kept out of CI until fixed."""

TARGETS = all_targets()


def findings(result: TargetResult) -> str:
    """A readable account of a result's crashes and hangs ("" if there are none)."""
    lines = []
    for crash in result.crashes.values():
        lines.append(f"crash {crash.key} (x{crash.count}) on input {crash.data[:120].hex()}")
        lines.append(crash.traceback)
    for hang in result.hangs:
        lines.append(f"hang {hang.seconds:.2f} s on input {hang.data[:120].hex()}")
    return "\n".join(lines)


@pytest.mark.parametrize(
    "target", [t for t in TARGETS if t.name not in KNOWN_CRASHES], ids=lambda t: t.name
)
def test_target_survives_mutated_inputs(target: Target) -> None:
    result = fuzz_target(target, INPUTS, SEED)
    assert result.tried == INPUTS
    assert not result.failed, findings(result)


def test_every_target_has_samples_that_fit_the_budget() -> None:
    for target in TARGETS:
        assert target.samples, target.name
        assert len(target.samples) <= INPUTS, target.name


def test_inputs_are_deterministic_for_a_seed() -> None:
    by_name = {t.name: t for t in TARGETS}
    for name in ("packets-decode-control", "reliable", "config", "push-options"):
        target = by_name[name]
        runs = []
        for _ in range(2):
            rng = random.Random(f"{SEED}:{name}")
            runs.append([target.mutate(rng.choice(target.samples), rng) for _ in range(200)])
        assert runs[0] == runs[1], name
        assert len(set(runs[0])) > 100, f"{name}: the mutations hardly vary"
