"""What the site controller knows of the contacts it placed and the agents logged in here (soft
state, rebuilt from etcd and the shards after a restart), and the values of its API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from vcc.actors.records import ContactRecord
from vcc.coord.store import StoredContact
from vcc.core.model import AgentState, Channel, ContactState

TERMINAL = {ContactState.COMPLETED.value, ContactState.ABANDONED.value, ContactState.FAILED.value}


@dataclass(slots=True)
class PlacedContact:
    record: ContactRecord
    shard: int | None  # None while in the IVR or on its way to another site
    state: str = ContactState.ARRIVED.value
    agent_id: str | None = None
    durable: bool = False
    queued_at: float | None = None
    connected_at: float | None = None
    stored: StoredContact | None = None  # a durable contact's last write to etcd, if this site knows it
    # Admitted here and its shard has not reported `arrived` yet: notes (a web caller's first chat
    # line) wait in `early_notes` so that the record shows the arrival first.
    awaiting_arrival: bool = False
    early_notes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class LoggedInAgent:
    agent_id: str
    shard: int
    stream: AgentStream
    state: str = AgentState.NOT_READY.value
    reason_code: str | None = None
    ready_before_fence: bool = False


@dataclass(eq=False)
class AgentStream:
    """One connected agent session stream (a desktop, or a pool of bot agents): what to push to it."""

    updates: asyncio.Queue[tuple[str, str, dict[str, Any]] | None] = field(default_factory=asyncio.Queue)
    agents: set[str] = field(default_factory=set)

    def push(self, agent_id: str, kind: str, payload: dict[str, Any]) -> None:
        self.updates.put_nowait((agent_id, kind, payload))

    def take(
        self, first: tuple[str, str, dict[str, Any]]
    ) -> tuple[list[tuple[str, str, dict[str, Any]]], bool]:
        """``first`` and every update already queued behind it, in order, less each agent state
        that a later state of the same agent in the same batch supersedes (a desktop shows only the
        latest state; offers, rescinds, notices and command results are all kept). Also whether the
        stream goes on (False once the end-of-stream marker, None, was taken)."""
        batch = [first]
        more = True
        while not self.updates.empty():
            update = self.updates.get_nowait()
            if update is None:
                more = False
                break
            batch.append(update)
        if len(batch) > 1:
            seen: set[str] = set()
            kept = []
            for update in reversed(batch):
                if update[1] == "state":
                    if update[0] in seen:
                        continue
                    seen.add(update[0])
                kept.append(update)
            batch = kept[::-1]
        return batch, more


@dataclass(slots=True)
class Submission:
    contact_id: str
    channel: Channel
    entry_point: str
    caller_id: str
    data: dict[str, str]
    patience_s: float = 0.0


@dataclass(slots=True)
class Submitted:
    contact_id: str
    accepted: bool
    site: str
    error: str = ""


def void(_: object) -> None:
    """Drop a value (a callback that must return None spawns a task that is already tracked)."""


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}

