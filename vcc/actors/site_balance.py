"""Where work goes: the shard for a new contact, waiting contacts moved between shards, and contacts
offered to another site when it would serve them sooner (the global balancer in ``vcc.core.balancer``
decides; this module acts). Also the site's load as it publishes it."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from vcc.actors.directory import _fields
from vcc.actors.records import CommandResult, ContactRecord
from vcc.coord.store import DurableContact
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
    accepted = False
    if c.peer_offer is not None:
        try:
            replies = await c.peer_offer(site, [rec])
            accepted = bool(replies) and replies[0].accepted
        except Exception as e:  # the other site is unreachable: keep the contact here
            log.warning("offering %s to site %s failed: %s", rec.id, site, e)
    now = c.clock()
    if accepted:
        c.contacts.pop(rec.id, None)
        c._emit_marker(rec, now, "sent_to_site", {"site": site})
        if placed.durable:
            c._spawn(hand_over_durable(c, rec, site))
    else:
        c._attach(rec, now, reason="kept_local")


async def hand_over_durable(c: SiteController, rec: ContactRecord, site: str) -> None:
    stored = await c.store.get(rec.id)
    if stored is None:
        return
    new = DurableContact(**{**_fields(stored.contact), "owner_site": site, "queue": rec.queue or ""})
    with contextlib.suppress(CoordError, FencedError):
        await c.store.update(stored, new, c.session.token)


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
