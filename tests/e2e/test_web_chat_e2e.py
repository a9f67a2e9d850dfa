"""A web chat in real headless Chromium: a customer on the tenant's widget page chats, an agent's
desktop rings with the screen pop, the agent accepts and answers, the customer reads the answer,
the agent ends the chat and wraps up; the event log holds the transcript."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.browsers import Browsers, log_in, until
from tests.e2e.webharness import WebSite
from tests.integration.site_harness import ROOT
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys

pytestmark = pytest.mark.integration


def test_chat_from_caller_page_to_agent_and_back(etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path) -> None:
    async def scenario() -> str:
        web = await WebSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd, tmp_path).start()
        try:
            async with Browsers(tmp_path) as browsers:
                agent = await browsers.open("agent", f"{web.url}/agent")
                await log_in(agent, "dev-01", "demo-dev-01")
                await agent.click("#ready")
                await until(agent, "window.vcc.state === 'ready'")

                caller = await browsers.open("caller", f"{web.url}/w/demo-chat")
                assert await caller.is_visible("#chat-box")
                await caller.fill("#caller-id", "+4930777")
                await caller.click("#chat-start")
                cid = await until(caller, "window.vcc.chat.contactId")
                await caller.fill("#chat-text", "Hello, is my parcel lost?")
                await caller.press("#chat-text", "Enter")

                await until(agent, "window.vcc.offers.length > 0")
                assert await agent.is_visible("#offer-box")
                assert await agent.text_content("#pop-caller") == "+4930777"
                assert await agent.text_content("#pop-queue") == "demo-chat"
                await agent.click("#accept")
                await until(caller, "window.vcc.chat.state === 'connected'")
                await caller.fill("#chat-text", "It was due Monday.")
                await caller.click("#chat-send")
                await until(agent, f"window.vcc.chats['{cid}'] && window.vcc.chats['{cid}'].lines.length >= 1")
                await agent.fill(f"#chat-{cid} input", "It is on its way.")
                await agent.click(f"#chat-{cid} .send")
                await until(caller, "window.vcc.chat.lines.some(l => l.from === 'agent' && /on its way/.test(l.text))")
                await agent.click(f"#chat-{cid} .end")
                await until(agent, "!document.getElementById('wrap-box').classList.contains('hidden')")
                await agent.select_option("#disposition", "resolved")
                await agent.click("#wrap-done")
                await until(caller, "window.vcc.chat.state === 'completed'")
                await until(agent, "window.vcc.state === 'ready'")
                assert not await agent.evaluate("window.vcc.errors"), await agent.evaluate("window.vcc.errors")
            await asyncio.sleep(0.3)
        finally:
            await web.stop()
        events = [e for e in web.site.events() if e.get("contact_id") == cid]
        lines = [(e["data"]["from"], e["data"]["text"]) for e in events if e.get("reason") == "message"]
        # the first line may be sent before the contact's arrival is logged: it is there all the same
        assert ("agent", "It is on its way.") in lines and ("caller", "It was due Monday.") in lines, lines
        assert [e["state"] for e in events if e.get("reason") is None][-1] == "completed"
        assert any(e.get("reason") == "disposition" and e["data"]["disposition"] == "resolved" for e in events)
        return cid

    asyncio.run(scenario())
