"""The SIP front end of a media gateway: UDP and TCP listeners on the site's SIP port, the sans-IO
user agent server (:mod:`vcc.sip.uas`) driven by the sockets and a 20 ms timer, trunk admission,
dialed number -> entry point, and a :class:`SipLeg` caller for each answered call, run by the
gateway's :class:`vcc.media.call.Call` like a WebRTC caller (docs/sip.md).

A call: INVITE -> 100 Trying (at once) -> trunk check (403, or 401 with a digest challenge) ->
entry point of the dialed number (404) -> 180 Ringing -> the contact is submitted to the site
(``submit``; the site's front door then turns the gateway's events into contact events as for web
callers) -> the caller leg and the call's IVR start -> 200 OK with our SDP -> ACK. A CANCEL before
the 200 ends it (487); a BYE from the caller ends the call (``caller_hangup``); when the gateway
ends the call (IVR hang-up, agent hang-up) the caller gets a BYE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vcc.config.trunks import SipConfig
from vcc.media.errors import MediaError
from vcc.media.sip_leg import RtpClock, SipLeg
from vcc.sip.digest import DigestAuthenticator
from vcc.sip.message import SipParseError, frame_stream, uri_user
from vcc.sip.sdp import SdpError, parse_offer
from vcc.sip.trunks import TrunkTable, dialed_number, find_entry
from vcc.sip.uas import (
    Acked,
    Action,
    CallGone,
    Cancelled,
    Dropped,
    IncomingCall,
    Peer,
    RemoteBye,
    ReOffer,
    Send,
    UasCore,
)

if TYPE_CHECKING:
    from vcc.actors.media_gateway import MediaGateway
    from vcc.media.call import Call

log = logging.getLogger(__name__)

TICK_S = 0.02
SIP_RCVBUF_BYTES = 4 << 20  # the kernel caps it at net.core.rmem_max (the default 208 KiB holds ~100 datagrams)
#: ``submit(contact_id, entry address, caller id, trunk id) -> None`` or an error sentence.
Submit = Callable[[str, str, str, str], Awaitable[str | None]]


@dataclass
class SipCall:
    handle: str
    contact_id: str = ""
    leg: SipLeg | None = None
    ended_by_peer: bool = False
    cancelled: bool = False
    started: float = 0.0


class SipFrontEnd:
    def __init__(self, gateway: MediaGateway, config: SipConfig, host: str, port: int, advertise_ip: str,
                 gateways: int = 1, submit: Submit | None = None, env: dict[str, str] | None = None,
                 secret: bytes | None = None) -> None:  # fmt: skip
        self.gateway = gateway
        self.config = config
        self.host, self.port = host, port
        self.advertise_ip = advertise_ip
        self.gateways = max(1, gateways)
        self.submit = submit
        self.core = UasCore(f"<sip:{advertise_ip}:{port}>", server="vcc-gateway")
        self._env = env
        self.trunks = TrunkTable(list(config.trunks), DigestAuthenticator(config.realm, secret or uuid.uuid4().bytes),
                                 env)  # fmt: skip
        self.clock = RtpClock()
        self.calls: dict[str, SipCall] = {}  # SIP call handle -> call
        self.tcp: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self.counters = {"invites": 0, "answered": 0, "refused": 0, "cancelled": 0, "bad": 0, "byes_in": 0,
                         "byes_out": 0}  # fmt: skip
        self.setup_ms: list[float] = []  # INVITE in -> 200 out, kept for the last 10,000 calls
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        for problem in self.trunks.missing:
            log.error("SIP: %s", problem)

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> tuple[int, int]:
        """Listen on UDP and TCP; a port that cannot be had raises :class:`MediaError` with nothing left open.
        Port 0 picks a port free for both (the UDP port the kernel gives may be taken for TCP: try again)."""
        attempts = 20 if self.port == 0 else 1
        for attempt in range(attempts):
            try:
                await self._listen()
                break
            except MediaError:
                if attempt == attempts - 1:
                    raise
                self.port = 0
        self._ticker = asyncio.create_task(self._tick())
        return self.port, self.port

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            udp, _ = await loop.create_datagram_endpoint(lambda: _SipUdp(self), local_addr=(self.host, self.port))
        except OSError as e:
            raise MediaError(f"SIP listener: cannot bind UDP {self.host}:{self.port}: {e.strerror or e}") from None
        self._udp = udp
        sock = udp.get_extra_info("socket")
        with contextlib.suppress(OSError):  # bursts of set-ups while the loop is busy: queue, don't drop
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SIP_RCVBUF_BYTES)
        if self.port == 0:
            self.port = udp.get_extra_info("sockname")[1]
            self.core.contact = f"<sip:{self.advertise_ip}:{self.port}>"
        try:
            self._tcp_server = await asyncio.start_server(self._tcp_client, self.host, self.port)
        except OSError as e:
            udp.close()
            self._udp = None
            await asyncio.sleep(0)  # the transport lets its socket go on the next loop step
            raise MediaError(f"SIP listener: cannot listen on TCP {self.host}:{self.port}: {e.strerror or e}") from None

    async def stop(self) -> None:
        for c in list(self.calls.values()):
            if c.contact_id:
                await self.gateway.hangup(c.contact_id, "gateway_shutdown")
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.clock.stop()
        if self._udp is not None:
            self._udp.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
            for w in list(self.tcp.values()):
                w.close()
            await self._tcp_server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def reconfigure(self, config: SipConfig) -> None:
        """A new config version (``vcc config apply``): trunks, limits, codecs and RTP ports for the
        calls to come; calls in progress keep what they have. The listening port stays the site's."""
        auth = self.trunks.auth
        if config.realm != self.config.realm:
            auth = DigestAuthenticator(config.realm, uuid.uuid4().bytes)
        self.trunks = TrunkTable(list(config.trunks), auth, self._env)
        self.config = config
        for problem in self.trunks.missing:
            log.error("SIP: %s", problem)

    def status(self) -> dict[str, Any]:
        ordered = sorted(self.setup_ms)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None
        return {"port": self.port, "calls": len(self.calls), **self.counters, **self.core.stats,
                "post_dial_delay_p99_ms": p99, "rtp_late_ticks": self.clock.late_ticks,
                "rtp_tick_lateness_p99_ms": self.clock.lateness_p99_ms(), "rtp_legs": len(self.clock.legs)}  # fmt: skip

    # --- transports --------------------------------------------------------------------------------

    def received(self, data: bytes, peer: Peer) -> None:
        try:
            actions = self.core.receive(data, peer, time.monotonic())
        except Exception:  # a bug in the core must not take the listener down with it
            log.exception("SIP: message from %s:%s failed", peer[1], peer[2])
            self.counters["bad"] += 1
            return
        self._run(actions)

    def _send(self, peer: Peer, data: bytes) -> None:
        proto, host, port = peer
        if proto == "UDP":
            if self._udp is not None:
                self._udp.sendto(data, (host, port))
            return
        writer = self.tcp.get((host, port))
        if writer is not None and not writer.is_closing():
            writer.write(data)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        addr = writer.get_extra_info("peername")
        key = (addr[0], addr[1])
        self.tcp[key] = writer
        buffer = bytearray()
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                buffer += chunk
                while True:
                    try:
                        message = frame_stream(buffer)
                    except SipParseError as e:  # no framing to recover by: close (RFC 3261 18.3)
                        log.info("SIP: closing TCP from %s:%s: %s", key[0], key[1], e.reason)
                        self.counters["bad"] += 1
                        return
                    if message is None:
                        break
                    self.received(message, ("TCP", key[0], key[1]))
        except (ConnectionError, OSError):
            pass
        finally:
            self.tcp.pop(key, None)
            writer.close()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._run(self.core.tick(time.monotonic()))
            except Exception:
                log.exception("SIP: timer step failed")

    # --- what the core asks for ----------------------------------------------------------------------

    def _run(self, actions: list[Action]) -> None:
        for a in actions:
            match a:
                case Send(peer=peer, data=data):
                    self._send(peer, data)
                case IncomingCall(call=handle, request=request, peer=peer):
                    self.counters["invites"] += 1
                    call = SipCall(handle, started=time.monotonic())
                    self.calls[handle] = call
                    self._spawn(self._incoming(call, request, peer))
                case Cancelled(call=handle):
                    self.counters["cancelled"] += 1
                    self._peer_ended(handle, cancelled=True)
                case RemoteBye(call=handle):
                    self.counters["byes_in"] += 1
                    self._peer_ended(handle)
                case CallGone(call=handle, reason=reason):
                    if reason == "no_ack":
                        self._peer_ended(handle)
                case ReOffer(call=handle, request=request):
                    self._reoffer(handle, request)
                case Acked() | Dropped():
                    pass

    async def _incoming(self, call: SipCall, request: Any, peer: Peer) -> None:
        handle = call.handle
        now = time.time()
        admission = self.trunks.admit(request, peer[1], now)
        if admission.status:
            self.counters["refused"] += 1
            log.info("SIP: call from %s refused (%d): %s", peer[1], admission.status, admission.reason)
            headers = [("WWW-Authenticate", admission.challenge)] if admission.challenge else []
            headers.append(("Warning", f'399 vcc "{admission.reason}"'))
            self._refuse(handle, admission.status, headers)
            return
        number = dialed_number(request)
        center = self.gateway.center
        entry = find_entry(center.entry_points, number) if center is not None else None
        if entry is None:
            self._refuse(handle, 404, [("Warning", f'399 vcc "no voice entry point for {number[:40]}"')])
            return
        if not self.trunks.allows_tenant(admission.trunk, entry.tenant):
            self._refuse(handle, 403, [("Warning", f'399 vcc "trunk {admission.trunk} may not call {number}"')])
            return
        if sum(1 for c in self.calls.values() if c.contact_id) >= self.config.max_calls:
            self._refuse(handle, 503, [("Retry-After", "5")])
            return
        try:
            offer = parse_offer(request.body.decode("utf-8", "replace")) if request.body else None
        except SdpError as e:
            self._refuse(handle, 488, [("Warning", f'399 vcc "{e}"')])
            return
        if offer is None:
            self._refuse(handle, 488, [("Warning", '399 vcc "an INVITE without an SDP offer is not supported"')])
            return
        self._run(self.core.ringing(handle, time.monotonic()))
        if self.config.ring_ms:
            await asyncio.sleep(self.config.ring_ms / 1000)
        caller_id = uri_user((request.get("From") or "").partition("<")[2].partition(">")[0] or
                             (request.get("From") or "").split(";")[0])  # fmt: skip
        contact_id = self._contact_id()
        if self.submit is not None:
            error = await self.submit(contact_id, entry.address, caller_id, admission.trunk)
            if error is not None:
                self._refuse(handle, 480, [("Warning", f'399 vcc "{error[:100]}"')])
                return
        if call.cancelled or handle not in self.calls:
            self.calls.pop(handle, None)
            await self._withdraw(contact_id)
            return
        leg = SipLeg(contact_id, self.clock, self.advertise_ip, self.config.rtp_ports, tuple(self.config.codecs))
        call.contact_id, call.leg = contact_id, leg
        try:
            answer = await self.gateway.sip_caller(contact_id, entry.tenant, entry.flow, caller_id, leg, offer,
                                                   entry.queue)  # fmt: skip
        except MediaError as e:  # the leg closed without a word to the caller: the INVITE gets the reason
            call.contact_id = ""
            text = str(e)
            busy = "RTP port" in text  # every RTP port pair taken: come back later
            status, extra = (503, [("Retry-After", "5")]) if busy else (488 if "codec" in text else 500, [])
            self._refuse(handle, status, [*extra, ("Warning", f'399 vcc "{text[:100]}"')])
            await self._withdraw(contact_id)
            return
        if call.cancelled or handle not in self.calls:  # CANCEL while the leg started
            self.calls.pop(handle, None)
            await self.gateway.hangup(contact_id, "caller_hangup")
            return
        if leg.closed:  # the gateway ended the call while it started (shutdown)
            self._refuse(handle, 480, [("Warning", '399 vcc "the call ended before it was answered"')])
            return
        leg.on_closed = lambda: self._leg_closed(handle)  # from here the gateway's end is a BYE
        started = self.gateway.active.get(contact_id)
        if started is not None:
            leg.audio_wanted = caller_audio_wanted(started, leg)
        self._run(self.core.answer(handle, answer, time.monotonic()))
        self.counters["answered"] += 1
        self.setup_ms.append((time.monotonic() - call.started) * 1000)
        if len(self.setup_ms) > 10_000:
            del self.setup_ms[:1000]

    def _refuse(self, handle: str, status: int, headers: list[tuple[str, str]]) -> None:
        self.calls.pop(handle, None)
        self._run(self.core.reject(handle, status, time.monotonic(), headers))

    async def _withdraw(self, contact_id: str) -> None:
        """The caller left before the call started: the submitted contact is abandoned."""
        self.gateway.emit(contact_id, "ended", reason="caller_hangup", by="caller")

    def _contact_id(self) -> str:
        """A contact id the front door maps to this gateway (it hashes the id over the gateways)."""
        while True:
            cid = uuid.uuid4().hex
            if zlib.crc32(cid.encode()) % self.gateways == self.gateway.index % self.gateways:
                return cid

    def _peer_ended(self, handle: str, cancelled: bool = False) -> None:
        call = self.calls.get(handle)
        if call is None:
            return
        call.ended_by_peer, call.cancelled = True, cancelled
        if call.contact_id:
            self._spawn(self.gateway.hangup(call.contact_id, "caller_hangup"))
        elif not cancelled:
            self.calls.pop(handle, None)

    def _leg_closed(self, handle: str) -> None:
        """The gateway ended the call (IVR, agent, shutdown) or the caller did: BYE unless it was them."""
        call = self.calls.pop(handle, None)
        if call is not None and not call.ended_by_peer:
            self.counters["byes_out"] += 1
            self._run(self.core.hangup(handle, time.monotonic()))

    def _reoffer(self, handle: str, request: Any) -> None:
        call = self.calls.get(handle)
        if call is None or call.leg is None:
            self._run(self.core.reject(handle, 481, time.monotonic()))
            return
        try:
            offer = parse_offer(request.body.decode("utf-8", "replace"))
            was_held = call.leg.on_hold
            answer = call.leg.reoffer(offer)
        except (SdpError, MediaError) as e:
            self._run(self.core.reject(handle, 488, time.monotonic(), [("Warning", f'399 vcc "{e}"')]))
            return
        self._run(self.core.answer(handle, answer, time.monotonic()))
        if call.leg.on_hold != was_held:
            self.gateway.emit(call.contact_id, "caller_hold", on_hold=call.leg.on_hold)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP call task failed", exc_info=task.exception())


def caller_audio_wanted(call: Call, leg: SipLeg) -> Callable[[], bool]:
    """Whether a SIP caller's audio is needed now: in the IVR and the queue the call only listens for
    in-band keys, which a caller that negotiated RFC 4733 telephone-events sends as events; so there,
    with no recording, the leg drops the audio undecoded (most of a held call's receive cost)."""

    def wanted() -> bool:
        return leg.te_pt is None or call.recorder is not None or call.state not in ("ivr", "queued")

    return wanted


class _SipUdp(asyncio.DatagramProtocol):
    def __init__(self, front: SipFrontEnd) -> None:
        self.front = front

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.front.received(data, ("UDP", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP: %s", exc)


async def site_submitter(grpc_address: str) -> tuple[Submit, Callable[[], Awaitable[None]]]:
    """``submit`` through the site's gRPC API (SubmitContacts with the IVR at the gateway), and its closer."""
    import grpc

    from vcc.proto.v1 import site_pb2 as pb
    from vcc.proto.v1 import site_pb2_grpc as pb_grpc

    channel = grpc.aio.insecure_channel(grpc_address)
    api = pb_grpc.SiteApiStub(channel)

    async def submit(contact_id: str, address: str, caller_id: str, trunk: str) -> str | None:
        sub = pb.ContactSubmission(contact_id=contact_id, channel=pb.VOICE, entry_point=address, caller_id=caller_id,
                                   ivr_at_gateway=True, data={"origin": "sip", "trunk": trunk})  # fmt: skip
        try:
            reply = await api.SubmitContacts(pb.SubmitContactsRequest(contacts=[sub]), timeout=5.0)
        except grpc.aio.AioRpcError as e:
            return f"site unavailable: {e.details()}"
        result = reply.results[0]
        return None if result.accepted else (result.error or "refused")

    async def close() -> None:
        with contextlib.suppress(Exception):
            await channel.close()

    return submit, close
