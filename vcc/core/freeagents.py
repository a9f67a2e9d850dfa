"""Free-agent indexes: who may take a queue's next contact, in selection order.

Each pool (dedicated, shared) of a queue has one :class:`FreeLevel` per load share (a single level
for longest-idle queues; for least-occupied queues one per value of ``load / capacity`` on the
queue's channel, best first). A level is an insertion-ordered map agent -> proficiency. The router
(re)appends an agent whenever it becomes free, always at the current time, so a level is ordered by
``idle_since`` and its head is its longest-idle agent: a decision reads the head of the first
non-empty level, O(1). (A plain ``dict`` keeps insertion order and is leaner than an
``OrderedDict``; finding its first live entry skips deleted slots in C, bounded by the next resize.)

Ties (agents freed at the very same ``now``) go to the higher proficiency, then to the agent freed
first: the run of tied agents at the head is sorted once and remembered (``run``, ``sorted_at``)
once the clock has moved past it, since no agent can join it any more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vcc.core.agent import Agent


class FreeLevel:
    """Free agents of one pool of a queue at one load share: agent -> proficiency, idle order."""

    __slots__ = ("share", "agents", "sorted_at", "run")

    def __init__(self, share: float) -> None:
        self.share = share
        self.agents: dict[Agent, int] = {}
        self.sorted_at = float("nan")  # idle_since of the head run sorted into ``run``
        self.run: list[Agent] = []  # that run, best last; members that left are skipped lazily

    def __repr__(self) -> str:
        return f"FreeLevel(share={self.share}, agents={len(self.agents)})"


def has_skills(agent: Agent, skills: dict[str, int]) -> bool:
    own = agent.profile.skills
    return all(own.get(s, 0) >= m for s, m in skills.items())


def pick_agent(levels: list[FreeLevel], skills: dict[str, int] | None, now: float) -> Agent | None:
    """The best free agent: from the first non-empty level (with a fitting agent, if the contact
    needs extra ``skills``), the longest idle, then the higher proficiency, then the first freed."""
    for level in levels:
        agents = level.agents
        if not agents:
            continue
        if skills:
            found = _pick_skilled(agents, skills)
            if found is not None:
                return found
            continue
        it = iter(agents)
        head = next(it)
        idle = head.idle_since
        if idle == level.sorted_at:
            run = level.run
            while run:
                agent = run[-1]
                if agent.idle_since == idle and agent in agents:
                    return agent
                run.pop()
        second = next(it, None)
        if second is not None and second.idle_since == idle:
            return _pick_tied(level, idle, now)
        return head
    return None


def _pick_tied(level: FreeLevel, idle: float, now: float) -> Agent:
    """Sort the head run of agents freed at ``idle`` by (proficiency desc, order)."""
    run = []
    for agent, prof in level.agents.items():
        if agent.idle_since != idle:
            break
        run.append((-prof, agent._order, agent))
    run.sort(reverse=True)  # orders are unique: agents are never compared
    if idle < now:  # nobody can join this run any more
        level.sorted_at = idle
        level.run = [r[2] for r in run]
    return run[-1][2]


def _pick_skilled(agents: dict[Agent, int], skills: dict[str, int]) -> Agent | None:
    """Slow path for a contact with extra skills: the first fitting agent, then any tied one with
    a better proficiency (or an earlier order)."""
    best: Agent | None = None
    best_key = (0, 0)
    for agent, prof in agents.items():
        if best is not None and agent.idle_since != best.idle_since:
            break
        if has_skills(agent, skills):
            key = (-prof, agent._order)
            if best is None or key < best_key:
                best, best_key = agent, key
    return best
