"""One voice call at a media gateway: the caller's leg, the agents' legs, what each hears, the IVR
it runs, the recording. See docs/media.md for the states and the events a call reports.

States: ``ivr`` (prompts, DTMF) -> ``queued`` (music, periodic position/EWT) -> ``connected``
(caller and the bridged agent relay each other's audio) <-> ``held`` (caller: music, agent:
silence) / ``consult`` (caller: music; two agents talk) / ``transfer`` (no agent: music until the
next agent leg) -> ``ended``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any, Protocol

from vcc.core.ewt import announce_pieces, announce_text
from vcc.core.flow import Flow
from vcc.core.ivr import (
    Announce,
    BookCallback,
    CallbackResult,
    CheckHoursRequest,
    CollectDigits,
    Digit,
    HangUpAction,
    HoursResult,
    IvrEvent,
    IvrSession,
    PlayPrompt,
    PromptFinished,
    RequestWaitEstimate,
    RouteAction,
    Started,
    StartTimer,
    StopPrompt,
    Timeout,
    WaitEstimate,
)
from vcc.media.dtmf import DtmfDetector
from vcc.media.errors import MediaError
from vcc.media.legs import AudioSink, Leg
from vcc.media.pcm import Pcm, decimate, silence
from vcc.media.players import LoopPlayer, PromptPlayer
from vcc.media.prompts import PromptCatalog
from vcc.media.recorder import AGENT, CALLER, WavRecorder, recording_path
from vcc.media.sip_leg import SipLeg

log = logging.getLogger(__name__)

RECORDING_RATE_HZ = 16_000
DTMF_RATE_HZ = 8_000
SAME_DIGIT_WINDOW_S = 0.2
_SILENCE = silence()


class CallHost(Protocol):
    """What a call needs from its gateway."""

    catalog: PromptCatalog
    music: Pcm
    announce_every_s: float
    recordings_dir: str
    site: str
    codecs: tuple[str, ...]

    def emit(self, contact_id: str, kind: str, **fields: Any) -> None: ...
    def is_open(self, tenant: str, now: float) -> bool: ...
    async def wait_estimate(self, contact_id: str, tenant: str, queue: str) -> tuple[float | None, int | None]: ...
    async def book_callback(self, contact_id: str, booking: BookCallback) -> str: ...
    def call_ended(self, call: Call) -> None: ...


class Call:
    # Forward RTP payloads between bridged legs that negotiated the same codec instead of decoding
    # and encoding them again (vcc.media.passthrough); off only to measure the difference (bench).
    passthrough = True

    def __init__(self, host: CallHost, contact_id: str, tenant: str, flow: Flow | None, caller_id: str | None,
                 queue: str | None, caller_leg: SipLeg | None = None) -> None:  # fmt: skip
        self.host = host
        self.contact_id = contact_id
        self.tenant = tenant
        self.flow = flow
        self.caller_id = caller_id
        self.queue = queue
        self.state = "ivr" if flow is not None else "queued"
        # a WebRTC caller (aiortc), or a SIP caller (G.711 RTP) made by the gateway's SIP front end
        self.caller: Leg | SipLeg = caller_leg if caller_leg is not None else Leg(contact_id, "caller",
                                                                                    codecs=host.codecs)
        self.agents: dict[str, Leg] = {}
        self.bridged: str | None = None
        self.consult_pair: tuple[str, str] | None = None
        self.music = LoopPlayer(host.music)
        self.prompt: PromptPlayer | None = None
        self.dtmf = DtmfDetector(DTMF_RATE_HZ)
        self.ivr: IvrSession | None = None
        self.recorder: WavRecorder | None = None
        self.callback: BookCallback | None = None
        self.booking = False  # waiting for the site to store a callback: the caller hears music meanwhile
        self._ivr_events: asyncio.Queue[IvrEvent] = asyncio.Queue()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_digit: tuple[str, str, float] = ("", "", 0.0)
        self.caller.on_audio = self._caller_audio
        self.caller.on_digit = lambda d: self.digit(d, "rfc4733")
        self.caller.on_state = self._caller_state
        self.caller.out.source = self._caller_frame

    # --- set-up ---------------------------------------------------------------------------------

    async def start(self, offer_sdp: Any) -> str:
        answer = await self.caller.answer(offer_sdp)
        if self.flow is not None:
            self.ivr = IvrSession(self.flow, caller=self.caller_id)
            self._spawn(self._ivr_loop())
            self._ivr_events.put_nowait(Started())
        else:
            self._spawn(self._announcer())
        return answer

    async def add_agent(self, agent_id: str, offer_sdp: str) -> str:
        if agent_id in self.agents:
            raise MediaError(f"contact {self.contact_id}: agent {agent_id} already has a leg on this call")
        leg = Leg(self.contact_id, "agent", agent_id, codecs=self.host.codecs)
        leg.on_audio = lambda pcm, t: self._agent_audio(agent_id, pcm, t)
        leg.on_state = lambda s: self._agent_state(agent_id, s)
        self.agents[agent_id] = leg
        try:
            answer = await leg.answer(offer_sdp)
        except MediaError:
            self.agents.pop(agent_id, None)
            await leg.close()
            raise
        if self.state in ("ivr", "queued", "transfer"):
            self.bridge(agent_id)
        else:
            self._apply()
        return answer

    # --- control --------------------------------------------------------------------------------

    def bridge(self, agent_id: str) -> None:
        self._leg(agent_id)
        if self.state == "ivr":
            self._stop_ivr()
        self.prompt = None
        self.bridged, self.consult_pair, self.state = agent_id, None, "connected"
        if self.recorder is None:
            now = time.time()
            path = recording_path(self.host.recordings_dir, self.host.site, self.contact_id,
                                  dt.datetime.fromtimestamp(now, dt.UTC))  # fmt: skip
            self.recorder = WavRecorder(path, RECORDING_RATE_HZ, now)
        self._apply()
        self.host.emit(self.contact_id, "bridged", agent_id=agent_id)

    def hold(self) -> None:
        if self.state == "connected":
            self.state = "held"
            self._apply()
            self.host.emit(self.contact_id, "held", agent_id=self.bridged)

    def resume(self) -> None:
        if self.state in ("held", "consult") and self.bridged in self.agents:
            self.state, self.consult_pair = "connected", None
            self._apply()
            self.host.emit(self.contact_id, "resumed", agent_id=self.bridged)

    def consult(self, agent_id: str, other_agent_id: str) -> None:
        self._leg(agent_id)
        self._leg(other_agent_id)
        if self.state in ("ivr", "queued", "ended"):
            raise MediaError(f"contact {self.contact_id}: no agent is on this call yet; nothing to consult")
        self.state, self.consult_pair = "consult", (agent_id, other_agent_id)
        self._apply()
        self.host.emit(self.contact_id, "consult", agent_id=agent_id, other_agent_id=other_agent_id)

    async def transfer(self, to_agent_id: str | None) -> None:
        from_agent = self.bridged
        keep = to_agent_id if to_agent_id in self.agents else None
        for aid in [a for a in self.agents if a != keep]:
            await self.drop_agent(aid, "transferred", quiet=True)
        self.host.emit(self.contact_id, "transferred", from_agent_id=from_agent, to_agent_id=to_agent_id)
        if keep is not None:
            self.bridge(keep)
        else:
            self.bridged, self.consult_pair, self.state = None, None, "transfer"
            self._apply()

    async def drop_agent(self, agent_id: str, reason: str, quiet: bool = False) -> None:
        leg = self.agents.pop(agent_id, None)
        if leg is None:
            return
        await leg.close()
        self.host.emit(self.contact_id, "leg_down", leg="agent", agent_id=agent_id, reason=reason)
        if self.consult_pair and agent_id in self.consult_pair:
            self.consult_pair = None
            self.state = "held" if self.bridged in self.agents else "transfer"
        if self.bridged == agent_id:
            self.bridged = None
            if not quiet and self.state != "ended":
                self.state = "transfer"
        self._apply()

    async def end(self, reason: str, by: str) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        self._stop_ivr()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await self.caller.close()
        for aid in list(self.agents):
            await self.agents.pop(aid).close()
        self.host.emit(self.contact_id, "ended", reason=reason, by=by)
        if self.recorder is not None:
            duration_s = self.recorder.close(time.time())
            self.host.emit(self.contact_id, "recording", path=str(self.recorder.path), duration_s=round(duration_s, 3))
        self.host.call_ended(self)

    def flush_recording(self, now: float) -> None:
        if self.recorder is not None:
            self.recorder.flush(now)

    def digit(self, digit: str, source: str) -> None:
        now = time.time()
        last_digit, last_source, last_t = self._last_digit
        if digit == last_digit and source != last_source and now - last_t < SAME_DIGIT_WINDOW_S:
            return  # the same press seen both as RFC 4733 and in-band
        self._last_digit = (digit, source, now)
        self.host.emit(self.contact_id, "dtmf", digit=digit, source=source)
        if self.ivr is not None and not self.ivr.done:
            self._ivr_events.put_nowait(Digit(digit))

    def describe(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id, "tenant": self.tenant, "state": self.state, "queue": self.queue,
            "agents": sorted(self.agents), "bridged_agent": self.bridged,
            "recording": str(self.recorder.path) if self.recorder else None,
            "caller": self.caller.stats(), "agent_legs": {a: leg.stats() for a, leg in self.agents.items()},
        }  # fmt: skip

    # --- audio paths ----------------------------------------------------------------------------

    def _apply(self) -> None:
        """Who hears what, from the state; payloads forwarded as they are where the codecs allow."""
        self.caller.out.set_relay(self.state == "connected" and self.bridged in self.agents)
        for aid, leg in self.agents.items():
            talking = (self.state == "connected" and aid == self.bridged) or (
                self.state == "consult" and self.consult_pair is not None and aid in self.consult_pair
            )
            leg.out.set_relay(talking)
        routes: dict[int, tuple[Leg | SipLeg, int | None]] = {}  # id(source) -> (destination, recorder channel)
        bridged = self.agents.get(self.bridged) if self.bridged is not None else None
        if self.state == "connected" and bridged is not None:
            routes[id(self.caller)] = (bridged, CALLER)
            routes[id(bridged)] = (self.caller, AGENT)
        elif self.state == "consult" and self.consult_pair is not None:
            a, b = (self.agents.get(x) for x in self.consult_pair)
            if a is not None and b is not None:
                routes[id(a)], routes[id(b)] = (b, None), (a, None)
        legs: list[Leg | SipLeg] = [self.caller, *self.agents.values()]
        for src in legs:
            if not isinstance(src, Leg):
                continue  # a SIP caller: its G.711 RTP is paced by the gateway's clock, decoded as before
            dst, channel = routes.get(id(src), (None, None))
            if self.passthrough and isinstance(dst, Leg) and src.can_forward_to(dst):
                src.forward(dst, self._recording_sink(channel) if channel is not None else None)
            else:
                src.forward(None, None)

    def _recording_sink(self, channel: int) -> AudioSink:
        def record(pcm16: Pcm, at_s: float) -> None:
            if self.recorder is not None:
                self.recorder.add(channel, at_s, pcm16)

        return record

    def _caller_frame(self) -> Pcm:
        if self.prompt is not None and self.state in ("ivr", "queued"):
            player = self.prompt
            frame = player.next_frame()
            if player.done:
                self.prompt = None
                if player.play_id > 0:
                    self._ivr_events.put_nowait(PromptFinished(player.play_id))
            return frame
        if self.state in ("queued", "held", "consult", "transfer") or (self.booking and self.state == "ivr"):
            return self.music.next_frame()
        return _SILENCE

    def _caller_audio(self, pcm: Pcm, at_s: float) -> None:
        if self.state == "connected" and self.bridged is not None:
            leg = self.agents.get(self.bridged)
            if leg is not None and getattr(self.caller, "forward_to", None) is None:
                leg.out.push(pcm)
        pcm16 = decimate(pcm, 3)
        if self.state in ("ivr", "queued"):  # keys matter while the IVR or the queue listens
            for d in self.dtmf.feed(decimate(pcm16, 2)):
                self.digit(d, "inband")
        if self.recorder is not None:
            self.recorder.add(CALLER, at_s, pcm16)

    def _agent_audio(self, agent_id: str, pcm: Pcm, at_s: float) -> None:
        if getattr(self.agents.get(agent_id), "forward_to", None) is not None:
            return  # forwarded as payloads (frames still in aiortc's jitter buffer when it started)
        if self.state == "connected" and agent_id == self.bridged:
            self.caller.out.push(pcm)
            if self.recorder is not None:
                self.recorder.add(AGENT, at_s, decimate(pcm, 3))
        elif self.state == "consult" and self.consult_pair is not None and agent_id in self.consult_pair:
            a, b = self.consult_pair
            other = self.agents.get(b if agent_id == a else a)
            if other is not None:
                other.out.push(pcm)

    # --- leg states -----------------------------------------------------------------------------

    def _caller_state(self, state: str) -> None:
        if state == "connected":
            self.host.emit(self.contact_id, "leg_up", leg="caller", agent_id=None)
        elif state in ("failed", "closed") and self.state != "ended":
            self._spawn(self.end("caller_hangup", "caller"))

    def _agent_state(self, agent_id: str, state: str) -> None:
        if state == "connected":
            self.host.emit(self.contact_id, "leg_up", leg="agent", agent_id=agent_id)
        elif state in ("failed", "closed") and self.state != "ended" and agent_id in self.agents:
            self._spawn(self.drop_agent(agent_id, "agent_left"))

    def _leg(self, agent_id: str) -> Leg:
        leg = self.agents.get(agent_id)
        if leg is None:
            raise MediaError(f"contact {self.contact_id}: agent {agent_id} has no leg on this call")
        return leg

    # --- IVR ------------------------------------------------------------------------------------

    async def _ivr_loop(self) -> None:
        assert self.ivr is not None
        while not self.ivr.done and self.state == "ivr":
            event = await self._ivr_events.get()
            for action in self.ivr.handle(event, time.time()):
                await self._ivr_action(action)

    async def _ivr_action(self, action: Any) -> None:
        match action:
            case PlayPrompt(prompt=prompt, play_id=play_id):
                pcm = await asyncio.to_thread(self.host.catalog.load, prompt)
                self.prompt = PromptPlayer(pcm, play_id)
                self.host.emit(self.contact_id, "prompt", prompt=prompt, play_id=play_id)
            case StopPrompt(play_id=play_id):
                if self.prompt is not None and self.prompt.play_id == play_id:
                    self.prompt = None
            case CollectDigits(timeout_s=timeout_s, timer_id=timer_id) | StartTimer(
                timeout_s=timeout_s, timer_id=timer_id
            ):
                if self._timer is not None:
                    self._timer.cancel()
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(timeout_s, self._ivr_events.put_nowait, Timeout(timer_id))
            case CheckHoursRequest():
                self._ivr_events.put_nowait(HoursResult(self.host.is_open(self.tenant, time.time())))
            case RequestWaitEstimate(queue=queue):
                ewt_s, position = await self.host.wait_estimate(self.contact_id, self.tenant, queue)
                self._ivr_events.put_nowait(WaitEstimate(ewt_s, position))
            case Announce(pieces=pieces, text=text, ewt_s=ewt_s, position=position, play_id=play_id):
                pcm = await asyncio.to_thread(self.host.catalog.pieces, pieces)
                self.prompt = PromptPlayer(pcm, play_id)
                self.host.emit(self.contact_id, "announce", text=text, ewt_s=ewt_s, position=position)
            case BookCallback():
                self._spawn(self._book_callback(action))
            case RouteAction(queue=queue):
                self.queue, self.state = queue, "queued"
                self._report_ivr("route", queue=queue, priority_delta=action.priority_delta, skills=action.skills,
                                 variables=action.variables, path=action.path)
                self._spawn(self._announcer())
            case HangUpAction(reason=reason):
                if self.callback is None:  # a booked callback was reported when it was booked
                    self._report_ivr("hangup", reason=reason)
                self._spawn(self.end(reason, "gateway"))

    async def _book_callback(self, action: BookCallback) -> None:
        """The site stores the callback (etcd) before the IVR goes on: the caller hears "we will call
        you back" only once a surviving site would call back if this one died, and stays in line
        (the flow's declined branch) if it could not be stored. A caller who hangs up meanwhile
        keeps the callback if it is stored: the site finishes the booking on its own."""
        self.booking = True
        try:
            error = await self.host.book_callback(self.contact_id, action)
        finally:
            self.booking = False
        if not error:
            self.callback = action
        self._report_ivr("callback", queue=action.queue, priority_delta=action.priority_delta, skills=action.skills,
                         variables=action.variables, path=action.path,
                         reason="callback_booked" if not error else f"callback_not_booked: {error}",
                         callback_number=action.number)  # fmt: skip
        self._ivr_events.put_nowait(CallbackResult(not error, error))

    def _report_ivr(self, outcome: str, *, queue: str | None = None, priority_delta: int = 0,
                    skills: dict[str, int] | None = None, variables: dict[str, str] | None = None,
                    path: tuple[tuple[str, str], ...] | None = None, reason: str = "",
                    callback_number: str | None = None) -> None:
        """The IVR's outcome for the site (``ivr`` event): route, callback or hangup; ``path``: the
        interpreter's so far unless given."""
        path = path if path is not None else (tuple(self.ivr.path) if self.ivr else ())
        self.host.emit(
            self.contact_id, "ivr", outcome=outcome, queue=queue, priority_delta=priority_delta,
            skills=dict(skills or {}), variables=dict(variables or {}), path=[list(p) for p in path], reason=reason,
            callback_number=callback_number,
        )  # fmt: skip

    def _stop_ivr(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.state == "ivr":
            self.prompt = None

    async def _announcer(self) -> None:
        """While queued: position and EWT every ``announce_every_s``, music between."""
        while self.state == "queued":
            await asyncio.sleep(self.host.announce_every_s)
            if self.state != "queued" or self.prompt is not None or self.queue is None:
                continue
            ewt_s, position = await self.host.wait_estimate(self.contact_id, self.tenant, self.queue)
            if ewt_s is None and position is None:
                continue
            pcm = await asyncio.to_thread(self.host.catalog.pieces, announce_pieces(ewt_s, position))
            if self.state == "queued":
                self.prompt = PromptPlayer(pcm, 0)
                self.host.emit(self.contact_id, "announce", text=announce_text(ewt_s, position), ewt_s=ewt_s,
                               position=position)  # fmt: skip

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("contact %s: media task failed", self.contact_id, exc_info=task.exception())
