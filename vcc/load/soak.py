"""Memory of every site process during a soak: the RSS of each process ``vcc up`` recorded (etcd
member, the Ray head and all its descendants: raylet, GCS, the workers that host the site's actors),
sampled every N seconds, and the growth after warm-up per site and per process.

Growth compares the mean of the samples in the first :data:`EDGE_WINDOW_S` after warm-up with the
mean of those in the last (at most a quarter of the samples after warm-up each), so that neither one
sample taken just before a garbage collection nor the phase of etcd's 5-min compaction cycle decides
the figure; only processes present in all of those samples count (a restarted actor is reported as
restarted, not as growth). Beside it, ``trend_pct``: the least-squares slope through every sample after
warm-up, times the window, over the mean (the growth a steady leak would show, whatever the ends do).

Each site's etcd member is also read on its ``/metrics`` at every sample (Go heap in use, keys, bbolt
in use): RSS alone cannot tell a Go heap that keeps growing from pages the runtime has not handed
back yet."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from pathlib import Path
from typing import Any

from vcc.coord.store import DEFAULT_RETENTION_S
from vcc.runtime import procs
from vcc.runtime.launcher import RunState

EDGE_WINDOW_S = 300.0  # averaged at each end of the window: one etcd compaction period (EtcdTuning)
#: When etcd's working set is full under a steady load: ended contacts stay DEFAULT_RETENTION_S, the
#: history is compacted every EDGE_WINDOW_S, and the soak of 2026-11-22 saw it level off ~3 min later.
ETCD_STEADY_AFTER_S = DEFAULT_RETENTION_S + 2 * EDGE_WINDOW_S
GROWTH_LIMIT_PCT = 5.0  # the soak's pass mark (issue 6): no process and no site grows more after warm-up

Sample = tuple[float, dict[str, dict[int, int]]]  # (s since start, site -> pid -> RSS KiB)

#: etcd's own figures read beside its RSS (Prometheus names on the member's client URL ``/metrics``).
ETCD_METRICS = {
    "heap_inuse_mib": ("go_memstats_heap_inuse_bytes", 1 / 2**20),
    "keys": ("etcd_debugging_mvcc_keys_total", 1.0),
    "db_in_use_mib": ("etcd_mvcc_db_total_size_in_use_in_bytes", 1 / 2**20),
}


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def process_name(pid: int) -> str:
    """A short name of what ``pid`` runs: ``ray::AcdShard``, ``raylet``, ``gcs_server``, ``etcd``..."""
    words = procs.cmdline(pid).split()
    name = next((w.rsplit("/", 1)[-1] for w in words if "ray::" in w or w.endswith(
        ("raylet", "gcs_server", "dashboard.py", "ray"))), words[0].rsplit("/", 1)[-1] if words else "?")
    return name[:40]


def site_pids(run_dir: Path, state: RunState | None = None) -> dict[str, dict[int, str]]:
    """Per site, pid -> a short name of what it runs (``state``: the run dir's, already read)."""
    state = state or RunState.load(run_dir)
    out: dict[str, dict[int, str]] = {}
    for site, rec in (state.sites if state else {}).items():
        pids = {rec.etcd_pid: "etcd"} if rec.etcd_pid else {}
        if rec.ray_pid:
            for pid in {rec.ray_pid, *procs.descendants(rec.ray_pid)}:
                pids[pid] = process_name(pid)
        out[site] = pids
    return out


def etcd_metrics(endpoint: str, timeout_s: float = 2.0) -> dict[str, float]:
    """:data:`ETCD_METRICS` of the member at ``endpoint`` (``host:port`` or a URL); {} if it does not answer."""
    url = (endpoint if "://" in endpoint else f"http://{endpoint}").rstrip("/") + "/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            text = resp.read().decode()
    except (OSError, ValueError):
        return {}
    wanted = {name: (key, scale) for key, (name, scale) in ETCD_METRICS.items()}
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            key, scale = wanted[name]
            with contextlib.suppress(ValueError):
                out[key] = round(float(value) * scale, 1)
    return out


def trend_pct(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope through (t, value) times the time spanned, in % of the mean value."""
    if len(points) < 2:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if not var or not mv:
        return None
    slope = sum((t - mt) * (v - mv) for t, v in points) / var
    return round(100.0 * slope * (points[-1][0] - points[0][0]) / mv, 2)


def _mean_kib(samples: list[dict[int, int]], pids: set[int]) -> dict[int, float]:
    return {p: sum(s[p] for s in samples) / len(samples) for p in pids}


def _row(pid: int, name: str, first_kib: float, last_kib: float, trend: float | None) -> dict[str, Any]:
    return {"pid": pid, "name": name,
            "mib_after_warmup": round(first_kib / 1024, 1), "mib_end": round(last_kib / 1024, 1),
            "grew_mib": round((last_kib - first_kib) / 1024, 1),
            "growth_pct": round(100.0 * (last_kib - first_kib) / first_kib, 2) if first_kib else None,
            "trend_pct": trend}


def _edge(times: list[float]) -> int:
    """How many samples each end of the window averages: those within EDGE_WINDOW_S, a quarter at most."""
    within = sum(1 for t in times if t - times[0] < EDGE_WINDOW_S)
    return max(1, min(within, len(times) // 4))


def etcd_report(samples: list[tuple[float, dict[str, dict[str, float]]]], warmup_s: float) -> dict[str, Any]:
    """Per site, each of :data:`ETCD_METRICS` after warm-up and at the end (edge means) and its trend."""
    after = [s for s in samples if s[0] >= warmup_s]
    if len(after) < 2:
        return {}
    k = _edge([t for t, _ in after])
    out: dict[str, Any] = {}
    for site in after[-1][1]:
        figures: dict[str, Any] = {}
        for key in ETCD_METRICS:
            pts = [(t, m[site][key]) for t, m in after if key in m.get(site, {})]
            if len(pts) < 2:
                continue
            head, tail = [v for _, v in pts[:k]], [v for _, v in pts[-k:]]
            figures[key] = {"after_warmup": round(sum(head) / len(head), 1), "end": round(sum(tail) / len(tail), 1),
                            "min": min(v for _, v in pts), "max": max(v for _, v in pts), "trend_pct": trend_pct(pts)}
        out[site] = figures
    return out


def growth_report(samples: list[Sample], names: dict[int, str], warmup_s: float) -> dict[str, Any]:
    """Per site and per process: RSS after warm-up, at the end and the growth in %, from ``samples``."""
    after = [s for s in samples if s[0] >= warmup_s]
    if len(after) < 2:
        return {"samples": len(samples), "note": "fewer than 2 samples after warm-up"}
    k = _edge([t for t, _ in after])
    head, tail = after[:k], after[-k:]
    sites: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for site in tail[-1][1]:
        head_s = [t[site] for _, t in head if site in t]
        tail_s = [t[site] for _, t in tail if site in t]
        if not head_s or not tail_s:
            continue
        common = set.intersection(*(set(s) for s in head_s + tail_s))  # alive throughout both ends
        first, last = _mean_kib(head_s, common), _mean_kib(tail_s, common)
        a, b = sum(first.values()), sum(last.values())
        throughout = set.intersection(*(set(t[site]) for _, t in after if site in t))
        trends = {p: trend_pct([(t, float(s[site][p])) for t, s in after]) for p in throughout}
        procs_rows = sorted((_row(p, names.get(p, "?"), first[p], last[p], trends.get(p)) for p in common),
                            key=lambda r: -float(r["grew_mib"]))
        rows += [{"site": site, **r} for r in procs_rows]
        ended = set(head_s[0]) - set(tail_s[-1])
        sites[site] = {
            "rss_mib_after_warmup": round(a / 1024, 1), "rss_mib_end": round(b / 1024, 1),
            "growth_pct": round(100.0 * (b - a) / a, 2) if a else None,
            "processes": len(tail_s[-1]), "restarted_or_new": len(set(tail_s[-1]) - set(head_s[0])),
            "gone": sorted(f"{p} {names.get(p, '?')}" for p in ended),
            "top_growth": [{"pid": r["pid"], "name": r["name"], "mib": r["grew_mib"], "growth_pct": r["growth_pct"]}
                           for r in procs_rows[:3]],
        }
    worst = max((s["growth_pct"] for s in sites.values() if s["growth_pct"] is not None), default=None)
    worst_proc = max((r for r in rows if r["growth_pct"] is not None), key=lambda r: r["growth_pct"], default=None)
    worst_proc_pct = worst_proc["growth_pct"] if worst_proc else None
    return {
        "samples": len(samples), "window_s": round(after[-1][0] - after[0][0], 1), "edge_samples": k,
        "edge_window_s": round(after[k - 1][0] - after[0][0], 1),
        "sites": sites, "worst_growth_pct": worst,
        "worst_process": worst_proc, "worst_process_growth_pct": worst_proc_pct,
        "within_limit": (worst is not None and worst <= GROWTH_LIMIT_PCT
                         and (worst_proc_pct is None or worst_proc_pct <= GROWTH_LIMIT_PCT)),
        "processes": rows,
        "curve": {"t_s": [round(t) for t, _ in samples],
                  "site_mib": {site: [round(sum(s.get(site, {}).values()) / 1024, 1) for _, s in samples]
                               for site in tail[-1][1]}},
    }


class RssSampler:
    def __init__(self, run_dir: Path, every_s: float) -> None:
        self.run_dir = run_dir
        self.every_s = every_s
        self.samples: list[Sample] = []
        self.etcd: list[tuple[float, dict[str, dict[str, float]]]] = []  # (s since start, site -> metrics)
        self.names: dict[int, str] = {}
        self.t0 = time.monotonic()

    def sample(self) -> None:
        taken: dict[str, dict[int, int]] = {}
        t = time.monotonic() - self.t0
        state = RunState.load(self.run_dir)
        for site, pids in site_pids(self.run_dir, state).items():
            self.names.update(pids)
            taken[site] = {pid: kib for pid in pids if (kib := rss_kib(pid)) is not None}
        self.samples.append((t, taken))
        self.etcd.append((t, {site: etcd_metrics(rec.etcd) for site, rec in (state.sites if state else {}).items()}))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)

    def report(self, warmup_s: float) -> dict[str, Any]:
        report = growth_report(self.samples, self.names, warmup_s)
        report["etcd"] = etcd_report(self.etcd, warmup_s)
        report["etcd_curve"] = {"t_s": [round(t) for t, _ in self.etcd],
                                **{key: {site: [m.get(site, {}).get(key) for _, m in self.etcd]
                                         for site in (self.etcd[-1][1] if self.etcd else {})}
                                   for key in ETCD_METRICS}}
        return report
