"""The event warehouse: each site's events as Parquet, partitioned by site and UTC date.

``<root>/site=<site>/date=<YYYY-MM-DD>/part-<first seq>-<last seq>.parquet``. A file holds one
site's events of one date whose ``seq`` runs contiguously from first to last. Files are written
beside their final name as ``.tmp-*``, fsynced, renamed and the directory fsynced: a reader (which
lists ``part-*`` only) never sees a torn file. The JSONL event log is the acknowledgement; a writer
resumes from the highest last seq already in Parquet. A file whose seq range lies inside another
file's range of the same partition is shadowed (a compaction that crashed before its deletes).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import itertools
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

PART_RE = re.compile(r"^part-(\d{12})-(\d{12})\.parquet$")
LOCK_NAME = ".writer.lock"

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "site": pl.String(),
    "ts": pl.Float64(),
    "date": pl.String(),
    "kind": pl.String(),
    "schema_version": pl.Int32(),
    "contact_id": pl.String(),
    "tenant": pl.String(),
    "channel": pl.String(),
    "state": pl.String(),
    "prev_state": pl.String(),
    "queue": pl.String(),
    "agent_id": pl.String(),
    "reason": pl.String(),
    "reason_code": pl.String(),
    "event": pl.String(),
    "data": pl.String(),
    "load": pl.String(),
}
_TEXT = ("kind", "contact_id", "tenant", "channel", "state", "prev_state", "queue", "agent_id", "reason",
         "reason_code", "event")  # fmt: skip


def default_root(run_dir: str | Path) -> Path:
    """Where a run's warehouse lives: ``<run dir>/warehouse``."""
    return Path(run_dir) / "warehouse"


def utc_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class PartFile:
    path: Path
    site: str
    date: str
    first_seq: int
    last_seq: int


def part_name(first_seq: int, last_seq: int) -> str:
    return f"part-{first_seq:012d}-{last_seq:012d}.parquet"


def _partition_value(name: str, key: str) -> str | None:
    prefix = f"{key}="
    return name[len(prefix) :] if name.startswith(prefix) else None


def list_parts(root: Path, site: str | None = None) -> list[PartFile]:
    """Every ``part-*`` file, shadowed ones included, sorted by site, date and first seq."""
    out: list[PartFile] = []
    if not root.is_dir():
        return out
    for site_dir in sorted(root.iterdir()):
        s = _partition_value(site_dir.name, "site")
        if s is None or not site_dir.is_dir() or (site is not None and s != site):
            continue
        for date_dir in sorted(site_dir.iterdir()):
            d = _partition_value(date_dir.name, "date")
            if d is None or not date_dir.is_dir():
                continue
            for f in date_dir.iterdir():
                m = PART_RE.match(f.name)
                if m:
                    out.append(PartFile(f, s, d, int(m.group(1)), int(m.group(2))))
    out.sort(key=lambda p: (p.site, p.date, p.first_seq, -p.last_seq))
    return out


def live_parts(parts: Iterable[PartFile]) -> list[PartFile]:
    """Drop files whose seq range lies inside another file's range of the same partition."""
    by_partition: dict[tuple[str, str], list[PartFile]] = {}
    for p in parts:
        by_partition.setdefault((p.site, p.date), []).append(p)
    live: list[PartFile] = []
    for group in by_partition.values():
        group.sort(key=lambda p: (p.first_seq, -p.last_seq))
        reach = -1
        for p in group:  # sorted by first asc, last desc: a file is inside an earlier one iff last <= reach
            if p.last_seq <= reach:
                continue
            live.append(p)
            reach = p.last_seq
    live.sort(key=lambda p: (p.site, p.date, p.first_seq))
    return live


def last_seq(root: Path, site: str) -> int:
    """The highest seq of ``site`` already in the warehouse (0 if none)."""
    return max((p.last_seq for p in list_parts(root, site)), default=0)


def scan_events(root: str | Path, *, sites: Iterable[str] | None = None) -> pl.LazyFrame:
    """Every event in the warehouse as a lazy frame (columns: ``EVENT_SCHEMA``)."""
    wanted = set(sites) if sites is not None else None
    files = [str(p.path) for p in live_parts(list_parts(Path(root))) if wanted is None or p.site in wanted]
    if not files:
        return pl.LazyFrame(schema=EVENT_SCHEMA)
    return pl.scan_parquet(files, schema=EVENT_SCHEMA, hive_partitioning=False)


# ---------------------------------------------------------------------------------------- writing


def events_frame(events: list[dict[str, Any]]) -> pl.DataFrame:
    """Flatten event dicts (as the event log holds them) into the warehouse schema."""
    cols: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA}
    for e in events:
        ts = float(e["ts"])
        cols["seq"].append(int(e["seq"]))
        cols["site"].append(e.get("site"))
        cols["ts"].append(ts)
        cols["date"].append(utc_date(ts))
        cols["schema_version"].append(int(e.get("schema_version", 1)))
        for name in _TEXT:
            v = e.get(name)
            cols[name].append(None if v is None else str(v))
        for name in ("data", "load"):
            v = e.get(name)
            cols[name].append(json.dumps(v, separators=(",", ":"), default=str) if v else None)
    return pl.DataFrame(cols, schema=EVENT_SCHEMA)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(frame: pl.DataFrame, final: Path, metadata: dict[str, str] | None = None,
                 compression: Literal["zstd", "lz4"] = "zstd") -> None:
    """Write ``frame`` to ``final``: tmp file, fsync, rename, fsync the directory. ``metadata``:
    key-value pairs for the Parquet footer."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{uuid.uuid4().hex}.parquet"
    try:
        frame.write_parquet(tmp, compression=compression, statistics=True, metadata=metadata)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)


_NDJSON_SCHEMA = {k: v for k, v in EVENT_SCHEMA.items() if k != "date"}


def frame_from_ndjson(block: bytes, site: str) -> pl.DataFrame:
    """Parse event-log lines (JSON objects) into the warehouse schema; nested ``data``/``load``
    stay JSON text. Much faster than ``json.loads`` per line."""
    frame = pl.read_ndjson(io.BytesIO(block), schema=_NDJSON_SCHEMA)
    return frame.with_columns(
        site=pl.col("site").fill_null(site),
        schema_version=pl.col("schema_version").fill_null(1),
        date=(pl.col("ts") * 1_000_000).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%d"),
        data=pl.when(pl.col("data") != "{}").then(pl.col("data")),
        load=pl.when(pl.col("load") != "{}").then(pl.col("load")),
    ).select(list(EVENT_SCHEMA))


def write_events(root: Path, site: str, events: list[dict[str, Any]]) -> list[Path]:
    """Write contiguous-seq events of ``site`` as one file per run of the same UTC date."""
    return write_frame(root, site, events_frame(events)) if events else []


def write_frame(root: Path, site: str, frame: pl.DataFrame) -> list[Path]:
    """Write a frame of contiguous-seq events (warehouse schema) as one file per run of the same date."""
    if frame.is_empty():
        return []
    dates = frame["date"]
    changes = dates.ne(dates.shift(1)).fill_null(False).arg_true().to_list()
    cuts = [0, *changes, frame.height]
    written: list[Path] = []
    for start, end in itertools.pairwise(cuts):
        chunk = frame.slice(start, end - start)
        first, last = int(chunk["seq"][0]), int(chunk["seq"][-1])
        path = root / f"site={site}" / f"date={chunk['date'][0]}" / part_name(first, last)
        write_atomic(chunk, path)
        written.append(path)
    return written


def remove_stale_tmp(root: Path, site: str) -> int:
    """Delete tmp files a crashed writer left (only the writer of ``site`` calls this, under its lock)."""
    removed = 0
    for tmp in (root / f"site={site}").glob("date=*/.tmp-*.parquet"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


@contextlib.contextmanager
def _flock(path: Path, *, blocking: bool) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def compaction_lock(root: Path, *, wait: bool = True) -> contextlib.AbstractContextManager[bool]:
    """The warehouse-wide lock compaction and the contact-fact build hold (yields False: taken, not waiting)."""
    return _flock(Path(root) / ".compact.lock", blocking=wait)


class WriterLock:
    """The one-writer-per-site lock, held by a site's flusher for its lifetime."""

    def __init__(self, root: Path, site: str) -> None:
        self.path = root / f"site={site}" / LOCK_NAME
        self._fd = -1

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# ------------------------------------------------------------------------------------- compaction


@dataclass(frozen=True, slots=True)
class CompactResult:
    partitions: int
    files_before: int
    files_after: int
    rows: int


def _runs(group: list[PartFile], small_rows: int | None) -> list[list[PartFile]]:
    """The runs of consecutive files to merge: all of them, or each run of small files (fewer than
    ``small_rows`` events: ``last - first + 1``, a file's seqs being contiguous)."""
    if small_rows is None:
        return [group]
    runs: list[list[PartFile]] = [[]]
    for p in group:
        if p.last_seq - p.first_seq + 1 < small_rows:
            runs[-1].append(p)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def compact(
    root: Path,
    *,
    min_files: int = 2,
    site: str | None = None,
    small_rows: int | None = None,
    wait: bool = True,
    defer_deletes: bool = False,
) -> CompactResult | None:
    """Merge each partition's live files into one (write-then-rename), then delete what was merged.
    Safe beside running writers: they only add files with higher seqs than any listed here.

    ``site``: only that site's partitions. ``small_rows``: merge only runs of consecutive files of
    fewer events (what the flusher does every few minutes: a day's big files are not rewritten again
    and again). ``wait=False``: None at once if another compaction runs. ``defer_deletes``: leave the
    merged files (shadowed: no reader that lists the folder after the rename uses them) for the next
    compaction to delete, so a reader that listed them just before still finds them."""
    root = Path(root)
    with compaction_lock(root, wait=wait) as locked:
        if not locked:
            return None
        parts = list_parts(root, site)
        live = live_parts(parts)
        live_set = {p.path for p in live}
        groups: dict[tuple[str, str], list[PartFile]] = {}
        for p in live:
            groups.setdefault((p.site, p.date), []).append(p)
        for p in parts:  # left by an earlier compaction (deferred, or crashed before its deletes)
            if p.path not in live_set:
                p.path.unlink(missing_ok=True)
        partitions = rows = 0
        after = len(live)
        for group in groups.values():
            merged_any = False
            for run in _runs(group, small_rows):
                if len(run) < min_files:
                    continue
                frame = pl.read_parquet([str(p.path) for p in run], schema=EVENT_SCHEMA).sort("seq")
                target = run[0].path.parent / part_name(run[0].first_seq, max(p.last_seq for p in run))
                write_atomic(frame, target)
                if not defer_deletes:
                    for p in run:
                        if p.path != target:
                            p.path.unlink(missing_ok=True)
                    _fsync_dir(target.parent)
                merged_any = True
                rows += frame.height
                after -= len(run) - 1
            partitions += merged_any
        return CompactResult(partitions, len(live), after, rows)


# --------------------------------------------------------------------------------------- status


def status(root: Path) -> list[dict[str, Any]]:
    """Per site: files, partitions (dates), rows and the last seq in the warehouse."""
    out: dict[str, dict[str, Any]] = {}
    for p in live_parts(list_parts(root)):
        s = out.setdefault(p.site, {"site": p.site, "files": 0, "dates": set(), "rows": 0, "last_seq": 0})
        s["files"] += 1
        s["dates"].add(p.date)
        s["rows"] += pl.scan_parquet(p.path).select(pl.len()).collect().item()
        s["last_seq"] = max(s["last_seq"], p.last_seq)
    return [{**s, "dates": sorted(s["dates"])} for s in out.values()]
