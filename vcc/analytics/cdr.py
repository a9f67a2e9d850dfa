"""From events to records: one row per contact (the CDR), one per agent's handling of a contact
(a segment), one per agent state span. Lazy Polars all the way; definitions in docs/analytics.md."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import polars.selectors as cs

from vcc.analytics.catalog import DEFAULT_FORMULA, DEFAULT_SHORT_ABANDON_S, DEFAULT_SL_THRESHOLD_S, Catalog
from vcc.core.events import SITE_LOST
from vcc.core.model import ServiceLevelFormula
from vcc.errors import VccError

TERMINAL = ["completed", "abandoned", "failed"]
LOW_CARDINALITY = ("tenant", "channel", "queue", "site", "agent_id")
HANDLING_STATES = ["busy", "wrap_up"]
AVAILABLE_STATES = ["ready", "reserved"]

CDR_COLUMNS = [
    "contact_id", "tenant", "channel", "queue", "site", "agent_id", "first_ts", "queued_ts", "answered_ts",
    "ended_ts", "outcome", "wait_s", "talk_s", "hold_s", "wrap_s", "handle_s", "transfers", "callback_requested",
    "disposition", "arrival_site",
]  # fmt: skip


def _transitions(events: pl.LazyFrame) -> pl.LazyFrame:
    """Contact events that move the contact (``state != prev_state``): not the notes a live contact
    logs in its current state (hold, resume, disposition, chat lines, consults)."""
    prev = pl.col("prev_state")
    return events.filter((pl.col("kind") == "contact") & (prev.is_null() | (pl.col("state") != prev)))


def _contact_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """Contact transitions in order per contact, with the time of the contact's next transition."""
    c = _transitions(events).select(
        "contact_id", "tenant", "channel", "state", "queue", "agent_id", "site", "ts", "seq", "data"
    )
    c = c.sort("contact_id", "ts", "site", "seq")
    same = pl.col("contact_id").shift(-1) == pl.col("contact_id")
    return c.with_columns(
        next_ts=pl.when(same).then(pl.col("ts").shift(-1)),
        next_state=pl.when(same).then(pl.col("state").shift(-1)),
        next2_ts=pl.when(pl.col("contact_id").shift(-2) == pl.col("contact_id")).then(pl.col("ts").shift(-2)),
    )


def hold_times(events: pl.LazyFrame, held: pl.Series | None = None) -> pl.LazyFrame:
    """Seconds on hold per contact (``contact_id``, ``hold_s``), from the ``hold``/``resume`` notes a
    connected contact logs: a hold lasts until the next ``resume`` or until the talk ends (a transfer
    after a consultation, the agent's complete, the caller hanging up), whichever comes first. Only the
    contacts ever held (``held``: their ids, when the caller already has them) are looked at."""
    state, prev, reason = pl.col("state"), pl.col("prev_state"), pl.col("reason")
    contact = pl.col("kind") == "contact"
    closers = events.filter(
        contact & ((reason.is_in(["hold", "resume"]) & (state == prev)) | ((prev == "connected") & (state != prev)))
    ).select("contact_id", "ts", "seq", pl.when(state == prev).then(reason).alias("what"))
    if held is None:
        ids = events.filter(contact & (reason == "hold")).select("contact_id").unique()
        c = closers.join(ids, on="contact_id", how="semi")
    else:
        c = closers.filter(pl.col("contact_id").is_in(held.implode()))
    c = c.sort("contact_id", "ts", "seq")
    same = pl.col("contact_id").shift(-1) == pl.col("contact_id")
    held_s = pl.when(same & (pl.col("what") == "hold")).then(pl.col("ts").shift(-1) - pl.col("ts"))
    return c.select("contact_id", held_s.alias("hold_s")).group_by("contact_id").agg(pl.col("hold_s").sum())


def held_contacts(events: pl.LazyFrame) -> pl.Series:
    """The ids of the contacts with a ``hold`` note (one small eager query: the notes are few)."""
    held = events.filter((pl.col("kind") == "contact") & (pl.col("reason") == "hold")).select("contact_id")
    return held.unique().collect()["contact_id"]


def contacts(events: pl.LazyFrame, catalog: Catalog | None = None) -> pl.LazyFrame:
    """One row per contact (CDR_COLUMNS), plus the per-contact indicators the KPIs sum."""
    return with_catalog(records(events), catalog)


def with_catalog(records_: pl.LazyFrame, catalog: Catalog | None = None) -> pl.LazyFrame:
    """CDR rows (``records``, or a day's contact facts) with their tenant's and queue's settings
    (service-level threshold and formula, short abandon) and the per-contact indicators."""
    catalog = catalog or Catalog()
    schema = records_.collect_schema()  # String names, or Categorical ones (contact facts): join like with like
    # the formula as an Enum: compared per contact, a u8 code costs less than the text
    formulas = pl.Enum([f.value for f in ServiceLevelFormula])
    tenants = catalog.tenants_frame().lazy().with_columns(
        pl.col("tenant").cast(schema["tenant"]), pl.col("sl_formula").cast(formulas)
    )
    queues = catalog.queues_frame().lazy().with_columns(pl.col("queue").cast(schema["queue"]))
    cdr = records_.join(tenants, on="tenant", how="left").join(
        queues, on="queue", how="left"
    )
    return _indicators(cdr)


def records(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per contact: the CDR_COLUMNS, from the events alone (no catalog).

    One sort by time, then one ``group_by`` whose aggregations are all plain ``min``/``max``/``sum``/
    ``first``/``last`` of columns masked before it (what the streaming engine aggregates natively; a
    ``filter`` inside an aggregation is evaluated group by group). Talk time is the sum of the times of
    the transitions that leave ``connected`` minus the sum of the times of those that enter it (one
    signed column), the same for wrap-up. Notes (``state == prev_state``: hold, resume, disposition,
    chat) are not transitions; hold seconds come from ``hold_times`` and are taken out of talk time."""
    state, prev, ts, reason = pl.col("state"), pl.col("prev_state"), pl.col("ts"), pl.col("reason")
    moved = prev.is_null() | (state != prev)
    q, conn, ended = state == "queued", moved & (state == "connected"), state.is_in(TERMINAL)
    # a dead site's live call, logged failed by its adopter, is a presumption: an end the site itself
    # logged (just before it died, or after a partition) is the contact's end (vcc.actors.site_live)
    presumed = ended & reason.str.starts_with(SITE_LOST).fill_null(False)
    end = ended & ~presumed
    talk_end, talk_start = (prev == "connected") & moved, conn
    wrap_end, wrap_start = (prev == "wrap_up") & moved, moved & (state == "wrap_up")
    data = pl.col("data")
    # JSON is parsed only where the text names a disposition (a substring search is ~10x cheaper)
    disp = pl.when(data.str.contains('"disposition"', literal=True)).then(data.str.json_path_match("$.disposition"))
    terminal = pl.col("state").replace_strict(TERMINAL, range(1, len(TERMINAL) + 1), default=None, return_dtype=pl.Int8)
    # names of few values as Categorical (u32 codes) through the sort and the group_by: string
    # first/last/max aggregations over 2 M contacts cost ~2.5x the cast
    c = events.filter(pl.col("kind") == "contact").with_columns(
        pl.col(*LOW_CARDINALITY).cast(pl.Categorical)
    ).sort("ts", maintain_order=True).select(
        "contact_id", "tenant", "channel", "ts",
        pl.col("site").alias("last_site"), pl.col("site").alias("arrival_site"),
        pl.when(q).then(pl.col("queue")).alias("first_queue"), pl.col("queue").alias("any_queue"),
        pl.when(conn).then(pl.col("agent_id")).alias("agent_id"),
        pl.when(end).then(pl.col("site")).alias("end_site"), pl.when(end).then(terminal).alias("terminal"),
        pl.when(presumed).then(pl.col("site")).alias("_p_site"), pl.when(presumed).then(terminal).alias("_p_end"),
        pl.when(q).then(ts).alias("queued_ts"), pl.when(conn).then(ts).alias("answered_ts"),
        pl.when(end).then(ts).alias("ended_ts"), pl.when(presumed).then(ts).alias("_p_ts"),
        (pl.when(talk_end).then(ts).otherwise(0.0) - pl.when(talk_start).then(ts).otherwise(0.0)).alias("_talk"),
        (talk_end.cast(pl.Int32) - talk_start.cast(pl.Int32)).alias("_talk_open"),
        (pl.when(wrap_end).then(ts).otherwise(0.0) - pl.when(wrap_start).then(ts).otherwise(0.0)).alias("_wrap"),
        (wrap_end.cast(pl.Int32) - wrap_start.cast(pl.Int32)).alias("_wrap_open"),
        disp.cast(pl.Categorical).alias("disposition"), (reason == "hold").alias("_held"),
        (moved & (state == "transferred")).cast(pl.Int64).alias("transfers"),
        (state == "callback_requested").alias("callback_requested"),
    )  # fmt: skip
    agg = c.group_by("contact_id").agg(
        pl.col("tenant", "channel", "arrival_site").first(), pl.col("last_site").last(),
        pl.col("first_queue", "agent_id").first(ignore_nulls=True), pl.col("any_queue").max(),
        pl.col("end_site", "terminal", "disposition", "_p_site", "_p_end").last(ignore_nulls=True),
        ts.min().alias("first_ts"), pl.col("queued_ts", "answered_ts").min(), pl.col("ended_ts", "_p_ts").max(),
        pl.col("_talk", "_talk_open", "_wrap", "_wrap_open", "transfers").sum(),
        pl.col("_held", "callback_requested").max(),
    )  # fmt: skip
    held = held_contacts(events)
    if held.is_empty():  # no hold anywhere: no second pass over the events, no join
        agg = agg.with_columns(hold_s=pl.lit(0.0))
    else:
        agg = agg.join(hold_times(events, held), on="contact_id", how="left").with_columns(
            hold_s=pl.when(pl.col("_held")).then(pl.col("hold_s").fill_null(0.0)).otherwise(0.0)
        )
    names = pl.Series(TERMINAL, dtype=pl.String)
    real = pl.col("terminal").is_not_null()
    agg = agg.with_columns(
        end_site=pl.when(real).then("end_site").otherwise("_p_site"),
        terminal=pl.when(real).then("terminal").otherwise("_p_end"),
        ended_ts=pl.when(real).then("ended_ts").otherwise("_p_ts"),
    ).with_columns(
        pl.col("tenant", "channel", "agent_id", "first_queue", "any_queue", "last_site", "arrival_site", "end_site",
               "disposition").cast(pl.String),
        terminal=pl.col("terminal").replace_strict(range(1, len(TERMINAL) + 1), names, default=None),
    )  # fmt: skip
    cdr = agg.with_columns(
        queue=pl.coalesce("first_queue", "any_queue"),
        site=pl.coalesce("end_site", "last_site"),
        talk_s=pl.when(pl.col("_talk_open") == 0).then(pl.col("_talk") - pl.col("hold_s")),
        wrap_s=pl.when(pl.col("_wrap_open") == 0).then(pl.col("_wrap")),
        wait_s=pl.when(pl.col("queued_ts").is_not_null())
        .then(pl.coalesce("answered_ts", "ended_ts") - pl.col("queued_ts")),
        outcome=pl.when(pl.col("terminal").is_null()).then(pl.lit("open"))
        .when((pl.col("terminal") == "completed") & pl.col("queued_ts").is_null()).then(pl.lit("self_service"))
        .otherwise(pl.col("terminal")),
    ).with_columns(
        handle_s=pl.col("talk_s").fill_null(0.0) + pl.col("hold_s") + pl.col("wrap_s").fill_null(0.0)
    ).drop(cs.starts_with("_"), "first_queue", "any_queue", "end_site", "last_site", "terminal")
    return cdr.select(CDR_COLUMNS)


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
    frame = cdr.select(CDR_COLUMNS).sort("first_ts").with_columns(pl.col(pl.Categorical).cast(pl.String)).collect()
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise VccError(f"{out}: CDR export writes .csv or .parquet, not {suffix or 'a file without suffix'!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.write_csv(out)
    else:
        frame.write_parquet(out)
    return frame.height
