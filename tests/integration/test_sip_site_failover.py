"""A phone call live at a site that dies: three real sites (``vcc up`` of cluster/three-sites.yaml on
free ports); SIPp calls site A's SIP port and the call is in A's IVR/queue, listed in A's live calls
in etcd; A's processes are killed by PID (``launcher.kill_site``); the survivor that adopts A records
the SIP call as ``failed`` with reason ``site_lost:A``: its media was anchored on A's gateway and died
with it, as docs/architecture.md says of every live voice call."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_sip_site_e2e import contact_events, sip_cluster_file, wait_for
from tests.integration.sip_harness import run_sipp
from tests.integration.test_three_sites_failover import all_events
from vcc.config import load_config
from vcc.coord.client import EtcdClient
from vcc.coord.keys import CoordKeys
from vcc.runtime import launcher

pytestmark = pytest.mark.integration


def test_a_live_sip_call_at_a_killed_site_is_failed_by_the_adopter(tmp_path: Path) -> None:
    path = sip_cluster_file(tmp_path, "cluster/three-sites.yaml", sites=3)
    config = load_config(path)
    run_dir = tmp_path / "run"
    state = launcher.up(config, path, run_dir, log=lambda m: None)
    try:
        assert all(rec.sip for rec in state.sites.values()), state.sites  # every site listens for SIP
        number = next(e.address for t in config.tenants for e in t.entry_points
                      if e.channel.value == "voice" and e.address.startswith("+"))  # fmt: skip
        site_a = next(s for s in config.sites if s.id == "A")
        cid, killed_at = asyncio.run(_call_then_kill(config.name, site_a, number, run_dir, tmp_path))
        failed = [e for e in contact_events(run_dir, cid) if e["state"] == "failed"]
        assert len(failed) == 1, contact_events(run_dir, cid)
        assert failed[0]["reason"] == "site_lost:A" and failed[0]["site"] in ("B", "C"), failed
        adopted = [e for e in all_events(run_dir) if e.get("kind") == "site" and e["event"] == "adopted"
                   and e["data"]["dead_site"] == "A"]  # fmt: skip
        assert len(adopted) == 1 and adopted[0]["site"] == failed[0]["site"], adopted
        assert adopted[0]["data"]["failed_live_calls"] >= 1, adopted
        print(f"MEASURE kill A -> SIP call failed by {failed[0]['site']}: {failed[0]['ts'] - killed_at:.2f} s")
    finally:
        launcher.down(run_dir, log=lambda m: None)


async def _call_then_kill(cluster: str, site_a: Any, number: str, run_dir: Path,
                          tmp_path: Path) -> tuple[str, float]:  # fmt: skip
    sip_port, etcd_port = site_a.port("sip"), site_a.port("etcd_client")
    sipp = asyncio.create_task(run_sipp(tmp_path, "uac_site_call.xml", sip_port, extra=["-rtp_echo"],
                                        fields=[number, "3000", "3000"], timeout_s=120.0))  # fmt: skip
    try:
        def arrived() -> str | None:
            if sipp.done():
                raise AssertionError(sipp.result().explain())
            return next((str(e["contact_id"]) for e in all_events(run_dir) if e.get("kind") == "contact"
                         and e["state"] == "arrived" and e["site"] == "A"
                         and (e.get("data") or {}).get("origin") == "sip"), None)  # fmt: skip

        cid = await wait_for("the SIP call to arrive at site A", arrived, 60.0)
        key = CoordKeys(cluster).live_call("A", cid)
        async with EtcdClient("127.0.0.1", etcd_port) as etcd:
            async def listed() -> bool:
                kv = await etcd.get(key)
                return kv is not None and json.loads(kv.value)["contact_id"] == cid

            deadline = time.monotonic() + 30
            while not await listed():
                assert time.monotonic() < deadline, f"site A never listed {cid} among its live calls"
                await asyncio.sleep(0.2)
        assert not [e for e in contact_events(run_dir, cid) if e["state"] in ("completed", "failed", "abandoned")]
        killed_at = time.time()
        launcher.kill_site(run_dir, "A")
        await wait_for("the adopter to fail the SIP call",
                       lambda: any(e["state"] == "failed" for e in contact_events(run_dir, cid)), 60.0)  # fmt: skip
        return cid, killed_at
    finally:
        sipp.cancel()  # its call died with site A: SIPp is stopped by its process group
        await asyncio.gather(sipp, return_exceptions=True)
