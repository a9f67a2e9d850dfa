"""Routing bench: a synthetic center through the sans-IO router, beside a naive scanning baseline.

Builds a center (default 10,000 agents, 200 queues, voice/chat/email, mixed skills, tenants with
dedicated, shared and both pools), runs a discrete-event workload (arrivals, offers accepted or
rejected, handling, wrap-up, abandons, overflow) through :class:`vcc.core.routing.Router`, and times
every routing decision (a contact entering a queue, an agent freeing up) with ``perf_counter_ns``:
the router call alone. The workload's own bookkeeping (whether a follow-up still applies, splitting
its reference) runs before the clock starts, and the events of the previous call are released
after it stops.
The same workload, cut to ``--naive-contacts`` contacts, then runs through the reference router
that scans every agent per contact. The indexed run is repeated (``--repeat``) and the best run is
reported, as ``timeit`` does: on a shared machine the others measure the neighbours (the median run
is printed too). As in ``timeit``, the cyclic garbage collector is off during each run (``--gc``
keeps it on): otherwise its passes, which the workload's own allocations trigger as much as the
router's, land in whichever decision happens to be timed then. The run leaves no cyclic garbage
(the report counts what a collection finds after it: ``cyclic_garbage``), so nothing is deferred.

    .venv/bin/python bench/routing.py [--agents N] [--queues N] [--contacts N] [--seed N] [--json]

Target: >= 100,000 decisions/s and p99 decision latency < 1 ms on one core.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vcc.core.contact import Contact
from vcc.core.events import ContactEvent
from vcc.core.hours import BusinessHours
from vcc.core.model import (
    AgentProfile,
    AgentSelection,
    CallerLists,
    CenterSpec,
    Channel,
    ContactState,
    Pool,
    QueueSpec,
    SkillRequirement,
    TenantSpec,
)
from vcc.core.routing import Router
from vcc.core.routing_reference import ReferenceRouter

TARGET_DECISIONS_PER_S = 100_000
TARGET_P99_MS = 1.0
SKILLS = ("sales", "support", "billing", "tech", "retention", "en", "es", "fr", "de", "it")
# Per tenant: (name, channel, selection, mean handling seconds)
QUEUE_KINDS = (
    ("voice_sales", Channel.VOICE, AgentSelection.LONGEST_IDLE, 180.0),
    ("voice_support", Channel.VOICE, AgentSelection.LONGEST_IDLE, 240.0),
    ("chat", Channel.CHAT, AgentSelection.LEAST_OCCUPIED, 300.0),
    ("email", Channel.EMAIL, AgentSelection.LONGEST_IDLE, 120.0),
)


@dataclass
class Center:
    spec: CenterSpec
    handle_s: dict[str, float]  # queue -> mean handling time
    vip_callers: dict[str, list[str]] = field(default_factory=dict)


def build_center(n_agents: int, n_queues: int, rng: random.Random) -> Center:
    n_tenants = max(3, n_queues // len(QUEUE_KINDS))
    hours = BusinessHours(timezone="UTC")
    tenants: dict[str, TenantSpec] = {}
    queues: dict[str, QueueSpec] = {}
    handle_s: dict[str, float] = {}
    vip: dict[str, list[str]] = {}
    pools: dict[str, str] = {}
    for t in range(n_tenants):
        tid = f"t{t:03d}"
        vip[tid] = [f"+1555{t:03d}{i:04d}" for i in range(20)]
        tenants[tid] = TenantSpec(
            id=tid, name=f"Tenant {t}", hours=hours,
            callers=CallerLists(blocked=frozenset({f"+1900{t:03d}0000"}), vip=frozenset(vip[tid])),
        )  # fmt: skip
        pools[tid] = ("dedicated", "shared", "both")[t % 3]
    lang_of = {tid: SKILLS[5 + i % 5] for i, tid in enumerate(tenants)}
    for i in range(n_queues):
        tid = f"t{i // len(QUEUE_KINDS) % n_tenants:03d}"
        name, channel, selection, mean_s = QUEUE_KINDS[i % len(QUEUE_KINDS)]
        qid = f"{tid}_{name}_{i}"
        topic = ("sales", "support", "support", "billing")[i % 4]
        reqs = (SkillRequirement(topic, rng.randint(1, 4)), SkillRequirement(lang_of[tid], rng.randint(1, 3)))
        queues[qid] = QueueSpec(
            id=qid, tenant=tid, channel=channel, required_skills=reqs,
            priority=rng.choice((0, 0, 5, 10)), aging_per_s=rng.choice((0.0, 0.05, 0.1)),
            selection=selection, shared_after_s=20.0 if pools[tid] == "both" else 0.0,
            max_wait_s=rng.choice((None, 120.0)),
        )  # fmt: skip
        handle_s[qid] = mean_s
    by_tenant: dict[str, list[str]] = {}
    for qid, q in queues.items():
        by_tenant.setdefault(q.tenant, []).append(qid)
    queues = {  # overflow voice sales -> voice support of the same tenant where both exist
        qid: _with_overflow(q, by_tenant[q.tenant], queues) for qid, q in queues.items()
    }
    dedicated_tenants = [t for t, p in pools.items() if p != "shared"]
    shared_tenants = [t for t, p in pools.items() if p != "dedicated"]
    agents: dict[str, AgentProfile] = {}
    for a in range(n_agents):
        shared = a % 3 == 0
        if shared:
            served = rng.sample(shared_tenants, min(4, len(shared_tenants)))
        else:
            served = [rng.choice(dedicated_tenants)]
        topics = ("sales", "support", "billing", "tech")
        skills = {s: rng.randint(1, 10) for s in topics if rng.random() < 0.8}
        for tid in served:
            skills[lang_of[tid]] = rng.randint(2, 10)
        capacity = {Channel.VOICE: 1} if rng.random() < 0.8 else {}
        if rng.random() < 0.6:
            capacity[Channel.CHAT] = rng.randint(2, 4)
        if rng.random() < 0.4:
            capacity[Channel.EMAIL] = rng.randint(1, 3)
        if not capacity:
            capacity[Channel.VOICE] = 1
        agents[f"a{a:05d}"] = AgentProfile(
            id=f"a{a:05d}", name=f"Agent {a}", home_site="s1", tenants=tuple(served),
            pool=Pool.SHARED if shared else Pool.DEDICATED, skills=skills, capacity=capacity,
        )  # fmt: skip
    spec = CenterSpec(tenants=tenants, queues=queues, agents=agents, flows={}, skills=frozenset(SKILLS))
    return Center(spec, handle_s, vip)


def _with_overflow(q: QueueSpec, siblings: list[str], queues: dict[str, QueueSpec]) -> QueueSpec:
    if q.max_wait_s is None:
        return q
    for other in siblings:
        o = queues[other]
        if other != q.id and o.channel is q.channel:
            return QueueSpec(**{**_fields(q), "overflow_queue": other})
    return QueueSpec(**{**_fields(q), "max_wait_s": None})


def _fields(q: QueueSpec) -> dict[str, Any]:
    return {name: getattr(q, name) for name in q.__slots__}


@dataclass
class Result:
    decisions: int = 0
    timed: list[int] = field(default_factory=list)  # ns per timed decision call
    wall_s: float = 0.0  # every router call, decisions or not
    calls: int = 0
    offered: int = 0
    queued_on_arrival: int = 0
    completed: int = 0
    abandoned: int = 0
    failed: int = 0
    overflowed: int = 0


def run_workload(router: Router, center: Center, n_contacts: int, seed: int) -> Result:
    """Feed ``n_contacts`` arrivals (with the follow-up events they cause) through ``router``."""
    rng = random.Random(seed)
    res = Result()
    timed = res.timed
    now_ns = time.perf_counter_ns
    queue_ids = list(center.spec.queues)
    tenants_of = {qid: q.tenant for qid, q in center.spec.queues.items()}
    channel_of = {qid: q.channel for qid, q in center.spec.queues.items()}
    # Offered load: about 95% of the center's seats, so that some contacts wait and some agents idle.
    mean_handle = sum(center.handle_s.values()) / len(center.handle_s) + 10.0
    rate = 0.95 * len(router.agents) * 1.4 / mean_handle
    agenda: list[tuple[float, int, str, str]] = []
    seq = 0

    def at(t: float, kind: str, ref: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(agenda, (t, seq, kind, ref))

    def follow(events: list[Any], t: float) -> None:
        for ev in events:
            if type(ev) is not ContactEvent:
                continue
            state = ev.state
            if state is ContactState.OFFERED:
                res.offered += 1
                at(t + rng.uniform(0.5, 4.0), "reject" if rng.random() < 0.02 else "accept", ev.contact_id)
            elif state is ContactState.CONNECTED:
                at(t + rng.expovariate(1.0 / center.handle_s[ev.queue or ""]), "complete", ev.contact_id)
            elif state is ContactState.WRAP_UP:
                at(t + 8.0, "wrap_end", f"{ev.agent_id}|{ev.contact_id}")
            elif state is ContactState.COMPLETED:
                res.completed += 1
            elif state is ContactState.ABANDONED:
                res.abandoned += 1
            elif state is ContactState.FAILED:
                res.failed += 1
            elif state is ContactState.QUEUED and ev.reason == "overflow":
                res.overflowed += 1

    t = 0.0
    agents = list(router.agents)
    rng.shuffle(agents)
    for i, aid in enumerate(agents):  # a staggered shift start (not timed: the queues are empty)
        router.login(aid, i * 0.001, ready=True)
    t = len(agents) * 0.001
    arrivals = 0
    next_tick = t + 1.0
    at(t, "arrive", "")
    wall = 0
    evs: list[Any] = []
    while agenda:
        t, _, kind, ref = heapq.heappop(agenda)
        while next_tick <= t:
            start = now_ns()
            ticked = router.tick(next_tick)
            wall += now_ns() - start
            follow(ticked, next_tick)
            next_tick += 1.0
        # Only the router call is timed: the workload's own bookkeeping (drawing the contact, finding
        # whether a follow-up still applies) happens before the clock starts, and the previous call's
        # events are released after the clock stops (``evs`` is cleared at the end of each turn).
        if kind == "arrive":
            arrivals += 1
            if arrivals < n_contacts:
                at(t + rng.expovariate(rate), "arrive", "")
            qid = queue_ids[rng.randrange(len(queue_ids))]
            tenant = tenants_of[qid]
            roll = rng.random()
            caller = (
                rng.choice(center.vip_callers[tenant]) if roll < 0.02
                else f"+1900{tenant[1:]}0000" if roll < 0.025
                else f"+4420{rng.randrange(10**7):07d}"
            )  # fmt: skip
            c = Contact(f"c{arrivals}", tenant, channel_of[qid], t, caller_id=caller)
            if rng.random() < 0.05:
                c.skills = {"tech": 3}
            start = now_ns()
            evs = router.arrive(c, t)  # not a decision: the contact has no queue yet
            wall += now_ns() - start
            if c.state is ContactState.ARRIVED:
                start = now_ns()
                queued = router.enqueue(c.id, qid, t)
                end = now_ns()
                timed.append(end - start)
                wall += end - start
                evs += queued
                del queued  # its events go with ``evs`` at the end of the turn, not in the next timing
                if c.state is ContactState.QUEUED:
                    res.queued_on_arrival += 1
                    at(t + rng.expovariate(1 / 240.0), "abandon", c.id)
        elif kind == "wrap_end":
            aid, cid = ref.split("|")
            if cid in router.agents[aid].wrapping:
                start = now_ns()
                evs = router.end_wrap_up(aid, t, cid)
                end = now_ns()
                timed.append(end - start)
                wall += end - start
        else:
            c = router.contacts.get(ref)
            state = c.state if c is not None else None
            if kind == "reject" and state is ContactState.OFFERED:
                start = now_ns()
                evs = router.reject(ref, t)
                end = now_ns()
                timed.append(end - start)
                wall += end - start
            elif (kind == "accept" and state is ContactState.OFFERED) or (
                kind == "abandon" and state is ContactState.QUEUED
            ):
                start = now_ns()
                evs = router.accept(ref, t) if kind == "accept" else router.abandon(ref, t)
                wall += now_ns() - start
            elif kind == "complete" and state is ContactState.CONNECTED:
                start = now_ns()
                evs = router.complete(ref, t, wrap_up_s=8.0)
                wall += now_ns() - start
        res.calls += 1
        follow(evs, t)
        evs = []
    res.decisions = router.decisions
    res.wall_s = wall / 1e9
    return res


def _pct(sorted_ns: list[int], p: float) -> float:
    if not sorted_ns:
        return 0.0
    return sorted_ns[min(len(sorted_ns) - 1, int(p * len(sorted_ns)))] / 1e6


def measure(
    router_cls: type[Router], center: Center, n_contacts: int, seed: int, *, keep_gc: bool = False
) -> dict[str, Any]:
    router = router_cls(center.spec, offer_timeout_s=30.0, wrap_up_s=8.0)
    gc.collect()
    gc.freeze()
    if not keep_gc:
        gc.disable()
    try:
        res = run_workload(router, center, n_contacts, seed)
    finally:
        gc.enable()
        gc.unfreeze()
    garbage = gc.collect()  # unreachable objects the run left behind (0: the collector had nothing to do)
    timed = sorted(res.timed)
    per_s = len(timed) / (sum(timed) / 1e9) if timed else 0.0
    return {
        "contacts": n_contacts,
        "timed_decisions": len(timed),
        "decisions_total": res.decisions,
        "decisions_per_s": round(per_s),
        "p50_ms": round(_pct(timed, 0.50), 4),
        "p99_ms": round(_pct(timed, 0.99), 4),
        "max_ms": round(timed[-1] / 1e6, 3) if timed else 0.0,
        "router_calls_per_s": round((res.calls + len(router.agents)) / res.wall_s) if res.wall_s else 0,
        "offered": res.offered,
        "queued_on_arrival": res.queued_on_arrival,
        "completed": res.completed,
        "abandoned": res.abandoned,
        "failed": res.failed,
        "overflowed": res.overflowed,
        "cyclic_garbage": garbage,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--queues", type=int, default=200)
    ap.add_argument("--contacts", type=int, default=50_000)
    ap.add_argument("--naive-contacts", type=int, default=300, help="contacts for the naive baseline")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the indexed router; the best is reported")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--gc", action="store_true", help="keep the cyclic garbage collector on during the runs")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    center = build_center(args.agents, args.queues, rng)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    Router(center.spec)
    index_s = time.perf_counter() - t0
    runs = [measure(Router, center, args.contacts, args.seed, keep_gc=args.gc) for _ in range(max(1, args.repeat))]
    indexed = max(runs, key=lambda r: r["decisions_per_s"])  # like timeit: the least disturbed run
    indexed["runs_decisions_per_s"] = [r["decisions_per_s"] for r in runs]
    indexed["median_decisions_per_s"] = round(statistics.median(indexed["runs_decisions_per_s"]))
    naive = measure(ReferenceRouter, center, min(args.naive_contacts, args.contacts), args.seed, keep_gc=args.gc)
    ratio = indexed["decisions_per_s"] / naive["decisions_per_s"] if naive["decisions_per_s"] else 0.0
    report = {
        "agents": args.agents,
        "queues": args.queues,
        "channels": sorted({q.channel.value for q in center.spec.queues.values()}),
        "seed": args.seed,
        "build_center_s": round(build_s, 3),
        "router_init_s": round(index_s, 3),
        "indexed": indexed,
        "naive": naive,
        "speedup": round(ratio, 1),
        "collector": "on" if args.gc else "off during runs",
        "target": {"decisions_per_s": TARGET_DECISIONS_PER_S, "p99_ms": TARGET_P99_MS},
        "meets_target": indexed["decisions_per_s"] >= TARGET_DECISIONS_PER_S and indexed["p99_ms"] < TARGET_P99_MS,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"center: {args.agents} agents, {args.queues} queues, channels {', '.join(report['channels'])}")
    print(
        f"router init: {index_s:.2f} s; indexed runs: {indexed['runs_decisions_per_s']} decisions/s (best shown, "
        f"median {indexed['median_decisions_per_s']:,}); garbage collector {report['collector']}"
    )
    for name, r in (("indexed", indexed), ("naive", naive)):
        print(
            f"{name:8} {r['decisions_per_s']:>10,} decisions/s   p50 {r['p50_ms']:.4f} ms   "
            f"p99 {r['p99_ms']:.4f} ms   max {r['max_ms']:.3f} ms   "
            f"({r['timed_decisions']:,} timed decisions, {r['contacts']:,} contacts)"
        )
    print(
        f"target   {TARGET_DECISIONS_PER_S:>10,} decisions/s   p99 < {TARGET_P99_MS} ms   "
        f"-> {'met' if report['meets_target'] else 'NOT met'}; indexed/naive = {ratio:,.0f}x"
    )
    print(
        f"workload: {indexed['offered']:,} offers, {indexed['queued_on_arrival']:,} waited, "
        f"{indexed['completed']:,} completed, {indexed['abandoned']:,} abandoned, "
        f"{indexed['overflowed']:,} overflowed, {indexed['failed']:,} failed (blocked callers); "
        f"all router calls: {indexed['router_calls_per_s']:,}/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
