"""From events to records: one row per contact (the CDR), one per agent's handling of a contact
(a segment), one per agent state span. Lazy Polars all the way; definitions in docs/analytics.md."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import polars.selectors as cs

from vcc.analytics.catalog import DEFAULT_FORMULA, DEFAULT_SHORT_ABANDON_S, DEFAULT_SL_THRESHOLD_S, Catalog
from vcc.errors import VccError

TERMINAL = ["completed", "abandoned", "failed"]
HANDLING_STATES = ["busy", "wrap_up"]
AVAILABLE_STATES = ["ready", "reserved"]

CDR_COLUMNS = [
    "contact_id", "tenant", "channel", "queue", "site", "agent_id", "first_ts", "queued_ts", "answered_ts",
    "ended_ts", "outcome", "wait_s", "talk_s", "hold_s", "wrap_s", "handle_s", "transfers", "callback_requested",
    "disposition", "arrival_site",
]  # fmt: skip


def _contact_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """Contact events in order per contact, with the time of the contact's next event."""
    c = events.filter(pl.col("kind") == "contact").select(
        "contact_id", "tenant", "channel", "state", "queue", "agent_id", "site", "ts", "seq", "data"
    )
    c = c.sort("contact_id", "ts", "site", "seq")
    same = pl.col("contact_id").shift(-1) == pl.col("contact_id")
    return c.with_columns(
        next_ts=pl.when(same).then(pl.col("ts").shift(-1)),
        next_state=pl.when(same).then(pl.col("state").shift(-1)),
        next2_ts=pl.when(pl.col("contact_id").shift(-2) == pl.col("contact_id")).then(pl.col("ts").shift(-2)),
    )


def contacts(events: pl.LazyFrame, catalog: Catalog | None = None) -> pl.LazyFrame:
    """One row per contact (CDR_COLUMNS), plus the per-contact indicators the KPIs sum.

    One sort by time, then one ``group_by`` (which keeps that order within each contact). Talk time
    is the sum of the times of the events that leave
    ``connected`` (their ``prev_state``) minus the sum of the times of the ``connected`` events, and
    the same for wrap-up; no per-contact sort."""
    catalog = catalog or Catalog()
    state, prev, ts = pl.col("state"), pl.col("prev_state"), pl.col("ts")
    c = events.filter(pl.col("kind") == "contact").select(
        "contact_id", "tenant", "channel", "queue", "agent_id", "site", "ts",
        (state == "queued").alias("is_q"), (state == "connected").alias("is_conn"),
        state.is_in(TERMINAL).alias("is_end"), state.alias("state"),
        ((prev == "connected") & (state != "connected")).alias("talk_end"),
        ((prev == "wrap_up") & (state != "wrap_up")).alias("wrap_end"), (state == "wrap_up").alias("is_wrap"),
        pl.col("data").str.json_path_match("$.disposition").alias("disp"),
        pl.col("data").str.json_path_match("$.hold_s").cast(pl.Float64, strict=False).alias("hold"),
    ).sort("ts", maintain_order=True)  # fmt: skip
    q, conn, end = pl.col("is_q"), pl.col("is_conn"), pl.col("is_end")

    def at_first(col: str, where: pl.Expr) -> pl.Expr:  # rows are in ts order (sorted below)
        return pl.col(col).filter(where).first()

    def at_last(col: str, where: pl.Expr) -> pl.Expr:
        return pl.col(col).filter(where).last()

    has_disp = pl.col("disp").is_not_null()
    agg = c.group_by("contact_id").agg(
        pl.col("tenant").max(), pl.col("channel").max(),
        at_first("queue", q).alias("first_queue"), pl.col("queue").max().alias("any_queue"),
        at_first("agent_id", conn).alias("agent_id"),
        at_last("site", end).alias("end_site"), at_last("site", pl.lit(True)).alias("last_site"),
        at_first("site", pl.lit(True)).alias("arrival_site"),
        ts.min().alias("first_ts"), ts.filter(q).min().alias("queued_ts"), ts.filter(conn).min().alias("answered_ts"),
        ts.filter(end).max().alias("ended_ts"), at_last("state", end).alias("terminal"),
        ts.filter(pl.col("talk_end")).sum().alias("_talk_end"), ts.filter(conn).sum().alias("_talk_start"),
        pl.col("talk_end").sum().alias("_n_talk_end"), conn.sum().alias("_n_conn"),
        ts.filter(pl.col("wrap_end")).sum().alias("_wrap_end"), ts.filter(pl.col("is_wrap")).sum().alias("_wrap_start"),
        pl.col("wrap_end").sum().alias("_n_wrap_end"), pl.col("is_wrap").sum().alias("_n_wrap"),
        pl.col("hold").sum().alias("hold_s"), at_last("disp", has_disp).alias("disposition"),
        (pl.col("state") == "transferred").sum().cast(pl.Int64).alias("transfers"),
        (pl.col("state") == "callback_requested").any().alias("callback_requested"),
    )  # fmt: skip
    cdr = agg.with_columns(
        queue=pl.coalesce("first_queue", "any_queue"),
        site=pl.coalesce("end_site", "last_site"),
        talk_s=pl.when(pl.col("_n_talk_end") == pl.col("_n_conn")).then(pl.col("_talk_end") - pl.col("_talk_start")),
        wrap_s=pl.when(pl.col("_n_wrap_end") == pl.col("_n_wrap")).then(pl.col("_wrap_end") - pl.col("_wrap_start")),
        wait_s=pl.when(pl.col("queued_ts").is_not_null())
        .then(pl.coalesce("answered_ts", "ended_ts") - pl.col("queued_ts")),
        outcome=pl.when(pl.col("terminal").is_null()).then(pl.lit("open"))
        .when((pl.col("terminal") == "completed") & pl.col("queued_ts").is_null()).then(pl.lit("self_service"))
        .otherwise(pl.col("terminal")),
    ).with_columns(
        handle_s=pl.col("talk_s").fill_null(0.0) + pl.col("hold_s").fill_null(0.0) + pl.col("wrap_s").fill_null(0.0)
    ).drop(cs.starts_with("_"))
    cdr = cdr.join(catalog.tenants_frame().lazy(), on="tenant", how="left").join(
        catalog.queues_frame().lazy(), on="queue", how="left"
    )
    return _indicators(cdr)


def _indicators(cdr: pl.LazyFrame) -> pl.LazyFrame:
    """0/1 columns per contact: which counts it belongs to (definitions in docs/analytics.md)."""
    t = pl.col("sl_threshold_s").fill_null(DEFAULT_SL_THRESHOLD_S)
    queued = pl.col("queued_ts").is_not_null()
    answered_any = queued & pl.col("answered_ts").is_not_null()
    abandoned_any = queued & pl.col("answered_ts").is_null() & (pl.col("outcome") == "abandoned")
    short = abandoned_any & (pl.col("wait_s") < pl.col("short_abandon_s").fill_null(DEFAULT_SHORT_ABANDON_S))
    cdr = cdr.with_columns(
        contacts=pl.lit(1, pl.Int64),
        offered=(queued & ~short).cast(pl.Int64),
        answered=answered_any.cast(pl.Int64),
        abandoned=(abandoned_any & ~short).cast(pl.Int64),
        short_abandoned=short.cast(pl.Int64),
        answered_within_t=(answered_any & (pl.col("wait_s") <= t)).cast(pl.Int64),
        abandoned_within_t=(abandoned_any & ~short & (pl.col("wait_s") <= t)).cast(pl.Int64),
        abandoned_after_t=(abandoned_any & ~short & (pl.col("wait_s") > t)).cast(pl.Int64),
        handled=(answered_any & pl.col("ended_ts").is_not_null()).cast(pl.Int64),
        callbacks=pl.col("callback_requested").cast(pl.Int64),
    )
    formula = pl.col("sl_formula").fill_null(DEFAULT_FORMULA.value)
    awt, ans, abn = pl.col("answered_within_t"), pl.col("answered"), pl.col("abandoned")
    sl_num = pl.when(formula == "abandoned_positive").then(awt + pl.col("abandoned_within_t")).otherwise(awt)
    sl_den = (
        pl.when(formula == "answered_over_answered").then(ans)
        .when(formula == "abandoned_after_t").then(ans + pl.col("abandoned_after_t"))
        .when(formula == "abandoned_positive").then(pl.col("offered"))
        .otherwise(ans + abn)
    )  # fmt: skip
    resolved = pl.col("disposition") == "resolved"
    return cdr.with_columns(
        sl_num=sl_num,
        sl_den=sl_den,
        fcr_num=(pl.col("handled").cast(pl.Boolean) & resolved.fill_null(False)).cast(pl.Int64),
        fcr_den=(pl.col("handled").cast(pl.Boolean) & pl.col("disposition").is_not_null()).cast(pl.Int64),
        handle_counted_s=pl.when(pl.col("handled") == 1).then(pl.col("handle_s")).otherwise(0.0),
        answered_wait_s=pl.when(pl.col("answered") == 1).then(pl.col("wait_s")).otherwise(0.0),
        offered_wait_s=pl.when(pl.col("queued_ts").is_not_null()).then(pl.col("wait_s").fill_null(0.0))
        .otherwise(0.0),
    )


def segments(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per agent's handling of a contact: ``connected`` to the contact's next event (talk),
    plus the ``wrap_up`` that follows it, if any."""
    c = _contact_events(events)
    seg = c.filter(pl.col("state") == "connected").select(
        "contact_id", "tenant", "channel", "queue", "agent_id", "site",
        pl.col("ts").alias("start_ts"),
        (pl.col("next_ts") - pl.col("ts")).alias("talk_s"),
        pl.when(pl.col("next_state") == "wrap_up").then(pl.col("next2_ts") - pl.col("next_ts"))
        .otherwise(0.0).fill_null(0.0).alias("wrap_s"),
        pl.col("next_ts").is_not_null().alias("ended"),
    )  # fmt: skip
    return seg.with_columns(handle_s=pl.col("talk_s").fill_null(0.0) + pl.col("wrap_s"))


def agent_spans(events: pl.LazyFrame, until_ts: float | None = None) -> pl.LazyFrame:
    """One row per agent state span: ``state`` from ``start_ts`` to the agent's next event
    (``until_ts``, or the last event's time, for a state still open)."""
    a = events.filter(pl.col("kind") == "agent").select("agent_id", "state", "site", "ts", "seq")
    a = a.sort("agent_id", "ts", "site", "seq")
    end_all = pl.lit(until_ts) if until_ts is not None else events.select(pl.col("ts").max()).collect().item()
    same = pl.col("agent_id").shift(-1) == pl.col("agent_id")
    return a.with_columns(
        end_ts=pl.when(same).then(pl.col("ts").shift(-1)).otherwise(end_all).cast(pl.Float64)
    ).rename({"ts": "start_ts"}).filter(pl.col("end_ts") > pl.col("start_ts"))


def export(cdr: pl.LazyFrame, out: Path) -> int:
    """Write the CDR (CDR_COLUMNS) to ``out`` (.csv or .parquet); returns rows written."""
    frame = cdr.select(CDR_COLUMNS).sort("first_ts").collect()
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise VccError(f"{out}: CDR export writes .csv or .parquet, not {suffix or 'a file without suffix'!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.write_csv(out)
    else:
        frame.write_parquet(out)
    return frame.height
