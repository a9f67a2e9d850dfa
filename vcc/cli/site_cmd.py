"""``vcc up`` / ``vcc status`` / ``vcc down``: run a contact center from a cluster file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import grpc
import typer

from vcc.config.compile import compile_center
from vcc.config.loader import load_config
from vcc.coord.client import EtcdClient
from vcc.errors import VccError
from vcc.proto.v1 import site_pb2 as pb
from vcc.proto.v1 import site_pb2_grpc as pb_grpc
from vcc.runtime import launcher

DEFAULT_CONFIG = Path("cluster/three-sites.yaml")
CONFIG_ARG = typer.Argument(DEFAULT_CONFIG, help="Cluster file (YAML).")
RUN_DIR = typer.Option(None, "--run-dir", help="Where vcc keeps state, logs and data (default var/run/<cluster>).")


def _run_dir(config_path: Path, run_dir: Path | None) -> tuple[Any, Path]:
    config = load_config(config_path)
    compile_center(config)
    rd = run_dir or launcher.default_run_dir(config)
    state = launcher.RunState.load(rd)
    if state is not None and state.lab:  # in the lab: the cluster file with the sites' lab addresses
        config = load_config(Path(state.config_path))
    return config, rd


def up(
    config_path: Path = CONFIG_ARG,
    site: list[str] = typer.Option(None, "--site", help="Start only this site (repeatable): rejoin a cluster."),
    run_dir: Path | None = RUN_DIR,
    lab: bool = typer.Option(False, "--lab", help="Each site in its own network namespace, joined by the lab's "
                             "WAN emulator (the `lab:` section; docs/lab.md). Needs root."),
    lab_prefix: str = typer.Option("vcclab", "--lab-prefix", help="Prefix of the lab's namespace names."),
) -> None:
    """Start every site of the cluster file (etcd member, Ray head, actors) and return once serving."""
    config, rd = _run_dir(config_path, run_dir)
    echo = lambda m: typer.echo(f"  {m}")  # noqa: E731
    if lab:
        if site:
            raise VccError("--lab starts the whole cluster: without --site (a lab site restarts by `vcc up --site`)")
        from vcc.lab.cluster import up_lab

        state = up_lab(config, config_path, rd, prefix=lab_prefix, log=echo)
    else:
        state = launcher.up(config, _lab_config_path(rd) or config_path, rd, sites=site or None, log=echo)
    typer.echo(f"vcc cluster {config.name!r} is serving (config version {state.config_version}):")
    for rec in state.sites.values():
        sip = f"  SIP {rec.sip} (UDP+TCP)" if rec.sip else ""
        typer.echo(f"  site {rec.site}: gRPC {rec.grpc}  web {rec.http}{sip}  etcd {rec.etcd}  Ray {rec.ray}")
    typer.echo(f"  state and logs: {rd}   stop with: vcc down {config_path}")


def _lab_config_path(run_dir: Path) -> Path | None:
    """The lab's cluster file (hosts are lab addresses) when the cluster in ``run_dir`` runs in the lab."""
    state = launcher.RunState.load(run_dir)
    return Path(state.config_path) if state is not None and state.lab else None


def down(
    config_path: Path = CONFIG_ARG,
    site: list[str] = typer.Option(None, "--site", help="Stop only this site (repeatable)."),
    run_dir: Path | None = RUN_DIR,
) -> None:
    """Stop exactly what `vcc up` started (Ray heads first, then etcd members)."""
    _, rd = _run_dir(config_path, run_dir)
    launcher.down(rd, sites=site or None, log=typer.echo)


def status(
    config_path: Path = CONFIG_ARG,
    as_json: bool = typer.Option(False, "--json", help="One JSON object for machines."),
    run_dir: Path | None = RUN_DIR,
) -> None:
    """Sites, etcd members and leader, each site's session lease, actors and their health, queue load."""
    config, rd = _run_dir(config_path, run_dir)
    report = collect_status(config, rd)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"cluster {config.name}  (run dir {rd})")
    leader = report["etcd"]["leader"]
    typer.echo(f"etcd leader: {leader or 'none (no quorum?)'}")
    for s in report["sites"]:
        if not s["reachable"]:
            typer.echo(f"site {s['site']}: DOWN ({s['error']})  etcd member: {s['etcd']}")
            continue
        flag = "FENCED" if s["fenced"] else "serving"
        typer.echo(f"site {s['site']}: {flag}  lease {s['lease_id']:x} (ttl {s['lease_ttl_s']:.0f} s)  "
                   f"agents {s['agents_logged_in']}  contacts {s['contacts_in_progress']}  "
                   f"config v{s['config_version']}  etcd member: {s['etcd']}")
        if s["sip"]:
            typer.echo(f"    SIP {s['sip']} (UDP+TCP): {_sip_line(s)}")
        for a in s["actors"]:
            typer.echo(f"    {'ok ' if a['healthy'] else 'BAD'} {a['kind']:<14} {a['name']}")
        for q in s["queues"]:
            if q["waiting"] or q["staffed_agents"]:
                ewt = "-" if q["ewt_s"] < 0 else f"{q['ewt_s']:.0f}s"
                typer.echo(f"    queue {q['queue']:<24} waiting {q['waiting']:>4}  ewt {ewt:>6}  "
                           f"ready {q['ready_agents']:>3}/{q['staffed_agents']:<3}")


def _sip_detail(detail: str) -> dict[str, Any]:
    """An actor's health detail (JSON) reduced to its SIP listener's figures, if it runs one."""
    try:
        parsed = json.loads(detail) if detail else None
    except ValueError:
        return {}
    sip = parsed.get("sip") if isinstance(parsed, dict) else None
    return {"detail": {"sip": sip}} if sip else {}


def _sip_line(site: dict[str, Any]) -> str:
    """What gateway 0's health says of its SIP listener (docs/sip.md)."""
    for a in site["actors"]:
        sip = a.get("detail", {}).get("sip") if isinstance(a.get("detail"), dict) else None
        if sip:
            return (f"listening, {sip['calls']} calls, {sip['answered']} answered, {sip['refused']} refused "
                    f"of {sip['invites']} INVITEs")
    return "NOT LISTENING (gateway 0 reports no SIP listener)"


def collect_status(config: Any, run_dir: Path) -> dict[str, Any]:
    sites = []
    for site in config.sites:
        entry: dict[str, Any] = {"site": site.id, "grpc": site.grpc_address, "sip": launcher.sip_address(config, site),
                                 "etcd": "down"}  # fmt: skip
        try:
            with grpc.insecure_channel(site.grpc_address) as channel:
                st = pb_grpc.SiteApiStub(channel).GetStatus(pb.StatusRequest(), timeout=3.0)
            entry.update(
                reachable=True, fenced=st.fenced, lease_id=st.lease_id, lease_ttl_s=st.lease_ttl_s,
                config_version=st.config_version, agents_logged_in=st.agents_logged_in,
                contacts_in_progress=st.contacts_in_progress, adopted_sites=list(st.adopted_sites),
                actors=[{"name": a.name, "kind": a.kind, "healthy": a.healthy, **_sip_detail(a.detail)}
                        for a in st.actors],
                queues=[{"queue": q.queue, "tenant": q.tenant, "waiting": q.waiting, "ewt_s": q.ewt_s,
                         "ready_agents": q.ready_agents, "staffed_agents": q.staffed_agents} for q in st.queues],
            )  # fmt: skip
        except grpc.RpcError as e:
            entry.update(reachable=False, error=e.code().name if hasattr(e, "code") else str(e))
        sites.append(entry)
    members = asyncio.run(_etcd_members(config))
    for entry in sites:
        entry["etcd"] = members.get(entry["site"], {}).get("state", "down")
    leaders = {m["leader"] for m in members.values() if m.get("leader")}
    leader_site = next((s for s, m in members.items() if m.get("member_id") in leaders), None)
    return {"cluster": config.name, "run_dir": str(run_dir), "sites": sites,
            "etcd": {"leader": leader_site, "members": members}}


async def _etcd_members(config: Any) -> dict[str, dict[str, Any]]:
    async def one(site: Any) -> tuple[str, dict[str, Any]]:
        try:
            async with EtcdClient(site.host, site.resolved_ports()["etcd_client"], timeout_s=1.0) as c:
                st = await c.status()
            return site.id, {"state": "up", "member_id": st.member_id, "leader": st.leader_id,
                             "raft_term": st.raft_term}
        except (VccError, OSError) as e:
            return site.id, {"state": "down", "error": str(e)}

    return dict(await asyncio.gather(*(one(s) for s in config.sites)))


def demo(
    config_path: Path = CONFIG_ARG,
    duration_s: float = typer.Option(20.0, "--duration", min=1, help="Seconds of traffic."),
    rate: float = typer.Option(3.0, "--rate", min=0.1, help="New contacts per second, over all sites."),
    run_dir: Path | None = RUN_DIR,
) -> None:
    """Drive a running cluster with bot agents and customers on every channel; print what happened."""
    from vcc.client.demo import run_demo

    config, _ = _run_dir(config_path, run_dir)
    typer.echo(f"demo traffic for {duration_s:.0f} s at {rate:g} contacts/s (bot agents log in first) ...")

    def progress(elapsed: float, report: Any) -> None:
        if report.submitted % 10 == 0:
            typer.echo(f"  {elapsed:5.1f} s: {report.submitted} contacts submitted")

    report = asyncio.run(run_demo(config, duration_s, rate, progress=progress))
    typer.echo(f"agents logged in: {report.agents_logged_in}; contacts submitted: {report.submitted}; "
               f"handled by agents: {report.handled}")
    for (channel, state), n in sorted(report.outcomes.items()):
        typer.echo(f"  {channel:<6} {state:<10} {n:>5}")
    if report.waits_s:
        waits = sorted(report.waits_s)
        typer.echo(f"  wait in queue: median {waits[len(waits) // 2]:.1f} s, max {waits[-1]:.1f} s")
    typer.echo(f"  finished per site: {dict(report.by_site)}")
    for error, n in report.refused.items():
        typer.echo(f"  refused x{n}: {error}")
