"""The tlssession transition table (core/tlssession/machine.py) on its own, and the phases the
session moves through, driven with literal ``now`` values against the scripted server."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from tests.core.test_renegotiation import server_initiated, server_of, up
from tests.core.test_session import CLIENT_SID, PUSH_BASIC, Driver, config
from tests.core.tls_helpers import ScriptedServer, shared_pki
from vpnstack.core.shared import opcodes
from vpnstack.core.tlssession import machine
from vpnstack.core.tlssession.keymethod2 import ServerKeyMethod2
from vpnstack.core.tlssession.machine import (
    FINAL_PHASE,
    TRANSITIONS,
    UNHANDLED,
    Drop,
    Event,
    Ignore,
    Impossible,
    KeyMachine,
    Phase,
)
from vpnstack.core.tlssession.push import PushedOptions
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.errors import HandshakeTimeout, LocalError, RemoteProtocolError
from vpnstack.messages import ControlMessage
from vpnstack.settings import session_settings

SAMPLES: dict[type[Event], Callable[[], Event]] = {
    machine.Start: machine.Start,
    machine.ServerReset: lambda: machine.ServerReset(b"\x01" * 8, b""),
    machine.TlsData: lambda: machine.TlsData(b"\x16\x03\x03"),
    machine.TlsEstablished: lambda: machine.TlsEstablished("TLSv1.3"),
    machine.KeyMethod2Received: lambda: machine.KeyMethod2Received(
        ServerKeyMethod2(bytes(32), bytes(32), ""), 1.0
    ),
    machine.ControlRecord: lambda: machine.ControlRecord(b"INFO,x\x00"),
    machine.PushRequestDue: lambda: machine.PushRequestDue(5.0),
    machine.AuthPending: lambda: machine.AuthPending(300.0),
    machine.PushComplete: lambda: machine.PushComplete(PushedOptions()),
    machine.ExitRequested: machine.ExitRequested,
    machine.RenegotiationDue: lambda: machine.RenegotiationDue("test"),
    machine.ServerRenegotiates: lambda: machine.ServerRenegotiates(3),
    machine.ServerSoftReset: machine.ServerSoftReset,
    machine.ServerQuiet: lambda: machine.ServerQuiet(3.0),
    machine.HandWindowExpired: machine.HandWindowExpired,
}
"""One instance of every event type."""

EVENT_TYPES = [t for t in vars(machine).values() if isinstance(t, type) and issubclass(t, Event)]
EVENT_TYPES.remove(Event)


def never(action: str, event: Event) -> None:
    raise AssertionError(f"action {action} must not run")


# --- the table ---------------------------------------------------------------------------------


def test_every_event_type_has_a_sample_and_an_unhandled_path() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES) == set(UNHANDLED)


def test_every_rows_next_state_is_a_phase_and_every_phase_has_a_row_set() -> None:
    assert set(TRANSITIONS) == {None, *Phase}
    for phase, event, target, action in machine.rows():
        assert isinstance(target, Phase), (phase, event)
        assert event in EVENT_TYPES and action.isidentifier()


def test_every_phase_but_the_final_one_has_an_exit() -> None:
    for phase in Phase:
        exits = {target for target, _ in TRANSITIONS[phase].values() if target is not phase}
        if phase is FINAL_PHASE:
            assert TRANSITIONS[phase] == {}
        else:
            assert exits, f"{phase.name} has no way out"


def test_every_phase_is_reachable_from_a_birth() -> None:
    reached = {target for target, _ in TRANSITIONS[None].values()}
    while True:
        more = {target for p in reached for target, _ in TRANSITIONS[p].values()} - reached
        if not more:
            break
        reached |= more
    assert reached == set(Phase)


def test_key_id_0_and_renegotiated_keys_take_separate_roads_to_active() -> None:
    def road(start: type[Event], steps: list[type[Event]]) -> list[Phase]:
        phase, _ = TRANSITIONS[None][start]
        seen = [phase]
        for step in steps:
            phase, _ = TRANSITIONS[phase][step]
            seen.append(phase)
        return seen

    key0 = road(
        machine.Start,
        [machine.ServerReset, machine.TlsEstablished, machine.KeyMethod2Received,
         machine.PushComplete],
    )  # fmt: skip
    assert key0 == [
        Phase.HARD_RESET_SENT, Phase.TLS_HANDSHAKE, Phase.KEY_EXCHANGE, Phase.PUSH_WAIT,
        Phase.ACTIVE,
    ]  # fmt: skip
    ours = road(
        machine.RenegotiationDue,
        [machine.ServerSoftReset, machine.TlsEstablished, machine.KeyMethod2Received],
    )
    assert ours == [
        Phase.SOFT_RESET_SENT, Phase.REKEY_TLS, Phase.REKEY_KEY_EXCHANGE, Phase.ACTIVE
    ]
    theirs = road(machine.ServerRenegotiates, [machine.TlsEstablished, machine.KeyMethod2Received])
    assert theirs == [Phase.REKEY_TLS, Phase.REKEY_KEY_EXCHANGE, Phase.ACTIVE]
    assert set(key0[:-1]) == machine.KEY_ID_0_PHASES
    assert set(ours[:-1]) == machine.RENEGOTIATION_PHASES


def test_hand_window_runs_exactly_while_a_key_negotiates() -> None:
    negotiating = {p for p in Phase if machine.HandWindowExpired in TRANSITIONS[p]}
    assert negotiating == machine.KEY_ID_0_PHASES | machine.RENEGOTIATION_PHASES


def test_every_action_is_a_session_method_and_every_method_an_action() -> None:
    actions = {action for *_, action in machine.rows()}
    methods = {
        name.removeprefix("_do_")
        for name, _ in inspect.getmembers(SessionCore, inspect.isfunction)
        if name.startswith("_do_")
    }
    assert actions == methods


UNHANDLED_CASES = [
    (phase, event)
    for phase in Phase
    for event in EVENT_TYPES
    if event not in TRANSITIONS[phase]
]


@pytest.mark.parametrize(
    ("phase", "event_type"),
    UNHANDLED_CASES,
    ids=[f"{p.name}-{e.__name__}" for p, e in UNHANDLED_CASES],
)
def test_an_event_without_a_row_takes_its_documented_path(
    phase: Phase, event_type: type[Event]
) -> None:
    key = KeyMachine(phase)
    event = SAMPLES[event_type]()
    path = UNHANDLED[event_type]
    if isinstance(path, Drop):
        with pytest.raises(RemoteProtocolError) as info:
            key.fire(event, never)
        assert info.value.reason == path.reason
    elif isinstance(path, Impossible):
        with pytest.raises(LocalError):
            key.fire(event, never)
    else:
        assert isinstance(path, Ignore)
        assert key.fire(event, never) == path
    assert key.phase is phase


def test_the_documented_paths_are_todays_reasons() -> None:
    assert UNHANDLED[machine.TlsData] == Drop("tls-data-before-server-reset")
    assert UNHANDLED[machine.ControlRecord] == Drop("app-data-before-key-method-2")
    assert UNHANDLED[machine.ServerRenegotiates] == Drop("soft-reset-during-negotiation")
    assert UNHANDLED[machine.ServerReset] == Ignore("duplicate-server-reset")
    assert UNHANDLED[machine.ServerSoftReset] == Ignore("duplicate-soft-reset")
    assert UNHANDLED[machine.RenegotiationDue] == Ignore("stale-renegotiation-request")
    assert UNHANDLED[machine.AuthPending] == Ignore()
    assert UNHANDLED[machine.ExitRequested] == Ignore()


def test_a_dropped_server_renegotiation_names_its_key_id() -> None:
    with pytest.raises(RemoteProtocolError, match="soft-reset-during-negotiation: key id 3"):
        KeyMachine(Phase.PUSH_WAIT).fire(machine.ServerRenegotiates(3), never)


# --- firing ------------------------------------------------------------------------------------


def test_the_action_runs_in_the_old_phase_then_the_key_moves_on() -> None:
    key = KeyMachine(Phase.HARD_RESET_SENT)
    seen: list[tuple[str, Phase]] = []
    taken = key.fire(SAMPLES[machine.ServerReset](), lambda a, e: seen.append((a, key.phase)))
    assert taken is None
    assert seen == [("begin_tls", Phase.HARD_RESET_SENT)]
    assert key.phase is Phase.TLS_HANDSHAKE


def test_an_action_that_raises_leaves_the_phase() -> None:
    key = KeyMachine(Phase.HARD_RESET_SENT)

    def refuse(action: str, event: Event) -> None:
        raise RemoteProtocolError("server-reset-without-session-id")

    with pytest.raises(RemoteProtocolError):
        key.fire(SAMPLES[machine.ServerReset](), refuse)
    assert key.phase is Phase.HARD_RESET_SENT


def test_nested_events_of_a_self_loop_stand() -> None:
    key = KeyMachine(Phase.PUSH_WAIT)

    def push_completes(action: str, event: Event) -> None:
        assert action == "read_control_texts"
        key.fire(SAMPLES[machine.PushComplete](), lambda a, e: None)

    key.fire(SAMPLES[machine.ControlRecord](), push_completes)
    assert key.phase is Phase.ACTIVE


def test_births() -> None:
    assert KeyMachine.born(machine.Start())[0].phase is Phase.HARD_RESET_SENT
    due = KeyMachine.born(machine.RenegotiationDue("x"))
    assert (due[0].phase, due[1]) == (Phase.SOFT_RESET_SENT, "send_soft_reset")
    assert KeyMachine.born(machine.ServerRenegotiates(1))[0].phase is Phase.REKEY_TLS
    with pytest.raises(LocalError):
        KeyMachine.born(machine.ServerSoftReset())


def test_events_holding_secrets_keep_them_out_of_repr() -> None:
    record = machine.ControlRecord(b"PUSH_REPLY,auth-token SESS_ID_AT_x\x00")
    km2 = machine.KeyMethod2Received(ServerKeyMethod2(b"\xaa" * 32, b"\xbb" * 32, ""), 1.0)
    assert "SESS_ID" not in repr(record) and "aaaa" not in repr(km2)


# --- the phases a session goes through ---------------------------------------------------------


def test_key_id_0_phases_from_start_to_active() -> None:
    server = ScriptedServer(shared_pki(), push_script=[[PUSH_BASIC]])
    core = SessionCore(session_settings(config()), local_session_id=CLIENT_SID)
    core.start(100.0)
    assert core.phases() == {0: Phase.HARD_RESET_SENT}
    [reset] = server.handle(core.outputs())
    core.receive(reset, 100.5)
    assert core.phases() == {0: Phase.TLS_HANDSHAKE}
    Driver(core, server).pump(101.0)
    assert core.phases() == {0: Phase.ACTIVE} and core.tunnel_up


def test_renegotiations_make_a_lame_duck_and_forget_the_one_before() -> None:
    driver = up(tls__reneg_sec=50)
    driver.core.on_timer(150.0)  # reneg-sec from key-method 2 at 100.0
    assert driver.core.phases() == {0: Phase.LAME_DUCK, 1: Phase.SOFT_RESET_SENT}
    for reply in server_of(driver).handle(driver.core.outputs()):
        driver.core.receive(reply, 150.5)
    driver.pump(150.5)
    assert driver.core.phases() == {0: Phase.LAME_DUCK, 1: Phase.ACTIVE}
    server_initiated(driver, 2, 160.0)
    assert driver.core.phases() == {1: Phase.LAME_DUCK, 2: Phase.ACTIVE}
    assert driver.core.counters().renegotiations == 2


def test_a_second_server_reset_is_ignored_and_counted() -> None:
    core = SessionCore(session_settings(config()), local_session_id=CLIENT_SID)
    core.start(10.0)
    reset = ControlMessage(
        opcodes.P_CONTROL_HARD_RESET_SERVER_V2, 0, peer_session_id=b"\x05" * 8
    )
    core.receive(reset, 10.5)
    core.outputs()
    core.receive(reset, 10.6)
    assert core.outputs() == []
    assert core.counters().ignored == {"duplicate-server-reset": 1}
    assert core.phases() == {0: Phase.TLS_HANDSHAKE}


def test_a_server_reset_without_session_id_is_dropped_and_changes_nothing() -> None:
    core = SessionCore(session_settings(config()), local_session_id=CLIENT_SID)
    core.start(10.0)
    with pytest.raises(RemoteProtocolError, match="server-reset-without-session-id"):
        core.receive(ControlMessage(opcodes.P_CONTROL_HARD_RESET_SERVER_V2, 0), 10.5)
    assert core.phases() == {0: Phase.HARD_RESET_SENT} and core.server_session_id is None


def test_a_repeated_soft_reset_is_ignored_and_counted() -> None:
    driver = up()
    server_initiated(driver, 1, 200.0)
    driver.core.receive(ControlMessage(opcodes.P_CONTROL_SOFT_RESET_V1, 1), 201.0)
    assert driver.core.outputs() == []
    assert driver.core.counters().ignored == {"duplicate-soft-reset": 1}


def test_exit_only_once_a_key_is_active() -> None:
    core = SessionCore(session_settings(config()), local_session_id=CLIENT_SID)
    assert not core.send_exit()
    core.start(0.0)
    core.outputs()
    assert not core.send_exit() and core.outputs() == []
    driver = up()
    assert driver.core.send_exit()
    sent = driver.core.outputs()
    assert [m.opcode for m in sent if isinstance(m, ControlMessage)] == [opcodes.P_CONTROL_V1]


def test_auth_pending_once_up_changes_nothing() -> None:
    driver = up()
    server_of(driver).send_texts([b"AUTH_PENDING,timeout 300\x00"])
    outputs = driver.pump(200.0)
    assert outputs == [] and driver.core.counters().ignored == {}
    assert driver.core.counters().control_texts_received == 2


def test_a_stuck_renegotiation_names_its_phase() -> None:
    driver = up(tls__reneg_sec=50, tls__hand_window=30.0)
    driver.core.on_timer(150.0)
    driver.core.outputs()
    with pytest.raises(HandshakeTimeout) as info:
        driver.core.on_timer(180.0)
    assert str(info.value) == (
        "the renegotiation of data-channel key id 1 did not complete within 30 s "
        "(hand-window, stuck in phase reset sent); a new session is needed"
    )
