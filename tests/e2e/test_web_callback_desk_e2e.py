"""An agent works a booked callback from the browser desk (real headless Chromium, through the site's
front door): the customer booked it in the IVR and hung up, so there is no live call to join. The
desk shows the number to call back instead of starting the softphone; the agent hangs up there
when done, which completes the contact and opens the wrap-up. (Before, accepting a callback tried
to join a call that did not exist: the error was thrown away, no call box opened, and the agent
held a contact the page had no button to finish.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.browsers import Browsers, log_in, until
from tests.e2e.webharness import WebSite, e2e_cluster_file
from tests.integration.test_site_inprocess import wait_for
from vcc.client.contacts import SiteClient, submission
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys

pytestmark = pytest.mark.integration


def test_an_agent_calls_a_booked_callback_back_from_the_desk(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    seen: dict[str, object] = {}

    async def scenario() -> None:
        web = await WebSite(e2e_cluster_file(tmp_path), "dev", coord_keys.cluster, etcd, tmp_path).start()
        client = SiteClient(web.site.address)
        try:
            await asyncio.sleep(1.0)  # the site has measured its load: nobody staffed, the wait is long
            # support (1), account 12345, then 1 at the callback offer; the caller then hangs up
            [result] = await client.submit([submission("cb-desk", "voice", "+15555550000", "+4930999",
                                                       dtmf="1 12345# 1")])  # fmt: skip
            assert result.accepted, result
            store = web.site.controller.store

            async def booked() -> bool:
                stored = await store.get("cb-desk")
                return stored is not None and stored.contact.data.get("callback") == "booked"

            for _ in range(100):
                if await booked():
                    break
                await asyncio.sleep(0.1)
            async with Browsers(tmp_path) as browsers:
                agent = await browsers.open("agent", f"{web.url}/agent")
                await log_in(agent, "dev-01", "demo-dev-01")
                await agent.click("#ready")
                await until(agent, "window.vcc.offers.some(o => o.contact_id === 'cb-desk')", 30)
                seen["pop"] = await agent.text_content("#pop-ivr")
                await agent.click("#accept")
                await until(agent, "window.vcc.call && window.vcc.call.callback")
                seen["status"] = await agent.text_content("#call-status")
                seen["call_box"] = await agent.is_visible("#call-box")
                await agent.click("#hangup")
                await until(agent, "window.vcc.wrapping.includes('cb-desk')")
                await agent.click("#wrap-done")
                await wait_for(lambda: any(e.get("contact_id") == "cb-desk" and e.get("state") == "completed"
                                           for e in web.site.events()), 15.0)  # fmt: skip
                seen["errors"] = await agent.evaluate("window.vcc.errors")
        finally:
            await client.close()
            await web.stop()
        journey = [e["state"] for e in web.site.events() if e.get("contact_id") == "cb-desk"
                   and e.get("kind") == "contact" and e["state"] != e.get("prev_state")]  # fmt: skip
        seen["journey"] = journey

    asyncio.run(scenario())
    assert "callback=booked" in str(seen["pop"]), seen
    assert seen["status"] == "call the customer back on +4930999, then hang up here", seen
    assert seen["call_box"] is True and seen["errors"] == [], seen
    journey = seen["journey"]
    assert isinstance(journey, list) and "callback_requested" in journey, seen
    assert journey[-3:] == ["connected", "wrap_up", "completed"], seen
