"""Crash safety of the warehouse: a writer process is killed (SIGKILL) while a Parquet file is being
written. The torn tmp file is never read, and a new sink resumes so that every acknowledged event
is in the warehouse exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl

from vcc.actors.event_sink import EventSink
from vcc.analytics import warehouse

WRITER = r"""
import sys, time
from vcc.actors.event_sink import EventSink
sink = EventSink("A", sys.argv[1], sys.argv[2], flush_interval_s=0.01)
i = 0
while True:
    batch = [{"kind": "contact", "ts": time.time(), "contact_id": f"c{i}-{j}", "tenant": "t", "channel": "chat",
              "state": "queued", "queue": "q", "data": {"pad": "x" * 50}} for j in range(2000)]
    last = sink.append(batch)
    print(last, flush=True)  # acknowledged: append returned after fsync
    i += 1
"""


def _kill_while_writing(log_dir: Path, root: Path) -> int:
    """Start the writer, kill it the moment a tmp Parquet file exists; return the last acked seq."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(log_dir), str(root)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    acked = [0]

    def read_acks() -> None:
        for line in proc.stdout or []:
            if line.strip():
                acked[0] = int(line)

    reader = threading.Thread(target=read_acks)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if acked[0] >= 20_000 and any(root.glob("site=A/date=*/.tmp-*.parquet")):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
        else:
            raise AssertionError("the writer never flushed while the test watched")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        reader.join()
    return acked[0]


def test_writer_killed_mid_flush_loses_nothing_acknowledged(tmp_path: Path):
    log_dir, root = tmp_path / "sites" / "A" / "events", tmp_path / "warehouse"
    acked = _kill_while_writing(log_dir, root)
    assert acked >= 20_000
    torn = list(root.glob("site=A/date=*/.tmp-*.parquet"))
    assert torn, "the writer was killed while a tmp file existed"
    before = warehouse.scan_events(root).collect()  # the torn tmp file is not read
    assert before.height == before["seq"].n_unique()
    if before.height:
        assert before["seq"].sort().to_list() == list(range(1, before.height + 1))

    sink = EventSink("A", str(log_dir), str(root))  # the restarted sink resumes from the warehouse
    sink.close()
    assert not list(root.glob("site=A/date=*/.tmp-*.parquet"))
    after = warehouse.scan_events(root).collect()
    seqs = after["seq"].sort()
    assert seqs.n_unique() == after.height
    assert seqs.to_list() == list(range(1, seqs.max() + 1))  # type: ignore[operator]
    assert seqs.max() >= acked  # every acknowledged event is in Parquet, once
    assert after.filter(pl.col("seq") <= acked)["contact_id"].null_count() == 0
