"""The contact lifecycle: the transition table, the event of each move, and what each move keeps."""

from __future__ import annotations

import pickle

import pytest

from vcc.core.contact import TERMINAL, TRANSITIONS, Contact
from vcc.core.eventbuild import agent_event, contact_event
from vcc.core.events import AgentEvent, ContactEvent
from vcc.core.model import AgentState, Channel, ContactState
from vcc.errors import InvalidTransition

S = ContactState
ALL_PAIRS = [(a, b) for a in S for b in S]


def contact_in(state: ContactState) -> Contact:
    c = Contact("c1", "acme", Channel.CHAT, 100.0, caller_id="+15550001", queue="q1")
    c.state = state
    c.agent_id = "a1" if state in (S.OFFERED, S.CONNECTED, S.WRAP_UP) else None
    return c


@pytest.mark.parametrize(("prev", "new"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_move_is_allowed_or_refused_by_the_table(prev: ContactState, new: ContactState) -> None:
    c = contact_in(prev)
    if new in TRANSITIONS[prev]:
        ev = c.move(new, 120.0, reason="why")
        assert (ev.prev_state, ev.state, c.state) == (prev, new, new)
        assert (ev.contact_id, ev.tenant, ev.channel, ev.ts) == ("c1", "acme", Channel.CHAT, 120.0)
    else:
        with pytest.raises(InvalidTransition) as err:
            c.move(new, 120.0)
        assert c.state is prev
        assert (err.value.current, err.value.requested) == (prev.value, new.value)


def test_terminal_states_have_no_way_out_and_record_the_end() -> None:
    assert {S.COMPLETED, S.ABANDONED, S.FAILED} == TERMINAL
    for state in TERMINAL:
        assert not TRANSITIONS[state]
    c = contact_in(S.QUEUED)
    ev = c.move(S.ABANDONED, 130.0, reason="caller_hung_up")
    assert c.terminal and c.ended_at == 130.0 and c.reason == "caller_hung_up" == ev.reason


def test_happy_path_events_chain_prev_to_new() -> None:
    c = Contact("c1", "acme", Channel.VOICE, 100.0)
    events = [
        c.start_ivr(100.0),
        c.enqueue("q1", 110.0),
        c.offer("a1", 115.0),
        c.connect(118.0),
        c.move(S.WRAP_UP, 200.0),
        c.move(S.COMPLETED, 210.0),
    ]
    states = [S.ARRIVED] + [e.state for e in events]
    assert [e.prev_state for e in events] == states[:-1]
    assert states[1:] == [S.IVR, S.QUEUED, S.OFFERED, S.CONNECTED, S.WRAP_UP, S.COMPLETED]
    assert events[2].agent_id == "a1" and events[1].queue == "q1"


def test_first_enqueue_sets_the_wait_start_and_an_overflow_keeps_it() -> None:
    c = Contact("c1", "acme", Channel.VOICE, 100.0)
    c.enqueue("q1", 110.0)
    assert (c.enqueued_at, c.queue_entered_at) == (110.0, 110.0)
    ev = c.enqueue("q2", 170.0, reason="overflow")
    assert (ev.prev_state, ev.state, ev.queue, ev.reason) == (S.QUEUED, S.QUEUED, "q2", "overflow")
    assert (c.enqueued_at, c.queue_entered_at, c.queue) == (110.0, 170.0, "q2")


def test_a_rejected_offer_goes_back_with_its_place_and_priority() -> None:
    c = Contact("c1", "acme", Channel.VOICE, 100.0, priority=7)
    c.enqueue("q1", 110.0)
    c.offer("a1", 115.0)
    ev = c.requeue(130.0, reason="rejected")
    assert (ev.prev_state, ev.state, ev.agent_id, ev.reason) == (S.OFFERED, S.QUEUED, "a1", "rejected")
    assert (c.enqueued_at, c.priority, c.agent_id, c.offers) == (110.0, 7, None, 1)


def test_a_transfer_continues_the_same_contact_with_a_new_wait() -> None:
    c = Contact("c1", "acme", Channel.VOICE, 100.0)
    c.enqueue("q1", 110.0)
    c.offer("a1", 115.0)
    c.connect(118.0)
    t = c.transfer(200.0)
    q = c.enqueue("q2", 200.0, reason="transfer", target_agent="a9")
    assert (t.prev_state, t.state) == (S.CONNECTED, S.TRANSFERRED)
    assert (q.prev_state, q.state) == (S.TRANSFERRED, S.QUEUED)
    assert (q.contact_id, q.agent_id, c.target_agent) == ("c1", "a9", "a9")
    assert (c.enqueued_at, c.transfers) == (200.0, 1)


def test_enqueued_at_keeps_the_place_of_a_handed_over_contact() -> None:
    c = Contact("c1", "acme", Channel.VOICE, 100.0)
    c.enqueue("q1", 300.0, enqueued_at=120.0)
    assert c.enqueued_at == 120.0


@pytest.mark.parametrize("state", [S.ARRIVED, S.CONNECTED, S.COMPLETED])
def test_named_moves_refuse_the_wrong_state(state: ContactState) -> None:
    c = contact_in(state)
    with pytest.raises(InvalidTransition):
        c.offer("a1", 1.0)
    with pytest.raises(InvalidTransition):
        c.requeue(1.0, reason="x")
    if state is not S.OFFERED:
        with pytest.raises(InvalidTransition):
            c.connect(1.0)


def test_fast_event_builders_make_genuine_frozen_events() -> None:
    fast = contact_event(1.0, "c1", "acme", Channel.VOICE, S.QUEUED, S.ARRIVED, "q1", None, "r", {"k": 1})
    slow = ContactEvent(1.0, "c1", "acme", Channel.VOICE, S.QUEUED, S.ARRIVED, "q1", None, "r", {"k": 1})
    assert type(fast) is ContactEvent and fast == slow and fast.to_dict() == slow.to_dict()
    assert pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(AttributeError):
        fast.ts = 2.0  # type: ignore[misc]
    a_fast = agent_event(1.0, "a1", AgentState.READY, None, None, None, None, {"voice": 0})
    a_slow = AgentEvent(1.0, "a1", AgentState.READY, None, load={"voice": 0})
    assert type(a_fast) is AgentEvent and a_fast == a_slow
    assert contact_event(1.0, "c", "t", Channel.SMS, S.ARRIVED, None, None, None, None).data == {}
