"""The site controller's hooks for the media plane and the web front door.

- agent commands on a connected contact: hold, resume, blind transfer (to a queue or an agent),
  attended (consult) transfer, chat lines, wrap-up disposition and notes;
- contacts whose IVR runs at the media gateway (``ivr_at_gateway``): the gateway reports the
  outcome here (``ivr_outcome``) instead of an IVR worker;
- a caller's position and expected wait, a caller's chat lines, media facts (recording file, DTMF)
  put in the record (``note``), and a caller leaving a connected call;
- a customer's earlier contacts on every channel (``history``), from the site's event log.

Hold, resume, chat lines and notes are contact events in the contact's current state with the
state unchanged and a ``reason`` (``hold``, ``resume``, ``message``, ``consult_start``, ...), so the
KPIs derive hold time and the transcript from the record.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vcc.actors.directory import TERMINAL, LoggedInAgent, PlacedContact
from vcc.actors.ivr_worker import IvrResult
from vcc.actors.records import CommandResult
from vcc.core.events import SCHEMA_VERSION
from vcc.core.model import ContactState, merge_skills

if TYPE_CHECKING:
    from vcc.actors.controller import SiteController

log = logging.getLogger(__name__)
CONNECTED = ContactState.CONNECTED.value
IVR_AT_GATEWAY = "ivr_at"  # attached-data key: "gateway" when the media gateway runs the flow
MAX_CHAT_TEXT = 4000


def runs_ivr_at_gateway(data: dict[str, Any]) -> bool:
    return data.get(IVR_AT_GATEWAY) == "gateway"


def emit_note(c: SiteController, placed: PlacedContact, reason: str, data: dict[str, Any],
              agent_id: str | None = None) -> None:
    """Log a contact event in the contact's current state (state == prev_state) with ``reason``."""
    rec = placed.record
    event = {
        "kind": "contact", "ts": c.clock(), "contact_id": rec.id, "tenant": rec.tenant,
        "channel": rec.channel.value, "state": placed.state, "prev_state": placed.state, "queue": rec.queue,
        "agent_id": agent_id or placed.agent_id, "reason": reason, "data": data,
        "schema_version": SCHEMA_VERSION, "site": c.site,
    }  # fmt: skip
    if placed.awaiting_arrival:  # logged right after the arrival (controller._observe)
        placed.early_notes.append(event)
        return
    c._events.append(event)
    c._events_wake.set()


def annotate_arrival(event: dict[str, Any], placed: PlacedContact) -> None:
    """Put the customer's identity in the ``arrived`` event: a customer's history is found by it."""
    rec = placed.record
    event["data"] = {**(event.get("data") or {}), "caller_id": rec.caller_id, "entry_point": rec.entry_point,
                     **{k: rec.data[k] for k in ("origin", "trunk") if k in rec.data}}  # a SIP call's trunk


def _held_by(c: SiteController, agent: LoggedInAgent, cid: str) -> PlacedContact | CommandResult:
    placed = c.contacts.get(cid)
    if placed is None or placed.agent_id != agent.agent_id or placed.state != CONNECTED:
        return CommandResult(0, False, f"contact {cid!r} is not connected to agent {agent.agent_id}", agent.state)
    return placed


async def agent_media_command(c: SiteController, agent: LoggedInAgent, op: str, args: dict[str, Any]) -> CommandResult:
    cid = str(args.get("contact_id", ""))
    held = _held_by(c, agent, cid)
    if isinstance(held, CommandResult):
        return held
    placed = held
    match op:
        case "hold" | "resume":
            emit_note(c, placed, op, {})
        case "chat":
            text = str(args.get("text", ""))
            if not text.strip() or len(text) > MAX_CHAT_TEXT:
                return CommandResult(0, False, f"chat text must be 1-{MAX_CHAT_TEXT} characters", agent.state)
            emit_note(c, placed, "message", {"from": "agent", "text": text})
        case "transfer":
            return await _transfer(c, agent, placed, str(args.get("queue", "")), str(args.get("agent_id", "")))
        case "consult":
            return await _consult(c, agent, placed, str(args.get("agent_id", "")), str(args.get("step", "")))
        case _:
            return CommandResult(0, False, f"unknown command {op!r}", agent.state)
    return CommandResult(0, True, state=agent.state)


async def _transfer(c: SiteController, agent: LoggedInAgent, placed: PlacedContact, queue: str,
                    target: str) -> CommandResult:
    if bool(queue) == bool(target):
        return CommandResult(0, False, "transfer to exactly one of a queue or an agent", agent.state)
    if queue and queue not in c.center.queues:
        return CommandResult(0, False, f"unknown queue {queue!r}", agent.state)
    if target and target not in c.agents:
        return CommandResult(0, False, f"agent {target!r} is not logged in at site {c.site}", agent.state)
    if target and c.agents[target].shard != placed.shard:
        return CommandResult(0, False, f"agent {target!r} is served by another ACD shard: transfer to a queue",
                             agent.state)
    assert placed.shard is not None
    result = await c._call(placed.shard, ("transfer", placed.record.id, queue or None, target or None))
    result.state = agent.state
    return result


async def _consult(c: SiteController, agent: LoggedInAgent, placed: PlacedContact, target: str,
                   step: str) -> CommandResult:
    other = c.agents.get(target)
    if other is None:
        return CommandResult(0, False, f"agent {target!r} is not logged in at site {c.site}", agent.state)
    cid = placed.record.id
    match step:
        case "start":
            emit_note(c, placed, "hold", {"for": "consult"})
            emit_note(c, placed, "consult_start", {"consulted": target})
            other.stream.push(target, "notice", {"contact_id": cid, "kind": "consult",
                                                 "data": {"from_agent": agent.agent_id}})
        case "cancel":
            emit_note(c, placed, "consult_cancel", {"consulted": target})
            emit_note(c, placed, "resume", {"for": "consult"})
            other.stream.push(target, "notice", {"contact_id": cid, "kind": "consult_cancelled",
                                                 "data": {"from_agent": agent.agent_id}})
        case "complete":
            emit_note(c, placed, "consult_complete", {"consulted": target})
            return await _transfer(c, agent, placed, "", target)
        case _:
            return CommandResult(0, False, f"consult step must be start, complete or cancel, not {step!r}",
                                 agent.state)
    return CommandResult(0, True, state=agent.state)


def wrap_up_note(c: SiteController, agent: LoggedInAgent, cid: str, disposition: str, notes: str) -> None:
    """The disposition and notes of a wrap-up, logged on the contact while it is still live here
    (after a transfer the contact is with another agent: the note says who wrote it)."""
    placed = c.contacts.get(cid)
    if placed is None:
        return
    if placed.agent_id == agent.agent_id:
        placed.record.data["disposition"] = disposition
    emit_note(c, placed, "disposition", {"disposition": disposition, "notes": notes[:MAX_CHAT_TEXT],
                                         "by": agent.agent_id}, agent_id=agent.agent_id)


# ---------------------------------------------------------------------------- caller side


async def ivr_outcome(c: SiteController, cid: str, outcome: str, queue: str, priority_delta: int,
                      data: dict[str, str], reason: str, callback_number: str,
                      skills: dict[str, int] | None = None) -> str:
    """The media gateway's IVR finished with a contact: route it, book a callback or end it, with
    the priority and extra skills (skill -> minimum proficiency) its flow gave it. Returns an error
    text or ''."""
    placed = c.contacts.get(cid)
    if placed is None or placed.state in TERMINAL:
        return f"contact {cid!r} is not in progress at site {c.site}"
    if placed.state not in (ContactState.ARRIVED.value, ContactState.IVR.value):
        return f"contact {cid!r} is {placed.state}, not in the IVR"
    if outcome not in ("route", "callback", "hangup"):
        return f"outcome must be route, callback or hangup, not {outcome!r}"
    if outcome != "hangup" and queue and queue not in c.center.queues:
        return f"unknown queue {queue!r}"
    skills = skills or {}
    if error := _skills_error(c, skills):
        return f"contact {cid!r}: {error}"
    if cid in c.booking:
        return f"contact {cid!r}: its callback is being booked"
    rec = placed.record
    rec.data.update(data)
    if outcome != "hangup":
        rec.queue = queue or rec.queue
        if rec.queue is None:
            return f"contact {cid!r}: no queue to route to"
        rec.skills = merge_skills(rec.skills, skills)
    if outcome == "callback":
        return await book_callback(c, placed, callback_number or None, priority_delta)
    c._after_ivr(IvrResult(rec, outcome, reason or "ivr_hangup", callback_number or None, priority_delta))
    return ""


def _skills_error(c: SiteController, skills: dict[str, int]) -> str:
    for skill, level in skills.items():
        if skill not in c.center.skills:
            return f"unknown skill {skill!r}"
        if not 1 <= level <= 10:
            return f"skill {skill!r}: proficiency must be 1-10, not {level}"
    return ""


async def book_callback(c: SiteController, placed: PlacedContact, number: str | None, priority_delta: int = 0) -> str:
    """A caller in the media IVR pressed the key for a callback. The answer is '' only once etcd holds
    the callback, so that the caller hears "we will call you back" only when a surviving site would
    call back if this one died. If etcd does not take it within ``callback_confirm_s`` the write is
    withdrawn, the contact stays in the IVR (the flow goes on as if the caller had declined) and
    the error says why; a caller who hung up meanwhile is then abandoned."""
    cid = placed.record.id
    if placed.shard is None:
        return f"contact {cid!r} is on its way to another site"
    c.booking[cid] = False
    placed.record.priority += priority_delta
    stored = c.durable.created(placed, c.callback_contact(placed, number))
    try:
        try:
            booked = await asyncio.wait_for(asyncio.shield(stored), c.settings.callback_confirm_s)
        except TimeoutError:
            c.durable.withdraw(cid)  # a write in flight still answers with its outcome
            booked = await stored
    finally:
        caller_left = c.booking.pop(cid, False)
    if booked and c.contacts.get(cid) is placed and placed.state not in TERMINAL:
        c.queue_callback(placed, number, priority_delta)
        return ""
    if booked:  # only a site closing ends a contact while its callback is booked
        log.error("contact %s: its callback was stored but the contact is gone here (%s)", cid, placed.state)
        return f"contact {cid!r} ended while its callback was being booked"
    log.warning("contact %s: the callback was not stored in etcd within %.1f s", cid, c.settings.callback_confirm_s)
    placed.record.priority -= priority_delta  # the caller stays in line: the route outcome brings its own
    if caller_left:
        await c.abandon([cid])
    return (f"contact {cid!r}: the callback could not be stored (etcd did not take it within "
            f"{c.settings.callback_confirm_s:g} s)")


def position(c: SiteController, cid: str) -> dict[str, Any]:
    """Where a waiting contact is: its place in line (1 = next) and expected wait."""
    now = c.clock()
    placed = c.contacts.get(cid)
    if placed is None:
        return {"contact_id": cid, "state": "", "queue": "", "position": 0, "ewt_s": -1.0, "waited_s": 0.0,
                "agent_id": ""}
    rec = placed.record
    out = {"contact_id": cid, "state": placed.state, "queue": rec.queue or "", "position": 0, "ewt_s": -1.0,
           "waited_s": now - (placed.queued_at or rec.arrived_at), "agent_id": placed.agent_id or ""}
    if placed.state == ContactState.QUEUED.value and rec.queue:
        mine = (rec.priority, -(placed.queued_at or now))
        ahead = sum(1 for p in c.contacts.values()
                    if p is not placed and p.state == ContactState.QUEUED.value and p.record.queue == rec.queue
                    and (p.record.priority, -(p.queued_at or now)) > mine)
        from vcc.actors import site_balance

        _, free, staffed = site_balance.queue_totals(c, rec.queue)
        ewt = c.ewt.ewt_s(rec.queue, now, ahead + 1, staffed, free) if staffed else None
        out.update(position=ahead + 1, ewt_s=-1.0 if ewt is None else ewt)
    return out


def note(c: SiteController, cid: str, reason: str, data: dict[str, str]) -> str:
    """A caller's chat line (reason ``message``, relayed to the agent) or a media fact for the record."""
    placed = c.contacts.get(cid)
    if placed is None:
        return f"contact {cid!r} is not in progress at site {c.site}"
    if not reason or len(reason) > 64:
        return "reason: required, at most 64 characters"
    if reason == "message":
        text = data.get("text", "")
        if not text.strip() or len(text) > MAX_CHAT_TEXT:
            return f"chat text must be 1-{MAX_CHAT_TEXT} characters"
        data = {"from": "caller", "text": text}
    emit_note(c, placed, reason, dict(data))
    agent = c.agents.get(placed.agent_id or "")
    if reason == "message" and agent is not None and placed.state == CONNECTED:
        agent.stream.push(agent.agent_id, "notice", {"contact_id": cid, "kind": "message", "data": data})
    return ""


def caller_left(c: SiteController, cid: str) -> bool:
    """A caller hung up (or closed the chat) while connected: the agent is told and ends the contact."""
    placed = c.contacts.get(cid)
    if placed is None or placed.state != CONNECTED:
        return False
    emit_note(c, placed, "caller_left", {})
    agent = c.agents.get(placed.agent_id or "")
    if agent is not None:
        agent.stream.push(agent.agent_id, "notice", {"contact_id": cid, "kind": "caller_left", "data": {}})
    return True


# ---------------------------------------------------------------------------- customer history


@dataclass
class CustomerIndex:
    """Contacts by caller identity, read incrementally from the site's event log: the ``arrived``
    event carries the caller id (``annotate_arrival``); later events update each contact's summary."""

    next_seq: int = 1
    by_caller: dict[str, list[str]] = field(default_factory=dict)
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)

    def absorb(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            self.next_seq = max(self.next_seq, int(e.get("seq", 0)) + 1)
            if e.get("kind") != "contact":
                continue
            cid = e["contact_id"]
            s = self.summary.get(cid)
            if e.get("state") == ContactState.ARRIVED.value and s is None:
                caller = str((e.get("data") or {}).get("caller_id") or "")
                if not caller:
                    continue
                s = self.summary[cid] = {"contact_id": cid, "tenant": e.get("tenant", ""),
                                         "channel": e.get("channel", ""), "arrived_ts": e.get("ts", 0.0),
                                         "state": "arrived", "queue": "", "agent_id": "", "disposition": "",
                                         "site": e.get("site", "")}
                self.by_caller.setdefault(caller, []).append(cid)
            if s is None:
                continue
            s["state"] = e.get("state") or s["state"]
            s["queue"] = e.get("queue") or s["queue"]
            s["agent_id"] = e.get("agent_id") or s["agent_id"]
            if e.get("reason") == "disposition":
                s["disposition"] = str((e.get("data") or {}).get("disposition", ""))

    def find(self, caller_id: str, tenants: set[str], limit: int) -> list[dict[str, Any]]:
        found = [self.summary[cid] for cid in self.by_caller.get(caller_id, ())
                 if self.summary[cid]["tenant"] in tenants]
        return sorted(found, key=lambda s: -float(s["arrived_ts"]))[:limit]


async def history(c: SiteController, index: CustomerIndex, caller_id: str, tenants: set[str],
                  limit: int = 50) -> list[dict[str, Any]]:
    await c._flush_events()
    while True:
        batch: list[dict[str, Any]] = await c.sink.call("read", index.next_seq, 10_000)
        index.absorb(batch)
        if len(batch) < 10_000:
            break
    return index.find(caller_id, tenants, limit) if caller_id and tenants else []
