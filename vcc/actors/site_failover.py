"""Failure handling of the site controller: fencing and rejoining, adopting a dead site's durable
contacts (and recording its live calls as failed), taking back this site's own contacts after a
controller restart, and new configuration versions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from vcc.actors import site_agents
from vcc.actors.directory import TERMINAL
from vcc.actors.records import ContactRecord
from vcc.config import load_config_text
from vcc.coord.client import Delete
from vcc.coord.election import SiteEvent, watch_sessions
from vcc.coord.session import SessionToken
from vcc.coord.store import DurableContact, txn_batches
from vcc.core.events import SCHEMA_VERSION, SITE_LOST
from vcc.core.model import AgentState, Channel, ContactState
from vcc.errors import CoordError, FencedError

if TYPE_CHECKING:
    from vcc.actors.controller import SiteController

log = logging.getLogger("vcc.actors.controller")


async def on_fenced(c: SiteController, reason: str) -> None:
    """We cannot prove our lease: reserve no agent and take no contact until we rejoin."""
    c.emit_site_event("fenced", {"reason": reason})
    for agent in c.agents.values():
        # an agent who was working (not on a break) goes back to work when the site rejoins
        agent.ready_before_fence = agent.state in (AgentState.READY.value, AgentState.RESERVED.value,
                                                   AgentState.BUSY.value, AgentState.WRAP_UP.value)
        c._send(agent.shard, ("not_ready", agent.agent_id, "site_fenced"))


async def on_rejoined(c: SiteController, token: SessionToken) -> None:
    c.emit_site_event("rejoined", {"lease_id": token.lease_id})
    await hand_over_contacts_owned_elsewhere(c)
    for agent_id, agent in list(c.agents.items()):
        try:
            claim = await c.ownership.claim(agent_id, token)
        except CoordError:
            continue
        if not claim.acquired:  # another site took the agent while we were away
            await c._call(agent.shard, ("logout", agent_id))
            agent.stream.push(agent_id, "state", {"state": "logged_out",
                                                  "reason_code": f"owned_by_{claim.owner}"})
            c.agents.pop(agent_id, None)
        elif agent.ready_before_fence:
            c._send(agent.shard, ("ready", agent_id))


async def hand_over_contacts_owned_elsewhere(c: SiteController) -> None:
    """A site that rejoins after its lease expired finds that a survivor may have adopted its
    durable contacts meanwhile (and served some). etcd says who owns each one: those this site no
    longer owns leave its queues and its agents' hands, with a ``moved_to_site`` marker each and a
    ``rescinded`` to the agent who held one, so that each contact is served once, by its owner.
    (Adoption stops once this site's session is back, so the answer cannot change afterwards.)"""
    for attempt in range(5):
        held = [cid for cid, p in c.contacts.items() if p.durable and p.state not in TERMINAL]
        if not held:
            return
        # a booked callback whose write is still on the way is this site's, and etcd cannot say so
        # yet; nor can a read that started before the write landed
        creating = set(c.durable.creating)
        try:
            stored = await c.store.get_many(held)
            break
        except CoordError as e:
            log.warning("checking the owners of %d durable contacts failed (%s)", len(held), e)
            await asyncio.sleep(0.2 * (attempt + 1))
    else:
        return
    now = c.clock()
    moved = 0
    for cid in held:
        placed = c.contacts.get(cid)
        if placed is None or placed.state in TERMINAL or cid in creating or cid in c.durable.creating:
            continue
        current = stored.get(cid)
        if current is not None and current.contact.owner_site == c.site:
            continue
        owner = current.contact.owner_site if current is not None else None
        if placed.shard is not None:
            result = await c._call(placed.shard, ("hand_over", cid))
            if not result.ok:
                log.warning("handing over %s to %s failed: %s", cid, owner, result.error)
                continue
        c.contacts.pop(cid, None)
        if placed.agent_id in c.agents:
            c.agents[placed.agent_id].stream.push(placed.agent_id, "rescinded",
                                                  {"contact_id": cid, "reason": f"moved_to_site:{owner}"})
        c._emit_marker(placed.record, now, "moved_to_site", {
            "site": owner, "state_here": placed.state, "agent_id": placed.agent_id,
            "ended": current is None or current.contact.terminal})  # fmt: skip
        moved += 1
    if moved:
        c.emit_site_event("handed_over", {"contacts": moved})


async def watch_sites(c: SiteController) -> None:
    while True:
        try:
            async for event in watch_sessions(c.etcd, c.keys):
                if not event.up and event.site != c.site:
                    c._spawn(site_down(c, event))
        except CoordError as e:
            log.warning("session watch broke (%s); re-watching", e)
            await asyncio.sleep(0.5)


async def site_down(c: SiteController, event: SiteEvent) -> None:
    detected = c.clock()
    c.emit_site_event("site_down_detected", {"dead_site": event.site, "epoch": event.epoch})
    try:
        token = await asyncio.wait_for(c.session.wait_live(), 5.0)
        won = await c.elections.try_adopt(event.site, token, dead_epoch=event.epoch)
    except (CoordError, TimeoutError) as e:
        log.warning("adoption election for %s failed: %s", event.site, e)
        return
    if not won:
        return
    try:
        mine = await adopt_contacts(c, event.site, token)
    except FencedError as e:  # this site lost its own session: it takes nothing now
        log.warning("adopting the contacts of %s stopped: %s", event.site, e)
        return
    now = c.clock()
    adopted = 0
    wrapped = [x for x in mine if x.state == ContactState.WRAP_UP and x.contact_id not in c.contacts]
    for contact in mine:
        if contact.contact_id in c.contacts or contact.terminal or contact.state == ContactState.WRAP_UP:
            continue
        rec = ContactRecord(
            contact.contact_id, contact.tenant, contact.channel, contact.ts,
            data=dict(contact.data), priority=contact.priority, queue=contact.queue or None,
            skills=dict(contact.skills), enqueued_at=contact.ts, origin_site=event.site,
        )  # fmt: skip
        if rec.queue is None or rec.queue not in c.center.queues:
            rec.queue = first_queue_of(c, rec.tenant, rec.channel)
        if rec.queue is None:
            continue
        c._attach(rec, now, reason=f"adopted_from:{event.site}")
        adopted += 1
    c.adopted_sites.append(event.site)
    adopted_ts = c.clock()
    failed_calls = await fail_live_calls_of(c, event.site, adopted_ts)
    completed = await complete_wrapped(c, wrapped, token, f"wrap_up_lost_with:{event.site}")
    c.emit_site_event("adopted", {"dead_site": event.site, "contacts": adopted,
                                     "failed_live_calls": failed_calls, "completed_in_wrap_up": completed,
                                     "detected_ts": detected, "adopted_ts": adopted_ts})


async def adopt_contacts(c: SiteController, dead_site: str, token: SessionToken) -> list[DurableContact]:
    """Move the dead site's open contacts to this site (the election is won) and return them as etcd
    holds them now. An etcd error on the way (a member restarting, a leader election) is retried
    until the adoption is done or this site is fenced (``FencedError``): what a failed try moved
    stays moved and a re-run moves the rest, so the contacts to take are read back by what their
    records say (last adopted from ``dead_site``), not from one try's report."""
    delay_s = 0.2
    while True:
        try:
            report = await c.store.adopt(dead_site, token)
            if report.lost_to_others:
                log.info("adopting %s: %d contacts ended or moved meanwhile", dead_site, report.lost_to_others)
            owned = await c.store.list_by_owner(c.site)
            return [s.contact for s in owned if s.contact.adopted_from[-1:] == (dead_site,)]
        except FencedError:
            raise
        except CoordError as e:
            log.warning("adopting the contacts of %s failed (%s); retrying in %.1f s", dead_site, e, delay_s)
            await asyncio.sleep(delay_s)
            delay_s = min(2 * delay_s, 2.0)


def logged_end(
    c: SiteController, ts: float, contact_id: str, tenant: str, channel: str, state: str, prev_state: str | None,
    queue: str | None, agent_id: str | None, reason: str, data: dict[str, Any],
) -> dict[str, Any]:
    """A contact's end that this controller logs itself, not a shard (a lost site's call, a wrap-up
    lost with its site, an end a crash kept out of the log)."""
    return {"kind": "contact", "ts": ts, "contact_id": contact_id, "tenant": tenant, "channel": channel,
            "state": state, "prev_state": prev_state, "queue": queue, "agent_id": agent_id, "reason": reason,
            "data": data, "schema_version": SCHEMA_VERSION, "site": c.site}


async def complete_wrapped(c: SiteController, wrapped: list[DurableContact], token: SessionToken,
                           reason: str) -> int:
    """Contacts whose agent had finished with the customer (wrap-up) when the site holding them was
    lost: the customer was served, so they are completed here (in etcd, then in the log) rather
    than queued to be served again. Only the wrap-up notes are lost."""
    done = 0
    now = c.clock()
    for contact in wrapped:
        try:
            if not await c.store.complete(contact.contact_id, token):
                continue
        except CoordError as e:  # left in etcd as it is: a later adopter or restart finishes it
            log.warning("completing %s after its wrap-up was lost failed: %s", contact.contact_id, e)
            continue
        c._events.append(logged_end(c, now, contact.contact_id, contact.tenant, contact.channel.value,
                                    ContactState.COMPLETED.value, ContactState.WRAP_UP.value, contact.queue,
                                    None, reason, {"completed_by": c.site}))
        done += 1
    c._events_wake.set()
    return done


def first_queue_of(c: SiteController, tenant: str, channel: Channel) -> str | None:
    for q in c.center.queues.values():
        if q.tenant == tenant and q.channel == channel:
            return q.id
    return None


async def fail_live_calls_of(c: SiteController, dead_site: str, now: float) -> int:
    """The adopter's duty: the dead site's live voice calls ended with it; record them failed. A
    starting controller does the same with its own (``dead_site == c.site``): calls its previous
    run listed that no adopter failed (a controller restart keeps the site's session, so nobody
    adopts; a whole cluster stopped at once) are lost to routing; their media, if a gateway still
    has it, is hung up."""
    kvs, _ = await c.etcd.get_prefix(c.keys.live_calls_prefix(dead_site))
    if not kvs:
        return 0
    calls = [json.loads(kv.value) for kv in kvs]
    for call in calls:
        c._events.append(logged_end(c, now, call["contact_id"], call["tenant"], Channel.VOICE.value,
                                    ContactState.FAILED.value, call["state"], call["queue"], call["agent_id"],
                                    f"{SITE_LOST}{dead_site}", {"failed_by": c.site}))
    for batch in txn_batches(kvs, lambda kv: 0):  # the keys read, not the prefix: nothing unread is lost
        await c.etcd.txn([], [Delete(kv.key) for kv in batch])
    c._events_wake.set()
    if dead_site == c.site:
        for call in calls:
            cid = call["contact_id"]
            with contextlib.suppress(Exception):  # no such call at the gateway: nothing to hang up
                await c.gateways[c._gateway_of(cid)].call("hangup", cid, "site_lost")
    return len(kvs)


async def recover_own_contacts(c: SiteController) -> None:
    """A controller (re)starting takes back the durable contacts etcd says this site owns: after
    a controller crash they are still in etcd but no longer in its directory. The shards are
    reset first so nothing is held twice."""
    stored = [s.contact for s in await c.store.list_by_owner(c.site, include_terminal=True)]
    await repair_log(c, [c for c in stored if c.terminal])
    owned = [x for x in stored if not x.terminal and x.state != ContactState.WRAP_UP]
    wrapped = [x for x in stored if x.state == ContactState.WRAP_UP]
    if wrapped:
        try:
            await complete_wrapped(c, wrapped, c.session.token, "wrap_up_lost_with_controller")
        except FencedError:  # cannot write now: serve them again rather than leave them behind
            owned += wrapped
    if not owned:
        return
    for shard in c.shards:
        await shard.call("reconfigure", c.center)
    now = c.clock()
    for contact in owned:
        rec = ContactRecord(
            contact.contact_id, contact.tenant, contact.channel, contact.ts, data=dict(contact.data),
            priority=contact.priority, queue=contact.queue or first_queue_of(c, contact.tenant, contact.channel),
            skills=dict(contact.skills), enqueued_at=contact.ts, origin_site=c.site,
        )  # fmt: skip
        if rec.queue is not None and rec.queue in c.center.queues:
            c._attach(rec, now, reason="controller_restarted")
    c.emit_site_event("recovered", {"contacts": len(owned)})


async def repair_log(c: SiteController, ended: list[DurableContact]) -> None:
    """An end is recorded in etcd before it is logged (so it is never logged twice); a crash in
    between leaves it unlogged. A starting controller logs each such end once."""
    if not ended:
        return
    logged: set[str] = set()
    seq = 1
    while True:
        batch = await c.sink.call("read", seq, 10_000)
        for e in batch:
            if e.get("kind") == "contact" and e.get("state") in TERMINAL:
                logged.add(e["contact_id"])
        if len(batch) < 10_000:
            break
        seq = batch[-1]["seq"] + 1
    now = c.clock()
    for gone in ended:
        if gone.contact_id in logged:
            continue
        c._events.append(logged_end(c, now, gone.contact_id, gone.tenant, gone.channel.value, gone.state.value,
                                    None, gone.queue, None, "recovered_after_crash", {}))
    c._events_wake.set()


async def watch_config(c: SiteController) -> None:
    if c.compile_config is None:
        return
    while True:
        try:
            async for version in c.config_store.watch(after=c.config_version):
                await reconfigure(c, version.version, version.yaml_text)
        except CoordError as e:
            log.warning("config watch broke (%s); re-watching", e)
            await asyncio.sleep(0.5)


async def reconfigure_gateways(c: SiteController, center: Any, version: int, yaml_text: str) -> None:
    """The media gateways get the new flows and entry points (the IVR of calls to come); gateway 0,
    which runs the SIP listener, the new ``sip:`` section (trunks, limits; docs/sip.md)."""
    for i, gateway in enumerate(c.gateways):
        try:
            await gateway.call("reconfigure", center)
            if i == 0:
                await gateway.call("reconfigure_sip", load_config_text(yaml_text, f"config v{version}").sip)
        except Exception as e:  # a gateway being restarted by Ray: it starts from its deploy-time config
            log.warning("gateway %d: config version %d not taken: %s", i, version, e)


async def reconfigure(c: SiteController, version: int, yaml_text: str) -> None:
    """Run on a new config version without a restart: flows, queues, agents, entry points.
    Shards get a router for the new center and are rebuilt from the directory; agents that are
    gone from the config are logged out; a contact whose queue is gone fails with a reason."""
    assert c.compile_config is not None
    if version <= c.config_version:
        return
    try:
        center, check = c.compile_config(yaml_text)
    except Exception as e:  # validated by `vcc config apply`; a bad version must not stop the site
        log.error("config version %d cannot be used here: %s", version, e)
        c.emit_site_event("config_rejected", {"version": version, "error": str(e)[:500]})
        return
    c.center, c.verify_password = center, check
    for agent_id in [a for a in c.agents if a not in center.agents]:
        agent = c.agents[agent_id]
        agent.stream.push(agent_id, "state", {"state": "logged_out", "reason_code": "removed_from_config"})
        await site_agents.forget_agent(c, agent_id)
    now = c.clock()
    for placed in list(c.contacts.values()):
        rec = placed.record
        if rec.queue is not None and rec.queue not in center.queues and placed.state not in TERMINAL:
            event = {
                "kind": "contact", "ts": now, "contact_id": rec.id, "tenant": rec.tenant,
                "channel": rec.channel.value, "state": ContactState.FAILED.value, "prev_state": placed.state,
                "queue": rec.queue, "agent_id": placed.agent_id, "reason": "queue_removed_by_config",
                "data": {"config_version": version}, "schema_version": SCHEMA_VERSION,
            }  # fmt: skip
            if c._observe(placed.shard or 0, event):
                c._events.append(event)
    for worker in c.ivr_workers:
        await worker.call("reconfigure", center)
    for i, shard in enumerate(c.shards):
        await shard.call("reconfigure", center)
        await c._rebuild_shard(i)
    await reconfigure_gateways(c, center, version, yaml_text)
    c.config_version = version
    c.emit_site_event("config_applied", {"version": version})
