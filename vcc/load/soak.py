"""Memory of every site process during a soak: the RSS of each process ``vcc up`` recorded (etcd
member, the Ray head and all its descendants: raylet, GCS, actor workers), sampled every N seconds,
and the growth from the first sample after warm-up to the end, per site and per process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from vcc.runtime import procs
from vcc.runtime.launcher import RunState


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def site_pids(run_dir: Path) -> dict[str, dict[int, str]]:
    """Per site, pid -> a short name of what it runs."""
    state = RunState.load(run_dir)
    out: dict[str, dict[int, str]] = {}
    for site, rec in (state.sites if state else {}).items():
        pids = {rec.etcd_pid: "etcd"} if rec.etcd_pid else {}
        if rec.ray_pid:
            for pid in {rec.ray_pid, *procs.descendants(rec.ray_pid)}:
                words = procs.cmdline(pid).split()
                name = next((w.rsplit("/", 1)[-1] for w in words if "ray::" in w or w.endswith(
                    ("raylet", "gcs_server", "dashboard.py", "ray"))), words[0].rsplit("/", 1)[-1] if words else "?")
                pids[pid] = name[:40]
        out[site] = pids
    return out


class RssSampler:
    def __init__(self, run_dir: Path, every_s: float) -> None:
        self.run_dir = run_dir
        self.every_s = every_s
        self.samples: list[tuple[float, dict[str, dict[int, int]]]] = []  # (t since start, site -> pid -> KiB)
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
        after = [s for s in self.samples if s[0] >= warmup_s]
        if len(after) < 2:
            return {"samples": len(self.samples), "note": "fewer than 2 samples after warm-up"}
        (t_first, first), (t_last, last) = after[0], after[-1]
        sites = {}
        for site in last:
            common = set(first.get(site, {})) & set(last[site])  # processes alive at both ends
            a = sum(first[site][p] for p in common)
            b = sum(last[site][p] for p in common)
            growers = sorted(common, key=lambda p: last[site][p] - first[site][p], reverse=True)[:3]
            sites[site] = {
                "rss_mib_after_warmup": round(a / 1024, 1), "rss_mib_end": round(b / 1024, 1),
                "growth_pct": round(100.0 * (b - a) / a, 2) if a else None,
                "processes": len(last[site]), "restarted_or_new": len(set(last[site]) - set(first.get(site, {}))),
                "top_growth": [{"pid": p, "name": self.names.get(p, "?"),
                                "mib": round((last[site][p] - first[site][p]) / 1024, 1)} for p in growers],
            }
        worst = max((s["growth_pct"] for s in sites.values() if s["growth_pct"] is not None), default=None)
        return {"samples": len(self.samples), "window_s": round(t_last - t_first, 1), "sites": sites,
                "worst_growth_pct": worst}
