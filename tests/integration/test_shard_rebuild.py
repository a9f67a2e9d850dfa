"""A shard that dies mid-load comes back empty (as Ray restarts it): the controller rebuilds it from
its directory, calls in progress go back to their agents, and every contact completes exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.site_harness import ROOT, InProcessSite, dev_agents
from tests.integration.test_site_inprocess import wait_for
from vcc.actors.ports import LocalPort
from vcc.actors.shard import AcdShard
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys

pytestmark = pytest.mark.integration


class DyingShard:
    """A shard port whose process dies once when armed: the call fails, the object is replaced by
    an empty one, exactly what the controller sees when Ray restarts a shard actor."""

    def __init__(self, port: LocalPort, site: InProcessSite) -> None:
        self.port, self.site, self.name, self.armed = port, site, port.name, False

    async def call(self, method: str, *args: Any) -> Any:
        if self.armed:
            self.armed = False
            self.port.obj = AcdShard("dev", 0, 1, self.site.center)
            raise RuntimeError("actor died")
        return await self.port.call(method, *args)


async def site_with_dying_shard(etcd: EtcdCluster, coord_keys: CoordKeys,
                                tmp_path: Path) -> tuple[InProcessSite, DyingShard]:
    """The dev site, started, with its one shard behind a :class:`DyingShard` to arm."""
    site = InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint("a"), tmp_path)
    dying = DyingShard(site.controller.shards[0], site)  # type: ignore[arg-type]
    site.controller.shards[0] = dying  # type: ignore[assignment]
    return await site.start(), dying


def completions(site: InProcessSite) -> Counter[str]:
    """How many times each contact completed, from the site's event log."""
    return Counter(e["contact_id"] for e in site.events() if e.get("state") == "completed")


def test_shard_dies_mid_load(etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path) -> None:
    async def scenario() -> None:
        site, dying = await site_with_dying_shard(etcd, coord_keys, tmp_path)
        bots = BotAgentPool(site.address, dev_agents("dev-01", "dev-02", "dev-03", "dev-04"),
                            handle_s=lambda ch: 0.3)
        client = SiteClient(site.address)
        accepted = []
        try:
            await bots.start()
            entries = [("chat", "demo-chat"), ("email", "help@demo.example"), ("sms", "+15555550001")]
            for i in range(40):
                if i == 10:
                    dying.armed = True  # some contacts are connected to agents right now
                channel, entry = entries[i % 3]
                result = (await client.submit([submission(f"k{i}", channel, entry, "+1")]))[0]
                if result.accepted:
                    accepted.append(f"k{i}")
                await asyncio.sleep(0.05)
            await wait_for(lambda: set(accepted) <= set(completions(site)), 30)
        finally:
            await bots.stop()
            await client.close()
            await site.stop()
        events = site.events()
        completed = completions(site)
        assert len(accepted) == 40 and all(completed[c] == 1 for c in accepted), completed
        assert any(e.get("event") == "shard_restored" for e in events)
        assert not [k for k in bots.stats.errors if "complete" in k], bots.stats.errors  # calls went back to agents

    asyncio.run(scenario())


def test_contacts_in_wrap_up_stay_in_wrap_up_across_a_shard_rebuild(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    """Agents spend most of their time in wrap-up; the shard dies; the rebuilt shard puts each
    contact back into its agent's wrap-up, so the agent's EndWrapUp ends it (the rebuild used to
    leave it connected: EndWrapUp was refused and the contact never completed)."""

    async def scenario() -> None:
        site, dying = await site_with_dying_shard(etcd, coord_keys, tmp_path)
        bots = BotAgentPool(site.address, dev_agents("dev-01", "dev-02", "dev-03", "dev-04"),
                            handle_s=lambda ch: 0.1, wrap_up_s=1.5)
        client = SiteClient(site.address)
        ids = [f"w{i}" for i in range(8)]
        try:
            await bots.start()
            entries = [("chat", "demo-chat"), ("email", "help@demo.example"), ("sms", "+15555550001")]
            results = await client.submit([submission(cid, *entries[i % 3], "+1") for i, cid in enumerate(ids)])
            assert all(r.accepted for r in results), results
            await wait_for(lambda: bots.stats.completed >= 4, 20)  # some are in wrap-up now
            dying.armed = True
            await client.submit([submission("w-trigger", "chat", "demo-chat", "+1")])  # a call to the shard
            ids.append("w-trigger")
            await wait_for(lambda: set(ids) <= set(completions(site)), 30)
        finally:
            await bots.stop()
            await client.close()
            await site.stop()
        events = site.events()
        completed = completions(site)
        assert all(completed[c] == 1 for c in ids), completed
        assert any(e.get("event") == "shard_restored" for e in events)

    asyncio.run(scenario())
