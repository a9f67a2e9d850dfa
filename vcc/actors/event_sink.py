"""The event sink: a site's durable event log, in one actor. An event is acknowledged when
``append`` returns (after fsync); readers replay from a sequence number. A flusher thread copies the
log into the Parquet warehouse (``vcc.analytics``) off the append path, at least every 5 s, and merges
its small files every few minutes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vcc.analytics.flusher import DEFAULT_COMPACT_INTERVAL_S, DEFAULT_FLUSH_INTERVAL_S, Flusher
from vcc.runtime.eventlog import EventLog


def default_warehouse(directory: Path) -> Path:
    """``<run dir>/warehouse`` for a sink in ``<run dir>/sites/<site>/events``, else a ``warehouse``
    folder beside the log's folder."""
    directory = directory.resolve()
    if directory.parent.parent.name == "sites":
        return directory.parents[2] / "warehouse"
    return directory.parent / "warehouse"


class EventSink:
    def __init__(self, site: str, directory: str, warehouse_dir: str | None = None,
                 flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
                 compact_interval_s: float = DEFAULT_COMPACT_INTERVAL_S) -> None:
        self.site = site
        self.log = EventLog(Path(directory))
        root = Path(warehouse_dir) if warehouse_dir else default_warehouse(Path(directory))
        self.flusher = Flusher(Path(directory), root, site, flush_interval_s, compact_interval_s=compact_interval_s)

    def health(self) -> dict[str, Any]:
        return {"last_seq": self.log.last_seq, "directory": str(self.log.directory), "pid": os.getpid(),
                "warehouse": str(self.flusher.root), "warehouse_events": self.flusher.flushed_events,
                "warehouse_compactions": self.flusher.compactions, "warehouse_error": self.flusher.error}

    def append(self, events: list[dict[str, Any]]) -> int:
        for e in events:
            e.setdefault("site", self.site)
        return self.log.append(events)

    def read(self, from_seq: int, limit: int = 10_000) -> list[dict[str, Any]]:
        out = []
        for event in self.log.read(from_seq):
            out.append(event)
            if len(out) >= limit:
                break
        return out

    def flush_warehouse(self) -> int:
        """Copy what the log holds to the warehouse now; returns events written."""
        return self.flusher.flush()

    def close(self) -> None:
        """Flush the warehouse a last time and close the log."""
        self.flusher.close()
        self.log.close()
