"""A site's web front door (``<site>/web/0``): an aiohttp server on the site's ``http`` port.

It serves the agent desktop (``/agent``) and the caller page of each tenant web widget
(``/w/<widget id>``), plain HTML/JS/CSS from ``vcc/web/static``, and the WebSocket signaling of both
(``/ws/agent``, ``/ws/call/<widget id>``). It talks to the site only through the public gRPC site
API of its own controller (agent sessions, contacts, events, positions, history) and, for media, to
the site's media gateways (SDP offer/answer, hold, transfer, hang-up; ``docs/media.md``). What a
gateway reports (IVR outcomes, recordings, callers hanging up) it turns into site API calls.

Agents log in with their configured password (``password_checker``) and get a signed session
cookie (``vcc.web.session``); the same cookie is good at every site's front door, so a desktop
whose site is lost reloads from another one (``/api/sites``) and is back in service there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from aiohttp import WSMsgType, web

from vcc.actors.ports import ActorPort
from vcc.actors.settings import BOOK_TIMEOUT_S
from vcc.core.ivr import BookCallback
from vcc.core.model import CenterSpec, Channel
from vcc.proto.v1 import site_pb2 as pb
from vcc.proto.v1 import site_pb2_grpc as pb_grpc
from vcc.web import session
from vcc.web.agent_desk import AgentDesk
from vcc.web.caller_line import CallerLine

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
WIDGET = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*$")


@dataclass
class FrontDoorSettings:
    site: str
    host: str
    http_port: int
    grpc_address: str  # this site's controller
    run_dir: str  # this site's run dir (the session secret lives two levels up)
    sites: dict[str, tuple[str, str]] = field(default_factory=dict)  # site -> (grpc address, http url)


def door_settings(config: Any, site: str, grpc_address: str, run_dir: str) -> FrontDoorSettings:
    """The front door of ``site`` from a validated cluster config (``ClusterConfig``)."""
    sites = {s.id: (s.grpc_address, s.http_url) for s in config.sites}
    me = next(s for s in config.sites if s.id == site)
    port = me.port("http")
    if port is None:
        raise ValueError(f"site {site}: no http port (give ports.http or port_base)")
    return FrontDoorSettings(site=site, host=me.host, http_port=port, grpc_address=grpc_address, run_dir=run_dir,
                             sites=sites)


def is_web_widget(address: str) -> bool:
    return bool(WIDGET.match(address)) and "@" not in address


def ivr_request(contact_id: str, outcome: str, queue: str, priority_delta: int, variables: Mapping[str, Any],
                path: Sequence[Sequence[str]], reason: str, callback_number: str | None,
                skills: Mapping[str, Any] | None = None) -> pb.IvrOutcomeRequest:
    """A gateway IVR's outcome for the site; the menu path goes in the record as ``ivr_path``;
    ``skills``: the extra skills the flow requires (skill -> minimum proficiency)."""
    data = {str(k): str(v) for k, v in variables.items()}
    if path:
        data["ivr_path"] = " ".join(f"{node}:{digit}" if digit else str(node) for node, digit in path)
    return pb.IvrOutcomeRequest(contact_id=contact_id, outcome=outcome, queue=queue, priority_delta=priority_delta,
                                data=data, reason=reason, callback_number=callback_number or "",
                                skills={str(k): int(v) for k, v in (skills or {}).items()})


class FrontDoor:
    def __init__(
        self,
        settings: FrontDoorSettings,
        center: CenterSpec,
        verify_password: Callable[[str, str], bool],
        gateways: list[ActorPort],
        *,
        estimator: Any = None,
    ) -> None:
        self.settings = settings
        self.center = center
        self.verify_password = verify_password
        self.gateways = gateways
        self.estimator = estimator  # what the gateways ask for position/EWT (this object, or its Ray handle)
        self.secret = session.load_or_create_secret(session.secret_path(settings.run_dir))
        self.channel: grpc.aio.Channel | None = None
        self.api: pb_grpc.SiteApiStub | None = None
        self._peer_channels: dict[str, grpc.aio.Channel] = {}
        self.callers: dict[str, CallerLine] = {}  # contact id -> the caller's page
        self.desks: set[AgentDesk] = set()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.errors = 0
        self.started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.started:
            return
        self.channel = grpc.aio.insecure_channel(self.settings.grpc_address)
        self.api = pb_grpc.SiteApiStub(self.channel)
        app = web.Application()
        app.add_routes([
            web.get("/", self._index), web.get("/agent", self._page("agent.html")),
            web.get("/w/{widget}", self._widget_page), web.get("/api/health", self._health),
            web.get("/api/sites", self._sites), web.get("/api/widget/{widget}", self._widget_info),
            web.post("/api/login", self._login), web.post("/api/logout", self._logout),
            web.get("/api/session", self._session),
            web.get("/ws/agent", self._agent_ws), web.get("/ws/call/{widget}", self._caller_ws),
            web.static("/static", STATIC),
        ])  # fmt: skip
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.host, self.settings.http_port).start()
        for i, gateway in enumerate(self.gateways):
            if self.estimator is not None:
                with contextlib.suppress(Exception):
                    await gateway.call("set_estimator", self.estimator)
            self.spawn(self._gateway_events(i, gateway))
        self.started = True

    async def stop(self) -> None:
        for desk in list(self.desks):
            await desk.close()
        for line in list(self.callers.values()):
            await line.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        for ch in [self.channel, *self._peer_channels.values()]:
            if ch is not None:
                await ch.close()
        self.started = False

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors += 1
            log.error("front door task failed", exc_info=task.exception())

    def health(self) -> dict[str, Any]:
        return {"started": self.started, "http": f"http://{self.settings.host}:{self.settings.http_port}",
                "desks": len(self.desks), "callers": len(self.callers), "errors": self.errors}

    def gateway_for(self, contact_id: str) -> ActorPort:
        """Every leg of a call goes to the same gateway (a stable hash of the contact id)."""
        return self.gateways[zlib.crc32(contact_id.encode()) % len(self.gateways)]

    def site_api(self) -> pb_grpc.SiteApiStub:
        assert self.api is not None, "front door not started"
        return self.api

    def peer_apis(self) -> list[pb_grpc.SiteApiStub]:
        """Every site's API (this one first): a customer's history spans sites."""
        out = [self.site_api()]
        for site, (address, _) in self.settings.sites.items():
            if site == self.settings.site:
                continue
            ch = self._peer_channels.get(site)
            if ch is None:
                ch = self._peer_channels[site] = grpc.aio.insecure_channel(address)
            out.append(pb_grpc.SiteApiStub(ch))
        return out

    # ------------------------------------------------------------------ the gateways' estimator

    async def wait_estimate(self, contact_id: str, tenant: str, queue: str) -> tuple[float | None, int | None]:
        pos = await self.site_api().GetPosition(pb.PositionRequest(contact_id=contact_id), timeout=2.0)
        if pos.position <= 0:
            return None, None
        return (pos.ewt_s if pos.ewt_s >= 0 else None), pos.position

    async def book_callback(self, contact_id: str, booking: BookCallback) -> str:
        """A gateway's caller accepted a callback: '' once the site has it stored in etcd, else why not."""
        b = booking
        request = ivr_request(contact_id, "callback", b.queue, b.priority_delta, b.variables, b.path,
                              "callback_booked", b.number, b.skills)  # fmt: skip
        try:
            reply = await self.site_api().IvrOutcome(request, timeout=BOOK_TIMEOUT_S)
        except grpc.aio.AioRpcError as e:
            return f"the site did not answer the booking: {e.code().name}"
        return "" if reply.ok else reply.error

    # ------------------------------------------------------------------ what the gateways report

    async def _gateway_events(self, index: int, gateway: ActorPort) -> None:
        since = 0
        while True:
            try:
                batch = await gateway.call("events", since, 10.0)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("gateway %d events: %s", index, e)
                await asyncio.sleep(1.0)
                continue
            since = int(batch.get("next", since))
            for event in batch.get("events", []):
                try:
                    await self._on_media_event(event)
                except Exception:
                    self.errors += 1
                    log.exception("media event %s failed", event.get("kind"))

    async def _on_media_event(self, e: dict[str, Any]) -> None:
        cid = str(e.get("contact_id", ""))
        kind = e.get("kind")
        api = self.site_api()
        if kind == "ivr" and e.get("outcome") != "callback":  # a callback was booked by book_callback
            reply = await api.IvrOutcome(ivr_request(
                cid, str(e.get("outcome", "")), str(e.get("queue") or ""), int(e.get("priority_delta") or 0),
                e.get("variables") or {}, e.get("path") or [], str(e.get("reason") or ""),
                e.get("callback_number"), e.get("skills") or {}), timeout=5.0)  # fmt: skip
            if not reply.ok:
                log.warning("IVR outcome of %s refused: %s", cid, reply.error)
        elif kind == "recording":
            await api.ContactNote(pb.ContactNoteRequest(
                contact_id=cid, reason="recording",
                data={"recording": str(e.get("path", "")), "duration_s": str(e.get("duration_s", ""))}), timeout=5.0)
        elif kind == "ended" and e.get("by") == "caller":
            await api.Abandon(pb.AbandonRequest(contact_ids=[cid]), timeout=5.0)
        line = self.callers.get(cid)
        if line is not None:
            await line.media_event(e)
        for desk in list(self.desks):
            if cid in desk.contacts:
                await desk.send({"type": "media", "contact_id": cid, "event": e})

    # ------------------------------------------------------------------ HTTP

    def _page(self, name: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name)

        return handler

    async def _index(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/agent")

    async def _widget_page(self, request: web.Request) -> web.StreamResponse:
        if self._widget(request.match_info["widget"]) is None:
            return web.Response(status=404, text=f"no web widget {request.match_info['widget']!r} here\n")
        return web.FileResponse(STATIC / "caller.html")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"site": self.settings.site, **self.health()},
                                 headers={"Access-Control-Allow-Origin": "*"})

    async def _sites(self, request: web.Request) -> web.Response:
        here = self.settings.site
        sites = sorted(self.settings.sites.items(), key=lambda kv: (kv[0] != here, kv[0]))
        return web.json_response({"site": here, "sites": [{"site": s, "url": url} for s, (_, url) in sites]})

    def _widget(self, widget: str) -> dict[str, Any] | None:
        entry = self.center.entry_points.get(widget)
        if entry is None or not is_web_widget(widget) or entry.channel not in (Channel.VOICE, Channel.CHAT):
            return None
        tenant = self.center.tenants[entry.tenant]
        others = {e.channel.value: a for a, e in self.center.entry_points.items()
                  if e.tenant == entry.tenant and is_web_widget(a) and e.channel in (Channel.VOICE, Channel.CHAT)}
        others[entry.channel.value] = widget
        return {"widget": widget, "tenant": entry.tenant, "name": getattr(tenant, "name", entry.tenant),
                "voice": others.get("voice"), "chat": others.get("chat"), "site": self.settings.site}

    async def _widget_info(self, request: web.Request) -> web.Response:
        info = self._widget(request.match_info["widget"])
        if info is None:
            return web.json_response({"error": f"no web widget {request.match_info['widget']!r}"}, status=404)
        return web.json_response(info)

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            agent_id, password = str(body["agent_id"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "send JSON {agent_id, password}"}, status=400)
        if agent_id not in self.center.agents or not await asyncio.to_thread(self.verify_password, agent_id,
                                                                              password):
            return web.json_response({"error": "unknown agent or wrong password"}, status=401)
        response = web.json_response({"agent_id": agent_id})
        response.set_cookie(session.COOKIE, session.sign(self.secret, agent_id, time.time()), httponly=True,
                            samesite="Lax", max_age=int(session.DEFAULT_TTL_S), path="/")
        return response

    async def _session(self, request: web.Request) -> web.Response:
        signed = self.session_of(request)
        if signed is None:
            return web.json_response({"error": "no session"}, status=401)
        return web.json_response({"agent_id": signed[0].agent_id})

    async def _logout(self, request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        response.del_cookie(session.COOKIE, path="/")
        return response

    def session_of(self, request: web.Request) -> tuple[session.Session, str] | None:
        token = request.cookies.get(session.COOKIE, "")
        try:
            return session.verify(self.secret, token, time.time()), token
        except session.BadSession:
            return None

    # ------------------------------------------------------------------ WebSockets

    async def _agent_ws(self, request: web.Request) -> web.StreamResponse:
        signed = self.session_of(request)
        if signed is None or signed[0].agent_id not in self.center.agents:
            return web.json_response({"error": "log in first"}, status=401)
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        desk = AgentDesk(self, ws, signed[0].agent_id, signed[1])
        self.desks.add(desk)
        try:
            await desk.run(_messages(ws))
        finally:
            self.desks.discard(desk)
            await desk.close()
        return ws

    async def _caller_ws(self, request: web.Request) -> web.StreamResponse:
        info = self._widget(request.match_info["widget"])
        if info is None:
            return web.json_response({"error": f"no web widget {request.match_info['widget']!r}"}, status=404)
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        line = CallerLine(self, ws, info)
        try:
            await line.run(_messages(ws))
        finally:
            await line.close()
        return ws


async def _messages(ws: web.WebSocketResponse) -> Any:
    """The JSON objects a page sends; a message that is not a JSON object is answered with an error."""
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            data = msg.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            await ws.send_json({"type": "error", "error": "messages must be JSON objects"})
            continue
        yield data
