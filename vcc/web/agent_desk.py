"""One agent desktop's WebSocket: bridged to one gRPC ``AgentSession`` stream of the site, plus the
agent's legs at the media gateway.

Page -> door: ``{"op": ..., "req": n, ...}`` with ops ``ready``, ``not_ready`` (reason_code),
``logout``, ``accept``/``reject`` (contact_id), ``sdp`` (contact_id, sdp: the agent leg's offer),
``hold``/``resume``, ``transfer`` (queue or agent_id), ``consult`` (agent_id, step start/complete/
cancel), ``consult_join`` (contact_id, sdp: the consulted agent's leg), ``hangup``, ``chat`` (text),
``end_chat``, ``wrap_up`` (disposition, notes). Each is answered ``{"type": "result", "req", "ok",
"error", "state"}`` (plus ``sdp`` for an offer).

Door -> page: ``hello`` (who, what can be chosen), ``state``, ``offer`` (the screen pop, with the
customer's history), ``rescinded``, ``notice`` (chat line, consult request, caller left), ``media``
(what the gateway reports about a call in hand), ``session_ended``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import web

from vcc.proto.v1 import site_pb2 as pb

if TYPE_CHECKING:
    from vcc.web.frontdoor import FrontDoor

log = logging.getLogger(__name__)
CHANNELS = {pb.VOICE: "voice", pb.CHAT: "chat", pb.EMAIL: "email", pb.SMS: "sms"}
REASON_CODES = ("break", "lunch", "training", "meeting", "admin")  # not ready
DISPOSITIONS = ("resolved", "follow_up", "escalated", "no_answer", "wrong_number")  # wrap-up


class AgentDesk:
    def __init__(self, door: FrontDoor, ws: web.WebSocketResponse, agent_id: str, token: str) -> None:
        self.door = door
        self.ws = ws
        self.agent_id = agent_id
        self.token = token
        self.contacts: dict[str, str] = {}  # contact id -> channel, offered or in hand
        self.consults: dict[str, str] = {}  # contact id -> the agent who asked this one to consult
        self._out: asyncio.Queue[pb.AgentCommand | None] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[pb.CommandResult]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    # ------------------------------------------------------------------ plumbing

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_json(message)

    async def command(self, **kind: Any) -> pb.CommandResult:
        request_id = next(self._ids)
        fut: asyncio.Future[pb.CommandResult] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = fut
        await self._out.put(pb.AgentCommand(agent_id=self.agent_id, request_id=request_id, **kind))
        return await fut

    async def _requests(self) -> AsyncIterator[pb.AgentCommand]:
        while True:
            msg = await self._out.get()
            if msg is None:
                return
            yield msg

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for cid, channel in list(self.contacts.items()):
            if channel == "voice":
                with contextlib.suppress(Exception):
                    await self.door.gateway_for(cid).call("hangup", cid, "agent_left", self.agent_id)
        await self._out.put(None)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 3.0)
        if not self.ws.closed:
            await self.ws.close()

    # ------------------------------------------------------------------ the session

    async def run(self, messages: AsyncIterator[dict[str, Any]]) -> None:
        call = self.door.site_api().AgentSession(self._requests())
        self._reader = asyncio.ensure_future(self._read(call))
        login = await self.command(login=pb.Login(session_token=self.token))
        if not login.ok:
            await self.send({"type": "error", "error": f"login at site {self.door.settings.site}: {login.error}"})
            return
        await self.send(self._hello(login.state))
        async for msg in messages:
            self.door.spawn(self._handle(msg))

    def _hello(self, state: str) -> dict[str, Any]:
        center = self.door.center
        profile = center.agents[self.agent_id]
        tenants = set(profile.tenants)
        return {
            "type": "hello", "agent_id": self.agent_id, "name": profile.name, "site": self.door.settings.site,
            "state": state, "tenants": sorted(tenants),
            "capacity": {ch.value if hasattr(ch, "value") else str(ch): n for ch, n in profile.capacity.items()},
            "queues": sorted(q.id for q in center.queues.values() if q.tenant in tenants),
            "agents": sorted(a.id for a in center.agents.values()
                             if a.id != self.agent_id and tenants & set(a.tenants)),
            "reason_codes": list(REASON_CODES), "dispositions": list(DISPOSITIONS),
        }  # fmt: skip

    async def _read(self, call: Any) -> None:
        try:
            async for update in call:
                which = update.WhichOneof("update")
                if which == "result":
                    r = update.result
                    fut = self._waiting.pop(r.request_id, None)
                    if fut is not None and not fut.done():
                        fut.set_result(r)
                    elif r.request_id == 0:  # a state change pushed by the site
                        await self.send({"type": "state", "state": r.state, "reason_code": r.error})
                elif which == "offer":
                    self.door.spawn(self._offer(update.offer))
                elif which == "rescinded":
                    self.contacts.pop(update.rescinded.contact_id, None)
                    await self.send({"type": "rescinded", "contact_id": update.rescinded.contact_id,
                                     "reason": update.rescinded.reason})
                elif which == "notice":
                    n = update.notice
                    if n.kind == "consult":
                        self.consults[n.contact_id] = n.data.get("from_agent", "")
                    elif n.kind == "consult_cancelled":
                        self.consults.pop(n.contact_id, None)
                    await self.send({"type": "notice", "contact_id": n.contact_id, "kind": n.kind,
                                     "data": dict(n.data)})
        except grpc.aio.AioRpcError as e:
            log.info("agent %s session ended: %s", self.agent_id, e.code().name)
        finally:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_result(pb.CommandResult(ok=False, error="the site's session ended"))
            await self.send({"type": "session_ended", "site": self.door.settings.site})
            if not self.ws.closed:
                await self.ws.close()

    async def _offer(self, o: pb.Offer) -> None:
        channel = CHANNELS.get(o.channel, "voice")
        self.contacts[o.contact_id] = channel
        history = await self._history(o.caller_id, o.contact_id)
        pop = {"type": "offer", "contact_id": o.contact_id, "tenant": o.tenant, "queue": o.queue, "channel": channel,
               "caller_id": o.caller_id, "waited_s": round(o.waited_s, 1), "data": dict(o.data), "history": history,
               "consult_from": self.consults.get(o.contact_id, "")}  # fmt: skip
        await self.send(pop)
        if o.contact_id in self.consults:  # the end of an attended transfer to this agent: take it
            self.door.spawn(self._handle({"op": "accept", "contact_id": o.contact_id, "req": 0}))

    async def _history(self, caller_id: str, current: str) -> list[dict[str, Any]]:
        """The customer's earlier contacts at every site, for the tenants this agent serves."""
        if not caller_id:
            return []
        tenants = list(self.door.center.agents[self.agent_id].tenants)
        request = pb.HistoryRequest(caller_id=caller_id, tenants=tenants, limit=20)

        async def ask(api: Any) -> list[pb.PastContact]:
            try:
                reply = await api.CustomerHistory(request, timeout=1.5)
                return list(reply.contacts)
            except grpc.aio.AioRpcError:
                return []  # a site that is down: its history is missing from this screen pop

        found: dict[str, dict[str, Any]] = {}
        for contacts in await asyncio.gather(*(ask(api) for api in self.door.peer_apis())):
            for p in contacts:
                if p.contact_id != current:
                    found.setdefault(p.contact_id, {
                        "contact_id": p.contact_id, "tenant": p.tenant, "channel": p.channel,
                        "arrived_ts": p.arrived_ts, "state": p.state, "queue": p.queue, "agent_id": p.agent_id,
                        "disposition": p.disposition, "site": p.site,
                    })  # fmt: skip
        return sorted(found.values(), key=lambda h: -float(h["arrived_ts"]))

    # ------------------------------------------------------------------ commands from the page

    async def _handle(self, msg: dict[str, Any]) -> None:
        op = str(msg.get("op", ""))
        reply: dict[str, Any] = {"type": "result", "req": msg.get("req", 0), "op": op}
        try:
            reply.update(await self._do(op, msg))
        except _Refused as e:
            reply.update(ok=False, error=str(e))
        except Exception as e:  # a gateway's MediaError, a site that went away: one line to the page
            reply.update(ok=False, error=f"{op}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        await self.send(reply)

    async def _site(self, **kind: Any) -> dict[str, Any]:
        r = await self.command(**kind)
        if not r.ok:
            raise _Refused(r.error)
        return {"ok": True, "state": r.state}

    async def _do(self, op: str, m: dict[str, Any]) -> dict[str, Any]:
        cid = str(m.get("contact_id", ""))
        gateway = self.door.gateway_for(cid) if cid else None
        match op:
            case "ready":
                return await self._site(ready=pb.Ready())
            case "not_ready":
                return await self._site(not_ready=pb.NotReady(reason_code=str(m.get("reason_code") or "break")))
            case "logout":
                return await self._site(logout=pb.Logout())
            case "accept":
                out = await self._site(accept=pb.Accept(contact_id=cid))
                if self.consults.pop(cid, None) is not None and self.contacts.get(cid) == "voice" and gateway:
                    await gateway.call("transfer", cid, self.agent_id)  # already has a leg: the caller comes over
                return out
            case "reject":
                self.contacts.pop(cid, None)
                return await self._site(reject=pb.Reject(contact_id=cid))
            case "sdp" | "consult_join":
                assert gateway is not None
                answer = await gateway.call("agent_offer", cid, self.agent_id, str(m.get("sdp", "")))
                if op == "consult_join":
                    self.contacts[cid] = "voice"
                    await gateway.call("consult", cid, self.consults.get(cid, ""), self.agent_id)
                return {"ok": True, "sdp": answer}
            case "hold" | "resume":
                out = await self._site(**{op: pb.Hold(contact_id=cid) if op == "hold" else pb.Resume(contact_id=cid)})
                if self.contacts.get(cid) == "voice" and gateway is not None:
                    await gateway.call(op, cid)
                return out
            case "transfer":
                out = await self._site(transfer=pb.Transfer(contact_id=cid, queue=str(m.get("queue") or ""),
                                                             agent_id=str(m.get("agent_id") or "")))
                if self.contacts.pop(cid, None) == "voice" and gateway is not None:
                    await gateway.call("transfer", cid, None)
                return out
            case "consult":
                other, step = str(m.get("agent_id") or ""), str(m.get("step") or "")
                out = await self._site(consult=pb.ConsultTransfer(contact_id=cid, agent_id=other, step=step))
                if gateway is not None and self.contacts.get(cid) == "voice":
                    if step == "start":
                        await gateway.call("hold", cid)
                    elif step == "cancel":
                        await gateway.call("hangup", cid, "consult_cancelled", other)
                        await gateway.call("resume", cid)
                if step == "complete":
                    self.contacts.pop(cid, None)
                return out
            case "hangup" | "end_chat":
                if op == "hangup" and gateway is not None:
                    await gateway.call("hangup", cid, "agent_hangup")
                return await self._site(complete=pb.Complete(contact_id=cid))
            case "chat":
                return await self._site(chat=pb.ChatMessage(contact_id=cid, text=str(m.get("text", ""))))
            case "wrap_up":
                self.contacts.pop(cid, None)
                return await self._site(end_wrap_up=pb.EndWrapUp(
                    contact_id=cid, disposition=str(m.get("disposition") or ""), notes=str(m.get("notes") or "")))
        raise _Refused(f"unknown op {op!r}")


class _Refused(Exception):
    """The site refused a command: its error text goes to the page as is."""
