"""The checked-in diagrams must match the code they are drawn from."""

from vpnstack.core.tlssession import machine
from vpnstack.diagram import (
    DIAGRAM_PATH,
    TLSSESSION_DIAGRAM_PATH,
    render,
    render_tlssession,
    transition_label,
)
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


def test_checked_in_tlssession_diagram_is_current() -> None:
    assert TLSSESSION_DIAGRAM_PATH.read_text(encoding="utf-8") == render_tlssession(), (
        "diagrams/tlssession.md is stale: run `python -m vpnstack.diagram` and commit it"
    )


def test_one_arrow_per_row_of_the_table() -> None:
    arrows = [line for line in render_tlssession().splitlines() if " --> " in line]
    expected = [
        f"    {'[*]' if phase is None else phase.name} --> {target.name} : "
        f"{transition_label(event, action)}"
        for phase, event, target, action in machine.rows()
    ]
    assert arrows == expected
    assert len(arrows) == sum(len(row) for row in machine.TRANSITIONS.values())


def test_key_id_0_and_renegotiation_phases_are_told_apart() -> None:
    text = render_tlssession()
    assert "class HARD_RESET_SENT,TLS_HANDSHAKE,KEY_EXCHANGE,PUSH_WAIT keyid0" in text
    assert "class SOFT_RESET_SENT,REKEY_TLS,REKEY_KEY_EXCHANGE rekey" in text
    assert not machine.KEY_ID_0_PHASES & machine.RENEGOTIATION_PHASES
