"""An ACD shard: one router over every queue of the center and a slice of its agents.

Agents are partitioned over a site's shards by a stable hash of their id, so only one shard can ever
reserve a given agent; a contact lives in exactly one shard at a time. The controller sends each
shard one batched :meth:`AcdShard.step` per tick (an actor call costs ~1 ms here: never one call per
decision), places new contacts where a qualified agent is free, and moves waiting contacts to a
shard where one came free (``detach`` here, ``arrive`` there, keeping the place in line).

A shard's state is soft: if Ray restarts it, the controller replays the logins and live contacts it
holds for that shard (``AcdShard.restore``).
"""

from __future__ import annotations

import os
import zlib
from typing import Any

from vcc.actors.records import Command, CommandResult, ContactRecord, ShardOutput
from vcc.core.events import Event
from vcc.core.handover import attach, end_in_ivr
from vcc.core.model import CenterSpec
from vcc.core.routing import Router
from vcc.errors import VccError


def shard_of(agent_id: str, shards: int) -> int:
    """The shard that owns ``agent_id`` (stable across processes and restarts)."""
    return zlib.crc32(agent_id.encode()) % shards


class AcdShard:
    def __init__(self, site: str, index: int, shards: int, center: CenterSpec, **router_options: Any) -> None:
        self.site = site
        self.index = index
        self.shards = shards
        agents = {a: p for a, p in center.agents.items() if shard_of(a, shards) == index}
        self.router = Router(
            tenants=center.tenants.values(), queues=center.queues.values(), agents=agents.values(),
            **router_options,
        )  # fmt: skip
        self.steps = 0
        self._result_record: ContactRecord | None = None
        self._result_records: list[ContactRecord] = []

    def reconfigure(self, center: CenterSpec, **router_options: Any) -> None:
        """A new config version: an empty router for the new center; the controller then rebuilds
        this shard's agents and contacts from its directory (``restore``)."""
        agents = {a: p for a, p in center.agents.items() if shard_of(a, self.shards) == self.index}
        self.router = Router(tenants=center.tenants.values(), queues=center.queues.values(),
                             agents=agents.values(), **router_options)

    def health(self) -> dict[str, Any]:
        return {"index": self.index, "agents": len(self.router.agents), "contacts": len(self.router.contacts),
                "steps": self.steps, "pid": os.getpid()}

    def step(self, commands: list[tuple[int, Command]], now: float, want_load: bool = False) -> ShardOutput:
        """Apply ``commands`` (each with the caller's token), run the clocks, return what happened.

        Ops: ``("arrive", ContactRecord)``, ``("login", agent_id, ready)``, ``("ready", agent_id)``,
        ``("not_ready", agent_id, reason_code)``, ``("logout", agent_id)``, ``("accept", contact_id)``,
        ``("reject", contact_id)``, ``("complete", contact_id, wrap_up_s | None)``,
        ``("end_wrap_up", agent_id, contact_id | None)`` (None: all its wrap-ups),
        ``("transfer", contact_id, queue | None, agent_id | None)``,
        ``("abandon", contact_id, reason)``,
        ``("fail", contact_id, reason)``; the IVR's ``("start_ivr", id)``, ``("enqueue", id, queue,
        priority_delta, skills, data)``, ``("callback", id, queue, priority_delta, skills, data)``,
        ``("ivr_hangup", id, reason)``; moves between shards and sites: ``("detach", id)``,
        ``("detach_head", queue, n)`` (the n longest-waiting), ``("attach", record, reason[, agent_id])``
        and ``("hand_over", id)`` (wherever it is, even with an agent: another site owns it now)."""
        self.steps += 1
        out = ShardOutput()
        events: list[Event] = []
        for token, command in commands:
            self._result_record, self._result_records = None, []
            try:
                events += self._apply(command, now, out, token)
                out.results.append(CommandResult(token, True, state=self._agent_state(command),
                                                 record=self._result_record, records=self._result_records))
            except (VccError, KeyError, ValueError) as e:
                out.results.append(CommandResult(token, False, str(e), self._agent_state(command)))
        events += self.router.tick(now)
        out.events = [e.to_dict() for e in events]
        if want_load:
            out.load = self.load(now)
        return out

    def restore(
        self, logins: list[tuple[str, str, str]], contacts: list[tuple[str, str, str | None, ContactRecord]],
        now: float,
    ) -> ShardOutput:
        """Rebuild after a restart from the controller's directory: agents as (id, state,
        reason_code); live contacts as (id, state, agent, record). First, silently (that history is
        already in the event log): agents logged in, connected contacts back with their agents, the
        rest back in line at their original place. Then agents who were available go ready, and
        what the router decides from there is new and reported."""
        # Connected contacts go back to their agents first (an agent takes them only while ready,
        # and with nothing waiting yet no other offer can happen); then everyone goes not ready and
        # the waiting contacts come back in line.
        rebuild: list[tuple[int, Command]] = [(0, ("login", agent_id, True)) for agent_id, _, _ in logins]
        waiting: list[tuple[int, Command]] = []
        for cid, contact_state, holder, rec in contacts:
            if contact_state in ("connected", "wrap_up") and holder is not None:
                rebuild.append((0, ("attach", rec, "shard_restored", holder)))
                if contact_state == "wrap_up":  # back into its wrap-up (the default time, from now)
                    rebuild.append((0, ("complete", cid, None)))
            else:
                waiting.append((0, ("attach", rec, "shard_restored", None)))
        rebuild += [(0, ("not_ready", agent_id, reason or "restored")) for agent_id, _, reason in logins]
        rebuild += waiting
        silent = self.step(rebuild, now)
        available = ("ready", "reserved", "busy")
        out = self.step([(0, ("ready", a)) for a, state, _ in logins if state in available], now, want_load=True)
        out.results = silent.results + out.results
        return out

    def load(self, now: float) -> dict[str, dict[str, float]]:
        """Per queue: contacts waiting, free qualified agents, staffed agents, the oldest wait."""
        router = self.router
        report: dict[str, dict[str, float]] = {}
        for queue_id in router.queues:
            waiting = router.waiting(queue_id)
            oldest = min((c.enqueued_at if c.enqueued_at is not None else now for c in waiting), default=now)
            report[queue_id] = {
                "waiting": len(waiting),
                "free": len(router.free_agents(queue_id)) + len(router.free_agents(queue_id, dedicated=False)),
                "staffed": router.staffed(queue_id),
                "oldest_wait_s": now - oldest,
            }
        return report

    # ------------------------------------------------------------------ internals

    def _apply(self, command: Command, now: float, out: ShardOutput, token: int) -> list[Event]:
        r = self.router
        match command:
            case ("arrive", ContactRecord() as rec):
                return r.arrive(rec.to_contact(), now)
            case ("start_ivr", contact_id):
                return r.start_ivr(contact_id, now)
            case ("enqueue", contact_id, queue, priority_delta, skills, data):
                r.contact(contact_id).data.update(data)
                return r.enqueue(contact_id, queue, now, priority_delta=priority_delta, skills=skills)
            case ("callback", contact_id, queue, priority_delta, skills, data):
                contact = r.contact(contact_id)
                contact.data.update(data)
                events = r.request_callback(contact_id, now)
                return events + r.enqueue(contact_id, queue, now, priority_delta=priority_delta, skills=skills,
                                          reason="callback")  # fmt: skip
            case ("ivr_hangup", contact_id, reason):
                return end_in_ivr(r, contact_id, now, reason=reason)
            case ("attach", ContactRecord() as rec, reason, *agent):
                contact = rec.to_contact()
                contact.enqueued_at = rec.enqueued_at
                return attach(r, contact, rec.queue or "", now, reason=reason, agent_id=agent[0] if agent else None)
            case ("detach", contact_id):
                self._result_record = ContactRecord.of(r.detach(contact_id))
                return []
            case ("hand_over", contact_id):
                return r.hand_over(contact_id, now)[1]
            case ("detach_head", queue_id, count):
                waiting = sorted(r.waiting(queue_id), key=lambda c: (c.enqueued_at or now, c.id))
                self._result_records = [ContactRecord.of(r.detach(c.id)) for c in waiting[: int(count)]]
                return []
            case ("login", agent_id, ready):
                return r.login(agent_id, now, ready=bool(ready))
            case ("ready", agent_id):
                return r.ready(agent_id, now)
            case ("not_ready", agent_id, reason):
                return r.not_ready(agent_id, now, reason)
            case ("logout", agent_id):
                return r.logout(agent_id, now, force=True)
            case ("accept", contact_id):
                return r.accept(contact_id, now)
            case ("reject", contact_id):
                return r.reject(contact_id, now)
            case ("complete", contact_id, wrap_up_s):
                return r.complete(contact_id, now, wrap_up_s=wrap_up_s)
            case ("end_wrap_up", agent_id, contact_id):
                return r.end_wrap_up(agent_id, now, contact_id)
            case ("transfer", contact_id, queue, agent_id):
                return r.transfer(contact_id, now, queue=queue, agent_id=agent_id)
            case ("abandon", contact_id, reason):
                return r.abandon(contact_id, now, reason=reason)
            case ("fail", contact_id, reason):
                return r.fail(contact_id, now, reason=reason)
        raise ValueError(f"unknown shard command {command[0]!r}")

    def _agent_state(self, command: Command) -> str:
        if command[0] in ("login", "ready", "not_ready", "logout", "end_wrap_up"):
            agent = self.router.agents.get(command[1])
            return agent.state.value if agent is not None else ""
        return ""
