"""The site controller's writes of durable contacts to etcd, batched.

A durable contact (chat, e-mail, SMS, callback) is written to etcd when it arrives, when it is
queued (queue and priority as the IVR set them, so an adopter queues it the same way), when its
agent is done with the customer (wrap-up: an adopter completes it rather than serve it again) and
when it ends. One etcd transaction costs the controller's event loop far more than the contact's routing,
so writes that arrive while a transaction is in flight wait and go together in the next one, like
the commands to an ACD shard. Each contact carries the ``mod_revision`` of its last write
(``PlacedContact.stored``), so a write is a compare-and-swap on a known revision, without reading
first; a contact whose revision is unknown (recovered, adopted) or stale (changed elsewhere) is
read and written one at a time, as before.

A create answers through the future ``created`` returns: ``True`` once etcd holds the contact, or
``False`` once it is ``withdraw``-n before etcd took it (the media IVR tells a caller "we will call
you back" only after ``True``; see ``site_media.book_callback``). A withdrawn create whose
transaction failed in flight may have been applied all the same: its key is then made terminal
(``ContactStore.withdraw``, retried until etcd answers), so no site adopts a contact that went on
as a live call.

The order of writes for one contact is kept: one flush at a time, queue updates before ends.
An end is reported (``on_recorded``) only after etcd recorded it, or found that another site's
adoption took the contact (``recorded=False``); while etcd cannot be reached the end is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vcc.actors.directory import PlacedContact, _fields
from vcc.coord.session import SessionToken
from vcc.coord.store import ContactStore, DurableContact, StoredContact, stored_size, txn_batches
from vcc.core.model import ContactState
from vcc.errors import CoordError, FencedError

log = logging.getLogger(__name__)
_ENDED = frozenset({ContactState.COMPLETED.value, ContactState.ABANDONED.value, ContactState.FAILED.value})


@dataclass(slots=True, eq=False)
class _End:
    placed: PlacedContact
    event: dict[str, Any]


class DurableWriter:
    def __init__(
        self,
        store: ContactStore,
        token: Callable[[], SessionToken],
        on_recorded: Callable[[dict[str, Any], bool], None],
    ) -> None:
        self.store = store
        self._token = token  # raises FencedError while the site is fenced
        self._on_recorded = on_recorded
        self._creates: list[tuple[PlacedContact, DurableContact]] = []
        self._updates: list[PlacedContact] = []
        self._ends: list[_End] = []
        self.creating: set[str] = set()  # durable contacts not yet known to be in etcd
        self._stored: dict[str, asyncio.Future[bool]] = {}  # each create's answer, until it has one
        self._withdrawn: set[str] = set()  # creates in flight to drop if etcd refuses them
        self._sweeps: list[DurableContact] = []  # withdrawn after a failure in flight: make terminal
        self._wake = asyncio.Event()
        self.transactions = 0

    # --- what the controller asks for ----------------------------------------------------------
    def created(self, placed: PlacedContact, contact: DurableContact) -> asyncio.Future[bool]:
        """Write a contact that became durable here (a booked callback) to etcd, before any later
        write of it; retried until etcd takes it or it is withdrawn. The future answers ``True``
        when etcd holds it, ``False`` when it was withdrawn first."""
        cid = contact.contact_id
        stored = self._stored.get(cid)
        if stored is None or stored.done():
            stored = self._stored[cid] = asyncio.get_running_loop().create_future()
        self._sweeps = [c for c in self._sweeps if c.contact_id != cid]  # booked again: the new write decides
        self._creates.append((placed, contact))
        self.creating.add(cid)
        self._wake.set()
        return stored

    def withdraw(self, contact_id: str) -> None:
        """Give up a create etcd has not taken yet. One still waiting is dropped (answers ``False``);
        one in flight answers with that transaction's outcome, and is not retried if it failed."""
        waiting = len(self._creates)
        self._creates = [pc for pc in self._creates if pc[1].contact_id != contact_id]
        if len(self._creates) < waiting:
            self._answer(contact_id, False)
        elif contact_id in self.creating:
            self._withdrawn.add(contact_id)

    def changed(self, placed: PlacedContact) -> None:
        """Record the contact's queue, priority and state as they are when written: QUEUED once
        routed, WRAP_UP once its agent is done with the customer (if this site dies before the
        wrap-up ends, the adopter completes it instead of serving the customer again). Best effort:
        the contact is already safe in etcd; a lost update only means an adopter re-queues it."""
        self._updates.append(placed)
        self._wake.set()

    def ended(self, placed: PlacedContact, event: dict[str, Any]) -> None:
        """Record the contact's end, then hand ``event`` back through ``on_recorded``."""
        self._ends.append(_End(placed, event))
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._creates) + len(self._updates) + len(self._ends)

    # --- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        delay = 0.1
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._creates:
                creates, self._creates = self._creates, []
                try:
                    await self._write_creates(creates)
                except CoordError as e:  # FencedError included; what waits behind them keeps waiting
                    log.warning("storing %d durable contacts failed (%s); retrying", len(creates), e)
                    for _, contact in creates:
                        if contact.contact_id in self._withdrawn:
                            self._answer(contact.contact_id, False)
                            self._sweeps.append(contact)
                    creates = [pc for pc in creates if pc[1].contact_id in self.creating]
                    self._creates[:0] = creates
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    self._wake.set()
                    continue
            if self._sweeps:
                await self._sweep()
            updates, self._updates = self._updates, []
            ends, self._ends = self._ends, []
            if updates:
                await self._write_updates(updates)
            if not ends:
                continue
            try:
                await self._write_ends(ends)
                delay = 0.1
            except CoordError as e:  # FencedError included: retry until this site proves its lease
                log.warning("recording the end of %d durable contacts failed (%s); retrying", len(ends), e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._wake.set()

    async def _write_creates(self, creates: list[tuple[PlacedContact, DurableContact]]) -> None:
        token = self._token()
        self.transactions += 1
        created = await self.store.create_many([contact for _, contact in creates], token)
        for (placed, contact), (stored, new) in zip(creates, created, strict=True):
            if not new and stored.contact.terminal and stored.contact.data.get("withdrawn") == "true" \
                    and stored.contact.owner_site == token.site:  # fmt: skip
                # this site's own withdrawn booking of it (a flow that offers the callback again)
                revived = await self.store.update(stored, contact, token)
                if revived is None:
                    raise CoordError(f"contact {contact.contact_id}: its withdrawn record changed meanwhile")
                stored, new = revived, True
            placed.stored = stored if new else None  # known already (a retry that etcd did take): re-read
            self._answer(placed.record.id, True)

    def _answer(self, contact_id: str, stored: bool) -> None:
        self.creating.discard(contact_id)
        self._withdrawn.discard(contact_id)
        future = self._stored.pop(contact_id, None)
        if future is not None and not future.done():
            future.set_result(stored)

    async def _sweep(self) -> None:
        """Make terminal the keys of withdrawn creates that may have landed; retried while etcd fails."""
        while self._sweeps:
            contact = self._sweeps[0]
            try:
                landed = await self.store.withdraw(contact)
            except CoordError as e:
                log.warning("clearing the withdrawn contact %s failed (%s); retrying", contact.contact_id, e)
                await asyncio.sleep(0.5)
                self._wake.set()
                return
            self._sweeps.pop(0)
            if landed:
                log.warning("contact %s: a withdrawn create had landed in etcd; now ended there", contact.contact_id)

    async def _write_updates(self, updates: list[PlacedContact]) -> None:
        """Write each contact's state as it is now, once (a contact re-queued after an offer, or
        queued then wrapped up, may be listed twice; one transaction cannot put a key twice). A
        contact that ended meanwhile is left to its end."""
        updates = [p for p in {id(p): p for p in updates}.values() if p.state not in _ENDED]
        if not updates:
            return
        try:
            token = self._token()
            known = [p for p in updates if p.stored is not None and not p.stored.contact.terminal]
            unknown = [p for p in updates if p.stored is None]
            if known:
                changes = [(p.stored, self._queued(p, p.stored)) for p in known if p.stored is not None]
                self.transactions += 1
                for p, stored in zip(known, await self.store.update_many(changes, token), strict=True):
                    p.stored = stored
            for p in unknown:
                current = await self.store.get(p.record.id)
                if current is not None and not current.contact.terminal and current.contact.owner_site == token.site:
                    p.stored = await self.store.update(current, self._queued(p, current), token)
        except (CoordError, FencedError) as e:
            log.warning("durable queue update of %d contacts failed: %s", len(updates), e)
            for p in updates:
                p.stored = None  # re-read before the next write

    async def _write_ends(self, ends: list[_End]) -> None:
        """Record ends; each is reported as soon as etcd answered for it, and on an error only the
        unreported ones are retried (a retried end that etcd did record would read as another
        site's). While the site is fenced (no token) every end waits for the next try."""
        pending = list(ends)
        try:
            token = self._token()
            fast = [e for e in pending if e.placed.stored is not None]
            for batch in txn_batches(fast, lambda e: stored_size(e.placed.stored) if e.placed.stored else 0):
                self.transactions += 1
                if await self.store.complete_known([e.placed.stored for e in batch if e.placed.stored], token):
                    for end in batch:
                        self._report(end, True)
                        pending.remove(end)
                else:
                    for end in batch:
                        end.placed.stored = None
            for end in list(pending):
                ok = await self.store.complete(end.placed.record.id, token)
                self._report(end, ok)
                pending.remove(end)
        finally:
            if pending:
                self._ends[:0] = pending
                for end in pending:
                    end.placed.stored = None

    def _report(self, end: _End, recorded: bool) -> None:
        end.placed.stored = None
        self._on_recorded(end.event, recorded)

    @staticmethod
    def _queued(placed: PlacedContact, stored: StoredContact) -> DurableContact:
        rec = placed.record
        state = ContactState.WRAP_UP if placed.state == ContactState.WRAP_UP.value else ContactState.QUEUED
        return DurableContact(**{**_fields(stored.contact), "queue": rec.queue or "", "state": state,
                                 "priority": rec.priority, "skills": dict(rec.skills)})  # fmt: skip
