"""Staffing and billing frames for the pages: agents required per interval rolled up for a shift
plan, shifts as rows, the tenants' seats and rates, a statement as a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from vcc.analytics.billing import Statement
from vcc.analytics.staffing import Shift
from vcc.config.models import ClusterConfig
from vcc.core.model import Pool
from vcc.dashboards.scope import Scope


def need_per_interval(required: pl.DataFrame, day_start_ts: float, interval_s: int) -> list[int]:
    """Agents required in each interval of the day (summed over the queues shown): index i is the
    interval starting at ``day_start_ts + i * interval_s``."""
    slots = [0] * (86400 // interval_s)
    if required.is_empty():
        return slots
    per = required.group_by("interval_start").agg(pl.col("agents_required").sum())
    for start, need in per.iter_rows():
        i = int((start.timestamp() - day_start_ts) // interval_s)
        if 0 <= i < len(slots):
            slots[i] = int(need or 0)
    return slots


def shifts_table(plan: list[Shift], day_start_ts: float, interval_s: int) -> pl.DataFrame:
    start = datetime.fromtimestamp(day_start_ts, UTC)
    rows = [
        {"start": start + timedelta(seconds=s.start_index * interval_s),
         "end": start + timedelta(seconds=(s.start_index + s.intervals) * interval_s), "agents": s.agents}
        for s in plan
    ]  # fmt: skip
    utc_us = pl.Datetime("us", "UTC")
    schema = pl.Schema([("start", utc_us), ("end", utc_us), ("agents", pl.Int64())])
    return pl.DataFrame(rows, schema=schema)


def tenants_table(config: ClusterConfig, scope: Scope) -> pl.DataFrame:
    rows = []
    for t in config.tenants:
        if t.id not in scope.tenants:
            continue
        agents = [a for a in config.agents if t.id in a.tenants]
        rows.append({
            "tenant": t.id, "name": t.name, "home_sites": ", ".join(t.home_sites),
            "dedicated_agents": sum(a.pool == Pool.DEDICATED for a in agents),
            "shared_agents": sum(a.pool == Pool.SHARED for a in agents), "queues": len(t.queues),
            "sl_formula": t.service_level_formula.value, "currency": t.billing.currency,
            "seat_per_hour": float(t.billing.dedicated_seat_per_hour),
            "shared_per_minute": float(t.billing.shared_per_handled_minute),
            "shared_per_interaction": float(t.billing.shared_per_interaction),
        })  # fmt: skip
    return pl.DataFrame(rows)


def statement_table(statement: Statement) -> pl.DataFrame:
    rows = [{"item": line.item, "quantity": str(line.quantity), "unit": line.unit, "rate": str(line.rate),
             "amount": str(line.amount)} for line in statement.lines]  # fmt: skip
    return pl.DataFrame(rows, schema=dict.fromkeys(("item", "quantity", "unit", "rate", "amount"), pl.Utf8))
