"""Contacts changing hands between routers (sans-IO): into a shard from another shard or site,
back into a restarted shard, or out of the IVR.

``attach`` puts a contact that another router (or a dead site) held into this one without a second
``arrived`` event: its history goes on with one ``queued`` event whose reason says where it came
from, and it keeps its place in line (``enqueued_at``). With ``agent_id`` it goes straight back to
that agent, connected: how a restarted shard rebuilds a call in progress (the caller of ``attach``
drops the events of a rebuild, which repeat history). ``end_in_ivr`` ends a contact in the IVR:
completed (the caller heard what it needed: closed hours, a booked callback) or failed (the IVR
could not go on).
"""

from __future__ import annotations

from vcc.core.contact import Contact
from vcc.core.events import Event
from vcc.core.model import ContactState
from vcc.core.routing import Router
from vcc.errors import InvalidTransition

#: IVR hang-up reasons that mean the contact failed rather than completed in self-service.
IVR_FAILURES = frozenset({"ivr_menu_failed", "ivr_collect_failed", "ivr_loop", "ivr_stalled"})


def attach(
    router: Router, contact: Contact, queue_id: str, now: float, *, reason: str | None,
    agent_id: str | None = None,
) -> list[Event]:
    if contact.id in router.contacts:
        raise InvalidTransition(f"contact {contact.id}", router.contacts[contact.id].state.value, "attached")
    if contact.state is not ContactState.ARRIVED:
        raise InvalidTransition(f"contact {contact.id}", contact.state.value, "attached")
    router.queue(queue_id)
    if agent_id is not None and not router.agent(agent_id).can_take(contact.channel):
        # checked before anything changes: a failed attach leaves the router as it was
        raise InvalidTransition(f"agent {agent_id}", router.agents[agent_id].state.value, "takes contact back")
    enqueued_at = contact.enqueued_at
    contact.enqueued_at = None
    router._seq += 1
    contact._order = router._seq
    router.contacts[contact.id] = contact
    router._pre[contact.id] = contact
    if agent_id is None:
        return router.enqueue(contact.id, queue_id, now, reason=reason, enqueued_at=enqueued_at)
    agent = router.agents[agent_id]
    now = router._clock(now)
    del router._pre[contact.id]
    out = router._out = [contact.enqueue(queue_id, now, reason=reason, target_agent=agent_id,
                                          enqueued_at=enqueued_at)]
    router._offer(contact, agent, now)
    router._reindex(agent)
    return out + router.accept(contact.id, now)


def end_in_ivr(router: Router, contact_id: str, now: float, *, reason: str) -> list[Event]:
    c = router.contact(contact_id)
    state = ContactState.FAILED if reason in IVR_FAILURES or reason.startswith("no IVR flow") else \
        ContactState.COMPLETED
    if c.state not in (ContactState.IVR, ContactState.ARRIVED) or not c.can(state):
        raise InvalidTransition(f"contact {contact_id}", c.state.value, state.value)
    now = router._clock(now)
    router._unplace(c)
    event = c.move(state, now, reason=reason)
    router._finish(c)
    return [event]
