"""The web front door over HTTP and WebSockets (aiohttp client, no browser): login and signed
sessions, an agent's presence, a web chat from a widget to an agent and back with the screen pop
(and the customer's earlier contacts), hold/resume and transfer events, wrap-up with disposition,
bad input answered with one line, all through a real in-process site (etcd, gRPC, shards)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.webharness import WebSite
from tests.integration.site_harness import ROOT
from vcc.client.contacts import SiteClient, submission
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys
from vcc.proto.v1 import site_pb2 as pb

pytestmark = pytest.mark.integration


class Page:
    """A WebSocket as a page holds it: every message kept, requests answered by ``req``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.req = 0
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.seen.append(msg.json())

    async def wait(self, pred: Any, timeout_s: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for m in self.seen:
                if pred(m):
                    return m
            await asyncio.sleep(0.05)
        raise AssertionError(f"no such message; saw {self.seen[-8:]}")

    async def do(self, op: str, **fields: Any) -> dict[str, Any]:
        self.req += 1
        req = self.req
        await self.ws.send_json({"op": op, "req": req, **fields})
        return await self.wait(lambda m: m.get("type") == "result" and m.get("req") == req)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def agent_page(http: aiohttp.ClientSession, url: str, agent: str) -> Page:
    r = await http.post(f"{url}/api/login", json={"agent_id": agent, "password": f"demo-{agent}"})
    assert r.status == 200, await r.text()
    page = Page(await http.ws_connect(f"{url.replace('http', 'ws')}/ws/agent"))
    await page.wait(lambda m: m.get("type") == "hello")
    return page


def test_web_chat_from_widget_to_agent_and_back(etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path) -> None:
    async def scenario() -> None:
        web = await WebSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd, tmp_path).start()
        client = SiteClient(web.site.address)
        jar1, jar2 = aiohttp.CookieJar(unsafe=True), aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar1) as http1, aiohttp.ClientSession(cookie_jar=jar2) as http2, \
                aiohttp.ClientSession() as anon:
            try:
                # bad input: one line each, the server keeps serving
                r = await anon.post(f"{web.url}/api/login", json={"agent_id": "dev-01", "password": "nope"})
                assert r.status == 401 and "wrong password" in (await r.json())["error"]
                r = await anon.post(f"{web.url}/api/login", data="not json")
                assert r.status == 400
                assert (await anon.get(f"{web.url}/w/no-such-widget")).status == 404
                assert (await anon.get(f"{web.url}/ws/agent")).status == 401  # no session
                forged = aiohttp.ClientSession(cookies={"vcc_session": "dev-01.9999999999.forged"})
                assert (await forged.get(f"{web.url}/api/session")).status == 401
                await forged.close()

                # the customer's earlier SMS: history by caller identity
                await client.submit([submission("old-sms", "sms", "+15555550001", "+4930999")])
                for _ in range(50):  # the customer gave up on it
                    if (await client.stub.Abandon(pb.AbandonRequest(contact_ids=["old-sms"]))).abandoned:
                        break
                    await asyncio.sleep(0.1)

                a1 = await agent_page(http1, web.url, "dev-01")
                a2 = await agent_page(http2, web.url, "dev-02")
                hello = next(m for m in a1.seen if m["type"] == "hello")
                assert "demo-chat" in hello["queues"] and "dev-02" in hello["agents"]
                bad = await a1.do("not_ready", reason_code="lunch")
                assert bad["ok"] and bad["state"] == "not_ready"
                await a1.ws.send_str("{not json")
                await a1.wait(lambda m: m.get("type") == "error" and "JSON" in m["error"])
                assert (await a1.do("fly"))["error"] == "unknown op 'fly'"

                caller = Page(await anon.ws_connect(f"{web.url.replace('http', 'ws')}/ws/call/demo-chat"))
                await caller.ws.send_json({"op": "chat", "caller_id": "+4930999", "text": "hello, my order?"})
                contact = await caller.wait(lambda m: m.get("type") == "contact")
                cid = contact["contact_id"]
                await caller.wait(lambda m: m.get("type") == "position" and m["position"] == 1)

                assert (await a1.do("ready"))["ok"]
                offer = await a1.wait(lambda m: m.get("type") == "offer")
                assert offer["contact_id"] == cid and offer["caller_id"] == "+4930999"
                assert offer["tenant"] == "demo" and offer["queue"] == "demo-chat" and offer["channel"] == "chat"
                assert [h["contact_id"] for h in offer["history"]] == ["old-sms"], offer["history"]
                assert (await a1.do("accept", contact_id=cid))["ok"]
                await caller.wait(lambda m: m.get("type") == "state" and m["state"] == "connected")

                await caller.ws.send_json({"op": "message", "text": "where is it?"})
                note = await a1.wait(lambda m: m.get("type") == "notice" and m["kind"] == "message"
                                     and m["data"]["text"] == "where is it?")
                assert note["contact_id"] == cid
                assert (await a1.do("chat", contact_id=cid, text="on its way"))["ok"]
                await caller.wait(lambda m: m.get("type") == "message" and m["text"] == "on its way")
                assert not (await a1.do("chat", contact_id=cid, text=""))["ok"]
                assert not (await a2.do("chat", contact_id=cid, text="not mine"))["ok"]  # not offered to dev-02

                assert (await a1.do("hold", contact_id=cid))["ok"]
                assert (await a1.do("resume", contact_id=cid))["ok"]
                assert (await a2.do("ready"))["ok"]
                moved = await a1.do("transfer", contact_id=cid, agent_id="dev-02")
                assert moved["ok"], moved
                offer2 = await a2.wait(lambda m: m.get("type") == "offer" and m["contact_id"] == cid)
                assert offer2["history"][0]["contact_id"] == "old-sms"
                assert (await a1.do("wrap_up", contact_id=cid, disposition="escalated", notes="to billing"))["ok"]
                assert (await a2.do("accept", contact_id=cid))["ok"]
                assert (await a2.do("end_chat", contact_id=cid))["ok"]
                assert (await a2.do("wrap_up", contact_id=cid, disposition="resolved", notes="sent tracking"))["ok"]
                await caller.wait(lambda m: m.get("type") == "state" and m["state"] == "completed")
                await caller.close()
                assert (await a1.do("logout"))["ok"]
                await a1.close()
                await a2.close()
                await asyncio.sleep(0.3)
            finally:
                await client.close()
                await web.stop()
        events = [e for e in web.site.events() if e.get("contact_id") == cid]
        arrived = events[0]
        assert arrived["state"] == "arrived" and arrived["data"]["caller_id"] == "+4930999"
        reasons = [(e["state"], e.get("reason")) for e in events]
        for expected in [("connected", "hold"), ("connected", "resume"), ("transferred", None),
                         ("completed", None)]:
            assert expected in reasons, reasons
        lines = [(e["data"]["from"], e["data"]["text"]) for e in events if e.get("reason") == "message"]
        assert lines == [("caller", "hello, my order?"), ("caller", "where is it?"), ("agent", "on its way")]
        dispositions = [e["data"]["disposition"] for e in events if e.get("reason") == "disposition"]
        assert dispositions == ["escalated", "resolved"]
        assert web.door.errors == 0

    asyncio.run(scenario())


def test_two_chats_at_once_and_an_attended_transfer(etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        web = await WebSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd, tmp_path).start()
        jar1, jar2 = aiohttp.CookieJar(unsafe=True), aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar1) as http1, aiohttp.ClientSession(cookie_jar=jar2) as http2, \
                aiohttp.ClientSession() as anon:
            try:
                a1 = await agent_page(http1, web.url, "dev-01")
                a2 = await agent_page(http2, web.url, "dev-02")
                callers, cids = [], []
                for n in range(2):
                    c = Page(await anon.ws_connect(f"{web.url.replace('http', 'ws')}/ws/call/demo-chat"))
                    await c.ws.send_json({"op": "chat", "caller_id": f"+49301{n}"})
                    cids.append((await c.wait(lambda m: m.get("type") == "contact"))["contact_id"])
                    callers.append(c)
                assert (await a1.do("ready"))["ok"]
                for cid in cids:  # two chats in hand at once (chat capacity 3)
                    await a1.wait(lambda m, cid=cid: m.get("type") == "offer" and m["contact_id"] == cid)
                    assert (await a1.do("accept", contact_id=cid))["ok"]
                for c in callers:
                    await c.wait(lambda m: m.get("type") == "state" and m["state"] == "connected")
                assert (await a2.do("ready"))["ok"]
                first = cids[0]
                started = await a1.do("consult", contact_id=first, agent_id="dev-02", step="start")
                assert started["ok"], started
                ask = await a2.wait(lambda m: m.get("type") == "notice" and m["kind"] == "consult")
                assert ask["contact_id"] == first and ask["data"]["from_agent"] == "dev-01"
                assert (await a1.do("consult", contact_id=first, agent_id="dev-02", step="cancel"))["ok"]
                await a2.wait(lambda m: m.get("type") == "notice" and m["kind"] == "consult_cancelled")
                assert not (await a1.do("consult", contact_id=first, agent_id="dev-02", step="sideways"))["ok"]
                assert not (await a1.do("consult", contact_id=first, agent_id="nobody", step="start"))["ok"]
                assert (await a1.do("consult", contact_id=first, agent_id="dev-02", step="start"))["ok"]
                assert (await a1.do("consult", contact_id=first, agent_id="dev-02", step="complete"))["ok"]
                offer = await a2.wait(lambda m: m.get("type") == "offer" and m["contact_id"] == first)
                assert offer["consult_from"] == "dev-01"  # the desk takes it on its own
                await a2.wait(lambda m: m.get("type") == "result" and m.get("op") == "accept" and m["ok"])
                assert (await a2.do("chat", contact_id=first, text="I have your case now"))["ok"]
                await callers[0].wait(lambda m: m.get("type") == "message" and "your case" in m["text"])
                assert (await a1.do("chat", contact_id=cids[1], text="still here"))["ok"]  # the other chat
                await callers[1].wait(lambda m: m.get("type") == "message" and m["text"] == "still here")
                for c in callers:
                    await c.close()
                await a1.close()
                await a2.close()
                await asyncio.sleep(0.3)
            finally:
                await web.stop()
        reasons = [e.get("reason") for e in web.site.events() if e.get("contact_id") == cids[0]]
        return [r for r in reasons if r and r.startswith("consult")]

    assert asyncio.run(scenario()) == ["consult_start", "consult_cancel", "consult_start", "consult_complete"]
