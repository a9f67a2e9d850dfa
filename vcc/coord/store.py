"""Durable contacts: callbacks, chats, emails and SMS that outlive the site that took them.

``contacts/<contact_id>`` holds a :class:`DurableContact` as JSON and is NOT on a session lease, so
it survives its owner site. Every write is a compare-and-swap on the key's ``mod_revision``; writes
made for a site also carry that site's session guard, so a fenced (or dead) site cannot write.

When a site dies, the survivor that won the adoption election calls :meth:`ContactStore.adopt`,
which moves each open contact owned by the dead site to the adopter. Each batch (≤ 98 contacts, so
≤ 100 compares, puts or reads per transaction, and ≤ :data:`MAX_TXN_BYTES` of contact records, under
etcd's 1.5 MiB request limit: a contact's attached data may be up to 64 KiB) is guarded per contact
on its ``mod_revision``, on
the dead site's session still being absent, and on the adopter's session: two adopters can never
both take a contact, a re-run is a no-op, and a site that comes back keeps what was not yet moved.
Arrival ``ts`` and ``priority`` are kept, so an adopted contact keeps its place in line.

A contact that reaches a terminal state is written on a retention lease (``retention_s``, default
15 min): it stays readable long enough for duplicate completions to be answered, then vanishes.
The event log, not etcd, is the record of finished contacts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from vcc.coord.client import EtcdClient, Get, KeyValue, Op, Put, absent, mod_is
from vcc.coord.keys import CoordKeys, check_id
from vcc.coord.session import SessionToken
from vcc.core.model import Channel, ContactState
from vcc.errors import FencedError

T = TypeVar("T")
MAX_ADOPT_BATCH = 98
#: The contact records one transaction writes: etcd refuses a request over 1.5 MiB (its default
#: ``--max-request-bytes``), and 98 e-mails with large bodies would pass that; what is left over
#: is for the keys, compares and guards.
MAX_TXN_BYTES = 1024 * 1024
#: Keys per read of the contacts prefix: 200 records of at most ~65 KiB stay well under the
#: client's 32 MiB receive limit.
LIST_PAGE = 200
TERMINAL = frozenset({ContactState.COMPLETED, ContactState.ABANDONED, ContactState.FAILED})


@dataclass(frozen=True, slots=True)
class DurableContact:
    """A contact that is not tied to live media. ``ts`` is the arrival time (wall clock, epoch
    seconds) that orders the queue; ``adopted_from`` lists the dead sites it was taken from;
    ``skills`` the extra skills (skill -> minimum proficiency) its IVR flow requires, so that the
    site that adopts it routes it as the one that took it would have."""

    contact_id: str
    tenant: str
    channel: Channel
    queue: str
    ts: float
    priority: int
    state: ContactState
    owner_site: str
    data: dict[str, str] = field(default_factory=dict)
    adopted_from: tuple[str, ...] = ()
    skills: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        d = {
            "adopted_from": list(self.adopted_from), "channel": str.__str__(self.channel),
            "contact_id": self.contact_id, "data": self.data, "owner_site": self.owner_site,
            "priority": self.priority, "queue": self.queue, "state": str.__str__(self.state), "tenant": self.tenant,
            "ts": self.ts,
        }  # fmt: skip  (field by field: dataclasses.asdict deep-copies, and this is on the hot path)
        if self.skills:  # absent when none: most contacts, and the records written before the field
            d["skills"] = self.skills
        return json.dumps(d, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> DurableContact:
        d: dict[str, Any] = json.loads(raw)
        return cls(
            contact_id=str(d["contact_id"]),
            tenant=str(d["tenant"]),
            channel=Channel(d["channel"]),
            queue=str(d["queue"]),
            ts=float(d["ts"]),
            priority=int(d["priority"]),
            state=ContactState(d["state"]),
            owner_site=str(d["owner_site"]),
            data={str(k): str(v) for k, v in d.get("data", {}).items()},
            adopted_from=tuple(str(s) for s in d.get("adopted_from", ())),
            skills={str(k): int(v) for k, v in d.get("skills", {}).items()},
        )

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True, slots=True)
class StoredContact:
    """A contact as read, with the ``mod_revision`` to compare-and-swap against."""

    contact: DurableContact
    mod_revision: int

    @classmethod
    def of(cls, kv: KeyValue) -> StoredContact:
        return cls(DurableContact.from_json(kv.value), kv.mod_revision)


@dataclass(frozen=True, slots=True)
class AdoptionReport:
    adopted: tuple[str, ...]
    lost_to_others: int
    txns: int
    stopped: str | None = None


DEFAULT_RETENTION_S = 900  # how long an ended durable contact stays in etcd (its retention lease)


class ContactStore:
    def __init__(
        self,
        client: EtcdClient,
        keys: CoordKeys,
        *,
        retention_s: int = DEFAULT_RETENTION_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.keys = keys
        self.retention_s = retention_s
        self._clock = clock
        self._retention: tuple[int, float] | None = None  # (lease id, reuse until)

    # --- reads ---------------------------------------------------------------------------------
    async def get(self, contact_id: str) -> StoredContact | None:
        kv = await self.client.get(self.keys.contact(contact_id))
        return StoredContact.of(kv) if kv is not None else None

    async def get_many(self, contact_ids: list[str]) -> dict[str, StoredContact]:
        """The stored contacts among ``contact_ids`` (absent ones left out), ≤ 98 reads per
        transaction, each transaction one consistent snapshot."""
        out: dict[str, StoredContact] = {}
        for batch in _chunks(contact_ids, MAX_ADOPT_BATCH):
            result = await self.client.txn([], [Get(self.keys.contact(cid)) for cid in batch])
            for kv in result.gets:
                if kv is not None:
                    stored = StoredContact.of(kv)
                    out[stored.contact.contact_id] = stored
        return out

    async def list_all(self) -> list[StoredContact]:
        kvs, _ = await self.client.get_prefix(self.keys.contacts_prefix, page_size=LIST_PAGE)
        return [StoredContact.of(kv) for kv in kvs]

    async def list_by_owner(self, site: str, *, include_terminal: bool = False) -> list[StoredContact]:
        """The contacts ``site`` owns, oldest arrival first (open ones only, unless asked)."""
        out = [
            s
            for s in await self.list_all()
            if s.contact.owner_site == site and (include_terminal or not s.contact.terminal)
        ]
        return sorted(out, key=lambda s: (s.contact.ts, s.contact.contact_id))

    # --- writes --------------------------------------------------------------------------------
    async def create(self, contact: DurableContact, token: SessionToken) -> tuple[StoredContact, bool]:
        """Store a new contact owned by ``token.site``. Idempotent: if the id exists, returns the
        stored contact and False."""
        check_id("contact", contact.contact_id)
        if contact.owner_site != token.site:
            raise ValueError(f"contact {contact.contact_id} must be created by its owner site")
        key = self.keys.contact(contact.contact_id)
        result = await self.client.txn(
            [absent(key), token.guard()], [Put(key, contact.to_json())], [Get(key), Get(token.session_key)]
        )
        if result.succeeded:
            return StoredContact(contact, result.revision), True
        current, mine = result.gets
        if current is not None:
            return StoredContact.of(current), False
        raise _fenced(token, mine)

    async def update(
        self, stored: StoredContact, new: DurableContact, token: SessionToken | None = None
    ) -> StoredContact | None:
        """Compare-and-swap: write ``new`` if the contact is unchanged since ``stored`` was read.
        Returns the new stored contact, or None if someone else changed it first (re-read)."""
        if new.contact_id != stored.contact.contact_id:
            raise ValueError("update cannot change a contact's id")
        key = self.keys.contact(new.contact_id)
        lease = await self._retention_lease() if new.terminal else 0
        compares = [mod_is(key, stored.mod_revision)]
        failure: list[Op] = []
        if token is not None:
            compares.append(token.guard())
            failure.append(Get(token.session_key))
        result = await self.client.txn(compares, [Put(key, new.to_json(), lease)], failure)
        if result.succeeded:
            return StoredContact(new, result.revision)
        if token is not None:
            mine = result.gets[0]
            if mine is None or mine.mod_revision != token.epoch:
                raise _fenced(token, mine)
        return None

    async def set_state(
        self, stored: StoredContact, state: ContactState, token: SessionToken | None = None
    ) -> StoredContact | None:
        """Compare-and-swap of the state alone (see :meth:`update`)."""
        return await self.update(stored, replace(stored.contact, state=state), token)

    async def complete(self, contact_id: str, token: SessionToken | None = None) -> bool:
        """Mark the contact completed. True for exactly one caller; False if it was already in a
        terminal state (or is unknown, e.g. completed long ago and purged), or if ``token``'s site no
        longer owns it (another site adopted it while this one was cut off: the adopter's
        completion is the one that counts)."""
        while True:
            stored = await self.get(contact_id)
            if stored is None or stored.contact.terminal:
                return False
            if token is not None and stored.contact.owner_site != token.site:
                return False
            if await self.set_state(stored, ContactState.COMPLETED, token) is not None:
                return True

    async def withdraw(self, contact: DurableContact) -> bool:
        """Leave nothing live behind a create its site gave up on after the transaction failed in
        flight (etcd may have applied it all the same): the key ends terminal (``failed``, reason
        ``withdrawn``, kept for the retention period) whether or not the create landed, and a late
        landing of it finds the key taken and does nothing. Returns True if the create had landed.
        A contact another site has adopted meanwhile is left to it."""
        key = self.keys.contact(contact.contact_id)
        tombstone = replace(contact, state=ContactState.FAILED, data={**contact.data, "withdrawn": "true"})
        while True:
            lease = await self._retention_lease()
            result = await self.client.txn([absent(key)], [Put(key, tombstone.to_json(), lease)], [Get(key)])
            if result.succeeded:
                return False
            current = result.gets[0]
            if current is None:
                continue  # deleted in between (purged): try again
            stored = StoredContact.of(current)
            if stored.contact.terminal or stored.contact.owner_site != contact.owner_site:
                return True
            data = {**stored.contact.data, "withdrawn": "true"}
            if await self.update(stored, replace(stored.contact, state=ContactState.FAILED, data=data)) is not None:
                return True

    # --- batched writes (the hot path: one transaction for many contacts) ---------------------
    async def create_many(
        self, contacts: list[DurableContact], token: SessionToken
    ) -> list[tuple[StoredContact, bool]]:
        """:meth:`create` for many contacts, one guarded transaction per batch (:func:`txn_batches`).
        A batch in which any id already exists (or whose site is fenced) falls back to one
        :meth:`create` per contact, which sorts out which were known and raises if fenced."""
        out: list[tuple[StoredContact, bool]] = []
        encoded = [(c, c.to_json()) for c in contacts]  # each record serialized once, sized and written
        for batch in txn_batches(encoded, lambda e: len(e[1])):
            for c, _ in batch:
                check_id("contact", c.contact_id)
                if c.owner_site != token.site:
                    raise ValueError(f"contact {c.contact_id} must be created by its owner site")
            keys = [self.keys.contact(c.contact_id) for c, _ in batch]
            result = await self.client.txn(
                [*(absent(k) for k in keys), token.guard()],
                [Put(k, data) for k, (_, data) in zip(keys, batch, strict=True)],
            )  # fmt: skip
            if result.succeeded:
                out.extend((StoredContact(c, result.revision), True) for c, _ in batch)
            else:
                out.extend([await self.create(c, token) for c, _ in batch])
        return out

    async def update_many(
        self, changes: list[tuple[StoredContact, DurableContact]], token: SessionToken
    ) -> list[StoredContact | None]:
        """:meth:`update` for many contacts: one transaction per batch, each contact compared on its
        known ``mod_revision``. A batch that fails falls back to one :meth:`update` per contact
        (None for a contact someone else changed; FencedError if this site is fenced)."""
        out: list[StoredContact | None] = []
        encoded = [(old, new, new.to_json()) for old, new in changes]  # each record serialized once
        for batch in txn_batches(encoded, lambda e: len(e[2])):
            lease = await self._retention_lease() if any(new.terminal for _, new, _ in batch) else 0
            compares = [mod_is(self.keys.contact(old.contact.contact_id), old.mod_revision) for old, _, _ in batch]
            puts = [Put(self.keys.contact(new.contact_id), data, lease if new.terminal else 0)
                    for _, new, data in batch]  # fmt: skip
            for old, new, _ in batch:
                if new.contact_id != old.contact.contact_id:
                    raise ValueError("update cannot change a contact's id")
            result = await self.client.txn([*compares, token.guard()], puts)
            if result.succeeded:
                out.extend(StoredContact(new, result.revision) for _, new, _ in batch)
            else:
                out.extend([await self.update(old, new, token) for old, new, _ in batch])
        return out

    async def complete_known(self, known: list[StoredContact], token: SessionToken) -> bool:
        """Mark contacts completed in one transaction, each compared on the revision this site last
        wrote (one batch of :func:`txn_batches` with :func:`stored_size`: the caller cuts them). False,
        and nothing written, if any of them changed since or this site's session is not live:
        complete those one by one with :meth:`complete`."""
        if not known:
            return True
        if len(known) > MAX_ADOPT_BATCH:
            raise ValueError(f"at most {MAX_ADOPT_BATCH} contacts per transaction")
        if any(s.contact.terminal or s.contact.owner_site != token.site for s in known):
            return False
        lease = await self._retention_lease()
        result = await self.client.txn(
            [*(mod_is(self.keys.contact(s.contact.contact_id), s.mod_revision) for s in known), token.guard()],
            [Put(self.keys.contact(s.contact.contact_id), replace(s.contact, state=ContactState.COMPLETED).to_json(),
                 lease) for s in known],
        )  # fmt: skip
        return result.succeeded

    async def adopt(
        self,
        dead_site: str,
        token: SessionToken,
        *,
        transform: Callable[[DurableContact], DurableContact] | None = None,
        batch_size: int = MAX_ADOPT_BATCH,
        max_rounds: int = 10,
    ) -> AdoptionReport:
        """Move every open contact owned by ``dead_site`` to ``token.site`` (see module doc).

        ``transform`` may change a contact as it moves (e.g. requeue one that was offered at the
        dead site); owner, id, arrival ts and priority are kept whatever it returns."""
        if not 0 < batch_size <= MAX_ADOPT_BATCH:
            raise ValueError(f"batch_size must be in 1..{MAX_ADOPT_BATCH}")
        dead_session = self.keys.site_session(dead_site)
        adopted: list[str] = []
        lost = txns = 0
        for _ in range(max_rounds):
            pending = await self.list_by_owner(dead_site)
            if not pending:
                break
            for batch in txn_batches(pending, stored_size, batch_size):
                while batch:
                    keys = [self.keys.contact(s.contact.contact_id) for s in batch]
                    moved = [self._moved(s.contact, dead_site, token.site, transform) for s in batch]
                    result = await self.client.txn(
                        [token.guard(), absent(dead_session)]
                        + [mod_is(k, s.mod_revision) for k, s in zip(keys, batch, strict=True)],
                        [Put(k, c.to_json()) for k, c in zip(keys, moved, strict=True)],
                        [Get(token.session_key), Get(dead_session), *(Get(k) for k in keys)],
                    )
                    txns += 1
                    if result.succeeded:
                        adopted.extend(c.contact_id for c in moved)
                        break
                    mine, dead, *current = result.gets
                    if mine is None or mine.mod_revision != token.epoch:
                        raise _fenced(token, mine)
                    if dead is not None:
                        return AdoptionReport(tuple(adopted), lost, txns, f"site {dead_site} is back")
                    still = [
                        StoredContact.of(kv)
                        for kv in current
                        if kv is not None and _owned_open(kv, dead_site)
                    ]
                    lost += len(batch) - len(still)
                    batch = still
        return AdoptionReport(tuple(adopted), lost, txns)

    # --- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _moved(
        c: DurableContact,
        dead_site: str,
        adopter: str,
        transform: Callable[[DurableContact], DurableContact] | None,
    ) -> DurableContact:
        new = transform(c) if transform is not None else c
        return replace(
            new,
            contact_id=c.contact_id,
            ts=c.ts,
            priority=c.priority,
            owner_site=adopter,
            adopted_from=(*c.adopted_from, dead_site),
        )

    async def _retention_lease(self) -> int:
        now = self._clock()
        if self._retention is None or now >= self._retention[1]:
            lease = await self.client.grant(self.retention_s)
            self._retention = (lease.id, now + self.retention_s / 2)
        return self._retention[0]


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def stored_size(s: StoredContact) -> int:
    """The bytes a transaction writing ``s``'s record carries for it (about)."""
    return len(s.contact.to_json())


def txn_batches(items: list[T], size_of: Callable[[T], int], max_items: int = MAX_ADOPT_BATCH) -> list[list[T]]:
    """``items`` in order, cut into transactions of at most ``max_items`` and, where records are
    large, :data:`MAX_TXN_BYTES` (``size_of``: an item's record bytes; an item over it goes alone)."""
    out: list[list[T]] = []
    batch: list[T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) >= max_items or total + size > MAX_TXN_BYTES):
            out.append(batch)
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        out.append(batch)
    return out


def _owned_open(kv: KeyValue, site: str) -> bool:
    c = DurableContact.from_json(kv.value)
    return c.owner_site == site and not c.terminal


def _fenced(token: SessionToken, session_kv: KeyValue | None) -> FencedError:
    now = "gone" if session_kv is None else f"at epoch {session_kv.mod_revision}"
    return FencedError(f"site {token.site}: session epoch {token.epoch} is no longer live ({now})")
