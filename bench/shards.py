"""Shard bench: does routing throughput grow with the number of ACD shards? The shard layer alone.

The site bench (``bench/site.py``) measures a whole site end to end, and a site is bound by its
controller's event loop and the machine's cores long before its ACD shards. This bench takes the
controller, gRPC, the IVR and etcd out of the loop: a driver does what the controller's
``_shard_loop`` does (``vcc/actors/controller.py``) directly against the production ``AcdShard``
actors, created as ``vcc up`` creates them (``vcc.actors.remote``: ``ShardActor`` with the site's
actor options, in a Ray head started by ``vcc.runtime.raycluster`` on this bench's own ports and temp
dir): one batched ``step`` call in flight per shard, the commands that come meanwhile queued for the
next one (a step waits ``BATCH_WINDOW_S`` for more unless ``BATCH_FULL`` are waiting, and runs every
``tick_s`` without work), load reports asked for every 0.1 s.

Workload: one tenant, ``--queues`` chat queues each requiring its own skill, ``--agents`` agents
(agent i has skill i mod queues, ``--capacity`` chats at once), partitioned over the shards as a site
does it (``shard_of``). Each new contact goes to the next queue in turn, and to the shard with the
most room for that queue (its agents' capacity for the queue minus the contacts the driver placed
there and not yet saw completed: what the controller's ``pick_shard`` does from the shards' load
reports). Per contact: ``arrive`` (queued and routed at once) -> ``offered`` in a step's events ->
the driver sends ``accept`` -> ``connected`` -> ``complete`` with wrap-up 0 -> ``completed``.
Closed loop: ``--inflight`` contacts always in the shards (a completed one is replaced at once).

For 1, 2 and 4 shards (one fresh set of actors each, one Ray head for the whole run), after
``--warmup`` s, over ``--duration`` s: contacts completed per second, offers per second (each offer is
one routing decision of a shard's router; the actor does not report its router's decision counter),
the time from arrive to completed, the CPU of each shard process, of the driver and of Ray's own
processes (raylet, GCS), and how busy the whole machine was. Then refilling stops, every contact is
let finish, and the invariants are checked from the step events: every contact completed exactly
once, no agent ever held more contacts than its capacity, no contact offered to a second agent while
an offer was open, no command refused, and no shard holds a live contact at the end.

``--steps-in-flight 2`` is an experiment the controller does not do: two steps queued at each shard
actor (Ray runs one caller's calls to an actor in order), their outputs handled in the order sent.

Baseline in the same run: the same driver against the same ``AcdShard`` class in this process (no
Ray, ``LocalPort``), 1 shard. Ray / in-process shows what the actor boundary costs.

Why 1 shard cannot fill a core: with one step in flight per shard, a shard's loop is serial (its
step, then the driver unpickles the output and answers it, then the next step), so one shard carries
at most 1000 / (shard + driver + Ray ms of CPU per contact) contacts/s however many cores there are;
with 2 shards two such loops overlap. On a 2-core machine the driver (one event loop) and the shard
processes share the two cores: growth is possible from 1 to 2 shards, not beyond 2 (4 shards only
get a larger share of a machine that other work also uses). Each line says what ran out: time
spent waiting for a CPU (``/proc/<pid>/task/*/schedstat``), the cores other work took, a part at a
full core, or the serial loop; and an estimate of what the run's CPU per contact would allow on an
idle machine. Ray starts its workers at niceness 15; this process renices itself to the same
niceness (``--ray-niceness`` sets both; ``bench/run`` uses 0, which other work disturbs less), so
driver, baseline and shards lose alike to other work.

    .venv/bin/python bench/shards.py [--shards 1,2,4] [--duration 10] [--json] [--no-baseline] [--profile]

``--profile`` samples the driver and each shard with py-spy during the window (it costs throughput:
read a profiled run as a profile, not as a rate).

Target: 2 shards carry >= 1.2x the contacts/s of 1 shard (the shard layer scales out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.procstat import machine_busy_s, proc_cpu_s, proc_nice  # noqa: E402
from vcc.actors.controller import BATCH_FULL, BATCH_WINDOW_S  # noqa: E402
from vcc.actors.ports import ActorPort, LocalPort, RayPort  # noqa: E402
from vcc.actors.records import ContactRecord, ShardOutput  # noqa: E402
from vcc.actors.settings import SiteSettings  # noqa: E402
from vcc.actors.shard import AcdShard, shard_of  # noqa: E402
from vcc.config import compile_center, load_config  # noqa: E402
from vcc.config.credentials import MIN_ITERATIONS, hash_password  # noqa: E402
from vcc.core.model import CenterSpec, Channel  # noqa: E402

TARGET_GROWTH = 1.2  # 2 shards / 1 shard, contacts/s
SITE = "H"
TENANT = "shardbench"
TICK_S = cast(float, SiteSettings.__dataclass_fields__["tick_s"].default)  # the controller's idle tick
LOAD_EVERY_S = 0.1  # the controller asks a shard for its load this often
RAY_DEFAULT_NICENESS = 15


# ====================================================================== the center


def write_cluster(directory: Path, *, agents: int, queues: int, capacity: int, port_base: int) -> Path:
    """A one-site cluster file: ``queues`` chat queues, queue j requiring skill j; agent i has skill
    i mod ``queues`` and takes ``capacity`` chats at once. Only its center and its site's Ray ports are
    used (no etcd, no controller)."""
    tag = uuid.uuid4().hex[:6]
    pw_hash = hash_password("shard-bench", iterations=MIN_ITERATIONS)
    raw: dict[str, Any] = {
        "version": 1,
        "name": f"shards{tag}",
        "description": f"shard bench: {agents} agents over {queues} queues",
        "sites": [{"id": SITE, "name": "Shard bench", "region": "local", "port_base": port_base,
                   "ray_temp_dir": f"/tmp/vcc-bench-shards/{tag}"}],
        "skills": [f"k{j}" for j in range(queues)],
        "tenants": [{
            "id": TENANT, "name": "Shard Bench", "timezone": "UTC", "home_sites": [SITE],
            "queues": [{"id": f"q{j}", "channel": "chat", "skills": {f"k{j}": 1}} for j in range(queues)],
            "entry_points": [{"address": f"chat-q{j}", "channel": "chat", "queue": f"q{j}"} for j in range(queues)],
        }],
        "agents": [{
            "id": f"a{i:05d}", "name": f"Agent {i}", "home_site": SITE, "pool": "dedicated", "tenants": [TENANT],
            "skills": {f"k{i % queues}": 5}, "capacity": {"chat": capacity}, "password_hash": pw_hash,
        } for i in range(agents)],
    }  # fmt: skip
    path = directory / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# ====================================================================== CPU from /proc


def cpu_of(pids: set[int]) -> dict[int, float]:
    return {p: c for p in pids if (c := proc_cpu_s(p)) is not None}


def runqueue_wait_s(pid: int) -> float:
    """Seconds the threads of ``pid`` were ready to run but waited for a CPU (``/proc/.../schedstat``):
    how much other work on the machine held this process back."""
    total = 0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[1])
    return total / 1e9


def waits_of(pids: list[int]) -> dict[int, float]:
    return {p: runqueue_wait_s(p) for p in pids}


# ====================================================================== the driver


class Driver:
    """The controller's shard loops without the controller: places contacts, answers offers and
    completes connected contacts from each step's events, and checks the invariants as it goes."""

    def __init__(self, ports: list[ActorPort], center: CenterSpec, inflight: int, steps_in_flight: int = 1) -> None:
        self.ports = ports
        self.steps_in_flight = steps_in_flight
        n = len(ports)
        self.inflight = inflight
        self.inbox: list[list[tuple[int, tuple[Any, ...]]]] = [[] for _ in range(n)]
        self.wake = [asyncio.Event() for _ in range(n)]
        self.queue_ids = sorted(center.queues)
        self.queue_cycle = itertools.cycle(self.queue_ids)
        self.capacity = {a: p.capacity.get(Channel.CHAT, 0) for a, p in center.agents.items()}
        self.shard_agents: list[list[str]] = [[a for a in sorted(center.agents) if shard_of(a, n) == i]
                                              for i in range(n)]
        # room[shard][queue]: the capacity of the shard's agents who serve the queue
        self.room: list[dict[str, int]] = [dict.fromkeys(self.queue_ids, 0) for _ in range(n)]
        for a, profile in center.agents.items():
            for q, spec in center.queues.items():
                if profile.qualifies(spec):
                    self.room[shard_of(a, n)][q] += self.capacity[a]
        self.placed: list[dict[str, int]] = [dict.fromkeys(self.queue_ids, 0) for _ in range(n)]
        self.serving = {q: [i for i in range(n) if self.room[i][q] > 0] for q in self.queue_ids}
        self.where: dict[str, tuple[int, str, float]] = {}  # live contact -> shard, queue, sent at
        self.token = 0
        self.seq = 0
        self.refill = False
        self.stopped = False
        self.measuring = False
        self.latencies_s: list[float] = []
        # counters
        self.created = 0
        self.completed = 0
        self.offers = 0
        self.steps = [0] * n
        self.commands = [0] * n
        self.login_tokens: set[int] = set()
        self.logins_ok = 0
        self.done_ids: set[str] = set()
        # invariant checks, from the step events
        self.offer_of: dict[str, str] = {}  # contact -> agent while an offer is open
        self.held: Counter[str] = Counter()  # agent -> contacts offered, connected or wrapping up
        self.held_max: dict[str, int] = {}
        self.over_capacity: list[str] = []
        self.double_offers: list[str] = []
        self.completed_twice: list[str] = []
        self.unknown_completed: list[str] = []
        self.ended_otherwise: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.freed = asyncio.Event()

    # ------------------------------------------------------------------ commands out

    def send(self, shard: int, command: tuple[Any, ...]) -> int:
        self.token += 1
        self.inbox[shard].append((self.token, command))
        self.wake[shard].set()
        return self.token

    def new_contact(self, now: float) -> None:
        queue = next(self.queue_cycle)
        shards = self.serving[queue]
        shard = min(shards, key=lambda i: self.placed[i][queue] / self.room[i][queue]) if len(shards) > 1 else shards[0]
        self.seq += 1
        cid = f"c{self.seq}"
        self.placed[shard][queue] += 1
        self.where[cid] = (shard, queue, time.monotonic())
        self.created += 1
        self.send(shard, ("arrive", ContactRecord(cid, TENANT, Channel.CHAT, now, entry_point=f"chat-{queue}",
                                                  queue=queue)))

    # ------------------------------------------------------------------ the loops

    async def shard_loop(self, i: int) -> None:
        """``SiteController._shard_loop``: one batched step in flight; what comes meanwhile waits."""
        if self.steps_in_flight > 1:
            await self.pipelined_loop(i, self.steps_in_flight)
            return
        port = self.ports[i]
        last_load = 0.0
        while not self.stopped:
            batch, now, want_load = await self.next_batch(i, last_load)
            out: ShardOutput = await port.call("step", batch, now, want_load)
            if want_load:
                last_load = now
            self.steps[i] += 1
            self.commands[i] += len(batch)
            self.absorb(i, out, now)

    async def next_batch(self, i: int, last_load: float) -> tuple[list[Any], float, bool]:
        """What the controller's shard loop does before a step: wait for work (or the tick), let the
        batch fill for ``BATCH_WINDOW_S`` unless it is full, take it; and whether to ask for load."""
        wake = self.wake[i]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), TICK_S)
        if wake.is_set() and len(self.inbox[i]) < BATCH_FULL:
            await asyncio.sleep(BATCH_WINDOW_S)
        wake.clear()
        batch, self.inbox[i] = self.inbox[i], []
        now = time.time()
        return batch, now, now - last_load >= LOAD_EVERY_S

    async def pipelined_loop(self, i: int, depth: int) -> None:
        """An experiment, not what the controller does: up to ``depth`` steps in flight to one shard
        (Ray runs one caller's calls to an actor in order), outputs handled in the order sent."""
        port = self.ports[i]
        slots = asyncio.Semaphore(depth)
        sent: asyncio.Queue[tuple[asyncio.Future[ShardOutput], int, float] | None] = asyncio.Queue()

        async def receive() -> None:
            while (item := await sent.get()) is not None:
                fut, commands, now = item
                out = await fut
                self.steps[i] += 1
                self.commands[i] += commands
                self.absorb(i, out, now)
                slots.release()

        receiver = asyncio.ensure_future(receive())
        last_load = 0.0
        try:
            while not self.stopped:
                await slots.acquire()
                batch, now, want_load = await self.next_batch(i, last_load)
                if want_load:
                    last_load = now
                sent.put_nowait((asyncio.ensure_future(port.call("step", batch, now, want_load)), len(batch), now))
        finally:
            sent.put_nowait(None)
            await receiver

    def absorb(self, i: int, out: ShardOutput, now: float) -> None:
        for result in out.results:
            if not result.ok:
                self.refused[result.error[:80]] += 1
            elif result.token in self.login_tokens:
                self.logins_ok += 1
        mono = time.monotonic()
        refills = 0
        for e in out.events:
            if e["kind"] != "contact":
                continue
            state, cid = e["state"], e["contact_id"]
            if state == "offered":
                agent = e["agent_id"]
                self.offers += 1
                if cid in self.offer_of:
                    self.double_offers.append(cid)
                self.offer_of[cid] = agent
                held = self.held[agent] = self.held[agent] + 1
                if held > self.held_max.get(agent, 0):
                    self.held_max[agent] = held
                    if held > self.capacity.get(agent, 0):
                        self.over_capacity.append(agent)
                self.send(i, ("accept", cid))
            elif state == "connected":
                self.offer_of.pop(cid, None)
                self.send(i, ("complete", cid, 0.0))
            elif state == "completed":
                self.held[e["agent_id"]] -= 1
                placed = self.where.pop(cid, None)
                if placed is None:
                    (self.completed_twice if cid in self.done_ids else self.unknown_completed).append(cid)
                    continue
                self.done_ids.add(cid)
                self.completed += 1
                shard, queue, sent_at = placed
                self.placed[shard][queue] -= 1
                if self.measuring:
                    self.latencies_s.append(mono - sent_at)
                refills += 1
            elif state == "queued" and e.get("prev_state") == "offered":  # an offer returned (timeout)
                agent = self.offer_of.pop(cid, None)
                if agent is not None:
                    self.held[agent] -= 1
            elif state in ("abandoned", "failed", "transferred"):
                self.ended_otherwise[state] += 1
        if refills:
            self.freed.set()
            if self.refill:
                for _ in range(refills):
                    self.new_contact(now)

    # ------------------------------------------------------------------ a run

    async def login(self, timeout_s: float = 60.0) -> None:
        for i, agents in enumerate(self.shard_agents):
            for a in agents:
                self.login_tokens.add(self.send(i, ("login", a, True)))
        deadline = time.monotonic() + timeout_s
        while self.logins_ok < len(self.login_tokens):
            if time.monotonic() > deadline or self.refused:
                raise RuntimeError(f"only {self.logins_ok}/{len(self.login_tokens)} agents logged in; "
                                   f"refused: {self.refused.most_common(3)}")
            await asyncio.sleep(0.01)

    async def drain(self, timeout_s: float) -> None:
        self.refill = False
        deadline = time.monotonic() + timeout_s
        while self.where and time.monotonic() < deadline:
            self.freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.freed.wait(), 0.5)

    def counters(self) -> dict[str, Any]:
        return {"at": time.monotonic(), "completed": self.completed, "offers": self.offers,
                "steps": list(self.steps), "commands": list(self.commands), "driver_cpu_s": time.process_time(),
                "machine_busy_s": machine_busy_s()}

    def invariants(self, live_in_shards: list[int]) -> dict[str, Any]:
        ok = (self.completed == self.created and not self.where and not self.completed_twice
              and not self.unknown_completed and not self.over_capacity and not self.double_offers
              and not self.refused and not self.ended_otherwise and not any(live_in_shards))
        return {
            "ok": ok, "created": self.created, "completed": self.completed, "not_completed": len(self.where),
            "completed_twice": len(self.completed_twice), "completed_unknown": len(self.unknown_completed),
            "agents_over_capacity": len(set(self.over_capacity)), "double_offers": len(self.double_offers),
            "most_held_vs_capacity": max((h / self.capacity[a] for a, h in self.held_max.items()), default=0.0),
            "refused": dict(self.refused.most_common(3)), "ended_otherwise": dict(self.ended_otherwise),
            "live_in_shards_after": live_in_shards,
            "examples": {"not_completed": sorted(self.where)[:3], "twice": self.completed_twice[:3],
                         "over_capacity": self.over_capacity[:3], "double_offers": self.double_offers[:3]},
        }


async def drive(ports: list[ActorPort], center: CenterSpec, args: argparse.Namespace,
                pids: list[int], ray_pids: set[int], steps_in_flight: int = 1) -> dict[str, Any]:
    """Log the agents in, fill the shards, measure a window, drain, check; ``pids`` are the shard
    processes (this one for the in-process baseline), ``ray_pids`` Ray's own processes."""
    d = Driver(ports, center, args.inflight, steps_in_flight)
    profilers: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    loops = [asyncio.ensure_future(d.shard_loop(i)) for i in range(len(ports))]
    try:
        await d.login()
        d.refill = True
        now = time.time()
        for _ in range(args.inflight):
            d.new_contact(now)
        await asyncio.sleep(args.warmup)
        d.latencies_s.clear()
        d.measuring = True
        waited = [os.getpid(), *pids]
        a, cpu_a, ray_a, wait_a = d.counters(), cpu_of(set(pids)), cpu_of(ray_pids), waits_of(waited)
        profilers = start_profilers({os.getpid(), *pids}, args.duration) if args.profile else []
        await asyncio.sleep(args.duration)
        b, cpu_b, ray_b, wait_b = d.counters(), cpu_of(set(pids)), cpu_of(ray_pids), waits_of(waited)
        d.measuring = False
        await d.drain(args.drain_s)
        health = [await p.call("health") for p in ports]
    finally:
        d.stopped = True
        for w in d.wake:
            w.set()
        done = await asyncio.gather(*loops, return_exceptions=True)
    profiles = {name: finish_profiler(proc, path) for name, proc, path in profilers}
    failed = [r for r in done if isinstance(r, BaseException)]
    if failed:
        raise failed[0]
    wall = b["at"] - a["at"]
    n = b["completed"] - a["completed"]
    shard_cores = [round((cpu_b.get(p, 0.0) - cpu_a.get(p, 0.0)) / wall, 3) for p in pids]
    steps = sum(b["steps"]) - sum(a["steps"])
    commands = sum(b["commands"]) - sum(a["commands"])
    driver_cores = (b["driver_cpu_s"] - a["driver_cpu_s"]) / wall
    ray_cores = sum(ray_b.get(p, 0.0) - ray_a.get(p, 0.0) for p in ray_b) / wall
    lat = sorted(d.latencies_s)
    machine_cores = (b["machine_busy_s"] - a["machine_busy_s"]) / wall
    own_cores = (sum(shard_cores) if pids != [os.getpid()] else 0.0) + driver_cores + ray_cores
    return {
        "shards": len(ports),
        "window_s": round(wall, 3),
        "completed_in_window": n,
        "contacts_per_s": round(n / wall, 1),
        "offers_per_s": round((b["offers"] - a["offers"]) / wall, 1),
        "steps_per_s": round(steps / wall, 1),
        "commands_per_step": round(commands / steps, 1) if steps else 0.0,
        "latency_ms": {"p50": round(_pct(lat, 0.5) * 1000, 1), "p99": round(_pct(lat, 0.99) * 1000, 1)},
        "shard_cores": shard_cores,
        "driver_cores": round(driver_cores, 3),
        "ray_runtime_cores": round(ray_cores, 3),
        "machine_busy_cores": round(machine_cores, 3),
        "other_work_cores": round(max(0.0, machine_cores - own_cores), 3),
        # ready to run but waiting for a CPU, as a share of the window: the driver, then each shard
        "runqueue_wait": {"driver": round((wait_b[os.getpid()] - wait_a[os.getpid()]) / wall, 3),
                          "shards": [round((wait_b[p] - wait_a[p]) / wall, 3) for p in pids]},
        "cpu_ms_per_contact": {"shards": round(sum(shard_cores) * wall * 1000 / n, 4) if n else None,
                               "driver": round(driver_cores * wall * 1000 / n, 4) if n else None,
                               "ray_runtime": round(ray_cores * wall * 1000 / n, 4) if n else None},
        "steps_in_flight": d.steps_in_flight,
        "shard_niceness": sorted({x for p in pids if (x := proc_nice(p)) is not None}),
        "invariants": d.invariants([int(h["contacts"]) for h in health]),
        "profiles": profiles,
    }


def start_profilers(pids: set[int], duration_s: float) -> list[tuple[str, subprocess.Popen[bytes], Path]]:
    """py-spy on each process for the window (``.venv/bin/pip install py-spy``); GIL-holding samples."""
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        say("--profile: py-spy is not installed (.venv/bin/pip install py-spy); not profiling")
        return []
    out = []
    for pid in sorted(pids):
        name = "driver" if pid == os.getpid() else f"shard:{pid}"
        path = Path(tempfile.mkstemp(prefix=f"shards-{pid}-", suffix=".txt")[1])
        cmd = [str(exe), "record", "--pid", str(pid), "--duration", str(max(1, int(duration_s))), "--rate", "100",
               "--format", "raw", "--output", str(path), "--nonblocking", "--gil"]
        out.append((name, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path))
    return out


def finish_profiler(proc: subprocess.Popen[bytes], path: Path, top: int = 8) -> list[tuple[str, float]]:
    """The functions where most samples end (self time), as % of the samples."""
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    own: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for raw in path.read_text().splitlines():
            stack, _, count = raw.rpartition(" ")
            if stack and count.isdigit():
                func, _, where = stack.split(";")[-1].partition(" (")
                own[f"{func} ({where.rstrip(')').split('site-packages/')[-1].split('/work/main/')[-1]})"] += int(count)
    path.unlink(missing_ok=True)
    total = sum(own.values())
    return [(k, round(100 * n / total, 1)) for k, n in own.most_common(top)] if total else []


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def bound_by(r: dict[str, Any], in_process: bool = False) -> str:
    """Which resource the figures say ran out (a reading of the figures, not a measurement)."""
    cpus = os.cpu_count() or 1
    notes = []
    waits = r["runqueue_wait"]
    if max([waits["driver"] or 0.0, *waits["shards"]]) >= 0.25:
        notes.append(f"waiting for a CPU (driver {waits['driver']}, shards {waits['shards']} of the window): "
                     f"other work took {r['other_work_cores']:.2f} cores")
    elif r["machine_busy_cores"] >= 0.9 * cpus:
        notes.append(f"the machine's {cpus} cores (busy {r['machine_busy_cores']:.2f}, "
                     f"{r['other_work_cores']:.2f} of them other work)")
    if r["driver_cores"] >= 0.85:
        notes.append(f"the {'one process' if in_process else 'driver'} at {r['driver_cores']:.2f} core")
    hot = [c for c in r["shard_cores"] if c >= 0.85] if not in_process else []
    if hot:
        notes.append(f"{len(hot)} shard process(es) at >= 0.85 core")
    if not in_process and not hot:
        ms = r["cpu_ms_per_contact"]
        total = (ms["shards"] or 0.0) + (ms["driver"] or 0.0) + (ms["ray_runtime"] or 0.0)
        if not total:
            notes.append("no contacts")
        elif r["steps_in_flight"] == 1:
            notes.append(f"one step in flight per shard: a shard idles while the driver handles its last output "
                         f"({total:.3f} ms of CPU per contact in series: <= {1000 / total:,.0f}/s per shard)")
        else:
            notes.append(f"{r['steps_in_flight']} steps in flight per shard: no shard at a full core")
    return "; ".join(notes)


def ceiling_per_s(r: dict[str, Any], cpus: int) -> float | None:
    """An estimate from the run's CPU per contact, not a measurement: the most contacts/s with the
    machine to itself. A shard's loop is serial (its step, then the driver's handling of the output,
    then the next step: one step in flight), so each shard carries at most 1000 / (shard + driver +
    Ray ms per contact); all of it fits in ``cpus`` cores, and the driver's one loop in one core."""
    ms = r["cpu_ms_per_contact"]
    if not ms.get("shards") or not ms.get("driver"):
        return None
    total = ms["shards"] + ms["driver"] + (ms["ray_runtime"] or 0.0)
    per_shard_ms = total if r["steps_in_flight"] == 1 else ms["shards"]  # several in flight: loops overlap
    return round(min(r["shards"] * 1000 / per_shard_ms, cpus * 1000 / total, 1000 / ms["driver"]))


# ====================================================================== Ray: a head, shard actors


class RayHead:
    """This bench's own Ray head (its ports and temp dir from the cluster file, token auth on, as
    ``vcc up`` starts a site's head), stopped by its recorded PID; never ``ray stop``."""

    def __init__(self, cluster_path: Path, run_dir: Path) -> None:
        self.config = load_config(cluster_path)
        self.run_dir = run_dir
        self.pid = 0

    def start(self) -> None:
        from vcc.runtime import launcher
        from vcc.runtime.raycluster import ray_env, start_head, wait_head

        site = self.config.sites[0]
        spec = launcher.ray_spec(site, self.run_dir)
        log_path = self.run_dir / "ray-head.log"
        self.pid = start_head(spec, log_path, launcher.ray_bin())
        wait_head(spec, self.pid, log_path)
        os.environ.update(ray_env(spec.token_path))  # this driver joins with the head's token
        os.environ.pop("RAY_ADDRESS", None)
        import ray

        from vcc.actors.remote import NAMESPACE

        ray.init(address=spec.address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)

    def runtime_pids(self, exclude: set[int]) -> set[int]:
        from vcc.runtime import procs

        return ({self.pid} | procs.descendants(self.pid)) - exclude if self.pid else set()

    def stop(self) -> None:
        from vcc.runtime.raycluster import stop_head

        with contextlib.suppress(Exception):
            import ray

            if ray.is_initialized():
                ray.shutdown()
        if self.pid:
            stop_head(self.pid)
            self.pid = 0
        shutil.rmtree(self.config.sites[0].temp_dir, ignore_errors=True)


def run_ray(shards: int, center: CenterSpec, head: RayHead, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh set of ``shards`` shard actors, made as ``deploy_site`` makes them; killed after."""
    import ray

    from vcc.actors.remote import COMMON, NAMESPACE, actor_name
    from vcc.actors.remote import ShardActor as shard_actor

    ShardActor: Any = shard_actor
    site = f"{SITE}{shards}-{uuid.uuid4().hex[:4]}"
    handles = [ShardActor.options(name=actor_name(site, "shard", i), namespace=NAMESPACE, get_if_exists=True,
                                  **COMMON).remote(site, i, shards, center) for i in range(shards)]
    try:
        pids = [int(h["pid"]) for h in ray.get([x.health.remote() for x in handles], timeout=120)]
        ports: list[ActorPort] = [RayPort(actor_name(site, "shard", i), h) for i, h in enumerate(handles)]
        out = asyncio.run(drive(ports, center, args, pids, head.runtime_pids(set(pids)), args.steps_in_flight))
    finally:
        for h in handles:
            with contextlib.suppress(Exception):
                ray.kill(h, no_restart=True)
    out["mode"] = "ray"
    return out


def run_inprocess(center: CenterSpec, args: argparse.Namespace) -> dict[str, Any]:
    """The baseline: the same driver, one ``AcdShard`` object in this process."""
    ports: list[ActorPort] = [LocalPort("shard-0", AcdShard(SITE, 0, 1, center))]
    out = asyncio.run(drive(ports, center, args, [os.getpid()], set()))
    out["mode"] = "in-process"
    # the driver and the shard are one process: its CPU is counted once, as the shard's
    out["driver_cores"] = out["shard_cores"][0]
    out["cpu_ms_per_contact"] = {"shard_and_driver": out["cpu_ms_per_contact"]["shards"]}
    out["runqueue_wait"]["driver"] = None
    out["ceiling_per_s"] = None
    return out


# ====================================================================== main


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def line(r: dict[str, Any]) -> str:
    inv, ms, waits = r["invariants"], r["cpu_ms_per_contact"], r["runqueue_wait"]
    shards = "+".join(f"{c:.2f}" for c in r["shard_cores"])
    cost = "  ".join(f"{k} {v:.3f}" for k, v in ms.items() if v is not None)
    waited = "" if waits["driver"] is None else f"driver {waits['driver']:.2f}, "
    waited += "shards " + "+".join(f"{w:.2f}" for w in waits["shards"])
    return (
        f"{r['contacts_per_s']:>7,.0f} contacts/s  {r['offers_per_s']:>7,.0f} offers/s  "
        f"p50 {r['latency_ms']['p50']:>4.0f} ms  p99 {r['latency_ms']['p99']:>5.0f} ms   CPU ms/contact: {cost}   "
        f"cores: shards {shards}, driver {r['driver_cores']:.2f}, ray {r['ray_runtime_cores']:.2f}, "
        f"other work {r['other_work_cores']:.2f} (machine {r['machine_busy_cores']:.2f})   "
        f"waited for a CPU: {waited}   {r['steps_per_s']:,.0f} steps/s x {r['commands_per_step']:.0f} commands   "
        f"invariants {'ok' if inv['ok'] else 'FAILED'} ({inv['completed']}/{inv['created']} completed once)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--shards", default="1,2,4",
                    help="shard counts, one fresh set of actors each; repeat counts (1,2,1,2) to keep the best of each")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    ap.add_argument("--drain-s", type=float, default=30.0, help="most seconds to let the last contacts finish")
    ap.add_argument("--agents", type=int, default=400)
    ap.add_argument("--queues", type=int, default=8)
    ap.add_argument("--capacity", type=int, default=4, help="chats an agent holds at once")
    ap.add_argument("--inflight", type=int, default=2000, help="contacts kept in the shards (closed loop)")
    ap.add_argument("--ray-niceness", type=int, default=None,
                    help="niceness of the shard actors (RAY_worker_niceness; Ray's default 15) and of this driver")
    ap.add_argument("--port-base", type=int, default=31000, help="the Ray head's ports (a block in use is skipped)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the in-process baseline")
    ap.add_argument("--steps-in-flight", type=int, default=1,
                    help="experiment: steps in flight per shard actor (the controller keeps 1)")
    ap.add_argument("--profile", action="store_true", help="sample the driver and shards with py-spy (costs speed)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    shard_counts = [int(s) for s in str(args.shards).split(",") if s.strip()]
    if not shard_counts or min(shard_counts) < 1:
        ap.error("--shards: one or more counts >= 1, e.g. 1,2,4")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`, bench/run: still stop the head

    from vcc.drills.logs import free_port_base

    niceness = RAY_DEFAULT_NICENESS if args.ray_niceness is None else args.ray_niceness
    os.environ["RAY_worker_niceness"] = str(niceness)  # noqa: SIM112 (Ray's spelling); read by the raylet
    work = Path(tempfile.mkdtemp(prefix="vcc-bench-shards-"))
    cluster_path = write_cluster(work, agents=args.agents, queues=args.queues, capacity=args.capacity,
                                 port_base=free_port_base(args.port_base, 1))
    center = compile_center(load_config(cluster_path))
    head = RayHead(cluster_path, work)
    runs: list[dict[str, Any]] = []
    baseline: dict[str, Any] | None = None
    try:
        say(f"starting a Ray head on port base {head.config.sites[0].port_base}")
        head.start()
        os.nice(max(0, niceness - os.nice(0)))  # the driver competes for the cores like the shards
        for shards in shard_counts:
            say(f"[{shards} shard actor(s)]")
            runs.append(run_ray(shards, center, head, args))
            say("  " + line(runs[-1]))
        if not args.no_baseline:
            say("[in-process baseline, 1 shard]")
            baseline = run_inprocess(center, args)
            say("  " + line(baseline))
    finally:
        head.stop()
        shutil.rmtree(work, ignore_errors=True)
    by_shards: dict[int, float] = {}  # the best run of each shard count (--shards 1,2,1,2 repeats)
    for r in runs:
        by_shards[r["shards"]] = max(by_shards.get(r["shards"], 0.0), r["contacts_per_s"])
    growth = round(by_shards[2] / by_shards[1], 3) if by_shards.get(1) and 2 in by_shards else None
    ceilings = {r["shards"]: ceiling_per_s(r, os.cpu_count() or 1) for r in runs}
    other = {r["shards"]: r["other_work_cores"] for r in runs}
    c1, c2 = ceilings.get(1), ceilings.get(2)
    ceiling_growth = round(c2 / c1, 3) if c1 and c2 else None
    invariants_ok = all(r["invariants"]["ok"] for r in [*runs, *([baseline] if baseline else [])])
    report = {
        "bench": "shards",
        "workload": {"agents": args.agents, "queues": args.queues, "capacity": args.capacity,
                     "inflight": args.inflight, "duration_s": args.duration, "warmup_s": args.warmup,
                     "niceness": niceness},
        "machine": {"cpus": os.cpu_count()},
        "runs": runs,
        "baseline_inprocess": baseline,
        "growth_2_over_1": growth,
        "ceiling_growth_2_over_1": ceiling_growth,
        "target_growth": TARGET_GROWTH,
        "meets_target": growth is not None and growth >= TARGET_GROWTH,
        "invariants_ok": invariants_ok,
    }
    cpus = os.cpu_count() or 1
    for r in runs:
        r["bound_by"] = bound_by(r)
        r["ceiling_per_s"] = ceiling_per_s(r, cpus)
        if baseline:
            r["ray_over_inprocess"] = round(r["contacts_per_s"] / baseline["contacts_per_s"], 3)
    if baseline:
        baseline["bound_by"] = bound_by(baseline, in_process=True)
    if args.json:
        print(json.dumps(report))
        return 0 if invariants_ok else 1
    print(f"shard bench: {args.agents} agents x {args.capacity} chats over {args.queues} queues, "
          f"{args.steps_in_flight} step(s) in flight per shard actor, "
          f"{args.inflight} contacts in flight, {args.duration:.0f} s measured after {args.warmup:.0f} s, "
          f"niceness {niceness}, {os.cpu_count()} CPUs")
    for r in runs:
        extra = f"   ray/in-process = {r['ray_over_inprocess']}" if baseline else ""
        print(f"shards {r['shards']}  ray actors  {line(r)}{extra}")
        print(f"          bound by: {r['bound_by']}; with the machine to itself (estimate from CPU per "
              f"contact): <= {r['ceiling_per_s']}/s")
        for name, top in r["profiles"].items():
            print(f"          profile {name} (self %): {top}")
    if baseline:
        print(f"shards 1  in-process  {line(baseline)}")
        print(f"          bound by: {baseline['bound_by']}")
    for r in [*runs, *([baseline] if baseline else [])]:
        if not r["invariants"]["ok"]:
            print(f"invariants FAILED ({r['mode']}, {r['shards']} shard(s)): {json.dumps(r['invariants'])}")
    verdict = "met" if report["meets_target"] else "NOT met"
    print(f"target  2 shards >= {TARGET_GROWTH}x the contacts/s of 1 shard -> {verdict} "
          f"(2/1 = {growth}; " + ", ".join(f"{k} shard(s) {v:,.0f}/s" for k, v in by_shards.items())
          + f"; at most {ceiling_growth}x on an idle machine by CPU per contact; other work took "
          + "/".join(f"{other[k]:.2f}" for k in sorted(other)) + " cores during the windows; "
          f"{cpus} cores: no growth expected past {cpus} shards; invariants {'ok' if invariants_ok else 'FAILED'})")
    return 0 if invariants_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
