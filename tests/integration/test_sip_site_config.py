"""A new config version reaches the SIP listener without a restart: a site in this process (real
controller, etcd, gRPC, front door) with a real media gateway running SIP and submitting calls to the
site; SIPp
dials a number the config does not have (404); ``vcc config apply`` adds it, and the next call goes
through the IVR into the queue as a contact of the site; a version whose trunk no longer allows
127.0.0.1 gets the next call refused (403), while the listener keeps its port."""

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
from vcc.runtime.launcher import apply_config

pytestmark = pytest.mark.integration
NEW_NUMBER = "+15555550009"


def test_config_apply_reaches_the_sip_listener(etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path) -> None:
    path = e2e_cluster_file(tmp_path)  # dev.yaml open around the clock, with its local-pbx trunk
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    raw["tenants"][0]["entry_points"].append({"address": NEW_NUMBER, "channel": "voice", "flow": "demo-main"})
    with_number = yaml.safe_dump(raw, sort_keys=False)
    raw["sip"]["trunks"] = [{"id": "carrier", "allow": ["192.0.2.0/24"]}]
    no_loopback = yaml.safe_dump(raw, sort_keys=False)

    async def scenario() -> None:
        web = await WebSite(path, "dev", coord_keys.cluster, etcd, tmp_path).start()  # site, gateway, front door
        site, gateway = web.site, web.gateway
        assert gateway is not None
        try:
            await gateway.start_sip(load_config(path).sip, "127.0.0.1", 0, "127.0.0.1", 1, site.address)
            port = gateway.sip.port  # type: ignore[union-attr]
            before = await run_sipp(tmp_path, "uac_ivr.xml", port, fields=[NEW_NUMBER, "3000", "3000"], timeout_s=20)
            assert before.returncode != 0 and "SIP/2.0 404" in before.explain(), before.explain()

            version = await apply_config(coord_keys.cluster, with_number, [etcd.endpoint("b")])
            await wait_for(lambda: site.controller.config_version == version)
            after = await run_sipp(tmp_path, "uac_ivr.xml", port, fields=[NEW_NUMBER, "3000", "3000"])
            assert after.returncode == 0, after.explain()

            def journey() -> list[str]:
                mine = [e for e in site.events() if e.get("kind") == "contact"
                        and (e.get("data") or {}).get("entry_point") == NEW_NUMBER]  # fmt: skip
                cids = {e["contact_id"] for e in mine}
                return [e["state"] for e in site.events() if e.get("kind") == "contact" and e["contact_id"] in cids]

            await wait_for(lambda: "queued" in journey())
            assert journey()[:3] == ["arrived", "ivr", "queued"], journey()

            version = await apply_config(coord_keys.cluster, no_loopback, [etcd.endpoint("b")])
            await wait_for(lambda: site.controller.config_version == version)
            refused = await run_sipp(tmp_path, "uac_refused.xml", port, fields=[NEW_NUMBER, "3000", "3000"])
            assert refused.returncode == 0, refused.explain()  # the scenario expects the 403
            status = gateway.sip.status()  # type: ignore[union-attr]
            assert (status["port"], status["answered"], status["refused"]) == (port, 1, 1), status
        finally:
            await web.stop()

    asyncio.run(scenario())
