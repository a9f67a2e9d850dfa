"""A call whose media cannot start leaves nothing open, in real headless Chromium through the site's
front door and media gateway:

- the customer's page: the gateway refuses its offer (here an SDP with no audio, as a browser with
  nothing the gateway can take would send). The page says why, turns the microphone off, closes the
  peer connection and lets the customer call again; the site ends the contact (it used to wait in the
  IVR for ever, for media that never came, while the page sat on "calling" with the microphone on);
- the agent's desk: an offered voice contact with no call to join (a phone contact with no media at
  this gateway). The desk keeps the call box to hang up with, and turns the microphone off (it stayed
  on until the page was closed).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from tests.e2e.browsers import Browsers, log_in, until
from tests.e2e.webharness import WebSite, e2e_cluster_file
from tests.integration.test_site_inprocess import wait_for
from vcc.client.contacts import SiteClient, submission
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys

pytestmark = pytest.mark.integration

#: records every microphone stream and peer connection the page opens
TRACK_MEDIA = """() => {
  const t = window.__media = { streams: [], pcs: [] };
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => { const s = await gum(c); t.streams.push(s); return s; };
  const Pc = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Pc { constructor(...a) { super(...a); t.pcs.push(this); } };
}"""
MIC_LIVE = "window.__media.streams.some(s => s.getTracks().some(t => t.readyState === 'live'))"
PCS_OPEN = "window.__media.pcs.some(pc => pc.signalingState !== 'closed')"
#: the call request carries an SDP with no audio section
BREAK_OFFER = """() => {
  const send = WebSocket.prototype.send;
  window.__restore = () => { WebSocket.prototype.send = send; };
  WebSocket.prototype.send = function (data) {
    const m = JSON.parse(data);
    if (m.op === "call") m.sdp = "v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n";
    return send.call(this, JSON.stringify(m));
  };
}"""


async def media_state(page: Page) -> dict[str, Any]:
    return {"mic_live": await page.evaluate(MIC_LIVE), "pcs_open": await page.evaluate(PCS_OPEN),
            "mics": await page.evaluate("window.__media.streams.length")}


def test_a_call_whose_media_cannot_start_leaves_nothing_open(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        web = await WebSite(e2e_cluster_file(tmp_path), "dev", coord_keys.cluster, etcd, tmp_path).start()
        client = SiteClient(web.site.address)
        try:
            async with Browsers(tmp_path) as browsers:
                caller = await browsers.open("caller", f"{web.url}/w/demo-web-call", 440.0)
                await caller.evaluate(TRACK_MEDIA)
                await caller.evaluate(BREAK_OFFER)
                await caller.fill("#caller-id", "+4930777")
                await caller.click("#call")
                await until(caller, "window.vcc.errors.length > 0", 30)
                await until(caller, "!document.getElementById('call').disabled")
                seen["caller_error"] = await caller.evaluate("window.vcc.errors[0]")
                seen["caller_failed"] = await media_state(caller)
                first = await caller.evaluate("window.vcc.voice.contactId")
                seen["first"] = first
                await wait_for(lambda: any(e.get("contact_id") == first and e.get("state") in ("abandoned", "failed")
                                           for e in web.site.events()), 15.0)  # fmt: skip
                await caller.evaluate("window.__restore()")  # the customer calls again: it works
                await caller.click("#call")
                await until(caller, "window.vcc.voice.media.some(e => e.kind === 'prompt')", 30)
                seen["second"] = await caller.evaluate("window.vcc.voice.contactId")
                seen["caller_second"] = await media_state(caller)

                [result] = await client.submit([submission("nm-1", "voice", "+15555550000", "+4930111", dtmf="2")])
                assert result.accepted, result
                agent = await browsers.open("agent", f"{web.url}/agent", 1000.0)
                await agent.evaluate(TRACK_MEDIA)
                await log_in(agent, "dev-01", "demo-dev-01")
                await agent.click("#ready")
                await until(agent, "window.vcc.offers.some(o => o.contact_id === 'nm-1')", 30)
                await agent.click("#accept")
                await until(agent, "window.vcc.call && window.vcc.call.id === 'nm-1'")
                await until(agent, "window.__media.streams.length > 0")
                await until(agent, f"!({MIC_LIVE})")
                seen["agent_status"] = await agent.text_content("#call-status")
                seen["agent_failed"] = await media_state(agent)
                seen["agent_call_box"] = await agent.is_visible("#call-box")
                await agent.click("#hangup")
                await until(agent, "window.vcc.wrapping.includes('nm-1')")
        finally:
            await client.close()
            await web.stop()
        seen["ends"] = {cid: [e["state"] for e in web.site.events() if e.get("contact_id") == cid
                              and e.get("state") in ("completed", "abandoned", "failed")]
                        for cid in (seen.get("first"), "nm-1")}  # fmt: skip

    asyncio.run(scenario())
    assert seen["caller_error"].startswith("call failed:") and "audio" in seen["caller_error"], seen
    assert seen["caller_failed"] == {"mic_live": False, "pcs_open": False, "mics": 1}, seen
    assert seen["first"] and seen["second"] and seen["second"] != seen["first"], seen
    assert seen["caller_second"] == {"mic_live": True, "pcs_open": True, "mics": 2}, seen
    assert seen["ends"][seen["first"]] == ["abandoned"], seen  # ended once, not left in the IVR
    assert seen["agent_status"].startswith("no audio:") and seen["agent_call_box"] is True, seen
    assert seen["agent_failed"] == {"mic_live": False, "pcs_open": False, "mics": 1}, seen
    assert seen["ends"]["nm-1"] == ["completed"], seen
