"""``vcc report kpis|agents|cdr|staffing|billing``: figures from the warehouse (docs/analytics.md).
Each report first copies into the warehouse what stopped sites' event logs hold and it lacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import typer

from vcc.analytics import billing, cdr, forecast, kpis, source, staffing
from vcc.errors import VccError

app = typer.Typer(help="KPIs, agents, CDRs, staffing and billing from the event warehouse.", no_args_is_help=True)
RUN_DIR = typer.Option(None, "--run-dir", help="Run dir (default var/run/<cluster>).")
CONFIG = typer.Option(None, "--config", help="Cluster file (default: the one the run dir records).")
FROM = typer.Option(None, "--from", help="Start: ISO date or date-time, UTC (default: all data).")
TO = typer.Option(None, "--to", help="End (exclusive): ISO date or date-time, UTC (default: all data).")
INTERVAL = typer.Option("1h", "--interval", help="15m, 1h, 1d or all (whole period).")
JSON = typer.Option(False, "--json", help="JSON rows for machines.")
NO_SYNC = typer.Option(False, "--no-sync", help="Read the warehouse as it is (no catch-up from the event logs).")


def _open(run_dir: Path | None, config: Path | None, no_sync: bool) -> source.Source:
    src = source.open_source(run_dir, config)
    if not no_sync:
        source.sync(src)
    return src


def _interval(text: str) -> str | None:
    if text == "all":
        return None
    kpis.interval_s(text)  # a one-line error for an unknown interval
    return text


def _by(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def _emit(frame: pl.DataFrame, as_json: bool, title: str) -> None:
    if as_json:
        rows = frame.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%SZ")).to_dicts()
        typer.echo(json.dumps(rows, indent=1, default=str))
        return
    typer.echo(title)
    with pl.Config(tbl_rows=200, tbl_cols=30, tbl_width_chars=200, tbl_hide_dataframe_shape=True,
                   float_precision=3):  # fmt: skip
        typer.echo(str(frame))


KPI_COLUMNS = ["offered", "answered", "abandoned", "short_abandoned", "service_level", "asa_s", "aht_s",
               "abandon_rate", "transfers", "callbacks", "fcr", "staffed_agents"]  # fmt: skip


@app.command("kpis")
def kpis_cmd(
    by: str = typer.Option("tenant,queue", "--by", help="Any of tenant, queue, site, agent_id, channel."),
    interval: str = INTERVAL, start: str | None = FROM, end: str | None = TO, as_json: bool = JSON,
    all_columns: bool = typer.Option(False, "--all", help="Every count and SL variant, not the main KPIs."),
    run_dir: Path | None = RUN_DIR, config: Path | None = CONFIG, no_sync: bool = NO_SYNC,
) -> None:
    """Contact KPIs (offered, answered, abandoned, service level, ASA, AHT, ...) with agents staffed."""
    src = _open(run_dir, config, no_sync)
    keys, iv = _by(by), _interval(interval)
    start_ts, end_ts = source.parse_time(start, "--from"), source.parse_time(end, "--to")
    frame = kpis.report(src.events(), src.catalog, keys, iv, start_ts=start_ts, end_ts=end_ts,
                        contacts=src.contacts(start_ts, end_ts))  # fmt: skip
    if not all_columns:
        frame = frame.select([c for c in [*keys, "interval_start", *KPI_COLUMNS] if c in frame.columns])
    _emit(frame, as_json, f"KPIs by {', '.join(keys) or 'nothing'}, interval {interval} (docs/analytics.md)")


@app.command("agents")
def agents_cmd(
    by: str = typer.Option("agent_id", "--by", help="Any of agent_id, site, pool, tenant."),
    interval: str = INTERVAL, start: str | None = FROM, end: str | None = TO, as_json: bool = JSON,
    run_dir: Path | None = RUN_DIR, config: Path | None = CONFIG, no_sync: bool = NO_SYNC,
) -> None:
    """Agent time: staffed, available, handling, not ready; occupancy, utilization, AHT."""
    src = _open(run_dir, config, no_sync)
    events = src.events()
    end_ts = source.parse_time(end, "--to")
    frame = kpis.agent_kpis(cdr.agent_spans(events, until_ts=end_ts), cdr.segments(events), src.catalog, _by(by),
                            _interval(interval), start_ts=source.parse_time(start, "--from"), end_ts=end_ts)
    _emit(frame, as_json, f"agents by {by}, interval {interval}")


@app.command("cdr")
def cdr_cmd(
    out: Path = typer.Option(..., "--out", help="Output file: .csv or .parquet."),
    run_dir: Path | None = RUN_DIR, config: Path | None = CONFIG, no_sync: bool = NO_SYNC,
) -> None:
    """Export one row per contact (CSV or Parquet)."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise VccError(f"--out {out}: CDR export writes .csv or .parquet")
    src = _open(run_dir, config, no_sync)
    n = cdr.export(src.contacts(), out)
    typer.echo(f"{n} contacts written to {out}")


@app.command("staffing")
def staffing_cmd(
    interval: str = typer.Option("1h", "--interval", help="15m or 1h."),
    method: str = typer.Option("erlang_c", "--method", help="erlang_c or erlang_a (with abandonment)."),
    next_day: bool = typer.Option(False, "--forecast", help="Forecast the next day and plan shifts for it."),
    shift_h: float = typer.Option(8.0, "--shift-h", help="Shift length for the plan, hours."),
    start: str | None = FROM, end: str | None = TO, as_json: bool = JSON,
    run_dir: Path | None = RUN_DIR, config: Path | None = CONFIG, no_sync: bool = NO_SYNC,
) -> None:
    """Agents required (Erlang C or A) per queue and interval, beside agents staffed; --forecast for
    the next day with a shift plan."""
    if interval not in ("15m", "1h"):
        raise VccError(f"--interval {interval!r}: staffing works on 15m or 1h intervals")
    if staffing.METHODS.count(method) == 0:
        raise VccError(f"--method {method!r}: use {' or '.join(staffing.METHODS)}")
    src = _open(run_dir, config, no_sync)
    iv_s = kpis.INTERVALS_S[interval]
    catalog = src.catalog
    if not next_day:
        start_ts, end_ts = source.parse_time(start, "--from"), source.parse_time(end, "--to")
        frame = kpis.report(src.events(), catalog, ["queue"], interval, start_ts=start_ts, end_ts=end_ts,
                            contacts=src.contacts(start_ts, end_ts))  # fmt: skip
        _emit(staffing.required(frame.filter(pl.col("queue").is_not_null()), catalog, iv_s, method), as_json,
              f"agents required ({method}) per queue and {interval}, beside agents staffed")
        return
    fc = forecast.next_day(src.contacts(), interval=interval)
    rows: list[dict[str, Any]] = []
    plans: dict[str, list[dict[str, Any]]] = {}
    for (queue,), part in fc.group_by(["queue"], maintain_order=True):
        q = catalog.queues.get(str(queue))
        threshold = q.sl_threshold_s if q else 20.0
        target = (q.sl_target_pct if q else 80.0) / 100
        need = [staffing.agents_required(r["offered"] * 3600 / iv_s, r["aht_s"] or 0.0, threshold, target, method)
                for r in part.iter_rows(named=True)]  # fmt: skip
        rows += [{**r, "agents_required": n} for r, n in zip(part.iter_rows(named=True), need, strict=True)]
        starts = part["interval_start"].to_list()
        plans[str(queue)] = [{"start": starts[s.start_index].isoformat(), "hours": s.intervals * iv_s / 3600,
                              "agents": s.agents} for s in staffing.shift_plan(need, iv_s, shift_h)]  # fmt: skip
    if as_json:
        for r in rows:
            r["interval_start"] = r["interval_start"].astimezone(UTC).isoformat()
        typer.echo(json.dumps({"forecast": rows, "shift_plan": plans}, indent=1, default=str))
        return
    _emit(pl.DataFrame(rows) if rows else fc, False, f"next-day forecast ({method}), {interval}")
    for queue, plan in plans.items():
        typer.echo(f"shift plan for {queue}: " + ("; ".join(
            f"{p['agents']} agent(s) from {datetime.fromisoformat(p['start']):%H:%M} for {p['hours']:g} h"
            for p in plan) or "no agents needed"))  # fmt: skip


@app.command("billing")
def billing_cmd(
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    start: str | None = FROM, end: str | None = TO, as_json: bool = JSON,
    run_dir: Path | None = RUN_DIR, config: Path | None = CONFIG, no_sync: bool = NO_SYNC,
) -> None:
    """A tenant's statement for a period: dedicated seat-hours, shared handled minutes and interactions."""
    src = _open(run_dir, config, no_sync)
    events = src.events()
    start_ts = source.parse_time(start, "--from")
    end_ts = source.parse_time(end, "--to")
    if start_ts is None or end_ts is None:
        lo, hi = events.select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")).collect().row(0)
        start_ts = start_ts if start_ts is not None else (lo or 0.0)
        end_ts = end_ts if end_ts is not None else (hi or 0.0) + 1.0
    st = billing.statement(events, src.catalog, tenant, start_ts, end_ts)
    if as_json:
        typer.echo(json.dumps(st.to_dict(), indent=1))
        return

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    typer.echo(f"statement for {st.tenant_name} ({st.tenant}), {iso(st.start_ts)} to {iso(st.end_ts)}")
    for line in st.lines:
        typer.echo(f"  {line.item:<24} {line.quantity:>12} {line.unit:<12} x {line.rate:>8} = "
                   f"{line.amount:>10} {st.currency}")  # fmt: skip
    typer.echo(f"  {'total':<24} {'':>12} {'':<12}   {'':>8}   {st.total:>10} {st.currency}")
