"""Events are the record: every contact and agent transition is a typed, timestamped, schema-versioned
event. CDRs, KPIs, billing and dashboards are derived from them, never from counters kept on the side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from vcc.core.model import AgentState, Channel, ContactState

SCHEMA_VERSION = 1
#: the reason of the ``failed`` a dead site's adopter logs for each call the site listed live: a
#: presumption, which an end the site itself logged overrides (readers keep the site's end)
SITE_LOST = "site_lost:"


@dataclass(frozen=True, slots=True)
class ContactEvent:
    """A contact moved to ``state`` at ``ts`` (seconds since the epoch)."""

    kind: ClassVar[str] = "contact"

    ts: float
    contact_id: str
    tenant: str
    channel: Channel
    state: ContactState
    prev_state: ContactState | None
    queue: str | None = None
    agent_id: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON-ready values (enums as their strings). Written out field by
        field: ``dataclasses.asdict`` deep-copies and was the ACD shard's biggest cost."""
        prev = self.prev_state
        return {
            "kind": "contact", "ts": self.ts, "contact_id": self.contact_id, "tenant": self.tenant,
            "channel": _str(self.channel), "state": _str(self.state),
            "prev_state": None if prev is None else _str(prev), "queue": self.queue, "agent_id": self.agent_id,
            "reason": self.reason, "data": dict(self.data),
            "schema_version": self.schema_version,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """An agent moved to ``state`` at ``ts``; ``reason_code`` for not-ready, ``contact_id`` when the
    move was caused by a contact (offer, accept, complete)."""

    kind: ClassVar[str] = "agent"

    ts: float
    agent_id: str
    state: AgentState
    prev_state: AgentState | None
    reason_code: str | None = None
    contact_id: str | None = None
    channel: Channel | None = None
    load: dict[str, int] = field(default_factory=dict)  # channel -> contacts in hand after the move
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON-ready values (see :meth:`ContactEvent.to_dict`)."""
        prev, channel = self.prev_state, self.channel
        return {
            "kind": "agent", "ts": self.ts, "agent_id": self.agent_id, "state": _str(self.state),
            "prev_state": None if prev is None else _str(prev), "reason_code": self.reason_code,
            "contact_id": self.contact_id, "channel": None if channel is None else _str(channel),
            "load": {_str(k): v for k, v in self.load.items()}, "schema_version": self.schema_version,
        }  # fmt: skip


def _str(value: str) -> str:
    """A StrEnum member as its plain string (pickles and compares as a str, no enum lookup)."""
    return str.__str__(value)


Event = ContactEvent | AgentEvent
