"""A site outlives its own etcd member. The site (the real controller, in this process) talks to the
member that leads the etcd cluster, with the two others as fallbacks, as `vcc up` runs sites. That
member is SIGKILLed while agents hold chats: the site's client moves to another member, its session
keeps its lease (no other site ever sees it end, so nothing is adopted and no live call would be
dropped), the chats in hand complete and are recorded, and it goes on taking contacts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.integration.site_harness import ROOT, InProcessSite, dev_agents
from tests.integration.test_site_inprocess import wait_for
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.coord.client import EtcdClient
from vcc.coord.election import SiteEvent, watch_sessions
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys

pytestmark = pytest.mark.integration


async def leader_of(etcd: EtcdCluster) -> str:
    ids = {}
    leader = 0
    for name in etcd.members:
        async with EtcdClient(*etcd.endpoint(name)) as c:
            status = await c.status()
            ids[status.member_id] = name
            leader = status.leader_id
    return ids[leader]


def test_a_site_outlives_its_own_etcd_member_when_it_leads(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    async def scenario() -> None:
        own = await leader_of(etcd)
        others = [n for n in etcd.members if n != own]
        site = await InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint(own), tmp_path,
                                   etcd_fallbacks=[etcd.endpoint(n) for n in others]).start()
        bots = BotAgentPool(site.address, dev_agents("dev-01", "dev-02"), handle_s=lambda ch: 0.1)
        client = SiteClient(site.address)
        seen: list[SiteEvent] = []

        async def observe() -> None:
            async with EtcdClient(*etcd.endpoint(others[0])) as c:
                async for ev in watch_sessions(c, coord_keys):
                    seen.append(ev)

        observer = asyncio.create_task(observe())
        try:
            await bots.start()
            await wait_for(lambda: any(e.site == "dev" and e.up for e in seen), 10)
            first = (await client.submit([submission("before", "chat", "demo-chat", "+1")]))[0]
            assert first.accepted, first
            await wait_for(lambda: "before" in bots.stats.handled_ids, 10)
            token = site.controller.session.last_token
            assert token is not None
            bots.handle_s = lambda ch: 1.5  # these are in the agents' hands when the member dies
            across = [f"across{i}" for i in range(4)]
            results = await client.submit([submission(cid, "chat", "demo-chat", "+1") for cid in across])
            assert all(r.accepted for r in results), results
            await asyncio.sleep(0.5)
            refreshes = site.controller.session.stats.refreshes
            killed_at = time.monotonic()
            await asyncio.to_thread(etcd.kill, own)
            await asyncio.sleep(3 * site.config.runtime.lease_ttl_s)  # well past the lease's TTL
            stats = site.controller.session.stats
            assert stats.refreshes > refreshes, f"the session stopped refreshing: {stats}"
            ended = [e for e in seen if e.site == "dev" and not e.up]
            assert not ended, f"the site's session ended with its etcd member: {ended}; {stats}"
            live = await asyncio.wait_for(site.controller.session.wait_live(), 10)
            assert (live.lease_id, live.epoch) == (token.lease_id, token.epoch)
            for _ in range(20):  # a moment fenced while etcd elects a new leader: retry, as a customer would
                after = (await client.submit([submission("after", "chat", "demo-chat", "+1")]))[0]
                if after.accepted:
                    break
                await asyncio.sleep(0.25)
            assert after.accepted, after
            await wait_for(lambda: "after" in bots.stats.handled_ids, 15)

            def completed() -> set[str]:
                return {e["contact_id"] for e in site.events() if e.get("state") == "completed"}

            # their ends are recorded in etcd (through another member), then logged: none is lost
            await wait_for(lambda: {*across, "after"} <= completed(), 15)
            fences = [e for e in site.events() if e.get("kind") == "site" and e["event"] == "fenced"]
            print(f"\nMEASURE own member (the etcd leader) SIGKILLed with chats in hand: client moved "
                  f"{site.controller.etcd.failovers} time(s); site fenced {len(fences)} time(s); same lease "
                  f"{time.monotonic() - killed_at:.1f} s later; {stats}")
        finally:
            observer.cancel()
            await asyncio.gather(observer, return_exceptions=True)
            await bots.stop()
            await client.close()
            await site.stop()

    asyncio.run(scenario())
