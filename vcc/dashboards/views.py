"""The tables the pages show, built from etcd's snapshot, the tailed event logs and the config, and
always cut to the user's :class:`~vcc.dashboards.scope.Scope`. Sans-IO: inputs in, frames out."""

from __future__ import annotations

import polars as pl

from vcc.config.models import ClusterConfig
from vcc.dashboards.live import LiveSnapshot
from vcc.dashboards.scope import Scope

#: Agent states that count as staffed (logged in), in the order a wallboard shows them.
AGENT_STATES = ("ready", "reserved", "busy", "wrap_up", "not_ready")


def queue_catalog(config: ClusterConfig) -> pl.DataFrame:
    """tenant, queue, queue_name, channel, sl_target_pct, sl_threshold_s for every queue."""
    rows = [
        {"tenant": t.id, "queue": q.id, "queue_name": q.name or q.id, "channel": q.channel.value,
         "sl_target_pct": q.service_level.pct, "sl_threshold_s": q.service_level.threshold_s}
        for t in config.tenants for q in t.queues
    ]  # fmt: skip
    schema = {"tenant": pl.Utf8, "queue": pl.Utf8, "queue_name": pl.Utf8, "channel": pl.Utf8,
              "sl_target_pct": pl.Float64, "sl_threshold_s": pl.Float64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def site_catalog(config: ClusterConfig) -> pl.DataFrame:
    rows = [{"site": s.id, "site_name": s.name, "region": s.region} for s in config.sites]
    return pl.DataFrame(rows, schema={"site": pl.Utf8, "site_name": pl.Utf8, "region": pl.Utf8})


def agent_tenants(config: ClusterConfig) -> pl.DataFrame:
    """agent_id, tenant, pool: one row per (agent, tenant served)."""
    rows = [{"agent_id": a.id, "tenant": t, "pool": a.pool.value} for a in config.agents for t in a.tenants]
    return pl.DataFrame(rows, schema={"agent_id": pl.Utf8, "tenant": pl.Utf8, "pool": pl.Utf8})


WALLBOARD_SCHEMA = {
    "region": pl.Utf8, "site": pl.Utf8, "tenant": pl.Utf8, "queue": pl.Utf8, "channel": pl.Utf8,
    "waiting": pl.Int64, "longest_wait_s": pl.Float64, "ewt_s": pl.Float64, "ready_agents": pl.Int64,
    "staffed_agents": pl.Int64, "fenced": pl.Boolean,
}  # fmt: skip


def wallboard_queues(snapshot: LiveSnapshot, waiting: pl.DataFrame, config: ClusterConfig,
                     scope: Scope) -> pl.DataFrame:
    """One row per (site, queue) a live site publishes: waiting, longest wait, EWT, agents ready and
    staffed (from the load in etcd), longest wait from the event logs' waiting contacts."""
    rows = [
        {"site": site, "queue": queue, "waiting": q.waiting, "ewt_s": q.ewt_s, "ready_agents": q.ready_agents,
         "staffed_agents": q.staffed_agents, "fenced": load.fenced}
        for site, load in snapshot.loads.items() for queue, q in load.queues.items()
    ]  # fmt: skip
    loads = pl.DataFrame(rows, schema={k: WALLBOARD_SCHEMA[k] for k in
                                       ("site", "queue", "waiting", "ewt_s", "ready_agents", "staffed_agents",
                                        "fenced")})  # fmt: skip
    longest = waiting.group_by("site", "queue").agg(pl.col("wait_s").max().alias("longest_wait_s"))
    frame = (
        loads.join(queue_catalog(config).select("tenant", "queue", "channel"), on="queue", how="inner")
        .join(site_catalog(config).select("site", "region"), on="site", how="left")
        .join(longest, on=["site", "queue"], how="left")
        .with_columns(pl.when(pl.col("waiting") > 0).then(pl.col("longest_wait_s").fill_null(0.0).round(1))
                      .otherwise(pl.lit(None, pl.Float64)).alias("longest_wait_s"))
    )
    return scope.filter(frame).select(list(WALLBOARD_SCHEMA)).sort("site", "tenant", "queue")


def agents_by_state(agent_states: pl.DataFrame, config: ClusterConfig, scope: Scope) -> pl.DataFrame:
    """site, tenant, state, agents: logged-in agents by their latest state, counted once per tenant
    they serve (a shared agent counts for each of its tenants)."""
    frame = (
        agent_states.filter(pl.col("state") != "logged_out")
        .join(agent_tenants(config), on="agent_id", how="inner")
    )
    frame = scope.filter(frame)
    return (
        frame.group_by("site", "tenant", "state").agg(pl.len().cast(pl.Int64).alias("agents"))
        .sort("site", "tenant", "state")
    )


def agent_state_matrix(by_state: pl.DataFrame, key: str) -> pl.DataFrame:
    """``key`` (site or tenant) by agent state, one column per state in :data:`AGENT_STATES`."""
    counts = by_state.group_by(key, "state").agg(pl.col("agents").sum())
    out = counts.select(key).unique().sort(key)
    for state in AGENT_STATES:
        col = counts.filter(pl.col("state") == state).select(key, pl.col("agents").alias(state))
        out = out.join(col, on=key, how="left").with_columns(pl.col(state).fill_null(0))
    return out


def sites_table(snapshot: LiveSnapshot, config: ClusterConfig, scope: Scope) -> pl.DataFrame:
    """Every site in scope: its etcd member, whether it leads, its session (lease) and load."""
    leader = snapshot.leader_site
    rows = []
    for site in config.sites:
        if site.id not in scope.sites:
            continue
        member = snapshot.members.get(site.id)
        session = snapshot.sessions.get(site.id)
        load = snapshot.loads.get(site.id)
        if session is None:
            status = "down (no session)"
        else:
            status = "fenced" if load is not None and load.fenced else "serving"
        rows.append({
            "site": site.id, "name": site.name, "region": site.region, "status": status,
            "etcd_member": "up" if member is not None and member.up else "down",
            "etcd_leader": leader == site.id,
            "raft_term": member.raft_term if member is not None and member.up else None,
            "lease_id": f"{int(session['lease_id']):x}" if session else None,
            "lease_ttl_s": int(session["ttl_s"]) if session else None,
            "session_started_ts": float(session["started_at"]) if session else None,
            "load_age_s": round(snapshot.taken_at - load.ts, 2) if load is not None else None,
            "agents_owned": sum(1 for s in snapshot.agent_owners.values() if s == site.id),
        })  # fmt: skip
    schema = {
        "site": pl.Utf8, "name": pl.Utf8, "region": pl.Utf8, "status": pl.Utf8, "etcd_member": pl.Utf8,
        "etcd_leader": pl.Boolean, "raft_term": pl.Int64, "lease_id": pl.Utf8, "lease_ttl_s": pl.Int64,
        "session_started_ts": pl.Float64, "load_age_s": pl.Float64, "agents_owned": pl.Int64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def failover_timeline(site_events: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    """``site`` events of the sites in scope, oldest first, with a UTC time column."""
    frame = scope.filter(site_events).sort("ts")
    return frame.with_columns(pl.from_epoch(pl.col("ts"), time_unit="s").dt.replace_time_zone("UTC").alias("time"))
