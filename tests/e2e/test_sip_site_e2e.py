"""A phone call through a real site started by ``vcc up``: SIPp (a SIP client none of us wrote) dials
the demo tenant's number on the site's SIP port; the site's IVR plays the menu and hears the key 2
(RFC 4733); the contact waits in queue at the controller; an agent in headless Chromium (fake
microphone: a 1 kHz tone) gets the screen pop with the caller's number, accepts, and hears its own
tone come back through the SIP caller (SIPp ``-rtp_echo``: audio both ways, G.711 <-> Opus); the
agent hangs up, so the gateway sends the caller a BYE; the recording holds the caller (the echo) on
the left and the agent on the right, and the site's event log shows the whole journey."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.audio import channel_peaks_hz, heard_hz
from tests.e2e.browsers import Browsers, log_in, until
from tests.integration.cluster_files import make_cluster_file
from tests.integration.sip_harness import free_port_block, run_sipp
from tests.integration.test_three_sites_failover import all_events
from vcc.cli.site_cmd import collect_status
from vcc.config import load_config
from vcc.runtime import launcher

pytestmark = pytest.mark.integration
AGENT_HZ = 1000.0
CALLER_NUMBER = "+33140000099"  # the From of tests/sipp/uac_site_call.xml


def sip_cluster_file(tmp_path: Path, source: str = "cluster/dev.yaml", sites: int = 1) -> Path:
    """The shipped cluster file (with its SIP trunk for 127.0.0.1) on free ports, open around the clock."""
    path = make_cluster_file(tmp_path, source, port_base=free_port_block(count=sites))
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    for tenant in raw["tenants"]:
        tenant["hours"] = {"weekly": {"daily": "24h"}}
    assert raw["sip"]["trunks"], f"{source} ships no SIP trunk"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def contact_events(run_dir: Path, cid: str) -> list[dict[str, Any]]:
    return [e for e in all_events(run_dir) if e.get("kind") == "contact" and e.get("contact_id") == cid]


async def wait_for(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        got = check()
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sip_call_through_a_real_site_ivr_queue_browser_agent_recording(tmp_path: Path) -> None:
    path = sip_cluster_file(tmp_path)
    config = load_config(path)
    site = config.sites[0]
    run_dir = tmp_path / "run"
    state = launcher.up(config, path, run_dir, log=lambda m: None)
    try:
        sip_address = state.sites[site.id].sip
        assert sip_address == f"{site.host}:{site.port('sip')}"
        cid = asyncio.run(_journey(site.http_url, int(sip_address.rsplit(":", 1)[1]), run_dir, tmp_path))
        status = collect_status(config, run_dir)["sites"][0]  # what `vcc status` reports
        assert status["sip"] == sip_address
        sip = next(a["detail"]["sip"] for a in status["actors"] if "detail" in a)
        assert (sip["invites"], sip["answered"], sip["calls"]) == (1, 1, 0), sip
    finally:
        launcher.down(run_dir, log=lambda m: None)
    check_journey(contact_events(run_dir, cid))


async def _journey(url: str, sip_port: int, run_dir: Path, tmp_path: Path) -> str:
    sipp = asyncio.create_task(run_sipp(tmp_path, "uac_site_call.xml", sip_port, extra=["-rtp_echo"],
                                        timeout_s=180.0))  # fmt: skip
    try:
        def queued() -> str | None:
            events = [e for e in all_events(run_dir) if e.get("kind") == "contact"]
            sip = {e["contact_id"] for e in events if (e.get("data") or {}).get("origin") == "sip"}
            if sipp.done():
                raise AssertionError(sipp.result().explain())
            return next((str(e["contact_id"]) for e in events if e["contact_id"] in sip and e["state"] == "queued"),
                        None)  # fmt: skip

        cid = await wait_for("the SIP caller to be queued after the IVR", queued, 90.0)
        async with Browsers(tmp_path) as browsers:
            agent = await browsers.open("agent", f"{url}/agent", AGENT_HZ)
            await log_in(agent, "dev-01", "demo-dev-01")
            await agent.click("#ready")
            await until(agent, "window.vcc.offers.length > 0", 30)
            pop = await agent.evaluate("window.vcc.offers[0]")
            assert (pop["contact_id"], pop["caller_id"], pop["queue"]) == (cid, CALLER_NUMBER, "demo-general"), pop
            assert "2" in pop["data"].get("ivr_path", ""), pop["data"]  # the key pressed at the menu
            await agent.click("#accept")
            await until(agent, "window.vcc.call && window.vcc.audio", 30)
            await heard_hz(agent, AGENT_HZ, timeout_s=30)  # its own tone, back through the SIP caller
            await asyncio.sleep(3.0)  # a few seconds of conversation for the recording (checked below)
            await heard_hz(agent, AGENT_HZ)
            await agent.click("#hangup")
            await until(agent, "!document.getElementById('wrap-box').classList.contains('hidden')")
            await agent.select_option("#disposition", "resolved")
            await agent.click("#wrap-done")
            await until(agent, "window.vcc.results.some(r => r.op === 'wrap_up' && r.ok)")
            assert await agent.evaluate("window.vcc.errors") == []
        result = await asyncio.wait_for(sipp, 60)  # SIPp got the gateway's BYE and answered it
        assert result.returncode == 0, result.explain()
        await wait_for("the recording's note", lambda: any(e.get("reason") == "recording"
                                                          for e in contact_events(run_dir, cid)))  # fmt: skip
        return cid
    finally:
        if not sipp.done():
            sipp.cancel()
            await asyncio.gather(sipp, return_exceptions=True)


def check_journey(mine: list[dict[str, Any]]) -> None:
    journey = [(e["state"], e.get("reason")) for e in mine]
    states = [s for s, _ in journey]
    at = 0
    for step in ["arrived", "ivr", "queued", "offered", "connected", "wrap_up", "completed"]:
        assert step in states[at:], journey
        at = states.index(step, at) + 1
    arrived = next(e for e in mine if e["state"] == "arrived")
    assert arrived["data"].get("origin") == "sip" and arrived["data"].get("trunk") == "local-pbx", arrived
    recording = next(e for e in mine if e.get("reason") == "recording")["data"]["recording"]
    left, right = channel_peaks_hz(Path(recording))
    assert any(abs(p - AGENT_HZ) <= 30 for p in left), (left, right)  # the caller: the agent's tone echoed
    assert any(abs(p - AGENT_HZ) <= 30 for p in right), (left, right)  # the agent
