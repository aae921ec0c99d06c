"""The checked-in diagram must match the wiring the stack runs."""

from vpnstack.diagram import DIAGRAM_PATH, render
from vpnstack.wiring import Channels


def test_checked_in_diagram_is_current() -> None:
    assert DIAGRAM_PATH.read_text(encoding="utf-8") == render(), (
        "diagrams/layers.md is stale: run `python -m vpnstack.diagram` and commit it"
    )


def test_every_channel_is_drawn_with_its_direction() -> None:
    text = render()
    for spec in Channels().specs:
        assert f"{spec.producer} -->|\"{spec.name}:" in text
        assert spec.name.startswith(spec.name.split("_to_")[0])
    names = [spec.name for spec in Channels().specs]
    assert len(names) == len(set(names)), "channel names must be unique"
