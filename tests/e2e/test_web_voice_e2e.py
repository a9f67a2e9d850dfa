"""A web call in real headless Chromium, through the site's front door and media gateway: the
customer (fake microphone: a 440 Hz tone) calls from the tenant's widget page, hears the IVR, presses
2, waits in queue and hears the announcements; agent A (1000 Hz) sees the screen pop and accepts;
each side hears the other's tone; mute takes A's audio away from the caller and unmute brings it
back; hold silences the agent for the caller; a blind transfer to agent C (1600 Hz) moves the caller
without dropping the call; C consults A (attended transfer): the caller hears music while the two
agents hear each other, then C completes and the caller hears A again; A hangs up; the recording
holds the caller on the left and both agents on the right; the events show the whole journey."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from tests.e2e.audio import channel_peaks_hz, heard_hz, hears_music, stops_hearing
from tests.e2e.browsers import Browsers, log_in, until
from tests.e2e.webharness import WebSite, e2e_cluster_file
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys

pytestmark = pytest.mark.integration
CALLER_HZ, AGENT_A_HZ, AGENT_C_HZ = 440.0, 1000.0, 1600.0


async def call_journey(url: str, tmp_path: Path) -> dict[str, Any]:
    """Drive the three browsers through the journey; returns what the pages saw."""
    async with Browsers(tmp_path) as browsers:
        agent_a = await browsers.open("agent-a", f"{url}/agent", AGENT_A_HZ)
        await log_in(agent_a, "dev-01", "demo-dev-01")
        agent_c = await browsers.open("agent-c", f"{url}/agent", AGENT_C_HZ)
        await log_in(agent_c, "dev-02", "demo-dev-02")

        caller = await browsers.open("caller", f"{url}/w/demo-web-call", CALLER_HZ)
        await caller.fill("#caller-id", "+4930555")
        await caller.click("#call")
        cid = await until(caller, "window.vcc.voice.contactId")
        await until(caller, "window.vcc.voice.media.some(e => e.kind === 'prompt' && /press 2/i.test(e.prompt))", 30)
        await caller.click("#key-2")
        await until(caller, "window.vcc.voice.media.some(e => e.kind === 'dtmf' && e.digit === '2')")
        await until(caller, "window.vcc.voice.state === 'queued'")
        await until(caller, "window.vcc.voice.position === 1")
        await until(caller, "window.vcc.voice.media.some(e => e.kind === 'announce')", 30)

        await agent_a.click("#ready")
        await until(agent_a, "window.vcc.offers.length > 0")
        pop = await agent_a.evaluate("window.vcc.offers[0]")
        assert pop["contact_id"] == cid and pop["caller_id"] == "+4930555" and pop["queue"] == "demo-general"
        assert "2" in pop["data"].get("ivr_path", ""), pop["data"]
        assert await agent_a.text_content("#pop-caller") == "+4930555"
        await agent_a.click("#accept")
        await until(agent_a, "window.vcc.call && window.vcc.audio")
        await heard_hz(agent_a, CALLER_HZ)
        await heard_hz(caller, AGENT_A_HZ)

        await agent_a.click("#mute")
        await until(agent_a, "window.vcc.call.muted")
        await stops_hearing(caller, AGENT_A_HZ)
        await heard_hz(agent_a, CALLER_HZ)  # muting is one way: A still hears the caller
        await agent_a.click("#mute")
        await until(agent_a, "!window.vcc.call.muted")
        await heard_hz(caller, AGENT_A_HZ)

        await agent_a.click("#hold")
        await until(agent_a, "window.vcc.call.held")
        await stops_hearing(caller, AGENT_A_HZ)
        await agent_a.click("#resume")
        await heard_hz(caller, AGENT_A_HZ)

        await agent_c.click("#ready")
        await until(agent_c, "window.vcc.state === 'ready'")
        await agent_a.select_option("#transfer-target", "agent:dev-02")
        await agent_a.click("#transfer")
        await until(agent_c, f"window.vcc.offers.some(o => o.contact_id === '{cid}')")
        await agent_c.click("#accept")
        await until(agent_c, "window.vcc.call && window.vcc.audio")
        await heard_hz(caller, AGENT_C_HZ)
        await heard_hz(agent_c, CALLER_HZ)
        await agent_a.click("#wrap-done")
        await until(agent_a, "window.vcc.results.some(r => r.op === 'wrap_up' && r.ok)")

        # attended transfer back to A: C consults A (the caller hears music, the agents each other)
        await until(agent_a, "window.vcc.state === 'ready'")  # after wrap-up A is ready again
        await agent_c.select_option("#consult-agent", "dev-01")
        await agent_c.click("#consult-start")
        await until(agent_a, f"window.vcc.consultRequest && window.vcc.consultRequest.contact_id === '{cid}'")
        await agent_a.click("#consult-join")
        await until(agent_a, "window.vcc.call && window.vcc.call.consulting && window.vcc.audio")
        await stops_hearing(caller, AGENT_C_HZ)
        await hears_music(caller)
        await heard_hz(agent_a, AGENT_C_HZ)
        await heard_hz(agent_c, AGENT_A_HZ)
        await agent_c.click("#consult-complete")
        await until(agent_a, "window.vcc.call && !window.vcc.call.consulting")
        await heard_hz(caller, AGENT_A_HZ)
        await heard_hz(agent_a, CALLER_HZ)
        await agent_c.click("#wrap-done")

        await agent_a.click("#hangup")
        await until(agent_a, "!document.getElementById('wrap-box').classList.contains('hidden')")
        await agent_a.select_option("#disposition", "resolved")
        await agent_a.click("#wrap-done")
        await until(caller, "window.vcc.voice.state === 'completed'")
        pages: list[Page] = [agent_a, agent_c, caller]
        errors = [await p.evaluate("window.vcc.errors") for p in pages]
        assert errors == [[], [], []], errors
        return {"contact_id": cid}


def check_record(events: list[dict[str, Any]], cid: str) -> Path:
    mine = [e for e in events if e.get("contact_id") == cid]
    journey = [(e["state"], e.get("reason")) for e in mine]
    states = [s for s, r in journey if r is None or r in ("transfer",)]
    for step in ["arrived", "ivr", "queued", "offered", "connected", "transferred", "queued", "offered",
                 "connected", "transferred", "offered", "connected"]:  # blind, then attended transfer
        assert step in states, journey
        states = states[states.index(step) + 1:]
    for marker in [("connected", "hold"), ("connected", "resume"), ("connected", "consult_start"),
                   ("connected", "consult_complete")]:
        assert marker in journey, journey
    assert any(s == "completed" for s, _ in journey), journey
    recorded = [e for e in mine if e.get("reason") == "recording"]
    assert recorded, journey
    return Path(recorded[0]["data"]["recording"])


def check_recording(path: Path) -> None:
    left, right = channel_peaks_hz(path)

    def has(peaks: set[int], hz: float) -> bool:
        return any(abs(p - hz) <= 30 for p in peaks)  # 0.5 s windows; codecs and resampling blur a little

    assert has(left, CALLER_HZ) and has(right, AGENT_A_HZ) and has(right, AGENT_C_HZ), (left, right)
    assert not has(left, AGENT_A_HZ) and not has(right, CALLER_HZ), (left, right)


def test_web_call_ivr_queue_accept_hold_transfer_hangup(etcd: EtcdCluster, coord_keys: CoordKeys,
                                                         tmp_path: Path) -> None:
    async def scenario() -> None:
        config = e2e_cluster_file(tmp_path)
        web = await WebSite(config, "dev", coord_keys.cluster, etcd, tmp_path).start()
        try:
            seen = await call_journey(web.url, tmp_path)
            for _ in range(100):  # the recording closes after the call ends; its note follows
                if any(e.get("reason") == "recording" for e in web.site.events()):
                    break
                await asyncio.sleep(0.1)
        finally:
            await web.stop()
        path = check_record(web.site.events(), seen["contact_id"])
        check_recording(path)
        assert web.door.errors == 0

    asyncio.run(scenario())
