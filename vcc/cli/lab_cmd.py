"""``vcc lab status|set``: the network lab of a cluster started with ``vcc up --lab``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vcc.cli.site_cmd import CONFIG_ARG, RUN_DIR, _run_dir
from vcc.errors import VccError

app = typer.Typer(help="The network lab of `vcc up --lab`: namespaces, addresses, WAN links and counters.",
                  no_args_is_help=True)


def _record(config_path: Path, run_dir: Path | None) -> Any:
    from vcc.lab.cluster import recorded

    _, rd = _run_dir(config_path, run_dir)
    rec = recorded(rd)
    if rec is None:
        raise VccError(f"no lab is running from {rd} (start one with `vcc up --lab {config_path}`)")
    return rec


@app.command()
def status(
    config_path: Path = CONFIG_ARG,
    as_json: bool = typer.Option(False, "--json", help="One JSON object for machines."),
    run_dir: Path | None = RUN_DIR,
) -> None:
    """Namespaces, addresses, the hub, and each link's WAN settings and counters (both directions)."""
    from vcc.lab.cluster import status as lab_status

    report = lab_status(_record(config_path, run_dir))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    hub = report["hub"]
    typer.echo(f"lab {report['name']}  subnet {report['subnet']}  hub {hub['netns']} "
               f"(pid {hub['pid']}, {'running' if hub['alive'] else 'NOT RUNNING'})")
    root = report["root"]
    typer.echo(f"  root  {root['address']:<15} link {root['link']}{'' if root['link_present'] else ' (missing)'}")
    for site, s in report["sites"].items():
        typer.echo(f"  {site:<5} {s['address']:<15} link {s['link']} in {s['netns']}"
                   f"{'' if s['netns_present'] else ' (namespace missing)'}")
    if "error" in report:
        typer.echo(f"  {report['error']}")
    typer.echo(f"  {'path':<12} {'state':<5} {'delay':>8} {'jitter':>7} {'loss':>6} {'rate':>10} "
               f"{'packets':>9} {'bytes':>11} {'lost':>6} {'cut':>6} {'queue':>6}")
    for p in report["paths"]:
        rate = "-" if p["rate_kbit"] is None else f"{p['rate_kbit']}k"
        typer.echo(f"  {p['from'] + '>' + p['to']:<12} {'CUT' if p['down'] else 'up':<5} {p['delay_ms']:>6g}ms "
                   f"{p['jitter_ms']:>5g}ms {p['loss_pct']:>5g}% {rate:>10} {p['packets']:>9} {p['bytes']:>11} "
                   f"{p['dropped_loss']:>6} {p['dropped_down']:>6} {p['dropped_queue']:>6}")


@app.command("set")
def set_link(
    a: str = typer.Argument(..., help="One end: a site id or `root`."),
    b: str = typer.Argument(..., help="The other end."),
    delay_ms: float = typer.Option(0.0, "--delay-ms", min=0, max=10_000, help="One-way delay (ms)."),
    jitter_ms: float = typer.Option(0.0, "--jitter-ms", min=0, max=10_000, help="Extra random delay up to (ms)."),
    loss_pct: float = typer.Option(0.0, "--loss-pct", min=0, max=100, help="Packets dropped at random (%)."),
    rate_kbit: int = typer.Option(0, "--rate-kbit", min=0, help="Bandwidth each way (kbit/s); 0: unlimited."),
    config_path: Path = typer.Option(CONFIG_ARG.default, "--config", help="Cluster file of the running lab."),
    run_dir: Path | None = RUN_DIR,
) -> None:
    """Change the WAN between two ends of a running lab, both directions (until `vcc down`)."""
    from vcc.lab.cluster import set_wan

    set_wan(_record(config_path, run_dir), a, b, delay_ms=delay_ms, jitter_ms=jitter_ms, loss_pct=loss_pct,
            rate_kbit=rate_kbit or None)
    typer.echo(f"{a}<->{b}: delay {delay_ms:g} ms, jitter {jitter_ms:g} ms, loss {loss_pct:g} %, "
               f"rate {rate_kbit or 'unlimited'}{' kbit/s' if rate_kbit else ''}")
