"""Plain values that cross actor boundaries (pickled by Ray): a contact in flight between the
controller, IVR workers and ACD shards, and the commands and results of a shard step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vcc.core.contact import Contact
from vcc.core.model import DURABLE_CHANNELS, Channel

#: ``data[CALLBACK] == "booked"``: a voice contact whose caller booked a callback in the IVR. It has
#: no live media any more, so it is durable like a chat: in etcd, adopted if its site dies.
CALLBACK = "callback"


def is_durable(rec: ContactRecord) -> bool:
    return rec.channel in DURABLE_CHANNELS or rec.data.get(CALLBACK) == "booked"


@dataclass(slots=True)
class ContactRecord:
    """Everything needed to (re)create a contact in a router, keeping its place in line."""

    id: str
    tenant: str
    channel: Channel
    arrived_at: float
    entry_point: str = ""
    caller_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    queue: str | None = None
    skills: dict[str, int] = field(default_factory=dict)
    enqueued_at: float | None = None  # first time in a queue: FIFO position across shards and sites
    flow: str | None = None  # the IVR flow to run first, if any
    origin_site: str = ""
    patience_s: float = 0.0  # > 0: a signaling-only caller abandons after waiting this long

    def to_contact(self) -> Contact:
        return Contact(
            self.id, self.tenant, self.channel, self.arrived_at, entry_point=self.entry_point,
            caller_id=self.caller_id, data=dict(self.data), priority=self.priority, queue=self.queue,
            skills=dict(self.skills),
        )  # fmt: skip

    @classmethod
    def of(cls, c: Contact, **extra: Any) -> ContactRecord:
        return cls(
            c.id, c.tenant, c.channel, c.arrived_at, c.entry_point, c.caller_id, dict(c.data), c.priority,
            c.queue, dict(c.skills), c.enqueued_at, **extra,
        )  # fmt: skip


#: A shard command: ``(op, *args)``; see ``AcdShard.step`` for the ops.
Command = tuple[Any, ...]


@dataclass(slots=True)
class CommandResult:
    token: int  # the caller's id for the command
    ok: bool
    error: str = ""
    state: str = ""  # the agent's state after an agent command
    record: ContactRecord | None = None  # for detach
    records: list[ContactRecord] = field(default_factory=list)  # for detach_head


@dataclass(slots=True)
class ShardOutput:
    events: list[dict[str, Any]] = field(default_factory=list)
    results: list[CommandResult] = field(default_factory=list)
    detached: list[ContactRecord] = field(default_factory=list)
    load: dict[str, dict[str, float]] | None = None  # queue -> waiting, free, staffed, oldest_wait_s
