"""Global load balancing across sites (sans-IO): where should a contact for a queue be served?

Every site publishes, at least twice a second, per queue: contacts waiting, the EWT, agents ready and
staffed. A site keeps a contact when its own EWT is within the queue's service-level threshold
(``QueueSpec.service_level_s``: the wait the tenant is paying to meet). Past that, the contact goes to
the live, unfenced site with the shortest wait, where a site outside the tenant's home sites pays a
penalty (``foreign_penalty_s``) so that equal waits stay home, and the local site wins ties (its media
anchor is already here). A site whose load report is older than ``stale_after_s`` is ignored: it may
be dead. When no site has anyone staffed for the queue, the contact stays local and waits for an agent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from vcc.core.model import QueueSpec, TenantSpec


@dataclass(frozen=True, slots=True)
class QueueLoad:
    """One site's published load for one queue."""

    waiting: int = 0
    ewt_s: float | None = None  # None: no agent staffed, the wait is unknown
    ready_agents: int = 0
    staffed_agents: int = 0


@dataclass(frozen=True, slots=True)
class SiteLoad:
    site: str
    ts: float  # when the site published it
    fenced: bool = False
    queues: Mapping[str, QueueLoad] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Placement:
    site: str
    ewt_s: float | None
    reason: str


def expected_wait(load: QueueLoad | None) -> float:
    """The wait a new contact should expect at a site: 0 with an agent ready and nobody waiting,
    infinite with nobody staffed."""
    if load is None or load.staffed_agents <= 0:
        return math.inf
    if load.ready_agents > load.waiting:
        return 0.0
    return load.ewt_s if load.ewt_s is not None else math.inf


def choose_site(
    local_site: str,
    queue: QueueSpec,
    tenant: TenantSpec,
    loads: Mapping[str, SiteLoad],
    now: float,
    *,
    stale_after_s: float = 3.0,
    foreign_penalty_s: float = 5.0,
) -> Placement:
    """Pick the site that should serve a contact for ``queue``; ``loads`` holds every site's latest
    published load, the local site's included."""
    live = {
        site: load
        for site, load in loads.items()
        if not load.fenced and (site == local_site or now - load.ts <= stale_after_s)
    }
    local = live.get(local_site)
    local_wait = expected_wait(local.queues.get(queue.id)) if local else math.inf
    if local_wait <= queue.service_level_s:
        return Placement(local_site, local_wait, "local wait within service level")

    def score(site: str) -> float:
        wait = expected_wait(live[site].queues.get(queue.id))
        if tenant.home_sites and site not in tenant.home_sites:
            wait += foreign_penalty_s
        return wait

    best = min(live, key=lambda s: (score(s), s != local_site, s), default=None)
    if best is None or math.isinf(score(best)):
        return Placement(local_site, None, "no site has an agent staffed: wait locally")
    if best == local_site:
        return Placement(local_site, local_wait, "local wait is the shortest")
    wait = expected_wait(live[best].queues.get(queue.id))
    return Placement(best, wait, f"shorter wait at {best} ({wait:.0f} s vs {_fmt(local_wait)})")


def _fmt(wait_s: float) -> str:
    return "no agent staffed" if math.isinf(wait_s) else f"{wait_s:.0f} s"
