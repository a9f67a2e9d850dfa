"""``vcc load SCENARIO``: offer a scenario's traffic to a running cluster and report what happened."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vcc.cli.site_cmd import CONFIG_ARG, _run_dir
from vcc.coord.store import DEFAULT_RETENTION_S
from vcc.load import runner
from vcc.load.scenario import check_against, load_scenario
from vcc.load.soak import ETCD_STEADY_AFTER_S


def load(
    scenario_path: Path = typer.Argument(..., metavar="SCENARIO", help="Scenario file (YAML)."),
    config_path: Path = typer.Option(CONFIG_ARG.default, "--config", help="Cluster file of the running cluster."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object for machines."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="The cluster's run dir (for --soak-report)."),
    soak_report: float = typer.Option(0.0, "--soak-report", min=0,
                                      help="Sample every site process's RSS every N s; report growth after warm-up."),
) -> None:
    """Drive a running cluster with a scenario's customers and bot agents (gRPC site API only)."""
    scenario = load_scenario(scenario_path)
    config, rd = _run_dir(config_path, run_dir)
    check_against(scenario, config, str(scenario_path))
    err = Console(stderr=True)
    if soak_report:
        scenario = scenario.model_copy(update={"soak_report_every_s": soak_report})
        if scenario.warmup_s < ETCD_STEADY_AFTER_S:
            err.print(f"[yellow]warning:[/] {scenario_path}: warmup_s {scenario.warmup_s:g} is shorter than "
                      f"{ETCD_STEADY_AFTER_S:g} s: etcd keeps ended contacts {DEFAULT_RETENTION_S} s and its "
                      "history 5 min, so its memory still fills after this warm-up (docs/load.md, Soak)")
    asyncio.run(runner.require_a_site(config))
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=err, disable=as_json, transient=False) as bar:
        task = bar.add_task(f"load {scenario.name}", total=scenario.duration_s, info="agents logging in")

        def on_progress(p: runner.Progress) -> None:
            bar.update(task, completed=min(p.elapsed_s, p.duration_s),
                       info=f"{p.phase}: submitted {p.submitted}  accepted {p.accepted}  ended {p.ended}")

        report = asyncio.run(runner.run_load(config, scenario, scenario_path.parent, run_dir=rd,
                                             on_progress=on_progress))
    report.pop("waits_s", None)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        print_report(report, Console())
    if runner.lost_or_doubled(report):
        raise typer.Exit(1)


def print_report(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"{report['scenario']}: {report['accepted']} of {report['submitted']} contacts accepted, "
                        f"{report['agents_logged_in']} bot agents (after {report['warmup_s']:g} s warm-up)")
    for col in ("site", "offered", "answered", "abandoned", "failed", "open", "SL", "ASA s", "AHT s", "P(wait)"):
        table.add_column(col, justify="right" if col != "site" else "left")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    rows = [*report["per_site"].items(), ("total", report["total"])]
    for site, f in rows:
        table.add_row(site, str(f["offered"]), str(f["answered"]), str(f["abandoned"]), str(f["failed"]),
                      str(f["open"]), pct(f["service_level"]), num(f["asa_s"]), num(f["aht_s"]), pct(f["p_wait"]))
    console.print(table)
    if report["refused"]:
        console.print(f"refused submissions: {report['refused']} (retried at another site: "
                      f"{report['retried_at_another_site']})")
    for loss in report["site_losses"]:
        console.print(f"site {loss['site']} lost during the run; agents re-homed: {report['rehomes']}")
    if report["never_ended"] or report["completed_twice"]:
        console.print(f"[red]contacts never ended: {report['never_ended']}; completed twice: "
                      f"{report['completed_twice']}[/red]")
    if report.get("media"):
        print_media(report["media"], console)
    if report["soak"]:
        console.print(f"soak: {json.dumps(report['soak'])}")


def print_media(m: dict[str, Any], console: Console) -> None:
    """Web callers with real audio: how many talked to an agent, and what both ends received."""
    console.print(f"media: {m['calls']} web calls, {m['connected']} connected, {m['keys_pressed']} keys pressed "
                  f"{m['dtmf_methods'] or ''}")
    for side, far in (("caller_legs", "agent"), ("agent_legs", "caller")):
        leg = m[side]
        console.print(f"  {side.replace('_', ' ')}: {leg['legs']} legs, {leg['frames']} frames, inter-arrival p99 "
                      f"median {leg['interarrival_p99_ms_median']} ms / worst {leg['interarrival_p99_ms_worst']} ms, "
                      f"{leg['gaps']} gaps (> 60 ms) on {leg['legs_with_gaps']} legs; heard the {far}'s tone on "
                      f"{leg['heard_far_tone']} of {leg['talked']} that talked")
    for line in [*m["desk_failures"], *(f"{a}: {e}" for a, e in m["desk_login_errors"].items())][:10]:
        console.print(f"  [red]desk: {line}[/red]")
