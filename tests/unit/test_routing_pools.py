"""Dedicated before shared, the shared-after threshold, and overflow: the rules run by ``tick``."""

from __future__ import annotations

from tests.unit.routing_fixtures import agent, contact, contact_states, offers, queue
from tests.unit.routing_fixtures import router as make_router
from vcc.core.model import ContactState, Pool
from vcc.core.routing import Router

S = ContactState
SHARED = Pool.SHARED


def both_pools(shared_after_s: float = 30.0) -> Router:
    """Tenant acme has a dedicated agent d1 and shares s1 with tenant globex."""
    return make_router(
        [queue("q", shared_after_s=shared_after_s), queue("g", tenant="globex")],
        [agent("d1"), agent("s1", tenants=("acme", "globex"), pool=SHARED)],
        offer_timeout_s=None,
    )


def test_a_free_dedicated_agent_goes_before_a_longer_idle_shared_one() -> None:
    r = both_pools(shared_after_s=0.0)
    r.login("s1", 0.0, ready=True)
    r.login("d1", 5.0, ready=True)
    assert offers(r.arrive(contact("c1", "q"), 10.0)) == {"c1": "d1"}
    assert offers(r.arrive(contact("c2", "q"), 11.0)) == {"c2": "s1"}, "shared once dedicated are busy"
    r.check()


def test_shared_agents_wait_for_the_threshold() -> None:
    r = both_pools(shared_after_s=30.0)
    r.login("d1", 0.0, ready=True)
    r.login("s1", 0.0, ready=True)
    r.arrive(contact("c0", "q"), 1.0)  # d1 busy from now on
    assert not offers(r.arrive(contact("c1", "q"), 10.0))
    assert not offers(r.tick(39.9))
    r.check()
    assert offers(r.tick(40.0)) == {"c1": "s1"}
    r.check()


def test_a_shared_agent_coming_free_takes_only_ripe_contacts() -> None:
    r = both_pools(shared_after_s=30.0)
    r.login("d1", 0.0, ready=True)
    r.login("s1", 0.0)  # logged in, not ready
    r.arrive(contact("c0", "q"), 1.0)
    r.arrive(contact("young", "q"), 10.0)
    assert not offers(r.ready("s1", 20.0))
    r.not_ready("s1", 21.0, "break")
    r.tick(45.0)  # young has waited 35 s: ripe
    assert offers(r.ready("s1", 46.0)) == {"young": "s1"}


def test_a_dedicated_agent_takes_a_young_contact() -> None:
    r = both_pools(shared_after_s=30.0)
    r.login("d1", 0.0, ready=True)
    r.arrive(contact("c0", "q"), 1.0)
    r.arrive(contact("c1", "q"), 2.0)
    r.accept("c0", 3.0)
    assert offers(r.complete("c0", 4.0)) == {"c1": "d1"}


def test_shared_at_once_when_no_dedicated_agent_is_logged_in() -> None:
    r = both_pools(shared_after_s=300.0)
    r.login("s1", 0.0, ready=True)
    assert offers(r.arrive(contact("c1", "q"), 10.0)) == {"c1": "s1"}


def test_the_last_dedicated_agent_logging_out_opens_waiting_contacts_to_shared() -> None:
    r = both_pools(shared_after_s=300.0)
    r.login("d1", 0.0)  # logged in but not ready: still blocks shared agents
    r.login("s1", 0.0, ready=True)
    assert not offers(r.arrive(contact("c1", "q"), 10.0))
    events = r.logout("d1", 20.0)
    assert offers(events) == {"c1": "s1"}
    r.check()


def test_overflow_after_max_wait() -> None:
    r = make_router(
        [
            queue("sales", skills={"sales": 1}, max_wait_s=30.0, overflow_queue="support"),
            queue("support", skills={"support": 1}),
        ],
        [agent("a1", skills={"support": 5})],
    )
    r.login("a1", 0.0, ready=True)
    assert not offers(r.arrive(contact("c1", "sales"), 10.0))
    assert not r.tick(39.0)
    events = r.tick(40.0)
    assert contact_states(events, "c1") == [(S.QUEUED, S.QUEUED), (S.QUEUED, S.OFFERED)]
    assert events[0].reason == "overflow" and events[0].queue == "support"
    assert r.contact("c1").enqueued_at == 10.0, "the wait so far still counts"
    r.check()


def test_no_overflow_target_means_the_contact_stays() -> None:
    r = make_router([queue("q", max_wait_s=30.0)], [agent("a1")])
    r.arrive(contact("c1", "q"), 0.0)
    assert not r.tick(100.0) and [c.id for c in r.waiting("q")] == ["c1"]


def test_overflow_does_not_touch_contacts_that_left() -> None:
    r = make_router([queue("a", max_wait_s=30.0, overflow_queue="b"), queue("b")], [agent("a1")])
    r.arrive(contact("c1", "a"), 0.0)
    r.abandon("c1", 5.0)
    assert not r.tick(100.0)
    r.check()


def test_a_requeued_contact_overflows_on_its_first_entry_time() -> None:
    r = make_router(
        [
            queue("sales", skills={"s": 1}, max_wait_s=30.0, overflow_queue="support"),
            queue("support", skills={"x": 1}),
        ],
        [agent("a1", skills={"s": 1}), agent("b1", skills={"x": 1})],
        offer_timeout_s=None,
    )
    r.login("a1", 0.0, ready=True)
    r.arrive(contact("c1", "sales"), 5.0)  # offered to a1
    r.not_ready("a1", 6.0, "break")
    r.reject("c1", 20.0)  # back in sales, no one free there
    r.login("b1", 21.0, ready=True)
    assert not r.tick(34.9)
    assert offers(r.tick(35.0)) == {"c1": "b1"}, "30 s after it entered sales, not after the reject"
    r.check()
