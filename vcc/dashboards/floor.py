"""The floor as the sites' event logs tell it, kept current by tailing them: which contacts wait
(and since when), each agent's state, every ``site`` event (fence, rejoin, adoption...), and the
current UTC day's events as a frame in the warehouse's schema.

:class:`FloorState` is the sans-IO fold of events; :class:`EventTail` reads only the complete lines
appended to ``<run dir>/sites/<site>/events/events-*.jsonl`` since its last read, so a refresh
costs what was appended, not the whole log. Nothing here is a KPI: service level today is
:mod:`vcc.analytics` run on :meth:`EventTail.today` (the same events the warehouse receives, without
waiting for a flush or scanning its many small files every second).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from vcc.analytics.warehouse import EVENT_SCHEMA, events_frame, utc_date

#: Contact states in which the customer is still waiting for an agent.
WAITING_STATES = frozenset({"queued", "offered"})
TERMINAL_STATES = frozenset({"completed", "abandoned", "failed"})
SITE_EVENT_COLUMNS = {"ts": pl.Float64, "site": pl.Utf8, "event": pl.Utf8, "detail": pl.Utf8}


@dataclass(slots=True)
class _Contact:
    tenant: str | None
    channel: str | None
    queue: str | None
    site: str
    state: str
    state_ts: float
    arrival_ts: float


@dataclass(slots=True)
class FloorState:
    """Contacts still open, agents' latest states, and site events, folded from events in any order
    across sites (per contact and agent the event with the latest ``ts`` wins)."""

    contacts: dict[str, _Contact] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    agents: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # id -> (site, state, ts)
    site_events: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, events: Iterable[dict[str, Any]]) -> None:
        for e in events:
            kind = e.get("kind")
            if kind == "contact":
                self._contact(e)
            elif kind == "agent":
                self._agent(e)
            elif kind == "site":
                data = e.get("data") or {}
                detail = ", ".join(f"{k}={v}" for k, v in sorted(data.items())) if isinstance(data, dict) else str(data)
                self.site_events.append({"ts": float(e.get("ts", 0.0)), "site": str(e.get("site", "")),
                                         "event": str(e.get("event", "")), "detail": detail})

    def _contact(self, e: dict[str, Any]) -> None:
        cid = e.get("contact_id")
        state = e.get("state")
        if not isinstance(cid, str) or not isinstance(state, str) or cid in self.finished:
            return
        ts = float(e.get("ts", 0.0))
        if state in TERMINAL_STATES:
            self.finished.add(cid)
            self.contacts.pop(cid, None)
            return
        c = self.contacts.get(cid)
        if c is None:
            self.contacts[cid] = _Contact(e.get("tenant"), e.get("channel"), e.get("queue"), str(e.get("site", "")),
                                          state, ts, ts)
            return
        c.arrival_ts = min(c.arrival_ts, ts)
        if ts >= c.state_ts:
            c.state, c.state_ts, c.site = state, ts, str(e.get("site", c.site))
            c.queue = e.get("queue") or c.queue
            c.tenant = e.get("tenant") or c.tenant
            c.channel = e.get("channel") or c.channel

    def _agent(self, e: dict[str, Any]) -> None:
        agent, state = e.get("agent_id"), e.get("state")
        if not isinstance(agent, str) or not isinstance(state, str):
            return
        ts = float(e.get("ts", 0.0))
        if agent not in self.agents or ts >= self.agents[agent][2]:
            self.agents[agent] = (str(e.get("site", "")), state, ts)

    # ------------------------------------------------------------------ frames

    def waiting(self, now: float) -> pl.DataFrame:
        """One row per waiting contact: site, tenant, queue, channel, wait_s (from first arrival)."""
        rows = [
            {"site": c.site, "tenant": c.tenant, "queue": c.queue, "channel": c.channel,
             "wait_s": max(0.0, now - c.arrival_ts)}
            for c in self.contacts.values() if c.state in WAITING_STATES
        ]  # fmt: skip
        schema = {"site": pl.Utf8, "tenant": pl.Utf8, "queue": pl.Utf8, "channel": pl.Utf8, "wait_s": pl.Float64}
        return pl.DataFrame(rows, schema=schema)

    def agent_states(self) -> pl.DataFrame:
        """One row per agent ever seen: agent_id, site, state, since_ts."""
        rows = [{"agent_id": a, "site": s, "state": st, "since_ts": ts} for a, (s, st, ts) in self.agents.items()]
        schema = {"agent_id": pl.Utf8, "site": pl.Utf8, "state": pl.Utf8, "since_ts": pl.Float64}
        return pl.DataFrame(rows, schema=schema)

    def site_timeline(self) -> pl.DataFrame:
        return pl.DataFrame(self.site_events, schema=SITE_EVENT_COLUMNS).sort("ts")


class EventTail:
    """Follows every site's event log under ``run_dir`` and folds new events into :attr:`state`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.state = FloorState()
        self._offsets: dict[Path, int] = {}
        self.bad_lines = 0
        self._day = ""
        self._today: list[pl.DataFrame] = []

    def _files(self) -> list[Path]:
        return sorted((self.run_dir / "sites").glob("*/events/events-*.jsonl"))

    def poll(self) -> int:
        """Read what was appended since the last poll; returns how many events were folded."""
        count = 0
        for path in self._files():
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:
                continue
            complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next poll
            events = []
            for raw in complete.splitlines():
                try:
                    events.append(json.loads(raw))
                except ValueError:
                    self.bad_lines += 1
            self.state.apply(events)
            self._keep_today(events)
            self._offsets[path] = offset + len(complete)
            count += len(events)
        return count

    def _keep_today(self, events: list[dict[str, Any]]) -> None:
        good = [e for e in events if isinstance(e.get("ts"), int | float) and isinstance(e.get("seq"), int)]
        if not good:
            return
        frame = events_frame(good)
        latest = utc_date(max(float(e["ts"]) for e in good))
        if latest > self._day:  # a new UTC day: yesterday's events leave the frame
            self._day = latest
            self._today = [f.filter(pl.col("date") == latest) for f in self._today]
        self._today.append(frame.filter(pl.col("date") == self._day))
        if len(self._today) > 64:
            self._today = [pl.concat(self._today, how="vertical")]

    def today(self, now: float) -> pl.LazyFrame:
        """Every event read so far whose UTC date is that of ``now`` (warehouse columns)."""
        day = utc_date(now)
        if day != self._day or not self._today:
            return pl.LazyFrame(schema=EVENT_SCHEMA)
        return pl.concat(self._today, how="vertical").lazy()
