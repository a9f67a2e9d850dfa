"""Memory of every site process during a soak: the RSS of each process ``vcc up`` recorded (etcd
member, the Ray head and all its descendants: raylet, GCS, the workers that host the site's actors),
sampled every N seconds, and the growth after warm-up per site and per process.

Growth compares the mean of the first few samples after warm-up with the mean of the last few (a
quarter of the samples after warm-up, at most :data:`EDGE_SAMPLES`), so that one sample taken just
before a garbage collection does not decide the figure; only processes present in all of those
samples count (a restarted actor is reported as restarted, not as growth)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from vcc.runtime import procs
from vcc.runtime.launcher import RunState

EDGE_SAMPLES = 3  # most samples averaged at each end of the window
GROWTH_LIMIT_PCT = 5.0  # the soak's pass mark (issue 6): no process and no site grows more after warm-up

Sample = tuple[float, dict[str, dict[int, int]]]  # (s since start, site -> pid -> RSS KiB)


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


def site_pids(run_dir: Path) -> dict[str, dict[int, str]]:
    """Per site, pid -> a short name of what it runs."""
    state = RunState.load(run_dir)
    out: dict[str, dict[int, str]] = {}
    for site, rec in (state.sites if state else {}).items():
        pids = {rec.etcd_pid: "etcd"} if rec.etcd_pid else {}
        if rec.ray_pid:
            for pid in {rec.ray_pid, *procs.descendants(rec.ray_pid)}:
                pids[pid] = process_name(pid)
        out[site] = pids
    return out


def _mean_kib(samples: list[dict[int, int]], pids: set[int]) -> dict[int, float]:
    return {p: sum(s[p] for s in samples) / len(samples) for p in pids}


def _row(pid: int, name: str, first_kib: float, last_kib: float) -> dict[str, Any]:
    return {"pid": pid, "name": name,
            "mib_after_warmup": round(first_kib / 1024, 1), "mib_end": round(last_kib / 1024, 1),
            "grew_mib": round((last_kib - first_kib) / 1024, 1),
            "growth_pct": round(100.0 * (last_kib - first_kib) / first_kib, 2) if first_kib else None}


def growth_report(samples: list[Sample], names: dict[int, str], warmup_s: float) -> dict[str, Any]:
    """Per site and per process: RSS after warm-up, at the end and the growth in %, from ``samples``."""
    after = [s for s in samples if s[0] >= warmup_s]
    if len(after) < 2:
        return {"samples": len(samples), "note": "fewer than 2 samples after warm-up"}
    k = max(1, min(EDGE_SAMPLES, len(after) // 4))
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
        procs_rows = sorted((_row(p, names.get(p, "?"), first[p], last[p]) for p in common),
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
        self.names: dict[int, str] = {}
        self.t0 = time.monotonic()

    def sample(self) -> None:
        taken: dict[str, dict[int, int]] = {}
        for site, pids in site_pids(self.run_dir).items():
            self.names.update(pids)
            taken[site] = {pid: kib for pid in pids if (kib := rss_kib(pid)) is not None}
        self.samples.append((time.monotonic() - self.t0, taken))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)

    def report(self, warmup_s: float) -> dict[str, Any]:
        return growth_report(self.samples, self.names, warmup_s)
