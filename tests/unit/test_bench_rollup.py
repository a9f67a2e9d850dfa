"""bench/rollup.py on ~20k events: the Polars (production), pandas and DuckDB rollups agree, over the
events and over the contact facts, and the two paths give the same KPIs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

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
