"""Who is alive, and which survivor adopts a dead site's work.

:func:`watch_sessions` turns the ``sites/`` prefix into site up/down events (get-then-watch through
a :class:`~vcc.coord.watch.PrefixMirror`, so a death during a watch outage is still reported).

:class:`Elections` runs one election per dead site: ``elections/adopt/<dead_site>`` is created in a
transaction that also requires the dead site's session key to be absent and the candidate's own
session to be live, and it rides on the winner's lease. Of any number of survivors racing, exactly
one wins. The key stays while the winner lives (late survivors lose), vanishes if the winner dies
(another survivor may then finish the adoption: adoption is idempotent), and is deleted by the dead
site itself when it comes back (its next death gets a fresh election).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from vcc.coord.client import EtcdClient, EventKind, Get, Put, absent
from vcc.coord.keys import SESSION, CoordKeys, check_id
from vcc.coord.session import SessionToken
from vcc.coord.watch import Change, PrefixMirror
from vcc.errors import FencedError


@dataclass(frozen=True, slots=True)
class SiteEvent:
    """A site's session appeared (``up``) or vanished. ``epoch`` is the session's epoch (for a down
    event, the epoch that ended); ``revision`` is when etcd saw it."""

    site: str
    up: bool
    epoch: int
    revision: int


def site_event(keys: CoordKeys, change: Change) -> SiteEvent | None:
    """The site event a mirror change means, if it concerns a session key."""
    parsed = keys.parse_site_key(change.key)
    if parsed is None or parsed[1] != SESSION:
        return None
    site = parsed[0]
    if change.kind is EventKind.DELETE:
        epoch = change.prev.mod_revision if change.prev is not None else 0
        return SiteEvent(site, False, epoch, change.revision)
    if change.kv is None or (change.prev is not None and change.prev.mod_revision == change.kv.mod_revision):
        return None
    return SiteEvent(site, True, change.kv.mod_revision, change.revision)


async def watch_sessions(client: EtcdClient, keys: CoordKeys) -> AsyncIterator[SiteEvent]:
    """Site up/down events, forever: first an ``up`` for every live site, then each change."""
    mirror = PrefixMirror(client, keys.sites_prefix)
    async for change in mirror.changes():
        event = site_event(keys, change)
        if event is not None:
            yield event


async def live_sites(client: EtcdClient, keys: CoordKeys) -> dict[str, int]:
    """site → session epoch for every site whose session key exists now."""
    kvs, _ = await client.get_prefix(keys.sites_prefix)
    out: dict[str, int] = {}
    for kv in kvs:
        parsed = keys.parse_site_key(kv.key)
        if parsed is not None and parsed[1] == SESSION:
            out[parsed[0]] = kv.mod_revision
    return out


@dataclass(frozen=True, slots=True)
class Adoption:
    """The holder of ``elections/adopt/<dead_site>``."""

    dead_site: str
    adopter: str
    dead_epoch: int
    lease_id: int


class Elections:
    def __init__(self, client: EtcdClient, keys: CoordKeys) -> None:
        self.client = client
        self.keys = keys

    async def try_adopt(self, dead_site: str, token: SessionToken, *, dead_epoch: int = 0) -> bool:
        """Stand for adopting ``dead_site``'s work; True if this site holds the election (won now,
        or already held under this session). False if another live site holds it or the dead site
        is back. Raises FencedError if the caller's session is no longer live."""
        check_id("site", dead_site)
        if dead_site == token.site:
            raise ValueError("a site cannot adopt its own work")
        key = self.keys.adoption(dead_site)
        dead_session = self.keys.site_session(dead_site)
        value = json.dumps({"adopter": token.site, "dead_epoch": dead_epoch}).encode()
        result = await self.client.txn(
            [absent(key), absent(dead_session), token.guard()],
            [Put(key, value, token.lease_id)],
            [Get(key), Get(token.session_key)],
        )
        if result.succeeded:
            return True
        held, mine = result.gets
        if mine is None or mine.mod_revision != token.epoch:
            raise FencedError(f"site {token.site}: session epoch {token.epoch} is no longer live")
        return held is not None and held.lease == token.lease_id

    async def adopter_of(self, dead_site: str) -> Adoption | None:
        kv = await self.client.get(self.keys.adoption(dead_site))
        if kv is None:
            return None
        data = json.loads(kv.value)
        return Adoption(dead_site, str(data["adopter"]), int(data.get("dead_epoch", 0)), kv.lease)
