"""Media load: web callers and desk agents with real audio (aiortc), speaking the protocols of the
front door's caller page and agent desktop (``docs/web.md``) from Python.

A :class:`WebCaller` opens ``/ws/call/<widget>`` at a site's front door, sends its SDP offer with
``call`` (a 440 Hz tone), presses the scenario's keys (one each time a prompt that takes a key
starts: RFC 4733 when the gateway's answer negotiated telephone-event, in-band tones otherwise, as
the page does), hangs up when its patience runs out, and stays until the contact ends.

A :class:`DeskAgent` logs in with ``/api/login`` (the session cookie), opens ``/ws/agent``, makes
itself ready and works every offer: ``accept`` after the answer delay, for a voice call its own leg
(``sdp``: an aiortc offer, a 1000 Hz tone), the handle time, ``hangup`` (voice) or ``end_chat``,
then ``wrap_up`` after the wrap-up time (as the page does, per contact). Both ends sample what they
hear every 0.5 s while talking and record the arrival time of every frame (:mod:`vcc.load.audio`
turns them into figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from vcc.load.audio import LegAudio, leg_audio, tone_heard
from vcc.load.sampling import sample
from vcc.load.scenario import Agents
from vcc.media.pcm import RATE_HZ, dominant_hz
from vcc.media.peer import TonePeer

CALLER_HZ = 440.0
AGENT_HZ = 1000.0
ENDED = ("completed", "abandoned", "failed")
TE = re.compile(r"a=rtpmap:(\d+) telephone-event/", re.IGNORECASE)


def ws_url(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http")


class Listener:
    """Samples what a peer hears every 0.5 s while ``talking``; remembers whether ``expect_hz`` was heard."""

    def __init__(self, peer: TonePeer, expect_hz: float) -> None:
        self.peer, self.expect_hz = peer, expect_hz
        self.heard: bool | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self.heard = False
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            pcm = self.peer.recent(0.4)
            if len(pcm) and tone_heard(dominant_hz(pcm, RATE_HZ), self.expect_hz):
                self.heard = True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@dataclass
class WebCall:
    """What one web caller did and heard."""

    caller_id: str
    site: str = ""
    contact_id: str = ""
    error: str = ""
    states: list[str] = field(default_factory=list)
    keys_pressed: str = ""  # an error after the contact was taken is kept in ``error`` too
    dtmf_method: str = ""
    hung_up: bool = False
    audio: LegAudio | None = None


class WebCaller:
    def __init__(self, http_url: str, widget: str, caller_id: str, *, dtmf: str, patience_s: float | None,
                 key_prompts: set[str], on_contact: Callable[[WebCall], None], max_s: float = 600.0) -> None:
        self.url, self.widget = http_url, widget
        self.call = WebCall(caller_id)
        self.dtmf, self.key_prompts = dtmf, key_prompts
        self.patience_s = patience_s or None  # 0 or None: waits forever
        self.on_contact = on_contact
        self.max_s = max_s
        self.te_payload: int | None = None

    async def run(self, http: aiohttp.ClientSession) -> WebCall:
        """The whole call; ``call.error`` is set (and no contact) when the site did not take it."""
        peer = TonePeer(CALLER_HZ, keep_s=2.0)
        peer.keep_arrivals = True
        listener = Listener(peer, AGENT_HZ)
        call = self.call
        try:
            async with http.ws_connect(f"{ws_url(self.url)}/ws/call/{self.widget}", heartbeat=10.0) as ws:
                await ws.send_json({"op": "call", "caller_id": call.caller_id, "sdp": await peer.offer()})
                await self._converse(ws, peer, listener)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            call.error = call.error or f"{type(e).__name__}: {e}"[:120]
        finally:
            await listener.stop()
            await peer.close()
            call.audio = leg_audio(peer.arrivals, listener.heard) if call.contact_id else None
        return call

    async def _converse(self, ws: aiohttp.ClientWebSocketResponse, peer: TonePeer, listener: Listener) -> None:
        call = self.call
        t0 = time.monotonic()
        keys = list(self.dtmf)
        end = t0 + self.max_s
        inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        pump = asyncio.ensure_future(_pump(ws, inbox))  # a timed-out ws.receive() would close the socket
        try:
            while time.monotonic() < end:
                if (self.patience_s is not None and not call.hung_up and "connected" not in call.states
                        and time.monotonic() - t0 > self.patience_s):
                    call.hung_up = True
                    await ws.send_json({"op": "hangup"})
                try:
                    m = await asyncio.wait_for(inbox.get(), 0.5)
                except TimeoutError:
                    continue
                if m is None:
                    if not call.contact_id:
                        call.error = call.error or "the front door closed the page's socket"
                    return
                if await self._on_message(m, peer, listener, keys):
                    return
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    async def _on_message(self, m: dict[str, Any], peer: TonePeer, listener: Listener, keys: list[str]) -> bool:
        """Act on one message from the front door; True when the call is over for this caller."""
        call = self.call
        kind = m.get("type")
        if kind == "contact":
            call.contact_id, call.site = str(m["contact_id"]), str(m.get("site", ""))
            self.on_contact(call)
        elif kind == "answer":
            await peer.accept(str(m["sdp"]))
            te = TE.search(str(m["sdp"]))
            self.te_payload = int(te.group(1)) if te else None
            call.dtmf_method = "rfc4733" if te else "inband"
        elif kind == "error":
            call.error = str(m.get("error", ""))[:200]
            return not call.contact_id  # refused: the caller tries another site
        elif kind == "media":
            e = m.get("event") or {}
            if e.get("kind") == "prompt" and keys and str(e.get("prompt")) in self.key_prompts:
                digit = keys.pop(0)
                call.keys_pressed += digit
                if self.te_payload is not None:
                    await peer.press_rfc4733(digit, self.te_payload)
                else:
                    peer.press_inband(digit, on_ms=120, off_ms=80)
        elif kind == "state":
            state = str(m.get("state", ""))
            call.states.append(state)
            if state == "connected":
                listener.start()
            if state in ENDED:
                return True
        return False


async def _pump(ws: aiohttp.ClientWebSocketResponse, inbox: asyncio.Queue[dict[str, Any] | None]) -> None:
    """Every JSON message of the socket into ``inbox``, then None when it closes."""
    try:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            value = msg.json()
            if isinstance(value, dict):
                await inbox.put(value)
    finally:
        await inbox.put(None)


class DeskAgent:
    """One bot agent on the agent desktop's WebSocket at a site's front door."""

    def __init__(self, http_url: str, agent_id: str, password: str, spec: Agents, rng: random.Random) -> None:
        self.url, self.agent_id, self.password = http_url, agent_id, password
        self.spec, self.rng = spec, rng
        self.logged_in = False
        self.error = ""
        self.ended = asyncio.Event()
        self.in_hand: dict[str, str] = {}  # contact id -> channel
        self.max_in_hand: dict[str, int] = {}
        self.legs: list[LegAudio] = []
        self.handled = 0
        self.failures: list[str] = []
        self.wrap_ups_already_ended = 0  # refused: an earlier EndWrapUp of this agent ended it too
        self._req = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._http: aiohttp.ClientSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def start(self, timeout_s: float = 30.0) -> bool:
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        try:
            r = await self._http.post(f"{self.url}/api/login", json={"agent_id": self.agent_id,
                                                                      "password": self.password})
            if r.status != 200:
                self.error = f"login: HTTP {r.status} {(await r.text())[:100]}"
                return False
            self._ws = await self._http.ws_connect(f"{ws_url(self.url)}/ws/agent", heartbeat=10.0)
            self._reader = asyncio.ensure_future(self._read())
            hello = await asyncio.wait_for(asyncio.shield(self._hello), timeout_s)
            if hello.get("type") != "hello":
                self.error = str(hello.get("error", hello))[:200]
                return False
            ready = await self.op("ready")
            self.logged_in = bool(ready.get("ok"))
            self.error = "" if self.logged_in else str(ready.get("error"))
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
            self.error = f"{type(e).__name__}: {e}"[:200]
        return self.logged_in

    async def op(self, op: str, timeout_s: float = 20.0, **fields: Any) -> dict[str, Any]:
        if self._ws is None or self._ws.closed:
            return {"ok": False, "error": "no desk socket"}
        req = next(self._req)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[req] = fut
        await self._ws.send_json({"op": op, "req": req, **fields})
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            return {"ok": False, "error": f"{op}: no result in {timeout_s:g} s"}
        finally:
            self._waiting.pop(req, None)

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                m = msg.json()
                kind = m.get("type")
                if kind in ("hello", "error") and not self._hello.done():
                    self._hello.set_result(m)
                elif kind == "result":
                    fut = self._waiting.get(int(m.get("req") or 0))
                    if fut is not None and not fut.done():
                        fut.set_result(m)
                elif kind == "offer":
                    cid = str(m["contact_id"])
                    self._tasks[cid] = asyncio.ensure_future(self._work(cid, str(m.get("channel", "voice"))))
                elif kind == "rescinded":
                    task = self._tasks.pop(str(m.get("contact_id")), None)
                    if task is not None:
                        task.cancel()
                elif kind == "session_ended":
                    break
        finally:
            self.ended.set()
            if not self._hello.done():
                self._hello.set_result({"type": "error", "error": "the front door closed the desk's socket"})
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_result({"ok": False, "error": "the desk's session ended"})

    async def _work(self, cid: str, channel: str) -> None:
        peer: TonePeer | None = None
        listener: Listener | None = None
        try:
            await asyncio.sleep(sample(self.spec.answer_delay_s, self.rng))
            accepted = await self.op("accept", contact_id=cid)
            if not accepted.get("ok"):
                self.failures.append(f"accept {cid}: {accepted.get('error')}")
                return
            self.in_hand[cid] = channel
            held = sum(ch == channel for ch in self.in_hand.values())
            self.max_in_hand[channel] = max(self.max_in_hand.get(channel, 0), held)
            if channel == "voice":
                peer = TonePeer(AGENT_HZ, keep_s=2.0)
                peer.keep_arrivals = True
                listener = Listener(peer, CALLER_HZ)
                answer = await self.op("sdp", contact_id=cid, sdp=await peer.offer())
                if answer.get("ok") and answer.get("sdp"):
                    await peer.accept(str(answer["sdp"]))
                    listener.start()
                else:
                    self.failures.append(f"sdp {cid}: {answer.get('error')}")
            await asyncio.sleep(sample(self.spec.handle_s_by_channel.get(channel, self.spec.handle_s), self.rng))
            done = await self.op("hangup" if channel == "voice" else "end_chat", contact_id=cid)
            if not done.get("ok"):
                self.failures.append(f"end {cid}: {done.get('error')}")
            await asyncio.sleep(sample(self.spec.wrap_up_s, self.rng))
            wrapped = await self.op("wrap_up", contact_id=cid, disposition="resolved")
            if not wrapped.get("ok") and "wrap_up_ended" in str(wrapped.get("error")):
                self.wrap_ups_already_ended += 1  # the site ends all of an agent's wrap-ups at once (chats)
            elif not wrapped.get("ok"):
                self.failures.append(f"wrap_up {cid}: {wrapped.get('error')}")
            self.handled += 1
        finally:
            self.in_hand.pop(cid, None)
            self._tasks.pop(cid, None)
            if listener is not None:
                await listener.stop()
            if peer is not None:
                await peer.close()
                self.legs.append(leg_audio(peer.arrivals, listener.heard if listener else None))

    async def stop(self, logout: bool = True) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if logout and self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await self.op("logout", timeout_s=3.0)
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
