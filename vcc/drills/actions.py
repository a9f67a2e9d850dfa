"""What a drill does to a site of a cluster started by ``vcc up`` (found by the PIDs in state.json).

On a cluster that is not in network namespaces, a partition is SIGSTOP of every process of the site
(etcd member, Ray head and its descendants) and healing is SIGCONT: to its peers the site is exactly
as silent as behind a cut link (connections hang, nothing is refused), and it keeps its state. What
it cannot show is a site that *runs on* while cut off (it is frozen, so it neither fences itself
nor serves its own callers meanwhile). ``slow`` is CPU starvation by a SIGSTOP/SIGCONT duty cycle.

On a cluster in the network lab (``vcc up --lab``) a partition cuts the site's link at the hub and
``slow`` degrades its WAN links instead (:mod:`vcc.drills.lab`); the processes run on.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from vcc.config import ClusterConfig
from vcc.coord.etcd_server import launch_members
from vcc.drills import lab
from vcc.errors import VccError
from vcc.lab.wan import WanParams
from vcc.runtime import launcher, procs
from vcc.runtime.launcher import RunState


class DrillError(VccError):
    exit_code = 2


def _state(run_dir: Path) -> RunState:
    state = RunState.load(run_dir)
    if state is None:
        raise DrillError(f"no running cluster in {run_dir} (state.json missing): start it with `vcc up`")
    return state


def site_pids(run_dir: Path, site: str) -> list[int]:
    state = _state(run_dir)
    rec = state.sites.get(site)
    if rec is None:
        raise DrillError(f"no site {site!r} in {run_dir} (sites: {', '.join(state.sites)})")
    pids = [p for p in (rec.etcd_pid, rec.ray_pid) if p]
    if rec.ray_pid:
        pids += sorted(procs.descendants(rec.ray_pid))
    alive = [p for p in pids if procs.alive(p)]
    if not alive:
        raise DrillError(f"site {site} is not running (killed? `vcc drill heal {site}` restarts it)")
    return alive


def kill(run_dir: Path, site: str) -> None:
    site_pids(run_dir, site)
    launcher.kill_site(run_dir, site)


def freeze(run_dir: Path, site: str) -> list[int]:
    """Partition the site: cut its lab link, or (outside the lab) SIGSTOP its processes."""
    pids = site_pids(run_dir, site)
    if (rec := lab.lab_of(run_dir)) is not None:
        lab.partition(rec, site)
        return pids
    for pid in pids:
        procs.signal_quietly(pid, signal.SIGSTOP)
    return pids


def thaw(run_dir: Path, site: str) -> list[int]:
    pids = site_pids(run_dir, site)
    if (rec := lab.lab_of(run_dir)) is not None:
        lab.heal(rec, site)
        return pids
    for pid in pids:
        procs.signal_quietly(pid, signal.SIGCONT)
    return pids


def slow(run_dir: Path, site: str, for_s: float, stopped_fraction: float, period_s: float = 0.1,
         wan: WanParams | None = None) -> threading.Thread:
    """Starve the site of CPU for ``for_s``: stopped ``stopped_fraction`` of every ``period_s``. In the
    lab: its links get the ``wan`` settings for ``for_s`` instead."""
    pids = site_pids(run_dir, site)
    if (rec := lab.lab_of(run_dir)) is not None:
        return lab.slow(rec, site, for_s, wan or WanParams(delay_ms=150, jitter_ms=50, loss_pct=2))

    def cycle() -> None:
        end = time.monotonic() + for_s
        try:
            while time.monotonic() < end:
                for pid in pids:
                    procs.signal_quietly(pid, signal.SIGSTOP)
                time.sleep(period_s * stopped_fraction)
                for pid in pids:
                    procs.signal_quietly(pid, signal.SIGCONT)
                time.sleep(period_s * (1 - stopped_fraction))
        finally:
            for pid in pids:
                procs.signal_quietly(pid, signal.SIGCONT)

    thread = threading.Thread(target=cycle, name=f"slow-{site}", daemon=True)
    thread.start()
    return thread


def heal(config: ClusterConfig, config_path: Path, run_dir: Path, site: str) -> str:
    """Undo a drill: SIGCONT a frozen site, restart a killed site or a killed etcd member."""
    state = _state(run_dir)
    rec = state.sites.get(site)
    if rec is None:
        raise DrillError(f"no site {site!r} in {run_dir}")
    ray_alive = bool(rec.ray_pid) and procs.alive(rec.ray_pid)
    etcd_alive = bool(rec.etcd_pid) and procs.alive(rec.etcd_pid)
    if ray_alive and not etcd_alive:
        restart_etcd_member(config, run_dir, site)
        return "etcd member restarted"
    if not ray_alive:
        launcher.up(config, Path(state.config_path) if state.lab else config_path, run_dir, sites=[site],
                    log=lambda m: None)
        return "site restarted"
    if (lab_rec := lab.lab_of(run_dir)) is not None:
        return "link up again" if lab.heal(lab_rec, site) else "link was not cut"
    thaw(run_dir, site)
    return "site resumed (SIGCONT)"


def etcd_member_pid(run_dir: Path, site: str) -> int:
    rec = _state(run_dir).sites.get(site)
    if rec is None or not rec.etcd_pid or not procs.alive(rec.etcd_pid):
        raise DrillError(f"site {site}'s etcd member is not running")
    return rec.etcd_pid


def kill_etcd_member(run_dir: Path, site: str) -> None:
    pid = etcd_member_pid(run_dir, site)
    procs.kill([pid])
    state = _state(run_dir)
    state.sites[site].etcd_pid = 0
    state.save()


def restart_etcd_member(config: ClusterConfig, run_dir: Path, site: str) -> None:
    state = _state(run_dir)
    spec = next(s for s in config.sites if s.id == site)
    rec = state.sites[site]
    (member,) = launch_members([launcher.etcd_spec(spec, run_dir)], [launcher.etcd_spec(s, run_dir)
                               for s in config.sites], cluster_token=f"vcc-{config.name}",
                               tuning=launcher.etcd_tuning(config), log_dir=run_dir / "logs",
                               exec_prefixes=[rec.exec_prefix])
    rec.etcd_pid = member.pid
    state.save()


def shard_pid(run_dir: Path, site: str) -> int:
    """The process of one of the site's ACD shard actors (the lowest PID)."""
    pids = [p for p in site_pids(run_dir, site) if "ray::AcdShard" in procs.cmdline(p)]
    if not pids:
        raise DrillError(f"site {site} has no ACD shard process running")
    return min(pids)
