"""A media gateway: where a voice contact's media is anchored.

The gateway keeps the set of live voice contacts anchored on it and answers health checks, so the
site knows which calls die with it (``health``, ``anchor``, ``release``, ``live``: the controller's
failover bookkeeping). It also carries the media (an asyncio actor; aiortc runs in its process):
caller and agent legs over WebRTC, the IVR with prompts and DTMF, music on hold and announcements,
bridging, hold, consult, transfer and recording. The contract the web front door codes against is
docs/media.md; a call's own logic is :class:`vcc.media.call.Call`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcc.actors.settings import BOOK_TIMEOUT_S
from vcc.config.media import MediaConfig
from vcc.config.trunks import SipConfig
from vcc.core.ivr import BookCallback
from vcc.core.model import CenterSpec
from vcc.media.call import Call
from vcc.media.errors import MediaError
from vcc.media.pcm import Pcm, music_on_hold
from vcc.media.prompts import PromptCatalog, read_wav
from vcc.media.recorder import cleanup_recordings
from vcc.media.sip_leg import SipLeg
from vcc.runtime.aio import wait_event
from vcc.sip.sdp import SdpOffer

if TYPE_CHECKING:
    from vcc.media.sip_gateway import SipFrontEnd

log = logging.getLogger(__name__)

EVENTS_KEPT = 10_000
FLUSH_EVERY_S = 1.0
CLEANUP_EVERY_S = 3600.0
ESTIMATE_TIMEOUT_S = 2.0


class MediaGateway:
    def __init__(
        self,
        site: str,
        index: int,
        center: CenterSpec | None = None,
        media: MediaConfig | None = None,
        run_dir: str | None = None,
    ) -> None:
        self.site = site
        self.index = index
        self.anchored: dict[str, float] = {}  # contact id -> anchored at
        self.center = center
        self.media = media or MediaConfig()
        self.run_dir = run_dir or os.environ.get("VCC_RUN_DIR") or f"/tmp/vcc-media-{os.getuid()}"
        self.recordings_dir = self.media.recordings_dir or f"{self.run_dir}/recordings"
        self.announce_every_s = self.media.announce_every_s
        self.codecs: tuple[str, ...] = tuple(self.media.codecs)
        self.catalog = PromptCatalog(f"{self.run_dir}/media/prompts", prompts_dir=self.media.prompts_dir,
                                     voice=self.media.voice, texts=self.media.prompt_texts)  # fmt: skip
        self.music = self._load_music()
        self.active: dict[str, Call] = {}  # contact id -> its live call
        self.estimator: Any = None
        self._events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self._seq = 0
        self._new_events: asyncio.Event | None = None
        self._housekeeper: asyncio.Task[None] | None = None
        self.active_total = 0
        self.sip: SipFrontEnd | None = None  # the SIP listener, when this gateway runs it (docs/sip.md)
        self._sip_close: Any = None

    # --- failover bookkeeping (sync: the controller calls these) --------------------------------

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "anchored": len(self.anchored), "pid": os.getpid(),
                               "calls": len(self.active), "calls_total": self.active_total}  # fmt: skip
        if self.sip is not None:  # gateway 0 of a site with SIP trunks (docs/sip.md)
            st = self.sip.status()
            out["sip"] = {k: st[k] for k in ("port", "calls", "invites", "answered", "refused", "cancelled")}
        return out

    def anchor(self, contact_ids: list[str], now: float) -> int:
        for cid in contact_ids:
            self.anchored.setdefault(cid, now)
        return len(self.anchored)

    def release(self, contact_ids: list[str]) -> int:
        for cid in contact_ids:
            self.anchored.pop(cid, None)
        return len(self.anchored)

    def live(self) -> list[str]:
        return list(self.anchored)

    # --- media API (docs/media.md) --------------------------------------------------------------

    async def caller_offer(self, contact_id: str, tenant: str, flow_id: str | None, caller_id: str | None,
                           sdp: str, queue: str | None = None) -> str:  # fmt: skip
        return await self._start_call(contact_id, tenant, flow_id, caller_id, sdp, queue, None)

    async def sip_caller(self, contact_id: str, tenant: str, flow_id: str | None, caller_id: str | None,
                         leg: SipLeg, offer: SdpOffer, queue: str | None = None) -> str:  # fmt: skip
        """A caller from a SIP trunk (called by this gateway's SIP front end): same journey as
        ``caller_offer``; returns the SDP answer for the 200 OK."""
        return await self._start_call(contact_id, tenant, flow_id, caller_id, offer, queue, leg)

    async def start_sip(self, config: SipConfig, host: str, port: int, advertise_ip: str, gateways: int = 1,
                        grpc_address: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Listen for SIP (UDP and TCP on ``host:port``; port 0 picks one) and take calls from the
        trunks of ``config``; with ``grpc_address`` each call is submitted to the site as a contact."""
        if self.sip is not None:
            return self.sip.status()
        from vcc.media.sip_gateway import SipFrontEnd, site_submitter

        submit = close = None
        if grpc_address:
            submit, close = await site_submitter(grpc_address)
        front = SipFrontEnd(self, config, host, port, advertise_ip, gateways, submit)
        try:
            await front.start()
        except MediaError as e:
            if close is not None:
                await close()
            raise MediaError(f"site {self.site}: {e}") from None
        self._start_housekeeping()
        self.sip, self._sip_close = front, close
        return front.status()

    async def reconfigure_sip(self, config: SipConfig) -> None:
        """A new config version's ``sip:`` section (trunks, limits) for the calls to come."""
        if self.sip is not None:
            self.sip.reconfigure(config)

    async def sip_status(self) -> dict[str, Any] | None:
        return self.sip.status() if self.sip is not None else None

    async def _start_call(self, contact_id: str, tenant: str, flow_id: str | None, caller_id: str | None,
                          offer: Any, queue: str | None, leg: SipLeg | None) -> str:  # fmt: skip
        self._start_housekeeping()
        if not contact_id or not isinstance(contact_id, str):
            raise MediaError("caller_offer: a contact id is required")
        if contact_id in self.active:
            raise MediaError(f"contact {contact_id}: already has a live call at gateway {self.site}/{self.index}")
        flow = None
        if flow_id:
            flow = self.center.flows.get(flow_id) if self.center is not None else None
            if flow is None:
                raise MediaError(f"contact {contact_id}: no IVR flow {flow_id!r} in the config of gateway {self.site}")
        elif not queue:
            raise MediaError(f"contact {contact_id}: caller_offer needs a flow_id or a queue")
        call = Call(self, contact_id, tenant, flow, caller_id, queue, leg)
        self.active[contact_id] = call
        try:
            answer = await call.start(offer)
        except Exception:
            self.active.pop(contact_id, None)
            await call.caller.close()
            raise
        self.active_total += 1
        self.anchor([contact_id], time.time())
        return answer

    async def agent_offer(self, contact_id: str, agent_id: str, sdp: str) -> str:
        return await self._call(contact_id).add_agent(agent_id, sdp)

    async def bridge(self, contact_id: str, agent_id: str) -> None:
        self._call(contact_id).bridge(agent_id)

    async def hold(self, contact_id: str) -> None:
        self._call(contact_id).hold()

    async def resume(self, contact_id: str) -> None:
        self._call(contact_id).resume()

    async def consult(self, contact_id: str, agent_id: str, other_agent_id: str) -> None:
        self._call(contact_id).consult(agent_id, other_agent_id)

    async def transfer(self, contact_id: str, to_agent_id: str | None = None) -> None:
        await self._call(contact_id).transfer(to_agent_id)

    async def hangup(self, contact_id: str, reason: str = "agent_hangup", agent_id: str | None = None) -> None:
        call = self.active.get(contact_id)
        if call is None:
            return
        if agent_id is not None:
            await call.drop_agent(agent_id, reason)
        else:
            by = next((who for who in ("caller", "agent") if reason.startswith(who)), "gateway")
            await call.end(reason, by)

    async def set_estimator(self, estimator: Any) -> None:
        self.estimator = estimator

    async def events(self, since: int = 0, timeout_s: float = 20.0) -> dict[str, Any]:
        if self._new_events is None:
            self._new_events = asyncio.Event()
        if since > self._seq + 1:  # the caller saw a gateway before it restarted: start again from here
            return {"next": self._seq + 1, "events": [], "gap": True}
        deadline = time.monotonic() + max(0.0, min(timeout_s, 300.0))
        while True:
            out = [e for e in self._events if e["seq"] >= since] if self._seq >= since else []
            remaining = deadline - time.monotonic()
            if out or remaining <= 0:
                first = self._events[0]["seq"] if self._events else self._seq + 1
                return {"next": self._seq + 1 if out else since, "events": out, "gap": since < first}
            self._new_events.clear()
            await wait_event(self._new_events, remaining)

    async def calls(self) -> list[dict[str, Any]]:
        return [c.describe() for c in self.active.values()]

    async def reconfigure(self, center: CenterSpec) -> None:
        self.center = center

    async def cleanup_recordings(self, now: float | None = None) -> int:
        return await asyncio.to_thread(cleanup_recordings, self.recordings_dir, self.media.retention_days,
                                       time.time() if now is None else now)  # fmt: skip

    async def close(self) -> None:
        """End every call (tests, shutdown)."""
        if self.sip is not None:
            await self.sip.stop()
            self.sip = None
        if self._sip_close is not None:
            await self._sip_close()
        for call in list(self.active.values()):
            await call.end("gateway_shutdown", "gateway")
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            await asyncio.gather(self._housekeeper, return_exceptions=True)

    # --- CallHost -------------------------------------------------------------------------------

    def emit(self, contact_id: str, kind: str, **fields: Any) -> None:
        self._seq += 1
        self._events.append({"seq": self._seq, "ts": time.time(), "contact_id": contact_id, "kind": kind, **fields})
        if self._new_events is not None:
            self._new_events.set()

    def is_open(self, tenant: str, now: float) -> bool:
        spec = self.center.tenants.get(tenant) if self.center is not None else None
        return True if spec is None else spec.hours.is_open(now)

    async def wait_estimate(self, contact_id: str, tenant: str, queue: str) -> tuple[float | None, int | None]:
        if self.estimator is None:
            return None, None
        try:
            ewt_s, position = await self._ask_site("wait_estimate", ESTIMATE_TIMEOUT_S, contact_id, tenant, queue)
            return (None if ewt_s is None else float(ewt_s)), (None if position is None else int(position))
        except Exception as exc:  # the site is busy or gone: the caller just hears no estimate
            log.warning("contact %s: wait estimate failed: %s", contact_id, exc)
            return None, None

    async def book_callback(self, contact_id: str, booking: BookCallback) -> str:
        """Ask the site to book a callback the caller accepted: '' once etcd holds it, else why not."""
        if self.estimator is None:
            return "no site to book the callback with"
        try:
            return str(await self._ask_site("book_callback", BOOK_TIMEOUT_S, contact_id, booking))
        except Exception as exc:  # the site is gone or stuck: the caller stays in line instead
            log.warning("contact %s: callback booking failed: %s", contact_id, exc)
            return f"the site did not answer the booking ({type(exc).__name__})"

    async def _ask_site(self, name: str, timeout_s: float, *args: Any) -> Any:
        """Call the site's side for the gateways (the web front door's actor, or the object itself)."""
        method = getattr(self.estimator, name)
        coro = method.remote(*args) if hasattr(method, "remote") else method(*args)
        return await asyncio.wait_for(coro, timeout_s)

    def call_ended(self, call: Call) -> None:
        if self.active.get(call.contact_id) is call:
            del self.active[call.contact_id]
        self.release([call.contact_id])

    # --- internals ------------------------------------------------------------------------------

    def _call(self, contact_id: str) -> Call:
        call = self.active.get(contact_id)
        if call is None:
            raise MediaError(f"contact {contact_id}: no live call at gateway {self.site}/{self.index}")
        return call

    def _load_music(self) -> Pcm:
        path = self.media.music_on_hold
        if not path:
            return music_on_hold()
        from vcc.media.pcm import RATE_HZ, resample

        pcm, rate = read_wav(Path(path))
        return resample(pcm, rate, RATE_HZ)

    def _start_housekeeping(self) -> None:
        if self._new_events is None:
            self._new_events = asyncio.Event()
        if self._housekeeper is None or self._housekeeper.done():
            self._housekeeper = asyncio.create_task(self._housekeeping())

    async def _housekeeping(self) -> None:
        last_cleanup = 0.0
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            now = time.time()
            for call in list(self.active.values()):
                try:
                    call.flush_recording(now)
                except OSError as exc:
                    log.error("contact %s: recording write failed: %s", call.contact_id, exc)
            if now - last_cleanup >= CLEANUP_EVERY_S:
                last_cleanup = now
                try:
                    await self.cleanup_recordings(now)
                except OSError as exc:
                    log.error("recording retention cleanup failed: %s", exc)
