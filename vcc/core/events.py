"""Events are the record: every contact and agent transition is a typed, timestamped, schema-versioned
event. CDRs, KPIs, billing and dashboards are derived from them, never from counters kept on the side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from vcc.core.model import AgentState, Channel, ContactState

SCHEMA_VERSION = 1


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
        return {"kind": self.kind, **asdict(self)}


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
        return {"kind": self.kind, **asdict(self)}


Event = ContactEvent | AgentEvent
