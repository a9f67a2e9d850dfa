"""Next-day forecast per queue and time-of-day interval from history: a seasonal baseline, the mean
of the same weekday's intervals (every past day's when the weekday has no history)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from vcc.analytics.kpis import interval_s as interval_seconds
from vcc.errors import VccError


def next_day(contacts: pl.LazyFrame, interval: str = "1h", day: date | None = None) -> pl.DataFrame:
    """Forecast ``offered`` and ``aht_s`` for each queue and interval of ``day`` (UTC; the day after
    the last contact by default). Columns: queue, interval_start, offered, aht_s, history_days."""
    iv = interval_seconds(interval)
    if iv is None or iv >= 86400:
        raise VccError("forecast interval must be 15m or 1h")
    when = pl.coalesce("queued_ts", "first_ts")
    c = contacts.filter(pl.col("queue").is_not_null()).with_columns(
        day=(when // 86400).cast(pl.Int64), slot=((when % 86400) // iv).cast(pl.Int64)
    )
    per_day = c.group_by("queue", "day", "slot").agg(
        pl.col("offered").sum(), pl.col("handle_counted_s").sum(), pl.col("handled").sum()
    ).collect()
    if per_day.is_empty():
        return pl.DataFrame(schema={"queue": pl.String, "interval_start": pl.Datetime("us", "UTC"),
                                    "offered": pl.Float64, "aht_s": pl.Float64, "history_days": pl.Int64})
    target_day = (day - date(1970, 1, 1)).days if day else int(per_day["day"].max()) + 1  # type: ignore[arg-type]
    history = per_day.filter(pl.col("day") < target_day)
    days = history.select("queue", "day").unique()
    weekday = (target_day + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
    same = days.filter((pl.col("day") + 3) % 7 == weekday)
    chosen = same if not same.is_empty() else days
    n_days = chosen.group_by("queue").agg(pl.len().alias("history_days"))
    slots = pl.DataFrame({"slot": list(range(86400 // iv))}, schema={"slot": pl.Int64})
    grid = n_days.join(slots, how="cross")
    sums = history.join(chosen, on=["queue", "day"]).group_by("queue", "slot").agg(
        pl.col("offered").sum(), pl.col("handle_counted_s").sum(), pl.col("handled").sum()
    )
    out = grid.join(sums, on=["queue", "slot"], how="left").with_columns(pl.col(pl.Int64, pl.Float64).fill_null(0))
    start = datetime.combine(date(1970, 1, 1) + timedelta(days=target_day), datetime.min.time(), UTC)
    return out.select(
        pl.col("queue").cast(pl.String),  # Categorical when the contacts come from the contact facts
        (pl.lit(start) + pl.duration(seconds=pl.col("slot") * iv)).dt.cast_time_unit("us").alias("interval_start"),
        (pl.col("offered") / pl.col("history_days")).alias("offered"),
        pl.when(pl.col("handled") > 0).then(pl.col("handle_counted_s") / pl.col("handled")).alias("aht_s"),
        "history_days",
    ).sort("queue", "interval_start")
