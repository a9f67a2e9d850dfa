"""The router's invariants, checked from scratch (slow: for tests and debugging).

1. No agent holds more than its capacity on any channel, nor breaks the cross-channel rule.
2. A contact is offered to at most one agent at a time.
3. Waiting contacts keep their FIFO position: each queue entry matches the contact's enqueue time,
   priority and order.
4. No contact is lost: every live contact is in exactly one place that matches its state.
5. The free-agent indexes hold exactly the agents who are ready with room, in idle order.
6. (``work_conserving``) No free agent could take a waiting contact it is allowed to take.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from vcc.core.agent import ChannelBlend
from vcc.core.freeagents import has_skills
from vcc.core.model import AgentState, ContactState

if TYPE_CHECKING:
    from vcc.core.agent import Agent
    from vcc.core.routing import Router

S = ContactState


def check_router(router: Router, *, work_conserving: bool = True) -> None:
    _check_agents(router)
    _check_places(router)
    _check_queues(router)
    if work_conserving:
        _check_work_conserving(router)


def _check_agents(router: Router) -> None:
    memberships = 0
    for agent in router.agents.values():
        held = Counter(str(ch) for ch in agent.offers.values())
        held.update(str(ch) for ch in agent.connected.values())
        held.update(str(ch) for ch, _ in agent.wrapping.values())
        for ch, n in agent.load.items():
            assert n == held.get(ch, 0), f"{agent}: load {ch} {n} != {held.get(ch, 0)} in hand"
            assert n <= agent.capacity[ch], f"{agent}: over capacity on {ch}"
        assert agent.in_hand == sum(agent.load.values()), f"{agent}: in_hand out of step"
        if agent.blend is ChannelBlend.VOICE_EXCLUSIVE and agent.load["voice"]:
            assert agent.in_hand == agent.load["voice"], f"{agent}: voice blended with other channels"
        state = agent.state
        assert state is AgentState.LOGGED_OUT or state is _derived_state(agent), f"{agent}: stale state"
        if state is AgentState.LOGGED_OUT:
            assert not agent.in_hand and not agent.available and not agent._targeted, f"{agent}: logged out"
        expected: list[object] = []
        if agent.available and state is not AgentState.LOGGED_OUT:
            for channel, slots in agent._routes.by_channel:
                if agent.free(channel):
                    expected.extend(levels[agent.load[channel]] for levels, _ in slots)
        assert sorted(map(id, expected)) == sorted(map(id, agent._index)), f"{agent}: wrong levels"
        memberships += len(agent._index)
    total = 0
    for q in router.queues.values():
        for level in (*q.dedicated, *q.shared):
            free = list(level.agents())
            assert len(free) == len(set(free)), f"{q}: an agent twice in {level}"
            total += len(free)
            for agent in free:
                assert any(x is level for x in agent._index), f"{agent}: stray in {q} {level}"
            idle = [a.idle_since for a in free]
            assert idle == sorted(idle), f"{q}: {level} out of idle order"
    assert total == memberships, "free-agent levels and agents' indexes disagree"


def _derived_state(agent: Agent) -> AgentState:
    if agent.offers:
        return AgentState.RESERVED
    if agent.connected:
        return AgentState.BUSY
    if agent.wrapping:
        return AgentState.WRAP_UP
    return AgentState.READY if agent.available else AgentState.NOT_READY


def _check_places(router: Router) -> None:
    places: Counter[str] = Counter()

    def put(contact_id: str, state: set[ContactState], where: str) -> None:
        c = router.contacts.get(contact_id)
        assert c is not None, f"{contact_id} ({where}) is not live"
        assert c.state in state, f"{c} found in {where}"
        places[contact_id] += 1

    for q in router.queues.values():
        for cid, c in q.waiting.items():
            put(cid, {S.QUEUED}, f"queue {q.id}")
            assert c.queue == q.id and c.target_agent is None, f"{c} in the wrong queue"
    for agent in router.agents.values():
        for c in agent._targeted:
            put(c.id, {S.QUEUED}, f"targeted at {agent.id}")
            assert c.target_agent == agent.id and c._entry is None, f"{c} targeted wrongly"
        for cid in agent.offers:
            put(cid, {S.OFFERED}, f"offered to {agent.id}")
            assert router.contacts[cid].agent_id == agent.id, f"{cid} offered to two agents"
        for cid in agent.connected:
            put(cid, {S.CONNECTED}, f"connected to {agent.id}")
            assert router.contacts[cid].agent_id == agent.id, f"{cid} connected twice"
        for cid in agent.wrapping:
            wrapped = router.contacts.get(cid)
            if wrapped is not None and wrapped.state is S.WRAP_UP and wrapped.agent_id == agent.id:
                put(cid, {S.WRAP_UP}, f"wrap-up of {agent.id}")
    for cid in router._pre:
        put(cid, {S.ARRIVED, S.IVR}, "pre-queue")
    for cid in router._callbacks:
        put(cid, {S.CALLBACK_REQUESTED}, "callbacks")
    for cid, c in router.contacts.items():
        assert not c.terminal, f"{c} is terminal but still live"
        assert places[cid] == 1, f"{c} is in {places[cid]} places"


def _check_queues(router: Router) -> None:
    for q in router.queues.values():
        out = AgentState.LOGGED_OUT
        staffed = sum(1 for a in (*q.eligible_dedicated, *q.eligible_shared) if a.state is not out)
        assert q.staffed == staffed, f"{q}: staffed count out of step"
        dedicated = sum(1 for a in q.eligible_dedicated if a.state is not out)
        assert q.dedicated_logged_in == dedicated, f"{q}: dedicated count out of step"
        live = [e for e in q.heap if e[3]._entry is e]
        assert len(live) == len(q.waiting), f"{q}: heap and membership disagree"
        for entry in live:
            c = entry[3]
            assert c.id in q.waiting, f"{q}: {c} in heap only"
            key = q.aging_per_s * entry[1] - (q.priority + c.priority + c.vip_boost)
            assert entry[0] == key and entry[1] == c.enqueued_at and entry[2] == c._order, f"{c}: moved"
        if q.track_ripe:
            ripe = {id(e) for e in q.ripe if e[3]._entry is e}
            maturing = {id(m[2]) for m in q.maturing if m[2][3]._entry is m[2]}
            for entry in live:
                c = entry[3]
                assert (id(entry) in ripe) == c._ripe, f"{c}: ripe flag and ripe heap disagree"
                assert c._ripe or id(entry) in maturing, f"{c}: neither ripe nor maturing"


def _check_work_conserving(router: Router) -> None:
    for q in router.queues.values():
        if not q.waiting:
            continue
        for pool, dedicated in ((q.dedicated, True), (q.shared, False)):
            for level in pool:
                for agent in level.agents():
                    for c in q.waiting.values():
                        if not dedicated and not q.is_ripe(c):
                            continue
                        assert not has_skills(agent, c.skills), f"{agent} is free while {c} waits"
    for agent in router.agents.values():
        for c in agent._targeted:
            assert not agent.can_take(c.channel), f"{agent} is free while {c} waits for it"
