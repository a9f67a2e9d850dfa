"""The history page's frames: interval KPIs of :func:`vcc.dashboards.data.report` shaped for charts,
with each queue's service-level target beside its service level."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from vcc.config.models import ClusterConfig
from vcc.dashboards.views import queue_catalog

GROUPINGS = ("queue", "tenant", "site", "channel")
INTERVALS = ("15m", "1h", "1d")
TABLE_COLUMNS = ("interval_start", "offered", "answered", "abandoned", "short_abandoned", "service_level_pct",
                 "sl_target_pct", "abandon_rate", "asa_s", "aht_s", "transfers", "callbacks", "fcr",
                 "staffed_agents")  # fmt: skip


def period(start: date, end: date) -> tuple[float, float]:
    """``[start 00:00 UTC, end + 1 day 00:00 UTC)`` as epoch seconds (``end`` is inclusive)."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    return lo.timestamp(), hi.timestamp()


def with_targets(frame: pl.DataFrame, config: ClusterConfig, group: str) -> pl.DataFrame:
    """Service level in percent, and the queue's target in percent when grouped by queue (a target
    belongs to a queue; other groupings have none)."""
    out = frame.with_columns((pl.col("service_level") * 100).round(1).alias("service_level_pct"))
    if group == "queue":
        return out.join(queue_catalog(config).select("queue", "sl_target_pct"), on="queue", how="left")
    return out.with_columns(pl.lit(None, pl.Float64).alias("sl_target_pct"))


def chart_frame(frame: pl.DataFrame, group: str, value: str) -> pl.DataFrame:
    """``interval_start`` by group: one column per group holding ``value`` (for line/bar charts)."""
    if frame.is_empty():
        return pl.DataFrame(schema={"interval_start": pl.Datetime("us", "UTC")})
    wide = frame.select("interval_start", pl.col(group).fill_null("(none)"), value).pivot(
        on=group, index="interval_start", values=value, aggregate_function="first")
    return wide.sort("interval_start")


def table(frame: pl.DataFrame, group: str) -> pl.DataFrame:
    cols = [group, *(c for c in TABLE_COLUMNS if c in frame.columns)]
    return frame.select(cols).sort("interval_start", group)
