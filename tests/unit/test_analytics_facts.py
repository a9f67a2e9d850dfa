"""The per-contact fact table (vcc/analytics/facts.py): built from the events of a closed day and the
days either side, equal to the CDR of the events, read in their place while the warehouse still holds
exactly the events it was derived from, and ignored (the events serve) once it does not."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from tests.unit.analytics_fixture import B, catalog, events
from vcc.analytics import cdr, facts, kpis, warehouse
from vcc.analytics.catalog import Catalog
from vcc.analytics.flusher import Flusher
from vcc.config.loader import load_config
from vcc.runtime.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]
MIDNIGHT = (B // 86400 + 1) * 86400  # the fixture's day ends here
SHIFT = MIDNIGHT - (B + 950)  # c4 (queued at +890, completed at +1050) now crosses midnight


def _utc_day(ts: float) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(ts // 86400))).isoformat()


X, X1 = _utc_day(MIDNIGHT - 1), _utc_day(MIDNIGHT)  # the day before midnight, the day after


def _shifted(extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    ev = [{**e, "ts": e["ts"] + SHIFT} for e in events()]
    # e1 arrives before midnight and enters the queue after it: it counts on X1, its first event is on X
    for t, state, prev in ((-10, "arrived", None), (10, "queued", "arrived"), (20, "offered", "queued"),
                           (25, "connected", "offered"), (85, "completed", "connected")):
        ev.append({"kind": "contact", "ts": MIDNIGHT + t, "contact_id": "e1", "tenant": "t2", "channel": "chat",
                   "state": state, "prev_state": prev, "queue": "q2", "agent_id": "s1" if t >= 20 else None,
                   "data": {}, "schema_version": 1, "site": "A"})
    return sorted(ev + (extra or []), key=lambda e: e["ts"])


def _write(root: Path, ev: list[dict[str, Any]], chunks: int = 1) -> None:
    """Each site's events with its own contiguous seqs, in ``chunks`` flushes."""
    for site in sorted({e["site"] for e in ev}):
        mine = [{**e, "seq": i} for i, e in enumerate((e for e in ev if e["site"] == site), 1)]
        step = -(-len(mine) // chunks)
        for k in range(0, len(mine), step):
            warehouse.write_events(root, site, mine[k : k + step])


def _records_of_events(root: Path) -> pl.DataFrame:
    return cdr.records(warehouse.scan_events(root)).collect().sort("contact_id")


def _records(root: Path) -> pl.DataFrame:
    """What the reader gives, its names (Categorical when a fact file was read) as strings."""
    return facts.scan_records(root).collect().with_columns(pl.col(pl.Categorical).cast(pl.String)).sort("contact_id")


def test_fact_rows_equal_the_cdr_of_the_events_across_midnight(tmp_path: Path):
    root = tmp_path / "wh"
    _write(root, _shifted())
    assert facts.refresh(root, now_ts=MIDNIGHT + 3 * 86400) == [X, X1]
    on_x = pl.read_parquet(facts.fact_path(root, X))
    on_x1 = pl.read_parquet(facts.fact_path(root, X1))
    assert sorted(on_x["contact_id"]) == ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "d1", "d2"]
    assert on_x1["contact_id"].to_list() == ["e1"]  # queued after midnight; its arrival before it is counted
    assert on_x1["first_ts"][0] == MIDNIGHT - 10 and on_x1["wait_s"][0] == 15.0
    c4 = on_x.filter(pl.col("contact_id") == "c4").row(0, named=True)  # its end is in the next day's files
    assert (c4["talk_s"], c4["transfers"], c4["outcome"]) == (120.0, 1, "completed")
    assert_frame_equal(_records(root), _records_of_events(root))
    from_facts = kpis.contact_kpis(facts.scan_contacts(root, catalog()), by=["tenant", "queue"], interval="15m")
    from_events = kpis.contact_kpis(cdr.contacts(warehouse.scan_events(root), catalog()), ["tenant", "queue"], "15m")
    assert_frame_equal(from_facts, from_events)
    report = kpis.report(warehouse.scan_events(root), catalog(), by=["tenant"], interval=None,
                         contacts=facts.scan_contacts(root, catalog()))  # fmt: skip
    assert report["offered"].sum() == from_events["offered"].sum()


def test_a_fresh_fact_file_is_what_the_reader_reads(tmp_path: Path):
    root = tmp_path / "wh"
    _write(root, _shifted())
    facts.refresh(root, now_ts=MIDNIGHT + 3 * 86400)
    path = facts.fact_path(root, X)
    meta = pl.read_parquet_metadata(path)
    marked = pl.read_parquet(path).with_columns(
        transfers=pl.when(pl.col("contact_id") == "c4").then(99).otherwise(pl.col("transfers"))
    )
    warehouse.write_atomic(marked, path, metadata=meta)
    rows = facts.scan_records(root).collect()
    assert rows.filter(pl.col("contact_id") == "c4")["transfers"].to_list() == [99]


def test_a_day_is_built_once_the_next_day_is_over(tmp_path: Path):
    root = tmp_path / "wh"
    _write(root, _shifted())
    assert facts.refresh(root, now_ts=MIDNIGHT + 12 * 3600) == []  # X1 still running: c4-like contacts may go on
    assert not facts.fact_path(root, X).exists()
    assert facts.refresh(root, now_ts=MIDNIGHT + 86400) == [X]
    assert facts.refresh(root, now_ts=MIDNIGHT + 86400) == []  # fresh: not built again
    assert_frame_equal(_records(root), _records_of_events(root))  # X from its facts, X1 (e1) from the events
    from_both = kpis.contact_kpis(facts.scan_contacts(root, catalog()), by=["queue"], interval="1h")
    from_events = kpis.contact_kpis(cdr.contacts(warehouse.scan_events(root), catalog()), ["queue"], "1h")
    assert_frame_equal(from_both, from_events)
    only_x1 = facts.scan_records(root, start_ts=MIDNIGHT, end_ts=MIDNIGHT + 3600).collect()  # X's file not read
    assert only_x1["contact_id"].to_list() == ["e1"]
    only_x = facts.scan_records(root, start_ts=MIDNIGHT - 3600, end_ts=MIDNIGHT - 1).collect()
    assert sorted(only_x["contact_id"]) == ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "d1", "d2"]


def test_a_late_sync_makes_the_facts_stale_and_the_events_serve_until_the_rebuild(tmp_path: Path):
    root = tmp_path / "wh"
    _write(root, _shifted())
    facts.refresh(root, now_ts=MIDNIGHT + 3 * 86400)
    steps = ((0, "queued", None), (40, "abandoned", "queued"))
    late = [{"kind": "contact", "ts": MIDNIGHT - 600 + t, "contact_id": "late1", "tenant": "t1", "channel": "voice",
             "state": s, "prev_state": p, "queue": "q1", "agent_id": None, "data": {}, "schema_version": 1,
             "site": "C", "seq": i} for i, (t, s, p) in enumerate(steps, 1)]
    warehouse.write_events(root, "C", late)  # site C was down; `vcc warehouse sync` brought its day
    parts = warehouse.live_parts(warehouse.list_parts(root))
    assert not facts.is_fresh(root, X, parts)
    rows = _records(root)
    assert "late1" in rows["contact_id"].to_list()
    assert_frame_equal(rows, _records_of_events(root))
    assert facts.refresh(root, now_ts=MIDNIGHT + 3 * 86400) == [X, X1]  # X1's facts read X's files too
    assert "late1" in pl.read_parquet(facts.fact_path(root, X))["contact_id"].to_list()


def test_compaction_keeps_the_facts_fresh_and_another_version_is_not_read(tmp_path: Path):
    root = tmp_path / "wh"
    _write(root, _shifted(), chunks=4)
    facts.refresh(root, now_ts=MIDNIGHT + 3 * 86400)
    before = len(warehouse.list_parts(root))
    result = warehouse.compact(root)
    assert result is not None and result.files_after < before
    parts = warehouse.live_parts(warehouse.list_parts(root))
    assert facts.is_fresh(root, X, parts) and facts.is_fresh(root, X1, parts)  # the same events, fewer files
    path = facts.fact_path(root, X)
    meta = {**pl.read_parquet_metadata(path), facts.META_VERSION: "0"}
    warehouse.write_atomic(pl.read_parquet(path).head(0), path, metadata=meta)  # an older writer's file
    assert not facts.is_fresh(root, X, parts)
    assert_frame_equal(_records(root), _records_of_events(root))


def test_the_flusher_writes_the_facts_of_closed_days_at_its_compaction_round(tmp_path: Path):
    day0 = (time.time() // 86400 - 5) * 86400  # five days ago: closed
    ev = [{**e, "ts": e["ts"] - B + day0 + 8 * 3600} for e in events() if e["site"] == "A"]
    for e in ev:
        e.pop("seq")
    log = EventLog(tmp_path / "events")
    log.append(ev)
    root = tmp_path / "wh"
    flusher = Flusher(tmp_path / "events", root, "A", interval_s=5.0)
    try:
        assert flusher.flush() == len(ev)
        flusher.compact()
        assert flusher.facts_days_built == 1 and flusher.error is None
    finally:
        flusher.close()
    built = pl.read_parquet(facts.fact_path(root, _utc_day(day0)))
    assert built.height == cdr.records(warehouse.scan_events(root)).collect().height == 8


def test_vcc_warehouse_compact_writes_the_facts_of_closed_days(tmp_path: Path):
    day0 = (time.time() // 86400 - 5) * 86400  # five days ago: closed
    run_dir = tmp_path / "run"
    root = warehouse.default_root(run_dir)
    _write(root, [{**e, "ts": e["ts"] - B + day0 + 8 * 3600} for e in events()], chunks=3)
    cmd = [sys.executable, "-m", "vcc", "warehouse", "compact", "--run-dir", str(run_dir),
           "--config", str(REPO / "cluster/dev.yaml")]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert f"contact facts written for 1 closed day(s): {_utc_day(day0)}" in out.stdout
    assert pl.read_parquet(facts.fact_path(root, _utc_day(day0))).height == 9
    report = subprocess.run([sys.executable, "-m", "vcc", "report", "kpis", "--by", "tenant", "--interval", "1d",
                             "--json", "--no-sync", *cmd[5:]], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert report.returncode == 0, report.stderr
    got = {r["tenant"]: (r["offered"], r["answered"], r["abandoned"]) for r in json.loads(report.stdout)}
    cat = Catalog.from_config(load_config(REPO / "cluster/dev.yaml"))
    want = kpis.contact_kpis(cdr.contacts(warehouse.scan_events(root), cat), by=["tenant"], interval="1d")
    assert got == {r["tenant"]: (r["offered"], r["answered"], r["abandoned"]) for r in want.iter_rows(named=True)}
