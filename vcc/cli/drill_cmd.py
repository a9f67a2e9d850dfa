"""``vcc drill kill|partition|slow|heal|etcd-leader|shard [SITE]``: a failover drill on a running
cluster (best while ``vcc load`` runs); exits 1 if a durable contact was lost or duplicated or an
agent was double-booked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from vcc.cli.site_cmd import CONFIG_ARG, _run_dir
from vcc.drills.run import KINDS, DrillOptions, run_drill
from vcc.lab.wan import WanParams


def drill(
    kind: str = typer.Argument(..., metavar="KIND", help=f"One of: {', '.join(KINDS)}."),
    site: str = typer.Argument(None, metavar="[SITE]", help="The site (not for etcd-leader)."),
    config_path: Path = typer.Option(CONFIG_ARG.default, "--config", help="Cluster file of the running cluster."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="The cluster's run dir (default var/run/<name>)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object for machines."),
    window_s: float = typer.Option(20.0, "--window", min=1, help="Longest seconds to watch for recovery."),
    hold_s: float = typer.Option(8.0, "--hold", min=0, help="partition/slow: seconds before healing (0: never)."),
    stopped: float = typer.Option(0.7, "--stopped", min=0.05, max=0.95, help="slow: share of time stopped."),
    settle_s: float = typer.Option(30.0, "--settle", min=0, help="Longest seconds for durable contacts to end."),
    delay_ms: float = typer.Option(150.0, "--delay-ms", min=0, max=10_000, help="slow in the lab: one-way delay."),
    jitter_ms: float = typer.Option(50.0, "--jitter-ms", min=0, max=10_000, help="slow in the lab: jitter."),
    loss_pct: float = typer.Option(2.0, "--loss-pct", min=0, max=100, help="slow in the lab: packet loss (%)."),
) -> None:
    """Kill, partition, slow or heal a site, kill the etcd leader or an ACD shard, and measure recovery."""
    if kind not in KINDS:
        raise typer.BadParameter(f"{kind!r} is not a drill (one of: {', '.join(KINDS)})", param_hint="KIND")
    if kind != "etcd-leader" and not site:
        raise typer.BadParameter(f"`vcc drill {kind}` needs a SITE", param_hint="SITE")
    config, rd = _run_dir(config_path, run_dir)
    options = DrillOptions(window_s=window_s, hold_s=hold_s, stopped_fraction=stopped, settle_s=settle_s,
                           slow_wan=WanParams(delay_ms=delay_ms, jitter_ms=jitter_ms, loss_pct=loss_pct))
    report = asyncio.run(run_drill(config, config_path, rd, kind, site, options))
    if as_json:
        typer.echo(json.dumps(report))
    else:
        print_report(report)
    if not report["ok"]:
        raise typer.Exit(1)


def print_report(r: dict[str, Any]) -> None:
    if r["drill"] == "heal":
        typer.echo(f"heal {r['site']}: {r['healed']} ({r['took_s']} s)")
        return

    def s(v: Any) -> str:
        return "not seen" if v is None else f"{v} s"

    how = f" ({r['method']})" if "method" in r else ""
    typer.echo(f"drill {r['drill']} {r['site']}{how}: watched {r['watched_s']} s")
    for key in ("new_leader_s", "shard_restored_s", "healed_after_s"):
        if key in r:
            typer.echo(f"  {key.removesuffix('_s').replace('_', ' ')}: {r[key]} s")
    typer.echo(f"  detected: {s(r['detected_s'])}   adopted: {s(r['adopted_s'])} ({r['adopted_contacts']} contacts)")
    typer.echo(f"  tenants served elsewhere: {s(r['tenants_served_elsewhere_s'])}   live calls dropped: "
               f"{r['live_calls_dropped']}")
    typer.echo(f"  agents re-homed: {r['agents_rehomed']}/{r['agents_home']} by {s(r['agents_rehomed_s'])}")
    sl = r["service_level_during"]
    typer.echo(f"  service level during: {'-' if sl is None else f'{100 * sl:.1f}%'} "
               f"of {r['contacts_queued_during']} contacts queued")
    typer.echo(f"  durable contacts checked: {r['durable_in_span']}, lost {r['durable_lost_count']}, "
               f"duplicated {r['durable_duplicated_count']}; agents double-booked: {r['double_booked_count']}")
    if r.get("durable_end_unlogged_count"):
        typer.echo(f"  ended (etcd says so) but the end is missing from the event logs: {r['durable_end_unlogged']}")
    for key in ("durable_lost", "durable_duplicated", "double_booked"):
        if r[key]:
            typer.echo(f"  {key.replace('_', ' ')}: {r[key]}")
    typer.echo("  OK" if r["ok"] else "  FAILED: contacts lost or duplicated, or an agent double-booked")
