"""Site bench: contacts per second through ONE real site, end to end, with 1, 2 and 4 ACD shards.

For each shard count a fresh one-site cluster is started with the ``vcc up`` machinery (an etcd
member, a Ray head, the site's detached actors) from a cluster file written here: one tenant open
24/7 with a voice queue behind a short IVR flow (play a greeting, a one-key menu, route) and chat,
e-mail and SMS queues; ``--agents`` bot agents (``--voice-share`` of them take calls only, the others
chat, e-mail and SMS, 20 of each at once, the most allowed) that accept every offer at once and
complete it after ``--handle-s`` (default 0 s: the pipeline is measured, not the agents).
Submitter tasks send batches of ``--batch`` contacts per ``SubmitContacts`` call, keeping at most
``--inflight`` contacts submitted and not yet completed (closed loop: the site runs flat out), or at
a fixed ``--rate`` (open loop). After ``--warmup`` s, for ``--duration`` s it counts contacts
completed (seen by the bot agents), the time from submit to completed, and the CPU seconds the
site's processes used (the Ray head's process tree and the etcd member, from /proc). Then it stops
submitting, lets every contact finish, and checks from the site's event log that each accepted
contact completed exactly once.

Beside the rate, per contact: the site's CPU by process role (controller, ACD shards, IVR worker,
gateway, event sink, etcd, Ray's own), the bench driver's CPU, the CPU of the controller's busiest
thread (its event loop), how busy the whole machine was (other people's work shares it), and two
estimates drawn from the CPU per contact: what one controller event loop could carry with a core of
its own, and what the machine could carry if it ran only this site and its driver.

Baseline, in the same run: the same driver and workload against the in-process site harness
(``tests/integration/site_harness.py``: the same controller, shards, IVR worker and gateway as plain
objects in ONE process behind the same gRPC API, with its own etcd member). The ratio Ray site /
in-process site shows what the actor boundaries cost. The in-process site runs at the niceness Ray
gives its workers (15 unless ``--ray-niceness``), so that both lose alike to other work on the machine.

    .venv/bin/python bench/site.py [--shards 1,2,4] [--duration 10] [--json] [--profile] [--no-baseline]

``--profile`` samples the busiest site processes with py-spy (``pip install py-spy`` into the venv;
sampling costs throughput: read the figures of a profiled run as a profile, not as a rate).

Target: >= 500 contacts/s completed per site on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.procstat import machine_busy_s, proc_cpu_s, proc_nice  # noqa: E402
from vcc.client.bots import BotAgentPool  # noqa: E402
from vcc.client.contacts import SiteClient, submission  # noqa: E402
from vcc.config import load_config  # noqa: E402
from vcc.config.credentials import MIN_ITERATIONS, hash_password  # noqa: E402
from vcc.proto.v1 import site_pb2 as pb  # noqa: E402

TARGET_CONTACTS_PER_S = 500
SITE = "S"
TENANT = "bench"
PASSWORD = "bench-agent"
MAX_CAPACITY = 20  # vcc.config.models.MAX_CAPACITY: most contacts of one channel an agent holds
#: channel -> (entry point, the keys a caller presses in the IVR)
ENTRIES: dict[str, tuple[str, str]] = {
    "voice": ("+15550100000", "1"),
    "chat": ("bench-chat", ""),
    "email": ("help@bench.example", ""),
    "sms": ("+15550100001", ""),
}
RAY_DEFAULT_NICENESS = 15  # Ray starts its workers (every site actor) at this niceness


# ====================================================================== the bench cluster file


def write_cluster(directory: Path, *, shards: int, agents: int, port_base: int, ivr_workers: int = 1,
                  voice_agents: int | None = None) -> Path:
    """A one-site cluster file for the bench: ``voice_agents`` agents (default half) take calls only,
    the others chat, e-mail and SMS, as many at once as allowed (an agent who holds a chat takes no
    call). Every agent's password is :data:`PASSWORD`, hashed once with the fewest iterations
    allowed (a login costs ~0.05 s of CPU instead of ~0.3 s)."""
    voice = agents // 2 if voice_agents is None else voice_agents
    digital = {"chat": MAX_CAPACITY, "email": MAX_CAPACITY, "sms": MAX_CAPACITY}
    tag = uuid.uuid4().hex[:6]
    pw_hash = hash_password(PASSWORD, iterations=MIN_ITERATIONS)
    raw: dict[str, Any] = {
        "version": 1,
        "name": f"bench{tag}",
        "description": f"site bench: one site, {shards} ACD shard(s), {agents} bot agents",
        "sites": [{
            "id": SITE, "name": "Bench", "region": "local", "port_base": port_base, "acd_shards": shards,
            "ivr_workers": ivr_workers, "ray_temp_dir": f"/tmp/vcc-bench/{tag}",
        }],
        "tenants": [{
            "id": TENANT, "name": "Bench Company", "timezone": "UTC", "home_sites": [SITE],  # no hours: 24/7
            "queues": [
                {"id": "bench-voice", "channel": "voice"},
                {"id": "bench-chat", "channel": "chat", "selection": "least_occupied"},
                {"id": "bench-email", "channel": "email"},
                {"id": "bench-sms", "channel": "sms"},
            ],
            "entry_points": [
                {"address": ENTRIES["voice"][0], "channel": "voice", "flow": "bench-ivr"},
                {"address": ENTRIES["chat"][0], "channel": "chat", "queue": "bench-chat"},
                {"address": ENTRIES["email"][0], "channel": "email", "queue": "bench-email"},
                {"address": ENTRIES["sms"][0], "channel": "sms", "queue": "bench-sms"},
            ],
            "flows": [{
                "id": "bench-ivr", "entry": "welcome",
                "nodes": {
                    "welcome": {"type": "play", "prompt": "Welcome.", "next": "menu"},
                    "menu": {"type": "menu", "prompt": "Press 1.", "options": {"1": "route"}, "on_fail": "route"},
                    "route": {"type": "route", "queue": "bench-voice"},
                },
            }],
        }],
        "agents": [{
            "id": f"bot-{i:04d}", "name": f"Bot {i}", "home_site": SITE, "pool": "dedicated", "tenants": [TENANT],
            "capacity": {"voice": 1} if i < voice else digital,
            "password_hash": pw_hash,
        } for i in range(agents)],
    }  # fmt: skip
    path = directory / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# ====================================================================== CPU from /proc


ACTOR_ROLES = {"ControllerActor": "controller", "AcdShard": "acd_shard", "IvrWorker": "ivr_worker",
               "MediaGateway": "media_gateway", "SiteGateway": "media_gateway", "EventSink": "event_sink",
               "WebActor": "web_front_door", "IDLE": "idle_worker"}


def proc_role(pid: int) -> str:
    """What a site process is, from its command line (Ray names a worker after its actor class)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    actor = re.match(r"ray::(?:[^:\s]*:)?(\w+)", cmd)  # "ray::Class", "ray::Class.method", "ray::name:Class..."
    if actor is not None:
        return ACTOR_ROLES.get(actor.group(1), "ray_other")
    for needle, role in (("raylet", "raylet"), ("gcs_server", "gcs"), ("/etcd", "etcd"),
                         ("--serve-inprocess", "inprocess_site")):
        if needle in cmd:
            return role
    return "ray_other"  # the `ray start` parent, dashboard, monitors, runtime-env agent


#: Processes whose threads are looked at one by one: is one thread (an event loop) the limit?
THREADED_ROLES = ("controller", "inprocess_site")


@dataclass
class CpuSnapshot:
    at: float
    by_pid: dict[int, tuple[str, float]]
    threads: dict[int, float]  # thread id -> CPU s, for the processes in THREADED_ROLES
    machine_s: float

    @classmethod
    def take(cls, pids: set[int]) -> CpuSnapshot:
        out: dict[int, tuple[str, float]] = {}
        threads: dict[int, float] = {}
        for pid in pids:
            cpu = proc_cpu_s(pid)
            if cpu is None:
                continue
            role = proc_role(pid)
            out[pid] = (role, cpu)
            if role in THREADED_ROLES:
                with contextlib.suppress(OSError):
                    for task in os.listdir(f"/proc/{pid}/task"):
                        used = proc_cpu_s(pid, int(task))
                        if used is not None:
                            threads[int(task)] = used
        return cls(time.monotonic(), out, threads, machine_busy_s())


def cpu_between(a: CpuSnapshot, b: CpuSnapshot) -> dict[str, Any]:
    """CPU used between two snapshots: total, by role, and the busiest single process."""
    by_role: dict[str, float] = {}
    per_proc: list[tuple[float, str, int]] = []
    for pid, (role, cpu) in b.by_pid.items():
        used = cpu - a.by_pid.get(pid, (role, 0.0))[1]
        by_role[role] = by_role.get(role, 0.0) + used
        per_proc.append((used, role, pid))
    wall = b.at - a.at
    per_proc.sort(reverse=True)
    hottest = max((used - a.threads.get(tid, 0.0) for tid, used in b.threads.items()), default=0.0)
    return {
        "cpu_s": round(sum(by_role.values()), 3),
        "cores": round(sum(by_role.values()) / wall, 3) if wall else 0.0,
        "by_role_s": {r: round(s, 3) for r, s in sorted(by_role.items(), key=lambda kv: -kv[1]) if s > 0},
        "busiest": [{"role": r, "pid": p, "cores": round(u / wall, 3), "nice": proc_nice(p)}
                    for u, r, p in per_proc[:4]] if wall else [],
        "controller_hottest_thread_cores": round(hottest / wall, 3) if wall else 0.0,
        "processes_by_role": dict(Counter(role for role, _ in b.by_pid.values())),
        "machine_busy_cores": round((b.machine_s - a.machine_s) / wall, 3) if wall else 0.0,
    }


# ====================================================================== event logs (read only)


def read_events(directory: Path) -> Iterator[dict[str, Any]]:
    """Every complete line of a site's event log. Read-only: ``EventLog(dir)`` would open the log
    for writing and cut a line another process is still writing."""
    for path in sorted(directory.glob("events-*.jsonl")):
        with open(path, "rb") as f:
            for raw in f:
                if raw.endswith(b"\n"):
                    yield json.loads(raw)


def check_exactly_once(directory: Path, accepted: set[str]) -> dict[str, Any]:
    """Each accepted contact completed exactly once, from the site's event log; for those that did
    not, the last state they reached, and the site's own events (fenced, rejoined, ...)."""
    ends: Counter[str] = Counter()
    final: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    last_state: dict[str, str] = {}
    site_events: list[str] = []
    for e in read_events(directory):
        kinds[e.get("kind", "?")] += 1
        if e.get("kind") == "site":
            site_events.append(f"{e['event']}@{e['ts']:.1f}")
        if e.get("kind") == "contact":
            last_state[e["contact_id"]] = e["state"]
            if e.get("state") in ("completed", "abandoned", "failed"):
                final[e["state"]] += 1
                if e["state"] == "completed":
                    ends[e["contact_id"]] += 1
    missing = sorted(accepted - set(ends))
    twice = sorted(c for c, n in ends.items() if n > 1)
    return {"accepted": len(accepted), "completed": sum(1 for c in accepted if c in ends),
            "missing": len(missing), "completed_twice": len(twice), "final_states": dict(final),
            "missing_last_state": dict(Counter(last_state.get(c, "no event") for c in missing)),
            "site_events": site_events[:20],
            "events_per_completed": {k: round(n / max(1, len(ends)), 2) for k, n in kinds.items()},
            "examples": {"missing": missing[:5], "twice": twice[:5]}}


# ====================================================================== the driver


class TimedBots(BotAgentPool):
    """Bot agents that report when each contact's completion was acknowledged."""

    def __init__(self, *args: Any, on_completed: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_completed = on_completed

    async def command(self, agent_id: str, **kind: Any) -> pb.CommandResult:
        result = await super().command(agent_id, **kind)
        done = kind.get("complete")
        if done is not None and result.ok:
            self.on_completed(done.contact_id)
        return result


@dataclass
class Flow:
    """What the driver saw: submit and completion times by contact (wall clock, seconds)."""

    sent: dict[str, float] = field(default_factory=dict)  # accepted (or awaiting a reply)
    done: dict[str, float] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    submit_calls: int = 0
    submit_call_s: list[float] = field(default_factory=list)
    freed: asyncio.Event = field(default_factory=asyncio.Event)

    def completed(self, cid: str) -> None:
        self.done.setdefault(cid, time.time())
        self.freed.set()

    @property
    def inflight(self) -> int:
        return len(self.sent) - len(self.done)


def channel_cycle(mix: dict[str, int]) -> Iterator[str]:
    return itertools.cycle([ch for ch, weight in mix.items() for _ in range(weight)])


async def submitter(client: SiteClient, flow: Flow, ids: Iterator[str], channels: Iterator[str],
                    args: argparse.Namespace, stop: asyncio.Event, interval_s: float, offset: float) -> None:
    next_at = time.monotonic() + interval_s * offset  # submitters staggered: a smooth open-loop load
    while not stop.is_set():
        if interval_s > 0:  # open loop: a batch every interval_s
            next_at += interval_s
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:  # closed loop: keep at most --inflight contacts in the site
            while flow.inflight + args.batch > args.inflight and not stop.is_set():
                flow.freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(flow.freed.wait(), 0.05)
        if stop.is_set():
            return
        batch = []
        now = time.time()
        for _ in range(args.batch):
            cid, channel = next(ids), next(channels)
            address, dtmf = ENTRIES[channel]
            batch.append(submission(cid, channel, address, f"+1555{hash(cid) % 10**7:07d}", dtmf=dtmf))
            flow.sent[cid] = now
        t0 = time.perf_counter()
        try:
            results = await client.submit(batch, timeout_s=30.0)
        except Exception as e:  # the whole call failed: none of these was taken
            for sub in batch:
                flow.sent.pop(sub.contact_id, None)
            flow.refused[f"call failed: {type(e).__name__}"] += len(batch)
            await asyncio.sleep(0.1)
            continue
        flow.submit_calls += 1
        flow.submit_call_s.append(time.perf_counter() - t0)
        for r in results:
            if not r.accepted:
                flow.sent.pop(r.contact_id, None)
                flow.refused[r.error[:60]] += 1
        if not any(r.accepted for r in results):  # e.g. the site is fenced: retry a little later
            await asyncio.sleep(0.05)


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(address: str, agent_ids: list[str], args: argparse.Namespace, site_pids: Callable[[], set[int]],
                profile_dir: Path | None, tag: str) -> dict[str, Any]:
    """Log the bots in, run the load, measure the window, drain; returns the figures and the ids
    of every accepted contact (for the event-log check)."""
    flow = Flow()
    streams = max(1, min(args.bot_streams, len(agent_ids)))
    pools = [TimedBots(address, [(a, PASSWORD) for a in agent_ids[i::streams]],
                       handle_s=lambda ch: args.handle_s, on_completed=flow.completed,
                       batched=not args.unbatched_agents) for i in range(streams)]
    t_login = time.monotonic()
    await asyncio.gather(*(p.start(timeout_s=120.0) for p in pools))
    login_s = time.monotonic() - t_login
    logged_in = sum(len(p.stats.logged_in) for p in pools)
    if logged_in < len(agent_ids):
        errors = Counter(e for p in pools for e in p.stats.login_errors.values())
        raise RuntimeError(f"only {logged_in}/{len(agent_ids)} bot agents logged in: {errors.most_common(3)}")
    mix = {ch: int(w) for ch, w in (part.split("=") for part in args.mix.split(",")) if int(w) > 0}
    channels = channel_cycle(mix)
    ids = (f"{tag}-{n}" for n in itertools.count())
    clients = [SiteClient(address) for _ in range(args.submitters)]
    stop = asyncio.Event()
    interval_s = args.batch * args.submitters / args.rate if args.rate > 0 else 0.0
    tasks = [asyncio.ensure_future(submitter(c, flow, ids, channels, args, stop, interval_s, k / len(clients)))
             for k, c in enumerate(clients)]
    profilers: list[tuple[str, int, subprocess.Popen[bytes], Path]] = []
    try:
        await asyncio.sleep(args.warmup)
        pids = site_pids()
        if profile_dir is not None:
            profilers = start_profilers(pids, args.duration, profile_dir)
        cpu0, driver0, t0 = CpuSnapshot.take(pids), time.process_time(), time.time()
        actor_nice = {proc_nice(p) for p, (role, _) in cpu0.by_pid.items() if role in THREADED_ROLES}
        calls0 = flow.submit_calls
        await asyncio.sleep(args.duration)
        cpu1, driver1, t1 = CpuSnapshot.take(pids), time.process_time(), time.time()
        calls1 = flow.submit_calls
        inflight_at_end = flow.inflight
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    deadline = time.monotonic() + args.drain_s
    while flow.inflight > 0 and time.monotonic() < deadline:
        flow.freed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(flow.freed.wait(), 0.5)
    profiles = {f"{role}:{pid}": finish_profiler(proc, out) for role, pid, proc, out in profilers}
    bot_errors = Counter[str]()
    for p in pools:
        bot_errors.update(p.stats.errors)
    await asyncio.gather(*(p.stop() for p in pools))
    for c in clients:
        await c.close()

    window = [(cid, done) for cid, done in flow.done.items() if t0 <= done < t1]
    latencies = [done - flow.sent[cid] for cid, done in window if cid in flow.sent]
    site_cpu = cpu_between(cpu0, cpu1)
    n = len(window)
    wall = t1 - t0
    loop_ms = sum(site_cpu["by_role_s"].get(r, 0.0) for r in THREADED_ROLES) * 1000 / n if n else 0.0
    site_ms = site_cpu["cpu_s"] * 1000 / n if n else 0.0
    driver_ms = (driver1 - driver0) * 1000 / n if n else 0.0
    shard_ms = site_cpu["by_role_s"].get("acd_shard", 0.0) * 1000 / n if n else 0.0
    n_shards = site_cpu["processes_by_role"].get("acd_shard", 0)
    return {
        "agents": len(agent_ids),
        "bot_login_s": round(login_s, 2),
        "window_s": round(wall, 3),
        "completed_in_window": n,
        "contacts_per_s": round(n / wall, 1),
        "submitted_per_s": round((calls1 - calls0) * args.batch / (t1 - t0), 1),
        "latency_ms": {"p50": round(pct(latencies, 0.50) * 1000, 1), "p99": round(pct(latencies, 0.99) * 1000, 1),
                       "max": round(max(latencies, default=0.0) * 1000, 1)},
        "submit_call_ms_p50": round(pct(flow.submit_call_s, 0.5) * 1000, 1),
        "inflight_at_end": inflight_at_end,
        "site_cpu": site_cpu,
        "site_cpu_ms_per_contact": round(site_ms, 2) if n else None,
        "controller_cpu_ms_per_contact": round(loop_ms, 2) if n else None,
        "driver_cpu_ms_per_contact": round(driver_ms, 2) if n else None,
        # Estimates from the CPU per contact, not measurements: what one event loop with a core of its
        # own could carry, and what the whole machine could if it ran nothing but this site and driver.
        "ceiling_controller_loop_per_s": round(1000 / loop_ms) if loop_ms else None,
        "ceiling_machine_per_s": round(1000 * (os.cpu_count() or 1) / (site_ms + driver_ms)) if n else None,
        # The routing tier alone: contacts/s the ACD shards could route with one core per shard (at
        # most the machine's cores), from their CPU per contact. This is what grows with the shard
        # count; the figure above it shows what the rest of the site (its gRPC edge) can carry.
        "ceiling_acd_shards_per_s": (round(1000 * min(n_shards, os.cpu_count() or 1) / shard_ms)
                                     if n and shard_ms else None),
        "driver_cpu_cores": round((driver1 - driver0) / (t1 - t0), 3),
        "controller_niceness": sorted(n for n in actor_nice if n is not None),
        "refused": dict(flow.refused.most_common(5)),
        "bot_errors_total": sum(bot_errors.values()),
        "bot_errors": dict(Counter(_error_kind(e) for e in bot_errors.elements()).most_common(5)),
        "not_completed_after_drain": flow.inflight,
        "profiles": profiles,
        "_accepted": set(flow.sent),
    }


def _error_kind(error: str) -> str:
    """An error without the contact id in it, so errors of one kind count together."""
    return re.sub(r"contact \S+", "contact <id>", error)


# ====================================================================== profiling with py-spy


def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def start_profilers(pids: set[int], duration_s: float,
                    out_dir: Path) -> list[tuple[str, int, subprocess.Popen[bytes], Path]]:
    exe = py_spy()
    if exe is None:
        print("--profile: py-spy is not installed (.venv/bin/pip install py-spy); not profiling", file=sys.stderr)
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = ("controller", "acd_shard", "ivr_worker", "event_sink", "media_gateway", "inprocess_site")
    out = []
    for pid in sorted(pids):
        role = proc_role(pid)
        if role in wanted:
            path = out_dir / f"{role}-{pid}.txt"
            cmd = [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(duration_s))), "--rate", "200",
                   "--format", "raw", "--output", str(path), "--nonblocking", "--gil"]
            log = path.with_suffix(".log").open("wb")
            out.append((role, pid, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), path))
    return out


def finish_profiler(proc: subprocess.Popen[bytes], path: Path) -> dict[str, Any]:
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not path.exists():
        said = path.with_suffix(".log").read_text(errors="replace").strip().splitlines()[-1:]
        return {"error": f"py-spy exited {proc.returncode} without output: {said}"}
    return summarize_profile(path.read_text())


#: Where a sample's time goes, by the first rule that matches any frame of its stack: vcc's own
#: areas by module (so renames inside a module do not matter), then the runtimes underneath.
AREAS: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("etcd: durable contacts", lambda func, path: path == "vcc/coord/store.py"),
    ("etcd: session, load, watches", lambda func, path: path.startswith("vcc/coord/")),
    ("actor calls (Ray submit, await)", lambda func, path: path == "vcc/actors/ports.py" and "RayPort" in func),
    ("event log", lambda func, path: path in ("vcc/actors/event_sink.py", "vcc/runtime/eventlog.py")),
    ("IVR", lambda func, path: path == "vcc/actors/ivr_worker.py"),
    ("shard step (router, events to dicts)", lambda func, path: path == "vcc/actors/shard.py"),
    ("agent stream out", lambda func, path: path == "vcc/intersite/server.py" and func.split(".")[-1] in (
        "AgentSession", "AgentSessionBatch", "_session", "_update")),
    ("agent commands in", lambda func, path: path == "vcc/intersite/server.py" and func.split(".")[-1] in (
        "_read_commands", "_command")),
    ("SubmitContacts", lambda func, path: path == "vcc/intersite/server.py" and "SubmitContacts" in func),
    ("core logic (router, EWT, balancer)", lambda func, path: path.startswith("vcc/core/")),
    ("controller logic", lambda func, path: path.startswith("vcc/")),
    ("gRPC runtime (no vcc frame)", lambda func, path: "grpc" in path),
    ("Ray runtime (no vcc frame)", lambda func, path: path.startswith("ray/")),
    ("event loop, C-level callbacks (gRPC, Ray)", lambda func, path: path.startswith("asyncio/")),
)


def summarize_profile(raw: str, top: int = 12) -> dict[str, Any]:
    """From py-spy's collapsed stacks (GIL-holding samples): time by area (:data:`AREAS`), where
    samples end (self), and which of vcc's, gRPC's and Ray's functions are on the stack
    (inclusive), as shares of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        own[_frame_name(*frames[-1])] += count
        for func, path in set(frames):
            if path.startswith(("vcc/", "ray/")) or "grpc" in path:
                inclusive[_frame_name(func, path)] += count
        areas[next((area for area, rule in AREAS if any(rule(f, p) for f, p in frames)), "other")] += count

    def share(c: Counter[str], n: int = top) -> list[tuple[str, float]]:
        return [(name, round(100 * k / total, 1)) for name, k in c.most_common(n)] if total else []

    return {"samples": total, "by_area_pct": share(areas, len(AREAS) + 1), "self_pct": share(own),
            "inclusive_pct": share(inclusive)}


def _frame(frame: str) -> tuple[str, str]:
    """``func (/.../site-packages/grpc/aio/_call.py:12)`` -> ``("func", "grpc/aio/_call.py")``; vcc's
    files relative to the repository, the standard library's to its folder."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return func, path


def _frame_name(func: str, path: str) -> str:
    return f"{func} ({path})"


# ====================================================================== one run: a Ray site


def free_port_base(start: int, sites: int = 1) -> int:
    from vcc.drills.logs import free_port_base as first_free

    return first_free(start, sites)


def run_ray_site(shards: int, args: argparse.Namespace, port_base: int, work: Path) -> dict[str, Any]:
    from vcc.runtime import launcher, procs

    port_base = free_port_base(port_base)
    cluster_path = write_cluster(work, shards=shards, agents=args.agents, port_base=port_base,
                                 ivr_workers=args.ivr_workers, voice_agents=round(args.agents * args.voice_share))
    if args.ray_niceness is not None:  # read by the raylet from the environment `ray start` inherits
        os.environ["RAY_worker_niceness"] = str(args.ray_niceness)  # noqa: SIM112 (Ray's spelling)
    config = load_config(cluster_path)
    run_dir = work / f"run-ray-{shards}"
    say(f"[ray site, {shards} shard(s)] starting {config.name} on port base {port_base}")
    t0 = time.monotonic()
    launcher.up(config, cluster_path, run_dir, log=lambda m: say(f"  up: {m}"))
    up_s = time.monotonic() - t0
    state = launcher.RunState.load(run_dir)
    assert state is not None
    rec = state.sites[SITE]

    def site_pids() -> set[int]:
        return {rec.ray_pid, rec.etcd_pid, *procs.descendants(rec.ray_pid)}

    try:
        out = asyncio.run(drive(config.sites[0].grpc_address, [a.id for a in config.agents], args, site_pids,
                                work / f"profile-ray-{shards}" if args.profile else None, f"r{shards}"))
    finally:
        launcher.down(run_dir, log=lambda m: say(f"  down: {m}"))
        shutil.rmtree(config.sites[0].temp_dir, ignore_errors=True)
    accepted = out.pop("_accepted")
    out["exactly_once"] = check_exactly_once(run_dir / "sites" / SITE / "events", accepted)
    out["startup_s"] = round(up_s, 1)
    return out


# ====================================================================== one run: the in-process site


def run_inprocess_site(shards: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from vcc.coord.etcd_server import EtcdMemberSpec, EtcdTuning, free_ports, start_cluster, stop

    cluster_path = write_cluster(work, shards=shards, agents=args.agents, port_base=20000,
                                 voice_agents=round(args.agents * args.voice_share))
    config = load_config(cluster_path)
    run_dir = work / f"run-inprocess-{shards}"
    client_port, peer_port, grpc_port = free_ports(3)
    tuning = EtcdTuning(config.runtime.etcd_heartbeat_ms, config.runtime.etcd_election_ms)
    spec = EtcdMemberSpec("bench", "127.0.0.1", client_port, peer_port, run_dir / "etcd")
    say(f"[in-process site, {shards} shard(s)] starting")
    (member,) = start_cluster([spec], tuning=tuning, log_dir=run_dir)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-inprocess", str(cluster_path), "--shards",
           str(shards), "--etcd-port", str(client_port), "--grpc-port", str(grpc_port), "--run-dir", str(run_dir)]
    niceness = RAY_DEFAULT_NICENESS if args.ray_niceness is None else args.ray_niceness
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             preexec_fn=lambda: os.nice(niceness - os.nice(0)))  # like Ray's workers
    try:
        assert child.stdout is not None
        line = child.stdout.readline().decode().strip()
        if not line.startswith("SERVING"):
            raise RuntimeError(f"in-process site did not start (said {line!r}); exit {child.poll()}")
        out = asyncio.run(drive(f"127.0.0.1:{grpc_port}", [a.id for a in config.agents], args,
                                lambda: {child.pid, member.pid},
                                work / f"profile-inprocess-{shards}" if args.profile else None, f"i{shards}"))
    finally:
        if child.stdin is not None:
            child.stdin.close()  # the child stops on EOF
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        stop(member)
    accepted = out.pop("_accepted")
    out["exactly_once"] = check_exactly_once(run_dir / "events", accepted)
    return out


def serve_inprocess(args: argparse.Namespace) -> int:
    """Child mode: one in-process site on a gRPC port until stdin closes."""
    from tests.integration.site_harness import InProcessSite

    async def main() -> None:
        site = InProcessSite(Path(args.serve_inprocess), SITE, f"bench-{os.getpid()}",
                             ("127.0.0.1", args.etcd_port), Path(args.run_dir), shards=args.shards,
                             grpc_port=args.grpc_port, clock=time.time)
        await site.start()
        print("SERVING", flush=True)
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()
        stdin = sys.stdin.fileno()
        loop.add_reader(stdin, lambda: None if os.read(stdin, 4096) else closed.set())
        await closed.wait()
        loop.remove_reader(stdin)
        await site.stop()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())
    return 0


# ====================================================================== main


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def brief(r: dict[str, Any]) -> str:
    lat, cpu = r["latency_ms"], r["site_cpu"]
    return (f"{r['contacts_per_s']:>7,.0f} contacts/s   p50 {lat['p50']:>6.0f} ms  p99 {lat['p99']:>6.0f} ms   "
            f"site CPU {cpu['cores']:.2f} cores, {r['site_cpu_ms_per_contact'] or 0:.2f} ms/contact   "
            f"(hottest controller thread {cpu['controller_hottest_thread_cores']:.2f})   "
            f"driver {r['driver_cpu_cores']:.2f} cores   machine busy {cpu['machine_busy_cores']:.2f} cores   "
            f"ceilings: controller loop {r['ceiling_controller_loop_per_s']}/s, "
            f"machine {r['ceiling_machine_per_s']}/s, ACD shards {r['ceiling_acd_shards_per_s']}/s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--shards", default="1,2,4", help="ACD shard counts, one fresh site each (default 1,2,4)")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    ap.add_argument("--drain-s", type=float, default=30.0, help="most seconds to let the last contacts finish")
    ap.add_argument("--agents", type=int, default=100, help="bot agents")
    ap.add_argument("--voice-share", type=float, default=0.5,
                    help="share of the agents taking calls only; the others take chat/email/sms, 20 each")
    ap.add_argument("--bot-streams", type=int, default=2, help="AgentSession streams the bots share")
    ap.add_argument("--unbatched-agents", action="store_true",
                    help="bots use AgentSession (one command/update a message), not AgentSessionBatch")
    ap.add_argument("--handle-s", type=float, default=0.0, help="seconds a bot holds a contact")
    ap.add_argument("--submitters", type=int, default=4, help="concurrent submitter tasks")
    ap.add_argument("--batch", type=int, default=50, help="contacts per SubmitContacts call")
    ap.add_argument("--inflight", type=int, default=600, help="closed loop: most contacts submitted, not done")
    ap.add_argument("--rate", type=float, default=0.0, help="open loop: contacts/s offered (0: closed loop)")
    ap.add_argument("--mix", default="voice=1,chat=1,email=1,sms=1", help="channel weights")
    ap.add_argument("--ivr-workers", type=int, default=1)
    ap.add_argument("--ray-niceness", type=int, default=None,
                    help="RAY_worker_niceness for the site's Ray head (Ray's default: 15); the in-process "
                         "baseline runs at the same niceness")
    ap.add_argument("--port-base", type=int, default=29000,
                    help="first site's ports (+1000 per run; a block in use is skipped)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the in-process site baseline")
    ap.add_argument("--profile", action="store_true", help="sample the site's processes with py-spy")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (cluster files, logs, events)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--serve-inprocess", help=argparse.SUPPRESS)
    ap.add_argument("--etcd-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--grpc-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_inprocess:
        args.shards = int(args.shards)
        return serve_inprocess(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`, a CI stop: still stop the site
    shard_counts = [int(s) for s in str(args.shards).split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="vcc-bench-site-"))
    runs: list[dict[str, Any]] = []
    try:
        for i, shards in enumerate(shard_counts):
            row: dict[str, Any] = {"shards": shards, "ray": run_ray_site(shards, args, args.port_base + 1000 * i, work)}
            say(f"  ray site        {brief(row['ray'])}")
            if not args.no_baseline:
                row["inprocess"] = run_inprocess_site(shards, args, work)
                say(f"  in-process site {brief(row['inprocess'])}")
                base = row["inprocess"]["contacts_per_s"]
                row["ray_over_inprocess"] = round(row["ray"]["contacts_per_s"] / base, 3) if base else None
            runs.append(row)
    finally:
        if args.keep:
            say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    best = max((r["ray"]["contacts_per_s"] for r in runs), default=0.0)
    report = {
        "bench": "site",
        "workload": {"mix": args.mix, "agents": args.agents, "voice_share": args.voice_share,
                     "handle_s": args.handle_s, "batch": args.batch,
                     "submitters": args.submitters, "inflight": args.inflight if args.rate <= 0 else None,
                     "rate": args.rate or None, "duration_s": args.duration, "warmup_s": args.warmup},
        "machine": {"cpus": os.cpu_count()},
        "runs": runs,
        "target_contacts_per_s": TARGET_CONTACTS_PER_S,
        "best_contacts_per_s": best,
        "meets_target": best >= TARGET_CONTACTS_PER_S,
    }
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    print(f"site bench: {args.agents} bot agents, mix {args.mix}, handle {args.handle_s} s, "
          f"{'closed loop, ' + str(args.inflight) + ' in flight' if args.rate <= 0 else f'{args.rate}/s offered'}, "
          f"{args.duration:.0f} s measured after {args.warmup:.0f} s, {os.cpu_count()} CPUs")
    for r in runs:
        print(f"shards {r['shards']}  ray site        {brief(r['ray'])}")
        if "inprocess" in r:
            print(f"          in-process site {brief(r['inprocess'])}   ray/in-process = {r['ray_over_inprocess']}")
        print(f"          site CPU by role (s): {r['ray']['site_cpu']['by_role_s']}")
        check = r["ray"]["exactly_once"]
        print(f"          exactly once: {check['completed']}/{check['accepted']} completed, "
              f"{check['missing']} missing, {check['completed_twice']} twice; refused {r['ray']['refused'] or 'none'}")
        for name, prof in r["ray"]["profiles"].items():
            print(f"          profile {name}: {prof.get('samples', 0)} samples; self: {prof.get('self_pct', [])[:6]}")
    print(f"target  >= {TARGET_CONTACTS_PER_S} contacts/s per site -> {'met' if report['meets_target'] else 'NOT met'} "
          f"(best {best:,.0f}/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
