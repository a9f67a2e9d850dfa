"""The bot agents of a media scenario: one :class:`~vcc.load.media.DeskAgent` per agent on the
agent desktop's WebSocket at its home site's front door, with the same duties as the gRPC
:class:`~vcc.load.agents.Roster` for the runner: log every agent in, move the agents of a lost site
to a survivor of their tenants (logging in at its front door, retrying while the lost site's lease
still holds them), report re-homes and the most contacts an agent held at once."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from vcc.config import ClusterConfig
from vcc.load.agents import Rehome, chosen_agents
from vcc.load.audio import LegAudio
from vcc.load.media import DeskAgent
from vcc.load.scenario import Agents


@dataclass
class SiteDesks:
    """The desks working at one site (the runner watches ``ended``: a desk's session ended)."""

    site: str
    desks: list[DeskAgent]
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def watch(self) -> None:
        await asyncio.wait([asyncio.ensure_future(d.ended.wait()) for d in self.desks],
                           return_when=asyncio.FIRST_COMPLETED)
        self.ended.set()


@dataclass
class DeskRoster:
    config: ClusterConfig
    spec: Agents
    rng: random.Random
    pools: dict[str, SiteDesks] = field(default_factory=dict)
    retired: list[DeskAgent] = field(default_factory=list)
    rehomes: list[Rehome] = field(default_factory=list)
    lost: set[str] = field(default_factory=set)
    login_errors: dict[str, str] = field(default_factory=dict)
    _watchers: list[asyncio.Task[None]] = field(default_factory=list)

    def url(self, site: str) -> str:
        return next(s.http_url for s in self.config.sites if s.id == site)

    def chosen(self) -> dict[str, list[tuple[str, str]]]:
        return chosen_agents(self.config, self.spec)

    def _desk(self, site: str, agent: str, password: str) -> DeskAgent:
        return DeskAgent(self.url(site), agent, password, self.spec, random.Random(self.rng.random()))

    async def _log_in(self, site: str, agents: list[tuple[str, str]], deadline_s: float) -> list[DeskAgent]:
        """Desks for ``agents`` at ``site``, each retried until it is in (a fenced site, a lease held)."""
        end = time.monotonic() + deadline_s

        async def one(agent: str, password: str) -> DeskAgent:
            while True:
                desk = self._desk(site, agent, password)
                if await desk.start() or time.monotonic() > end:
                    if not desk.logged_in:
                        self.login_errors[agent] = desk.error
                    return desk
                await desk.stop(logout=False)
                await asyncio.sleep(0.5)

        return list(await asyncio.gather(*(one(a, p) for a, p in agents)))

    def _add(self, key: str, site: str, desks: list[DeskAgent]) -> None:
        pool = SiteDesks(site, desks)
        self.pools[key] = pool
        self._watchers.append(asyncio.ensure_future(pool.watch()))

    async def start(self, timeout_s: float = 30.0) -> None:
        chosen = self.chosen()
        logged = await asyncio.gather(*(self._log_in(s, agents, timeout_s) for s, agents in chosen.items()))
        for site, desks in zip(chosen, logged, strict=True):
            self._add(site, site, desks)

    @property
    def logged_in(self) -> int:
        return sum(d.logged_in for p in self.pools.values() for d in p.desks)

    def survivor_for(self, agent_id: str) -> str | None:
        agent = next(a for a in self.config.agents if a.id == agent_id)
        homes = [s for t in self.config.tenants if t.id in agent.tenants for s in t.home_sites]
        return next((s for s in [*homes, *(s.id for s in self.config.sites)] if s not in self.lost), None)

    async def site_lost(self, site: str) -> None:
        if site in self.lost:
            return
        self.lost.add(site)
        moving: dict[str, list[tuple[str, str]]] = {}
        for key in [k for k, p in self.pools.items() if p.site == site]:
            for desk in self.pools.pop(key).desks:
                self.retired.append(desk)
                asyncio.ensure_future(desk.stop(logout=False))  # noqa: RUF006 - its site is gone
                target = self.survivor_for(desk.agent_id)
                if target is not None:
                    moving.setdefault(target, []).append((desk.agent_id, desk.password))
        rehome = Rehome(site, time.time(), sum(len(v) for v in moving.values()))
        self.rehomes.append(rehome)
        moved = await asyncio.gather(*(self._log_in(t, agents, 60.0) for t, agents in moving.items()))
        for target, desks in zip(moving, moved, strict=True):
            self._add(f"{target}<-{site}@{len(self.rehomes)}", target, desks)
        if all(d.logged_in for desks in moved for d in desks):
            rehome.done_ts = time.time()

    def site_back(self, site: str) -> None:
        self.lost.discard(site)

    def all_desks(self) -> list[DeskAgent]:
        return [*(d for p in self.pools.values() for d in p.desks), *self.retired]

    async def stop(self) -> None:
        for w in self._watchers:
            w.cancel()
        await asyncio.gather(*(d.stop(logout=True) for p in self.pools.values() for d in p.desks),
                             return_exceptions=True)
        await asyncio.gather(*(d.stop(logout=False) for d in self.retired), return_exceptions=True)

    def max_in_hand(self) -> int:
        return max((n for d in self.all_desks() for n in d.max_in_hand.values()), default=0)

    def agent_legs(self) -> list[LegAudio]:
        return [leg for d in self.all_desks() for leg in d.legs]

    def wrap_ups_already_ended(self) -> int:
        return sum(d.wrap_ups_already_ended for d in self.all_desks())

    def failures(self) -> list[str]:
        return [f"{d.agent_id}: {f}" for d in self.all_desks() for f in d.failures]
