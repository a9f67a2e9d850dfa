"""Small builders for router tests: specs with sensible defaults, and event helpers."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from vcc.core.contact import Contact
from vcc.core.events import AgentEvent, ContactEvent, Event
from vcc.core.hours import BusinessHours
from vcc.core.model import (
    AgentProfile,
    AgentSelection,
    CallerLists,
    Channel,
    ContactState,
    Pool,
    QueueSpec,
    SkillRequirement,
    TenantSpec,
)
from vcc.core.routing import Router

V, C, E = Channel.VOICE, Channel.CHAT, Channel.EMAIL
LI, LO = AgentSelection.LONGEST_IDLE, AgentSelection.LEAST_OCCUPIED


def queue(
    id: str, tenant: str = "acme", channel: Channel = V, skills: dict[str, int] | None = None, **kw: Any
) -> QueueSpec:
    reqs = tuple(SkillRequirement(s, m) for s, m in (skills or {}).items())
    return QueueSpec(id=id, tenant=tenant, channel=channel, required_skills=reqs, **kw)


def agent(
    id: str,
    tenants: tuple[str, ...] = ("acme",),
    pool: Pool = Pool.DEDICATED,
    skills: dict[str, int] | None = None,
    capacity: dict[Channel, int] | None = None,
) -> AgentProfile:
    return AgentProfile(id, id.upper(), "site-a", tenants, pool, skills or {}, capacity or {V: 1})


def tenant(id: str = "acme", vip: Iterable[str] = (), blocked: Iterable[str] = (), boost: int = 10) -> TenantSpec:
    lists = CallerLists(blocked=frozenset(blocked), vip=frozenset(vip), vip_priority_boost=boost)
    return TenantSpec(id=id, name=id.title(), hours=BusinessHours("UTC"), callers=lists)


def router(
    queues: Iterable[QueueSpec], agents: Iterable[AgentProfile], tenants: Iterable[TenantSpec] = (), **kw: Any
) -> Router:
    kw.setdefault("wrap_up_s", 0.0)
    return Router(tenants=tenants, queues=queues, agents=agents, **kw)


def contact(id: str, queue: str | None = None, channel: Channel = V, tenant: str = "acme", **kw: Any) -> Contact:
    return Contact(id, tenant, channel, 0.0, queue=queue, **kw)


def offers(events: list[Event]) -> dict[str, str]:
    """contact id -> agent id for every offer in ``events``."""
    return {
        e.contact_id: e.agent_id or ""
        for e in events
        if isinstance(e, ContactEvent) and e.state is ContactState.OFFERED
    }


def contact_states(events: list[Event], contact_id: str) -> list[tuple[ContactState | None, ContactState]]:
    return [(e.prev_state, e.state) for e in events if isinstance(e, ContactEvent) and e.contact_id == contact_id]


def agent_events(events: list[Event], agent_id: str) -> list[AgentEvent]:
    return [e for e in events if isinstance(e, AgentEvent) and e.agent_id == agent_id]


def login_all(r: Router, now: float = 0.0, step_s: float = 1.0) -> None:
    """Log every agent in and make it ready, one ``step_s`` apart, in id order."""
    for i, aid in enumerate(sorted(r.agents)):
        r.login(aid, now + i * step_s, ready=True)


def load_bench() -> ModuleType:
    """``bench/routing.py`` as a module (the bench is a script, not a package)."""
    path = Path(__file__).resolve().parents[2] / "bench" / "routing.py"
    spec = importlib.util.spec_from_file_location("bench_routing", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
