"""A phone call's IVR choice routes it: SIPp calls the demo number through a real media gateway
(SIP, G.711, RFC 4733 keys) in front of a real site (controller, etcd, gRPC, web front door). The
caller presses 2, which this test's flow sends through a ``set`` node (billing 5, priority +2) to
the general queue: the site's router holds the contact with that skill and priority, so only an
agent with billing would be offered the call. Until 2026-11-23 the gateway's outcome reached the
site without the skills (the priority came through), and any agent of the queue got the call."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.webharness import WebSite, e2e_cluster_file
from tests.integration.sip_harness import run_sipp
from tests.integration.test_site_inprocess import wait_for
from vcc.config import load_config
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys

pytestmark = pytest.mark.integration


def test_a_phone_callers_ivr_choice_reaches_the_router_as_skills_and_priority(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    path = e2e_cluster_file(tmp_path)
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    nodes = raw["tenants"][0]["flows"][0]["nodes"]
    nodes["menu"]["options"]["2"] = "billing"
    nodes["billing"] = {"type": "set", "priority_delta": 2, "skills": {"billing": 5}, "next": "general"}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    seen: list[tuple[str, int, dict[str, int], int]] = []

    async def scenario() -> None:
        web = await WebSite(path, "dev", coord_keys.cluster, etcd, tmp_path).start()
        site, gateway = web.site, web.gateway
        assert gateway is not None
        try:
            await gateway.start_sip(load_config(path).sip, "127.0.0.1", 0, "127.0.0.1", 1, site.address)
            port = gateway.sip.port  # type: ignore[union-attr]
            # the caller presses 2 after 3 s and hangs up 3 s later: the call waits in between
            call = asyncio.create_task(run_sipp(tmp_path, "uac_ivr.xml", port))

            def queued() -> bool:
                for cid, placed in site.controller.contacts.items():
                    if placed.state == "queued" and placed.shard is not None:
                        c = site.shard_objects[placed.shard].router.contacts[cid]
                        seen.append((c.queue or "", c.priority, dict(c.skills), placed.record.priority))
                        return True
                return False

            await wait_for(queued, 20.0)
            run = await call
            assert run.returncode == 0, run.explain()
        finally:
            await web.stop()

    asyncio.run(scenario())
    [(queue, priority, skills, record_priority)] = seen
    assert (queue, skills) == ("demo-general", {"billing": 5}), seen
    assert priority == record_priority == 2, seen  # demo-general's base priority is 0
