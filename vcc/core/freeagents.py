"""Free-agent indexes: who may take a queue's next contact, in selection order.

Each pool (dedicated, shared) of a queue has one :class:`FreeLevel` per load share (a single level
for longest-idle queues; for least-occupied queues one per value of ``load / capacity`` on the
queue's channel, best first). A level is an append-only, flat list of triples ``agent, order, idle``
(the agent, its order when appended, and its ``idle_since`` then): the router appends an agent
whenever it becomes free, always at the current time, so a level is in ``idle_since`` order and its
first live triple is its longest-idle agent. Flat triples rather than tuples: an append then
allocates nothing the list keeps, and the items, which live long, do not feed the cyclic garbage
collector.

Nothing is ever removed in place: each time an agent is re-indexed it takes a new ``order`` (a
global sequence number), which makes all its older triples dead at once, in O(1). A triple is live
while its order is the very int object the agent holds as ``_order`` (``is``: the check reads
neither number, which would be two more cache misses per triple on a large center). Dead triples
are skipped as the head moves past them, and the router compacts levels that hold more than twice
their pool (``compact``, from a periodic sweep rather than on every append). An agent's move thus
costs a few list appends instead of a delete and an insert in each of its queues' indexes (which,
with 10,000 agents, are mostly cache misses).

The idle time kept in each triple (equal to the agent's ``idle_since`` while the triple is live)
lets a pick see whether the head is tied without reading the next agent: times only grow along a
level, so the head is tied only if the very next triple, live or dead, has the same time. Ties
(agents freed at the very same ``now``) go to the higher proficiency (the queue's ``proficiency``
map, fixed at build time), then to the agent freed first: the run of tied agents at the head is
sorted once and remembered (``run``, ``sorted_at``) once the clock has moved past it, since no agent
can join it any more.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vcc.core.agent import Agent

#: Items per free agent in a level: agent, order, idle_since.
STRIDE = 3


class FreeLevel:
    """Free agents of one pool of a queue at one load share, in idle order (see module doc)."""

    __slots__ = ("share", "items", "head", "limit", "proficiency", "sorted_at", "run")

    def __init__(self, share: float, pool_size: int, proficiency: dict[str, int]) -> None:
        self.share = share
        self.items: list[Any] = []  # agent, order, idle, agent, order, idle, ...
        self.head = 0  # triples before it are dead
        self.limit = STRIDE * (2 * pool_size + 64)  # compact beyond this many triples (fixed), in items
        self.proficiency = proficiency  # agent id -> proficiency for the queue (ties)
        self.sorted_at = float("nan")  # idle_since of the head run sorted into ``run``
        self.run: list[tuple[Agent, int]] = []  # that run, best last; dead members skipped lazily

    def __repr__(self) -> str:
        return f"FreeLevel(share={self.share}, agents={sum(1 for _ in self.agents())})"

    def agents(self) -> Iterator[Agent]:
        """The free agents, in idle order (live triples only)."""
        items = self.items
        for i in range(self.head, len(items), STRIDE):
            agent = items[i]
            if agent._order is items[i + 1]:
                yield agent

    def compact(self) -> None:
        """Drop dead triples, in place (live triples never exceed the pool)."""
        items = self.items
        live: list[Any] = []
        for i in range(self.head, len(items), STRIDE):
            agent, order = items[i], items[i + 1]
            if agent._order is order:
                live += (agent, order, items[i + 2])
        items[:] = live
        self.head = 0


def has_skills(agent: Agent, skills: dict[str, int]) -> bool:
    own = agent.profile.skills
    return all(own.get(s, 0) >= m for s, m in skills.items())


def pick_agent(levels: list[FreeLevel], skills: dict[str, int] | None, now: float) -> Agent | None:
    """The best free agent: from the first non-empty level (with a fitting agent, if the contact
    needs extra ``skills``), the longest idle, then the higher proficiency, then the first freed.
    The caller must offer it a contact (which re-indexes it): its triple may be passed over at once."""
    for level in levels:
        items = level.items
        i = level.head
        n = len(items)
        if i == n:  # empty (a common case for the upper levels of a least-occupied queue)
            continue
        if items[i]._order is not items[i + 1]:
            i += 3
            while i < n and items[i]._order is not items[i + 1]:  # skip dead triples for good
                i += 3
            if i == n:
                level.head = i
                continue
        # Times only grow along the level: the head is tied only if the next triple (live or dead)
        # was appended at the same time.
        if not skills and (i + 3 == n or items[i + 5] != items[i + 2]):
            level.head = i + 3  # the agent is offered a contact, which re-indexes it: this triple dies
            agent: Agent = items[i]
            return agent
        level.head = i
        if not skills:
            return _pick_tied(level, items[i + 2], now)
        found = _pick_skilled(level, skills)
        if found is not None:
            return found
    return None


def _pick_tied(level: FreeLevel, idle: float, now: float) -> Agent:
    """The best of the head run of agents freed at ``idle``, by (proficiency desc, order)."""
    if idle == level.sorted_at:
        run = level.run
        while run:
            best, order = run[-1]
            if best._order is order:
                return best
            run.pop()
    ranked = []
    items = level.items
    proficiency = level.proficiency
    for i in range(level.head, len(items), STRIDE):
        if items[i + 2] != idle:
            break
        agent, order = items[i], items[i + 1]
        if agent._order is order:
            ranked.append((-proficiency[agent.id], order, agent))
    ranked.sort(reverse=True)  # orders are unique: agents are never compared
    if idle < now:  # nobody can join this run any more
        level.sorted_at = idle
        level.run = [(agent, order) for _, order, agent in ranked]
    best_agent: Agent = ranked[-1][2]
    return best_agent


def _pick_skilled(level: FreeLevel, skills: dict[str, int]) -> Agent | None:
    """Slow path for a contact with extra skills: the first fitting live agent, then any tied one
    with a better proficiency (or an earlier order)."""
    best: Agent | None = None
    best_key = (0, 0)
    best_idle = 0.0
    items = level.items
    proficiency = level.proficiency
    for i in range(level.head, len(items), STRIDE):
        agent, order = items[i], items[i + 1]
        if agent._order is not order:
            continue
        if best is not None and items[i + 2] != best_idle:
            break
        if has_skills(agent, skills):
            key = (-proficiency[agent.id], order)
            if best is None or key < best_key:
                best, best_key, best_idle = agent, key, items[i + 2]
    return best
