"""Checks that need the whole file: unique ids, references between sections, port collisions
between sites, agent pools, entry points, and IVR graphs. Runs once every shape is valid and
returns every problem found, in one pass."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from vcc.config.compile import agent_profile, queue_spec
from vcc.config.dashboards import dashboard_problems
from vcc.config.flowcheck import check_flow_graph, check_flow_references
from vcc.config.models import ClusterConfig
from vcc.config.sites import PORT_OFFSETS
from vcc.config.tenants import QueueConfig, TenantConfig
from vcc.core.model import Channel, Pool
from vcc.errors import Problem

E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")
WIDGET_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_WORKER_RANGE = ("ray.min_worker_port", "ray.max_worker_port")


def _hint(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known: {', '.join(known)})" if 0 < len(known) <= 8 else ""


class _Checks:
    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.problems: list[Problem] = []
        self.site_ids = {s.id for s in config.sites}
        self.skill_ids = {s.id for s in config.skills}
        self.tenant_ids = {t.id for t in config.tenants}
        #: queue id -> (tenant id, queue), first definition wins
        self.queues: dict[str, tuple[str, QueueConfig]] = {}
        for tenant in config.tenants:
            for queue in tenant.queues:
                self.queues.setdefault(queue.id, (tenant.id, queue))
        self.flows = {f.id: t.id for t in config.tenants for f in t.flows}

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def unique(self, what: str, items: Iterable[tuple[str, str]]) -> None:
        """Report every (path, id) whose id was already used at an earlier path."""
        first: dict[str, str] = {}
        for path, item_id in items:
            if item_id in first:
                self.add(path, f"duplicate {what} {item_id!r} (also at {first[item_id]})")
            else:
                first[item_id] = path

    def known(self, path: str, what: str, name: str, known: set[str]) -> bool:
        if name in known:
            return True
        self.add(path, f"unknown {what} {name!r}{_hint(name, known)}")
        return False

    # --- sites -------------------------------------------------------------------------------------
    def sites(self) -> None:
        sites = self.config.sites
        self.unique("site id", ((f"sites[{i}].id", s.id) for i, s in enumerate(sites)))
        used: dict[int, str] = {}
        ranges: list[tuple[int, int, str]] = []
        singles: list[tuple[int, str]] = []
        for i, site in enumerate(sites):
            where = f"sites[{i}].ports"
            missing = [name for name in PORT_OFFSETS if site.port(name) is None]
            if len(missing) == len(PORT_OFFSETS):
                self.add(f"sites[{i}].port_base", "required when the site's ports are not given one by one")
            elif missing:
                self.add(
                    f"sites[{i}].port_base",
                    f"not given, so ports {', '.join(missing)} are unknown: set port_base or give each port",
                )
            low, high = (site.port(n) for n in _WORKER_RANGE)
            if low is not None and high is not None:
                if low > high:
                    self.add(f"{where}.ray.min_worker_port", f"above max_worker_port ({low} > {high})")
                else:
                    ranges.append((low, high, f"{where}.ray (site {site.id})"))
            for name, port in site.resolved_ports().items():
                if name not in _WORKER_RANGE:
                    singles.append((port, f"{where}.{name}"))
        for port, path in singles:
            if port in used:
                self.add(path, f"port {port} is also {used[port]}")
            else:
                used[port] = path
            for low, high, owner in ranges:
                if low <= port <= high:
                    self.add(path, f"port {port} falls in the Ray worker ports {low}-{high} of {owner}")
        for k, (low, high, owner) in enumerate(ranges):
            for other_low, other_high, other in ranges[:k]:
                if low <= other_high and other_low <= high:
                    self.add(
                        owner.split(" ")[0] + ".min_worker_port",
                        f"Ray worker ports {low}-{high} overlap {other_low}-{other_high} of {other}",
                    )

    # --- tenants -----------------------------------------------------------------------------------
    def tenants(self) -> None:
        tenants = self.config.tenants
        self.unique("skill id", ((f"skills[{i}].id", s.id) for i, s in enumerate(self.config.skills)))
        self.unique("tenant id", ((f"tenants[{i}].id", t.id) for i, t in enumerate(tenants)))
        self.unique(
            "queue id",
            (
                (f"tenants[{i}].queues[{j}].id", q.id)
                for i, t in enumerate(tenants)
                for j, q in enumerate(t.queues)
            ),
        )
        self.unique(
            "flow id",
            (
                (f"tenants[{i}].flows[{j}].id", f.id)
                for i, t in enumerate(tenants)
                for j, f in enumerate(t.flows)
            ),
        )
        self.unique(
            "entry point",
            (
                (f"tenants[{i}].entry_points[{j}].address", _address_key(e.address))
                for i, t in enumerate(tenants)
                for j, e in enumerate(t.entry_points)
            ),
        )
        for i, tenant in enumerate(tenants):
            where = f"tenants[{i}]"
            self.unique(
                "home site", ((f"{where}.home_sites[{k}]", s) for k, s in enumerate(tenant.home_sites))
            )
            for k, site_id in enumerate(tenant.home_sites):
                self.known(f"{where}.home_sites[{k}]", "site", site_id, self.site_ids)
            blocked = set(tenant.callers.blocked)
            for k, caller in enumerate(tenant.callers.vip):
                if caller in blocked:
                    self.add(f"{where}.callers.vip[{k}]", f"caller {caller!r} is also blocked")
            for j, queue in enumerate(tenant.queues):
                self.queue(f"{where}.queues[{j}]", tenant, queue)
            for j, _ in enumerate(tenant.entry_points):
                self.entry_point(f"{where}.entry_points[{j}]", tenant, j)
            for j, flow in enumerate(tenant.flows):
                check_flow_graph(flow, f"{where}.flows[{j}]", self.add)
                check_flow_references(
                    flow, f"{where}.flows[{j}]", tenant.id, self.queues, self.skill_ids, self.add
                )

    def queue(self, where: str, tenant: TenantConfig, queue: QueueConfig) -> None:
        for skill in queue.skills:
            self.known(f"{where}.skills", "skill", skill, self.skill_ids)
        target_id = queue.overflow_queue
        if target_id is None:
            return
        path = f"{where}.overflow_queue"
        if target_id == queue.id:
            self.add(path, "a queue cannot overflow to itself")
        elif self.known(path, "queue", target_id, set(self.queues)):
            owner, target = self.queues[target_id]
            if owner != tenant.id:
                self.add(
                    path, f"queue {target_id!r} belongs to tenant {owner!r}; overflow stays within a tenant"
                )
            elif target.channel != queue.channel:
                self.add(
                    path, f"queue {target_id!r} is a {target.channel} queue, this one is {queue.channel}"
                )
            else:
                self.overflow_loop(path, queue.id)
        if queue.max_wait_s is None:
            self.add(path, "needs max_wait_s: the wait after which contacts overflow")

    def overflow_loop(self, path: str, start: str) -> None:
        chain, current = [start], start
        while (entry := self.queues.get(current)) and entry[1].overflow_queue:
            current = entry[1].overflow_queue
            if current in chain:
                if current == start:
                    self.add(path, f"overflow goes round in a loop: {' -> '.join([*chain, current])}")
                return
            chain.append(current)

    def entry_point(self, where: str, tenant: TenantConfig, index: int) -> None:
        entry = tenant.entry_points[index]
        address_problem = _address_problem(entry.address, entry.channel)
        if address_problem:
            self.add(f"{where}.address", address_problem)
        if entry.flow is None and entry.queue is None:
            self.add(where, "needs a flow (an IVR) or, for chat, email and sms, a queue")
        elif entry.flow is not None and entry.queue is not None:
            self.add(where, "give a flow or a queue, not both")
        elif entry.queue is not None and entry.channel == Channel.VOICE:
            self.add(f"{where}.queue", "voice contacts start in an IVR flow: give `flow` instead")
        if entry.flow is not None and self.known(f"{where}.flow", "flow", entry.flow, set(self.flows)):
            if self.flows[entry.flow] != tenant.id:
                self.add(f"{where}.flow", f"flow {entry.flow!r} belongs to tenant {self.flows[entry.flow]!r}")
            else:
                self.routes_match_channel(tenant, entry.flow, entry.channel, entry.address)
        if entry.queue is not None and self.known(f"{where}.queue", "queue", entry.queue, set(self.queues)):
            owner, queue = self.queues[entry.queue]
            if owner != tenant.id:
                self.add(f"{where}.queue", f"queue {entry.queue!r} belongs to tenant {owner!r}")
            elif queue.channel != entry.channel:
                self.add(
                    f"{where}.queue", f"queue {entry.queue!r} is a {queue.channel} queue, not {entry.channel}"
                )

    def routes_match_channel(
        self, tenant: TenantConfig, flow_id: str, channel: Channel, address: str
    ) -> None:
        tenant_index = self.config.tenants.index(tenant)
        for j, flow in enumerate(tenant.flows):
            if flow.id != flow_id:
                continue
            for node_id, node in flow.nodes.items():
                target = self.queues.get(node.queue) if node.type == "route" else None
                if target and target[0] == tenant.id and target[1].channel != channel:
                    self.add(
                        f"tenants[{tenant_index}].flows[{j}].nodes.{node_id}.queue",
                        f"routes to {target[1].channel} queue {target[1].id!r}, but the flow serves "
                        f"{channel} entry point {address!r}",
                    )

    # --- agents ------------------------------------------------------------------------------------
    def agents(self) -> None:
        agents = self.config.agents
        self.unique("agent id", ((f"agents[{i}].id", a.id) for i, a in enumerate(agents)))
        for i, agent in enumerate(agents):
            where = f"agents[{i}]"
            self.known(f"{where}.home_site", "site", agent.home_site, self.site_ids)
            self.unique("tenant", ((f"{where}.tenants[{k}]", t) for k, t in enumerate(agent.tenants)))
            for k, tenant_id in enumerate(agent.tenants):
                self.known(f"{where}.tenants[{k}]", "tenant", tenant_id, self.tenant_ids)
            if agent.pool == Pool.DEDICATED and len(agent.tenants) != 1:
                self.add(
                    f"{where}.tenants",
                    f"a dedicated agent serves exactly one tenant; this one lists {len(agent.tenants)} "
                    f"({', '.join(agent.tenants)})",
                )
            for skill in agent.skills:
                self.known(f"{where}.skills", "skill", skill, self.skill_ids)
            if agent.capacity.get(Channel.VOICE, 0) > 1:
                self.add(f"{where}.capacity.voice", "an agent takes one call at a time: at most 1")
            if not any(agent.capacity.values()):
                self.add(f"{where}.capacity", "no channel above 0: the agent could never take a contact")

    def staffing(self) -> None:
        """A queue no agent qualifies for would never answer a contact: that is a problem."""
        profiles = [agent_profile(a) for a in self.config.agents]
        for i, tenant in enumerate(self.config.tenants):
            for j, queue in enumerate(tenant.queues):
                spec = queue_spec(tenant.id, queue)
                if not any(p.qualifies(spec) for p in profiles):
                    needs = ", ".join(f"{r.skill}>={r.min_proficiency}" for r in spec.required_skills)
                    self.add(
                        f"tenants[{i}].queues[{j}]",
                        f"no agent qualifies for queue {queue.id!r} (serves {tenant.id!r}, takes "
                        f"{queue.channel}" + (f", has {needs}" if needs else "") + ")",
                    )


def _address_key(address: str) -> str:
    return address.lower() if "@" in address else address.replace(" ", "")


def _address_problem(address: str, channel: Channel) -> str | None:
    if channel == Channel.EMAIL and not EMAIL.match(address):
        return f"{address!r} is not an e-mail address"
    if channel == Channel.SMS and not E164.match(address):
        return f"{address!r} is not an E.164 phone number like '+33140000001'"
    if channel == Channel.VOICE and not (E164.match(address) or WIDGET_ID.match(address)):
        return f"{address!r} is neither an E.164 phone number like '+33140000001' nor a web widget id"
    if channel == Channel.CHAT and not WIDGET_ID.match(address):
        return f"{address!r} is not a web widget id (a letter, then letters, digits, '_', '.', ':' or '-')"
    return None


def validate_config(config: ClusterConfig) -> list[Problem]:
    """Every cross-reference problem of a config whose shapes are valid (empty if none)."""
    checks = _Checks(config)
    checks.sites()
    checks.tenants()
    checks.agents()
    checks.staffing()
    regions = {s.region for s in config.sites}
    return checks.problems + dashboard_problems(config.dashboards, regions, checks.tenant_ids)
