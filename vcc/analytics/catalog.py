"""What the analytics need from the cluster file: tenants (service-level formula, short-abandon
threshold, billing rates), queues (tenant, channel, service-level target) and agents (pool, tenants).
Events name tenants, queues and agents by id; this maps ids to the rules to count them by."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from vcc.core.model import ServiceLevelFormula

DEFAULT_FORMULA = ServiceLevelFormula.ANSWERED_OVER_OFFERED
DEFAULT_SHORT_ABANDON_S = 5.0
DEFAULT_SL_THRESHOLD_S = 20.0
DEFAULT_SL_TARGET_PCT = 80.0


@dataclass(frozen=True, slots=True)
class TenantRates:
    currency: str = "EUR"
    dedicated_seat_per_hour: Decimal = Decimal(0)
    shared_per_handled_minute: Decimal = Decimal(0)
    shared_per_interaction: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: str
    name: str
    formula: ServiceLevelFormula = DEFAULT_FORMULA
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S
    rates: TenantRates = TenantRates()


@dataclass(frozen=True, slots=True)
class QueueInfo:
    id: str
    tenant: str
    channel: str
    sl_threshold_s: float = DEFAULT_SL_THRESHOLD_S
    sl_target_pct: float = DEFAULT_SL_TARGET_PCT


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    pool: str  # dedicated | shared
    tenants: tuple[str, ...]
    home_site: str = ""


@dataclass(frozen=True, slots=True)
class Catalog:
    tenants: dict[str, TenantInfo] = field(default_factory=dict)
    queues: dict[str, QueueInfo] = field(default_factory=dict)
    agents: dict[str, AgentInfo] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any) -> Catalog:
        """From a validated ``vcc.config.ClusterConfig``."""
        tenants, queues = {}, {}
        for t in config.tenants:
            b = t.billing
            rates = TenantRates(b.currency, b.dedicated_seat_per_hour, b.shared_per_handled_minute,
                                b.shared_per_interaction)  # fmt: skip
            tenants[t.id] = TenantInfo(t.id, t.name, ServiceLevelFormula(t.service_level_formula),
                                       float(t.short_abandon_s), rates)  # fmt: skip
            for q in t.queues:
                queues[q.id] = QueueInfo(q.id, t.id, str(q.channel), float(q.service_level.threshold_s),
                                         float(q.service_level.pct))  # fmt: skip
        agents = {a.id: AgentInfo(a.id, str(a.pool), tuple(a.tenants), a.home_site) for a in config.agents}
        return cls(tenants, queues, agents)

    def tenants_frame(self) -> pl.DataFrame:
        ts = list(self.tenants.values())
        return pl.DataFrame(
            {"tenant": [t.id for t in ts], "sl_formula": [t.formula.value for t in ts],
             "short_abandon_s": [t.short_abandon_s for t in ts]},
            schema={"tenant": pl.String, "sl_formula": pl.String, "short_abandon_s": pl.Float64},
        )  # fmt: skip

    def queues_frame(self) -> pl.DataFrame:
        qs = list(self.queues.values())
        return pl.DataFrame(
            {"queue": [q.id for q in qs], "sl_threshold_s": [q.sl_threshold_s for q in qs],
             "sl_target_pct": [q.sl_target_pct for q in qs]},
            schema={"queue": pl.String, "sl_threshold_s": pl.Float64, "sl_target_pct": pl.Float64},
        )  # fmt: skip

    def agents_frame(self) -> pl.DataFrame:
        ags = list(self.agents.values())
        return pl.DataFrame(
            {"agent_id": [a.id for a in ags], "pool": [a.pool for a in ags],
             "agent_tenants": [list(a.tenants) for a in ags]},
            schema={"agent_id": pl.String, "pool": pl.String, "agent_tenants": pl.List(pl.String)},
        )  # fmt: skip
