"""KPIs by tenant, queue, site, agent, channel and interval: sums of the per-contact indicators of
``cdr.contacts`` and of agent state time, then the ratios. Each KPI is defined once, in
docs/analytics.md; the ratio expressions below are the only place they are computed."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from vcc.analytics import cdr
from vcc.analytics.catalog import Catalog
from vcc.errors import VccError

INTERVALS_S = {"15m": 900, "1h": 3600, "1d": 86400}
CONTACT_KEYS = ("tenant", "queue", "site", "agent_id", "channel")
AGENT_KEYS = ("agent_id", "site", "pool", "tenant")
COUNTS = ("contacts", "offered", "answered", "abandoned", "short_abandoned", "answered_within_t", "abandoned_within_t",
          "abandoned_after_t", "handled", "transfers", "callbacks", "sl_num", "sl_den", "fcr_num", "fcr_den")
SUMS_S = ("answered_wait_s", "handle_counted_s", "offered_wait_s")
SL_VARIANTS = ("answered_over_offered", "answered_over_answered", "abandoned_after_t", "abandoned_positive")


def interval_s(interval: str | None) -> int | None:
    if interval is None:
        return None
    if interval not in INTERVALS_S:
        raise VccError(f"interval {interval!r}: use one of {', '.join(INTERVALS_S)}")
    return INTERVALS_S[interval]


def _check_by(by: Sequence[str], allowed: Sequence[str]) -> list[str]:
    bad = [k for k in by if k not in allowed]
    if bad:
        raise VccError(f"cannot group by {', '.join(bad)}: use {', '.join(allowed)}")
    return list(by)


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den)


def _interval_col(ts: pl.Expr, iv: int) -> pl.Expr:
    return ((ts // iv) * iv * 1_000_000).cast(pl.Datetime("us", "UTC")).alias("interval_start")


def contact_kpis(
    contacts: pl.LazyFrame,
    by: Sequence[str] = ("tenant", "queue"),
    interval: str | None = "1h",
    *,
    start_ts: float | None = None,
    end_ts: float | None = None,
) -> pl.DataFrame:
    """Contact KPIs per group and interval; a contact counts in the interval it entered the queue."""
    keys = _check_by(by, CONTACT_KEYS)
    iv = interval_s(interval)
    when = pl.coalesce("queued_ts", "first_ts")
    c = contacts
    if start_ts is not None:
        c = c.filter(when >= start_ts)
    if end_ts is not None:
        c = c.filter(when < end_ts)
    if iv is not None:
        c = c.with_columns(_interval_col(when, iv))
        keys = [*keys, "interval_start"]
    agg = c.group_by(keys).agg(*[pl.col(n).sum() for n in COUNTS], *[pl.col(n).sum() for n in SUMS_S])
    if not keys:
        agg = c.select(*[pl.col(n).sum() for n in COUNTS], *[pl.col(n).sum() for n in SUMS_S])
    agg = agg.with_columns(pl.col(k).cast(pl.String) for k in keys if k != "interval_start")  # Categorical (facts)
    return with_contact_ratios(agg).sort(keys or pl.lit(0)).collect()


def with_contact_ratios(agg: pl.LazyFrame) -> pl.LazyFrame:
    """The ratio KPIs from the summed counts."""
    awt, ans, abn, off = (pl.col(n) for n in ("answered_within_t", "answered", "abandoned", "offered"))
    return agg.with_columns(
        service_level=_ratio(pl.col("sl_num"), pl.col("sl_den")),
        sl_answered_over_offered=_ratio(awt, ans + abn),
        sl_answered_over_answered=_ratio(awt, ans),
        sl_abandoned_after_t=_ratio(awt, ans + pl.col("abandoned_after_t")),
        sl_abandoned_positive=_ratio(awt + pl.col("abandoned_within_t"), off),
        abandon_rate=_ratio(abn, off),
        asa_s=_ratio(pl.col("answered_wait_s"), ans),
        aht_s=_ratio(pl.col("handle_counted_s"), pl.col("handled")),
        fcr=_ratio(pl.col("fcr_num"), pl.col("fcr_den")),
    )


def _period_s(spans: pl.LazyFrame, start_ts: float | None, end_ts: float | None) -> float | None:
    """Length of a whole-period report: the period given, or the span the agent data covers."""
    if start_ts is None or end_ts is None:
        lo, hi = spans.select(pl.col("start_ts").min().alias("lo"), pl.col("end_ts").max().alias("hi")).collect().row(0)
        start_ts = start_ts if start_ts is not None else lo
        end_ts = end_ts if end_ts is not None else hi
    if start_ts is None or end_ts is None or end_ts <= start_ts:
        return None
    return end_ts - start_ts


def split_spans(spans: pl.LazyFrame, iv: int | None, start_ts: float | None, end_ts: float | None) -> pl.LazyFrame:
    """Clip spans to the period and cut them at interval boundaries (``interval_start`` column)."""
    s = spans
    if start_ts is not None:
        s = s.with_columns(start_ts=pl.max_horizontal("start_ts", pl.lit(start_ts)))
    if end_ts is not None:
        s = s.with_columns(end_ts=pl.min_horizontal("end_ts", pl.lit(end_ts)))
    s = s.filter(pl.col("end_ts") > pl.col("start_ts"))
    if iv is None:
        return s
    k0 = (pl.col("start_ts") // iv).cast(pl.Int64)
    k1 = (pl.col("end_ts") / iv).ceil().cast(pl.Int64) - 1
    s = s.with_columns(k=pl.int_ranges(k0, k1 + 1)).explode("k")
    lo, hi = pl.col("k") * iv, (pl.col("k") + 1) * iv
    s = s.with_columns(
        start_ts=pl.max_horizontal("start_ts", lo.cast(pl.Float64)),
        end_ts=pl.min_horizontal("end_ts", hi.cast(pl.Float64)),
    ).with_columns(_interval_col(pl.col("k").cast(pl.Float64) * iv, iv)).drop("k")
    return s.filter(pl.col("end_ts") > pl.col("start_ts"))


def agent_kpis(
    spans: pl.LazyFrame,
    segments: pl.LazyFrame,
    catalog: Catalog | None = None,
    by: Sequence[str] = ("agent_id",),
    interval: str | None = "1h",
    *,
    start_ts: float | None = None,
    end_ts: float | None = None,
) -> pl.DataFrame:
    """Agent time (staffed, available, handling, not ready), occupancy, utilization, average agents
    staffed; with the agents' handled segments and their AHT. ``tenant`` is a dedicated agent's tenant
    (null for shared agents)."""
    catalog = catalog or Catalog()
    keys = _check_by(by, AGENT_KEYS)
    iv = interval_s(interval)
    agents = catalog.agents_frame().lazy().with_columns(
        tenant=pl.when(pl.col("pool") == "dedicated").then(pl.col("agent_tenants").list.first())
    ).drop("agent_tenants")
    s = split_spans(spans, iv, start_ts, end_ts).join(agents, on="agent_id", how="left")
    d = pl.col("end_ts") - pl.col("start_ts")
    st = pl.col("state")
    gkeys = [*keys, "interval_start"] if iv is not None else keys
    time_cols = [
        d.filter(st != "logged_out").sum().alias("staffed_s"),
        d.filter(st.is_in(cdr.AVAILABLE_STATES)).sum().alias("available_s"),
        d.filter(st.is_in(cdr.HANDLING_STATES)).sum().alias("handling_s"),
        d.filter(st == "not_ready").sum().alias("not_ready_s"),
    ]
    t = s.group_by(gkeys).agg(time_cols) if gkeys else s.select(time_cols)
    seg = segments.join(agents, on="agent_id", how="left", suffix="_agent")
    if "tenant" in keys:
        seg = seg.with_columns(tenant=pl.col("tenant_agent"))
    if start_ts is not None:
        seg = seg.filter(pl.col("start_ts") >= start_ts)
    if end_ts is not None:
        seg = seg.filter(pl.col("start_ts") < end_ts)
    if iv is not None:
        seg = seg.with_columns(_interval_col(pl.col("start_ts"), iv))
    seg_cols = [pl.len().alias("segments"), pl.col("ended").sum().alias("segments_ended"),
                pl.col("handle_s").filter(pl.col("ended")).sum().alias("segment_handle_s")]
    h = seg.group_by(gkeys).agg(seg_cols) if gkeys else seg.select(seg_cols)
    out = t.join(h, on=gkeys, how="full", coalesce=True) if gkeys else pl.concat([t, h], how="horizontal")
    out = out.with_columns(pl.col(c).fill_null(0.0) for c in ("staffed_s", "available_s", "handling_s", "not_ready_s"))
    out = out.with_columns(pl.col(c).fill_null(0) for c in ("segments", "segments_ended"))
    span_s = iv if iv is not None else _period_s(s, start_ts, end_ts)
    h_s, a_s = pl.col("handling_s"), pl.col("available_s")
    out = out.with_columns(
        occupancy=_ratio(h_s, h_s + a_s),
        utilization=_ratio(h_s, pl.col("staffed_s")),
        staffed_agents=(pl.col("staffed_s") / span_s) if span_s else pl.lit(None, pl.Float64),
        aht_s=_ratio(pl.col("segment_handle_s"), pl.col("segments_ended")),
    )
    return out.sort(gkeys or pl.lit(0)).collect()


def report(
    events: pl.LazyFrame,
    catalog: Catalog | None = None,
    by: Sequence[str] = ("tenant", "queue"),
    interval: str | None = "1h",
    *,
    start_ts: float | None = None,
    end_ts: float | None = None,
    contacts: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Contact KPIs per group and interval, with ``staffed_agents`` beside them: average agents
    logged in who serve the group's tenant (when grouped by tenant or queue), or all agents of the
    group's site. ``contacts``: the contacts already derived from ``events`` (``facts.scan_contacts``),
    else ``cdr.contacts(events)``."""
    catalog = catalog or Catalog()
    contacts = contacts if contacts is not None else cdr.contacts(events, catalog)
    contact_frame = contact_kpis(contacts, by, interval, start_ts=start_ts, end_ts=end_ts)
    iv = interval_s(interval)
    spans = split_spans(cdr.agent_spans(events, until_ts=end_ts), iv, start_ts, end_ts)
    ag = catalog.agents_frame().lazy().explode("agent_tenants").rename({"agent_tenants": "tenant"})
    queues = pl.DataFrame(
        {"queue": list(catalog.queues), "tenant": [q.tenant for q in catalog.queues.values()]},
        schema={"queue": pl.String, "tenant": pl.String},
    ).lazy()
    keys = [k for k in by if k in ("tenant", "queue", "site")]
    if "tenant" in keys or "queue" in keys:
        spans = spans.join(ag, on="agent_id", how="inner")
        if "queue" in keys:
            spans = spans.join(queues, on="tenant", how="inner")
    gkeys = [*keys, "interval_start"] if iv is not None else keys
    staffed = pl.col("end_ts") - pl.col("start_ts")
    cols = [staffed.filter(pl.col("state") != "logged_out").sum().alias("staffed_s")]
    st = spans.group_by(gkeys).agg(cols) if gkeys else spans.select(cols)
    span_s = iv if iv is not None else _period_s(spans, start_ts, end_ts)
    st = st.with_columns(staffed_agents=(pl.col("staffed_s") / span_s) if span_s else pl.lit(None, pl.Float64))
    st_df = st.collect()
    if not gkeys:
        return pl.concat([contact_frame, st_df], how="horizontal")
    return contact_frame.join(st_df, on=gkeys, how="left").with_columns(pl.col("staffed_s").fill_null(0.0))
