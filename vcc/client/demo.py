"""Demo traffic for a running cluster, through the public API only: bot agents log in at their home
sites, customers arrive on every entry point of every tenant (voice callers press keys in the IVR),
and a summary of what happened is read back from the sites' event streams."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.config import ClusterConfig

DEMO_PASSWORD = "demo-{agent}"  # the documented password of every demo agent (docs/config.md)


@dataclass
class DemoReport:
    submitted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, final state)
    by_site: Counter[str] = field(default_factory=Counter)
    agents_logged_in: int = 0
    handled: int = 0
    waits_s: list[float] = field(default_factory=list)


async def run_demo(config: ClusterConfig, duration_s: float, rate_per_s: float, seed: int = 7,
                   progress: Any = None) -> DemoReport:
    rng = random.Random(seed)
    report = DemoReport()
    sites = {s.id: s.grpc_address for s in config.sites}
    pools = []
    for site_id, address in sites.items():
        agents = [(a.id, DEMO_PASSWORD.format(agent=a.id)) for a in config.agents if a.home_site == site_id]
        if agents:
            pools.append(BotAgentPool(address, agents, answer_delay_s=0.2,
                                      handle_s=lambda ch: rng.uniform(0.5, 2.0), seed=seed))
    await asyncio.gather(*(p.start() for p in pools))
    report.agents_logged_in = sum(len(p.stats.logged_in) for p in pools)
    clients = {s: SiteClient(a) for s, a in sites.items()}
    watchers = [asyncio.ensure_future(_watch(c, report)) for c in clients.values()]
    entries = [(t.id, e.address, e.channel.value) for t in config.tenants for e in t.entry_points]
    ids = itertools.count(1)
    started = time.monotonic()
    try:
        while time.monotonic() - started < duration_s:
            site = rng.choice(list(clients))
            tenant, address, channel = rng.choice(entries)
            cid = f"demo-{int(started)}-{next(ids)}"
            caller = f"+1555{rng.randrange(10**6, 10**7)}"
            sub = submission(cid, channel, address, caller, dtmf=rng.choice(["1", "2", "1 1234#", "3", ""]),
                             patience_s=rng.uniform(20, 60))
            result = (await clients[site].submit([sub]))[0]
            report.submitted += 1
            if not result.accepted:
                report.refused[result.error[:60]] += 1
            if progress:
                progress(time.monotonic() - started, report)
            await asyncio.sleep(rng.expovariate(rate_per_s))
        await asyncio.sleep(3.0)  # let the last contacts finish
    finally:
        for w in watchers:
            w.cancel()
        await asyncio.gather(*(p.stop() for p in pools), return_exceptions=True)
        await asyncio.gather(*(c.close() for c in clients.values()))
    report.handled = sum(p.stats.completed for p in pools)
    return report


async def _watch(client: SiteClient, report: DemoReport) -> None:
    queued: dict[str, float] = {}
    async for e in client.events():
        if e.get("kind") != "contact":
            continue
        if e["state"] == "queued":
            queued.setdefault(e["contact_id"], e["ts"])
        elif e["state"] == "connected" and e["contact_id"] in queued:
            report.waits_s.append(e["ts"] - queued.pop(e["contact_id"]))
        elif e["state"] in ("completed", "failed", "abandoned"):
            report.outcomes[(e["channel"], e["state"])] += 1
            report.by_site[e["site"]] += 1
