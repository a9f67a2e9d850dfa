"""Router selection rules: skills, longest idle, least occupied, proficiency ties, priority, aging,
VIP and block lists, FIFO, capacity and the cross-channel rule. Each test fails without its rule."""

from __future__ import annotations

import pytest

from tests.unit.routing_fixtures import LO, C, V, agent, contact, contact_states, login_all, offers, queue
from tests.unit.routing_fixtures import router as make_router
from tests.unit.routing_fixtures import tenant as make_tenant
from vcc.core.model import ContactState
from vcc.errors import InvalidTransition, NotFound

S = ContactState


def test_min_proficiency_excludes_an_agent_who_idles_longer() -> None:
    r = make_router(
        [queue("q", skills={"sales": 5})],
        [agent("a1", skills={"sales": 4}), agent("a2", skills={"sales": 5})],
    )
    assert r.staffed("q") == 0
    r.login("a1", 0.0, ready=True)
    r.login("a2", 1.0, ready=True)
    assert r.staffed("q") == 1
    assert offers(r.arrive(contact("c1", "q"), 5.0)) == {"c1": "a2"}
    r.check()


def test_longest_idle_agent_gets_the_contact() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2"), agent("a3")])
    r.login("a2", 0.0, ready=True)
    r.login("a1", 1.0, ready=True)
    r.login("a3", 2.0, ready=True)
    got = [offers(r.arrive(contact(f"c{i}", "q"), 10.0 + i))[f"c{i}"] for i in range(3)]
    assert got == ["a2", "a1", "a3"]
    r.check()


def test_higher_proficiency_breaks_a_tie_in_idle_time() -> None:
    q = queue("q", skills={"sales": 1, "en": 1})
    profiles = [agent("a1", skills={"sales": 3, "en": 2}), agent("a2", skills={"sales": 8, "en": 2}),
                agent("a3", skills={"sales": 5, "en": 9})]  # fmt: skip
    r = make_router([q], profiles)
    login_all(r, now=0.0, step_s=0.0)  # all free since t=0
    got = [offers(r.arrive(contact(f"c{i}", "q"), 10.0))[f"c{i}"] for i in range(3)]
    assert got == ["a3", "a2", "a1"]  # proficiency sums 14, 10, 5
    r.check()


def test_idle_time_beats_proficiency() -> None:
    q = queue("q", skills={"sales": 1})
    r = make_router([q], [agent("a1", skills={"sales": 2}), agent("a2", skills={"sales": 9})])
    r.login("a1", 0.0, ready=True)
    r.login("a2", 1.0, ready=True)
    assert offers(r.arrive(contact("c1", "q"), 5.0)) == {"c1": "a1"}


@pytest.mark.parametrize(("selection", "expected"), [(LO, "a2"), (None, "a1")])
def test_least_occupied_prefers_the_emptier_agent_over_the_longer_idle(selection: object, expected: str) -> None:
    kw = {"selection": selection} if selection is not None else {}
    r = make_router([queue("chat", channel=C, **kw)], [agent("a1", capacity={C: 3}), agent("a2", capacity={C: 3})])
    r.login("a1", 0.0, ready=True)
    assert offers(r.arrive(contact("c1", "chat", channel=C), 10.0)) == {"c1": "a1"}  # a1: 1/3, idle since 10
    r.login("a2", 20.0, ready=True)  # a2: 0/3, idle since 20
    assert offers(r.arrive(contact("c2", "chat", channel=C), 30.0)) == {"c2": expected}
    r.check()


def test_least_occupied_compares_shares_of_capacity() -> None:
    r = make_router(
        [queue("chat", channel=C, selection=LO)], [agent("a1", capacity={C: 2}), agent("a2", capacity={C: 4})]
    )
    login_all(r)
    r.arrive(contact("c1", "chat", channel=C), 10.0)
    r.arrive(contact("c2", "chat", channel=C), 11.0)  # one each: a1 at 1/2, a2 at 1/4
    assert offers(r.arrive(contact("c3", "chat", channel=C), 12.0)) == {"c3": "a2"}


def test_an_agent_takes_the_higher_priority_queue_first() -> None:
    r = make_router([queue("low", priority=0), queue("high", priority=10)], [agent("a1")])
    r.arrive(contact("c_low", "low"), 0.0)
    r.arrive(contact("c_high", "high"), 5.0)
    assert offers(r.login("a1", 10.0, ready=True)) == {"c_high": "a1"}
    r.check()


def test_fifo_within_equal_priority() -> None:
    r = make_router([queue("q")], [agent("a1")])
    for i in range(4):
        r.arrive(contact(f"c{i}", "q"), float(i))
    assert [c.id for c in r.waiting("q")] == ["c0", "c1", "c2", "c3"]
    served = list(offers(r.login("a1", 10.0, ready=True)))
    for _ in range(3):
        cid = served[-1]
        r.accept(cid, 11.0)
        served += offers(r.complete(cid, 12.0))
    assert served == ["c0", "c1", "c2", "c3"]


@pytest.mark.parametrize(("aging_per_s", "first"), [(1.0, "c_old"), (0.0, "c_vip_queue")])
def test_aging_lets_a_long_wait_overtake_a_higher_base_priority(aging_per_s: float, first: str) -> None:
    r = make_router([queue("low", priority=0, aging_per_s=aging_per_s), queue("high", priority=10)], [agent("a1")])
    r.arrive(contact("c_old", "low"), 0.0)
    r.arrive(contact("c_vip_queue", "high"), 5.0)
    # at t=20: low has 0 + 1.0 * 20 = 20 > 10
    assert list(offers(r.login("a1", 20.0, ready=True))) == [first]


def test_vip_callers_are_boosted_and_marked() -> None:
    r = make_router([queue("q")], [agent("a1")], [make_tenant(vip={"+1999"}, boost=5)])
    r.arrive(contact("c_plain", "q", caller_id="+1000"), 0.0)
    events = r.arrive(contact("c_vip", "q", caller_id="+1999"), 1.0)
    assert events[0].data == {"vip": True} and r.contact("c_vip").vip_boost == 5
    assert [c.id for c in r.waiting("q")] == ["c_vip", "c_plain"]
    assert list(offers(r.login("a1", 2.0, ready=True))) == ["c_vip"]


def test_blocked_callers_fail_at_once_with_a_reason() -> None:
    r = make_router([queue("q")], [agent("a1")], [make_tenant(blocked={"+1666"})])
    login_all(r)
    events = r.arrive(contact("c1", "q", caller_id="+1666"), 5.0)
    assert contact_states(events, "c1") == [(None, S.ARRIVED), (S.ARRIVED, S.FAILED)]
    assert events[-1].reason == "blocked_caller"
    assert "c1" not in r.contacts and r.finished[S.FAILED] == 1 and not offers(events)
    r.check()


def test_a_contacts_extra_skills_narrow_the_agents() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2", skills={"es": 6})])
    login_all(r)
    assert offers(r.arrive(contact("c1", "q", skills={"es": 5}), 5.0)) == {"c1": "a2"}
    r.arrive(contact("c2", "q", skills={"es": 7}), 6.0)
    assert [c.id for c in r.waiting("q")] == ["c2"]
    r.check()


def test_extra_skills_from_the_ivr_on_enqueue() -> None:
    r = make_router([queue("q")], [agent("a1"), agent("a2", skills={"es": 6})])
    login_all(r)
    r.arrive(contact("c1"), 5.0)
    r.start_ivr("c1", 5.0)
    events = r.enqueue("c1", "q", 9.0, skills={"es": 5}, priority_delta=3)
    assert offers(events) == {"c1": "a2"} and r.contact("c1").priority == 3


def test_skills_from_the_ivr_never_lower_what_the_contact_already_needs() -> None:
    r = make_router([queue("q")], [agent("a1", skills={"es": 5})])
    login_all(r)
    r.arrive(contact("c1", skills={"es": 7}), 5.0)
    r.start_ivr("c1", 5.0)
    assert offers(r.enqueue("c1", "q", 9.0, skills={"es": 5, "fr": 2})) == {}
    assert r.contact("c1").skills == {"es": 7, "fr": 2}
    r.check()


def test_chat_capacity_three_then_the_fourth_waits() -> None:
    r = make_router([queue("chat", channel=C)], [agent("a1", capacity={C: 3})])
    login_all(r)
    got = [offers(r.arrive(contact(f"c{i}", "chat", channel=C), 1.0 + i)) for i in range(4)]
    assert [len(g) for g in got] == [1, 1, 1, 0]
    assert r.agent("a1").load["chat"] == 3
    r.check()


def test_a_chat_in_hand_blocks_a_voice_offer_until_it_ends() -> None:
    r = make_router([queue("chat", channel=C), queue("voice")], [agent("a1", capacity={V: 1, C: 3})])
    login_all(r)
    r.arrive(contact("chat1", "chat", channel=C), 1.0)
    assert not offers(r.arrive(contact("call1", "voice"), 2.0))
    r.accept("chat1", 3.0)
    assert offers(r.complete("chat1", 4.0)) == {"call1": "a1"}
    assert not offers(r.arrive(contact("chat2", "chat", channel=C), 5.0)), "a call blocks new chats"
    r.check()


def test_channel_mismatch_unknown_ids_and_duplicates_are_refused() -> None:
    r = make_router([queue("q")], [agent("a1")])
    with pytest.raises(InvalidTransition):
        r.arrive(contact("c1", "q", channel=C), 1.0)
    assert not r.contacts
    with pytest.raises(NotFound):
        r.arrive(contact("c1", "nope"), 1.0)
    with pytest.raises(NotFound):
        r.ready("ghost", 1.0)
    r.arrive(contact("c1", "q"), 1.0)
    with pytest.raises(InvalidTransition):
        r.arrive(contact("c1", "q"), 2.0)
    r.check()


def test_the_clock_never_runs_backwards() -> None:
    r = make_router([queue("q")], [agent("a1")])
    r.login("a1", 100.0, ready=True)
    events = r.arrive(contact("c1", "q"), 50.0)
    assert {e.ts for e in events} == {100.0}
