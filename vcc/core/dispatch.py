"""The router's engine: its indexes and the two routing decisions (the hot path).

Built once from the specs: for each queue, the agents who qualify (``AgentProfile.qualifies``) split
into dedicated and shared pools, each with free-agent levels (see ``vcc.core.freeagents``); for each
agent, its slot in those pools per channel and the queues it serves. A decision then touches only
the queue's buckets or the agent's queues, never the whole center:

- contact-driven (``_place``): the head of the queue's first non-empty free-agent level;
- agent-driven (``_serve``): the head of each queue the agent serves.

Agents are re-indexed (``_reindex``) whenever their room or presence changes: removed from every
level and appended, at the current time, to the levels they now belong in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from heapq import heappush
from typing import Any

from vcc.core.agent import CHANNEL_KEY, DEFAULT_WRAP_UP_S, RESERVED, Agent, ChannelBlend
from vcc.core.contact import COMPLETED, CONNECTED, OFFERED, QUEUED, WRAP_UP, Contact
from vcc.core.eventbuild import agent_event, contact_event
from vcc.core.events import Event
from vcc.core.freeagents import FreeLevel, pick_agent
from vcc.core.model import AgentProfile, CenterSpec, ContactState, QueueSpec, TenantSpec
from vcc.core.queueing import Entry, QueueRuntime, Slot
from vcc.errors import NotFound


class Routes:
    """What an agent can serve: per channel, its slot in each queue's pool (``by_channel``); the
    same as flat tuples for the hot path (``free_levels``: per channel, per load on it, the levels
    the agent belongs in; ``at_rest_levels``: those of an agent with empty hands, free on every
    channel at load 0; ``free_items``/``at_rest_items``: the same with each level's item list, what
    an append touches); the queues it serves, and their waiting-contact maps (``waiting``: "is
    anything waiting for me" is one ``any`` over them). Tuples, built once and never mutated, shared
    by agents with the same queues: few objects to touch per re-index."""

    __slots__ = (
        "by_channel", "free_levels", "at_rest_levels", "free_items", "at_rest_items", "serves",
        "dedicated_queues", "waiting",
    )  # fmt: skip

    def __init__(self) -> None:
        self.by_channel: list[tuple[str, list[Slot]]] = []
        self.free_levels: tuple[tuple[str, tuple[tuple[FreeLevel, ...], ...]], ...] = ()
        self.at_rest_levels: tuple[FreeLevel, ...] = ()
        self.free_items: tuple[tuple[str, tuple[tuple[list[Any], ...], ...]], ...] = ()
        self.at_rest_items: tuple[list[Any], ...] = ()
        self.serves: tuple[QueueRuntime, ...] = ()
        self.dedicated_queues: tuple[QueueRuntime, ...] = ()
        self.waiting: tuple[dict[str, Contact], ...] = ()

    def levels_for(self, agent: Agent) -> Sequence[FreeLevel]:
        """The levels the agent belongs in now (what ``Dispatcher._reindex`` appends it to)."""
        if not agent.available:
            return ()
        if not agent.in_hand:
            return self.at_rest_levels
        load = agent.load
        exclusive = agent.voice_exclusive
        if exclusive and load["voice"]:
            return ()
        index: list[FreeLevel] = []
        for channel, by_load in self.free_levels:
            n = load[channel]
            if n < len(by_load) and not (exclusive and channel == "voice"):
                index += by_load[n]
        return index


class Dispatcher:
    """Indexes and decisions; :class:`vcc.core.routing.Router` adds the public calls."""

    def __init__(
        self,
        center: CenterSpec | None = None,
        *,
        tenants: Iterable[TenantSpec] = (),
        queues: Iterable[QueueSpec] = (),
        agents: Iterable[AgentProfile] = (),
        offer_timeout_s: float | None = 20.0,
        wrap_up_s: float = DEFAULT_WRAP_UP_S,
        blend: ChannelBlend = ChannelBlend.VOICE_EXCLUSIVE,
        rona_not_ready: bool = True,
    ) -> None:
        tenant_specs = dict(center.tenants) if center else {}
        tenant_specs.update((t.id, t) for t in tenants)
        queue_specs = dict(center.queues) if center else {}
        queue_specs.update((q.id, q) for q in queues)
        profiles = dict(center.agents) if center else {}
        profiles.update((a.id, a) for a in agents)
        self.tenants = tenant_specs
        self.offer_timeout_s = offer_timeout_s  # None: offers wait for an answer forever
        self.wrap_up_s = wrap_up_s
        self.rona_not_ready = rona_not_ready  # an unanswered offer makes the agent not ready
        self.queues: dict[str, QueueRuntime] = {qid: QueueRuntime(q) for qid, q in queue_specs.items()}
        self.agents: dict[str, Agent] = {aid: Agent(p, blend=blend) for aid, p in profiles.items()}
        self.contacts: dict[str, Contact] = {}  # every live (non-terminal) contact
        self.finished: dict[ContactState, int] = dict.fromkeys((COMPLETED, *_ENDS), 0)
        self.decisions = 0
        self._pre: dict[str, Contact] = {}  # arrived or in the IVR
        self._callbacks: dict[str, Contact] = {}
        # Offer deadlines are now + a constant, so they come in order: a deque, not a heap, of flat
        # triples (deadline, seq, contact): no tuple per offer for the garbage collector to visit.
        self._offer_timers: deque[Any] = deque()
        self._wrap_timers: list[tuple[float, int, Agent, str, tuple[Any, float]]] = []
        self._overflow_timers: list[tuple[float, int, Entry, QueueRuntime]] = []
        self._ripe_queues: list[QueueRuntime] = []
        self._seq = 0
        self._now = float("-inf")
        self._out: list[Event] = []
        self._excluded: Agent | None = None  # an agent that just declined: not offered the same
        self._levels: list[FreeLevel] = []  # every free-agent level, for the compaction sweep
        self._sweep_in = _SWEEP_EVERY  # re-indexes until the next sweep
        self._build()

    def _build(self) -> None:
        for q in self.queues.values():
            if q.overflow_queue is not None and q.overflow_queue not in self.queues:
                raise NotFound(f"queue {q.id}: overflow queue {q.overflow_queue} does not exist")
        by_tenant: dict[str, list[Agent]] = {}
        for agent in self.agents.values():
            agent._routes = Routes()
            for t in agent.profile.tenants:
                by_tenant.setdefault(t, []).append(agent)
        per_channel: dict[str, dict[str, list[Slot]]] = {a: {} for a in self.agents}
        serves: dict[str, list[QueueRuntime]] = {}
        for q in self.queues.values():
            spec = q.spec
            eligible = [a for a in by_tenant.get(q.tenant, []) if a.profile.qualifies(spec)]
            profs = {a.id: a.profile.proficiency_for(spec) for a in eligible}
            q.eligible_dedicated = [a for a in eligible if a.is_dedicated]
            q.eligible_shared = [a for a in eligible if not a.is_dedicated]
            q.track_ripe = bool(q.eligible_dedicated and q.eligible_shared) and q.shared_after_s > 0
            if q.track_ripe:
                self._ripe_queues.append(q)
            for pool, dedicated in ((q.eligible_dedicated, True), (q.eligible_shared, False)):
                for aid, slot in q.build_pool(pool, profs, dedicated=dedicated).items():
                    per_channel[aid].setdefault(q.channel_key, []).append(slot)
            for a in eligible:
                serves.setdefault(a.id, []).append(q)
        # Agents with the same queues share one copy of each tuple: fewer objects, warmer caches.
        shared: dict[Any, Any] = {}
        for aid, channels in per_channel.items():
            agent = self.agents[aid]
            routes = agent._routes
            routes.by_channel = list(channels.items())
            free_levels = tuple(
                (channel, tuple(tuple(levels[n] for levels, _ in slots) for n in range(agent.capacity[channel])))
                for channel, slots in channels.items()
            )
            at_rest = tuple(levels[0] for slots in channels.values() for levels, _ in slots)
            served = tuple(serves.get(aid, ()))
            routes.free_levels = free_levels = shared.setdefault(free_levels, free_levels)
            routes.at_rest_levels = at_rest = shared.setdefault(at_rest, at_rest)
            routes.serves = served = shared.setdefault(served, served)
            routes.dedicated_queues = served if agent.is_dedicated else ()
            routes.free_items = shared.setdefault(("items", free_levels), _items_of(free_levels))
            routes.at_rest_items = shared.setdefault(("items", at_rest), tuple(lv.items for lv in at_rest))
            routes.waiting = shared.setdefault(("waiting", served), tuple(q.waiting for q in served))
        self._levels = [level for q in self.queues.values() for level in (*q.dedicated, *q.shared)]

    def _clock(self, now: float) -> float:
        if now < self._now:
            return self._now
        self._now = now
        return now

    # -- decisions ------------------------------------------------------------------------------

    def _place(self, c: Contact, q: QueueRuntime, now: float) -> None:
        """Contact-driven decision for a contact just queued in ``q``: offer it to the best free
        agent (dedicated before shared), or let it wait."""
        self.decisions += 1
        skills = c.skills
        agent = pick_agent(q.dedicated, skills, now) if q.dedicated else None
        if agent is None and q.shared:
            enq = c.enqueued_at
            if not q.track_ripe or q.dedicated_logged_in == 0 or (enq is not None and now - enq >= q.shared_after_s):
                agent = pick_agent(q.shared, skills, now)
        if agent is None:
            entry = q.push(c, now)
            if q.max_wait_s is not None and q.overflow_queue is not None:
                due = (c.queue_entered_at or now) + q.max_wait_s
                heappush(self._overflow_timers, (due, c._order, entry, q))
            return
        self._offer(c, agent, now)
        self._reindex(agent)

    def _serve(self, agent: Agent, now: float) -> None:
        """Agent-driven decisions: while the agent is ready with room, offer it a contact
        transferred to it, else the best waiting contact of the queues it serves (highest
        effective priority, then earliest enqueue time)."""
        routes = agent._routes
        waiting = routes.waiting
        while agent.available:
            self.decisions += 1
            targeted = agent._targeted
            if targeted and self._serve_targeted(agent, targeted, now):
                continue
            if not any(waiting):  # the common case: nothing waits in any of its queues
                break
            best: Entry | None = None
            best_eff = 0.0
            best_q: QueueRuntime | None = None
            load = agent.load
            capacity = agent._capacity
            exclusive = agent.voice_exclusive
            dedicated = agent.is_dedicated
            for q in routes.serves:
                if not q.waiting:
                    continue
                ch = q.channel_key
                if load[ch] >= capacity[ch] or (exclusive and (agent.in_hand if ch == "voice" else load["voice"])):
                    continue  # no room on the queue's channel (``Agent.free``)
                heap = q.heap if dedicated or not q.track_ripe or q.dedicated_logged_in == 0 else q.ripe
                entry = heap[0] if heap else None  # fast path: a live head without extra skills
                if entry is None or entry[3]._entry is not entry or entry[3].skills:
                    entry = q.head(heap, agent)
                    if entry is None:
                        continue
                eff = entry[0] - q.aging_per_s * now  # minus the effective priority now
                if best is None or eff < best_eff or (eff == best_eff and (entry[1], entry[2]) < (best[1], best[2])):
                    best, best_eff, best_q = entry, eff, q
            if best is None or best_q is None:
                break
            c = best[3]
            best_q.remove(c)
            self._offer(c, agent, now)
        self._reindex(agent)

    def _serve_targeted(self, agent: Agent, targeted: list[Contact], now: float) -> bool:
        for c in targeted:
            if agent.free(c.channel):
                targeted.remove(c)
                self._offer(c, agent, now)
                return True
        return False

    def _offer(self, c: Contact, agent: Agent, now: float) -> None:
        """Offer a queued contact to an agent with room for it. The caller knows both, so the two
        moves are not checked again: they are ``Contact.offer`` and ``Agent.offer`` (via
        ``Agent._reserve``) inlined, the one place in the router that writes their fields, since
        this runs on every decision that finds a match. Keep the three in step."""
        out = self._out
        aid = agent.id
        cid = c.id
        channel = c.channel
        # ``Contact.offer`` and ``Agent.offer``, unchecked and inlined (the hot path's two moves).
        c.agent_id = aid
        c.offers += 1
        c.state = OFFERED
        out.append(contact_event(now, cid, c.tenant, channel, OFFERED, QUEUED, c.queue, aid, None, None))
        offers = agent.offers
        dt = now - agent._acc_at
        if dt > 0:  # ``Agent._account``
            if agent.in_hand > len(offers):
                agent.handling_s += dt
            elif agent.available:
                agent.ready_s += dt
            agent._acc_at = now
        prev = agent.state
        offers[cid] = channel
        load = agent.load
        load[CHANNEL_KEY[channel]] += 1
        agent.in_hand += 1
        agent.idle_since = now
        agent.state = RESERVED
        out.append(agent_event(now, aid, RESERVED, prev, agent.reason_code, cid, channel, load.copy()))
        timeout = self.offer_timeout_s
        if timeout is not None:
            seq = self._seq = self._seq + 1
            c._offer = seq
            self._offer_timers += (now + timeout, seq, c)  # one timer: three flat items (see tick)

    def _reindex(self, agent: Agent) -> None:
        """Put the agent in exactly the free-agent levels it belongs in now (at their back): a new
        order kills its old triples, then it is appended where it is free (``Routes.levels_for``)."""
        order = self._seq = self._seq + 1
        agent._order = order
        if not agent.available:
            return
        triple = (agent, order, agent.idle_since)
        if not agent.in_hand:  # the common case: free on every channel, at load 0
            for items in agent._routes.at_rest_items:
                items += triple
        else:
            load = agent.load
            exclusive = agent.voice_exclusive
            if exclusive and load["voice"]:  # a voice contact in hand blocks every channel
                return
            for channel, by_load in agent._routes.free_items:
                n = load[channel]
                if n >= len(by_load) or (exclusive and channel == "voice"):
                    continue  # full (one entry per load below capacity), or voice beside other contacts
                for items in by_load[n]:
                    items += triple
        self._sweep_in -= 1
        if not self._sweep_in:
            self._sweep()

    def _sweep(self) -> None:
        """Compact the levels that hold more than twice their pool (dead triples pile up where an
        agent is re-indexed often but rarely picked). Every ``_SWEEP_EVERY`` re-indexes, so a level
        grows by a bounded number of triples between sweeps and no append pays a check."""
        self._sweep_in = _SWEEP_EVERY
        for level in self._levels:
            if len(level.items) > level.limit:
                level.compact()

    def _unindex(self, agent: Agent) -> None:
        """Take the agent out of every free-agent level (its triples die with its order)."""
        self._seq += 1
        agent._order = self._seq

    def _drain_shared(self, q: QueueRuntime, contacts: list[Contact], now: float) -> None:
        """Offer contacts that just became open to shared agents (in the given order)."""
        for c in contacts:
            if not any(level.items for level in q.shared):
                return
            if c._entry is None or c.queue != q.id:
                continue
            self.decisions += 1
            agent = pick_agent(q.shared, c.skills, now)
            if agent is not None:
                q.remove(c)
                self._offer(c, agent, now)
                self._reindex(agent)

    # -- moves shared by several calls ----------------------------------------------------------

    def _return_offer(self, c: Contact, agent: Agent, now: float, reason: str) -> None:
        """An offer ends unanswered: the contact goes back and is routed (not to this agent)."""
        self._unindex(agent)
        c._offer = None
        self._out.append(c.requeue(now, reason=reason))
        self._out.append(agent.withdraw(c.id, now))
        c.target_agent = None
        self._excluded = agent  # out of the indexes until it is served below
        self._place(c, self.queues[c.queue], now)  # type: ignore[index]
        self._excluded = None

    def _end_wrap(self, agent: Agent, contact_id: str, now: float) -> None:
        self._out.append(agent.end_wrap_up(contact_id, now))
        c = self.contacts.get(contact_id)
        if c is not None and c.state is WRAP_UP and c.agent_id == agent.id:
            self._out.append(c._completed(now))
            self._finish(c)

    def _arm_wrap(self, agent: Agent, contact_id: str) -> None:
        held = agent.wrapping[contact_id]
        self._seq += 1
        heappush(self._wrap_timers, (held[1], self._seq, agent, contact_id, held))

    def _end_contact(self, c: Contact, state: ContactState, now: float, reason: str | None) -> None:
        agent = self.agents[c.agent_id] if c.agent_id is not None else None
        prev = c.state
        self._unplace(c)
        self._out.append(c.move(state, now, reason=reason))
        if agent is not None and prev is OFFERED:
            c._offer = None
            self._unindex(agent)
            self._out.append(agent.withdraw(c.id, now))
            self._serve(agent, now)
        elif agent is not None and prev is CONNECTED:
            self._out.append(agent.drop(c.id, now))
            self._serve(agent, now)
        self._finish(c)

    def _unplace(self, c: Contact) -> None:
        """Take a contact out of the pre-queue, a queue, a target list or the callbacks."""
        if c.state is QUEUED:
            if c.target_agent is not None:
                self.agents[c.target_agent]._targeted.remove(c)
            elif c._entry is not None and c.queue is not None:
                self.queues[c.queue].remove(c)
        else:
            self._pre.pop(c.id, None)
            self._callbacks.pop(c.id, None)

    def _finish(self, c: Contact) -> None:
        del self.contacts[c.id]
        self.finished[c.state] += 1


_ENDS = (ContactState.ABANDONED, ContactState.FAILED)
#: Re-indexes between two compaction sweeps of the free-agent levels.
_SWEEP_EVERY = 4096


def _items_of(
    free_levels: tuple[tuple[str, tuple[tuple[FreeLevel, ...], ...]], ...],
) -> tuple[tuple[str, tuple[tuple[list[Any], ...], ...]], ...]:
    return tuple(
        (channel, tuple(tuple(level.items for level in levels) for levels in by_load))
        for channel, by_load in free_levels
    )
