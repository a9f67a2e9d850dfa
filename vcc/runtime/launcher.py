"""``vcc up`` / ``vcc down``: start and stop a whole contact center from its cluster file.

For every site: an etcd member (one per site, so any one site can be lost), a Ray head (ports and
temp dir from the config, token auth on), then the site's detached actors, created by a short-lived
driver process per site (a process can join one Ray cluster only). Everything vcc starts is recorded
by PID in ``<run dir>/state.json``; ``vcc down`` stops exactly that, Ray heads first (so no site
writes to etcd while it stops), then the etcd members.

A site's processes (etcd member, ``ray start``, deploy driver) can run under a command prefix, such as
``ip netns exec NS`` from :mod:`vcc.lab.netns`, so the site lives in a network namespace and listens
on that namespace's address (the site's ``host`` in the cluster file).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vcc.actors.settings import SiteSettings
from vcc.config import ClusterConfig, SiteConfig
from vcc.coord.client import EtcdClient
from vcc.coord.config_store import ConfigStore
from vcc.coord.etcd_server import EtcdMemberProcess, EtcdMemberSpec, EtcdTuning, launch_members
from vcc.coord.keys import CoordKeys
from vcc.errors import VccError
from vcc.runtime import procs
from vcc.runtime.raycluster import (
    RAY_STARTUP_TIMEOUT,
    RayHeadSpec,
    RayStartError,
    ray_env,
    start_head,
    stop_head,
    wait_head,
    wait_port_free,
)


class LaunchError(VccError):
    exit_code = 1


@dataclass
class SiteRecord:
    site: str
    grpc: str
    http: str
    etcd: str
    ray: str
    etcd_pid: int = 0
    ray_pid: int = 0
    exec_prefix: list[str] = field(default_factory=list)  # what the site's processes run under
    sip: str = ""  # host:port of the site's SIP listener (UDP and TCP), "" when the config has no trunk


@dataclass
class RunState:
    cluster: str
    config_path: str
    run_dir: str
    config_version: int = 0
    sites: dict[str, SiteRecord] = field(default_factory=dict)
    lab: dict[str, Any] | None = None  # the network lab of `vcc up --lab` (vcc.lab.cluster.LabRecord)

    def save(self) -> None:
        path = Path(self.run_dir) / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, run_dir: Path) -> RunState | None:
        path = run_dir / "state.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        raw["sites"] = {k: SiteRecord(**v) for k, v in raw["sites"].items()}
        return cls(**raw)


def default_run_dir(config: ClusterConfig) -> Path:
    return Path("var") / "run" / config.name


def ray_bin() -> str:
    return str(Path(sys.executable).parent / "ray")


def etcd_spec(site: SiteConfig, run_dir: Path) -> EtcdMemberSpec:
    ports = site.resolved_ports()
    return EtcdMemberSpec(site.etcd_member_name, site.host, ports["etcd_client"], ports["etcd_peer"],
                          run_dir / "etcd" / site.id)


def ray_spec(site: SiteConfig, run_dir: Path, exec_prefix: list[str] | None = None) -> RayHeadSpec:
    return RayHeadSpec(site.id, site.resolved_ports()["ray.gcs_port"], tuple(site.ray_start_args()),
                       run_dir / "ray-token", num_cpus=site.ray_num_cpus, host=site.host,
                       exec_prefix=tuple(exec_prefix or ()))


def site_settings(config: ClusterConfig, site: SiteConfig, run_dir: Path, version: int) -> SiteSettings:
    ports = site.resolved_ports()
    runtime = config.runtime
    return SiteSettings(
        cluster=config.name, site=site.id, config_version=version, grpc_host=site.host, grpc_port=ports["grpc"],
        etcd_host=site.host, etcd_port=ports["etcd_client"], run_dir=str((run_dir / "sites" / site.id).resolve()),
        peers={s.id: s.grpc_address for s in config.sites}, shards=site.acd_shards,
        etcd_fallbacks=[f"{s.host}:{s.resolved_ports()['etcd_client']}" for s in config.sites if s.id != site.id],
        ivr_workers=site.ivr_workers, gateways=site.media_gateways, lease_ttl_s=runtime.lease_ttl_s,
        lease_margin_s=runtime.lease_margin_s,
        peer_probe=runtime.peer_probe,
    )  # fmt: skip


def sip_address(config: ClusterConfig, site: SiteConfig) -> str:
    """Where the site listens for SIP (its gateway 0, docs/sip.md); "" when no trunk is configured."""
    port = site.port("sip")
    return f"{site.host}:{port}" if config.sip.trunks and port is not None else ""


def etcd_tuning(config: ClusterConfig) -> EtcdTuning:
    return EtcdTuning(heartbeat_interval_ms=config.runtime.etcd_heartbeat_ms,
                      election_timeout_ms=config.runtime.etcd_election_ms)


def up(config: ClusterConfig, config_path: Path, run_dir: Path, *, sites: list[str] | None = None,
       log: Any = print, exec_prefix: dict[str, list[str]] | None = None) -> RunState:
    """Start every site (or only ``sites``, rejoining a running cluster) and return once serving.

    ``exec_prefix[site]`` prefixes that site's etcd member, ``ray start`` and deploy driver (e.g.
    ``["ip", "netns", "exec", NS]``); a site restarted without one runs under its recorded prefix."""
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    state = RunState.load(run_dir) or RunState(config.name, str(config_path), str(run_dir))
    wanted = [s for s in config.sites if sites is None or s.id in sites]
    unknown = set(sites or ()) - {s.id for s in config.sites}
    if unknown:
        raise LaunchError(f"no site {sorted(unknown)[0]!r} in {config_path}")
    todo = [s for s in wanted if not _site_running(state.sites.get(s.id))]
    if not todo:
        log("every site is already running")
        return state
    t0 = time.monotonic()
    prefix = {s.id: list((exec_prefix or {}).get(s.id) or _recorded_prefix(state, s.id)) for s in config.sites}

    members: dict[str, EtcdMemberProcess] = {}
    heads: dict[str, int] = {}
    try:
        # 1. etcd: one member per site; a member with a data dir rejoins the cluster from it.
        all_specs = [etcd_spec(s, run_dir) for s in config.sites]
        etcd_todo = [s for s in todo if not (state.sites.get(s.id) and procs.alive(state.sites[s.id].etcd_pid))]
        if etcd_todo:
            started = launch_members([etcd_spec(s, run_dir) for s in etcd_todo], all_specs,
                                     cluster_token=f"vcc-{config.name}", tuning=etcd_tuning(config),
                                     log_dir=run_dir / "logs", exec_prefixes=[prefix[s.id] for s in etcd_todo])
            members = {m.spec.name: m for m in started}
        log(f"etcd members up ({time.monotonic() - t0:.1f} s)")

        # 2. Ray heads, in parallel.
        for s in todo:
            heads[s.id] = start_head(ray_spec(s, run_dir, prefix[s.id]), run_dir / "logs" / f"ray-{s.id}.log",
                                     ray_bin())
        for s in todo:
            spec, head_log = ray_spec(s, run_dir, prefix[s.id]), run_dir / "logs" / f"ray-{s.id}.log"
            try:
                wait_head(spec, heads[s.id], head_log)
            except RayStartError as e:
                if RAY_STARTUP_TIMEOUT not in str(e):
                    raise
                # Ray gives its raylet a fixed 30 s to register; a starved machine can miss it. Once more.
                log(f"site {s.id}: the Ray head timed out starting up; starting it again")
                stop_head(heads[s.id])
                wait_port_free(spec.gcs_port, spec.host, timeout_s=15.0)
                heads[s.id] = start_head(spec, head_log, ray_bin())
                wait_head(spec, heads[s.id], head_log)
        log(f"Ray heads up ({time.monotonic() - t0:.1f} s)")

        for s in todo:
            prev = state.sites.get(s.id)
            member = members.get(s.etcd_member_name)
            state.sites[s.id] = SiteRecord(
                s.id, s.grpc_address, s.http_url, s.etcd_client_url, s.ray_address,
                etcd_pid=member.pid if member else (prev.etcd_pid if prev else 0), ray_pid=heads[s.id],
                exec_prefix=prefix[s.id], sip=sip_address(config, s),
            )  # fmt: skip
        state.save()

        # 3. The configuration, versioned in etcd (first start, or unchanged text: same version).
        text = config_path.read_text()
        state.config_version = asyncio.run(_publish_config(config, todo[0], text))
        state.save()

        # 4. Each site's actors, from one driver process per site, in parallel.
        drivers = []
        for s in todo:
            settings = site_settings(config, s, run_dir, state.config_version)
            Path(settings.run_dir).mkdir(parents=True, exist_ok=True)
            settings_path = Path(settings.run_dir) / "settings.json"
            settings_path.write_text(json.dumps(asdict(settings)))
            (settings_path.with_name("ray.json")).write_text(json.dumps({"address": s.ray_address}))
            # in the site's namespace, if any: the driver joins the Ray cluster at the site's address
            cmd = [*prefix[s.id], sys.executable, "-m", "vcc.runtime.deploy", str(settings_path),
                   str(config_path.resolve())]
            env = ray_env(run_dir / "ray-token")
            drivers.append((s, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
        for s, proc in drivers:
            out, _ = proc.communicate(timeout=180)
            if proc.returncode != 0:
                tail = "\n".join(out.decode(errors="replace").splitlines()[-15:])
                raise LaunchError(f"site {s.id}: deploying its actors failed:\n{tail}")
        for s in todo:
            wait_serving(s.grpc_address, timeout_s=30)
        log(f"sites serving ({time.monotonic() - t0:.1f} s)")
    except BaseException:
        # leave nothing behind that this call started: what it started is not recorded as running
        for pid in heads.values():
            stop_head(pid)
        procs.terminate([m.pid for m in members.values()], timeout_s=5.0)
        for site_id in heads:
            state.sites.pop(site_id, None)
        state.save()
        raise
    return state


async def _publish_config(config: ClusterConfig, site: SiteConfig, text: str) -> int:
    ports = site.resolved_ports()
    async with EtcdClient(site.host, ports["etcd_client"]) as client:
        store = ConfigStore(client, CoordKeys(config.name))
        current = await store.current()
        if current is not None and current.yaml_text == text:
            return current.version
        return await store.apply(text)


def wait_serving(address: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise LaunchError(f"site API at {address} is not serving after {timeout_s:.0f} s")
            time.sleep(0.1)


def _recorded_prefix(state: RunState, site: str) -> list[str]:
    rec = state.sites.get(site)
    return rec.exec_prefix if rec else []


def _site_running(record: SiteRecord | None) -> bool:
    return record is not None and procs.alive(record.ray_pid) and procs.alive(record.etcd_pid)


def down(run_dir: Path, *, sites: list[str] | None = None, log: Any = print) -> list[str]:
    """Stop what ``up`` started (every site, or only ``sites``): Ray heads, then etcd members."""
    if sites is None:
        stop_dashboard(run_dir, log=log)
    state = RunState.load(run_dir)
    if state is None:
        return []
    chosen = [s for s in state.sites.values() if sites is None or s.site in sites]
    for rec in chosen:
        if rec.ray_pid:
            stop_head(rec.ray_pid)
    for rec in chosen:
        if rec.etcd_pid and procs.alive(rec.etcd_pid):
            procs.terminate([rec.etcd_pid], timeout_s=5.0)
        rec.ray_pid = rec.etcd_pid = 0
    state.save()
    _flush_warehouse(run_dir, [r.site for r in chosen], log)
    log(f"stopped site(s) {', '.join(r.site for r in chosen) or '(none)'}")
    if sites is None:
        if state.lab:
            from vcc.lab.cluster import remove_recorded_lab

            remove_recorded_lab(state, log=log)
        (run_dir / "state.json").unlink(missing_ok=True)
    return [r.site for r in chosen]


def _flush_warehouse(run_dir: Path, sites: list[str], log: Any) -> None:
    """The sites' sinks flush to Parquet every second; what they logged after their last flush is
    copied now that they stopped (their writer locks died with them)."""
    from vcc.analytics import warehouse
    from vcc.analytics.flusher import sync_stopped

    try:
        written = sync_stopped(run_dir, warehouse.default_root(run_dir), sites)
    except Exception as e:  # the logs keep every event: `vcc warehouse sync` copies them later
        log(f"warehouse not brought up to the event logs ({type(e).__name__}: {e}): run `vcc warehouse sync`")
        return
    busy = [site for site, n in written.items() if n is None]
    if busy:
        log(f"warehouse of site(s) {', '.join(busy)} still has a writer: not flushed")


def stop_dashboard(run_dir: Path, *, log: Any = print) -> None:
    """Stop the dashboard server ``vcc dashboard --background`` recorded in ``<run dir>/dashboard.pid``
    (the whole contact center is going down: its dashboards go with it)."""
    pid_file = run_dir / "dashboard.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return
    if procs.alive(pid):
        procs.terminate([pid], timeout_s=5.0)
        log(f"stopped the dashboard server (pid {pid})")
    pid_file.unlink(missing_ok=True)


def kill_site(run_dir: Path, site: str) -> None:
    """SIGKILL every process of a site at once (a drill, or a test of failover)."""
    state = RunState.load(run_dir)
    if state is None or site not in state.sites:
        raise LaunchError(f"site {site!r} is not running from {run_dir}")
    rec = state.sites[site]
    pids = [rec.etcd_pid, rec.ray_pid, *procs.descendants(rec.ray_pid)] if rec.ray_pid else [rec.etcd_pid]
    procs.kill(p for p in pids if p)
    rec.ray_pid = rec.etcd_pid = 0
    state.save()



async def apply_config(cluster: str, text: str, endpoints: list[tuple[str, int]]) -> int:
    """Store a validated config text as the next version, through the first etcd member that
    answers; every site's controller picks it up from its watch. Returns the version."""
    errors = []
    for host, port in endpoints:
        try:
            async with EtcdClient(host, port, timeout_s=2.0) as client:
                return await ConfigStore(client, CoordKeys(cluster)).apply(text)
        except VccError as e:
            errors.append(f"{host}:{port}: {e}")
    raise LaunchError("no etcd member answered: " + "; ".join(errors))
