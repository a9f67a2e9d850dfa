"""Rollup bench: the daily contact rollup over N synthetic warehouse events (default 10 M) in Polars
(the production code: ``cdr.contacts`` then ``kpis.contact_kpis`` by tenant, queue and 15 min),
beside the same rollup written in pandas and in DuckDB SQL, in one run, from the same Parquet file.

Events are generated vectorised (numpy, Polars) and cached as Parquet under /tmp, so generating
them does not dominate a second run. A day of 3 sites, 10 tenants, 50 queues: 80 % of contacts are
answered (queued, offered, connected, wrap_up, completed), 15 % abandon (a third within the short
threshold), 5 % are transferred once. Every timing includes reading the Parquet file. The three
results are compared (same counts per group) before the figures are printed.

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
from vcc.analytics.catalog import Catalog, QueueInfo, TenantInfo

DAY0 = 1_800_057_600.0  # 2027-01-16 00:00 UTC
TENANTS, QUEUES, AGENTS, SITES = 10, 50, 2000, 3
SHORT_ABANDON_S = 5.0
COMPARED = ["offered", "answered", "abandoned", "short_abandoned", "answered_within_t", "handled", "transfers"]


def catalog() -> Catalog:
    tenants = {f"t{i}": TenantInfo(f"t{i}", f"Tenant {i}", short_abandon_s=SHORT_ABANDON_S) for i in range(TENANTS)}
    queues = {f"q{j}": QueueInfo(f"q{j}", f"t{j % TENANTS}", "voice", float(10 + 10 * (j % 3))) for j in range(QUEUES)}
    return Catalog(tenants, queues, {})


def generate(n_events: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n_contacts = int(n_events / 4.7)
    kinds = rng.choice(3, size=n_contacts, p=[0.80, 0.15, 0.05])
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
        data=pl.when((pl.col("state") == "completed") & (pl.col("cid") % 2 == 0))
        .then(pl.lit('{"disposition":"resolved"}')),
    )  # fmt: skip
    return frame.select([pl.col(k).cast(v) for k, v in warehouse.EVENT_SCHEMA.items()])


def dataset(n_events: int, seed: int) -> tuple[Path, float | None, float | None]:
    """A warehouse of the events (``site=<s>/date=<d>/part-*.parquet``, each site's seq in time order,
    as the flushers write it) with its contact facts, cached under /tmp; the seconds spent generating
    the events and building the fact files (``facts.refresh``, what compaction does once a day is
    closed): None when cached."""
    root = Path(f"/tmp/vcc-bench-rollup-v3-{n_events}-{seed}")
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
    """The KPIs from one row per contact (tenant, queue, first/queued/answered/ended ts, handle_s,
    transfers, abandoned_ev)."""
    import pandas as pd

    thresholds = pd.Series({q.id: q.sl_threshold_s for q in cat.queues.values()})
    short_s = pd.Series({t.id: t.short_abandon_s for t in cat.tenants.values()})
    t = c["queue"].map(thresholds).astype("float64").fillna(20.0)
    queued = c["queued_ts"].notna()
    answered = queued & c["answered_ts"].notna()
    wait = c["answered_ts"].fillna(c["ended_ts"]) - c["queued_ts"]
    aband = queued & c["answered_ts"].isna() & c["abandoned_ev"]
    short = aband & (wait < c["tenant"].map(short_s).astype("float64").fillna(5.0))
    handled = answered & c["ended_ts"].notna()
    when = c["queued_ts"].fillna(c["first_ts"])
    out = pd.DataFrame({
        "tenant": c["tenant"], "queue": c["queue"], "interval_start": (when // 900) * 900,
        "offered": (queued & ~short).astype("int64"), "answered": answered.astype("int64"),
        "abandoned": (aband & ~short).astype("int64"), "short_abandoned": short.astype("int64"),
        "answered_within_t": (answered & (wait <= t)).astype("int64"), "handled": handled.astype("int64"),
        "transfers": c["transfers"], "answered_wait_s": wait.where(answered, 0.0),
        "handle_counted_s": c["handle_s"].where(handled, 0.0),
    })  # fmt: skip
    g = out.groupby(["tenant", "queue", "interval_start"], dropna=False, sort=True, observed=True).sum().reset_index()
    g["service_level"] = g["answered_within_t"] / (g["answered"] + g["abandoned"])
    g["asa_s"] = g["answered_wait_s"] / g["answered"]
    g["aht_s"] = g["handle_counted_s"] / g["handled"]
    return g


def rollup_pandas(root: Path, cat: Catalog) -> Any:
    import pandas as pd

    cols = ["contact_id", "tenant", "state", "queue", "site", "seq", "ts", "kind"]
    df = pd.concat([pd.read_parquet(f, columns=cols) for f in event_files(root)], ignore_index=True)
    df = df[df["kind"] == "contact"].sort_values(["contact_id", "ts", "site", "seq"], kind="stable")
    cid, ts, st = df["contact_id"], df["ts"], df["state"]
    same = cid.shift(-1) == cid
    dur = (ts.shift(-1) - ts).where(same)
    work = pd.DataFrame({
        "contact_id": cid, "tenant": df["tenant"], "first_ts": ts,
        "queue": df["queue"].where(st == "queued"), "queued_ts": ts.where(st == "queued"),
        "answered_ts": ts.where(st == "connected"), "ended_ts": ts.where(st.isin(["completed", "abandoned", "failed"])),
        "talk_s": dur.where(st == "connected"), "wrap_s": dur.where(st == "wrap_up"),
        "transfers": (st == "transferred").astype("int64"), "abandoned_ev": (st == "abandoned"),
    })  # fmt: skip
    c = work.groupby("contact_id", sort=False).agg(
        tenant=("tenant", "first"), queue=("queue", "first"), first_ts=("first_ts", "min"),
        queued_ts=("queued_ts", "min"), answered_ts=("answered_ts", "min"), ended_ts=("ended_ts", "max"),
        talk_s=("talk_s", "sum"), wrap_s=("wrap_s", "sum"), transfers=("transfers", "sum"),
        abandoned_ev=("abandoned_ev", "any"),
    )  # fmt: skip
    return _kpis_pandas(c.assign(handle_s=c["talk_s"] + c["wrap_s"]), cat)


def rollup_pandas_facts(root: Path, cat: Catalog) -> Any:
    import pandas as pd

    cols = ["tenant", "queue", "first_ts", "queued_ts", "answered_ts", "ended_ts", "outcome", "handle_s", "transfers"]
    c = pd.concat([pd.read_parquet(f, columns=cols) for f in fact_files(root)], ignore_index=True)
    return _kpis_pandas(c.assign(abandoned_ev=c["outcome"] == "abandoned"), cat)


_DUCKDB_KPIS = """
    f AS (
      SELECT c.*, coalesce(q.t_s, 20.0) AS t_s, coalesce(answered_ts, ended_ts) - queued_ts AS wait_s,
             queued_ts IS NOT NULL AS queued, queued_ts IS NOT NULL AND answered_ts IS NOT NULL AS answered,
             queued_ts IS NOT NULL AND answered_ts IS NULL AND abandoned_ev AS aband,
             coalesce(tn.short_s, 5.0) AS short_s
      FROM c LEFT JOIN queues q USING (queue) LEFT JOIN tenants tn USING (tenant)
    ), g AS (
      SELECT *, aband AND wait_s < short_s AS short, answered AND ended_ts IS NOT NULL AS handled FROM f
    )
    SELECT tenant, queue, floor(coalesce(queued_ts, first_ts) / 900) * 900 AS interval_start,
           sum((queued AND NOT short)::INT) AS offered, sum(answered::INT) AS answered,
           sum((aband AND NOT short)::INT) AS abandoned, sum(short::INT) AS short_abandoned,
           sum((answered AND wait_s <= t_s)::INT) AS answered_within_t, sum(handled::INT) AS handled,
           sum(transfers) AS transfers,
           sum(CASE WHEN answered THEN wait_s ELSE 0 END) / nullif(sum(answered::INT), 0) AS asa_s,
           sum(CASE WHEN handled THEN handle_s ELSE 0 END) / nullif(sum(handled::INT), 0) AS aht_s
    FROM g GROUP BY ALL ORDER BY ALL
"""


def _duckdb(cat: Catalog, contacts_sql: str) -> Any:
    import duckdb

    con = duckdb.connect()
    con.register("queues", pl.DataFrame({"queue": [q.id for q in cat.queues.values()],
                                         "t_s": [q.sl_threshold_s for q in cat.queues.values()]}).to_arrow())
    con.register("tenants", pl.DataFrame({"tenant": [t.id for t in cat.tenants.values()],
                                          "short_s": [t.short_abandon_s for t in cat.tenants.values()]}).to_arrow())
    return pl.from_arrow(con.sql(f"WITH {contacts_sql}, {_DUCKDB_KPIS}").to_arrow_table())


def _files_sql(files: list[str]) -> str:
    return "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "], hive_partitioning = false)"


def rollup_duckdb(root: Path, cat: Catalog) -> Any:
    return _duckdb(cat, f"""
    e AS (
      SELECT contact_id, tenant, state, queue, ts,
             lead(ts) OVER (PARTITION BY contact_id ORDER BY ts, site, seq) - ts AS dur
      FROM {_files_sql(event_files(root))} WHERE kind = 'contact'
    ), c AS (
      SELECT contact_id, first(tenant) AS tenant, min(ts) AS first_ts,
             arg_min(queue, ts) FILTER (WHERE state = 'queued') AS queue,
             min(ts) FILTER (WHERE state = 'queued') AS queued_ts,
             min(ts) FILTER (WHERE state = 'connected') AS answered_ts,
             max(ts) FILTER (WHERE state IN ('completed', 'abandoned', 'failed')) AS ended_ts,
             coalesce(sum(dur) FILTER (WHERE state = 'connected'), 0)
               + coalesce(sum(dur) FILTER (WHERE state = 'wrap_up'), 0) AS handle_s,
             count(*) FILTER (WHERE state = 'transferred') AS transfers,
             bool_or(state = 'abandoned') AS abandoned_ev
      FROM e GROUP BY contact_id
    )""")


def rollup_duckdb_facts(root: Path, cat: Catalog) -> Any:
    return _duckdb(cat, f"""
    c AS (
      SELECT tenant::VARCHAR AS tenant, queue::VARCHAR AS queue, first_ts, queued_ts, answered_ts, ended_ts,
             handle_s, transfers, outcome = 'abandoned' AS abandoned_ev
      FROM {_files_sql(fact_files(root))}
    )""")


def _normalise(frame: Any) -> pl.DataFrame:
    df = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    if df.schema["interval_start"] != pl.Float64:
        df = df.with_columns(pl.col("interval_start").dt.epoch("s").cast(pl.Float64))
    names = pl.col("tenant", "queue").cast(pl.String)  # pandas reads the facts' names as category
    return df.select(names, "interval_start", *[pl.col(c).cast(pl.Int64) for c in COMPARED]).filter(
        pl.col("queue").is_not_null()).sort("tenant", "queue", "interval_start")


def same_result(a: Any, b: Any) -> bool:
    return _normalise(a).equals(_normalise(b))


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
