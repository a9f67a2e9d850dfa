"""Agents required per queue and interval (Erlang C, Erlang A) from the measured arrival rate and
AHT, beside the agents actually staffed; a shift plan that covers a day's requirement."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from vcc.analytics.catalog import DEFAULT_SL_TARGET_PCT, DEFAULT_SL_THRESHOLD_S, Catalog
from vcc.core import erlang
from vcc.errors import VccError

METHODS = ("erlang_c", "erlang_a")
MAX_AGENTS = 100_000


def patience_s(offered_wait_s: float, abandoned: int) -> float | None:
    """Mean caller patience, exponential with censoring: total time offered contacts waited over
    the number who abandoned (None without abandons: patience not observed, use Erlang C)."""
    return offered_wait_s / abandoned if abandoned > 0 and offered_wait_s > 0 else None


def agents_required(calls_per_h: float, aht_s: float, threshold_s: float, target: float,
                    method: str = "erlang_c", patience: float | None = None) -> int:
    """Fewest agents meeting ``target`` (a fraction) of contacts answered within ``threshold_s``."""
    if method not in METHODS:
        raise VccError(f"staffing method {method!r}: use {' or '.join(METHODS)}")
    if calls_per_h <= 0 or aht_s <= 0:
        return 0
    target = min(target, 0.999)
    n_c = erlang.agents_for_service_level(calls_per_h, aht_s, threshold_s, target, max_agents=MAX_AGENTS)
    if method == "erlang_c" or patience is None:
        return n_c
    for n in range(1, n_c + 1):  # abandonment only lowers the need: Erlang C bounds the search
        if erlang.erlang_a(n, calls_per_h, aht_s, patience).service_level(threshold_s) >= target:
            return n
    return n_c


def required(frame: pl.DataFrame, catalog: Catalog, interval_s: int, method: str = "erlang_c") -> pl.DataFrame:
    """For a ``kpis.report(..., by=["queue"], interval=...)`` frame: agents required per row, with
    ``calls_per_h``, the AHT used, the queue's target, and ``staffed_agents`` beside."""
    if "queue" not in frame.columns:
        raise VccError("staffing needs KPIs grouped by queue")
    per_queue = frame.group_by("queue").agg(
        pl.col("handle_counted_s").sum(), pl.col("handled").sum(), pl.col("offered_wait_s").sum(),
        pl.col("abandoned").sum(),
    )
    whole_aht = {q: (h / n if n else None) for q, h, n, _, _ in per_queue.iter_rows()}
    whole_patience = {q: patience_s(w, a) for q, _, _, w, a in per_queue.iter_rows()}
    rows = []
    for r in frame.iter_rows(named=True):
        q = catalog.queues.get(r["queue"] or "")
        threshold = q.sl_threshold_s if q else DEFAULT_SL_THRESHOLD_S
        target = (q.sl_target_pct if q else DEFAULT_SL_TARGET_PCT) / 100.0
        calls_per_h = r["offered"] * 3600.0 / interval_s
        aht = r["aht_s"] if r["aht_s"] is not None else whole_aht.get(r["queue"])
        need = agents_required(calls_per_h, aht or 0.0, threshold, target, method, whole_patience.get(r["queue"]))
        rows.append({"calls_per_h": calls_per_h, "aht_used_s": aht, "sl_threshold_s": threshold,
                     "sl_target": target, "agents_required": need})  # fmt: skip
    extra = pl.DataFrame(rows, schema={"calls_per_h": pl.Float64, "aht_used_s": pl.Float64,
                                       "sl_threshold_s": pl.Float64, "sl_target": pl.Float64,
                                       "agents_required": pl.Int64})  # fmt: skip
    keep = [c for c in ("queue", "interval_start", "offered", "aht_s", "service_level", "staffed_agents")
            if c in frame.columns]  # fmt: skip
    return pl.concat([frame.select(keep), extra], how="horizontal").with_columns(
        gap_agents=(pl.col("staffed_agents") - pl.col("agents_required")) if "staffed_agents" in keep else None
    )


@dataclass(frozen=True, slots=True)
class Shift:
    start_index: int  # interval index where the shift starts
    intervals: int
    agents: int


def shift_plan(need: Sequence[int], interval_s: int, shift_h: float = 8.0) -> list[Shift]:
    """Shifts of ``shift_h`` hours starting on interval boundaries, added greedily at the first
    interval still short of agents, until every interval's need is covered."""
    if shift_h <= 0:
        raise VccError(f"shift length must be > 0 h, got {shift_h}")
    length = max(1, math.ceil(shift_h * 3600 / interval_s))
    cover = [0] * len(need)
    plan: list[Shift] = []
    for i, n in enumerate(need):
        short = n - cover[i]
        if short <= 0:
            continue
        start = max(0, min(i, len(need) - length))  # a shift near the day's end starts early to fit
        plan.append(Shift(start, length, short))
        for j in range(start, min(len(need), start + length)):
            cover[j] += short
    return plan
