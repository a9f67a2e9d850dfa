"""bench/rollup.py on ~20k events: the Polars (production), pandas and DuckDB rollups agree on every
KPI column, over the events and over the contact facts, and the two paths give the same KPIs; the
synthetic day gives every part of the rollup work (a part with nothing to count would agree trivially)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import polars as pl
import rollup


def test_rollup_bench_smoke_three_engines_agree():
    r = rollup.run(20_000, seed=11, repeat=1)
    assert 19_000 <= r["events"] <= 21_000
    assert 4_000 <= r["contacts"] <= 4_500
    assert r["groups"] > 100
    assert r["duckdb_agrees"] is True
    assert r["pandas_agrees"] is True
    assert r["duckdb_facts_agrees"] is True
    assert r["pandas_facts_agrees"] is True
    assert r["facts_agree_with_events"] is True
    assert all(v > 0 for v in r["totals"].values()), r["totals"]
    assert r["totals"]["fcr_num"] < r["totals"]["fcr_den"]  # resolved and unresolved dispositions both


def test_a_wrong_rollup_is_caught_by_the_comparison():
    root, _, _ = rollup.dataset(20_000, 11)
    cat = rollup.catalog()
    right = rollup.rollup_polars_facts(root, cat)
    off_by_one_fcr = right.with_columns(fcr_num=pl.col("fcr_num") + (pl.col("fcr_num") > 0).cast(pl.Int64))
    assert rollup.same_result(right, right)
    assert not rollup.same_result(right, off_by_one_fcr)
    assert not rollup.same_result(right, right.with_columns(aht_s=pl.col("aht_s") * 1.001))
