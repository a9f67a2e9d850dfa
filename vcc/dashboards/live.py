"""What etcd says right now: every live site's published load and session, the agents' owner sites,
and each site's etcd member (up or down, who leads). One read per refresh of a page.

Sites publish ``sites/<site>/load`` at least twice a second on their session lease
(:mod:`vcc.coord.load`), so a dead or fenced site's load and session vanish with its lease: a site
missing here is down. Reading asks the members in turn until one answers, so a dashboard keeps
working while any member with quorum is up.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from vcc.config.models import ClusterConfig
from vcc.coord.client import EtcdClient
from vcc.coord.keys import SESSION, CoordKeys
from vcc.coord.load import load_from_json
from vcc.core.balancer import SiteLoad
from vcc.errors import VccError

READ_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class MemberState:
    """One site's etcd member as its own status call sees it."""

    site: str
    up: bool
    member_id: int = 0
    leader_id: int = 0
    raft_term: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """The cluster's soft and hard state at ``taken_at`` (epoch seconds)."""

    taken_at: float
    loads: dict[str, SiteLoad] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent_owners: dict[str, str] = field(default_factory=dict)
    members: dict[str, MemberState] = field(default_factory=dict)
    error: str = ""  # set when no member answered the reads

    @property
    def leader_site(self) -> str | None:
        """The site whose etcd member leads, by the members' own account (None: no quorum seen)."""
        leaders = {m.leader_id for m in self.members.values() if m.up and m.leader_id}
        return next((m.site for m in self.members.values() if m.up and m.member_id in leaders), None)


async def _member(site: Any) -> MemberState:
    try:
        async with EtcdClient(site.host, site.resolved_ports()["etcd_client"], timeout_s=READ_TIMEOUT_S) as c:
            st = await c.status()
        return MemberState(site.id, True, st.member_id, st.leader_id, st.raft_term)
    except (VccError, OSError) as e:
        return MemberState(site.id, False, error=str(e))


async def _read_keys(config: ClusterConfig, keys: CoordKeys, up: list[str]) -> tuple[dict[str, Any], str]:
    """sites/ and agents/ prefixes from the first member that answers."""
    errors = []
    for site in sorted(config.sites, key=lambda s: s.id not in up):
        try:
            async with EtcdClient(site.host, site.resolved_ports()["etcd_client"], timeout_s=READ_TIMEOUT_S) as c:
                sites, _ = await c.get_prefix(keys.sites_prefix)
                agents, _ = await c.get_prefix(keys.agents_prefix)
            return {"sites": sites, "agents": agents}, ""
        except (VccError, OSError) as e:
            errors.append(f"{site.id}: {e}")
    return {"sites": [], "agents": []}, "no etcd member answered (" + "; ".join(errors) + ")"


async def read_live(config: ClusterConfig, now: float | None = None) -> LiveSnapshot:
    """One snapshot of the cluster named in ``config`` (members asked concurrently)."""
    keys = CoordKeys(config.name)
    members = {m.site: m for m in await asyncio.gather(*(_member(s) for s in config.sites))}
    raw, error = await _read_keys(config, keys, [s for s, m in members.items() if m.up])
    loads: dict[str, SiteLoad] = {}
    sessions: dict[str, dict[str, Any]] = {}
    for kv in raw["sites"]:
        parsed = keys.parse_site_key(kv.key)
        if parsed is None:
            continue
        site, kind = parsed
        try:
            if kind == "load":
                loads[site] = load_from_json(kv.value)
            elif kind == SESSION:
                sessions[site] = {**json.loads(kv.value), "mod_revision": kv.mod_revision}
        except (ValueError, KeyError, TypeError):
            continue  # a malformed value is skipped, never a crash of the page
    owners = {}
    for kv in raw["agents"]:
        agent = keys.parse_agent_owner(kv.key)
        if agent is not None:
            owners[agent] = kv.value.decode(errors="replace")
    return LiveSnapshot(time.time() if now is None else now, loads, sessions, owners, members, error)


def fetch_live(config: ClusterConfig) -> LiveSnapshot:
    """:func:`read_live` for synchronous callers (a Streamlit script run)."""
    return asyncio.run(read_live(config))
