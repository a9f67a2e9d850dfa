"""Failover bench: how long a site's tenants go unserved when the site dies, over ``--kills`` kills.

A three-site cluster (a copy of ``cluster/three-sites.yaml`` with its own ports and temp dirs, and
its agents' password hashes remade with the fewest PBKDF2 iterations allowed so logins are cheap)
runs with bot agents logged in at their home sites and a steady load of durable contacts (chat,
e-mail, SMS) of every tenant. A customer sends each contact to one of its tenant's home sites and,
when that fails, retries at the next site. Then, in turn, each site (B, C, A, B, C, ...) is killed
with SIGKILL (every process of the site, its etcd member included) and this bench measures:

- kill -> ``adopted``: a survivor won the adoption election and took the dead site's durable
  contacts (the ``adopted`` site event in the survivor's event log);
- kill -> first new contact of the dead site's tenants (one submitted after the kill) completed
  at another site;
- kill -> the dead site's agents logged in again at a survivor (refused while the dead site's lease
  lives), and kill -> the last adopted contact completed.

The site is brought back (``launcher.up(..., sites=[X])``), its agents go home (not ready, drained,
logged out at the survivor, logged in at home) and a probe contact must complete before the next
kill. At the end every site's event log is read: each accepted durable contact must have completed
exactly once.

    .venv/bin/python bench/failover.py [--kills 5] [--rate 20] [--json]

Baseline, in the same run (``--baseline-kills``, default 3): the same cluster with the peer probes
off (``runtime.peer_probe: false``), so a dead site is noticed by its lease expiring alone.

Target: kill -> adopted <= 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from tests.integration.cluster_files import make_cluster_file  # noqa: E402
from vcc.client.bots import BotAgentPool  # noqa: E402
from vcc.client.contacts import SiteClient, submission  # noqa: E402
from vcc.config import ClusterConfig, load_config  # noqa: E402
from vcc.config.credentials import MIN_ITERATIONS, hash_password  # noqa: E402
from vcc.drills.logs import LogTail, all_events, etcd_leader, free_port_base  # noqa: E402
from vcc.proto.v1 import site_pb2 as pb  # noqa: E402
from vcc.runtime import launcher  # noqa: E402

TARGET_ADOPTED_S = 3.0
DURABLE = ("chat", "email", "sms")
ROTATION = ("B", "C", "A")


def password(agent_id: str) -> str:
    return f"demo-{agent_id}"  # the documented password of every demo agent


# ====================================================================== cluster file and event logs


def write_cluster(work: Path, port_base: int, *, peer_probe: bool = True) -> Path:
    """The shipped three-site cluster with its own name, ports and temp dirs, and its agents'
    password hashes remade with the fewest iterations allowed (a login then costs ~0.05 s of CPU);
    ``peer_probe=False`` leaves the detection of a dead site to lease expiry alone (the baseline)."""
    path = make_cluster_file(work, port_base=port_base)
    raw = yaml.safe_load(path.read_text())
    raw.setdefault("runtime", {})["peer_probe"] = peer_probe
    for agent in raw["agents"]:
        agent["password_hash"] = hash_password(password(agent["id"]), iterations=MIN_ITERATIONS)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# ====================================================================== load and agents


class TimedBots(BotAgentPool):
    """Bot agents at one site that report each contact whose completion was acknowledged."""

    def __init__(self, site: str, address: str, agents: list[tuple[str, str]],
                 on_completed: Callable[[str, str], None], **kwargs: Any) -> None:
        super().__init__(address, agents, **kwargs)
        self.site = site
        self.on_completed = on_completed

    async def command(self, agent_id: str, **kind: Any) -> pb.CommandResult:
        result = await super().command(agent_id, **kind)
        done = kind.get("complete")
        if done is not None and result.ok:
            self.on_completed(done.contact_id, self.site)
        return result

    async def login_missing(self) -> int:
        """Log in (and make ready) the agents that are not logged in yet; returns how many are."""
        missing = [(a, p) for a, p in self.agents if a not in self.stats.logged_in]
        results = await asyncio.gather(*(self.command(a, login=pb.Login(password=p)) for a, p in missing))
        newly = [a for (a, _), r in zip(missing, results, strict=True) if r.ok]
        self.stats.logged_in.update(newly)
        await asyncio.gather(*(self.command(a, ready=pb.Ready()) for a in newly))
        return len(self.stats.logged_in)


@dataclass
class Accepted:
    site: str
    submitted: float
    tenant: str


@dataclass
class Load:
    accepted: dict[str, Accepted] = field(default_factory=dict)
    done: dict[str, tuple[float, str]] = field(default_factory=dict)  # contact -> (time, site of the agent)
    refused: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def completed(self, cid: str, site: str) -> None:
        self.done.setdefault(cid, (time.time(), site))
        self.changed.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``predicate()`` holds (looked at on each completion, and every 0.1 s)."""
        end = time.monotonic() + timeout_s
        while not predicate():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.1))
        return True


class Bench:
    def __init__(self, config: ClusterConfig, config_path: Path, run_dir: Path, args: argparse.Namespace) -> None:
        self.config = config
        self.config_path = config_path
        self.run_dir = run_dir
        self.args = args
        self.sites = {s.id: s.grpc_address for s in config.sites}
        self.home_agents = {s: [(a.id, password(a.id)) for a in config.agents if a.home_site == s]
                            for s in self.sites}
        self.agent_tenants = {a.id: a.tenants for a in config.agents}
        self.tenant_homes = {t.id: list(t.home_sites) for t in config.tenants}
        self.entries = [(t.id, e.address, e.channel.value) for t in config.tenants for e in t.entry_points
                        if e.channel.value in DURABLE]
        self.load = Load()
        self.clients = {s: SiteClient(a) for s, a in self.sites.items()}
        self.pools: list[TimedBots] = []
        self.tails = {s: LogTail(run_dir / "sites" / s / "events") for s in self.sites}
        self.events: list[dict[str, Any]] = []
        self.rng = random.Random(args.seed)
        self.ids = itertools.count(1)
        self.t_kill = 0.0
        self.kill_times: list[float] = []  # seconds after the start
        self.started = time.time()

    def handle_s(self, channel: str) -> float:
        return self.rng.uniform(0.2, 2 * self.args.handle_s - 0.2) if self.args.handle_s > 0.2 else self.args.handle_s

    def pool(self, site: str, agents: list[tuple[str, str]]) -> TimedBots:
        p = TimedBots(site, self.sites[site], agents, self.load.completed, handle_s=self.handle_s)
        self.pools.append(p)
        return p

    def poll_events(self) -> list[dict[str, Any]]:
        new = [e for tail in self.tails.values() for e in tail.new()]
        self.events += new
        return new

    # ------------------------------------------------------------------ customers

    async def customers(self, stop: asyncio.Event, per_s: float) -> None:
        while not stop.is_set():
            tenant, address, channel = self.rng.choice(self.entries)
            cid = f"fo{next(self.ids)}"
            homes = self.rng.sample(self.tenant_homes[tenant], len(self.tenant_homes[tenant]))
            order = homes + sorted(set(self.sites) - set(homes))
            submitted = time.time()
            for attempt, site in enumerate(order):
                try:
                    result = (await self.clients[site].submit(
                        [submission(cid, channel, address, f"+1555{next(self.ids):07d}")], timeout_s=1.0))[0]
                except Exception as e:  # a dead site: the customer tries the next one
                    self.load.refused[f"{site}: {type(e).__name__}"] += 1
                    continue
                if result.accepted:
                    self.load.accepted[cid] = Accepted(site, submitted, tenant)
                    self.load.retried += attempt > 0
                    break
                self.load.refused[f"{site}: {result.error[:50]}"] += 1
            await asyncio.sleep(self.rng.expovariate(per_s))

    async def probe(self, site: str, timeout_s: float = 30.0) -> float:
        """A contact of a tenant ``site`` is home to, sent to ``site``: seconds until completed."""
        tenant, address, channel = next(e for e in self.entries if site in self.tenant_homes[e[0]])
        cid = f"probe{next(self.ids)}"
        t0 = time.time()
        deadline = time.monotonic() + timeout_s
        while cid not in self.load.accepted and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                r = (await self.clients[site].submit([submission(cid, channel, address, "+15550000000")],
                                                     timeout_s=2.0))[0]
                if r.accepted:
                    self.load.accepted[cid] = Accepted(site, t0, tenant)
                    break
            await asyncio.sleep(0.2)
        if not await self.load.wait_until(lambda: cid in self.load.done, deadline - time.monotonic()):
            raise RuntimeError(f"site {site}: probe contact {cid} did not complete in {timeout_s:.0f} s")
        return self.load.done[cid][0] - t0

    # ------------------------------------------------------------------ one kill

    def survivor_for(self, agent_id: str, dead: str) -> str:
        homes = [s for t in self.agent_tenants[agent_id] for s in self.tenant_homes[t] if s != dead]
        return homes[0] if homes else next(s for s in sorted(self.sites) if s != dead)

    async def relogin(self, dead: str, deadline_s: float) -> tuple[list[TimedBots], float | None]:
        """The dead site's agents log in at survivors (retrying while its lease still lives)."""
        by_site: dict[str, list[tuple[str, str]]] = {}
        for agent_id, pw in self.home_agents[dead]:
            by_site.setdefault(self.survivor_for(agent_id, dead), []).append((agent_id, pw))
        pools = [self.pool(site, agents) for site, agents in by_site.items()]
        for p in pools:
            await p.start()
        t_kill = self.t_kill
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if all(len(p.stats.logged_in) == len(p.agents) for p in pools):
                return pools, time.time() - t_kill
            await asyncio.sleep(0.1)
            for p in pools:
                await p.login_missing()
        return pools, None

    async def go_home(self, site: str, visiting: list[TimedBots]) -> TimedBots:
        """Agents who moved to survivors drain their contacts there and log in at home again."""
        for p in visiting:
            await asyncio.gather(*(p.command(a, not_ready=pb.NotReady(reason_code="going_home"))
                                   for a in p.stats.logged_in))
        await self.load.wait_until(lambda: not any(sum(p.stats.in_hand.values()) for p in visiting), 10.0)
        await asyncio.sleep(0.3)  # an offer made just before not-ready is accepted and handled
        for p in visiting:
            await p.stop(logout=True)
        home = self.pool(site, self.home_agents[site])
        await home.start()
        end = time.monotonic() + 15
        while len(home.stats.logged_in) < len(home.agents) and time.monotonic() < end:
            await asyncio.sleep(0.2)
            await home.login_missing()
        return home

    async def kill_one(self, site: str, home_pools: dict[str, TimedBots]) -> dict[str, Any]:
        await asyncio.sleep(self.args.before_kill_s)
        in_flight = sum(1 for cid, a in self.load.accepted.items() if a.site == site and cid not in self.load.done)
        dead = next(s for s in self.config.sites if s.id == site)
        survivor = next(s for s in self.config.sites if s.id != site)
        leader = await asyncio.to_thread(etcd_leader, survivor.etcd_client_url)
        self.poll_events()
        seen = len(self.events)
        self.t_kill = t_kill = time.time()
        self.kill_times.append(t_kill - self.started)
        launcher.kill_site(self.run_dir, site)
        relogin = asyncio.ensure_future(self.relogin(site, 30.0))
        tenants = {t for t, homes in self.tenant_homes.items() if site in homes}
        adopted: dict[str, Any] | None = None
        detected: list[float] = []
        first_new: float | None = None
        end = time.monotonic() + 30
        while time.monotonic() < end and (adopted is None or first_new is None):
            await asyncio.sleep(0.05)
            for e in self.poll_events():
                if e.get("kind") == "site" and e.get("data", {}).get("dead_site") == site and e["ts"] >= t_kill - 1:
                    if e["event"] == "adopted":
                        adopted = e
                    elif e["event"] == "site_down_detected":
                        detected.append(e["ts"] - t_kill)
            news = [done for cid, (done, at) in self.load.done.items()
                    if at != site and (a := self.load.accepted.get(cid)) is not None
                    and a.submitted > t_kill and a.tenant in tenants]
            if news:
                first_new = min(news) - t_kill
        pools, relogin_s = await relogin
        await asyncio.sleep(self.args.down_s)
        t_up = time.monotonic()
        await asyncio.to_thread(launcher.up, self.config, self.config_path, self.run_dir, sites=[site],
                                log=lambda m: None)
        up_s = time.monotonic() - t_up
        old = self.clients[site]
        self.clients[site] = SiteClient(self.sites[site])  # a fresh channel: no reconnect back-off
        await old.close()
        await home_pools[site].stop(logout=False)
        home_pools[site] = await self.go_home(site, pools)
        probe_s = await self.probe(site)
        return {
            "site": site,
            "in_flight_at_kill": in_flight,
            # etcd renews every lease when a new leader takes over: killing the leader's site adds an
            # election to the time its lease takes to run out
            "etcd_leader_killed": leader == dead.etcd_member_name if leader else None,
            "detected_s": round(min(detected), 3) if detected else None,
            "adopted_s": round(adopted["data"]["adopted_ts"] - t_kill, 3) if adopted else None,
            "adopter": adopted["site"] if adopted else None,
            "adopted_contacts": adopted["data"]["contacts"] if adopted else 0,
            "first_new_contact_completed_s": round(first_new, 3) if first_new is not None else None,
            "agents_relogged_s": round(relogin_s, 3) if relogin_s is not None else None,
            "_seen": seen,
            "_t_kill": t_kill,
            "site_up_again_s": round(up_s, 1),
            "probe_completed_s": round(probe_s, 3),
        }

    # ------------------------------------------------------------------ the run

    async def run(self) -> dict[str, Any]:
        args = self.args
        home_pools = {s: self.pool(s, agents) for s, agents in self.home_agents.items()}
        await asyncio.gather(*(p.start() for p in home_pools.values()))
        end = time.monotonic() + 30  # a site fenced for a moment (a busy machine) refuses logins
        while any(len(p.stats.logged_in) < len(p.agents) for p in home_pools.values()) and time.monotonic() < end:
            await asyncio.sleep(0.3)
            await asyncio.gather(*(p.login_missing() for p in home_pools.values()))
        for s, p in home_pools.items():
            if len(p.stats.logged_in) < len(p.agents):
                raise RuntimeError(f"site {s}: agents did not log in: {p.stats.login_errors}")
        stop = asyncio.Event()
        customers = [asyncio.ensure_future(self.customers(stop, args.rate / 4)) for _ in range(4)]
        kills = []
        try:
            for k in range(args.kills):
                site = ROTATION[k % len(ROTATION)]
                say(f"kill {k + 1}/{args.kills}: site {site}")
                kills.append(await self.kill_one(site, home_pools))
                say(f"  {json.dumps({k: v for k, v in kills[-1].items() if not k.startswith('_')})}")
        finally:
            stop.set()
            await asyncio.gather(*customers, return_exceptions=True)
        await self.load.wait_until(lambda: set(self.load.accepted) <= set(self.load.done), args.drain_s)
        await asyncio.sleep(0.5)  # a durable contact's end is logged once etcd has recorded it
        for p in self.pools:
            await p.stop(logout=False)
        for c in self.clients.values():
            await c.close()
        completed_at: dict[str, float] = {}
        check = self.check(completed_at)
        self.poll_events()
        bounds = [k["_seen"] for k in kills] + [len(self.events)]
        for i, kill in enumerate(kills):
            t_kill, reason = kill.pop("_t_kill"), f"adopted_from:{kill['site']}"
            ids = {e["contact_id"] for e in self.events[bounds[i]:bounds[i + 1]]
                   if e.get("kind") == "contact" and e.get("reason") == reason}
            ends = [completed_at[c] for c in ids if c in completed_at]  # from the logs: the adopter's end
            kill["adopted_all_completed_s"] = round(max(ends) - t_kill, 3) if ends else None
            kill["adopted_never_completed"] = len(ids) - len(ends)
        for kill in kills:
            kill.pop("_seen")
        return {"kills": kills, "exactly_once": check}

    def check(self, completed_at: dict[str, float]) -> dict[str, Any]:
        """Every accepted contact completed exactly once, from every site's event log (and, into
        ``completed_at``, when each contact's last completion was logged)."""
        ends: Counter[str] = Counter()
        finals: Counter[str] = Counter()
        site_events: Counter[str] = Counter()
        journeys: dict[str, list[str]] = {}  # contact -> "site:state(reason)", for the report's examples
        for e in all_events(self.run_dir):
            if e.get("kind") == "site":
                site_events[e["event"]] += 1
            if e.get("kind") == "contact":
                journeys.setdefault(e["contact_id"], []).append(
                    f"{e.get('site')}:{e['state']}" + (f"({e['reason']})" if e.get("reason") else ""))
            if e.get("kind") == "contact" and e.get("state") in ("completed", "abandoned", "failed"):
                finals[e["state"]] += 1
                if e["state"] == "completed":
                    ends[e["contact_id"]] += 1
                    completed_at[e["contact_id"]] = e["ts"]
        accepted = set(self.load.accepted)
        missing = sorted(accepted - set(ends))
        twice = sorted(c for c in accepted if ends[c] > 1)
        return {"accepted": len(accepted), "completed_once": sum(1 for c in accepted if ends[c] == 1),
                "missing": len(missing), "completed_twice": len(twice), "final_states": dict(finals),
                "retried_at_another_site": self.load.retried,
                "examples": {"missing": {c: self.story(c, journeys) for c in missing[:5]},
                             "twice": {c: self.story(c, journeys) for c in twice[:5]}},
                "refused": dict(self.load.refused.most_common(6)), "site_events": dict(site_events)}


    def story(self, cid: str, journeys: dict[str, list[str]]) -> str:
        a = self.load.accepted[cid]
        done = self.load.done.get(cid)
        bots = f"completed by a bot at {done[1]} +{done[0] - a.submitted:.1f} s" if done else "no bot completed it"
        kills = [f"{k:.1f}" for k in self.kill_times]
        return (f"accepted by {a.site} at +{a.submitted - self.started:.1f} s (kills at {kills}); {bots}; "
                f"events: {' '.join(journeys.get(cid, [])) or 'none'}")


# ====================================================================== main


async def run_bench(config: ClusterConfig, path: Path, run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    return await Bench(config, path, run_dir, args).run()  # gRPC channels are made in the loop


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def spread(values: list[float | None]) -> dict[str, float | None]:
    got = [v for v in values if v is not None]
    if not got:
        return {"min": None, "median": None, "max": None, "n": 0}
    return {"min": round(min(got), 3), "median": round(statistics.median(got), 3), "max": round(max(got), 3),
            "n": len(got)}


def run_once(args: argparse.Namespace, kills: int, *, peer_probe: bool) -> tuple[ClusterConfig, float, dict[str, Any]]:
    """One cluster up, ``kills`` kills, the cluster down: (config, seconds to come up, result)."""
    work = Path(tempfile.mkdtemp(prefix="vcc-bench-failover-"))
    config_path = write_cluster(work, free_port_base(args.port_base, sites=3), peer_probe=peer_probe)
    config = load_config(config_path)
    run_dir = work / "run"
    say(f"starting {config.name} ({'with' if peer_probe else 'WITHOUT'} peer probes): sites "
        f"{', '.join(s.id for s in config.sites)} from port {config.sites[0].port_base}")
    t0 = time.monotonic()
    failed = True
    try:
        launcher.up(config, config_path, run_dir, log=lambda m: say(f"  up: {m}"))
        up_s = time.monotonic() - t0
        run_args = argparse.Namespace(**{**vars(args), "kills": kills})
        result = asyncio.run(run_bench(config, config_path, run_dir, run_args))
        failed = False
    finally:
        launcher.down(run_dir, log=lambda m: say(f"  down: {m}"))
        for s in config.sites:
            shutil.rmtree(Path(s.temp_dir).parent, ignore_errors=True)
        if args.keep or failed:
            say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return config, up_s, result


def summarize(kills: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    summary = {name: spread([k[name] for k in kills]) for name in (
        "detected_s", "adopted_s", "first_new_contact_completed_s", "agents_relogged_s", "adopted_all_completed_s",
        "site_up_again_s")}
    for killed, label in ((True, "leader"), (False, "follower")):  # see Bench.kill_one
        summary[f"adopted_s_etcd_{label}_killed"] = spread([k["adopted_s"] for k in kills
                                                             if k["etcd_leader_killed"] is killed])
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--kills", type=int, default=5, help="site kills (rotating B, C, A, ...)")
    ap.add_argument("--baseline-kills", type=int, default=3,
                    help="kills of the baseline run: the same cluster without peer probes, dead sites noticed "
                    "by lease expiry alone (0: no baseline)")
    ap.add_argument("--rate", type=float, default=20.0, help="durable contacts/s offered (all tenants)")
    ap.add_argument("--handle-s", type=float, default=0.6, help="mean seconds a bot agent holds a contact")
    ap.add_argument("--before-kill-s", type=float, default=3.0, help="seconds of load before each kill")
    ap.add_argument("--down-s", type=float, default=2.0, help="seconds the site stays down after adoption")
    ap.add_argument("--drain-s", type=float, default=60.0, help="most seconds to let the last contacts finish")
    ap.add_argument("--port-base", type=int, default=12000,
                    help="site A's ports; B +1000, C +2000 (a range in use is skipped)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (cluster file, logs, events)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`, a CI stop: still stop the sites
    if args.kills <= 0:
        ap.error("--kills must be at least 1")
    config, up_s, result = run_once(args, args.kills, peer_probe=True)
    baseline = run_once(args, args.baseline_kills, peer_probe=False)[2] if args.baseline_kills > 0 else None
    kills = result["kills"]
    summary = summarize(kills)
    base_summary = summarize(baseline["kills"]) if baseline else None
    worst = summary["adopted_s"]["max"]
    check = result["exactly_once"]
    report = {
        "bench": "failover",
        "kills": len(kills),
        "rate_per_s": args.rate,
        "handle_s": args.handle_s,
        "lease_ttl_s": config.runtime.lease_ttl_s,
        "cluster_up_s": round(up_s, 1),
        "summary": summary,
        "per_kill": kills,
        "baseline_lease_expiry_only": {"summary": base_summary, "exactly_once": baseline["exactly_once"]}
        if baseline else None,
        "exactly_once": check,
        "target_adopted_s": TARGET_ADOPTED_S,
        "meets_target": (worst is not None and worst <= TARGET_ADOPTED_S and summary["adopted_s"]["n"] == len(kills)
                         and check["missing"] == 0 and check["completed_twice"] == 0),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"failover bench: {len(kills)} kills, {args.rate}/s durable contacts, "
          f"lease TTL {config.runtime.lease_ttl_s} s")
    for name, row in summary.items():
        label = name.replace("_s_", "_").removesuffix("_s").replace("_", " ")
        print(f"  kill -> {label:36} min {row['min']}  median {row['median']}  "
              f"max {row['max']}  (n={row['n']})")
    if base_summary is not None and baseline is not None:
        print(f"baseline, same run: {len(baseline['kills'])} kills with peer probes off (lease expiry alone)")
        for name in ("detected_s", "adopted_s", "adopted_s_etcd_leader_killed", "adopted_s_etcd_follower_killed"):
            row, base = summary[name], base_summary[name]
            ratio = (f"  ratio of medians {row['median'] / base['median']:.2f}"
                     if row["median"] and base["median"] else "")
            label = name.replace("_s_", "_").removesuffix("_s").replace("_", " ")
            print(f"  kill -> {label:36} median {base['median']}  max {base['max']}  (n={base['n']}){ratio}")
        bcheck = baseline["exactly_once"]
        print(f"  exactly once: {bcheck['completed_once']}/{bcheck['accepted']}, {bcheck['missing']} missing, "
              f"{bcheck['completed_twice']} twice")
    print(f"  exactly once: {check['completed_once']}/{check['accepted']} durable contacts completed once, "
          f"{check['missing']} missing, {check['completed_twice']} completed twice; site events {check['site_events']}")
    print(f"target  kill -> adopted <= {TARGET_ADOPTED_S} s, nothing lost or doubled -> "
          f"{'met' if report['meets_target'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
