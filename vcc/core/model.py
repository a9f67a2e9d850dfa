"""Internal values of the core: channels, states, and the frozen specs that config compiles into.

Config (pydantic, at the trust boundary) is converted into these by ``vcc.config.compile``; the core
never imports pydantic models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vcc.core.flow import Flow
from vcc.core.hours import BusinessHours


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    SMS = "sms"


#: Channels whose contacts are tied to live media: they die with the site that anchors them.
LIVE_CHANNELS: frozenset[Channel] = frozenset({Channel.VOICE})
#: Channels whose contacts are durable: kept in etcd, adopted by a surviving site on failover.
DURABLE_CHANNELS: frozenset[Channel] = frozenset({Channel.CHAT, Channel.EMAIL, Channel.SMS})


class ContactState(StrEnum):
    ARRIVED = "arrived"
    IVR = "ivr"
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    CALLBACK_REQUESTED = "callback_requested"
    TRANSFERRED = "transferred"
    FAILED = "failed"


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RESERVED = "reserved"  # an offer is outstanding
    BUSY = "busy"  # handling at least one contact
    WRAP_UP = "wrap_up"  # timed after-call work


class Pool(StrEnum):
    DEDICATED = "dedicated"  # works for one tenant only
    SHARED = "shared"  # serves several listed tenants


class AgentSelection(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"


class ServiceLevelFormula(StrEnum):
    """How a tenant counts service level; T is the queue's threshold (e.g. 20 s)."""

    ANSWERED_OVER_OFFERED = "answered_over_offered"  # answered<=T / (answered + abandoned)
    ANSWERED_OVER_ANSWERED = "answered_over_answered"  # answered<=T / answered
    ABANDONED_AFTER_T = "abandoned_after_t"  # answered<=T / (answered + abandoned after T)
    ABANDONED_POSITIVE = "abandoned_positive"  # (answered<=T + abandoned<=T) / offered


@dataclass(frozen=True, slots=True)
class SkillRequirement:
    skill: str
    min_proficiency: int = 1  # 1..10


def merge_skills(have: dict[str, int], extra: dict[str, int]) -> dict[str, int]:
    """A contact's required skills (skill -> minimum proficiency) with ``extra`` added: where both
    name a skill, the higher minimum (the stricter requirement) holds."""
    if not extra:
        return have
    merged = dict(have)
    for skill, level in extra.items():
        merged[skill] = max(level, merged.get(skill, 0))
    return merged


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue as the router sees it."""

    id: str
    tenant: str
    channel: Channel
    required_skills: tuple[SkillRequirement, ...] = ()
    priority: int = 0  # base priority of contacts entering the queue; higher is served first
    aging_per_s: float = 0.0  # priority points gained per second waited
    service_level_pct: float = 80.0
    service_level_s: float = 20.0
    max_wait_s: float | None = None  # after this, overflow (or stay, if no overflow target)
    overflow_queue: str | None = None
    callback_offered: bool = False
    selection: AgentSelection = AgentSelection.LONGEST_IDLE
    shared_after_s: float = 0.0  # shared agents take this tenant's contacts after this wait


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """An agent as the router sees it: who it may serve and how much at once."""

    id: str
    name: str
    home_site: str
    tenants: tuple[str, ...]
    pool: Pool
    skills: dict[str, int] = field(default_factory=dict)  # skill -> proficiency 1..10
    capacity: dict[Channel, int] = field(default_factory=dict)  # channel -> concurrent contacts

    def qualifies(self, queue: QueueSpec) -> bool:
        if queue.tenant not in self.tenants or self.capacity.get(queue.channel, 0) <= 0:
            return False
        return all(self.skills.get(r.skill, 0) >= r.min_proficiency for r in queue.required_skills)

    def proficiency_for(self, queue: QueueSpec) -> int:
        """Sum of proficiencies on the queue's required skills (higher is a better match)."""
        return sum(self.skills.get(r.skill, 0) for r in queue.required_skills)


@dataclass(frozen=True, slots=True)
class CallerLists:
    """A tenant's allow/block lists of caller ids."""

    blocked: frozenset[str] = frozenset()
    vip: frozenset[str] = frozenset()
    vip_priority_boost: int = 10


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """A client company as the core sees it."""

    id: str
    name: str
    hours: BusinessHours
    callers: CallerLists = CallerLists()
    service_level_formula: ServiceLevelFormula = ServiceLevelFormula.ANSWERED_OVER_OFFERED
    short_abandon_s: float = 5.0
    home_sites: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """Where a tenant's customers reach it: contacts start in ``flow`` (an IVR) or, for channels
    without an IVR, straight in ``queue``. Exactly one of the two is set."""

    address: str
    tenant: str
    channel: Channel
    flow: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class CenterSpec:
    """Everything the core needs about one contact center: compiled from a validated config."""

    tenants: dict[str, TenantSpec]
    queues: dict[str, QueueSpec]
    agents: dict[str, AgentProfile]
    flows: dict[str, Flow]
    skills: frozenset[str]
    #: address (phone number, web widget id, email address, SMS number) -> where contacts start
    entry_points: dict[str, EntryPoint] = field(default_factory=dict)
