"""Router flows: offer, accept, reject, timeout, wrap-up, presence changes with contacts waiting,
transfers, abandons, callbacks and hand-overs; each with its events."""

from __future__ import annotations

import pytest

from tests.unit.routing_fixtures import (
    C,
    agent,
    agent_events,
    contact,
    contact_states,
    login_all,
    offers,
    queue,
)
from tests.unit.routing_fixtures import router as make_router
from vcc.core.model import AgentState, ContactState
from vcc.errors import InvalidTransition

S = ContactState
A = AgentState


def test_reject_returns_the_contact_with_its_place_in_line() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2")])
    r.login("a1", 0.0, ready=True)
    r.arrive(contact("c0", "q"), 1.0)  # a1 busy from now on
    r.login("a2", 2.0, ready=True)
    assert offers(r.arrive(contact("c1", "q"), 3.0)) == {"c1": "a2"}
    r.arrive(contact("c2", "q"), 4.0)  # waits behind c1's place
    events = r.reject("c1", 5.0)
    assert contact_states(events, "c1") == [(S.OFFERED, S.QUEUED), (S.QUEUED, S.OFFERED)]
    assert offers(events) == {"c1": "a2"}, "c1 kept its place ahead of c2"
    assert r.contact("c1").enqueued_at == 3.0 and r.contact("c1").offers == 2
    r.check()


def test_reject_goes_to_another_free_agent_first() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2")])
    login_all(r)
    assert offers(r.arrive(contact("c1", "q"), 5.0)) == {"c1": "a1"}
    events = r.reject("c1", 6.0)
    assert offers(events) == {"c1": "a2"}
    assert agent_events(events, "a1")[-1].state is A.READY
    r.check()


def test_offer_timeout_requeues_and_makes_the_agent_not_ready() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2")], offer_timeout_s=15.0)
    r.login("a1", 0.0, ready=True)
    r.arrive(contact("c1", "q"), 10.0)
    assert not r.tick(24.9)
    r.login("a2", 20.0, ready=True)
    events = r.tick(25.0)
    assert contact_states(events, "c1") == [(S.OFFERED, S.QUEUED), (S.QUEUED, S.OFFERED)]
    assert events[0].reason == "offer_timeout" and offers(events) == {"c1": "a2"}
    a1 = agent_events(events, "a1")[-1]
    assert (a1.state, a1.reason_code) == (A.NOT_READY, "no_answer")
    assert r.contact("c1").enqueued_at == 10.0
    r.check()


def test_an_accepted_offer_never_times_out() -> None:
    r = make_router([queue("q")], [agent("a1")], offer_timeout_s=15.0)
    login_all(r)
    r.arrive(contact("c1", "q"), 10.0)
    r.accept("c1", 12.0)
    assert not r.tick(60.0)
    assert r.contact("c1").state is S.CONNECTED


def test_complete_wrap_up_then_the_next_contact() -> None:
    r = make_router([queue("q")], [agent("a1")], wrap_up_s=20.0)
    login_all(r)
    r.arrive(contact("c1", "q"), 1.0)
    events = r.accept("c1", 2.0)
    assert [(e.prev_state, e.state) for e in events] == [(S.OFFERED, S.CONNECTED), (A.RESERVED, A.BUSY)]
    r.arrive(contact("c2", "q"), 3.0)
    events = r.complete("c1", 10.0)
    assert [(e.prev_state, e.state) for e in events] == [(S.CONNECTED, S.WRAP_UP), (A.BUSY, A.WRAP_UP)]
    assert not r.tick(29.9)
    events = r.tick(30.0)
    assert contact_states(events, "c1") == [(S.WRAP_UP, S.COMPLETED)]
    assert [(e.prev_state, e.state) for e in agent_events(events, "a1")] == [
        (A.WRAP_UP, A.READY),
        (A.READY, A.RESERVED),
    ]
    assert offers(events) == {"c2": "a1"} and r.finished[S.COMPLETED] == 1
    r.check()


def test_end_wrap_up_early_and_complete_without_wrap_up() -> None:
    r = make_router([queue("q")], [agent("a1")], wrap_up_s=60.0)
    login_all(r)
    r.arrive(contact("c1", "q"), 1.0)
    r.accept("c1", 2.0)
    r.complete("c1", 3.0)
    r.arrive(contact("c2", "q"), 4.0)
    assert offers(r.end_wrap_up("a1", 5.0)) == {"c2": "a1"}
    r.accept("c2", 6.0)
    events = r.complete("c2", 7.0, wrap_up_s=0)
    assert contact_states(events, "c2") == [(S.CONNECTED, S.COMPLETED)]
    assert not r.tick(100.0), "the first wrap-up timer is spent"
    with pytest.raises(InvalidTransition):
        r.end_wrap_up("a1", 101.0, "c1")
    r.check()


def test_not_ready_agents_get_nothing_and_ready_takes_the_best_waiting() -> None:
    r = make_router([queue("low"), queue("high", priority=5)], [agent("a1")])
    r.login("a1", 0.0, ready=True)
    r.not_ready("a1", 1.0, "break")
    r.arrive(contact("c1", "low"), 2.0)
    r.arrive(contact("c2", "high"), 3.0)
    assert r.agent("a1").state is A.NOT_READY
    assert offers(r.ready("a1", 4.0)) == {"c2": "a1"}
    r.check()


def test_logout_leaves_queued_contacts_and_returns_offers() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2")])
    r.login("a1", 0.0, ready=True)
    r.arrive(contact("c1", "q"), 1.0)  # offered to a1
    r.arrive(contact("c2", "q"), 2.0)  # waits
    r.login("a2", 3.0)  # not ready yet
    events = r.logout("a1", 4.0)
    assert contact_states(events, "c1") == [(S.OFFERED, S.QUEUED)]
    assert events[0].reason == "agent_logged_out"
    assert agent_events(events, "a1")[-1].state is A.LOGGED_OUT
    assert [c.id for c in r.waiting("q")] == ["c1", "c2"], "c1 keeps its place"
    assert offers(r.ready("a2", 5.0)) == {"c1": "a2"}
    r.check()


def test_logout_with_a_connected_contact_needs_force() -> None:
    r = make_router([queue("q")], [agent("a1")])
    login_all(r)
    r.arrive(contact("c1", "q"), 1.0)
    r.accept("c1", 2.0)
    with pytest.raises(InvalidTransition):
        r.logout("a1", 3.0)
    events = r.logout("a1", 3.0, force=True)
    assert contact_states(events, "c1") == [(S.CONNECTED, S.TRANSFERRED), (S.TRANSFERRED, S.QUEUED)]
    assert [c.id for c in r.waiting("q")] == ["c1"]
    r.check()


def test_transfer_to_a_queue_continues_the_history() -> None:
    r = make_router(
        [queue("sales"), queue("billing", skills={"billing": 1})],
        [agent("a1"), agent("b1", skills={"billing": 3})],
    )
    login_all(r)
    r.arrive(contact("c1", "sales"), 1.0)
    r.accept("c1", 2.0)
    events = r.transfer("c1", 3.0, queue="billing", wrap_up_s=10.0)
    assert contact_states(events, "c1") == [
        (S.CONNECTED, S.TRANSFERRED),
        (S.TRANSFERRED, S.QUEUED),
        (S.QUEUED, S.OFFERED),
    ]
    assert offers(events) == {"c1": "b1"} and agent_events(events, "a1")[-1].state is A.WRAP_UP
    r.accept("c1", 4.0)
    events = r.complete("c1", 5.0)
    assert contact_states(events, "c1") == [(S.CONNECTED, S.COMPLETED)]
    assert r.tick(13.0)[0].state is A.READY  # a1's wrap-up on the transferred contact ends alone
    r.check()


def test_transfer_to_a_busy_agent_waits_for_that_agent() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2"), agent("a3")])
    login_all(r)
    r.arrive(contact("c1", "q"), 10.0)  # a1
    r.arrive(contact("c2", "q"), 11.0)  # a2
    r.accept("c1", 12.0)
    r.accept("c2", 12.0)
    events = r.transfer("c1", 13.0, agent_id="a2")
    assert not offers(events), "a3 is free, but c1 waits for a2"
    assert events[-1].agent_id == "a2" and events[-1].state is S.QUEUED
    r.check()
    assert offers(r.complete("c2", 14.0)) == {"c1": "a2"}
    r.check()


def test_a_declined_transfer_falls_back_to_the_queue() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2"), agent("a3")])
    login_all(r)
    r.arrive(contact("c1", "q"), 10.0)
    r.accept("c1", 11.0)
    assert offers(r.transfer("c1", 12.0, agent_id="a3")) == {"c1": "a3"}
    assert offers(r.reject("c1", 13.0)) == {"c1": "a2"}
    assert r.contact("c1").target_agent is None
    r.check()


def test_bad_transfers_are_refused() -> None:
    r = make_router([queue("q"), queue("chat", channel=C)], [agent("a1"), agent("a2")])
    r.login("a1", 0.0, ready=True)
    r.arrive(contact("c1", "q"), 1.0)
    r.accept("c1", 2.0)
    for kw in ({"agent_id": "a1"}, {"agent_id": "a2"}, {"queue": "chat"}):
        with pytest.raises(InvalidTransition):
            r.transfer("c1", 3.0, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        r.transfer("c1", 3.0)
    r.check()


def test_abandon_while_queued_and_while_offered() -> None:
    r = make_router([queue("q")], [agent("a1")])
    r.arrive(contact("c1", "q"), 1.0)
    events = r.abandon("c1", 2.0, reason="caller_hung_up")
    assert contact_states(events, "c1") == [(S.QUEUED, S.ABANDONED)] and not r.waiting("q")
    r.login("a1", 3.0, ready=True)
    r.arrive(contact("c2", "q"), 4.0)
    r.arrive(contact("c3", "q"), 5.0)
    events = r.abandon("c2", 6.0)
    assert offers(events) == {"c3": "a1"}, "the agent is freed and served"
    assert r.finished[S.ABANDONED] == 2
    r.accept("c3", 7.0)
    with pytest.raises(InvalidTransition):
        r.abandon("c3", 8.0)  # connected: the caller hanging up completes it
    r.check()


def test_fail_while_connected_frees_the_agent() -> None:
    r = make_router([queue("q")], [agent("a1")])
    login_all(r)
    r.arrive(contact("c1", "q"), 1.0)
    r.accept("c1", 2.0)
    r.arrive(contact("c2", "q"), 3.0)
    events = r.fail("c1", 4.0, reason="media_lost")
    assert contact_states(events, "c1")[0] == (S.CONNECTED, S.FAILED)
    assert offers(events) == {"c2": "a1"}
    r.check()


def test_a_callback_leaves_the_queue_and_comes_back_later() -> None:
    r = make_router([queue("q")], [agent("a1")])
    r.arrive(contact("c1", "q"), 1.0)
    events = r.request_callback("c1", 5.0)
    assert contact_states(events, "c1") == [(S.QUEUED, S.CALLBACK_REQUESTED)] and not r.waiting("q")
    r.check()
    r.login("a1", 10.0, ready=True)
    events = r.enqueue("c1", "q", 100.0)
    assert contact_states(events, "c1") == [(S.CALLBACK_REQUESTED, S.QUEUED), (S.QUEUED, S.OFFERED)]
    assert r.contact("c1").enqueued_at == 100.0
    r.check()


def test_ivr_then_queue() -> None:
    r = make_router([queue("q")], [agent("a1")])
    login_all(r)
    r.arrive(contact("c1"), 1.0)
    assert contact_states(r.start_ivr("c1", 1.0), "c1") == [(S.ARRIVED, S.IVR)]
    r.check()
    events = r.enqueue("c1", "q", 30.0)
    assert contact_states(events, "c1") == [(S.IVR, S.QUEUED), (S.QUEUED, S.OFFERED)]


def test_detach_hands_a_waiting_contact_over_with_its_place() -> None:
    here = make_router([queue("q")], [agent("a1")])
    there = make_router([queue("q")], [agent("a2")])
    here.arrive(contact("c1", "q"), 10.0)
    c = here.detach("c1")
    assert not here.contacts and not here.waiting("q")
    here.check()
    there.arrive(contact("c0", "q"), 20.0)
    there.arrive(contact("c1"), 30.0)
    there.enqueue("c1", "q", 30.0, enqueued_at=c.enqueued_at)
    assert [x.id for x in there.waiting("q")] == ["c1", "c0"]
    there.check()


@pytest.mark.parametrize("held", ["offered", "connected", "wrap_up"])
def test_hand_over_takes_a_contact_from_its_agent_without_an_end(held: str) -> None:
    """Another site owns the contact now: it leaves with the agent's events only, and the freed
    agent gets the next waiting contact."""
    r = make_router([queue("chat", channel=C)], [agent("a1", capacity={C: 1})])
    r.login("a1", 0.0, ready=True)
    r.arrive(contact("c1", "chat", channel=C), 1.0)
    r.arrive(contact("c2", "chat", channel=C), 2.0)  # waits: a1 holds c1
    if held in ("connected", "wrap_up"):
        r.accept("c1", 3.0)
    if held == "wrap_up":
        r.complete("c1", 4.0, wrap_up_s=60.0)
    c, events = r.hand_over("c1", 5.0)
    assert c.id == "c1" and "c1" not in r.contacts
    assert contact_states(events, "c1") == [], "no end here: the contact goes on at its owner"
    assert [e.contact_id for e in agent_events(events, "a1")][:1] == ["c1"]
    assert offers(events) == {"c2": "a1"}
    r.check()
    assert contact_states(r.tick(100.0), "c1") == [], "a wrap-up timer of a handed-over contact does nothing"
    r.check()


def test_hand_over_of_a_waiting_contact_is_a_detach() -> None:
    r = make_router([queue("q")], [agent("a1")])
    r.arrive(contact("c1", "q"), 1.0)
    c, events = r.hand_over("c1", 2.0)
    assert c.id == "c1" and events == [] and not r.waiting("q")
    r.check()


def test_a_contact_transferred_back_to_an_agent_still_wrapping_it() -> None:
    r = make_router([queue("chat", channel=C)], [agent("a1", capacity={C: 2}), agent("a2", capacity={C: 2})])
    r.login("a1", 0.0, ready=True)
    r.arrive(contact("c1", "chat", channel=C), 1.0)
    r.accept("c1", 2.0)
    r.login("a2", 3.0, ready=True)
    assert offers(r.transfer("c1", 4.0, agent_id="a2", wrap_up_s=60.0)) == {"c1": "a2"}
    r.accept("c1", 5.0)
    assert offers(r.transfer("c1", 6.0, agent_id="a1", wrap_up_s=0)) == {"c1": "a1"}
    r.accept("c1", 7.0)
    assert set(r.agent("a1").wrapping) == {"c1"} and set(r.agent("a1").connected) == {"c1"}
    r.check()
    events = r.complete("c1", 8.0, wrap_up_s=10.0)
    assert contact_states(events, "c1") == [(S.CONNECTED, S.WRAP_UP)]
    assert r.agent("a1").load["chat"] == 1
    r.check()
    assert contact_states(r.tick(18.0), "c1") == [(S.WRAP_UP, S.COMPLETED)]
    assert not r.tick(100.0), "the first wrap-up's timer died with it"
    r.check()
