"""Running one drill: act on a site, watch every site's event log until the cluster has recovered
(or the window closes), let the contacts of the drill's span settle, and measure (``measure.py``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.config import ClusterConfig
from vcc.coord.keys import CoordKeys
from vcc.drills import actions
from vcc.drills.actions import DrillError
from vcc.drills.logs import ClusterTail, durable_state, etcd_leader
from vcc.drills.measure import DURABLE, FINAL, double_bookings, measure
from vcc.lab.wan import WanParams

KINDS = ("kill", "partition", "slow", "heal", "etcd-leader", "shard")


@dataclass(frozen=True)
class DrillOptions:
    window_s: float = 20.0  # longest to watch for recovery
    hold_s: float = 8.0  # partition/slow: how long before healing by itself (0: leave it to `heal`)
    stopped_fraction: float = 0.7  # slow: share of each 100 ms the site is stopped
    settle_s: float = 30.0  # longest to wait for the span's durable contacts to end
    lookback_s: float = 20.0  # durable contacts that arrived this long before the drill are checked too
    after_s: float = 5.0  # watched after recovery too: the service level covers the queue draining
    slow_wan: WanParams = field(default_factory=lambda: WanParams(delay_ms=150, jitter_ms=50, loss_pct=2))  # lab


class Drill:
    def __init__(self, config: ClusterConfig, config_path: Path, run_dir: Path, kind: str, site: str | None,
                 options: DrillOptions) -> None:
        if kind not in KINDS:
            raise DrillError(f"unknown drill {kind!r} (one of: {', '.join(KINDS)})")
        if kind != "etcd-leader" and site not in {s.id for s in config.sites}:
            raise DrillError(f"no site {site!r} in {config_path} (sites: {', '.join(s.id for s in config.sites)})")
        self.config, self.config_path, self.run_dir = config, config_path, run_dir
        self.kind, self.site, self.options = kind, site or "", options
        self.tail = ClusterTail(run_dir)
        self.events: list[dict[str, Any]] = []
        self.capacity = {(a.id, str(getattr(ch, "value", ch))): int(n) for a in config.agents
                         for ch, n in a.capacity.items()}

    def poll(self) -> list[dict[str, Any]]:
        new = self.tail.new()
        self.events += new
        return new

    def leader_site(self) -> str | None:
        for s in self.config.sites:
            name = etcd_leader(s.etcd_client_url)
            if name:
                return next((x.id for x in self.config.sites if x.etcd_member_name == name), None)
        return None

    async def run(self) -> dict[str, Any]:
        o = self.options
        self.poll()
        t0 = time.time()
        extra: dict[str, Any] = {}
        if self.kind == "heal":
            extra["healed"] = await asyncio.to_thread(actions.heal, self.config, self.config_path, self.run_dir,
                                                      self.site)
            return {"drill": "heal", "site": self.site, "took_s": round(time.time() - t0, 2), **extra, "ok": True}
        if self.kind == "etcd-leader":
            leader = await asyncio.to_thread(self.leader_site)
            if leader is None:
                raise DrillError("no etcd member names a leader: is the cluster up?")
            self.site = leader
            t0 = time.time()
            actions.kill_etcd_member(self.run_dir, leader)
            extra["killed_member_of_site"] = leader
        elif self.kind == "kill":
            actions.kill(self.run_dir, self.site)
        elif self.kind == "partition":
            actions.freeze(self.run_dir, self.site)
            extra["method"] = "link cut" if actions.lab.lab_of(self.run_dir) else "SIGSTOP"
        elif self.kind == "slow":
            actions.slow(self.run_dir, self.site, o.hold_s or o.window_s, o.stopped_fraction, wan=o.slow_wan)
            if actions.lab.lab_of(self.run_dir):
                extra.update(method="lab WAN", **{f"wan_{k}": v for k, v in o.slow_wan.to_dict().items()})
            else:
                extra.update(method="SIGSTOP duty cycle", stopped_fraction=o.stopped_fraction)
        elif self.kind == "shard":
            pid = actions.shard_pid(self.run_dir, self.site)
            actions.procs.kill([pid])
            extra["shard_pid"] = pid
        healed_at = None
        end = time.monotonic() + o.window_s
        while time.monotonic() < end:
            await asyncio.sleep(0.1)
            new = self.poll()
            if self.kind == "partition" and o.hold_s and healed_at is None and time.time() - t0 >= o.hold_s:
                actions.thaw(self.run_dir, self.site)
                healed_at = time.time()
            if self.kind == "etcd-leader" and "new_leader_s" not in extra:
                now_leader = await asyncio.to_thread(self.leader_site)
                if now_leader and now_leader != self.site:
                    extra["new_leader_s"] = round(time.time() - t0, 3)
                    extra["new_leader_site"] = now_leader
            if self.kind == "shard" and any(e.get("kind") == "site" and e.get("event") == "shard_restored"
                                            and e.get("site") == self.site for e in new):
                extra["shard_restored_s"] = round(time.time() - t0, 3)
            if self.recovered(t0, extra, healed_at):
                break
        if self.kind == "partition" and o.hold_s and healed_at is None:
            actions.thaw(self.run_dir, self.site)
            healed_at = time.time()
        if healed_at is not None:
            extra["healed_after_s"] = round(healed_at - t0, 3)
        after_end = time.monotonic() + o.after_s  # what the drill left behind: queues draining
        while time.monotonic() < after_end:
            await asyncio.sleep(0.2)
            self.poll()
        t_end = time.time()
        span = (t0 - o.lookback_s, t_end)
        settle_end = time.monotonic() + o.settle_s
        while time.monotonic() < settle_end and self.open_durable(*span):
            await asyncio.sleep(0.3)
            self.poll()
        return self.report(t0, t_end, span, extra)

    def recovered(self, t0: float, extra: dict[str, Any], healed_at: float | None) -> bool:
        if self.kind == "shard":
            return "shard_restored_s" in extra
        if self.kind == "etcd-leader":
            return "new_leader_s" in extra and time.time() - t0 > 3.0
        if self.kind in ("partition", "slow"):
            return False  # watch the whole window: the site comes back into it
        m = self.figures(t0, time.time(), (t0, time.time()))
        return (m["adopted_s"] is not None and m["tenants_served_elsewhere_s"] is not None
                and m["agents_rehomed"] >= m["agents_home"] > 0)

    def ended_in_etcd(self, contact_ids: list[str]) -> list[str]:
        """Of durable contacts with no end in any event log, those whose etcd record says they ended
        (a site killed between its etcd write and its event log write loses the logged end only)."""
        keys = CoordKeys(self.config.name)
        urls = [s.etcd_client_url for s in self.config.sites]
        out = []
        for cid in contact_ids:
            state = next((st for url in urls if (st := durable_state(url, keys.contact(cid))) is not None), None)
            if state in FINAL:
                out.append(cid)
        return out

    def open_durable(self, since: float, until: float) -> list[str]:
        arrived = {e["contact_id"] for e in self.events if e.get("kind") == "contact" and e["state"] == "arrived"
                   and e.get("channel") in DURABLE and since <= e["ts"] <= until}
        ended = {e["contact_id"] for e in self.events if e.get("kind") == "contact" and e["state"] in FINAL}
        return sorted(arrived - ended)

    def figures(self, t0: float, t_end: float, span: tuple[float, float]) -> dict[str, Any]:
        tenants = {t.id for t in self.config.tenants if self.site in t.home_sites}
        home = {a.id for a in self.config.agents if a.home_site == self.site}
        thresholds = {q.id: q.service_level.threshold_s for t in self.config.tenants for q in t.queues}
        return measure(self.events, self.site, t0, t_end, tenants=tenants, home_agents=home,
                       thresholds=thresholds, durable_since=span[0], durable_until=span[1])

    def report(self, t0: float, t_end: float, span: tuple[float, float], extra: dict[str, Any]) -> dict[str, Any]:
        m = self.figures(t0, t_end, span)
        booked = double_bookings(self.events, lambda agent, ch: self.capacity.get((agent, ch), 1))
        unlogged = self.ended_in_etcd(m["durable_lost"])  # ended, but the end never reached the log
        m["durable_lost"] = [c for c in m["durable_lost"] if c not in unlogged]
        extra["durable_end_unlogged"] = unlogged[:20]
        extra["durable_end_unlogged_count"] = len(unlogged)
        ok = not m["durable_lost"] and not m["durable_duplicated"] and not booked
        return {"drill": self.kind, "site": self.site, "started_ts": t0, "watched_s": round(t_end - t0, 2),
                **extra, **m, "durable_lost": m["durable_lost"][:20], "durable_lost_count": len(m["durable_lost"]),
                "durable_duplicated": m["durable_duplicated"][:20],
                "durable_duplicated_count": len(m["durable_duplicated"]),
                "double_booked": booked[:20], "double_booked_count": len(booked), "ok": ok}


async def run_drill(config: ClusterConfig, config_path: Path, run_dir: Path, kind: str, site: str | None,
                    options: DrillOptions | None = None) -> dict[str, Any]:
    return await Drill(config, config_path, run_dir, kind, site, options or DrillOptions()).run()
