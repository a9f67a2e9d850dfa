"""Tenant billing for the outsourcing model: dedicated seats per seat-hour (logged-in time of the
tenant's dedicated agents), shared seats per handled minute and per interaction (segments of the
tenant's contacts handled by shared agents). Rates from the tenant's ``billing:`` in the cluster file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from vcc.analytics import cdr
from vcc.analytics.catalog import Catalog
from vcc.analytics.kpis import split_spans
from vcc.errors import VccError

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class StatementLine:
    item: str  # dedicated_seat_hours | shared_handled_minutes | shared_interactions
    quantity: Decimal
    unit: str
    rate: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Statement:
    tenant: str
    tenant_name: str
    currency: str
    start_ts: float
    end_ts: float
    lines: tuple[StatementLine, ...]
    total: Decimal

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lines"] = [{k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(line).items()}
                      for line in self.lines]  # fmt: skip
        d["total"] = str(self.total)
        return d


def usage(events: pl.LazyFrame, catalog: Catalog, tenant: str, start_ts: float, end_ts: float) -> dict[str, float]:
    """Billable quantities: dedicated seat-seconds, shared handled seconds, shared interactions."""
    dedicated = [a.id for a in catalog.agents.values() if a.pool == "dedicated" and a.tenants == (tenant,)]
    shared = [a.id for a in catalog.agents.values() if a.pool == "shared" and tenant in a.tenants]
    spans = split_spans(cdr.agent_spans(events, until_ts=end_ts), None, start_ts, end_ts)
    seat_s = (
        spans.filter(pl.col("agent_id").is_in(dedicated) & (pl.col("state") != "logged_out"))
        .select((pl.col("end_ts") - pl.col("start_ts")).sum()).collect().item()
    )  # fmt: skip
    seg = cdr.segments(events).filter(
        (pl.col("tenant") == tenant) & pl.col("agent_id").is_in(shared)
        & (pl.col("start_ts") >= start_ts) & (pl.col("start_ts") < end_ts)
    )  # fmt: skip
    row = seg.select(pl.col("handle_s").sum().alias("handled_s"), pl.len().alias("n")).collect().row(0)
    return {"dedicated_seat_s": float(seat_s or 0.0), "shared_handled_s": float(row[0] or 0.0),
            "shared_interactions": float(row[1])}  # fmt: skip


def statement(events: pl.LazyFrame, catalog: Catalog, tenant: str, start_ts: float, end_ts: float) -> Statement:
    """The tenant's statement for ``[start_ts, end_ts)``; amounts rounded half-up to the cent per line."""
    info = catalog.tenants.get(tenant)
    if info is None:
        known = ", ".join(sorted(catalog.tenants)) or "none"
        raise VccError(f"unknown tenant {tenant!r} (tenants: {known})")
    if end_ts <= start_ts:
        raise VccError("billing period: the end must be after the start")
    u = usage(events, catalog, tenant, start_ts, end_ts)
    r = info.rates
    quantities = [
        ("dedicated_seat_hours", Decimal(repr(u["dedicated_seat_s"])) / 3600, "seat-hour", r.dedicated_seat_per_hour),
        ("shared_handled_minutes", Decimal(repr(u["shared_handled_s"])) / 60, "minute", r.shared_per_handled_minute),
        ("shared_interactions", Decimal(int(u["shared_interactions"])), "interaction", r.shared_per_interaction),
    ]
    lines = tuple(
        StatementLine(item, qty.quantize(Decimal("0.0001"), ROUND_HALF_UP), unit, rate,
                      (qty * rate).quantize(CENT, ROUND_HALF_UP))
        for item, qty, unit, rate in quantities
    )  # fmt: skip
    total = sum((line.amount for line in lines), Decimal("0.00"))
    return Statement(tenant, info.name, r.currency, start_ts, end_ts, lines, total)
