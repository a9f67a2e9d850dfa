"""A queue's live state for the router: its waiting contacts, in service order, and its pools of
free agents. Used by :class:`vcc.core.routing.Router`.

Waiting contacts sit in a heap keyed by ``(aging_per_s * enqueued_at - base_priority, enqueued_at,
order)``. Within one queue every contact ages at the same rate, so this static key orders them by
effective priority at any time (``base + aging_per_s * waited``), FIFO among equals; across queues
the router compares heads as ``key - aging_per_s * now``. Entries are invalidated lazily: an entry is
live while it is its contact's ``_entry`` (identity).

Free agents are indexed per pool in :mod:`vcc.core.freeagents`.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING

from vcc.core.freeagents import FreeLevel, has_skills
from vcc.core.model import AgentSelection, QueueSpec

if TYPE_CHECKING:
    from vcc.core.agent import Agent
    from vcc.core.contact import Contact


#: A queue entry: (static priority key, enqueued_at, order, contact).
Entry = tuple[float, float, int, "Contact"]
#: Where an agent sits in one queue's pool while free: its level per load, and its proficiency.
Slot = tuple[list[FreeLevel], int]


class QueueRuntime:
    """One queue's live state: waiting contacts and free-agent buckets."""

    __slots__ = (
        "spec", "id", "tenant", "channel", "channel_key", "priority", "aging_per_s", "shared_after_s",
        "max_wait_s", "overflow_queue", "track_ripe",
        "waiting", "heap", "ripe", "maturing",
        "dedicated", "shared", "dedicated_logged_in", "staffed", "eligible_dedicated", "eligible_shared",
    )  # fmt: skip

    def __init__(self, spec: QueueSpec) -> None:
        self.spec = spec
        self.id = spec.id
        self.tenant = spec.tenant
        self.channel = spec.channel
        self.channel_key = spec.channel.value  # plain str: faster dict lookups than the enum
        self.priority = spec.priority
        self.aging_per_s = spec.aging_per_s
        self.shared_after_s = spec.shared_after_s
        self.max_wait_s = spec.max_wait_s
        self.overflow_queue = spec.overflow_queue
        self.track_ripe = False  # shared agents exist and must wait shared_after_s
        self.waiting: dict[str, Contact] = {}  # authoritative membership
        self.heap: list[Entry] = []  # every waiting contact
        self.ripe: list[Entry] = []  # contacts shared agents may take (tracked when track_ripe)
        self.maturing: list[tuple[float, int, Entry]] = []  # (ripe_at, order, entry)
        # Free agents per pool, by load share, best first.
        self.dedicated: list[FreeLevel] = []
        self.shared: list[FreeLevel] = []
        self.dedicated_logged_in = 0
        self.staffed = 0  # logged-in agents who qualify (any pool)
        self.eligible_dedicated: list[Agent] = []
        self.eligible_shared: list[Agent] = []

    def __repr__(self) -> str:
        return f"QueueRuntime({self.id!r}, waiting={len(self.waiting)})"

    def build_pool(self, agents: list[Agent], profs: dict[str, int], *, dedicated: bool) -> dict[str, Slot]:
        """Make one pool's free-agent levels; return, per agent id, its level for each load it
        can have while free (index = contacts in hand on the channel) and its proficiency here."""
        channel = self.channel_key
        if self.spec.selection is AgentSelection.LEAST_OCCUPIED:
            shares = sorted({n / a.capacity[channel] for a in agents for n in range(a.capacity[channel])})
        else:
            shares = [0.0]
        levels = [FreeLevel(share, len(agents), profs) for share in shares]
        by_share = dict(zip(shares, levels, strict=True))
        slots: dict[str, Slot] = {}
        for a in agents:
            cap = a.capacity[channel]
            if len(levels) == 1:
                slots[a.id] = ([levels[0]] * cap, profs[a.id])
            else:
                slots[a.id] = ([by_share[n / cap] for n in range(cap)], profs[a.id])
        if dedicated:
            self.dedicated = levels
        else:
            self.shared = levels
        return slots

    # -- waiting contacts -----------------------------------------------------------------------

    def push(self, contact: Contact, now: float) -> Entry:
        """Add a waiting contact (keeping its enqueue time and order) and return its entry."""
        enq = contact.enqueued_at if contact.enqueued_at is not None else now
        key = self.aging_per_s * enq - (self.priority + contact.priority + contact.vip_boost)
        entry: Entry = (key, enq, contact._order, contact)
        contact._entry = entry
        self.waiting[contact.id] = contact
        heappush(self.heap, entry)
        if self.track_ripe:
            ripe_at = enq + self.shared_after_s
            contact._ripe = ripe_at <= now
            if contact._ripe:
                heappush(self.ripe, entry)
            else:
                heappush(self.maturing, (ripe_at, contact._order, entry))
        else:
            contact._ripe = True
        return entry

    def remove(self, contact: Contact) -> None:
        """Take a contact out (its heap entries go stale); compact heaps that are mostly stale."""
        del self.waiting[contact.id]
        contact._entry = None
        live = len(self.waiting)
        if len(self.heap) > 2 * live + 64:
            self.heap = _compact(self.heap)
            self.ripe = _compact(self.ripe)
            self.maturing = [m for m in self.maturing if m[2][3]._entry is m[2]]
            heapify(self.maturing)

    def is_ripe(self, contact: Contact) -> bool:
        """May a shared agent take this waiting contact now?"""
        return contact._ripe or self.dedicated_logged_in == 0

    def mature(self, now: float) -> list[Contact]:
        """Move contacts that have waited ``shared_after_s`` to the ripe heap; return them."""
        out: list[Contact] = []
        maturing = self.maturing
        while maturing and maturing[0][0] <= now:
            entry = heappop(maturing)[2]
            contact = entry[3]
            if contact._entry is entry:
                contact._ripe = True
                heappush(self.ripe, entry)
                out.append(contact)
        return out

    def head(self, heap: list[Entry], agent: Agent) -> Entry | None:
        """The best live entry of ``heap`` that ``agent`` qualifies for (extra skills)."""
        while heap:
            entry = heap[0]
            contact = entry[3]
            if contact._entry is not entry:
                heappop(heap)
                continue
            if not contact.skills or has_skills(agent, contact.skills):
                return entry
            return _deep_head(heap, agent)
        return None

    def ordered(self) -> list[Contact]:
        """Waiting contacts in service order (for status pages and tests)."""
        return [e[3] for e in sorted(e for e in self.heap if e[3]._entry is e)]


def _deep_head(heap: list[Entry], agent: Agent) -> Entry | None:
    """Slow path when the head needs skills the agent lacks: pop until a fit, then restore."""
    held: list[Entry] = []
    found: Entry | None = None
    while heap:
        entry = heappop(heap)
        contact = entry[3]
        if contact._entry is not entry:
            continue
        held.append(entry)
        if not contact.skills or has_skills(agent, contact.skills):
            found = entry
            break
    for entry in held:
        heappush(heap, entry)
    return found


def _compact(heap: list[Entry]) -> list[Entry]:
    live = [e for e in heap if e[3]._entry is e]
    heapify(live)
    return live
