"""The live wallboard's tables: the sites' published load (etcd), the waiting contacts and agents'
states (event logs) and today's service level (:mod:`vcc.analytics.kpis` on today's events), joined
per queue and rolled up per tenant and per site, for one scope."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from vcc.config.models import ClusterConfig
from vcc.dashboards import data
from vcc.dashboards.live import LiveSnapshot
from vcc.dashboards.scope import Scope
from vcc.dashboards.views import agent_state_matrix, agents_by_state, queue_catalog, wallboard_queues

SL_COLUMNS = ("offered", "answered", "service_level")


@dataclass(slots=True)
class Board:
    queues: pl.DataFrame
    by_tenant: pl.DataFrame
    by_site: pl.DataFrame
    agents_by_tenant: pl.DataFrame
    agents_by_site: pl.DataFrame
    totals: dict[str, str] = field(default_factory=dict)
    note: str = ""


def _pct(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{100 * value:.1f} %"


def _seconds(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.0f} s"


def _with_sl(frame: pl.DataFrame, sl: pl.DataFrame | None, keys: list[str]) -> pl.DataFrame:
    if sl is None:
        return frame.with_columns(pl.lit(None, pl.Float64).alias("sl_today_pct"))
    cols = [c for c in SL_COLUMNS if c in sl.columns]
    picked = sl.select(*keys, *cols).rename({c: f"{c}_today" for c in cols if c != "service_level"})
    picked = picked.with_columns((pl.col("service_level") * 100).round(1).alias("sl_today_pct")).drop("service_level")
    return frame.join(picked, on=keys, how="left")


def build(config: ClusterConfig, today_events: pl.LazyFrame, scope: Scope, snapshot: LiveSnapshot,
          waiting: pl.DataFrame, agent_states: pl.DataFrame, now: float) -> Board:
    queues = wallboard_queues(snapshot, waiting, config, scope)
    note = ""
    by_queue: pl.DataFrame | None
    by_tenant_sl: pl.DataFrame | None
    by_site_sl: pl.DataFrame | None
    overall: pl.DataFrame | None
    try:
        by_queue, by_tenant_sl, by_site_sl, overall = data.today_kpis(
            today_events, config, scope, now, [["site", "tenant", "queue"], ["tenant"], ["site"], []])
    except pl.exceptions.PolarsError as e:  # the live part still shows
        by_queue = by_tenant_sl = by_site_sl = overall = None
        note = f"Service level today unavailable: {str(e).splitlines()[0]}"
    targets = queue_catalog(config).select("queue", "sl_target_pct")
    queues = _with_sl(queues, by_queue, ["site", "tenant", "queue"]).join(targets, on="queue", how="left")
    rollup = [pl.col("waiting").sum(), pl.col("longest_wait_s").max(), pl.col("ready_agents").sum(),
              pl.col("staffed_agents").sum()]  # fmt: skip
    by_tenant = _with_sl(queues.group_by("tenant").agg(rollup), by_tenant_sl, ["tenant"]).sort("tenant")
    by_site = _with_sl(queues.group_by("site").agg(rollup), by_site_sl, ["site"]).sort("site")
    visible = agent_states.filter(pl.col("agent_id").is_in(data.scoped_agents(config, scope)))
    states = agents_by_state(visible, config, scope)
    logged_in = scope.filter(visible.filter(pl.col("state") != "logged_out"))
    totals = {
        "waiting": str(int(queues["waiting"].sum())),
        "longest_wait": _seconds(queues["longest_wait_s"].max()),
        "service_level": _pct(overall["service_level"][0]) if overall is not None and overall.height else "-",
        "agents": str(logged_in.height),
    }
    return Board(queues, by_tenant, by_site, agent_state_matrix(states, "tenant"), agent_state_matrix(states, "site"),
                 totals, note)
