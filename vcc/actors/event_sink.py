"""The event sink: a site's durable event log, in one actor. An event is acknowledged when
``append`` returns (after fsync); readers replay from a sequence number."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vcc.runtime.eventlog import EventLog


class EventSink:
    def __init__(self, site: str, directory: str) -> None:
        self.site = site
        self.log = EventLog(Path(directory))

    def health(self) -> dict[str, Any]:
        return {"last_seq": self.log.last_seq, "directory": str(self.log.directory), "pid": os.getpid()}

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
