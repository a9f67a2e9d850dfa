"""Noticing a dead site before etcd does.

etcd alone notices a dead site when its session lease expires: the TTL, plus up to 0.5 s for etcd's
expiry sweep, plus, when the dead site's member was the etcd leader, the new leader's election and
the election timeout it adds to every lease. That measured 2.4-3.5 s, against a 3 s budget.

So every controller also probes the other sites' gRPC ports (a TCP connect, every ~0.15 s). A
connection *refused* means no process listens there: the site's controller is gone (a timeout
means nothing: a slow or cut-off site is left to its lease and to its own fencing). After
:data:`REFUSALS_TO_REVOKE` refusals in a row, the site's session lease is revoked, so its session
key is deleted at once and the usual path follows: every survivor sees the DELETE, one wins the
adoption election and adopts (``site_failover.site_down``).

Revoking is safe for exactly-once because it is what expiry does, only sooner: every write a site
makes carries its session guard, so a site whose lease was revoked can write nothing more, even if
it were still running; it fences itself and rejoins with a new session. A restarting controller
(Ray restarts it in ~4 s) would have lost its 1 s lease anyway. The session is revoked only if it
is still the one that was live when the refusals began (its key's revision is unchanged), and only
for a site seen listening since it last refused: a starting site writes its session before its gRPC
server listens, and must not be taken for a dead one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vcc.errors import CoordError

if TYPE_CHECKING:
    from vcc.actors.controller import SiteController

log = logging.getLogger("vcc.actors.controller")

PROBE_INTERVAL_S = 0.15
PROBE_TIMEOUT_S = 0.3
REFUSALS_TO_REVOKE = 3


@dataclass(slots=True)
class _Suspect:
    refusals: int = 0
    epoch: int | None = None  # the session key's revision when the refusals began


async def probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool | None:
    """True if something accepts TCP connections at ``host:port``, False if the connection is
    refused (nothing listens), None if it cannot be told (timeout, no route)."""
    host, _, port = address.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
    except ConnectionRefusedError:
        return False
    except (TimeoutError, OSError, ValueError):
        return None
    writer.close()
    return True


async def probe_loop(c: SiteController) -> None:
    if not c.settings.peer_probe:
        return
    suspects: dict[str, _Suspect] = {}
    armed: set[str] = set()  # sites seen listening since they last refused: only these are suspected
    while True:
        await asyncio.sleep(PROBE_INTERVAL_S * random.uniform(0.8, 1.2))
        peers = {site: addr for site, addr in c.settings.peers.items() if site != c.site and addr}
        if c.fenced or not peers:
            suspects.clear()
            continue
        results = await asyncio.gather(*(probe(addr) for addr in peers.values()))
        for site, up in zip(peers, results, strict=True):
            if up is not False:
                suspects.pop(site, None)
                if up:
                    armed.add(site)
                continue
            if site not in armed:  # starting (a new session comes before the gRPC server) or long gone
                continue
            suspect = suspects.setdefault(site, _Suspect())
            suspect.refusals += 1
            try:
                if await _step(c, site, suspect):
                    armed.discard(site)
                    suspects.pop(site, None)
            except CoordError as e:  # no etcd leader yet (it may have died with the site): next round
                log.info("revoking %s's session: %s", site, e)


async def _step(c: SiteController, site: str, suspect: _Suspect) -> bool:
    """One more refusal from ``site``; True once its session is gone (revoked here, or before)."""
    kv = await c.etcd.get(c.keys.site_session(site))
    if kv is None:  # no session (already expired or revoked): nothing to do
        return True
    if suspect.epoch is None or suspect.refusals == 1:
        suspect.epoch = kv.mod_revision
    if suspect.refusals < REFUSALS_TO_REVOKE:
        return False
    if kv.mod_revision != suspect.epoch:  # a new session since the refusals began: start over
        suspect.refusals, suspect.epoch = 1, kv.mod_revision
        return False
    lease_id = int(json.loads(kv.value)["lease_id"])
    if await c.etcd.revoke(lease_id):
        log.warning("site %s refuses connections (%d probes): revoked its session lease", site, suspect.refusals)
        c.emit_site_event("peer_revoked", {"dead_site": site, "lease_id": lease_id, "refusals": suspect.refusals})
    return True
