"""Where work goes: the shard for a new contact, waiting contacts moved between shards, and contacts
offered to another site when it would serve them sooner (the global balancer in ``vcc.core.balancer``
decides; this module acts). Also the site's load as it publishes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from vcc.actors.directory import PlacedContact, _fields
from vcc.actors.records import CommandResult, ContactRecord
from vcc.coord.store import DurableContact, StoredContact
from vcc.core.balancer import choose_site, expected_wait
from vcc.errors import CoordError, FencedError

if TYPE_CHECKING:
    from vcc.actors.controller import SiteController

log = logging.getLogger("vcc.actors.controller")


def pick_shard(c: SiteController, queue: str | None) -> int:
    """The shard with the most free agents for ``queue`` (then the fewest waiting)."""
    if len(c.shards) == 1:
        return 0
    best, best_key = 0, (-math.inf, math.inf)
    for i, load in enumerate(c._shard_load):
        if not c._shard_healthy[i]:
            continue
        q = load.get(queue or "", {})
        key = (q.get("free", 0.0) - q.get("waiting", 0.0), q.get("waiting", 0.0))
        if key[0] > best_key[0] or (key[0] == best_key[0] and key[1] < best_key[1]):
            best, best_key = i, key
    if queue and best_key[0] > 0:  # claim the free agent we counted, so a burst spreads out
        c._shard_load[best][queue]["free"] -= 1
    return best


def place_remote(c: SiteController, rec: ContactRecord) -> str | None:
    """The other site that should serve this contact, or None to keep it here."""
    queue = c.center.queues.get(rec.queue or "")
    tenant = c.center.tenants.get(rec.tenant)
    if queue is None or tenant is None or c.peer_offer is None:
        return None
    loads = dict(c.load_cache.snapshot())
    loads[c.site] = c.measure_load()
    placement = choose_site(c.site, queue, tenant, loads, c.clock())
    return None if placement.site == c.site else placement.site


def send_to_site(c: SiteController, site: str) -> Callable[[CommandResult], None]:
    def then(result: CommandResult) -> None:
        if result.ok and result.record is not None:
            c._spawn(offer_to_site(c, site, result.record))

    return then


async def offer_to_site(c: SiteController, site: str, rec: ContactRecord) -> None:
    placed = c.contacts.get(rec.id)
    if placed is None:
        return
    placed.shard = None
    if rec.id in c.durable.creating:  # a callback booked a moment ago, not in etcd yet: no site could
        c._attach(rec, c.clock(), reason="kept_local", stored=placed.stored)  # take it over; offer it later
        return
    accepted, answered = False, False
    if c.peer_offer is not None:
        try:
            replies = await c.peer_offer(site, [rec])
            accepted, answered = bool(replies) and replies[0].accepted, True
        except Exception as e:  # the other site is unreachable, or its answer was lost
            log.warning("offering %s to site %s failed: %s", rec.id, site, e)
    if c.contacts.get(rec.id) is not placed:  # settled meanwhile (a rejoin handed it to its etcd owner)
        return
    now = c.clock()
    if accepted:
        c.contacts.pop(rec.id, None)
        c._emit_marker(rec, now, "sent_to_site", {"site": site})
        return
    if placed.durable and c.peer_offer is not None:
        owner = await _settle_durable_offer(c, placed, site, answered)
        if c.contacts.get(rec.id) is not placed:
            return
        if owner != c.site:
            c.contacts.pop(rec.id, None)
            c._emit_marker(rec, c.clock(), "sent_to_site", {"site": owner, "unconfirmed": True})
            return
    c._attach(rec, c.clock(), reason="kept_local", stored=placed.stored)


async def _settle_durable_offer(c: SiteController, placed: PlacedContact, site: str, answered: bool) -> str:
    """After an offer of a durable contact that was not accepted, who owns it: etcd decides, as the
    receiving site takes a contact over in etcd before it accepts (:func:`take_over`). Returns this
    site's name to keep it here. If the other site took it over but its answer was lost, it is the
    other site's (it has it, or its recovery or its adopter will); if the other site refused, it
    did not attach it, so a take-over it could not confirm is taken back. A contact etcd does not
    hold yet (a booked callback whose write is still on the way) stays here. Retried until etcd
    answers: a durable contact is never dropped on a guess."""
    delay = 0.1
    while True:
        try:
            stored = await c.store.get(placed.record.id)
            if stored is None:  # not in etcd yet (its create is on the way): nobody took it over
                return c.site
            if stored.contact.terminal:
                return site  # ended elsewhere: nothing for this site to do
            owner = stored.contact.owner_site
            if owner == c.site:
                placed.stored = stored
                return c.site
            if owner != site or not answered:
                return owner
            back = DurableContact(**{**_fields(stored.contact), "owner_site": c.site})
            taken = await c.store.update(stored, back, c.session.token)
            if taken is not None:
                placed.stored = taken
                return c.site
        except (CoordError, FencedError) as e:
            log.warning("who owns durable contact %s after its offer to %s: %s; retrying", placed.record.id, site, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def take_over(c: SiteController, from_site: str, records: list[ContactRecord]) -> dict[str, StoredContact | str]:
    """Make this site the etcd owner of durable contacts ``from_site`` offers, before accepting them
    (one compare-and-swap transaction): the owner in etcd is who serves a durable contact, so an
    adopter, a recovery or the sender asking afterwards all agree. Each id maps to its stored
    contact, or to why it was refused."""
    try:
        token = c.session.token
    except FencedError:
        return {r.id: f"site {c.site} is fenced" for r in records}
    try:
        current = await asyncio.gather(*(c.store.get(r.id) for r in records))
    except CoordError as e:
        return {r.id: f"etcd unavailable at site {c.site}: {e}" for r in records}
    out: dict[str, StoredContact | str] = {}
    changes: list[tuple[ContactRecord, StoredContact, DurableContact]] = []
    for rec, stored in zip(records, current, strict=True):
        if stored is None or stored.contact.terminal:
            out[rec.id] = "not an open durable contact"
        elif stored.contact.owner_site != from_site:
            out[rec.id] = f"owned by site {stored.contact.owner_site}, not {from_site}"
        else:
            new = DurableContact(**{**_fields(stored.contact), "owner_site": c.site, "queue": rec.queue or ""})
            changes.append((rec, stored, new))
    if not changes:
        return out
    written: list[StoredContact | None]
    try:
        written = await c.store.update_many([(old, new) for _, old, new in changes], token)
    except (CoordError, FencedError) as e:  # the outcome is unknown: read back what etcd holds
        log.warning("taking over %d durable contacts from %s: %s", len(changes), from_site, e)
        written = [await _owned_now(c, rec.id) for rec, _, _ in changes]
    for (rec, _, _), stored_now in zip(changes, written, strict=True):
        out[rec.id] = stored_now if stored_now is not None else "changed while being taken over"
    return out


async def _owned_now(c: SiteController, contact_id: str) -> StoredContact | None:
    with contextlib.suppress(CoordError):
        stored = await c.store.get(contact_id)
        if stored is not None and not stored.contact.terminal and stored.contact.owner_site == c.site:
            return stored
    return None


def rebalance(c: SiteController) -> None:
    """Move waiting contacts from a shard with no free agent to one where an agent came free."""
    for queue_id in c.center.queues:
        donors = [(i, load[queue_id]["waiting"]) for i, load in enumerate(c._shard_load)
                  if queue_id in load and load[queue_id]["waiting"] > 0 and load[queue_id]["free"] <= 0]
        takers = [(i, load[queue_id]["free"]) for i, load in enumerate(c._shard_load)
                  if queue_id in load and load[queue_id]["free"] > 0 and load[queue_id]["waiting"] <= 0]
        for (src, waiting), (dst, free) in zip(donors, takers, strict=False):
            n = int(min(waiting, free))
            c._shard_load[src][queue_id]["waiting"] -= n
            c._shard_load[dst][queue_id]["free"] -= n
            c._send(src, ("detach_head", queue_id, n), move_to(c, dst))


def move_to(c: SiteController, dst: int) -> Callable[[CommandResult], None]:
    def then(result: CommandResult) -> None:
        for rec in result.records:
            placed = c.contacts.get(rec.id)
            if placed is not None:
                placed.shard = dst
                placed.record = rec
            c._send(dst, ("attach", rec, None))

    return then


def rebalance_sites(c: SiteController, now: float) -> None:
    """Offer waiting contacts to another site when the local wait is past the queue's service
    level and another live site would serve them sooner (e.g. its agents are the tenant's, or
    logged in there after a failover)."""
    if c.fenced or c.peer_offer is None:
        return
    local = c.measure_load()
    loads = dict(c.load_cache.snapshot())
    loads[c.site] = local
    for queue_id, spec in c.center.queues.items():
        here = local.queues.get(queue_id)
        tenant = c.center.tenants.get(spec.tenant)
        if here is None or here.waiting == 0 or tenant is None:
            continue
        if expected_wait(here) <= spec.service_level_s:
            continue
        placement = choose_site(c.site, spec, tenant, loads, now)
        if placement.site == c.site:
            continue
        there = loads[placement.site].queues.get(queue_id)
        budget = min(here.waiting, max(1, there.ready_agents if there else 1))
        for i, shard_load in enumerate(c._shard_load):
            waiting = int(shard_load.get(queue_id, {}).get("waiting", 0))
            take = min(budget, waiting)
            if take <= 0:
                continue
            budget -= take
            shard_load[queue_id]["waiting"] -= take
            c._send(i, ("detach_head", queue_id, take), send_all_to_site(c, placement.site))


def send_all_to_site(c: SiteController, site: str) -> Callable[[CommandResult], None]:
    def then(result: CommandResult) -> None:
        for rec in result.records:
            c._spawn(offer_to_site(c, site, rec))

    return then


def queue_totals(c: SiteController, queue_id: str) -> tuple[int, int, int]:
    waiting = free = staffed = 0
    for load in c._shard_load:
        q = load.get(queue_id)
        if q:
            waiting += int(q["waiting"])
            free += int(q["free"])
            staffed += int(q["staffed"])
    return waiting, free, staffed


def local_estimates(c: SiteController) -> dict[str, tuple[float | None, int]]:
    now = c.clock()
    out: dict[str, tuple[float | None, int]] = {}
    for queue_id in c.center.queues:
        waiting, free, staffed = queue_totals(c, queue_id)
        out[queue_id] = (c.ewt.arrival_ewt_s(queue_id, now, waiting, staffed, free), waiting)
    return out
