"""Free-agent indexes: who may take a queue's next contact, in selection order.

Each pool (dedicated, shared) of a queue has one :class:`FreeLevel` per load share (a single level
for longest-idle queues; for least-occupied queues one per value of ``load / capacity`` on the
queue's channel, best first). A level is an append-only list of entries ``(agent, order,
proficiency)``: the router appends an agent whenever it becomes free, always at the current time,
so a level is in ``idle_since`` order and its first live entry is its longest-idle agent.

Nothing is ever removed in place: each time an agent is re-indexed it takes a new ``order`` (a
global sequence number), which makes all its older entries dead at once, in O(1). Dead entries are
skipped as the head moves past them, and a level is compacted when it holds more than twice its
pool. An agent's move thus costs a few list appends instead of a delete and an insert in each of
its queues' indexes (which, with 10,000 agents, are mostly cache misses).

Ties (agents freed at the very same ``now``) go to the higher proficiency, then to the agent freed
first: the run of tied agents at the head is sorted once and remembered (``run``, ``sorted_at``)
once the clock has moved past it, since no agent can join it any more.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vcc.core.agent import Agent

#: (agent, its order when appended, its proficiency for this queue)
Entry = tuple["Agent", int, int]


class FreeLevel:
    """Free agents of one pool of a queue at one load share, in idle order (see module doc)."""

    __slots__ = ("share", "items", "head", "limit", "sorted_at", "run")

    def __init__(self, share: float, pool_size: int) -> None:
        self.share = share
        self.items: list[Entry] = []
        self.head = 0  # entries before it are dead
        self.limit = 2 * pool_size + 64  # compact beyond this many entries (fixed)
        self.sorted_at = float("nan")  # idle_since of the head run sorted into ``run``
        self.run: list[tuple[Agent, int]] = []  # that run, best last; dead members skipped lazily

    def __repr__(self) -> str:
        return f"FreeLevel(share={self.share}, agents={sum(1 for _ in self.agents())})"

    def agents(self) -> Iterator[Agent]:
        """The free agents, in idle order (live entries only)."""
        items = self.items
        for i in range(self.head, len(items)):
            agent, order, _ = items[i]
            if agent._order == order:
                yield agent

    def compact(self) -> None:
        """Drop dead entries, in place (amortized O(1) per append: called past ``limit``, and
        live entries never exceed the pool)."""
        items = self.items
        items[:] = [e for e in items[self.head :] if e[0]._order == e[1]]
        self.head = 0


def has_skills(agent: Agent, skills: dict[str, int]) -> bool:
    own = agent.profile.skills
    return all(own.get(s, 0) >= m for s, m in skills.items())


def pick_agent(levels: list[FreeLevel], skills: dict[str, int] | None, now: float) -> Agent | None:
    """The best free agent: from the first non-empty level (with a fitting agent, if the contact
    needs extra ``skills``), the longest idle, then the higher proficiency, then the first freed."""
    for level in levels:
        items = level.items
        n = len(items)
        i = level.head
        while i < n:  # skip dead entries for good
            agent, order, _ = items[i]
            if agent._order == order:
                break
            i += 1
        level.head = i
        if i == n:
            continue
        if skills:
            found = _pick_skilled(items, i, skills)
            if found is not None:
                return found
            continue
        idle = agent.idle_since
        if idle == level.sorted_at:
            run = level.run
            while run:
                best, order = run[-1]
                if best._order == order:
                    return best
                run.pop()
        j = i + 1
        while j < n:  # the next live entry, to see whether the head is tied
            other, order, _ = items[j]
            if other._order == order:
                if other.idle_since == idle:
                    return _pick_tied(level, idle, now)
                break
            j += 1
        return agent
    return None


def _pick_tied(level: FreeLevel, idle: float, now: float) -> Agent:
    """Sort the head run of agents freed at ``idle`` by (proficiency desc, order)."""
    run = []
    items = level.items
    for i in range(level.head, len(items)):
        agent, order, prof = items[i]
        if agent._order != order:
            continue
        if agent.idle_since != idle:
            break
        run.append((-prof, order, agent))
    run.sort(reverse=True)  # orders are unique: agents are never compared
    if idle < now:  # nobody can join this run any more
        level.sorted_at = idle
        level.run = [(agent, order) for _, order, agent in run]
    return run[-1][2]


def _pick_skilled(items: list[Entry], start: int, skills: dict[str, int]) -> Agent | None:
    """Slow path for a contact with extra skills: the first fitting live agent, then any tied one
    with a better proficiency (or an earlier order)."""
    best: Agent | None = None
    best_key = (0, 0)
    for i in range(start, len(items)):
        agent, order, prof = items[i]
        if agent._order != order:
            continue
        if best is not None and agent.idle_since != best.idle_since:
            break
        if has_skills(agent, skills):
            key = (-prof, order)
            if best is None or key < best_key:
                best, best_key = agent, key
    return best
