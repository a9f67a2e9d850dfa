"""The site's live voice calls in etcd, a key each (``live/<site>/<contact id>``, no lease). Their
media is anchored here, so they die with the site: the adopter reads the prefix and logs each call
``failed``, reason ``site_lost:<site>`` (:func:`vcc.actors.site_failover.fail_live_calls_of`).

Two orderings leave no call this site took without an end in some site's log:

- a new call is listed before the site says yes to it (``SubmitContacts`` and a site's offer wait
  for the write, at most ``LIST_TIMEOUT_S``; the calls that arrive meanwhile share one transaction):
  a site that dies the instant after accepting a call leaves it to its adopter (the list used to be
  written every 0.5 s, so a call accepted in that time stayed open in the log for ever);
- an ended call stays listed until its end is in the event log: a site that dies between the end
  and the log leaves it to its adopter too.

A call whose end is logged stays listed until the next reconcile step unlists it (0.1 s): a site
that dies inside that step has the call logged ``failed`` by its adopter after its end. That
failure is a presumption (``vcc.core.events.SITE_LOST``): the CDR and ``vcc load`` keep the end the
site logged itself (docs/architecture.md, failure semantics).

A key per call, so a write carries what changed, not every call of the site; and not under
``sites/``, which the load and session mirrors of every site watch.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from vcc.actors.directory import TERMINAL
from vcc.coord.client import Delete, EtcdClient, Put
from vcc.coord.keys import CoordKeys
from vcc.coord.store import txn_batches
from vcc.errors import CoordError

log = logging.getLogger("vcc.actors.controller")

#: how long ``SubmitContacts`` waits for etcd to list a new call before it says yes anyway (a live
#: call is not refused for bookkeeping; a site whose etcd stays away is fenced within its lease TTL)
LIST_TIMEOUT_S = 0.5

Entry = dict[str, Any]


class LiveCalls:
    """``current()`` gives the ids of the calls anchored here now, ``entry(id)`` what the adopter
    logs of one (tenant, queue, state, agent); ``fenced()`` says whether this site may write."""

    def __init__(self, etcd: EtcdClient, keys: CoordKeys, site: str, current: Callable[[], Iterable[str]],
                 entry: Callable[[str], Entry], fenced: Callable[[], bool]) -> None:  # fmt: skip
        self.etcd = etcd
        self.keys = keys
        self.site = site
        self.current = current
        self.entry = entry
        self.fenced = fenced
        self.published: set[str] = set()  # listed in etcd
        self.ending: dict[str, Entry] = {}  # ended here, the end not in the log yet
        self.writes = 0
        self._lock = asyncio.Lock()

    def ended(self, contact_id: str, entry: Entry) -> None:
        self.ending[contact_id] = entry

    def logged(self, events: Iterable[dict[str, Any]]) -> None:
        """These events are in the log: the calls they end may be unlisted."""
        for e in events:
            if e.get("kind") == "contact" and e.get("state") in TERMINAL:
                self.ending.pop(e["contact_id"], None)

    def listing(self) -> set[str]:
        return {*self.ending, *self.current()}

    async def publish(self) -> bool:
        """List the new calls and unlist the ended ones; False if etcd did not take it all (the
        next step retries what is left)."""
        async with self._lock:
            if self.fenced():
                return True
            calls = self.listing()
            if calls == self.published:
                return True
            ops: list[tuple[str, Put | Delete]] = [
                (cid, Put(self.keys.live_call(self.site, cid),
                          json.dumps(self.ending.get(cid) or self.entry(cid)).encode()))
                for cid in calls - self.published
            ]  # fmt: skip
            ops += [(cid, Delete(self.keys.live_call(self.site, cid))) for cid in self.published - calls]
            try:
                for batch in txn_batches(ops, lambda op: len(op[1].value) if isinstance(op[1], Put) else 0):
                    await self.etcd.txn([], [op for _, op in batch])
                    self.writes += 1
                    for cid, op in batch:
                        if isinstance(op, Put):
                            self.published.add(cid)
                        else:
                            self.published.discard(cid)
            except CoordError as e:
                log.warning("publishing live calls failed: %s", e)
                return False
            return True

    async def listed(self, contact_ids: Iterable[str]) -> bool:
        """Wait until etcd lists these calls (one write for all who wait together)."""
        wanted = set(contact_ids)
        try:
            async with asyncio.timeout(LIST_TIMEOUT_S):
                while not wanted <= self.published:
                    if self.fenced() or not await self.publish():
                        return False
                    wanted &= self.listing()  # ended meanwhile and logged: nothing to list
        except TimeoutError:
            log.warning("live calls %s not listed in etcd within %.1f s", sorted(wanted - self.published),
                        LIST_TIMEOUT_S)
            return False
        return True

