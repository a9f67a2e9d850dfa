"""The event sink compacts its own warehouse files while it runs: a real sink (its flusher thread,
real files) takes many small appends, one Parquet file per flush; every round its compaction merges
the runs of small files, and a reader scanning the warehouse meanwhile always sees every flushed
event exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import polars as pl

from vcc.actors.event_sink import EventSink
from vcc.analytics import warehouse

DAY = 1_800_057_600.0


def test_sink_merges_its_small_files_while_readers_read(tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    sink = EventSink("A", str(tmp_path / "events"), str(root), flush_interval_s=0.02, compact_interval_s=0.3)
    seen_errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:  # a history page: lists the files and reads them, again and again
        while not stop.is_set():
            try:
                seqs = warehouse.scan_events(root).select("seq").collect()["seq"]
            except Exception as e:  # a file deleted under it would show here
                seen_errors.append(f"{type(e).__name__}: {e}")
                continue
            if seqs.n_unique() != seqs.len() or (seqs.len() and seqs.max() != seqs.len()):
                seen_errors.append(f"{seqs.len()} events, {seqs.n_unique()} distinct, last {seqs.max()}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        most_files = 0
        for i in range(120):
            sink.append([{"kind": "contact", "ts": DAY + i, "contact_id": f"c{i}", "tenant": "t", "channel": "chat",
                          "state": "queued", "queue": "q"}])  # fmt: skip
            time.sleep(0.01)
            most_files = max(most_files, len(warehouse.live_parts(warehouse.list_parts(root))))
        deadline = time.monotonic() + 30
        while sink.flusher.compactions < 2 or warehouse.last_seq(root, "A") < 120:
            assert time.monotonic() < deadline, "the flusher did not compact"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
        sink.close()
    files = warehouse.live_parts(warehouse.list_parts(root))
    assert most_files > 5 and len(files) < most_files  # the small files were merged
    assert sink.health()["warehouse_compactions"] >= 2
    assert warehouse.scan_events(root).collect().sort("seq")["seq"].to_list() == list(range(1, 121))
    assert seen_errors == []
    assert pl.read_parquet([str(p.path) for p in files]).height == 120
