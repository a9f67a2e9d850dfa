"""The warehouse's files: layout, contiguous seq ranges cut at date changes, shadowing of files a
crashed compaction left, torn tmp files never read, the log tail resuming from a seq."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from vcc.analytics import warehouse
from vcc.analytics.flusher import LogTail, sync_once
from vcc.runtime.eventlog import EventLog

DAY = 20834 * 86400.0  # 2027-01-16 00:00:00 UTC


def _events(n: int, start_ts: float, step_s: float = 1.0) -> list[dict]:
    return [{"kind": "contact", "ts": start_ts + i * step_s, "contact_id": f"c{i}", "tenant": "t", "channel": "chat",
             "state": "queued", "queue": "q", "data": {"k": i}} for i in range(n)]


def test_events_cut_at_date_change_into_contiguous_files(tmp_path: Path):
    log = EventLog(tmp_path / "events")
    log.append(_events(10, DAY - 5))  # 5 before midnight, 5 after
    root = tmp_path / "warehouse"
    written, _ = sync_once(tmp_path / "events", root, "A")
    assert written == 10
    parts = warehouse.list_parts(root)
    assert [(p.date, p.first_seq, p.last_seq) for p in parts] == [("2027-01-15", 1, 5), ("2027-01-16", 6, 10)]
    assert parts[0].path.parent == root / "site=A" / "date=2027-01-15"
    frame = warehouse.scan_events(root).collect().sort("seq")
    assert frame["seq"].to_list() == list(range(1, 11))
    assert frame["schema_version"].unique().to_list() == [1]
    assert json.loads(frame["data"][3]) == {"k": 3}
    assert warehouse.last_seq(root, "A") == 10


def test_resume_from_last_seq_writes_nothing_twice(tmp_path: Path):
    log = EventLog(tmp_path / "events")
    root = tmp_path / "warehouse"
    log.append(_events(3, DAY))
    sync_once(tmp_path / "events", root, "A")
    log.append(_events(4, DAY + 10))
    written, _ = sync_once(tmp_path / "events", root, "A")  # a new flusher: starts from the warehouse
    assert written == 4
    assert warehouse.scan_events(root).select(pl.col("seq").n_unique(), pl.len()).collect().row(0) == (7, 7)


def test_torn_tmp_file_is_never_read(tmp_path: Path):
    log = EventLog(tmp_path / "events")
    root = tmp_path / "warehouse"
    log.append(_events(5, DAY))
    sync_once(tmp_path / "events", root, "A")
    part = warehouse.list_parts(root)[0].path
    torn = part.parent / ".tmp-crashed.parquet"
    torn.write_bytes(part.read_bytes()[:100])  # a writer died mid-write
    assert warehouse.scan_events(root).collect().height == 5
    assert warehouse.remove_stale_tmp(root, "A") == 1 and not torn.exists()


def test_files_left_by_a_crashed_compaction_are_shadowed_then_removed(tmp_path: Path):
    log = EventLog(tmp_path / "events", segment_events=4)
    root = tmp_path / "warehouse"
    for i in range(3):
        log.append(_events(4, DAY + 100 * i))
        sync_once(tmp_path / "events", root, "A")
    assert len(warehouse.list_parts(root)) == 3
    # the merged file was renamed into place, then the compaction died before deleting the three
    merged = pl.read_parquet([str(p.path) for p in warehouse.list_parts(root)])
    warehouse.write_atomic(merged, root / "site=A" / "date=2027-01-16" / warehouse.part_name(1, 12))
    assert len(warehouse.list_parts(root)) == 4
    frame = warehouse.scan_events(root).collect()
    assert frame.height == 12 and frame["seq"].n_unique() == 12
    result = warehouse.compact(root)
    assert [p.path.name for p in warehouse.list_parts(root)] == [warehouse.part_name(1, 12)]
    assert result is not None and result.files_after == 1
    assert warehouse.scan_events(root).collect()["seq"].sort().to_list() == list(range(1, 13))


def test_compact_merges_each_partition_into_one_file(tmp_path: Path):
    log = EventLog(tmp_path / "events")
    root = tmp_path / "warehouse"
    for i in range(5):
        log.append(_events(3, DAY - 50 + 20 * i))  # straddles midnight
        sync_once(tmp_path / "events", root, "A")
    before = warehouse.scan_events(root).collect().sort("seq")
    result = warehouse.compact(root)
    assert result is not None and result.files_after == 2 and result.files_before > 2
    after = warehouse.scan_events(root).collect().sort("seq")
    assert after.equals(before)
    assert {s["site"]: s["rows"] for s in warehouse.status(root)} == {"A": 15}


def test_compact_small_runs_leaves_big_files_and_defers_deletes(tmp_path: Path):
    """What the flusher runs every few minutes: only runs of consecutive small files are merged (a
    big file is not rewritten), the merged files stay on disk, shadowed, until the next round."""
    log = EventLog(tmp_path / "events")
    root = tmp_path / "warehouse"
    for n in (2, 3, 10, 2, 2, 2):  # seqs 1-2, 3-5 | 6-15 (big) | 16-17, 18-19, 20-21
        log.append(_events(n, DAY + 100))
        sync_once(tmp_path / "events", root, "A")
    EventLog(tmp_path / "events-b").append(_events(2, DAY + 100))
    sync_once(tmp_path / "events-b", root, "B")  # another site's partition: not this flusher's
    before = warehouse.scan_events(root).collect().sort("site", "seq")
    result = warehouse.compact(root, site="A", small_rows=5, wait=False, defer_deletes=True)
    assert result is not None and (result.files_before, result.files_after, result.rows) == (6, 3, 11)
    names = lambda site: [p.path.name for p in warehouse.live_parts(warehouse.list_parts(root, site))]  # noqa: E731
    assert names("A") == [warehouse.part_name(1, 5), warehouse.part_name(6, 15), warehouse.part_name(16, 21)]
    assert len(warehouse.list_parts(root, "A")) == 8  # the five merged files are still there, shadowed
    assert len(warehouse.list_parts(root, "B")) == 1
    assert warehouse.scan_events(root).collect().sort("site", "seq").equals(before)
    again = warehouse.compact(root, site="A", small_rows=5, wait=False, defer_deletes=True)
    assert again is not None and again.partitions == 0  # 1-5 and 16-21 are not small: nothing to merge
    assert [p.path.name for p in warehouse.list_parts(root, "A")] == names("A")  # shadowed files deleted now
    assert warehouse.scan_events(root).collect().sort("site", "seq").equals(before)


def test_log_tail_reads_across_segments_and_waits_for_torn_lines(tmp_path: Path):
    log = EventLog(tmp_path / "events", segment_events=3)
    log.append(_events(7, DAY))
    tail = LogTail(tmp_path / "events", 2)
    assert [e["seq"] for e in tail.read()] == [2, 3, 4, 5, 6, 7]
    last_segment = sorted((tmp_path / "events").glob("events-*.jsonl"))[-1]
    with open(last_segment, "ab") as f:
        f.write(b'{"kind":"contact","seq":8')  # a line being written
    assert tail.read() == []
    assert tail.next_seq == 8


def test_empty_warehouse_scans_to_an_empty_frame(tmp_path: Path):
    frame = warehouse.scan_events(tmp_path / "nothing").collect()
    assert frame.height == 0 and frame.columns == list(warehouse.EVENT_SCHEMA)
