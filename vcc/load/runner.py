"""``vcc load``: drive a running cluster with a scenario through its public gRPC API only.

Customers arrive on the scenario's schedule and submit their contact to a site of the tenant (the
next site when one fails, as a customer's retry would); bot agents log in at their home sites and
work every offer; when a site is lost (its agents' stream ends, or it stops answering ``GetStatus``)
its agents log in at a survivor. Every site's events are watched live (``WatchEvents``, resumed from
the last sequence seen when a stream breaks) and the figures are computed from them at the end.

A media scenario (``media: true``) sends its voice customers through the sites' web front doors as
aiortc callers with real audio, and its bot agents work on the agent desktop's WebSocket with an
audio leg of their own (:mod:`vcc.load.media`, :mod:`vcc.load.desks`); other channels stay on gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc

from vcc.client.contacts import SiteClient, submission
from vcc.config import ClusterConfig
from vcc.errors import VccError
from vcc.load.agents import Roster
from vcc.load.audio import barge_in_prompts, legs_summary
from vcc.load.desks import DeskRoster
from vcc.load.media import WebCall, WebCaller
from vcc.load.sampling import Arrival, schedule
from vcc.load.scenario import Scenario, read_offsets
from vcc.load.soak import RssSampler
from vcc.load.summary import Journey, by_site, figures, fold
from vcc.web.frontdoor import is_web_widget

DURABLE = ("chat", "email", "sms")
LOST_AFTER_FAILURES = 3  # GetStatus failures in a row (0.5 s apart) before a site's agents move


@dataclass
class Progress:
    elapsed_s: float = 0.0
    duration_s: float = 0.0
    submitted: int = 0
    accepted: int = 0
    ended: int = 0
    phase: str = "load"


@dataclass
class LoadState:
    accepted: dict[str, tuple[str, float, int]] = field(default_factory=dict)  # cid -> (site, offset, stream)
    refused: Counter[str] = field(default_factory=Counter)
    retried_elsewhere: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    ended: set[str] = field(default_factory=set)
    last_seq: dict[str, int] = field(default_factory=dict)
    site_losses: list[dict[str, Any]] = field(default_factory=list)
    web_ids: set[str] = field(default_factory=set)  # contact ids the front doors chose for our web callers
    web_calls: list[WebCall] = field(default_factory=list)


class LoadRunner:
    def __init__(self, config: ClusterConfig, scenario: Scenario, scenario_dir: Path, *,
                 run_dir: Path | None = None, on_progress: Callable[[Progress], None] | None = None) -> None:
        self.config = config
        self.scenario = scenario
        self.scenario_dir = scenario_dir
        self.run_dir = run_dir
        self.on_progress = on_progress
        self.tag = f"ld{scenario.seed}-{uuid.uuid4().hex[:6]}"
        self.rng = random.Random(scenario.seed)
        self.sites = {s.id: s.grpc_address for s in config.sites}
        self.state = LoadState()
        self.clients: dict[str, SiteClient] = {}
        agents_rng = random.Random(f"{scenario.seed}:agents")
        self.roster: Roster | DeskRoster = (DeskRoster(config, scenario.agents, agents_rng) if scenario.media
                                            else Roster(config, scenario.agents, agents_rng))
        self.key_prompts = barge_in_prompts(config) if scenario.media else set()
        self.http: aiohttp.ClientSession | None = None
        self.progress = Progress(duration_s=scenario.duration_s)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.ended_changed = asyncio.Event()
        self.entries = self._entries()
        self.thresholds = {q.id: q.service_level.threshold_s for t in config.tenants for q in t.queues}

    def _entries(self) -> list[tuple[str, str, list[str]]]:
        """Per stream: (entry point address, channel, sites to try first)."""
        out = []
        tenants = {t.id: t for t in self.config.tenants}
        for a in self.scenario.arrivals:
            t = tenants[a.tenant]
            web_only = self.scenario.media and a.channel == "voice"  # media callers: the web voice widget
            point = next(e for e in t.entry_points if (a.entry_point is not None and e.address == a.entry_point)
                         or (a.entry_point is None and e.channel.value == a.channel
                             and (not web_only or is_web_widget(e.address))))
            out.append((point.address, point.channel.value, list(a.sites or t.home_sites)))
        return out

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # ------------------------------------------------------------------ events

    async def _watch(self, site: str, stop: asyncio.Event) -> None:
        """The site's contact events, live; after a break, replayed from the last sequence seen."""
        while not stop.is_set():
            client = SiteClient(self.sites[site])
            try:
                seq = self.state.last_seq.get(site, 0)
                async for e in client.events(from_seq=seq + 1 if seq else 0):
                    self.state.last_seq[site] = max(seq, int(e.get("seq", 0)))
                    seq = self.state.last_seq[site]
                    if self._ours(e):
                        self.state.events.append(e)
                        if e.get("state") in ("completed", "abandoned", "failed"):
                            self.state.ended.add(e["contact_id"])
                            self.ended_changed.set()
            except (grpc.aio.AioRpcError, OSError):
                pass
            finally:
                await client.close()
            await asyncio.sleep(0.5)

    def _ours(self, e: dict[str, Any]) -> bool:
        cid = str(e.get("contact_id", ""))
        if cid.startswith(self.tag) or cid in self.state.web_ids:
            return True
        if e.get("state") == "arrived" and str((e.get("data") or {}).get("caller_id", "")).startswith(self.tag):
            self.state.web_ids.add(cid)  # a web caller's contact: its id was chosen by the front door
            return True
        return False

    # ------------------------------------------------------------------ sites lost and back

    async def _health(self, stop: asyncio.Event) -> None:
        failures: Counter[str] = Counter()
        clients = {s: SiteClient(a) for s, a in self.sites.items()}
        try:
            while not stop.is_set():
                for site, client in clients.items():
                    ended = any(p.site == site and p.ended.is_set() for p in self.roster.pools.values())
                    try:
                        status = await client.status(timeout_s=1.0)
                        failures[site] = 0
                        if site in self.roster.lost and not status.fenced:
                            self.roster.site_back(site)
                            self._loss(site)["back_ts"] = time.time()
                    except grpc.aio.AioRpcError:
                        failures[site] += 1
                    if site not in self.roster.lost and (ended or failures[site] >= LOST_AFTER_FAILURES):
                        self.state.site_losses.append({"site": site, "lost_ts": time.time(), "back_ts": None})
                        self._spawn(self.roster.site_lost(site))
                await asyncio.sleep(0.5)
        finally:
            for c in clients.values():
                await c.close()

    def _loss(self, site: str) -> dict[str, Any]:
        return next(x for x in reversed(self.state.site_losses) if x["site"] == site)

    # ------------------------------------------------------------------ customers

    async def _customer(self, cid: str, arrival: Arrival) -> None:
        stream = self.scenario.arrivals[arrival.stream]
        address, channel, first = self.entries[arrival.stream]
        order = self.rng.sample(first, len(first))
        order += [s for s in self.sites if s not in order and s not in self.roster.lost]
        if self.scenario.media and channel == "voice":
            await self._web_customer(cid, arrival, address, order)
            return
        sub = submission(cid, channel, address, f"+1555{self.rng.randrange(10**6, 10**7)}", dtmf=stream.dtmf,
                         patience_s=arrival.patience_s)
        unknown = False  # a submission timed out: the site may have taken it
        base = cid
        for attempt, site in enumerate(order):
            client = self.clients[site]
            if unknown and channel not in DURABLE:  # a caller who retries makes a new call; durable
                sub = submission(f"{base}r{attempt}", channel, address, sub.caller_id, dtmf=stream.dtmf,
                                 patience_s=arrival.patience_s)  # contacts keep their id (sites dedupe it)
                cid = sub.contact_id
            try:
                result = (await client.submit([sub], timeout_s=1.0))[0]
            except grpc.aio.AioRpcError as e:
                self.state.refused[f"{site}: {e.code().name}"] += 1
                unknown = unknown or e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                continue
            if result.accepted:
                self.state.accepted[cid] = (site, arrival.offset_s, arrival.stream)
                self.state.retried_elsewhere += attempt > 0
                self.progress.accepted += 1
                return
            self.state.refused[f"{site}: {result.error[:60]}"] += 1

    async def _web_customer(self, name: str, arrival: Arrival, widget: str, order: list[str]) -> None:
        """A caller with real audio on the tenant's web voice widget, at the first site that takes it."""
        stream = self.scenario.arrivals[arrival.stream]
        urls = {s.id: s.http_url for s in self.config.sites}

        def on_contact(call: WebCall) -> None:
            self.state.web_ids.add(call.contact_id)
            self.state.accepted[call.contact_id] = (call.site, arrival.offset_s, arrival.stream)
            self.progress.accepted += 1

        assert self.http is not None
        for attempt, site in enumerate(order):
            caller = WebCaller(urls[site], widget, name, dtmf=stream.dtmf, patience_s=arrival.patience_s or None,
                               key_prompts=self.key_prompts, on_contact=on_contact)
            call = await caller.run(self.http)
            if call.contact_id:
                self.state.web_calls.append(call)
                self.state.retried_elsewhere += attempt > 0
                return
            self.state.refused[f"{site}: {call.error[:60]}"] += 1

    async def _customers(self) -> None:
        replayed = {i: read_offsets(self.scenario_dir / a.replay_csv)
                    for i, a in enumerate(self.scenario.arrivals) if a.replay_csv}
        t0 = time.monotonic()
        for n, arrival in enumerate(schedule(self.scenario.arrivals, self.scenario.duration_s, self.scenario.seed,
                                             replayed), start=1):
            delay = t0 + arrival.offset_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.progress.submitted += 1
            self._spawn(self._customer(f"{self.tag}-{n}", arrival))

    # ------------------------------------------------------------------ the run

    async def run(self) -> dict[str, Any]:
        sc = self.scenario
        stop = asyncio.Event()
        self.clients = {s: SiteClient(a) for s, a in self.sites.items()}
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) if sc.media else None
        watchers = [self._spawn(self._watch(s, stop)) for s in self.sites]
        sampler = RssSampler(self.run_dir, sc.soak_report_every_s) if sc.soak_report_every_s and self.run_dir else None
        sampling = self._spawn(sampler.run(stop)) if sampler else None
        await self.roster.start()
        agents_in = self.roster.logged_in
        health = self._spawn(self._health(stop))
        ticker = self._spawn(self._tick(stop))
        started = time.time()
        try:
            await self._customers()
            self.progress.phase = "drain"
            await asyncio.sleep(0.5)
            end = time.monotonic() + sc.drain_s
            while time.monotonic() < end and not set(self.state.accepted) <= self.state.ended:
                self.ended_changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ended_changed.wait(), 0.2)
            await asyncio.sleep(0.5)  # the last events reach the watchers
        finally:
            stop.set()
            for t in (health, ticker, *watchers):
                t.cancel()
            await self.roster.stop()
            for t in list(self.tasks):
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for c in self.clients.values():
                await c.close()
            if self.http is not None:
                await self.http.close()
        return self.report(started, agents_in, sampler, sampling)

    async def _tick(self, stop: asyncio.Event) -> None:
        t0 = time.monotonic()
        while not stop.is_set():
            self.progress.elapsed_s = time.monotonic() - t0
            self.progress.ended = len(self.state.ended)
            if self.on_progress is not None:
                self.on_progress(self.progress)
            await asyncio.sleep(0.25)

    def threshold_of(self, j: Journey) -> float:
        if self.scenario.service_level_threshold_s is not None:
            return self.scenario.service_level_threshold_s
        return self.thresholds.get(j.queue or "", 20.0)

    def report(self, started: float, agents_in: int, sampler: Any, sampling: Any) -> dict[str, Any]:
        sc = self.scenario
        counted = {cid for cid, (_, offset, _) in self.state.accepted.items() if offset >= sc.warmup_s}
        journeys = fold(self.state.events, keep=counted.__contains__)
        for cid in counted - set(journeys):
            journeys[cid] = Journey(cid, site=self.state.accepted[cid][0])  # accepted, never seen in an event
        total = figures(journeys.values(), self.threshold_of)
        twice = sorted(c for c, j in journeys.items() if j.completions > 1)
        return {
            "scenario": sc.name, "tag": self.tag, "seed": sc.seed, "duration_s": sc.duration_s,
            "warmup_s": sc.warmup_s, "started_ts": started,
            "agents_logged_in": agents_in, "submitted": self.progress.submitted,
            "accepted": len(self.state.accepted), "refused": dict(self.state.refused.most_common(8)),
            "retried_at_another_site": self.state.retried_elsewhere,
            "total": total.to_json(),
            "per_site": {s: f.to_json() for s, f in by_site(journeys.values(), self.threshold_of).items()},
            "per_stream": {f"{i}:{a.tenant}/{self.entries[i][0]}": figures(
                [j for c, j in journeys.items() if self.state.accepted.get(c, ("", 0, -1))[2] == i],
                self.threshold_of).to_json() for i, a in enumerate(sc.arrivals)},
            "never_ended": sorted(c for c, j in journeys.items() if j.final is None)[:20],
            "completed_twice": twice[:20],
            "agents_max_in_hand": self.roster.max_in_hand(),
            "site_losses": self.state.site_losses,
            "rehomes": [r.__dict__ for r in self.roster.rehomes],
            "soak": sampler.report(sc.warmup_s) if sampler else None,
            "media": self.media_report() if sc.media else None,
            "waits_s": sorted(total.waits_s),
        }


    def media_report(self) -> dict[str, Any]:
        """Per web call what its caller heard, and the same over every caller leg and every agent leg."""
        calls = self.state.web_calls
        assert isinstance(self.roster, DeskRoster)
        return {
            "calls": len(calls), "connected": sum("connected" in c.states for c in calls),
            "keys_pressed": sum(len(c.keys_pressed) for c in calls),
            "dtmf_methods": dict(Counter(c.dtmf_method for c in calls if c.keys_pressed)),
            "caller_legs": legs_summary(c.audio for c in calls if c.audio is not None),
            "agent_legs": legs_summary(self.roster.agent_legs()),
            "desk_failures": self.roster.failures()[:20],
            "wrap_ups_already_ended": self.roster.wrap_ups_already_ended(),
            "desk_login_errors": self.roster.login_errors,
            "per_call": [{"contact_id": c.contact_id, "site": c.site, "final": c.states[-1] if c.states else None,
                          "keys": c.keys_pressed, "error": c.error, **(c.audio.to_json() if c.audio else {})}
                         for c in calls[:50]],
        }


async def run_load(config: ClusterConfig, scenario: Scenario, scenario_dir: Path, *, run_dir: Path | None = None,
                   on_progress: Callable[[Progress], None] | None = None) -> dict[str, Any]:
    return await LoadRunner(config, scenario, scenario_dir, run_dir=run_dir, on_progress=on_progress).run()


async def require_a_site(config: ClusterConfig, timeout_s: float = 3.0) -> None:
    """Refuse to start a load no site would take: at least one site must answer its status call (a site
    that is down or fenced at the start is the drill's business, and the run carries on without it)."""
    clients = [SiteClient(s.grpc_address) for s in config.sites]
    try:
        answers = await asyncio.gather(*(c.status(timeout_s=timeout_s) for c in clients), return_exceptions=True)
    finally:
        for c in clients:
            await c.close()
    if all(isinstance(a, BaseException) for a in answers):
        where = ", ".join(f"{s.id} at {s.grpc_address}" for s in config.sites)
        raise VccError(f"no site of cluster {config.name!r} answers ({where}): is it up? (`vcc up CLUSTER`)")


def lost_or_doubled(report: dict[str, Any]) -> bool:
    return bool(report["never_ended"] or report["completed_twice"])



