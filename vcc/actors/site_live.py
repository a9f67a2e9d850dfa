"""The site's live voice calls in etcd (``sites/<site>/live``, no lease). Their media is anchored
here, so they die with the site: the adopter reads the list and logs each call ``failed``, reason
``site_lost:<site>`` (:func:`vcc.actors.site_failover.fail_live_calls_of`).

Two orderings leave no call this site took without an end in some site's log:

- a new call is listed before the site says yes to it (``SubmitContacts`` waits for the list, at
  most ``LIST_TIMEOUT_S``): a site that dies the instant after accepting a call leaves it to its
  adopter (it used to be listed by the next periodic publish, up to 0.5 s later, so a call
  accepted in that time stayed open in the log forever);
- an ended call stays listed until its end is in the event log: a site that dies between the end
  and the log leaves it to its adopter too.

A call whose end is logged stays listed until the next reconcile step unlists it (0.1 s): a site
that dies inside that step has the call logged ``failed`` by its adopter after its end. That
failure is a presumption (``vcc.core.events.SITE_LOST``): the CDR and ``vcc load`` keep the end the
site logged itself (docs/architecture.md, failure semantics).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from vcc.actors.directory import TERMINAL
from vcc.coord.client import EtcdClient
from vcc.errors import CoordError

log = logging.getLogger("vcc.actors.controller")

#: how long ``SubmitContacts`` waits for etcd to list a new call before it says yes anyway (a live
#: call is not refused for bookkeeping; a site whose etcd stays away is fenced within its lease TTL)
LIST_TIMEOUT_S = 0.5

Entry = dict[str, Any]


class LiveCalls:
    """``current()`` gives the calls anchored here now, by contact id (what the adopter logs:
    tenant, queue, state, agent); ``fenced()`` says whether this site may write."""

    def __init__(self, etcd: EtcdClient, key: str, current: Callable[[], dict[str, Entry]],
                 fenced: Callable[[], bool]) -> None:
        self.etcd = etcd
        self.key = key
        self.current = current
        self.fenced = fenced
        self.published: frozenset[str] = frozenset()
        self.ending: dict[str, Entry] = {}  # ended here, the end not in the log yet
        self._lock = asyncio.Lock()

    def ended(self, contact_id: str, entry: Entry) -> None:
        self.ending[contact_id] = entry

    def logged(self, events: Iterable[dict[str, Any]]) -> None:
        """These events are in the log: the calls they end may be unlisted."""
        for e in events:
            if e.get("kind") == "contact" and e.get("state") in TERMINAL:
                self.ending.pop(e["contact_id"], None)

    def listing(self) -> dict[str, Entry]:
        return {**self.ending, **self.current()}

    async def publish(self) -> bool:
        """Write the list if it changed; False if etcd did not take it (the next step retries)."""
        async with self._lock:
            calls = self.listing()
            if frozenset(calls) == self.published or self.fenced():
                return True
            try:
                await self.etcd.put(self.key, json.dumps(list(calls.values())).encode())
            except CoordError as e:
                log.warning("publishing live calls failed: %s", e)
                return False
            self.published = frozenset(calls)
            return True

    async def listed(self, contact_ids: Iterable[str]) -> bool:
        """Wait until etcd lists these calls (one write for all who wait together)."""
        wanted = set(contact_ids)
        try:
            async with asyncio.timeout(LIST_TIMEOUT_S):
                while not wanted <= self.published:
                    if self.fenced() or not await self.publish():
                        return False
                    wanted &= set(self.listing())  # ended meanwhile and logged: nothing to list
        except TimeoutError:
            log.warning("live calls %s not listed in etcd within %.1f s", sorted(wanted - self.published),
                        LIST_TIMEOUT_S)
            return False
        return True
