"""``vcc config show``: a cluster file as tables an operator can read at a glance."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from vcc.config.hours import describe_weekly, weekly_windows
from vcc.config.models import ClusterConfig
from vcc.config.sites import etcd_initial_cluster
from vcc.core.model import Channel, Pool


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def sites_table(config: ClusterConfig) -> Table:
    table = _table(
        "Sites",
        "Site",
        "Name",
        "Region",
        "gRPC",
        "HTTP",
        "SIP",
        "etcd client",
        "etcd peer",
        "Ray head",
        "Ray temp dir",
    )
    for site in config.sites:
        ports = site.resolved_ports()
        table.add_row(
            site.id,
            site.name,
            site.region,
            site.grpc_address,
            str(ports["http"]),
            str(ports["sip"]),
            site.etcd_client_url,
            site.etcd_peer_url,
            site.ray_address,
            site.temp_dir,
        )
    return table


_RAY_COLUMNS = {
    "ray.ray_client_server_port": "Client",
    "ray.node_manager_port": "Node mgr",
    "ray.object_manager_port": "Object mgr",
    "ray.dashboard_port": "Dashboard",
    "ray.dashboard_agent_listen_port": "Agent listen",
    "ray.dashboard_agent_grpc_port": "Agent gRPC",
    "ray.runtime_env_agent_port": "Runtime env",
    "ray.metrics_export_port": "Metrics",
}


def ray_ports_table(config: ClusterConfig) -> Table:
    table = _table("Ray ports", "Site", "GCS", *_RAY_COLUMNS.values(), "Workers")
    for site in config.sites:
        ports = site.resolved_ports()
        table.add_row(
            site.id,
            str(ports["ray.gcs_port"]),
            *[str(ports[name]) for name in _RAY_COLUMNS],
            f"{ports['ray.min_worker_port']}-{ports['ray.max_worker_port']}",
        )
    return table


def tenants_table(config: ClusterConfig) -> Table:
    table = _table(
        "Tenants", "Tenant", "Name", "Time zone", "Hours", "Holidays", "Home sites", "SL formula", "Callers"
    )
    for tenant in config.tenants:
        table.add_row(
            tenant.id,
            tenant.name,
            tenant.timezone,
            describe_weekly(weekly_windows(tenant.hours.weekly)),
            ", ".join(d.isoformat() for d in sorted(tenant.hours.holidays)) or "-",
            ", ".join(tenant.home_sites),
            tenant.service_level_formula.value,
            f"{len(tenant.callers.vip)} VIP (+{tenant.callers.vip_priority_boost}), "
            f"{len(tenant.callers.blocked)} blocked",
        )
    return table


def queues_table(config: ClusterConfig) -> Table:
    table = _table(
        "Queues",
        "Queue",
        "Tenant",
        "Channel",
        "Skills",
        "Priority",
        "SL target",
        "Max wait",
        "Callback",
        "Selection",
        "Shared after",
    )
    for tenant in config.tenants:
        for q in tenant.queues:
            wait = "-" if q.max_wait_s is None else f"{q.max_wait_s:g} s"
            if q.overflow_queue:
                wait += f" -> {q.overflow_queue}"
            table.add_row(
                q.id,
                tenant.id,
                q.channel.value,
                ", ".join(f"{s}>={n}" for s, n in q.skills.items()) or "-",
                f"{q.priority}" + (f" +{q.aging_per_s:g}/s" if q.aging_per_s else ""),
                f"{q.service_level.pct:g} % in {q.service_level.threshold_s:g} s",
                wait,
                "yes" if q.callback_offered else "no",
                q.selection.value,
                f"{q.shared_after_s:g} s",
            )
    return table


def entry_points_table(config: ClusterConfig) -> Table:
    table = _table("Entry points", "Address", "Tenant", "Channel", "Starts in")
    for tenant in config.tenants:
        for e in tenant.entry_points:
            start = f"flow {e.flow}" if e.flow else f"queue {e.queue}"
            table.add_row(e.address, tenant.id, e.channel.value, start)
    return table


def flows_table(config: ClusterConfig) -> Table:
    table = _table("IVR flows", "Flow", "Tenant", "Entry", "Nodes", "Node types", "Entry points")
    for tenant in config.tenants:
        for flow in tenant.flows:
            kinds = Counter(node.type for node in flow.nodes.values())
            used_by = [e.address for e in tenant.entry_points if e.flow == flow.id]
            table.add_row(
                flow.id,
                tenant.id,
                flow.entry,
                str(len(flow.nodes)),
                ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())),
                ", ".join(used_by) or "(unused)",
            )
    return table


def agents_tables(config: ClusterConfig) -> list[Table]:
    sites = [s.id for s in config.sites]
    by_site = _table("Agents by site and pool", "Site", *[p.value for p in Pool], "Total")
    for site in sites:
        counts = Counter(a.pool for a in config.agents if a.home_site == site)
        by_site.add_row(site, *[str(counts[p]) for p in Pool], str(sum(counts.values())))
    by_site.add_row(
        "all", *[str(sum(a.pool == p for a in config.agents)) for p in Pool], str(len(config.agents))
    )

    by_tenant = _table("Agents by tenant", "Tenant", *[p.value for p in Pool], *[c.value for c in Channel])
    for tenant in config.tenants:
        serving = [a for a in config.agents if tenant.id in a.tenants]
        by_tenant.add_row(
            tenant.id,
            *[str(sum(a.pool == p for a in serving)) for p in Pool],
            *[str(sum(a.capacity.get(c, 0) > 0 for a in serving)) for c in Channel],
        )

    by_skill = _table("Agents by skill", "Skill", "Agents", "Proficiency (min-max)", "Description")
    for skill in config.skills:
        levels = [a.skills[skill.id] for a in config.agents if skill.id in a.skills]
        span = f"{min(levels)}-{max(levels)}" if levels else "-"
        by_skill.add_row(skill.id, str(len(levels)), span, skill.description or "")
    return [by_site, by_tenant, by_skill]


def render(config: ClusterConfig, console: Console) -> None:
    """Print every table of a validated cluster file."""
    console.print(f"[bold]{config.name}[/bold]: {config.summary()}")
    if config.description:
        console.print(config.description)
    console.print(sites_table(config))
    console.print(ray_ports_table(config))
    console.print(f"etcd initial cluster: {etcd_initial_cluster(config.sites)}")
    for table in (
        tenants_table(config),
        queues_table(config),
        entry_points_table(config),
        flows_table(config),
    ):
        console.print(table)
    for table in agents_tables(config):
        console.print(table)
