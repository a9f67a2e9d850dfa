"""The router (ACD): matches contacts with agents, both ways, and keeps every contact in one place.

Sans-IO: every call takes ``now`` (epoch seconds; a ``now`` earlier than the last one is treated as
the last one) and returns the events it caused, in order. Decisions:

- a contact enters a queue -> the best free agent: dedicated agents first; shared agents once the
  contact has waited the queue's ``shared_after_s`` (at once when no dedicated agent who qualifies
  for the queue is logged in); among them longest idle or least occupied (``QueueSpec.selection``),
  ties to the higher proficiency;
- an agent gets free room -> first a contact transferred to it, then the best waiting contact of the
  queues it serves: highest effective priority (``queue.priority + contact.priority +
  aging_per_s * waited``), then earliest enqueue time.

``tick(now)`` runs the clocks: offer timeouts (the contact goes back with its FIFO position; the
agent goes not ready with reason code ``no_answer``), wrap-up ends, overflow after ``max_wait_s``,
and shared-pool eligibility after ``shared_after_s``. Call it often (e.g. every second).

A rejected contact goes back to its queue and on to the best free agent, which may be the same
agent if no one else is free: an agent who does not want offers goes not ready.
"""

from __future__ import annotations

from heapq import heappop

from vcc.core.agent import LOGGED_OUT, Agent
from vcc.core.contact import (
    ABANDONED,
    ARRIVED,
    CALLBACK_REQUESTED,
    COMPLETED,
    CONNECTED,
    FAILED,
    IVR,
    OFFERED,
    QUEUED,
    TRANSFERRED,
    TRANSITIONS,
    WRAP_UP,
    Contact,
    contact_event,
)
from vcc.core.dispatch import Dispatcher
from vcc.core.events import Event
from vcc.core.model import merge_skills
from vcc.core.queueing import QueueRuntime
from vcc.errors import InvalidTransition, NotFound


class Router(Dispatcher):
    """Routes the contacts of one center (or one shard of it) to its agents.

    Built from a ``CenterSpec`` and/or ``tenants``/``queues``/``agents`` specs; options:
    ``offer_timeout_s`` (None: no timeout), ``wrap_up_s`` (default after-call work),
    ``blend`` (cross-channel rule, see ``vcc.core.agent``), ``rona_not_ready``."""

    # -- lookups --------------------------------------------------------------------------------

    def agent(self, agent_id: str) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise NotFound(f"agent {agent_id} does not exist") from None

    def queue(self, queue_id: str) -> QueueRuntime:
        try:
            return self.queues[queue_id]
        except KeyError:
            raise NotFound(f"queue {queue_id} does not exist") from None

    def contact(self, contact_id: str) -> Contact:
        """A live contact (terminal ones are forgotten once their last event is out)."""
        try:
            return self.contacts[contact_id]
        except KeyError:
            raise NotFound(f"contact {contact_id} is not live here") from None

    def waiting(self, queue_id: str) -> list[Contact]:
        """Contacts waiting in a queue, in service order at equal aging."""
        return self.queue(queue_id).ordered()

    def staffed(self, queue_id: str) -> int:
        """Logged-in agents who qualify for a queue (ready, busy or not ready)."""
        return self.queue(queue_id).staffed

    def free_agents(self, queue_id: str, *, dedicated: bool = True) -> list[Agent]:
        """Free agents of one pool of a queue (any order)."""
        q = self.queue(queue_id)
        levels = q.dedicated if dedicated else q.shared
        return [a for level in levels for a in level.agents()]

    # -- agents ---------------------------------------------------------------------------------

    def login(self, agent_id: str, now: float, *, ready: bool = False) -> list[Event]:
        agent = self.agent(agent_id)
        now = self._clock(now)
        out = self._out = []
        out.append(agent.login(now))
        for q in agent._routes.serves:
            q.staffed += 1
        for q in agent._routes.dedicated_queues:
            q.dedicated_logged_in += 1
        if ready:
            out.append(agent.ready(now))
            self._serve(agent, now)
        return out

    def ready(self, agent_id: str, now: float) -> list[Event]:
        agent = self.agent(agent_id)
        now = self._clock(now)
        out = self._out = []
        out.append(agent.ready(now))
        self._serve(agent, now)
        return out

    def not_ready(self, agent_id: str, now: float, reason_code: str) -> list[Event]:
        agent = self.agent(agent_id)
        now = self._clock(now)
        out = self._out = []
        out.append(agent.not_ready(now, reason_code))
        self._reindex(agent)
        return out

    def logout(self, agent_id: str, now: float, *, force: bool = False) -> list[Event]:
        """Log an agent out. Offers are withdrawn (contacts go back to their queue), wrap-ups end.
        Connected contacts make this raise, unless ``force``: then they are transferred back to
        their queue (e.g. the agent's browser is gone)."""
        agent = self.agent(agent_id)
        now = self._clock(now)
        if agent.connected and not force:
            raise InvalidTransition(f"agent {agent_id}", agent.state.value, "logged_out")
        if agent.state is LOGGED_OUT:
            raise InvalidTransition(f"agent {agent_id}", agent.state.value, "logged_out")
        out = self._out = []
        agent.available = False
        self._unindex(agent)
        pending: list[Contact] = []
        for cid in list(agent.offers):
            c = self.contacts[cid]
            out.append(c.requeue(now, reason="agent_logged_out"))
            out.append(agent.withdraw(cid, now))
            c._offer = None
            c.target_agent = None
            pending.append(c)
        for cid in list(agent.wrapping):
            self._end_wrap(agent, cid, now)
        for cid in list(agent.connected):
            c = self.contacts[cid]
            out.append(c.transfer(now, reason="agent_logged_out"))
            out.append(agent.drop(cid, now))
            out.append(c.enqueue(self._fallback_queue(c), now, reason="agent_logged_out"))
            pending.append(c)
        for c in agent._targeted:
            c.target_agent = None
            out.append(c.enqueue(self._fallback_queue(c), now, reason="agent_logged_out"))
            pending.append(c)
        agent._targeted.clear()
        out.append(agent.logout(now))
        for q in agent._routes.serves:
            q.staffed -= 1
        emptied = []
        for q in agent._routes.dedicated_queues:
            q.dedicated_logged_in -= 1
            if q.dedicated_logged_in == 0 and q.track_ripe:
                emptied.append(q)
        for c in pending:
            self._place(c, self.queues[c.queue], now)  # type: ignore[index]
        for q in emptied:
            self._drain_shared(q, q.ordered(), now)
        return out

    # -- contacts -------------------------------------------------------------------------------

    def arrive(self, contact: Contact, now: float) -> list[Event]:
        """A new contact. Blocked callers fail at once (reason ``blocked_caller``); VIP callers get
        the tenant's priority boost. With ``contact.queue`` set it is queued and routed at once;
        otherwise it waits for ``start_ivr`` or ``enqueue``."""
        if contact.id in self.contacts:
            raise InvalidTransition(f"contact {contact.id}", self.contacts[contact.id].state.value, "arrived")
        if contact.state is not ARRIVED:
            raise InvalidTransition(f"contact {contact.id}", contact.state.value, "arrived")
        q = self.queue(contact.queue) if contact.queue is not None else None
        if q is not None:
            _check_channel(contact, q)
        now = self._clock(now)
        out = self._out = []
        tenant = self.tenants.get(contact.tenant)
        self._seq += 1
        contact._order = self._seq
        self.contacts[contact.id] = contact
        vip = tenant is not None and contact.caller_id in tenant.callers.vip
        out.append(
            contact_event(
                now, contact.id, contact.tenant, contact.channel, ARRIVED, None, contact.queue, None,
                None, {"vip": True} if vip else None,
            )
        )  # fmt: skip
        if tenant is not None and contact.caller_id in tenant.callers.blocked:
            out.append(contact.move(FAILED, now, reason="blocked_caller"))
            self._finish(contact)
            return out
        if vip and tenant is not None:
            contact.vip = True
            contact.vip_boost = tenant.callers.vip_priority_boost
        if q is None:
            self._pre[contact.id] = contact
        else:
            out.append(contact.enqueue(q.id, now))
            self._place(contact, q, now)
        return out

    def start_ivr(self, contact_id: str, now: float) -> list[Event]:
        c = self.contact(contact_id)
        now = self._clock(now)
        self._out = [c.start_ivr(now)]
        return self._out

    def enqueue(
        self,
        contact_id: str,
        queue_id: str,
        now: float,
        *,
        priority_delta: int = 0,
        skills: dict[str, int] | None = None,
        reason: str | None = None,
        enqueued_at: float | None = None,
    ) -> list[Event]:
        """Queue a contact that arrived, left the IVR (with its ``SetAttributes``), is a due
        callback, or is moved from another queue, and route it. ``enqueued_at`` keeps the place
        in line of a contact handed over by another router (see ``detach``)."""
        c = self.contacts.get(contact_id)
        if c is None:
            c = self.contact(contact_id)  # raises NotFound
        q = self.queues.get(queue_id)
        if q is None:
            q = self.queue(queue_id)  # raises NotFound
        if c.channel is not q.channel:
            _check_channel(c, q)
        state = c.state
        if state is not ARRIVED and (state is OFFERED or QUEUED not in TRANSITIONS[state]):
            raise InvalidTransition(f"contact {contact_id}", state.value, QUEUED.value)
        if now < self._now:
            now = self._now
        self._now = now
        out = self._out = []
        if state is ARRIVED:  # the common case: a new contact, routed on arrival
            del self._pre[contact_id]
        elif state is QUEUED:
            self._unplace(c)
        elif state is CALLBACK_REQUESTED:
            del self._callbacks[contact_id]
        else:
            del self._pre[contact_id]
        if priority_delta:
            c.priority += priority_delta
        if skills:
            c.skills = merge_skills(c.skills, skills)
        out.append(c._enqueued(q.id, now, reason, None, enqueued_at))  # the move was checked above
        self._place(c, q, now)
        return out

    def detach(self, contact_id: str) -> Contact:
        """Hand a contact that is not with an agent (arrived, in the IVR, queued, or waiting for a
        callback) over to another router, e.g. another shard where an agent came free. It leaves
        this router without an event: its history goes on where it is re-created (``arrive``,
        then ``enqueue(..., enqueued_at=c.enqueued_at)`` to keep its place in line)."""
        c = self.contact(contact_id)
        if c.state not in (ARRIVED, IVR, QUEUED, CALLBACK_REQUESTED):
            raise InvalidTransition(f"contact {contact_id}", c.state.value, "detached")
        self._unplace(c)
        c.target_agent = None
        del self.contacts[contact_id]
        return c

    def accept(self, contact_id: str, now: float) -> list[Event]:
        c = self.contacts.get(contact_id)
        if c is None or c.state is not OFFERED or c.agent_id is None:
            c = self.contact(contact_id)
            raise InvalidTransition(f"contact {contact_id}", c.state.value, CONNECTED.value)
        agent = self.agents[c.agent_id]
        if now < self._now:
            now = self._now
        self._now = now
        c._offer = None
        self._out = [c.connect(now), agent.accept(contact_id, now)]
        return self._out

    def reject(self, contact_id: str, now: float, *, reason: str = "rejected") -> list[Event]:
        """The agent declined the offer: the contact goes back (FIFO position kept) and is routed."""
        c = self.contact(contact_id)
        if c.state is not OFFERED or c.agent_id is None:
            raise InvalidTransition(f"contact {contact_id}", c.state.value, QUEUED.value)
        now = self._clock(now)
        self._out = []
        agent = self.agents[c.agent_id]
        self._return_offer(c, agent, now, reason)
        self._serve(agent, now)
        return self._out

    def complete(self, contact_id: str, now: float, *, wrap_up_s: float | None = None) -> list[Event]:
        """A connected contact ends (hang-up, chat closed, email answered): wrap-up for
        ``wrap_up_s`` (the router's default if None), or completed at once when 0."""
        c = self.contacts.get(contact_id)
        if c is None or c.state is not CONNECTED or c.agent_id is None:
            c = self.contact(contact_id)
            raise InvalidTransition(f"contact {contact_id}", c.state.value, WRAP_UP.value)
        agent = self.agents[c.agent_id]
        if now < self._now:
            now = self._now
        self._now = now
        out = self._out = []
        freed = contact_id in agent.wrapping  # the same contact came back to this agent by transfer
        if freed:
            self._unindex(agent)
            self._end_wrap(agent, contact_id, now)
        wrap = self.wrap_up_s if wrap_up_s is None else wrap_up_s
        if wrap > 0:
            out.append(c.move(WRAP_UP, now))
            out.append(agent.complete(contact_id, now, wrap))
            self._arm_wrap(agent, contact_id)
        else:
            out.append(c.move(COMPLETED, now))
            out.append(agent.complete(contact_id, now, 0.0))
            self._finish(c)
        if freed or wrap <= 0:
            self._serve(agent, now)
        return out

    def end_wrap_up(self, agent_id: str, now: float, contact_id: str | None = None) -> list[Event]:
        """End an agent's wrap-up early (one contact's, or all); the agent then gets new work."""
        agent = self.agents.get(agent_id) or self.agent(agent_id)
        if contact_id not in agent.wrapping if contact_id is not None else not agent.wrapping:
            raise InvalidTransition(f"agent {agent_id}", agent.state.value, "wrap_up_ended")
        if now < self._now:
            now = self._now
        self._now = now
        out = self._out = []
        if contact_id is not None:
            out.append(agent._release(agent.wrapping.pop(contact_id)[0], contact_id, now, True))  # checked above
            c = self.contacts.get(contact_id)
            if c is not None and c.state is WRAP_UP and c.agent_id == agent.id:  # same str: no read
                out.append(c._completed(now))
                del self.contacts[contact_id]
                self.finished[COMPLETED] += 1
        else:
            for cid in list(agent.wrapping):
                self._end_wrap(agent, cid, now)
        self._serve(agent, now)
        return out

    def transfer(
        self,
        contact_id: str,
        now: float,
        *,
        queue: str | None = None,
        agent_id: str | None = None,
        wrap_up_s: float | None = None,
    ) -> list[Event]:
        """Transfer a connected contact to a queue or to one agent (who gets it when free; it falls
        back to the contact's queue if that agent rejects or logs out). The transferring agent
        wraps up. The contact keeps its id, so its history continues."""
        c = self.contact(contact_id)
        if c.state is not CONNECTED or c.agent_id is None:
            raise InvalidTransition(f"contact {contact_id}", c.state.value, TRANSFERRED.value)
        if (queue is None) == (agent_id is None):
            raise ValueError("transfer to exactly one of queue or agent_id")
        old = self.agents[c.agent_id]
        q = self.queue(queue if queue is not None else self._fallback_queue(c))
        _check_channel(c, q)
        target = self.agent(agent_id) if agent_id is not None else None
        if target is not None and (target is old or target.state is LOGGED_OUT or target.capacity[c.channel] <= 0):
            raise InvalidTransition(f"agent {target.id}", target.state.value, "transfer_target")
        now = self._clock(now)
        out = self._out = []
        wrap = self.wrap_up_s if wrap_up_s is None else wrap_up_s
        if c.id in old.wrapping:
            self._end_wrap(old, c.id, now)
        out.append(c.transfer(now))
        out.append(old.complete(c.id, now, wrap))
        if wrap > 0:
            self._arm_wrap(old, c.id)
        old.idle_since = now  # a transfer is work: the transferring agent goes to the back
        self._unindex(old)
        out.append(c.enqueue(q.id, now, reason="transfer", target_agent=agent_id))
        if target is not None:
            self.decisions += 1
            if target.can_take(c.channel):
                self._offer(c, target, now)
                self._reindex(target)
            else:
                target._targeted.append(c)
        else:
            self._excluded = old  # the contact does not come straight back
            self._place(c, q, now)
            self._excluded = None
        self._serve(old, now)
        return out

    def abandon(self, contact_id: str, now: float, *, reason: str | None = None) -> list[Event]:
        """The customer left before being connected (hung up, closed the chat)."""
        c = self.contact(contact_id)
        if not c.can(ABANDONED):
            raise InvalidTransition(f"contact {contact_id}", c.state.value, ABANDONED.value)
        now = self._clock(now)
        self._out = []
        self._end_contact(c, ABANDONED, now, reason)
        return self._out

    def fail(self, contact_id: str, now: float, *, reason: str) -> list[Event]:
        """The contact could not go on (media failure, site fenced, bad data)."""
        c = self.contact(contact_id)
        if not c.can(FAILED):
            raise InvalidTransition(f"contact {contact_id}", c.state.value, FAILED.value)
        now = self._clock(now)
        self._out = []
        self._end_contact(c, FAILED, now, reason)
        return self._out

    def hand_over(self, contact_id: str, now: float) -> tuple[Contact, list[Event]]:
        """The contact leaves this router from wherever it is, without an end: another site owns it
        now (it adopted the contact while this site was cut off). Unlike ``detach`` it may be with
        an agent: an offer is withdrawn, a connected contact dropped, a wrap-up ended, and the agent
        gets new work. Only the agent's events come out: the contact's history goes on at its owner."""
        c = self.contact(contact_id)
        state = c.state
        if state not in (OFFERED, CONNECTED, WRAP_UP) or c.agent_id is None:
            return self.detach(contact_id), []
        now = self._clock(now)
        out = self._out = []
        agent = self.agents[c.agent_id]
        if state is OFFERED:
            c._offer = None
            self._unindex(agent)
            out.append(agent.withdraw(c.id, now))
        elif state is CONNECTED:
            out.append(agent.drop(c.id, now))
        elif c.id in agent.wrapping:  # its wrap-up timer finds it gone and does nothing
            out.append(agent.end_wrap_up(c.id, now))
        c.target_agent = None
        del self.contacts[c.id]
        self._serve(agent, now)
        return c, out

    def request_callback(self, contact_id: str, now: float) -> list[Event]:
        """The customer asked to be called back: the contact leaves its queue (or the IVR) and waits,
        durable, until ``enqueue`` puts it back when the callback is due."""
        c = self.contact(contact_id)
        if not c.can(CALLBACK_REQUESTED):
            raise InvalidTransition(f"contact {contact_id}", c.state.value, CALLBACK_REQUESTED.value)
        now = self._clock(now)
        self._unplace(c)
        self._callbacks[c.id] = c
        self._out = [c.move(CALLBACK_REQUESTED, now)]
        return self._out

    # -- clocks ---------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Event]:
        """Offer timeouts, wrap-up ends, overflows and shared-pool thresholds due at ``now``."""
        now = self._clock(now)
        self._out = []
        timers = self._offer_timers
        while timers and timers[0] <= now:
            timers.popleft()  # the deadline
            seq = timers.popleft()
            c = timers.popleft()
            if c._offer == seq and c.state is OFFERED and c.agent_id is not None:
                agent = self.agents[c.agent_id]
                self._return_offer(c, agent, now, "offer_timeout")
                if self.rona_not_ready:
                    self._out.append(agent.not_ready(now, "no_answer"))
                    self._reindex(agent)
                else:
                    self._serve(agent, now)
        wraps = self._wrap_timers
        while wraps and wraps[0][0] <= now:
            _, _, agent, cid, held = heappop(wraps)
            if agent.wrapping.get(cid) is held:
                self._end_wrap(agent, cid, now)
                self._serve(agent, now)
        overflow = self._overflow_timers
        while overflow and overflow[0][0] <= now:
            _, _, entry, q = heappop(overflow)
            c = entry[3]
            if c._entry is entry and q.overflow_queue is not None:
                q.remove(c)
                self._out.append(c.enqueue(q.overflow_queue, now, reason="overflow"))
                self._place(c, self.queues[q.overflow_queue], now)
        for q in self._ripe_queues:
            if q.maturing and q.maturing[0][0] <= now:
                self._drain_shared(q, sorted(q.mature(now), key=_entry_key), now)
        return self._out

    def check(self, *, work_conserving: bool = True) -> None:
        """Assert the invariants (for tests; O(agents x contacts))."""
        from vcc.core.routing_check import check_router

        check_router(self, work_conserving=work_conserving)

    def _fallback_queue(self, c: Contact) -> str:
        if c.queue is None:
            raise InvalidTransition(f"contact {c.id}", c.state.value, "queued (it has no queue)")
        return c.queue


def _entry_key(c: Contact) -> tuple[float, float, int]:
    entry = c._entry
    return (entry[0], entry[1], entry[2]) if entry is not None else (float("inf"), 0.0, 0)


def _check_channel(c: Contact, q: QueueRuntime) -> None:
    if c.channel != q.channel:
        raise InvalidTransition(f"contact {c.id}", f"{c.channel.value} contact", f"{q.channel.value} queue {q.id}")
