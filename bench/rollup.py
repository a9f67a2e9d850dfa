"""Rollup bench: the daily contact rollup over N synthetic warehouse events (default 10 M) in Polars
(the production code: ``cdr.contacts`` then ``kpis.contact_kpis`` by tenant, queue and 15 min),
beside the same rollup written in pandas and in DuckDB SQL, in one run, from the same Parquet files.
"The same rollup" is the whole of it: every count, sum and ratio ``contact_kpis`` gives (service
level under each tenant's formula and its four variants, abandons inside and outside the short
threshold, ASA, AHT with hold and wrap-up, transfers, callbacks, first-contact resolution from the
dispositions in the events' JSON), by the same per-contact algorithm.

Events are generated vectorised (numpy, Polars) and cached as Parquet under /tmp, so generating
them does not dominate a second run. A day of 3 sites, 10 tenants (cycling through the four SL
formulas), 50 queues: 78 % of contacts are answered (queued, offered, connected, wrap_up,
completed), 15 % abandon (a third within the short threshold), 5 % are transferred once, 2 % ask
for a callback; two in three completed contacts carry a disposition. Every timing includes reading
the Parquet files. The results are compared (every column, group by group) before the figures are
printed.

    .venv/bin/python bench/rollup.py [--events N] [--seed N] [--repeat N] [--skip-pandas] [--json]

Target: Polars <= 1 s for 10 M events, >= 5x faster than pandas.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vcc.analytics import cdr, facts, kpis, warehouse
from vcc.analytics.catalog import (
    DEFAULT_FORMULA,
    DEFAULT_SHORT_ABANDON_S,
    DEFAULT_SL_THRESHOLD_S,
    Catalog,
    QueueInfo,
    TenantInfo,
)
from vcc.core.model import ServiceLevelFormula

DAY0 = 1_800_057_600.0  # 2027-01-16 00:00 UTC
TENANTS, QUEUES, AGENTS, SITES = 10, 50, 2000, 3
SHORT_ABANDON_S = 5.0
#: what every engine's rollup must give, group by group: kpis.contact_kpis's counts, sums and ratios
COUNTS, SUMS, RATIOS = list(kpis.COUNTS), list(kpis.SUMS_S), [
    "service_level", "sl_answered_over_offered", "sl_answered_over_answered", "sl_abandoned_after_t",
    "sl_abandoned_positive", "abandon_rate", "asa_s", "aht_s", "fcr"]


def catalog() -> Catalog:
    """10 tenants cycling through the four service-level formulas, 50 queues with thresholds 10/20/30 s."""
    formulas = list(ServiceLevelFormula)
    tenants = {f"t{i}": TenantInfo(f"t{i}", f"Tenant {i}", formulas[i % len(formulas)], SHORT_ABANDON_S)
               for i in range(TENANTS)}
    queues = {f"q{j}": QueueInfo(f"q{j}", f"t{j % TENANTS}", "voice", float(10 + 10 * (j % 3))) for j in range(QUEUES)}
    return Catalog(tenants, queues, {})


def generate(n_events: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n_contacts = int(n_events / 4.7)
    kinds = rng.choice(4, size=n_contacts, p=[0.78, 0.15, 0.05, 0.02])
    arrival = DAY0 + np.sort(rng.uniform(0, 86400 - 3600, size=n_contacts))
    queue = rng.integers(0, QUEUES, size=n_contacts)
    site = rng.integers(0, SITES, size=n_contacts)
    agent = rng.integers(0, AGENTS, size=n_contacts)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("cid", "ts", "state", "agent", "pos", "prev")}
    specs = [
        (["queued", "offered", "connected", "wrap_up", "completed"], lambda m: [np.zeros(m), rng.exponential(15, m),
         rng.uniform(1, 4, m), rng.exponential(240, m), rng.uniform(5, 30, m)]),
        (["queued", "abandoned"], lambda m: [np.zeros(m), rng.exponential(40, m)]),
        (["queued", "offered", "connected", "transferred", "queued", "offered", "connected", "completed"],
         lambda m: [np.zeros(m), rng.exponential(15, m), rng.uniform(1, 4, m), rng.exponential(120, m),
                    np.zeros(m), rng.exponential(10, m), rng.uniform(1, 4, m), rng.exponential(200, m)]),
        (["queued", "callback_requested", "completed"], lambda m: [np.zeros(m), rng.exponential(30, m),
         rng.uniform(1, 3, m)]),
    ]  # fmt: skip
    state_names: list[str] = []
    for kind, (states, gap_fn) in enumerate(specs):
        idx = np.nonzero(kinds == kind)[0]
        offsets = np.cumsum(np.stack(gap_fn(len(idx)), axis=1), axis=1)
        for i, state in enumerate(states):
            code = len(state_names)
            state_names.append(state)
            cols["cid"].append(idx)
            cols["ts"].append(arrival[idx] + offsets[:, i])
            cols["state"].append(np.full(len(idx), code, dtype=np.int32))
            cols["agent"].append(agent[idx] if state in ("offered", "connected", "wrap_up", "completed") else
                                 np.full(len(idx), -1))  # fmt: skip
            cols["pos"].append(np.full(len(idx), i, dtype=np.int32))
            cols["prev"].append(np.full(len(idx), code - 1 if i > 0 else -1, dtype=np.int32))
    cid, ts = np.concatenate(cols["cid"]), np.concatenate(cols["ts"])
    state_code, agent_ix, pos, prev = (np.concatenate(cols[k]) for k in ("state", "agent", "pos", "prev"))
    order = np.lexsort((pos, ts))
    cid, ts, state_code, agent_ix, prev = cid[order], ts[order], state_code[order], agent_ix[order], prev[order]
    states = pl.Series(state_names, dtype=pl.String)
    frame = pl.DataFrame({"cid": cid, "ts": ts, "sc": state_code, "ag": agent_ix, "pc": prev}).with_columns(
        seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
        site=pl.lit("s") + pl.col("cid").map_batches(lambda s: pl.Series(site[s.to_numpy()])).cast(pl.String),
        queue=pl.lit("q") + pl.col("cid").map_batches(lambda s: pl.Series(queue[s.to_numpy()])).cast(pl.String),
        state=pl.col("sc").map_batches(lambda s: states.gather(s)),
        prev_state=pl.when(pl.col("pc") >= 0).then(pl.col("pc").clip(0).map_batches(lambda s: states.gather(s))),
    ).with_columns(
        tenant=pl.lit("t") + (pl.col("queue").str.slice(1).cast(pl.Int64) % TENANTS).cast(pl.String),
        contact_id=pl.lit("c") + pl.col("cid").cast(pl.String),
        agent_id=pl.when(pl.col("ag") >= 0).then(pl.lit("a") + pl.col("ag").cast(pl.String)),
        date=pl.lit("2027-01-16"), kind=pl.lit("contact"), schema_version=pl.lit(1, pl.Int32),
        channel=pl.lit("voice"), reason=pl.lit(None, pl.String),
        reason_code=pl.lit(None, pl.String), event=pl.lit(None, pl.String), load=pl.lit(None, pl.String),
        data=pl.when((pl.col("state") == "completed") & (pl.col("cid") % 3 > 0))
        .then(pl.when(pl.col("cid") % 3 == 1).then(pl.lit('{"disposition":"resolved"}'))
              .otherwise(pl.lit('{"disposition":"follow_up","note":"x"}'))),
    )  # fmt: skip
    return frame.select([pl.col(k).cast(v) for k, v in warehouse.EVENT_SCHEMA.items()])


def dataset(n_events: int, seed: int) -> tuple[Path, float | None, float | None]:
    """A warehouse of the events (``site=<s>/date=<d>/part-*.parquet``, each site's seq in time order,
    as the flushers write it) with its contact facts, cached under /tmp; the seconds spent generating
    the events and building the fact files (``facts.refresh``, what compaction does once a day is
    closed): None when cached."""
    root = Path(f"/tmp/vcc-bench-rollup-v4-{n_events}-{seed}")
    gen_s = build_s = None
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        frame = generate(n_events, seed).sort("ts", maintain_order=True).with_columns(
            date=(pl.col("ts") * 1_000_000).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%d"),
            seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("site"),
        )
        for (site,), events in frame.group_by("site", maintain_order=True):
            warehouse.write_frame(root, str(site), events)
        gen_s = time.perf_counter() - t0
        (root / "done").touch()
    parts = warehouse.live_parts(warehouse.list_parts(root))
    if not all(facts.is_fresh(root, d, parts) for d in {p.date for p in parts}):
        t0 = time.perf_counter()
        facts.refresh(root, now_ts=DAY0 + 10 * 86400)
        build_s = time.perf_counter() - t0
    return root, gen_s, build_s


def event_files(root: Path) -> list[str]:
    return [str(p.path) for p in warehouse.live_parts(warehouse.list_parts(root))]


def fact_files(root: Path) -> list[str]:
    return sorted(str(p) for p in (root / facts.FACTS_DIR).glob(f"date=*/contacts-v{facts.FACTS_VERSION}.parquet"))


# ----------------------------------------------------------------------------------- the rollups


def rollup_polars(root: Path, cat: Catalog) -> pl.DataFrame:
    """Events -> KPIs: the production CDR over every event, then the KPIs."""
    contacts = cdr.contacts(warehouse.scan_events(root), cat)
    return kpis.contact_kpis(contacts, by=["tenant", "queue"], interval="15m")


def rollup_polars_facts(root: Path, cat: Catalog) -> pl.DataFrame:
    """Contact facts -> KPIs: what reports and dashboards read for closed days."""
    return kpis.contact_kpis(facts.scan_contacts(root, cat), by=["tenant", "queue"], interval="15m")


def _kpis_pandas(c: Any, cat: Catalog) -> Any:
    """kpis.contact_kpis by tenant, queue and 15 min, every count, sum and ratio, from one row per
    contact (tenant, queue, first/queued/answered/ended ts, outcome, wait_s, handle_s, transfers,
    callback_requested, disposition): the indicators of cdr._indicators, then one groupby.

    Written to be fast in pandas: the catalog's settings are mapped per category (tenant and queue are
    categorical), each tenant's formula becomes booleans (no per-row string compare), the indicators
    stay numpy booleans (summed as counts), one DataFrame, one groupby."""
    import numpy as np
    import pandas as pd

    def per(col: str, values: dict[str, Any], default: Any, dtype: str) -> Any:
        return c[col].map(values).astype(dtype).fillna(default).to_numpy()

    tenants = cat.tenants.values()
    t = per("queue", {q.id: q.sl_threshold_s for q in cat.queues.values()}, DEFAULT_SL_THRESHOLD_S, "float64")
    short_s = per("tenant", {x.id: x.short_abandon_s for x in tenants}, DEFAULT_SHORT_ABANDON_S, "float64")
    F = ServiceLevelFormula  # the three formulas that change a count (answered over offered is the default case)
    formula = {f: per("tenant", {x.id: x.formula == f for x in tenants}, f == DEFAULT_FORMULA, "boolean").astype(bool)
               for f in (F.ANSWERED_OVER_ANSWERED, F.ABANDONED_AFTER_T, F.ABANDONED_POSITIVE)}  # fmt: skip
    wait = c["wait_s"].to_numpy()
    queued, answered_ts = c["queued_ts"].notna().to_numpy(), c["answered_ts"].notna().to_numpy()
    answered = queued & answered_ts
    aband = queued & ~answered_ts & (c["outcome"] == "abandoned").to_numpy()
    short = aband & (wait < short_s)
    counted = aband & ~short
    awt, ab_in, ab_after = answered & (wait <= t), counted & (wait <= t), counted & (wait > t)
    offered, handled = queued & ~short, answered & c["ended_ts"].notna().to_numpy()
    sl_den = np.select([formula[F.ANSWERED_OVER_ANSWERED], formula[F.ABANDONED_AFTER_T], formula[F.ABANDONED_POSITIVE]],
                       [answered, answered | ab_after, offered], answered | counted)  # fmt: skip
    resolved, disposed = (c["disposition"] == "resolved").to_numpy(), c["disposition"].notna().to_numpy()
    out = pd.DataFrame({
        "tenant": c["tenant"], "queue": c["queue"],
        "interval_start": (c["queued_ts"].fillna(c["first_ts"]) // 900) * 900,
        "contacts": np.ones(len(c), dtype=bool), "offered": offered, "answered": answered, "abandoned": counted,
        "short_abandoned": short, "answered_within_t": awt, "abandoned_within_t": ab_in, "abandoned_after_t": ab_after,
        "handled": handled, "transfers": c["transfers"], "callbacks": c["callback_requested"].to_numpy(),
        "sl_num": awt | (ab_in & formula[F.ABANDONED_POSITIVE]), "sl_den": sl_den,
        "fcr_num": handled & resolved, "fcr_den": handled & disposed,
        "answered_wait_s": np.where(answered, wait, 0.0), "handle_counted_s": np.where(handled, c["handle_s"], 0.0),
        "offered_wait_s": np.where(queued, np.nan_to_num(wait), 0.0),
    })  # fmt: skip
    g = out.groupby(["tenant", "queue", "interval_start"], dropna=False, sort=True, observed=True).sum().reset_index()

    def ratio(num: Any, den: Any) -> Any:
        return (num / den).where(den > 0)

    awt_, ans, abn, off = g["answered_within_t"], g["answered"], g["abandoned"], g["offered"]
    return g.assign(
        service_level=ratio(g["sl_num"], g["sl_den"]), sl_answered_over_offered=ratio(awt_, ans + abn),
        sl_answered_over_answered=ratio(awt_, ans), sl_abandoned_after_t=ratio(awt_, ans + g["abandoned_after_t"]),
        sl_abandoned_positive=ratio(awt_ + g["abandoned_within_t"], off), abandon_rate=ratio(abn, off),
        asa_s=ratio(g["answered_wait_s"], ans), aht_s=ratio(g["handle_counted_s"], g["handled"]),
        fcr=ratio(g["fcr_num"], g["fcr_den"]),
    )  # fmt: skip


def _hold_pandas(df: Any) -> Any:
    """cdr.hold_times: per held contact, from each ``hold`` note to the next resume or end of talk."""
    import pandas as pd

    st, prev, reason = df["state"], df["prev_state"], df["reason"]
    held_ids = df.loc[reason == "hold", "contact_id"].unique()
    if len(held_ids) == 0:
        return pd.Series(dtype="float64")
    note = reason.isin(["hold", "resume"]) & (st == prev)
    closers = df[df["contact_id"].isin(held_ids) & (note | ((prev == "connected") & (st != prev)))]
    closers = closers.assign(what=closers["reason"].where(closers["state"] == closers["prev_state"]))
    closers = closers.sort_values(["contact_id", "ts", "seq"], kind="stable")
    same = closers["contact_id"].shift(-1) == closers["contact_id"]
    held_s = (closers["ts"].shift(-1) - closers["ts"]).where(same & (closers["what"] == "hold"))
    return held_s.groupby(closers["contact_id"]).sum()


def rollup_pandas(root: Path, cat: Catalog) -> Any:
    """cdr.records in pandas, the same algorithm: one stable sort by time, masked columns, one groupby
    (talk and wrap-up as signed sums of the times that leave and enter the state), then the KPIs."""
    import pandas as pd

    cols = ["contact_id", "tenant", "state", "prev_state", "queue", "site", "seq", "ts", "kind", "reason", "data"]
    df = pd.concat([pd.read_parquet(f, columns=cols) for f in event_files(root)], ignore_index=True)
    df = df[df["kind"] == "contact"].sort_values("ts", kind="stable")
    st, prev, ts, data = df["state"], df["prev_state"], df["ts"], df["data"]
    moved = prev.isna() | (st != prev)
    q, conn, end = st == "queued", moved & (st == "connected"), st.isin(cdr.TERMINAL)
    talk_end = (prev == "connected") & moved
    wrap_end, wrap_start = (prev == "wrap_up") & moved, moved & (st == "wrap_up")
    named = data.str.contains('"disposition"', regex=False, na=False)
    disp = pd.Series(None, index=df.index, dtype=object)
    disp[named] = data[named].map(lambda text: json.loads(text).get("disposition"))
    work = pd.DataFrame({
        "contact_id": df["contact_id"], "tenant": df["tenant"], "first_queue": df["queue"].where(q),
        "any_queue": df["queue"], "queued_ts": ts.where(q), "answered_ts": ts.where(conn),
        "ended_ts": ts.where(end), "terminal": st.where(end), "first_ts": ts,
        "_talk": ts.where(talk_end, 0.0) - ts.where(conn, 0.0), "_talk_open": talk_end.astype("int64") - conn,
        "_wrap": ts.where(wrap_end, 0.0) - ts.where(wrap_start, 0.0),
        "_wrap_open": wrap_end.astype("int64") - wrap_start, "disposition": disp,
        "transfers": (moved & (st == "transferred")).astype("int64"), "callback_requested": st == "callback_requested",
    })  # fmt: skip
    c = work.groupby("contact_id", sort=False).agg(
        tenant=("tenant", "first"), first_queue=("first_queue", "first"), any_queue=("any_queue", "max"),
        first_ts=("first_ts", "min"), queued_ts=("queued_ts", "min"), answered_ts=("answered_ts", "min"),
        ended_ts=("ended_ts", "max"), terminal=("terminal", "last"), disposition=("disposition", "last"),
        _talk=("_talk", "sum"), _talk_open=("_talk_open", "sum"), _wrap=("_wrap", "sum"),
        _wrap_open=("_wrap_open", "sum"), transfers=("transfers", "sum"),
        callback_requested=("callback_requested", "max"),
    )  # fmt: skip
    hold = _hold_pandas(df).reindex(c.index, fill_value=0.0) if (df["reason"] == "hold").any() else 0.0
    talk = (c["_talk"] - hold).where(c["_talk_open"] == 0)
    wrap = c["_wrap"].where(c["_wrap_open"] == 0)
    queued = c["queued_ts"].notna()
    outcome = c["terminal"].where(~((c["terminal"] == "completed") & ~queued), "self_service").fillna("open")
    return _kpis_pandas(c.assign(
        queue=c["first_queue"].fillna(c["any_queue"]), outcome=outcome,
        wait_s=(c["answered_ts"].fillna(c["ended_ts"]) - c["queued_ts"]).where(queued),
        handle_s=talk.fillna(0.0) + hold + wrap.fillna(0.0),
    ), cat)  # fmt: skip


def rollup_pandas_facts(root: Path, cat: Catalog) -> Any:
    import pandas as pd

    cols = ["tenant", "queue", "first_ts", "queued_ts", "answered_ts", "ended_ts", "outcome", "wait_s", "handle_s",
            "transfers", "callback_requested", "disposition"]
    c = pd.concat([pd.read_parquet(f, columns=cols) for f in fact_files(root)], ignore_index=True)
    return _kpis_pandas(c, cat)


_DUCKDB_KPIS = f"""
    f AS (
      SELECT c.*, coalesce(q.t_s, {DEFAULT_SL_THRESHOLD_S}) AS t_s,
             coalesce(tn.short_s, {DEFAULT_SHORT_ABANDON_S}) AS short_s,
             coalesce(tn.formula, '{DEFAULT_FORMULA.value}') AS formula,
             queued_ts IS NOT NULL AS queued, queued_ts IS NOT NULL AND answered_ts IS NOT NULL AS answered,
             queued_ts IS NOT NULL AND answered_ts IS NULL AND outcome = 'abandoned' AS aband
      FROM c LEFT JOIN queues q USING (queue) LEFT JOIN tenants tn USING (tenant)
    ), g AS (
      SELECT *, aband AND wait_s < short_s AS short, answered AND ended_ts IS NOT NULL AS handled FROM f
    ), h AS (
      SELECT *, queued AND NOT short AS offered_, aband AND NOT short AS counted,
             answered AND wait_s <= t_s AS awt, aband AND NOT short AND wait_s <= t_s AS ab_in,
             aband AND NOT short AND wait_s > t_s AS ab_after FROM g
    ), s AS (
      SELECT tenant, queue, floor(coalesce(queued_ts, first_ts) / 900) * 900 AS interval_start,
             count(*) AS contacts, sum(offered_::INT) AS offered, sum(answered::INT) AS answered,
             sum(counted::INT) AS abandoned, sum(short::INT) AS short_abandoned, sum(awt::INT) AS answered_within_t,
             sum(ab_in::INT) AS abandoned_within_t, sum(ab_after::INT) AS abandoned_after_t,
             sum(handled::INT) AS handled, sum(transfers) AS transfers, sum(callback_requested::INT) AS callbacks,
             sum((awt OR (ab_in AND formula = 'abandoned_positive'))::INT) AS sl_num,
             sum(CASE formula WHEN 'answered_over_answered' THEN answered::INT
                              WHEN 'abandoned_after_t' THEN (answered OR ab_after)::INT
                              WHEN 'abandoned_positive' THEN offered_::INT
                              ELSE (answered OR counted)::INT END) AS sl_den,
             sum((handled AND coalesce(disposition = 'resolved', false))::INT) AS fcr_num,
             sum((handled AND disposition IS NOT NULL)::INT) AS fcr_den,
             sum(CASE WHEN answered THEN wait_s ELSE 0 END) AS answered_wait_s,
             sum(CASE WHEN handled THEN handle_s ELSE 0 END) AS handle_counted_s,
             sum(CASE WHEN queued THEN coalesce(wait_s, 0) ELSE 0 END) AS offered_wait_s
      FROM h GROUP BY ALL
    )
    SELECT *, sl_num / nullif(sl_den, 0) AS service_level,
           answered_within_t / nullif(answered + abandoned, 0) AS sl_answered_over_offered,
           answered_within_t / nullif(answered, 0) AS sl_answered_over_answered,
           answered_within_t / nullif(answered + abandoned_after_t, 0) AS sl_abandoned_after_t,
           (answered_within_t + abandoned_within_t) / nullif(offered, 0) AS sl_abandoned_positive,
           abandoned / nullif(offered, 0) AS abandon_rate, answered_wait_s / nullif(answered, 0) AS asa_s,
           handle_counted_s / nullif(handled, 0) AS aht_s, fcr_num / nullif(fcr_den, 0) AS fcr
    FROM s ORDER BY ALL
"""


def _duckdb(cat: Catalog, contacts_sql: str) -> Any:
    import duckdb

    con = duckdb.connect()
    con.register("queues", pl.DataFrame({"queue": [q.id for q in cat.queues.values()],
                                         "t_s": [q.sl_threshold_s for q in cat.queues.values()]}).to_arrow())
    con.register("tenants", pl.DataFrame({"tenant": [t.id for t in cat.tenants.values()],
                                          "short_s": [t.short_abandon_s for t in cat.tenants.values()],
                                          "formula": [t.formula.value for t in cat.tenants.values()]}).to_arrow())
    return pl.from_arrow(con.sql(f"WITH {contacts_sql}, {_DUCKDB_KPIS}").to_arrow_table())


def _files_sql(files: list[str]) -> str:
    return "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "], hive_partitioning = false)"


def rollup_duckdb(root: Path, cat: Catalog) -> Any:
    """cdr.records in SQL: FILTERed aggregates per contact, talk and wrap-up as signed sums, hold times
    from the hold notes of held contacts with a window."""
    return _duckdb(cat, f"""
    e AS (
      SELECT contact_id, tenant, state, prev_state, queue, ts, seq, reason, data,
             prev_state IS NULL OR state <> prev_state AS moved
      FROM {_files_sql(event_files(root))} WHERE kind = 'contact'
    ), held AS (
      SELECT contact_id, sum(CASE WHEN what = 'hold' THEN next_ts - ts END) AS hold_s FROM (
        SELECT contact_id, ts, CASE WHEN state = prev_state THEN reason END AS what,
               lead(ts) OVER (PARTITION BY contact_id ORDER BY ts, seq) AS next_ts
        FROM e WHERE contact_id IN (SELECT contact_id FROM e WHERE reason = 'hold')
          AND ((reason IN ('hold', 'resume') AND state = prev_state) OR (prev_state = 'connected' AND moved))
      ) GROUP BY contact_id
    ), r AS (
      SELECT contact_id, arg_min(tenant, ts) AS tenant, min(ts) AS first_ts,
             coalesce(arg_min(queue, ts) FILTER (WHERE state = 'queued'), max(queue)) AS queue,
             min(ts) FILTER (WHERE state = 'queued') AS queued_ts,
             min(ts) FILTER (WHERE moved AND state = 'connected') AS answered_ts,
             max(ts) FILTER (WHERE state IN ('completed', 'abandoned', 'failed')) AS ended_ts,
             arg_max(state, ts) FILTER (WHERE state IN ('completed', 'abandoned', 'failed')) AS terminal,
             sum(CASE WHEN prev_state = 'connected' AND moved THEN ts ELSE 0 END)
               - sum(CASE WHEN moved AND state = 'connected' THEN ts ELSE 0 END) AS talk,
             sum((prev_state = 'connected' AND moved)::INT) - sum((moved AND state = 'connected')::INT) AS talk_open,
             sum(CASE WHEN prev_state = 'wrap_up' AND moved THEN ts ELSE 0 END)
               - sum(CASE WHEN moved AND state = 'wrap_up' THEN ts ELSE 0 END) AS wrap,
             sum((prev_state = 'wrap_up' AND moved)::INT) - sum((moved AND state = 'wrap_up')::INT) AS wrap_open,
             count(*) FILTER (WHERE moved AND state = 'transferred') AS transfers,
             bool_or(state = 'callback_requested') AS callback_requested,
             arg_max(json_extract_string(data, '$.disposition'), ts)
               FILTER (WHERE contains(data, '"disposition"')) AS disposition
      FROM e GROUP BY contact_id
    ), c AS (
      SELECT r.*, coalesce(held.hold_s, 0) AS hold_s,
             CASE WHEN queued_ts IS NOT NULL THEN coalesce(answered_ts, ended_ts) - queued_ts END AS wait_s,
             CASE WHEN terminal IS NULL THEN 'open' WHEN terminal = 'completed' AND queued_ts IS NULL
                  THEN 'self_service' ELSE terminal END AS outcome,
             coalesce(CASE WHEN talk_open = 0 THEN talk - coalesce(held.hold_s, 0) END, 0)
               + coalesce(held.hold_s, 0) + coalesce(CASE WHEN wrap_open = 0 THEN wrap END, 0) AS handle_s
      FROM r LEFT JOIN held USING (contact_id)
    )""")


def rollup_duckdb_facts(root: Path, cat: Catalog) -> Any:
    return _duckdb(cat, f"""
    c AS (
      SELECT tenant::VARCHAR AS tenant, queue::VARCHAR AS queue, first_ts, queued_ts, answered_ts, ended_ts,
             outcome::VARCHAR AS outcome, wait_s, handle_s, transfers, callback_requested,
             disposition::VARCHAR AS disposition
      FROM {_files_sql(fact_files(root))}
    )""")


def _normalise(frame: Any) -> pl.DataFrame:
    df = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    if df.schema["interval_start"] != pl.Float64:
        df = df.with_columns(pl.col("interval_start").dt.epoch("s").cast(pl.Float64))
    names = pl.col("tenant", "queue").cast(pl.String)  # pandas reads the facts' names as category
    return df.select(names, "interval_start", *[pl.col(c).cast(pl.Int64) for c in COUNTS],
                     *[pl.col(c).cast(pl.Float64) for c in SUMS + RATIOS]).filter(
        pl.col("queue").is_not_null()).sort("tenant", "queue", "interval_start")


def same_result(a: Any, b: Any) -> bool:
    """Every count equal, every sum and ratio equal to 1e-9 (float sums in another order), group by group."""
    from polars.testing import assert_frame_equal

    try:
        assert_frame_equal(_normalise(a), _normalise(b), check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
    except AssertionError:
        return False
    return True


def _time(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Best wall seconds, best process CPU seconds (all threads: on a shared machine the wall time
    also counts the time other processes held the cores), and the result."""
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    return best, best_cpu, result


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b > 0 else float("inf")


def run(n_events: int, seed: int = 7, repeat: int = 3, skip_pandas: bool = False) -> dict[str, Any]:
    """Both paths (events -> KPIs, contact facts -> KPIs), each in Polars, DuckDB and pandas."""
    root, gen_s, build_s = dataset(n_events, seed)
    cat = catalog()
    import duckdb  # noqa: F401  (imported before the clocks start, as a long-running report process has them)
    import pandas  # noqa: F401

    rows = warehouse.scan_events(root).select(pl.len()).collect().item()
    load_before = os.getloadavg()[0]
    r: dict[str, Any] = {
        "events": rows, "generate_s": None if gen_s is None else round(gen_s, 3),
        "facts_build_s": None if build_s is None else round(build_s, 3),
        "contacts": pl.scan_parquet(fact_files(root)).select(pl.len()).collect().item(),
        "cores": os.cpu_count(), "load_before": round(load_before, 2),
    }  # fmt: skip
    results: dict[str, Any] = {}
    for suffix, engines in (
        ("", (("polars", rollup_polars), ("duckdb", rollup_duckdb), ("pandas", rollup_pandas))),
        ("_facts", (("polars", rollup_polars_facts), ("duckdb", rollup_duckdb_facts),
                             ("pandas", rollup_pandas_facts))),
    ):  # fmt: skip
        for engine, fn in engines:
            if engine == "pandas" and skip_pandas:
                continue
            once = engine == "pandas" and not suffix  # ~15 CPU s a run: once; the rest is best of ``repeat``
            wall, cpu, res = _time(lambda fn=fn: fn(root, cat), 1 if once else repeat)
            results[f"{engine}{suffix}"] = res
            r[f"{engine}{suffix}_s"], r[f"{engine}{suffix}_cpu_s"] = round(wall, 3), round(cpu, 3)
            if engine != "polars":
                r[f"{engine}{suffix}_over_polars"] = _ratio(wall, r[f"polars{suffix}_s"])
                r[f"{engine}{suffix}_over_polars_cpu"] = _ratio(cpu, r[f"polars{suffix}_cpu_s"])
                r[f"{engine}{suffix}_agrees"] = same_result(results[f"polars{suffix}"], res)
    r["groups"] = results["polars"].height
    exercised = ["short_abandoned", "abandoned_after_t", "transfers", "callbacks", "fcr_num", "fcr_den"]
    r["totals"] = {k: int(results["polars"][k].sum()) for k in exercised}  # every part of the rollup had work
    r["facts_agree_with_events"] = same_result(results["polars"], results["polars_facts"])
    r["load_after"] = round(os.getloadavg()[0], 2)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="Runs of each (pandas on events: 1); best kept.")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = run(args.events, args.seed, args.repeat, args.skip_pandas)
    if args.json:
        print(json.dumps(r))
        return
    made = "cached" if r["generate_s"] is None else f"generated in {r['generate_s']} s"
    built = "cached" if r["facts_build_s"] is None else f"built in {r['facts_build_s']} s wall"
    print(f"daily rollup of {r['events']:,} events ({r['contacts']:,} contacts) into {r['groups']:,} "
          f"tenant/queue/15-min groups (events {made}; contact facts {built}, once a day is closed)")
    print(f"  load average {r['load_before']} before, {r['load_after']} after, on {r['cores']} cores "
          "(wall times above a load of the core count include other processes' turns)")
    for title, sfx in (("events -> KPIs (any day; cdr.contacts over the events)", ""),
                       ("contact facts -> KPIs (closed days; facts.scan_contacts)", "_facts")):
        print(f"  {title}")
        print(f"    polars  {r[f'polars{sfx}_s']:8.3f} s wall {r[f'polars{sfx}_cpu_s']:8.3f} s CPU   (target <= 1 s)")
        for engine in ("duckdb", "pandas"):
            if f"{engine}{sfx}_s" in r:
                target = "   (target >= 5x)" if engine == "pandas" else ""
                print(f"    {engine}  {r[f'{engine}{sfx}_s']:8.3f} s wall {r[f'{engine}{sfx}_cpu_s']:8.3f} s CPU   "
                      f"{r[f'{engine}{sfx}_over_polars']:6.2f}x polars ({r[f'{engine}{sfx}_over_polars_cpu']}x in CPU)"
                      f"   same result: {r[f'{engine}{sfx}_agrees']}{target}")
    print(f"  facts path gives the events path's result: {r['facts_agree_with_events']}")
    for title, sfx in (("events", ""), ("contact facts", "_facts")):
        wall, ratio = r[f"polars{sfx}_s"], r.get(f"pandas{sfx}_over_polars")
        met = wall <= 1.0 and ratio is not None and ratio >= 5.0
        print(f"target  Polars <= 1 s and >= 5x faster than pandas, from the {title} -> {'met' if met else 'NOT met'} "
              f"(Polars {wall:.3f} s wall; pandas {ratio if ratio is not None else 'not run'}x Polars' time)")


if __name__ == "__main__":
    main()
