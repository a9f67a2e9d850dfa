"""A validated cluster file -> the core's frozen values (:class:`vcc.core.model.CenterSpec`).

The core never sees pydantic: this module is the one place that reads config models and builds
core values. It trusts its input to have passed :func:`vcc.config.validate.validate_config`.
"""

from __future__ import annotations

from vcc.config.flows import FlowConfig, to_core_node
from vcc.config.hours import weekly_windows
from vcc.config.models import AgentConfig, ClusterConfig
from vcc.config.tenants import EntryPointConfig, QueueConfig, TenantConfig
from vcc.core.flow import Flow
from vcc.core.hours import BusinessHours
from vcc.core.model import (
    AgentProfile,
    CallerLists,
    CenterSpec,
    EntryPoint,
    QueueSpec,
    SkillRequirement,
    TenantSpec,
)


def queue_spec(tenant_id: str, queue: QueueConfig) -> QueueSpec:
    return QueueSpec(
        id=queue.id,
        tenant=tenant_id,
        channel=queue.channel,
        required_skills=tuple(SkillRequirement(skill, level) for skill, level in queue.skills.items()),
        priority=queue.priority,
        aging_per_s=queue.aging_per_s,
        service_level_pct=queue.service_level.pct,
        service_level_s=queue.service_level.threshold_s,
        max_wait_s=queue.max_wait_s,
        overflow_queue=queue.overflow_queue,
        callback_offered=queue.callback_offered,
        selection=queue.selection,
        shared_after_s=queue.shared_after_s,
    )


def agent_profile(agent: AgentConfig) -> AgentProfile:
    return AgentProfile(
        id=agent.id,
        name=agent.name,
        home_site=agent.home_site,
        tenants=tuple(agent.tenants),
        pool=agent.pool,
        skills=dict(agent.skills),
        capacity={channel: n for channel, n in agent.capacity.items() if n > 0},
    )


def tenant_spec(tenant: TenantConfig) -> TenantSpec:
    return TenantSpec(
        id=tenant.id,
        name=tenant.name,
        hours=BusinessHours(
            timezone=tenant.timezone,
            weekly=weekly_windows(tenant.hours.weekly),
            holidays=frozenset(tenant.hours.holidays),
        ),
        callers=CallerLists(
            blocked=frozenset(tenant.callers.blocked),
            vip=frozenset(tenant.callers.vip),
            vip_priority_boost=tenant.callers.vip_priority_boost,
        ),
        service_level_formula=tenant.service_level_formula,
        short_abandon_s=tenant.short_abandon_s,
        home_sites=tuple(tenant.home_sites),
    )


def flow_spec(tenant_id: str, flow: FlowConfig) -> Flow:
    return Flow(
        id=flow.id,
        tenant=tenant_id,
        entry=flow.entry,
        nodes={node_id: to_core_node(node) for node_id, node in flow.nodes.items()},
    )


def entry_point(tenant_id: str, entry: EntryPointConfig) -> EntryPoint:
    return EntryPoint(
        address=entry.address, tenant=tenant_id, channel=entry.channel, flow=entry.flow, queue=entry.queue
    )


def compile_center(config: ClusterConfig) -> CenterSpec:
    """The :class:`CenterSpec` the router, state machines and IVR interpreter work from."""
    return CenterSpec(
        tenants={t.id: tenant_spec(t) for t in config.tenants},
        queues={q.id: queue_spec(t.id, q) for t in config.tenants for q in t.queues},
        agents={a.id: agent_profile(a) for a in config.agents},
        flows={f.id: flow_spec(t.id, f) for t in config.tenants for f in t.flows},
        skills=frozenset(s.id for s in config.skills),
        entry_points={e.address: entry_point(t.id, e) for t in config.tenants for e in t.entry_points},
    )
