"""Who sees what on the dashboards: logging in, and the slice of the contact center a user may see.

A :class:`Scope` is the set of sites, tenants and queues one logged-in user may see, narrowed by
the filters they picked (region, site, tenant). Every data function of :mod:`vcc.dashboards` takes
a scope and filters rows by it before a page gets them, so a tenant user cannot reach another
tenant's rows through any widget. Sans-IO: no Streamlit, no etcd.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

import polars as pl

from vcc.config.credentials import verify_password
from vcc.config.dashboards import ALL_REGIONS, DashboardUserConfig
from vcc.config.models import ClusterConfig

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


class LoginRefused(Exception):
    """A wrong user name or password (one message for both: it does not say which)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What one user may see. ``sites``/``tenants``/``queues`` are the visible ids."""

    user: str
    name: str
    role: str
    regions: frozenset[str]
    sites: frozenset[str]
    tenants: frozenset[str]
    queues: frozenset[str]

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    def narrow(
        self,
        config: ClusterConfig,
        *,
        regions: Iterable[str] = (),
        sites: Iterable[str] = (),
        tenants: Iterable[str] = (),
    ) -> Scope:
        """The scope cut down to the picked regions, sites and tenants (an empty pick keeps all).
        Narrowing never widens: a pick outside the scope is ignored."""
        region_pick = set(regions) & self.regions or set(self.regions)
        site_pick = set(sites) & self.sites or set(self.sites)
        site_pick = {s.id for s in config.sites if s.id in site_pick and s.region in region_pick}
        tenant_pick = set(tenants) & self.tenants or set(self.tenants)
        queue_pick = {q.id for t in config.tenants if t.id in tenant_pick for q in t.queues}
        return replace(
            self,
            regions=frozenset(region_pick),
            sites=frozenset(site_pick),
            tenants=frozenset(tenant_pick),
            queues=frozenset(queue_pick) & self.queues,
        )

    def filter(self, frame: FrameT) -> FrameT:
        """Rows of ``frame`` this scope may see, by whichever of the columns ``site``, ``tenant``,
        ``queue`` it has. A row with no tenant (an agent's or a site's event) stays visible to
        managers only."""
        names = frame.collect_schema().names()
        conditions = []
        if "site" in names:
            conditions.append(pl.col("site").is_in(sorted(self.sites)))
        if "tenant" in names:
            tenant_ok = pl.col("tenant").is_in(sorted(self.tenants))
            conditions.append(tenant_ok | pl.col("tenant").is_null() if self.is_manager else tenant_ok)
        if "queue" in names:
            conditions.append(pl.col("queue").is_in(sorted(self.queues)) | pl.col("queue").is_null())
        if not conditions:
            return frame if self.is_manager else frame.clear()
        return frame.filter(pl.all_horizontal(conditions))


def scope_of(config: ClusterConfig, user: DashboardUserConfig) -> Scope:
    """Everything ``user`` may see in ``config``: a manager, the sites of its regions and every
    tenant; a tenant user, its tenant at every site."""
    all_regions = {s.region for s in config.sites}
    if user.role == "manager":
        regions = all_regions if ALL_REGIONS in user.regions else set(user.regions) & all_regions
        tenants = {t.id for t in config.tenants}
    else:
        regions = all_regions
        tenants = {user.tenant} & {t.id for t in config.tenants} if user.tenant else set()
    sites = {s.id for s in config.sites if s.region in regions}
    queues = {q.id for t in config.tenants if t.id in tenants for q in t.queues}
    return Scope(
        user=user.id,
        name=user.name,
        role=user.role,
        regions=frozenset(regions),
        sites=frozenset(sites),
        tenants=frozenset(tenants),
        queues=frozenset(queues),
    )


def log_in(config: ClusterConfig, user_id: str, password: str) -> Scope:
    """The user's scope if the password matches its stored hash; :class:`LoginRefused` otherwise."""
    user = next((u for u in config.dashboards.users if u.id == user_id.strip()), None)
    if user is None or not password or not verify_password(password, user.password_hash):
        raise LoginRefused("unknown user or wrong password")
    return scope_of(config, user)
