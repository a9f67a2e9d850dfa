"""Where a report's data comes from: a run dir (``var/run/<cluster>`` by default) holding each site's
event log (``sites/<site>/events``) and the warehouse (``warehouse/``), and the cluster file (the
one ``state.json`` records, or one given)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from vcc.analytics import facts, warehouse
from vcc.analytics.catalog import Catalog
from vcc.analytics.flusher import site_log_dirs, sync_stopped
from vcc.config.loader import load_config
from vcc.errors import VccError
from vcc.runtime.launcher import RunState, default_run_dir

DEFAULT_CONFIG = Path("cluster/three-sites.yaml")


@dataclass(frozen=True, slots=True)
class Source:
    run_dir: Path
    root: Path
    config: Any

    @property
    def catalog(self) -> Catalog:
        return Catalog.from_config(self.config)

    def events(self) -> pl.LazyFrame:
        return warehouse.scan_events(self.root)

    def contacts(self, start_ts: float | None = None, end_ts: float | None = None) -> pl.LazyFrame:
        """``cdr.contacts`` of the events (of the days ``[start_ts, end_ts)`` needs), read from the
        contact facts of closed days."""
        return facts.scan_contacts(self.root, self.catalog, start_ts, end_ts)

    def log_dirs(self) -> dict[str, Path]:
        return site_log_dirs(self.run_dir)


def open_source(run_dir: Path | None, config_path: Path | None) -> Source:
    """Resolve the run dir and cluster file; a one-line ``VccError`` when either is missing."""
    if run_dir is not None and not run_dir.is_dir():
        raise VccError(f"run dir {run_dir} does not exist")
    if config_path is None and run_dir is not None:
        state = RunState.load(run_dir)
        config_path = Path(state.config_path) if state is not None else None
        if config_path is None:
            raise VccError(f"{run_dir}: no state.json naming the cluster file: pass --config FILE")
    config_path = config_path or DEFAULT_CONFIG
    if not config_path.is_file():
        raise VccError(f"cluster file {config_path} does not exist")
    config = load_config(config_path)
    rd = run_dir or default_run_dir(config)
    if not rd.is_dir():
        raise VccError(f"run dir {rd} does not exist (run `vcc up` first, or pass --run-dir)")
    return Source(rd, warehouse.default_root(rd), config)


def sync(source: Source) -> dict[str, int | None]:
    """Copy what each site's log holds and its warehouse lacks, for sites whose sink is not running
    (a running sink flushes by itself); None for those skipped."""
    return sync_stopped(source.run_dir, source.root)


def parse_time(text: str | None, what: str) -> float | None:
    """An ISO date (``2026-11-01``, midnight UTC) or date-time (UTC unless it has an offset)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise VccError(f"{what} {text!r}: use an ISO date (2026-11-01) or date-time (2026-11-01T08:00)") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
