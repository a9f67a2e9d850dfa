"""A new config version reaches a running site without a restart; a bad file changes nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.site_harness import ROOT, InProcessSite, dev_agents
from tests.integration.test_site_inprocess import wait_for
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys
from vcc.runtime.launcher import apply_config

pytestmark = pytest.mark.integration


def test_apply_adds_an_entry_point_live(etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "cluster/dev.yaml").read_text())
    raw["tenants"][0]["entry_points"].append({"address": "demo-chat-2", "channel": "chat", "queue": "demo-chat"})
    new_text = yaml.safe_dump(raw, sort_keys=False)

    async def scenario() -> None:
        site = await InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint("a"),
                                   tmp_path).start()
        bots = BotAgentPool(site.address, dev_agents("dev-01", "dev-04"), handle_s=lambda ch: 0.05)
        client = SiteClient(site.address)
        try:
            await bots.start()
            before = await client.submit([submission("n0", "chat", "demo-chat-2", "v")])
            assert not before[0].accepted and "unknown entry point" in before[0].error
            version = await apply_config(coord_keys.cluster, new_text, [etcd.endpoint("b")])
            await wait_for(lambda: site.controller.config_version == version)
            after = await client.submit([submission("n1", "chat", "demo-chat-2", "v")])
            assert after[0].accepted, after[0].error
            await wait_for(lambda: "n1" in bots.stats.handled_ids)
            assert bots.stats.logged_in == {"dev-01", "dev-04"}  # agents stayed logged in across the reload
        finally:
            await bots.stop()
            await client.close()
            await site.stop()
        applied = [e for e in site.events() if e.get("kind") == "site" and e["event"] == "config_applied"]
        assert [e["data"]["version"] for e in applied] == [version]

    asyncio.run(scenario())


def test_apply_refuses_a_bad_file_with_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    raw = yaml.safe_load((ROOT / "cluster/dev.yaml").read_text())
    raw["tenants"][0]["queues"][0]["skills"] = {"klingon": 3}
    bad.write_text(yaml.safe_dump(raw, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "vcc", "config", "apply", str(bad)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "unknown skill 'klingon'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
