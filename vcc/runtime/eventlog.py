"""A site's event log: the durable record every CDR, KPI and dashboard is derived from.

Append-only JSON lines in numbered segment files, one ``fsync`` per appended batch: an event is
*acknowledged* when :meth:`EventLog.append` returns, and an acknowledged event survives a crash of the
process or the machine. On open, a torn last line (a crash mid-write) is cut off, never read as data.
Each event gets the next sequence number of the site's log; readers replay from a sequence number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEGMENT_EVENTS = 100_000
# One encoder for every line: ``json.dumps`` with options builds a new encoder per call, which cost
# a third of the event sink's time.
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class EventLog:
    def __init__(self, directory: Path, segment_events: int = SEGMENT_EVENTS) -> None:
        self.directory = directory
        self.segment_events = segment_events
        directory.mkdir(parents=True, exist_ok=True)
        self.last_seq = 0
        self._segment_first = 1
        self._fd = -1
        self._recover()

    # ------------------------------------------------------------------ writing

    def append(self, events: list[dict[str, Any]]) -> int:
        """Append ``events`` (each gets a ``seq``), make them durable, return the last seq."""
        if not events:
            return self.last_seq
        lines = []
        for event in events:
            self.last_seq += 1
            event["seq"] = self.last_seq
            lines.append(_encode(event))
            if self.last_seq - self._segment_first + 1 >= self.segment_events:
                self._write("\n".join(lines) + "\n")
                lines = []
                self._roll(self.last_seq + 1)
        if lines:
            self._write("\n".join(lines) + "\n")
        return self.last_seq

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # ------------------------------------------------------------------ reading

    def read(self, from_seq: int = 1) -> Iterator[dict[str, Any]]:
        """Every durable event with ``seq >= from_seq``, in order."""
        for first, path in self._segments():
            if self._segment_end(first) < from_seq:
                continue
            with open(path, "rb") as f:
                for raw in f:
                    if not raw.endswith(b"\n"):
                        break  # a line still being written
                    event: dict[str, Any] = json.loads(raw)
                    if event["seq"] >= from_seq:
                        yield event

    # ------------------------------------------------------------------ internals

    def _segments(self) -> list[tuple[int, Path]]:
        return log_segments(self.directory)

    def _segment_end(self, first: int) -> int:
        later = [f for f, _ in self._segments() if f > first]
        return later[0] - 1 if later else self.last_seq

    def _recover(self) -> None:
        segments = self._segments()
        if not segments:
            self._roll(1)
            return
        first, path = segments[-1]
        data = path.read_bytes()
        good = data[: data.rfind(b"\n") + 1]
        if len(good) != len(data):
            with open(path, "r+b") as f:  # cut the torn tail
                f.truncate(len(good))
                os.fsync(f.fileno())
        lines = good.count(b"\n")
        self._segment_first = first
        self.last_seq = first + lines - 1
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def _roll(self, first_seq: int) -> None:
        self.close()
        self._segment_first = first_seq
        path = self.directory / f"events-{first_seq:012d}.jsonl"
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new segment's name is durable too
        finally:
            os.close(dir_fd)

    def _write(self, text: str) -> None:
        data = text.encode()
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        os.fsync(self._fd)


def read_log(directory: Path) -> Iterator[dict[str, Any]]:
    """Every complete event in a site's log, read-only: safe while the sink is still writing (opening
    an :class:`EventLog` would cut what it takes for a torn tail)."""
    for path in sorted(directory.glob("events-*.jsonl")):
        with open(path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break
                yield json.loads(raw)


def log_segments(directory: Path) -> list[tuple[int, Path]]:
    """The segment files of an event log, as (first seq, path), in order."""
    found = []
    for path in directory.glob("events-*.jsonl"):
        try:
            found.append((int(path.stem.split("-", 1)[1]), path))
        except ValueError:
            continue
    return sorted(found)
