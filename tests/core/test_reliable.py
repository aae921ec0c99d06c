"""ReliableCore driven with literal ``now`` values (docs §4, §5.1, §4.12.1, §5.8.2)."""

from __future__ import annotations

import pytest

from vpnstack.core.reliabletransport.reliable import (
    ReliableCore,
    ReliableEvent,
    ReliableEventKind,
)
from vpnstack.core.shared import opcodes as op
from vpnstack.errors import LocalError, RemoteProtocolError
from vpnstack.messages import ControlMessage, ReliablePacket

PEER_SID = bytes.fromhex("a1a2a3a4a5a6a7a8")


def make_core(max_payload: int = 100, repeat_acks: bool = False) -> ReliableCore:
    return ReliableCore(max_payload=max_payload, repeat_acks=repeat_acks)


def hard_reset() -> ControlMessage:
    return ControlMessage(op.P_CONTROL_HARD_RESET_CLIENT_V2, 0)


def tls(data: bytes, key_id: int = 0) -> ControlMessage:
    return ControlMessage(op.P_CONTROL_V1, key_id, data)


def peer_ack(*ids: int, key_id: int = 0) -> ReliablePacket:
    return ReliablePacket(op.P_ACK_V1, key_id, acks=ids, peer_session_id=PEER_SID)


def peer(
    mid: int,
    payload: bytes = b"",
    *,
    opcode: int = op.P_CONTROL_V1,
    key_id: int = 0,
    acks: tuple[int, ...] = (),
) -> ReliablePacket:
    return ReliablePacket(opcode, key_id, acks, mid, payload, PEER_SID)


def ids(packets: list[ReliablePacket]) -> list[int | None]:
    return [p.message_id for p in packets]


def established(max_payload: int = 100, repeat_acks: bool = False) -> ReliableCore:
    """A core whose hard reset was acked by the server reset (delivered and acked at t=0).

    The reset was sent at -2 and again at 0, so its ack gives no RTT sample (Karn, §4.9): the
    RTO stays tls-timeout (2 s) and the stock timer rules show unchanged.
    """
    core = make_core(max_payload, repeat_acks)
    core.send(hard_reset(), -2.0)
    assert ids(core.packets_to_send(-2.0)) == [0]
    assert ids(core.packets_to_send(0.0)) == [0]
    got = core.receive(peer(0, opcode=op.P_CONTROL_HARD_RESET_SERVER_V2, acks=(0,)), 0.0)
    assert [m.opcode for m in got] == [op.P_CONTROL_HARD_RESET_SERVER_V2]
    out = core.packets_to_send(0.0)
    # with repeat_acks the lone ack goes twice (§4.9)
    assert [(p.opcode, p.acks) for p in out] == [(op.P_ACK_V1, (0,))] * (1 + repeat_acks)
    return core


def test_reset_is_one_packet_with_id_zero_and_empty_payload() -> None:
    core = make_core()
    core.send(hard_reset(), 5.0)
    assert core.packets_to_send(5.0) == [
        ReliablePacket(op.P_CONTROL_HARD_RESET_CLIENT_V2, 0, (), 0, b"")
    ]
    assert core.pop_events() == [
        ReliableEvent(ReliableEventKind.RESET_SENT, 0, op.P_CONTROL_HARD_RESET_CLIENT_V2)
    ]


def test_retransmission_schedule_2_4_8_16_capped_by_the_hand_window() -> None:
    core = make_core()
    core.send(hard_reset(), 0.0)
    sent_at = []
    t = 0.0
    for _ in range(7):
        out = core.packets_to_send(t)
        if out:
            assert ids(out) == [0]
            sent_at.append(t)
        deadline = core.next_timer()
        assert deadline is not None
        # nothing is due a moment before the deadline
        assert core.packets_to_send(deadline - 0.001) == []
        t = deadline
    # doubling from tls-timeout, at most the hand-window (60 s) apart (§4.9)
    assert sent_at == [0.0, 2.0, 6.0, 14.0, 30.0, 62.0, 122.0]
    assert core.statistics().retransmissions == 6


def test_tls_timeout_is_the_initial_timeout() -> None:
    core = ReliableCore(max_payload=100, tls_timeout=3.0)
    core.send(hard_reset(), 0.0)
    core.packets_to_send(0.0)
    assert core.next_timer() == 3.0
    core.packets_to_send(3.0)
    assert core.next_timer() == 9.0


def test_nothing_after_the_reset_until_the_reset_is_acked() -> None:
    core = make_core(max_payload=100)
    core.send(hard_reset(), 0.0)
    core.send(tls(bytes(range(250))), 0.0)
    assert ids(core.packets_to_send(0.0)) == [0]
    assert core.backlog() == 3
    # the reset's retransmission goes out, still nothing else
    assert ids(core.packets_to_send(2.0)) == [0]
    # an ack for id 1 (never sent) is ignored and does not open the gate
    core.receive(peer_ack(1), 2.5)
    assert core.packets_to_send(2.5) == []
    core.receive(peer_ack(0), 3.0)
    out = core.packets_to_send(3.0)
    assert ids(out) == [1, 2, 3]
    # §4 rule 7: cut with no regard for records, exactly max_payload bytes each
    assert [p.payload for p in out] == [
        bytes(range(100)),
        bytes(range(100, 200)),
        bytes(range(200, 250)),
    ]
    assert core.pop_events() == [
        ReliableEvent(ReliableEventKind.RESET_SENT, 0, op.P_CONTROL_HARD_RESET_CLIENT_V2),
        ReliableEvent(ReliableEventKind.RESET_ACKED, 0, op.P_CONTROL_HARD_RESET_CLIENT_V2),
    ]


def test_send_window_of_six() -> None:
    core = established(max_payload=10)
    core.send(tls(bytes(100)), 1.0)  # ids 1..10
    assert ids(core.packets_to_send(1.0)) == [1, 2, 3, 4, 5, 6]
    # acking a later id does not move the window: id 1 is still the oldest unacked
    core.receive(peer_ack(2, 3), 1.1)
    assert core.packets_to_send(1.1) == []
    core.receive(peer_ack(1), 1.2)
    # oldest unacked is now 4: ids up to 9 fit (9 - 4 < 6)
    assert ids(core.packets_to_send(1.2)) == [7, 8, 9]
    core.receive(peer_ack(4), 1.3)
    assert ids(core.packets_to_send(1.3)) == [10]
    assert core.unacked(0) == 6  # 5..10


def test_fast_retransmit_after_three_later_acks() -> None:
    core = established(max_payload=10)
    core.send(tls(bytes(40)), 10.0)  # ids 1..4
    assert ids(core.packets_to_send(10.0)) == [1, 2, 3, 4]
    core.receive(peer_ack(2), 10.1)
    core.receive(peer_ack(3), 10.2)
    assert core.packets_to_send(10.2) == []  # only two later acks so far
    core.receive(peer_ack(4), 10.3)
    out = core.packets_to_send(10.3)
    assert ids(out) == [1]
    stats = core.statistics()
    assert (stats.fast_retransmits, stats.retransmissions) == (1, 2)  # + the reset in established()
    # the counter restarts and the backoff continues: next try at 10.3 + 4
    assert core.next_timer() == pytest.approx(14.3)
    core.receive(peer_ack(4, 3), 11.0)  # repeated later acks count again (reliable.c)
    assert core.packets_to_send(11.0) == []
    core.receive(peer_ack(2), 11.1)
    assert ids(core.packets_to_send(11.1)) == [1]
    assert core.statistics().fast_retransmits == 2


def test_three_acks_in_one_packet_trigger_fast_retransmit() -> None:
    core = established(max_payload=10)
    core.send(tls(bytes(40)), 0.0)
    core.packets_to_send(0.0)
    core.receive(peer_ack(2, 3, 4), 0.5)
    assert ids(core.packets_to_send(0.5)) == [1]


def test_receive_in_order_delivery_and_buffering() -> None:
    core = established()
    assert core.receive(peer(3, b"c"), 1.0) == []
    assert core.receive(peer(2, b"b"), 1.0) == []
    got = core.receive(peer(1, b"a"), 1.0)
    assert [m.payload for m in got] == [b"a", b"b", b"c"]
    assert all(m.peer_session_id == PEER_SID for m in got)
    assert all((m.opcode, m.key_id) == (op.P_CONTROL_V1, 0) for m in got)
    # every received id is acked, in arrival order
    out = core.packets_to_send(1.0)
    assert [(p.opcode, p.acks) for p in out] == [(op.P_ACK_V1, (3, 2, 1))]
    assert core.packets_to_send(1.0) == []  # no new ids: no P_ACK_V1 (§4 rule 4)


def test_receive_window_of_twelve() -> None:
    core = established()  # next expected id is 1, window is [1, 13)
    assert core.receive(peer(13, b"late"), 1.0) == []
    assert core.statistics().drops == {"out-of-receive-window": 1}
    assert core.packets_to_send(1.0) == []  # not acked
    assert core.receive(peer(12, b"l"), 1.0) == []
    assert [p.acks for p in core.packets_to_send(1.0)] == [(12,)]
    delivered = []
    for mid in range(1, 12):
        delivered += core.receive(peer(mid, bytes([mid])), 1.0)
    assert [m.payload for m in delivered] == [bytes([i]) for i in range(1, 12)] + [b"l"]
    # the window moved: 13 is accepted now
    assert [m.payload for m in core.receive(peer(13, b"m"), 1.0)] == [b"m"]


def test_duplicates_are_acked_again_but_not_delivered() -> None:
    core = established()
    assert [m.payload for m in core.receive(peer(1, b"x"), 1.0)] == [b"x"]
    assert [p.acks for p in core.packets_to_send(1.0)] == [(1,)]
    assert core.receive(peer(1, b"x"), 2.0) == []  # delivered already
    assert [p.acks for p in core.packets_to_send(2.0)] == [(1,)]
    core.receive(peer(3, b"z"), 2.0)
    assert core.receive(peer(3, b"z"), 2.0) == []  # buffered already
    assert [p.acks for p in core.packets_to_send(2.0)] == [(3,)]  # one ack for both copies
    assert core.statistics().duplicates == 2


def test_piggy_back_at_most_four_then_ack_v1_with_at_most_eight() -> None:
    core = established()
    for mid in range(1, 13):
        core.receive(peer(mid), 1.0)
    core.send(tls(b"hello"), 1.0)
    out = core.packets_to_send(1.0)
    assert [(p.opcode, p.message_id, p.acks) for p in out] == [
        (op.P_CONTROL_V1, 1, (1, 2, 3, 4)),
        (op.P_ACK_V1, None, (5, 6, 7, 8, 9, 10, 11, 12)),
    ]
    for mid in range(13, 25):
        core.receive(peer(mid), 2.0)
    out = core.packets_to_send(2.0)
    assert [(p.opcode, p.acks) for p in out] == [
        (op.P_ACK_V1, tuple(range(13, 21))),
        (op.P_ACK_V1, tuple(range(21, 25))),
    ]


def test_recent_acks_fill_free_slots() -> None:
    core = established(repeat_acks=True)  # the ack of the server reset (0) is in the MRU
    core.receive(peer(1), 1.0)
    core.receive(peer(2), 1.0)
    # (a lone P_ACK_V1 is sent twice, the copy from the MRU: §4.9)
    assert [p.acks for p in core.packets_to_send(1.0)] == [(1, 2, 0), (2, 1, 0)]
    core.receive(peer(3), 2.0)
    assert [p.acks for p in core.packets_to_send(2.0)] == [(3, 2, 1, 0)] * 2
    # no *new* id: no P_ACK_V1, even though the MRU is not empty
    assert core.packets_to_send(3.0) == []
    # a piggy-backed packet fills its 4 slots from the MRU
    core.send(tls(b"x"), 4.0)
    out = core.packets_to_send(4.0)
    assert [(p.message_id, p.acks) for p in out] == [(1, (3, 2, 1, 0))]
    # at most 8 acks in a P_ACK_V1, MRU included
    for mid in range(4, 11):
        core.receive(peer(mid), 5.0)
    out = core.packets_to_send(5.0)
    assert [p.acks for p in out] == [(4, 5, 6, 7, 8, 9, 10, 3), (10, 9, 8, 7, 6, 5, 4, 3)]


def test_acks_for_unknown_ids_are_ignored() -> None:
    core = established()
    core.send(tls(b"a"), 1.0)
    core.packets_to_send(1.0)
    core.receive(peer_ack(99, 0, 7), 1.5)  # 0 is acked already, 7 and 99 were never sent
    assert core.unacked(0) == 1
    core.receive(peer_ack(1), 1.6)
    assert core.unacked(0) == 0
    assert core.next_timer() is None


def test_message_ids_are_per_key_id() -> None:
    core = established()
    core.send(tls(b"k0"), 1.0)
    assert [(p.key_id, p.message_id) for p in core.packets_to_send(1.0)] == [(0, 1)]
    core.send(ControlMessage(op.P_CONTROL_SOFT_RESET_V1, 1), 2.0)
    core.send(tls(b"k1-hello", key_id=1), 2.0)
    # key 1 starts at id 0 and its TLS bytes wait for its own reset's ack
    assert [(p.key_id, p.message_id) for p in core.packets_to_send(2.0)] == [(1, 0)]
    # an ack for id 0 on key 1 does not ack key 0's id 0 or 1, nor the other way round
    core.receive(peer_ack(1, key_id=0), 2.5)
    assert core.unacked(1) == 2
    got = core.receive(peer(0, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=1, acks=(0,)), 3.0)
    assert [(m.opcode, m.key_id) for m in got] == [(op.P_CONTROL_SOFT_RESET_V1, 1)]
    out = core.packets_to_send(3.0)
    assert [(p.key_id, p.message_id, p.acks, p.payload) for p in out] == [(1, 1, (0,), b"k1-hello")]
    # peer ids on key 1 also start at 0 and are delivered apart from key 0's
    assert [m.payload for m in core.receive(peer(1, b"sh", key_id=1), 3.5)] == [b"sh"]
    assert [m.payload for m in core.receive(peer(1, b"k0", key_id=0), 3.5)] == [b"k0"]


def test_peer_reset_triggers_a_burst_of_unacked_packets() -> None:
    core = established()
    core.send(ControlMessage(op.P_CONTROL_SOFT_RESET_V1, 1), 10.0)
    assert ids(core.packets_to_send(10.0)) == [0]
    assert core.next_timer() == 12.0
    # the peer's soft reset arrives without acking ours: ours goes out again at once (§4 rule 5)
    core.receive(peer(0, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=1), 11.0)
    out = core.packets_to_send(11.0)
    assert [(p.opcode, p.message_id, p.acks) for p in out] == [
        (op.P_CONTROL_SOFT_RESET_V1, 0, (0,))
    ]
    assert core.next_timer() == 13.0  # the backoff restarted at tls_timeout


def test_responder_answers_a_soft_reset_on_the_same_state() -> None:
    core = established()
    got = core.receive(peer(0, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=1), 5.0)
    assert len(got) == 1
    core.send(ControlMessage(op.P_CONTROL_SOFT_RESET_V1, 1), 5.0)
    out = core.packets_to_send(5.0)
    assert [(p.opcode, p.key_id, p.message_id, p.acks) for p in out] == [
        (op.P_CONTROL_SOFT_RESET_V1, 1, 0, (0,))
    ]


def test_key_id_reuse_after_wrap_starts_fresh_state() -> None:
    core = established()
    for key_id in range(1, 8):  # renegotiations 1..7, each started by us
        core.send(ControlMessage(op.P_CONTROL_SOFT_RESET_V1, key_id), float(key_id))
        core.packets_to_send(float(key_id))
        got = core.receive(
            peer(0, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=key_id, acks=(0,)), float(key_id)
        )
        assert len(got) == 1
        core.send(tls(b"x", key_id), float(key_id))
        assert ids(core.packets_to_send(float(key_id))) == [1]
        core.receive(peer(1, b"y", key_id=key_id, acks=(1,)), float(key_id))
    # a late copy of the soft reset of the newest key id is a duplicate, not a new key
    assert core.receive(peer(0, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=7), 8.0) == []
    # the peer starts the next renegotiation: key_id 1 again (7 -> 1, never 0)
    got = core.receive(peer(0, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=1), 9.0)
    assert [(m.opcode, m.key_id) for m in got] == [(op.P_CONTROL_SOFT_RESET_V1, 1)]
    core.send(ControlMessage(op.P_CONTROL_SOFT_RESET_V1, 1), 9.0)
    out = [p for p in core.packets_to_send(9.0) if p.key_id == 1]
    assert [(p.opcode, p.message_id) for p in out] == [(op.P_CONTROL_SOFT_RESET_V1, 0)]


def test_reset_with_nonzero_id_and_unknown_key_id_are_dropped() -> None:
    core = established()
    assert core.receive(peer(3, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=1), 1.0) == []
    assert core.receive(peer(0, b"tls", key_id=2), 1.0) == []
    assert core.receive(peer_ack(0, key_id=5), 1.0) == []
    assert core.packets_to_send(1.0) == []
    assert core.statistics().drops == {"reset-with-nonzero-message-id": 1, "unknown-key-id": 2}


@pytest.mark.parametrize(
    "packet",
    [
        ReliablePacket(op.P_ACK_V1, 0, (1,), 5),
        ReliablePacket(op.P_CONTROL_V1, 0, (), None),
        ReliablePacket(op.P_CONTROL_V1, 0, tuple(range(9)), 1),
        ReliablePacket(op.P_DATA_V2, 0, (), 1),
    ],
)
def test_impossible_packets_raise_remote_protocol_error(packet: ReliablePacket) -> None:
    core = established()
    with pytest.raises(RemoteProtocolError):
        core.receive(packet, 1.0)


@pytest.mark.parametrize(
    "message",
    [
        ControlMessage(op.P_ACK_V1, 0),
        ControlMessage(op.P_DATA_V1, 0, b"x"),
        ControlMessage(op.P_CONTROL_V1, 3, b"no reset on key 3"),
        ControlMessage(op.P_CONTROL_HARD_RESET_CLIENT_V2, 0, bytes(101)),
        ControlMessage(op.P_CONTROL_V1, 8, b"x"),
    ],
)
def test_misuse_from_above_raises_local_error(message: ControlMessage) -> None:
    core = established()
    with pytest.raises(LocalError):
        core.send(message, 1.0)


def test_tls_before_our_own_reset_on_a_peer_started_key_is_misuse() -> None:
    core = established()
    core.receive(peer(0, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=1), 1.0)
    with pytest.raises(LocalError):
        core.send(tls(b"x", key_id=1), 1.0)


def test_next_timer_backlog_and_queue_statistics() -> None:
    core = make_core(max_payload=10)
    assert core.next_timer() is None
    core.send(hard_reset(), 4.0)
    assert core.next_timer() == 4.0  # ready now
    core.send(tls(bytes(95)), 4.0)  # 10 packets
    assert core.backlog() == 11
    core.packets_to_send(4.0)
    assert core.backlog() == 10
    assert core.next_timer() == 6.0
    core.receive(peer(0, opcode=op.P_CONTROL_HARD_RESET_SERVER_V2, acks=(0,)), 5.0)
    assert core.next_timer() == 5.0  # acks and new packets wait
    out = core.packets_to_send(5.0)
    assert ids(out) == [1, 2, 3, 4, 5, 6]
    assert out[0].acks == (0,)
    stats = core.statistics()
    assert (stats.queue_peak, stats.queued, stats.messages_queued) == (11, 10, 2)
    assert (stats.packets_sent, stats.packets_received, stats.messages_delivered) == (7, 1, 1)


def test_empty_wkc_message_is_one_reliable_packet() -> None:
    # §3.9: message id 1 may have to be an empty P_CONTROL_WKC_V1 carrying the ack.
    core = established()
    core.send(ControlMessage(op.P_CONTROL_WKC_V1, 0, b""), 1.0)
    out = core.packets_to_send(1.0)
    assert [(p.opcode, p.message_id, p.payload) for p in out] == [(op.P_CONTROL_WKC_V1, 1, b"")]


def test_new_client_hard_reset_starts_a_new_session() -> None:
    core = established()
    core.send(tls(b"abc"), 1.0)
    core.send(hard_reset(), 2.0)
    out = core.packets_to_send(2.0)
    assert [(p.opcode, p.message_id) for p in out] == [(op.P_CONTROL_HARD_RESET_CLIENT_V2, 0)]
    assert core.unacked(0) == 1


def test_after_a_v3_reset_the_server_reset_ack_rides_on_our_next_packet() -> None:
    # §3.9: a stateless tls-crypt-v2 server cannot authenticate a lone P_ACK_V1 before it has
    # our WKc, so the ack of its reset must ride on our P_CONTROL_WKC_V1 (issue 7: core rule).
    core = make_core()
    core.send(ControlMessage(op.P_CONTROL_HARD_RESET_CLIENT_V3, 0), 0.0)
    assert ids(core.packets_to_send(0.0)) == [0]
    got = core.receive(peer(0, opcode=op.P_CONTROL_HARD_RESET_SERVER_V2, acks=(0,)), 0.5)
    assert [m.opcode for m in got] == [op.P_CONTROL_HARD_RESET_SERVER_V2]
    assert core.next_timer() is None  # the held ack is no work on its own
    assert core.packets_to_send(0.5) == []
    assert core.packets_to_send(100.0) == []  # however long the session takes
    core.send(ControlMessage(op.P_CONTROL_WKC_V1, 0, b""), 101.0)
    assert core.next_timer() == 101.0
    out = core.packets_to_send(101.0)
    assert [(p.opcode, p.message_id, p.acks) for p in out] == [(op.P_CONTROL_WKC_V1, 1, (0,))]
    assert core.statistics().acks_sent == 0
    # Once it had its ride, acks go as usual (a lone P_ACK_V1 when nothing else goes).
    core.receive(peer(1, b"hello", acks=(1,)), 102.0)
    assert core.next_timer() == 102.0
    out = core.packets_to_send(102.0)
    assert [(p.opcode, p.acks) for p in out] == [(op.P_ACK_V1, (1,))]


def test_after_a_v2_reset_the_server_reset_is_acked_at_once() -> None:
    core = make_core()
    core.send(hard_reset(), 0.0)
    core.packets_to_send(0.0)
    core.receive(peer(0, opcode=op.P_CONTROL_HARD_RESET_SERVER_V2, acks=(0,)), 0.5)
    assert core.next_timer() == 0.5
    out = core.packets_to_send(0.5)
    assert [(p.opcode, p.acks) for p in out] == [(op.P_ACK_V1, (0,))]


# --- §4.9 loss recovery: RTT estimate, Karn, floor, backoff cap, time threshold, rate bound


def sampled(rtt: float, max_payload: int = 100) -> ReliableCore:
    """A core whose reset (sent once at 0) was acked at ``rtt``: one RTT sample."""
    core = make_core(max_payload)
    core.send(hard_reset(), 0.0)
    assert ids(core.packets_to_send(0.0)) == [0]
    core.receive(peer(0, opcode=op.P_CONTROL_HARD_RESET_SERVER_V2, acks=(0,)), rtt)
    core.packets_to_send(rtt)  # the ack of the server's reset
    return core


def test_first_rtt_sample_sets_srtt_rttvar_and_the_rto() -> None:
    core = sampled(0.1)
    stats = core.statistics()
    # RFC 6298: srtt = R, rttvar = R/2, rto = srtt + 4 rttvar = 0.1 + 0.2
    assert stats.rtt_samples == 1
    assert stats.srtt == pytest.approx(0.1)
    assert stats.rto == pytest.approx(0.3)


def test_exact_retransmission_times_after_an_rtt_sample() -> None:
    core = sampled(0.1)
    core.send(tls(b"hello"), 1.0)
    sent_at = []
    t = 1.0
    for _ in range(5):
        if core.packets_to_send(t):
            sent_at.append(round(t, 6))
        deadline = core.next_timer()
        assert deadline is not None
        t = deadline
    # first RTO 0.3 s, then doubling: 1.0, 1.3, 1.9, 3.1, 5.5
    assert sent_at == [1.0, 1.3, 1.9, 3.1, 5.5]


def test_later_samples_are_smoothed() -> None:
    core = sampled(0.1)
    core.send(tls(b"a"), 1.0)
    core.packets_to_send(1.0)
    core.receive(peer_ack(1), 1.3)  # R = 0.3
    # rttvar = 3/4 0.05 + 1/4 |0.1 - 0.3| = 0.0875; srtt = 7/8 0.1 + 1/8 0.3 = 0.125
    stats = core.statistics()
    assert stats.srtt == pytest.approx(0.125)
    assert stats.rto == pytest.approx(0.125 + 4 * 0.0875)


def test_karn_no_sample_from_a_retransmitted_packet() -> None:
    core = sampled(0.1)
    core.send(tls(b"a"), 1.0)
    core.packets_to_send(1.0)
    core.packets_to_send(1.3)  # retransmitted
    core.receive(peer_ack(1), 1.35)  # an ack of either copy: no sample
    stats = core.statistics()
    assert stats.rtt_samples == 1
    assert stats.srtt == pytest.approx(0.1)


def test_rto_floor_is_200_ms() -> None:
    core = sampled(0.001)
    assert core.statistics().rto == pytest.approx(0.2)
    core.send(tls(b"a"), 1.0)
    core.packets_to_send(1.0)
    assert core.next_timer() == pytest.approx(1.2)


def test_rto_floor_never_exceeds_tls_timeout() -> None:
    core = ReliableCore(max_payload=100, tls_timeout=0.1, repeat_acks=False)
    core.send(hard_reset(), 0.0)
    core.packets_to_send(0.0)
    core.receive(peer(0, opcode=op.P_CONTROL_HARD_RESET_SERVER_V2, acks=(0,)), 0.001)
    assert core.statistics().rto == pytest.approx(0.1)


def test_backoff_is_capped_at_max_timeout() -> None:
    core = ReliableCore(max_payload=100, max_timeout=10.0)
    core.send(hard_reset(), 0.0)
    sent_at = []
    t = 0.0
    for _ in range(7):
        if core.packets_to_send(t):
            sent_at.append(t)
        deadline = core.next_timer()
        assert deadline is not None
        t = deadline
    assert sent_at == [0.0, 2.0, 6.0, 14.0, 24.0, 34.0, 44.0]


def test_time_threshold_declares_loss_after_a_later_packet_is_acked() -> None:
    core = sampled(0.1, max_payload=10)
    core.send(tls(bytes(20)), 1.0)  # ids 1, 2
    assert ids(core.packets_to_send(1.0)) == [1, 2]
    core.receive(peer_ack(2), 1.1)  # R = 0.1 again: srtt 0.1, latest 0.1
    # one later ack is no packet threshold (3), but RFC 9002's time threshold applies:
    # id 1 is lost once 9/8 * 0.1 passed since it was sent, long before its RTO (1.3)
    assert core.next_timer() == pytest.approx(1.1125)
    assert core.packets_to_send(1.11) == []
    assert ids(core.packets_to_send(1.1125)) == [1]
    assert core.statistics().fast_retransmits == 1
    # its next timer is the backed-off RTO (0.3 doubled); no second early resend without a
    # new ack of a later packet
    assert core.next_timer() == pytest.approx(1.1125 + 0.6)


def test_time_threshold_needs_a_packet_sent_after_it() -> None:
    core = sampled(0.1, max_payload=10)
    core.send(tls(bytes(10)), 1.0)  # id 1
    core.packets_to_send(1.0)
    core.packets_to_send(1.3)  # id 1 retransmitted at 1.3
    core.send(tls(bytes(10)), 1.0)  # id 2, first sent at 1.3 too
    core.packets_to_send(1.3)
    core.receive(peer_ack(0), 1.4)  # an MRU repeat of an old id: nothing was sent after
    assert core.next_timer() == pytest.approx(1.3 + 0.3)  # id 2's RTO, no early loss


def test_retransmissions_share_one_budget_of_six_per_rto() -> None:
    core = sampled(0.1, max_payload=10)  # srtt 0.1, rttvar 0.05, rto 0.3
    core.send(ControlMessage(op.P_CONTROL_SOFT_RESET_V1, 1), 0.9)
    core.send(tls(bytes(60)), 0.9)  # key 0: ids 1..6, due again at 0.9 + 0.3
    out = core.packets_to_send(0.9)
    assert sorted((p.key_id, p.message_id) for p in out) == [(0, i) for i in range(1, 7)] + [
        (1, 0)
    ]
    # the peer's soft reset acks ours: R = 0.1, rttvar 0.0375, rto = 0.1 + 0.15 = 0.25
    core.receive(peer(0, opcode=op.P_CONTROL_SOFT_RESET_V1, key_id=1, acks=(0,)), 1.0)
    assert core.statistics().rto == pytest.approx(0.25)
    core.send(tls(bytes(60), key_id=1), 1.0)  # key 1: ids 1..6, due again at 1.25
    assert len([p for p in core.packets_to_send(1.0) if p.message_id is not None]) == 6
    # at 1.3 all 12 in flight are due: only 6 go (one burst), the rest one by one as the
    # bucket refills at 6 per RTO (one every 0.25 / 6 s)
    due = [p for p in core.packets_to_send(1.3) if p.message_id is not None]
    assert len(due) == 6
    assert core.statistics().budget_waits == 6
    step = 0.25 / 6
    assert core.next_timer() == pytest.approx(1.3 + step)
    assert core.packets_to_send(1.3 + step / 2) == []
    t = 1.3
    for n in range(1, 7):
        nxt = core.next_timer()
        assert nxt == pytest.approx(1.3 + n * step)
        t = nxt
        assert len([p for p in core.packets_to_send(t) if p.message_id is not None]) == 1
    assert core.statistics().retransmissions == 12


def test_a_gap_repeats_the_later_acks_so_the_peer_fast_retransmits() -> None:
    # §4.9: the peer counts every ack of a later id, repeated ones included (reliable.c), and
    # resends at 3: an out-of-order packet makes us send its ack in three P_ACK_V1s.
    core = established(repeat_acks=True)
    core.receive(peer(1, b"a"), 1.0)
    assert [p.acks for p in core.packets_to_send(1.0)] == [(1, 0)] * 2  # a lone ack: twice
    core.receive(peer(3, b"c"), 1.1)  # id 2 is missing
    out = core.packets_to_send(1.1)
    assert [(p.opcode, p.acks[0]) for p in out] == [(op.P_ACK_V1, 3)] * 3
    assert core.next_timer() is None  # nothing more until something arrives
    core.receive(peer(2, b"b"), 1.3)  # in order again: the lone ack twice
    assert [p.acks[0] for p in core.packets_to_send(1.3)] == [2, 2]
