"""A reference router that decides by scanning: every agent for a contact, every waiting contact
for an agent. Same rules and same tie-breaks as :class:`~vcc.core.routing.Router`, without its
indexes; far too slow for a center, it exists to check the fast one (tests compare their decisions)
and as the bench's baseline.
"""

from __future__ import annotations

from vcc.core.agent import Agent
from vcc.core.contact import Contact
from vcc.core.freeagents import has_skills
from vcc.core.model import AgentSelection
from vcc.core.queueing import QueueRuntime
from vcc.core.routing import Router

_INF = float("inf")


class ReferenceRouter(Router):
    """A :class:`Router` whose decisions scan everything."""

    def _place(self, c: Contact, q: QueueRuntime, now: float) -> None:
        self.decisions += 1
        enq = c.enqueued_at
        shared_ok = (
            not q.track_ripe or q.dedicated_logged_in == 0 or (enq is not None and now - enq >= q.shared_after_s)
        )
        agent = self._scan_agents(q, c, dedicated=True)
        if agent is None and shared_ok:
            agent = self._scan_agents(q, c, dedicated=False)
        if agent is None:
            self._push_waiting(q, c, now)
            return
        self._offer(c, agent, now)
        self._reindex(agent)

    def _scan_agents(self, q: QueueRuntime, c: Contact, *, dedicated: bool) -> Agent | None:
        spec = q.spec
        channel = q.channel.value
        least_occupied = spec.selection is AgentSelection.LEAST_OCCUPIED
        best: Agent | None = None
        best_key: tuple[float, float, int, int] | None = None
        for agent in self.agents.values():
            if agent.is_dedicated != dedicated or not agent.can_take(channel) or agent is self._excluded:
                continue
            if agent.state.value == "logged_out" or not agent.profile.qualifies(spec):
                continue
            if c.skills and not has_skills(agent, c.skills):
                continue
            share = agent.load[channel] / agent.capacity[channel] if least_occupied else 0.0
            key = (share, agent.idle_since, -agent.profile.proficiency_for(spec), agent._order)
            if best_key is None or key < best_key:
                best, best_key = agent, key
        return best

    def _push_waiting(self, q: QueueRuntime, c: Contact, now: float) -> None:
        from heapq import heappush

        entry = q.push(c, now)
        if q.max_wait_s is not None and q.overflow_queue is not None:
            due = (c.queue_entered_at or now) + q.max_wait_s
            heappush(self._overflow_timers, (due, c._order, entry, q))

    def _serve(self, agent: Agent, now: float) -> None:
        while agent.available:
            self.decisions += 1
            best: Contact | None = None
            for c in agent._targeted:
                if agent.free(c.channel):
                    best = c
                    break
            if best is not None:
                agent._targeted.remove(best)
                self._offer(best, agent, now)
                continue
            best_key: tuple[float, float, int] | None = None
            best_q: QueueRuntime | None = None
            for q in self.queues.values():
                if not agent.free(q.channel) or not agent.profile.qualifies(q.spec):
                    continue
                for c in q.waiting.values():
                    if not agent.is_dedicated and not q.is_ripe(c):
                        continue
                    if c.skills and not has_skills(agent, c.skills):
                        continue
                    entry = c._entry
                    assert entry is not None
                    key = (entry[0] - q.aging_per_s * now, entry[1], entry[2])
                    if best_key is None or key < best_key:
                        best, best_key, best_q = c, key, q
            if best is None or best_q is None:
                break
            best_q.remove(best)
            self._offer(best, agent, now)
        self._reindex(agent)

    def _drain_shared(self, q: QueueRuntime, contacts: list[Contact], now: float) -> None:
        for c in contacts:
            if c._entry is None or c.queue != q.id:
                continue
            self.decisions += 1
            agent = self._scan_agents(q, c, dedicated=False)
            if agent is not None:
                q.remove(c)
                self._offer(c, agent, now)
                self._reindex(agent)
