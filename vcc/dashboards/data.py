"""The warehouse as a user may see it: events cut to a :class:`~vcc.dashboards.scope.Scope` before
any KPI is computed, then :mod:`vcc.analytics` (KPIs, staffing, forecast, billing) on what is left.
No formula lives here: every figure is the analytics plane's (``docs/analytics.md``).

A contact is in scope when its tenant is and at least one of its events happened at a site in scope;
all its events are then kept, so its KPIs are whole even when it crossed sites. Agent events are
kept for agents at sites in scope who serve a tenant in scope (for a tenant's user: the tenant's
dedicated agents only, since a shared agent's day includes other tenants' work). Site events are
for managers only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from vcc.analytics import billing, cdr, forecast, kpis, staffing, warehouse
from vcc.analytics.catalog import Catalog
from vcc.config.models import ClusterConfig
from vcc.core.model import Pool
from vcc.dashboards.scope import Scope

Interval = str | None  # "15m", "1h", "1d" or None


class NotInScope(Exception):
    """A page asked for data outside the user's scope (a tenant user asking for another tenant)."""


def catalog_of(config: ClusterConfig) -> Catalog:
    return Catalog.from_config(config)


def all_events(run_dir: Path) -> pl.LazyFrame:
    return warehouse.scan_events(warehouse.default_root(run_dir))


def scoped_agents(config: ClusterConfig, scope: Scope) -> list[str]:
    if scope.is_manager:
        return [a.id for a in config.agents if set(a.tenants) & scope.tenants]
    return [a.id for a in config.agents if a.pool == Pool.DEDICATED and set(a.tenants) <= scope.tenants]


def scoped_events(events: pl.LazyFrame, config: ClusterConfig, scope: Scope,
                  start_ts: float | None = None, end_ts: float | None = None) -> pl.LazyFrame:
    """The events ``scope`` may see (see the module doc), within ``[start_ts, end_ts)`` if given."""
    if start_ts is not None:
        events = events.filter(pl.col("ts") >= start_ts)
    if end_ts is not None:
        events = events.filter(pl.col("ts") < end_ts)
    sites, tenants = sorted(scope.sites), sorted(scope.tenants)
    contact_ids = (
        events.filter((pl.col("kind") == "contact") & pl.col("tenant").is_in(tenants) & pl.col("site").is_in(sites))
        .select("contact_id").unique()
    )
    contacts = events.filter(pl.col("kind") == "contact").join(contact_ids, on="contact_id", how="semi")
    contacts = contacts.filter(pl.col("tenant").is_in(tenants))  # belt and braces: never another tenant's row
    agents = events.filter(
        (pl.col("kind") == "agent") & pl.col("site").is_in(sites)
        & pl.col("agent_id").is_in(scoped_agents(config, scope))
    )  # fmt: skip
    parts = [contacts, agents]
    if scope.is_manager:
        parts.append(events.filter((pl.col("kind") == "site") & pl.col("site").is_in(sites)))
    return pl.concat(parts, how="vertical")


def day_bounds(day: date) -> tuple[float, float]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def today_kpis(today_events: pl.LazyFrame, config: ClusterConfig, scope: Scope, now: float,
               groupings: list[list[str]]) -> list[pl.DataFrame]:
    """Contact KPIs (``service_level`` and the counts behind it) of the UTC day of ``now``, once per
    grouping in ``groupings`` (e.g. ``[["site", "tenant", "queue"], ["tenant"], []]``), from that
    day's events (the event logs' tail, or the warehouse)."""
    start, end = day_bounds(datetime.fromtimestamp(now, UTC).date())
    events = scoped_events(today_events, config, scope, start, end)
    contacts = cdr.contacts(events, catalog_of(config)).collect().lazy()
    return [kpis.contact_kpis(contacts, by=by, interval=None) for by in groupings]


def report(run_dir: Path, config: ClusterConfig, scope: Scope, *, by: list[str], interval: Interval,
           start_ts: float | None, end_ts: float | None) -> pl.DataFrame:
    """Contact and agent KPIs by ``by`` and ``interval`` over what ``scope`` may see."""
    events = scoped_events(all_events(run_dir), config, scope, start_ts, end_ts)
    return kpis.report(events, catalog_of(config), by=by, interval=interval, start_ts=start_ts, end_ts=end_ts)


def staffing_required(run_dir: Path, config: ClusterConfig, scope: Scope, *, interval: str, method: str,
                      start_ts: float | None, end_ts: float | None) -> pl.DataFrame:
    """Agents required per queue and interval (Erlang C or A) beside the agents staffed."""
    frame = report(run_dir, config, scope, by=["queue"], interval=interval, start_ts=start_ts, end_ts=end_ts)
    seconds = kpis.interval_s(interval)
    if seconds is None:
        raise ValueError("staffing needs an interval (15m, 1h or 1d)")
    return staffing.required(frame, catalog_of(config), seconds, method=method)


def next_day_forecast(run_dir: Path, config: ClusterConfig, scope: Scope, *, interval: str,
                      day: date | None) -> pl.DataFrame:
    """Offered contacts and AHT expected per queue and interval of ``day`` (a seasonal baseline)."""
    events = scoped_events(all_events(run_dir), config, scope)
    return forecast.next_day(cdr.contacts(events, catalog_of(config)), interval=interval, day=day)


def shift_plan(need: list[int], *, interval_s: int, shift_h: float) -> list[staffing.Shift]:
    return staffing.shift_plan(need, interval_s, shift_h)


def statement(run_dir: Path, config: ClusterConfig, scope: Scope, tenant: str, start_ts: float,
              end_ts: float) -> billing.Statement:
    """The tenant's billing statement for ``[start_ts, end_ts)``; refused for a tenant outside the
    scope (a tenant user asking for another tenant's bill)."""
    if tenant not in scope.tenants:
        raise NotInScope(f"tenant {tenant!r} is not in the scope of user {scope.user!r}")
    events = scoped_events(all_events(run_dir), config, scope, None, None)
    return billing.statement(events, catalog_of(config), tenant, start_ts, end_ts)
