"""One customer's WebSocket from a tenant widget page: a click-to-call or a web chat.

Page -> door: ``{"op": "call", "caller_id", "sdp"}`` (the caller leg's SDP offer; answered with
``{"type": "answer", "contact_id", "sdp"}``), ``{"op": "chat", "caller_id", "text"?}`` (answered
with ``{"type": "contact", ...}``), ``{"op": "message", "text"}``, ``{"op": "hangup"}``.

Door -> page: ``state`` (the contact's state and reason), ``position`` (place in line, expected
wait: polled from the site once a second while waiting), ``message`` (a chat line from the agent),
``media`` (what the gateway reports: prompts, announcements, keys heard, hold), ``error``.

The contact id is chosen here, so the page's event watch starts before the contact is submitted.
A voice contact is submitted with ``ivr_at_gateway``: the media gateway plays the flow to the
caller's audio and the front door reports its outcome to the site.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import web

from vcc.proto.v1 import site_pb2 as pb

if TYPE_CHECKING:
    from vcc.web.frontdoor import FrontDoor

log = logging.getLogger(__name__)
ENDED = ("completed", "abandoned", "failed")
MAX_CALLER_ID = 64
SUBMIT_PATIENCE_S = 30.0  # how long the page keeps trying a site that says to retry (fenced, no etcd leader)


class CallerLine:
    def __init__(self, door: FrontDoor, ws: web.WebSocketResponse, widget: dict[str, Any]) -> None:
        self.door = door
        self.ws = ws
        self.widget = widget
        self.contact_id = ""
        self.channel = ""
        self.state = ""
        self._tasks: list[asyncio.Task[Any]] = []
        self._closed = False

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_json(message)

    async def run(self, messages: AsyncIterator[dict[str, Any]]) -> None:
        async for msg in messages:
            try:
                await self._handle(msg)
            except grpc.aio.AioRpcError as e:
                await self.send({"type": "error", "error": f"site {self.door.settings.site}: {e.details()}"})
            except Exception as e:  # a gateway's MediaError: one line for the page
                await self.send({"type": "error", "error": str(e).splitlines()[0] if str(e) else type(e).__name__})

    async def _handle(self, m: dict[str, Any]) -> None:
        op = m.get("op")
        if op in ("call", "chat"):
            if self.contact_id:
                await self.send({"type": "error", "error": "this page already has a contact: hang up first"})
                return
            await self._start(str(op), str(m.get("caller_id") or "")[:MAX_CALLER_ID], m)
        elif op == "message":
            if not self.contact_id:
                await self.send({"type": "error", "error": "start a chat first"})
                return
            reply = await self.door.site_api().ContactNote(pb.ContactNoteRequest(
                contact_id=self.contact_id, reason="message", data={"text": str(m.get("text", ""))}), timeout=5.0)
            if not reply.ok:
                await self.send({"type": "error", "error": reply.error})
        elif op == "hangup":
            await self.hang_up()
        else:
            await self.send({"type": "error", "error": f"unknown op {op!r}"})

    async def _submit(self, sub: pb.ContactSubmission, patience_s: float = SUBMIT_PATIENCE_S) -> pb.SubmitResult:
        """Submit the contact, retrying (same id: idempotent) while the site says to try again: it is
        fenced for a moment or etcd is electing a leader, as right after another site was lost. A
        customer on the page sees "connecting" rather than an error they would have to act on."""
        deadline = time.monotonic() + patience_s
        while True:
            reply = await self.door.site_api().SubmitContacts(pb.SubmitContactsRequest(contacts=[sub]), timeout=5.0)
            result = reply.results[0]
            retryable = not result.accepted and ("fenced" in result.error or "retry" in result.error)
            if not retryable or time.monotonic() >= deadline:
                return result
            await self.send({"type": "status", "text": "connecting..."})
            await asyncio.sleep(0.5)

    async def _start(self, op: str, caller_id: str, m: dict[str, Any]) -> None:
        channel = "voice" if op == "call" else "chat"
        widget = self.widget.get(channel)
        if not widget:
            await self.send({"type": "error", "error": f"tenant {self.widget['tenant']} takes no web {channel} here"})
            return
        entry = self.door.center.entry_points[widget]
        cid = uuid.uuid4().hex
        self.contact_id, self.channel = cid, channel
        self.door.callers[cid] = self
        self._spawn(self._watch(cid))
        sub = pb.ContactSubmission(contact_id=cid, channel=pb.VOICE if channel == "voice" else pb.CHAT,
                                   entry_point=widget, caller_id=caller_id, ivr_at_gateway=channel == "voice",
                                   data={"origin": "web"})
        result = await self._submit(sub)
        if not result.accepted:
            self.door.callers.pop(cid, None)
            self.contact_id = ""
            await self.send({"type": "error", "error": result.error})
            return
        await self.send({"type": "contact", "contact_id": cid, "channel": channel, "tenant": entry.tenant,
                         "site": result.site})
        self._spawn(self._positions(cid))
        if channel == "voice":
            try:
                answer = await self.door.gateway_for(cid).call(
                    "caller_offer", cid, entry.tenant, entry.flow, caller_id, str(m.get("sdp", "")), entry.queue)
            except Exception:  # no media: the contact must not wait in the IVR for ever (the page says why)
                await self.hang_up()
                self.contact_id = ""
                raise
            await self.send({"type": "answer", "contact_id": cid, "sdp": answer})
        elif m.get("text"):
            await self._handle({"op": "message", "text": m["text"]})

    async def _watch(self, cid: str) -> None:
        call = self.door.site_api().WatchEvents(pb.WatchEventsRequest(contact_id=cid))
        try:
            async for ev in call:
                e = _json(ev.json)
                if e.get("kind") != "contact":
                    continue
                if e.get("reason") == "message":
                    data = e.get("data") or {}
                    if data.get("from") == "agent":
                        await self.send({"type": "message", "from": "agent", "text": data.get("text", "")})
                    continue
                self.state = str(e.get("state", ""))
                await self.send({"type": "state", "state": self.state, "reason": e.get("reason") or "",
                                 "queue": e.get("queue") or ""})
                if self.state in ENDED:
                    return
        except grpc.aio.AioRpcError as e:
            await self.send({"type": "error", "error": f"lost the site ({e.code().name})"})

    async def _positions(self, cid: str) -> None:
        while self.state not in ENDED:
            with contextlib.suppress(grpc.aio.AioRpcError):
                p = await self.door.site_api().GetPosition(pb.PositionRequest(contact_id=cid), timeout=2.0)
                if p.state == "queued":
                    await self.send({"type": "position", "position": p.position,
                                     "ewt_s": None if p.ewt_s < 0 else round(p.ewt_s, 1),
                                     "waited_s": round(p.waited_s, 1)})
            await asyncio.sleep(1.0)

    async def media_event(self, e: dict[str, Any]) -> None:
        await self.send({"type": "media", "event": e})

    async def hang_up(self) -> None:
        cid = self.contact_id
        if not cid or self.state in ENDED:
            return
        if self.channel == "voice":
            with contextlib.suppress(Exception):
                await self.door.gateway_for(cid).call("hangup", cid, "caller_hangup")
        with contextlib.suppress(grpc.aio.AioRpcError):
            await self.door.site_api().Abandon(pb.AbandonRequest(contact_ids=[cid]), timeout=5.0)

    def _spawn(self, coro: Any) -> None:
        self._tasks.append(self.door.spawn(coro))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.hang_up()
        for task in self._tasks:
            task.cancel()
        self.door.callers.pop(self.contact_id, None)
        if not self.ws.closed:
            await self.ws.close()


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
