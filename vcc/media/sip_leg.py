"""A caller leg from a SIP trunk: G.711 over plain RTP/RTCP on a UDP port pair, with the same face as
an aiortc :class:`vcc.media.legs.Leg` (``out``, ``on_audio``, ``on_digit``, ``on_state``, ``close``,
``stats``), so a :class:`vcc.media.call.Call` runs its IVR, queue, bridge and recording unchanged.

Sending is paced by one :class:`RtpClock` per gateway: every 20 ms it asks each SIP leg for a frame
(the relay queue when bridged, else the call's prompt/music source), downsamples 48 -> 8 kHz,
encodes G.711 and sends, so a few hundred calls cost one timer, not one task each. Received RTP is
decoded, upsampled to 48 kHz and handed to ``on_audio``; RFC 4733 telephone-events go to
``on_digit``. An RTCP sender report with a reception report block goes out every 5 s (RFC 3550).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from vcc.media.errors import MediaError
from vcc.media.legs import RELAY_DEPTH, AudioSink
from vcc.media.pcm import RATE_HZ, Pcm, decimate, resample, silence
from vcc.media.rfc4733 import TelephoneEventError, TelephoneEventReceiver
from vcc.sip.rtp import (
    CLOCK_HZ,
    FRAME_SAMPLES_8K,
    ReceiveStats,
    RtpError,
    build_rtcp,
    g711_decode,
    g711_encode,
    is_rtcp,
    parse_rtcp,
    parse_rtp,
)
from vcc.sip.sdp import SdpOffer, answer_direction, build_sdp, choose_codec

log = logging.getLogger(__name__)

FRAME_S = 0.02
RTCP_EVERY_S = 5.0
_SILENCE = silence()
_SENDING = frozenset(("sendrecv", "sendonly"))
_RTP_HEADER = struct.Struct("!BBHII")  # V=2, M|PT, sequence, timestamp, SSRC (RFC 3550 5.1)


class SipOutbound:
    """What the call sends to the caller: relayed frames (bridged) or its paced source."""

    def __init__(self) -> None:
        self.relay = False
        self.source: Callable[[], Pcm] = lambda: _SILENCE
        self._queue: deque[Pcm] = deque(maxlen=RELAY_DEPTH)
        self.frames_sent = 0

    def push(self, pcm: Pcm) -> None:
        self._queue.append(pcm)

    def set_relay(self, relay: bool) -> None:
        if relay != self.relay:
            self.relay = relay
            self._queue.clear()

    def next_frame(self) -> Pcm:
        self.frames_sent += 1
        if self.relay:
            return self._queue.popleft() if self._queue else _SILENCE
        return self.source()


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, leg: SipLeg, rtcp: bool) -> None:
        self.leg, self.rtcp = leg, rtcp

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.leg.datagram(data, addr, self.rtcp)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and such: not fatal
        self.leg.errors += 1


class FrameEncoder:
    """G.711 payloads of 48 kHz frames. What callers in the IVR and the queue hear (prompts, the music
    on hold, announcements) is the same few thousand frames for every call, so a paced frame is
    decimated and encoded once and then looked up by its samples (``frame.tobytes()``: a 1,920-byte
    copy and a dict lookup, ~1 us; the frame's buffer address costs more to read from numpy). A frame
    whose bytes are the same is the same payload, so per-call copies (a music loop's wrap-around
    frame, an announcement put together for one caller) hit too. Relayed frames (a bridged agent's
    voice) are never repeated: they are encoded without touching the cache."""

    def __init__(self, max_frames: int = 10_000) -> None:
        self.max_frames = max_frames  # ~2.1 kB a frame: ~21 MB at most
        self._cache: dict[str, dict[bytes, bytes]] = {"PCMU": {}, "PCMA": {}}
        self._silence = {c: g711_encode(silence(FRAME_SAMPLES_8K), c) for c in ("PCMU", "PCMA")}
        self.hits = 0
        self.misses = 0

    def encode(self, frame: Pcm, codec: str, cache: bool = True) -> bytes:
        if frame is _SILENCE:
            return self._silence[codec]
        if not cache:
            return g711_encode(decimate(frame, RATE_HZ // CLOCK_HZ), codec)
        table = self._cache.setdefault(codec, {})
        key = frame.tobytes()
        payload = table.get(key)
        if payload is not None:
            self.hits += 1
            return payload
        self.misses += 1
        payload = g711_encode(decimate(frame, RATE_HZ // CLOCK_HZ), codec)
        if len(table) >= self.max_frames:
            table.clear()
        table[key] = payload
        return payload


class RtpClock:
    """One 20 ms clock for every SIP leg of a gateway."""

    def __init__(self) -> None:
        self.encoder = FrameEncoder()
        self.legs: set[SipLeg] = set()
        self._task: asyncio.Task[None] | None = None
        self.late_ticks = 0
        self.ticks = 0
        self.lateness_ms: deque[float] = deque(maxlen=5000)  # how late each tick ran (on-time RTP)

    def add(self, leg: SipLeg) -> None:
        self.legs.add(leg)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def remove(self, leg: SipLeg) -> None:
        self.legs.discard(leg)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while self.legs:
            now = loop.time()
            if next_t > now:
                await asyncio.sleep(next_t - now)
                now = loop.time()
            self.lateness_ms.append((now - next_t) * 1000)
            if now - next_t > 0.1:  # stalled for more than 5 frames: start the clock again
                self.late_ticks += 1
                next_t = now
            next_t += FRAME_S
            self.ticks += 1
            wall = time.time()
            for leg in list(self.legs):
                try:
                    leg.tick(wall)
                except Exception:
                    log.exception("contact %s: RTP send failed", leg.contact_id)
                    self.legs.discard(leg)

    def lateness_p99_ms(self) -> float | None:
        ordered = sorted(self.lateness_ms)
        return round(ordered[int(0.99 * (len(ordered) - 1))], 2) if ordered else None

    async def stop(self) -> None:
        self.legs.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class SipLeg:
    """The caller's media of a SIP call. ``answer`` takes the INVITE's SDP offer and returns ours."""

    role = "caller"
    agent_id = None

    def __init__(self, contact_id: str, clock: RtpClock, local_ip: str, ports: tuple[int, int],
                 codecs: tuple[str, ...] = ("PCMU", "PCMA")) -> None:  # fmt: skip
        self.contact_id = contact_id
        self.clock = clock
        self.local_ip = local_ip
        self.port_range = ports
        self.codecs = codecs
        self.out = SipOutbound()
        self.on_audio: AudioSink = lambda pcm, t: None
        self.on_digit: Callable[[str], None] = lambda d: None
        self.on_state: Callable[[str], None] = lambda s: None
        self.on_closed: Callable[[], None] = lambda: None  # the SIP side sends its BYE
        # whether the call needs the caller's audio now (decoded, at 48 kHz, to ``on_audio``); the SIP
        # front end sets it: not while the IVR or queue hears keys as RFC 4733 events and nothing records
        self.audio_wanted: Callable[[], bool] = lambda: True
        self.frames_unheard = 0
        self.telephone_events = TelephoneEventReceiver()
        self.stats_in = ReceiveStats()
        self.frames_in = 0
        self.errors = 0
        self.connected = False
        self.closed = False
        self.remote: tuple[str, int] | None = None
        self.remote_rtcp: tuple[str, int] | None = None
        self.direction = "sendrecv"
        self.pt = 0
        self.codec = "PCMU"
        self.te_pt: int | None = None
        self.local_port = 0
        self.ssrc = random.randrange(1, 1 << 32)
        self.seq = random.randrange(1 << 16)
        self.ts = random.randrange(1 << 32)
        self.packets_sent = 0
        self.octets_sent = 0
        self.rtcp_sent = 0
        self.rtcp_received = 0
        self.last_report: dict[str, int] = {}
        self._session_id = random.randrange(1 << 31)
        self._version = 0
        self._next_rtcp = 0.0
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._sock: Any = None

    async def answer(self, offer: SdpOffer | str) -> str:
        if isinstance(offer, str):
            raise MediaError(f"contact {self.contact_id}: a SIP leg takes a parsed SDP offer")
        try:
            self.pt, self.codec = choose_codec(offer, self.codecs)
        except ValueError as exc:
            raise MediaError(f"contact {self.contact_id}: {exc}") from None
        self.te_pt = offer.telephone_event_pt
        await self._bind()
        self._apply_offer(offer)
        self.clock.add(self)
        return self._sdp(offer)

    def reoffer(self, offer: SdpOffer) -> str:
        """A re-INVITE (hold, resume, a new address): same codec when still offered."""
        if self.pt not in offer.payload_types:
            try:
                self.pt, self.codec = choose_codec(offer, self.codecs)
            except ValueError as exc:
                raise MediaError(f"contact {self.contact_id}: {exc}") from None
        self.te_pt = offer.telephone_event_pt
        self._apply_offer(offer)
        self._version += 1
        return self._sdp(offer)

    @property
    def on_hold(self) -> bool:
        return self.direction in ("recvonly", "inactive")

    def _apply_offer(self, offer: SdpOffer) -> None:
        if offer.address in ("0.0.0.0", "::"):  # RFC 2543 hold: keep the old address, send nothing
            self.direction = "inactive" if offer.direction == "inactive" else "recvonly"
            return
        self.direction = answer_direction(offer.direction)
        self.remote = (offer.address, offer.port)
        self.remote_rtcp = (offer.address, offer.port + 1)

    def _sdp(self, offer: SdpOffer) -> str:
        return build_sdp(self.local_ip, self.local_port, self.pt, self.codec, self.te_pt, self._session_id,
                         self._version, self.direction, offer.other_media)  # fmt: skip

    async def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        low, high = self.port_range
        first = low + (low % 2)
        pairs = max(1, (high - first) // 2)
        offset = random.randrange(pairs)  # a random place in the range, then on from there
        starts = [first + 2 * ((offset + i) % pairs) for i in range(min(pairs, 200))]
        family = socket.AF_INET6 if ":" in self.local_ip else socket.AF_INET
        for port in starts:
            socks = []
            try:
                for p in (port, port + 1):
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    socks.append(sock)
                    sock.setblocking(False)
                    sock.bind((self.local_ip, p))
            except OSError:
                for sock in socks:
                    sock.close()
                continue
            socks[0].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            rtp_t, _ = await loop.create_datagram_endpoint(lambda: _RtpProtocol(self, False), sock=socks[0])
            rtcp_t, _ = await loop.create_datagram_endpoint(lambda: _RtpProtocol(self, True), sock=socks[1])
            self._rtp, self._rtcp, self.local_port, self._sock = rtp_t, rtcp_t, port, socks[0]
            return
        raise MediaError(f"contact {self.contact_id}: no free RTP port pair in {low}-{high}")

    # --- the clock -------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        out = self.out
        frame = out.next_frame()
        self.ts = ts = (self.ts + FRAME_SAMPLES_8K) & 0xFFFFFFFF
        if self.closed or self.remote is None or self._sock is None or self.direction not in _SENDING:
            return
        payload = self.clock.encoder.encode(frame, self.codec, cache=not out.relay)
        seq = self.seq
        self.seq = (seq + 1) & 0xFFFF
        try:  # straight to the socket: the transport's own sendto costs as much again per packet
            self._sock.sendto(_RTP_HEADER.pack(0x80, self.pt | (0x80 if self.packets_sent == 0 else 0), seq, ts,
                                               self.ssrc) + payload, self.remote)  # fmt: skip
        except (BlockingIOError, InterruptedError):
            self.errors += 1  # the send buffer is full: this frame is lost, as on the wire
        except OSError:
            self.errors += 1
        self.packets_sent += 1
        self.octets_sent += len(payload)
        if now >= self._next_rtcp:
            self._send_rtcp(now)

    def _send_rtcp(self, now: float) -> None:
        self._next_rtcp = now + RTCP_EVERY_S * random.uniform(0.5, 1.5)  # RFC 3550 6.3.1 randomisation
        if self._rtcp is None or self.remote_rtcp is None:
            return
        stats = self.stats_in if self.stats_in.received else None
        self._rtcp.sendto(build_rtcp(self.ssrc, now, self.ts, self.packets_sent, self.octets_sent, stats,
                                     f"vcc@{self.local_ip}"), self.remote_rtcp)  # fmt: skip
        self.rtcp_sent += 1

    # --- receiving -------------------------------------------------------------------------------

    def datagram(self, data: bytes, addr: tuple[Any, int], rtcp_port: bool) -> None:
        if self.closed:
            return
        now = time.time()
        if rtcp_port or is_rtcp(data):
            try:
                reports = parse_rtcp(data)
            except (RtpError, Exception):
                self.errors += 1
                return
            self.rtcp_received += 1
            for r in reports:
                if r.kind == "SR":
                    self.stats_in.last_sr_ntp_mid, self.stats_in.last_sr_at_s = r.ntp_mid, now
                if r.kind in ("SR", "RR") and (r.fraction_lost or r.cumulative_lost or r.jitter):
                    self.last_report = {"fraction_lost": r.fraction_lost, "cumulative_lost": r.cumulative_lost,
                                        "jitter": r.jitter}  # fmt: skip
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.errors += 1
            return
        if not self.connected:
            self.connected = True
            self.on_state("connected")
        if packet.payload_type == self.te_pt:
            try:
                digit = self.telephone_events.packet(packet.timestamp, packet.payload)
            except (TelephoneEventError, ValueError):
                self.errors += 1
                return
            if digit is not None:
                self.on_digit(digit)
            return
        if packet.payload_type not in (0, 8):
            return  # comfort noise (13) and anything else: not audio we decode
        self.stats_in.packet(packet, now)
        self.frames_in += 1
        if not self.audio_wanted():
            self.frames_unheard += 1  # nobody listens (IVR/queue with RFC 4733 keys): not decoded
            return
        pcm8 = g711_decode(packet.payload, "PCMU" if packet.payload_type == 0 else "PCMA")
        try:
            self.on_audio(resample(pcm8, CLOCK_HZ, RATE_HZ), now)
        except Exception:
            log.exception("contact %s: SIP caller audio handler failed", self.contact_id)

    async def close(self) -> None:
        if self.closed:
            return
        if self._rtcp is not None and self.remote_rtcp is not None:
            bye = build_rtcp(self.ssrc, time.time(), self.ts, self.packets_sent, self.octets_sent, None, "vcc")
            bye += bytes([0x81, 203, 0, 1]) + self.ssrc.to_bytes(4, "big")  # RTCP BYE
            self._rtcp.sendto(bye, self.remote_rtcp)
        self.closed = True
        self.clock.remove(self)
        for t in (self._rtp, self._rtcp):
            if t is not None:
                t.close()
        try:
            self.on_closed()
        except Exception:
            log.exception("contact %s: SIP leg close handler failed", self.contact_id)

    def stats(self) -> dict[str, Any]:
        return {"frames_in": self.frames_in, "frames_unheard": self.frames_unheard, "frames_out": self.packets_sent,
                "state": "connected" if self.connected else "new", "codec": self.codec, "lost": self.stats_in.lost,
                "jitter_ms": round(self.stats_in.jitter / CLOCK_HZ * 1000, 2), "rtcp_sent": self.rtcp_sent,
                "rtcp_received": self.rtcp_received, "remote_report": self.last_report}  # fmt: skip
