"""Bot agents for load: a :class:`BotAgentPool` whose answer delay, handle time and wrap-up are drawn
from the scenario's distributions, and a roster that keeps every agent logged in somewhere: when the
site an agent works at is lost (its stream ended, or it stopped answering), the agent logs in at a
surviving site of its tenants, retrying while the lost site's lease still holds its ownership."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vcc.client.bots import BotAgentPool
from vcc.config import ClusterConfig
from vcc.load.sampling import sample
from vcc.load.scenario import Agents
from vcc.proto.v1 import site_pb2 as pb


class LoadBots(BotAgentPool):
    """Bot agents at one site. ``answer_delay_s`` and ``wrap_up_s`` are read by the pool each time it
    needs one (a truth test, then the sleep): each read is a fresh draw of the distribution, so the
    sleeps follow it exactly (the truth tests only see that a continuous draw is > 0)."""

    def __init__(self, site: str, address: str, agents: list[tuple[str, str]], spec: Agents,
                 rng: random.Random, on_completed: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.rng = rng
        super().__init__(address, agents, handle_s=self._handle_time, seed=rng.randrange(1 << 30))
        self.rng = rng
        self.site = site
        self.on_completed = on_completed
        self.started_ts = time.time()

    @property
    def answer_delay_s(self) -> float:
        return sample(self.spec.answer_delay_s, self.rng)

    @answer_delay_s.setter
    def answer_delay_s(self, _value: float) -> None:
        pass  # drawn from the scenario instead

    @property
    def wrap_up_s(self) -> float:
        return sample(self.spec.wrap_up_s, self.rng)

    @wrap_up_s.setter
    def wrap_up_s(self, _value: float) -> None:
        pass

    def _handle_time(self, channel: str) -> float:
        return sample(self.spec.handle_s_by_channel.get(channel, self.spec.handle_s), self.rng)

    async def command(self, agent_id: str, **kind: Any) -> pb.CommandResult:
        result = await super().command(agent_id, **kind)
        done = kind.get("complete")
        if done is not None and result.ok and self.on_completed is not None:
            self.on_completed(done.contact_id)
        return result

    async def login_missing(self) -> int:
        """Log in (and make ready) the agents not logged in yet; returns how many are logged in."""
        missing = [(a, p) for a, p in self.agents if a not in self.stats.logged_in]
        if not missing:
            return len(self.stats.logged_in)
        results = await asyncio.gather(*(self.command(a, login=pb.Login(password=p)) for a, p in missing))
        newly = [a for (a, _), r in zip(missing, results, strict=True) if r.ok]
        for (a, _), r in zip(missing, results, strict=True):
            if not r.ok:
                self.stats.login_errors[a] = r.error
        self.stats.logged_in.update(newly)
        await asyncio.gather(*(self.command(a, ready=pb.Ready()) for a in newly))
        return len(self.stats.logged_in)


@dataclass
class Rehome:
    """Agents that moved from a lost site: when the move began and when the last one was ready."""

    lost_site: str
    started_ts: float
    agents: int
    done_ts: float | None = None


@dataclass
class Roster:
    """Every bot agent of the run, by the site it works at now."""

    config: ClusterConfig
    spec: Agents
    rng: random.Random
    on_completed: Callable[[str], None] | None = None
    pools: dict[str, LoadBots] = field(default_factory=dict)
    retired: list[LoadBots] = field(default_factory=list)
    rehomes: list[Rehome] = field(default_factory=list)
    lost: set[str] = field(default_factory=set)

    def chosen(self) -> dict[str, list[tuple[str, str]]]:
        return chosen_agents(self.config, self.spec)

    def address(self, site: str) -> str:
        return next(s.grpc_address for s in self.config.sites if s.id == site)

    def _pool(self, site: str, agents: list[tuple[str, str]]) -> LoadBots:
        return LoadBots(site, self.address(site), agents, self.spec, random.Random(self.rng.random()),
                        self.on_completed)

    async def start(self, timeout_s: float = 30.0) -> None:
        for site, agents in self.chosen().items():
            self.pools[site] = self._pool(site, agents)
        await asyncio.gather(*(p.start(timeout_s=timeout_s) for p in self.pools.values()))
        end = time.monotonic() + timeout_s  # a site fenced for a moment refuses logins: try again
        while time.monotonic() < end and any(len(p.stats.logged_in) < len(p.agents) for p in self.pools.values()):
            await asyncio.sleep(0.3)
            await asyncio.gather(*(p.login_missing() for p in self.pools.values()))

    @property
    def logged_in(self) -> int:
        return sum(len(p.stats.logged_in) for p in self.pools.values())

    def survivor_for(self, agent_id: str, lost: set[str]) -> str | None:
        agent = next(a for a in self.config.agents if a.id == agent_id)
        homes = [s for t in self.config.tenants if t.id in agent.tenants for s in t.home_sites]
        others = [s.id for s in self.config.sites]
        return next((s for s in [*homes, *others] if s not in lost), None)

    async def site_lost(self, site: str) -> None:
        """Move the agents working at ``site`` to survivors (called once per loss)."""
        if site in self.lost:
            return
        self.lost.add(site)
        gone = [key for key, p in self.pools.items() if p.site == site]
        if not gone:
            return
        moving: dict[str, list[tuple[str, str]]] = {}
        for key in gone:
            pool = self.pools.pop(key)
            self.retired.append(pool)
            asyncio.ensure_future(pool.stop(logout=False))  # noqa: RUF006 - its stream is dead or frozen
            for agent_id, pw in pool.agents:
                target = self.survivor_for(agent_id, self.lost)
                if target is not None:
                    moving.setdefault(target, []).append((agent_id, pw))
        rehome = Rehome(site, time.time(), sum(len(v) for v in moving.values()))
        self.rehomes.append(rehome)
        new = []
        for target, agents in moving.items():  # on a stream of their own beside those already there
            p = self._pool(target, agents)
            new.append(p)
            self.pools[f"{target}<-{site}@{len(self.rehomes)}"] = p
        await asyncio.gather(*(p.start(ready=True, timeout_s=10.0) for p in new), return_exceptions=True)
        end = time.monotonic() + 60
        while time.monotonic() < end and any(len(p.stats.logged_in) < len(p.agents) for p in new):
            await asyncio.sleep(0.2)
            await asyncio.gather(*(p.login_missing() for p in new), return_exceptions=True)
        if all(len(p.stats.logged_in) == len(p.agents) for p in new):
            rehome.done_ts = time.time()

    def site_back(self, site: str) -> None:
        self.lost.discard(site)

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop(logout=True) for p in self.pools.values()), return_exceptions=True)
        await asyncio.gather(*(p.stop(logout=False) for p in self.retired if p not in self.pools.values()),
                             return_exceptions=True)

    def max_in_hand(self) -> int:
        return max((n for p in [*self.pools.values(), *self.retired] for n in p.stats.max_in_hand.values()),
                   default=0)


def chosen_agents(config: ClusterConfig, spec: Agents) -> dict[str, list[tuple[str, str]]]:
    """The scenario's agents (its ids and sites, else all) with their passwords, by home site."""
    by_site: dict[str, list[tuple[str, str]]] = {}
    for a in config.agents:
        if spec.ids and a.id not in spec.ids:
            continue
        if spec.sites and a.home_site not in spec.sites:
            continue
        by_site.setdefault(a.home_site, []).append((a.id, spec.password.format(agent=a.id)))
    return by_site
