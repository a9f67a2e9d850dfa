"""``vcc warehouse sync|compact|status``: the Parquet warehouse of a run (``<run dir>/warehouse``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from vcc.analytics import facts, source, warehouse

app = typer.Typer(help="The Parquet event warehouse: sync from the event logs, compact, status.", no_args_is_help=True)
RUN_DIR = typer.Option(None, "--run-dir", help="Run dir (default var/run/<cluster>).")
CONFIG = typer.Option(None, "--config", help="Cluster file (default: the one the run dir records).")


@app.command()
def sync(run_dir: Path | None = RUN_DIR, config: Path | None = CONFIG) -> None:
    """Write what the sites' event logs hold and the warehouse lacks (sites whose sink is stopped)."""
    src = source.open_source(run_dir, config)
    for site, n in source.sync(src).items():
        typer.echo(f"site {site}: " + ("skipped (its event sink is running and flushes itself)" if n is None
                                       else f"{n} events written"))  # fmt: skip


@app.command()
def compact(run_dir: Path | None = RUN_DIR, config: Path | None = CONFIG) -> None:
    """Merge each partition's small files into one, atomically (readers never see an event twice), and
    write the contact facts of the closed days that lack them (docs/analytics.md)."""
    src = source.open_source(run_dir, config)
    r = warehouse.compact(src.root)
    assert r is not None  # it waits for a compaction already running
    typer.echo(f"{src.root}: {r.partitions} partition(s) compacted, {r.files_before} -> {r.files_after} files, "
               f"{r.rows} rows rewritten")  # fmt: skip
    built = facts.refresh(src.root, time.time()) or []
    typer.echo(f"contact facts written for {len(built)} closed day(s)" + (f": {', '.join(built)}" if built else ""))


@app.command()
def status(run_dir: Path | None = RUN_DIR, config: Path | None = CONFIG,
           as_json: bool = typer.Option(False, "--json", help="One JSON object for machines.")) -> None:
    """Files, dates, rows and last seq per site."""
    src = source.open_source(run_dir, config)
    sites = warehouse.status(src.root)
    if as_json:
        typer.echo(json.dumps({"warehouse": str(src.root), "sites": sites}, indent=2))
        return
    typer.echo(f"warehouse {src.root}")
    for s in sites:
        typer.echo(f"  site {s['site']}: {s['rows']} events in {s['files']} file(s), last seq {s['last_seq']}, "
                   f"dates {', '.join(s['dates'])}")  # fmt: skip
    if not sites:
        typer.echo("  (empty)")
