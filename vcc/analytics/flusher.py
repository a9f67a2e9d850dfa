"""Copies a site's event log (the JSONL write-ahead log) into the Parquet warehouse.

The log is the acknowledgement: an event is safe once ``EventLog.append`` returned. The flusher
runs beside it, off the append path (a thread in the event sink, or ``vcc warehouse sync``), reads
the log's complete lines from the seq after the warehouse's last, and writes them in batches with
``warehouse.write_events`` (write-then-rename). A crash anywhere loses nothing: the next flusher
starts again from the warehouse's last seq.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from vcc.analytics import facts, warehouse
from vcc.runtime.eventlog import log_segments

log = logging.getLogger(__name__)

DEFAULT_FLUSH_INTERVAL_S = 1.0
DEFAULT_COMPACT_INTERVAL_S = 300.0
#: files of fewer events are merged by the flusher's compaction; bigger ones are left alone
DEFAULT_COMPACT_SMALL_ROWS = 100_000
MAX_BATCH_EVENTS = 200_000


class LogTail:
    """Reads a site's log segments forward from a seq, by byte offset (no re-parsing of what was read).
    Only complete lines are returned; a line still being written is read on a later call."""

    def __init__(self, directory: Path, from_seq: int) -> None:
        self.directory = directory
        self.next_seq = from_seq
        self._path: Path | None = None
        self._offset = 0

    def _segments(self) -> list[tuple[int, Path]]:
        return log_segments(self.directory)

    def _position(self) -> bool:
        """Point at the segment holding ``next_seq`` and the offset of its line."""
        segments = self._segments()
        holding = [(f, p) for f, p in segments if f <= self.next_seq]
        if not holding:
            return False
        first, path = holding[-1]
        offset = 0
        skip = self.next_seq - first
        with open(path, "rb") as f:
            while skip > 0:
                line = f.readline()
                if not line.endswith(b"\n"):
                    return False  # the seq is not durable yet
                offset += len(line)
                skip -= 1
        self._path, self._offset = path, offset
        return True

    def read_block(self, limit: int = MAX_BATCH_EVENTS) -> tuple[bytes, int]:
        """The next complete lines (at most ``limit``) as one block of bytes, and how many."""
        if self._path is None and not self._position():
            return b"", 0
        chunks: list[bytes] = []
        count = 0
        while count < limit and self._path is not None:
            with open(self._path, "rb") as f:
                f.seek(self._offset)
                while count < limit:
                    line = f.readline()
                    if not line.endswith(b"\n"):
                        break
                    chunks.append(line)
                    self._offset += len(line)
                    count += 1
            if count >= limit:
                break
            later = [p for f, p in self._segments() if f == self.next_seq + count and p != self._path]
            if not later:
                break
            self._path, self._offset = later[0], 0  # the segment is full: move to the next one
        self.next_seq += count
        return b"".join(chunks), count

    def read(self, limit: int = MAX_BATCH_EVENTS) -> list[dict[str, Any]]:
        """The next complete events as dicts (for tests and small tools; the flusher reads blocks)."""
        block, _ = self.read_block(limit)
        return [json.loads(line) for line in block.splitlines()]


def sync_once(log_dir: Path, root: Path, site: str, *, tail: LogTail | None = None) -> tuple[int, LogTail]:
    """Copy whatever the log holds past the warehouse's last seq; returns (events written, tail)."""
    if tail is None:
        tail = LogTail(log_dir, warehouse.last_seq(root, site) + 1)
    written = 0
    while True:
        first = tail.next_seq
        block, count = tail.read_block()
        if not count:
            return written, tail
        frame = warehouse.frame_from_ndjson(block, site)
        seq = frame["seq"]
        if seq[0] != first or seq[-1] != first + count - 1:
            raise RuntimeError(f"event log {log_dir}: seqs {seq[0]}..{seq[-1]} where {first}.. was expected")
        warehouse.write_frame(root, site, frame)
        written += count


def site_log_dirs(run_dir: Path, sites: list[str] | None = None) -> dict[str, Path]:
    """Each site's event log folder in a run dir (``sites/<site>/events``), or only ``sites``."""
    base = run_dir / "sites"
    if not base.is_dir():
        return {}
    return {d.name: d / "events" for d in sorted(base.iterdir())
            if (d / "events").is_dir() and (sites is None or d.name in sites)}  # fmt: skip


def sync_stopped(run_dir: Path, root: Path, sites: list[str] | None = None) -> dict[str, int | None]:
    """Copy what each site's log holds and its warehouse lacks, for sites whose sink is not running
    (``vcc warehouse sync``, and ``vcc down`` once the sites stopped: the events of the sink's last
    flush interval); None for a site whose writer lock is held (a running sink flushes by itself)."""
    out: dict[str, int | None] = {}
    for site, log_dir in site_log_dirs(run_dir, sites).items():
        lock = warehouse.WriterLock(root, site)
        if not lock.acquire():
            out[site] = None
            continue
        try:
            warehouse.remove_stale_tmp(root, site)
            out[site], _ = sync_once(log_dir, root, site)
        finally:
            lock.release()
    return out


class Flusher:
    """A thread that runs ``sync_once`` every ``interval_s`` and once more on ``close``, and every
    ``compact_interval_s`` merges its site's small files (``warehouse.compact`` with ``small_rows``,
    deletes deferred to the next round), so a day is a few files, not one per second, then writes the
    contact facts of closed days that lack them (``facts.refresh``: a day's work once, whichever site's
    flusher gets there first; ``build_facts=False`` leaves it to ``vcc warehouse compact``). Holds the
    site's writer lock for its lifetime; without the lock (another writer) it does nothing."""

    def __init__(self, log_dir: Path, root: Path, site: str, interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
                 *, compact_interval_s: float = DEFAULT_COMPACT_INTERVAL_S,
                 compact_small_rows: int = DEFAULT_COMPACT_SMALL_ROWS, build_facts: bool = True) -> None:
        if not 0 < interval_s <= 5:
            raise ValueError(f"warehouse flush interval must be in (0, 5] s, got {interval_s}")
        if compact_interval_s <= 0 or compact_small_rows < 2:
            raise ValueError(f"warehouse compaction every {compact_interval_s} s of files under "
                             f"{compact_small_rows} events: both must be positive (and at least 2 events)")
        self.log_dir, self.root, self.site, self.interval_s = log_dir, root, site, interval_s
        self.compact_interval_s, self.compact_small_rows = compact_interval_s, compact_small_rows
        self.build_facts = build_facts
        self.facts_days_built = 0
        self.lock = warehouse.WriterLock(root, site)
        self.flushed_events = 0
        self.compactions = 0
        self.error: str | None = None
        self._tail: LogTail | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        self._compacted_at = time.monotonic()
        self.active = self.lock.acquire()
        if self.active:
            warehouse.remove_stale_tmp(root, site)
            self._thread = threading.Thread(target=self._run, name=f"warehouse-{site}", daemon=True)
            self._thread.start()
        else:
            log.warning("warehouse of site %s has another writer; this sink does not flush", site)

    def compact(self) -> warehouse.CompactResult | None:
        """Merge this site's runs of small files now (None: another compaction is running)."""
        if not self.active:
            return None
        with self._mutex:
            self._compacted_at = time.monotonic()
            try:
                result = warehouse.compact(self.root, site=self.site, small_rows=self.compact_small_rows,
                                           wait=False, defer_deletes=True)  # fmt: skip
            except Exception as e:  # the files it would merge are still there: try again next round
                self.error = f"compaction: {type(e).__name__}: {e}"
                log.exception("warehouse compaction of site %s failed", self.site)
                return None
            if result is not None and result.partitions:
                self.compactions += 1
            if self.build_facts:
                try:
                    self.facts_days_built += len(facts.refresh(self.root, time.time(), wait=False) or [])
                except Exception as e:  # derived data: the events still serve every report meanwhile
                    self.error = f"contact facts: {type(e).__name__}: {e}"
                    log.exception("contact facts of the warehouse %s failed", self.root)
            return result

    def flush(self) -> int:
        """Copy everything durable in the log now (the caller's thread); returns events written."""
        if not self.active:
            return 0
        with self._mutex:
            try:
                n, self._tail = sync_once(self.log_dir, self.root, self.site, tail=self._tail)
                self.error = None
            except Exception as e:  # keep flushing later: the log still holds everything
                self._tail = None
                self.error = f"{type(e).__name__}: {e}"
                log.exception("warehouse flush of site %s failed", self.site)
                return 0
            self.flushed_events += n
            return n

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()
                if time.monotonic() - self._compacted_at >= self.compact_interval_s:
                    self.compact()

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None
        if self.active:
            self.flush()
            self.lock.release()
            self.active = False
