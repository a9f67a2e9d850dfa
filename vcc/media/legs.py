"""One leg of a call: an aiortc RTCPeerConnection with the gateway's outbound track, a reader of
the peer's decoded audio, and RFC 4733 telephone-events taken out before the decoder.

The outbound track has two modes. **Relay**: frames pushed by the bridged leg's reader go out as
soon as they arrive (at most 3 queued, older dropped); when none comes within a frame time plus a
grace, silence goes out. **Paced**: a source function (prompt, music, silence) is asked for a frame
every 20 ms on the track's own clock.

aiortc 1.16 has no telephone-event codec, so :func:`enable_telephone_event` adds
``telephone-event/8000`` and ``/48000`` to its audio codec list (process-wide, once): an answer to an
offer that has them negotiates them; the receiver's packets with those payload types are handed to
the leg's :class:`TelephoneEventReceiver` and never reach the decoder.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc import rtp as aiortc_rtp
from aiortc.codecs import CODECS
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from vcc.media import rtp_in
from vcc.media.encoders import LONG_LIVED, FrameEncoder, OpusFrameEncoder, frame_encoder
from vcc.media.errors import MediaError
from vcc.media.passthrough import (
    PASSTHROUGH_CODECS,
    EncodedAudio,
    PayloadDecoder,
    codec_clock_hz,
    payload_samples_48k,
)
from vcc.media.pcm import FRAME_SAMPLES, RATE_HZ, Pcm, resample, silence
from vcc.media.rfc4733 import TelephoneEventReceiver
from vcc.media.rtp_out import RtpOut

log = logging.getLogger(__name__)

FRAME_S = FRAME_SAMPLES / RATE_HZ
_TIME_BASE = fractions.Fraction(1, RATE_HZ)
_SILENCE = silence()
RELAY_DEPTH = 3


def enable_telephone_event() -> None:
    audio = CODECS["audio"]
    if any(c.mimeType.lower() == "audio/telephone-event" for c in audio):
        return
    for pt, rate in ((101, 8000), (110, 48000)):
        audio.append(RTCRtpCodecParameters(mimeType="audio/telephone-event", clockRate=rate, channels=1,
                                           payloadType=pt, parameters={"0-16": None}))  # fmt: skip


enable_telephone_event()


def audio_level_dbov(frame: av.AudioFrame) -> int:
    """RFC 6465 audio level of a frame: aiortc's ``compute_audio_level_dbov`` (same result), with
    numpy instead of a Python loop over the samples, which cost ~0.16 ms a frame, a tenth of the
    gateway's event loop in the bench."""
    samples = np.frombuffer(bytes(frame.planes[0]), dtype=np.int16).astype(np.float64)
    rms = math.sqrt(float(np.dot(samples, samples)) / (frame.samples * 32767 * 32767))
    return round(min(0.0, max(-127.0, 20 * math.log10(rms)))) if rms > 0 else -127


aiortc_rtp.compute_audio_level_dbov = audio_level_dbov  # rtcrtpsender calls it through the module


class OutboundTrack(MediaStreamTrack):
    kind = "audio"
    # forwarded payloads go out from the bridged leg's receive hook at once (RtpOut.send) rather than
    # through the queue and the sender loop; off only to measure the difference (bench)
    direct = True

    def __init__(self) -> None:
        super().__init__()
        self.relay = False
        self.source: Callable[[], Pcm] = lambda: _SILENCE
        self._queue: deque[Pcm | EncodedAudio] = deque(maxlen=RELAY_DEPTH)
        self._waiter: asyncio.Future[None] | None = None
        self._next_t: float | None = None
        self._pts = 0
        self.frames_sent = 0
        self.frames_dropped = 0  # relay: pushed while RELAY_DEPTH frames were waiting (the oldest goes)
        self.fillers = 0  # relay: silence sent because nothing came within a frame time of the last send
        self.frames_cached = 0  # paced: payloads of music/prompts encoded once for every caller
        # the negotiated codec's encoder (vcc.media.encoders): every frame goes out as an EncodedAudio
        # stamped from this track's clock; None: aiortc's encoder (a codec without one here)
        self.encoder: FrameEncoder | None = None
        self.rtp: RtpOut | None = None  # this track's sender loop, which forward() sends on directly
        self.frames_direct = 0  # relay: forwarded payloads sent at once, not through the sender loop

    def push(self, pcm: Pcm | EncodedAudio) -> None:
        """Relay mode: a frame from the bridged leg, decoded (PCM) or a payload it forwards as is."""
        if len(self._queue) == RELAY_DEPTH:
            self.frames_dropped += 1
        self._queue.append(pcm)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def forward(self, payload: bytes, samples_48k: int, clock_hz: int) -> None:
        """Relay mode: a payload from the bridged leg, sent on this leg's stream at once when its RTP
        loop runs (:class:`vcc.media.rtp_out.RtpOut`) and nothing is queued before it; else queued
        (``push``) for the loop. Stamped from this track's clock either way."""
        rtp = self.rtp if self.direct else None
        if not (self.relay and rtp is not None and rtp.running and not self._queue):
            self.push(EncodedAudio(payload, samples_48k, clock_hz))
            return
        pts = self._pts * clock_hz // RATE_HZ
        self._pts += samples_48k
        self.frames_sent += 1
        self._next_t = time.monotonic() + FRAME_S  # the loop's clock (asyncio's loop.time() is monotonic)
        self.frames_direct += 1
        await rtp.send(payload, pts)

    def set_relay(self, relay: bool) -> None:
        if relay != self.relay:
            self.relay = relay
            self._queue.clear()
            waiter = self._waiter  # a relay wait ends now; the next frame comes from the new mode
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def recv(self) -> av.AudioFrame | EncodedAudio:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next_t is None:
            self._next_t = now
        if self.relay:
            # a filler goes out a frame time after the next frame was due; a payload the bridged leg
            # sent on this stream directly (forward) in the meantime moves that time on
            base = max(self._next_t, now)
            while not self._queue and self.relay:
                due = max(base, self._next_t or base) + FRAME_S
                if loop.time() >= due:
                    break
                fut: asyncio.Future[None] = loop.create_future()
                self._waiter = fut
                timer = loop.call_at(due, _wake, fut)
                try:
                    await fut
                finally:
                    timer.cancel()
                    self._waiter = None
                if self.readyState != "live":
                    raise MediaStreamError
            if self._queue:
                item = self._queue.popleft()
            else:
                item = _SILENCE
                self.fillers += 1
            self._next_t = loop.time() + FRAME_S
            if isinstance(item, EncodedAudio):  # packed by aiortc's sender, not encoded again
                item.stamp(self._pts)
                self._pts += item.samples_48k
                self.frames_sent += 1
                return item
            pcm = item
        else:
            delay = self._next_t - now
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_t += FRAME_S
            if self._next_t < loop.time() - 0.1:  # fell far behind (a stall): start the clock again
                self._next_t = loop.time()
            if self.readyState != "live":
                raise MediaStreamError
            pcm = self.source()
        encoder = self.encoder
        if encoder is not None:
            cached = LONG_LIVED.get(pcm) if isinstance(encoder, OpusFrameEncoder) else None  # music, prompts
            if cached is not None:
                payload = cached
                self.frames_cached += 1
            elif not pcm.any():
                payload = encoder.silence
            elif encoder.inline:
                payload = encoder.encode(pcm)
            else:
                payload = await loop.run_in_executor(None, encoder.encode, pcm)
            encoded = EncodedAudio(payload, len(pcm), encoder.clock_hz)
            encoded.stamp(self._pts)
            self._pts += len(pcm)
            self.frames_sent += 1
            return encoded
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE_HZ
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        self._pts += len(pcm)
        self.frames_sent += 1
        return frame

    def stop(self) -> None:
        super().stop()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def to_mono48(frame: av.AudioFrame) -> Pcm:
    """A decoded frame (Opus: stereo s16 48 kHz; G.711: mono s16 8 kHz) as mono int16 at 48 kHz."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mono = arr[0]
    else:
        mono = arr.reshape(-1)[::channels] if channels > 1 else arr.reshape(-1)
    if mono.dtype != np.int16:
        mono = np.clip(mono * 32767.0, -32768, 32767).astype(np.int16) if mono.dtype.kind == "f" else mono.astype(
            np.int16
        )
    if frame.sample_rate != RATE_HZ:
        mono = resample(mono, frame.sample_rate, RATE_HZ)
    return np.ascontiguousarray(mono)


AudioSink = Callable[[Pcm, float], None]  # (48 kHz mono frame, arrival time.time())


def answered_codec(answer_sdp: str) -> tuple[str, int | None]:
    """The audio codec an answer chose (its m-line's first payload type), lower case, and that type."""
    first: int | None = None
    names: dict[int, str] = {}
    for line in answer_sdp.splitlines():
        if line.startswith("m=audio ") and first is None:
            parts = line.split()
            first = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
        elif line.startswith("a=rtpmap:"):
            pt, _, rest = line[9:].partition(" ")
            if pt.isdigit():
                names.setdefault(int(pt), rest.split("/")[0].lower())
    return (names.get(first, ""), first) if first is not None else ("", None)


class Leg:
    """A caller or agent leg. ``on_audio`` gets each decoded inbound frame, ``on_digit`` each RFC 4733
    key press, ``on_state`` the connection state ("connected", "failed", "closed")."""

    # inbound RTP of a forwarding leg handled as the datagram arrives, not through aioice's queue and
    # the DTLS transport's task (vcc.media.rtp_in); off only to measure the difference (bench)
    receive_at_once = True

    def __init__(self, contact_id: str, role: str, agent_id: str | None = None,
                 codecs: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.contact_id = contact_id
        self.role = role  # "caller" | "agent"
        self.agent_id = agent_id
        self.codecs = codecs
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.out = OutboundTrack()
        self.on_audio: AudioSink = lambda pcm, t: None
        self.on_digit: Callable[[str], None] = lambda d: None
        self.on_state: Callable[[str], None] = lambda s: None
        self.telephone_events = TelephoneEventReceiver()
        self.frames_in = 0
        self.frames_forwarded = 0
        # passthrough (see vcc.media.passthrough): payloads go straight to ``forward_to``'s outbound
        # track; ``on_forwarded`` (if set) gets them decoded at 16 kHz (the recorder)
        self.codec = ""  # the negotiated audio codec, lower case ("opus", "pcmu", ...)
        self.payload_type: int | None = None
        self.forward_to: Leg | None = None
        self.on_forwarded: AudioSink | None = None  # (16 kHz mono, arrival time.time())
        self._payload_decoder: PayloadDecoder | None = None
        self._clock_hz = RATE_HZ
        self._receiver: Any = None
        self.connected = False
        self.closed = False
        self._reader: asyncio.Task[None] | None = None
        self._packets_at_once: Callable[[], int] = lambda: 0
        self.pc.on("connectionstatechange", self._state_changed)
        self.pc.on("track", self._track)

    async def answer(self, offer_sdp: str) -> str:
        """Set the peer's offer; returns the answer with the host candidates gathered."""
        if not isinstance(offer_sdp, str) or "m=audio" not in offer_sdp:
            raise MediaError(f"contact {self.contact_id}: the {self.role} SDP offer has no audio m-line")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            transceiver = next((t for t in self.pc.getTransceivers() if t.kind == "audio"), None)
            if transceiver is None:
                raise MediaError(f"contact {self.contact_id}: the {self.role} SDP offer has no audio")
            self._prefer(transceiver)
            self.out.rtp = RtpOut(self.pc.addTrack(self.out), self.out)
            self._hook_receiver(transceiver)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            if self.receive_at_once:  # while forwarding, inbound RTP handled as it arrives (vcc.media.rtp_in)
                self._packets_at_once = rtp_in.install(transceiver.receiver.transport,
                                                       lambda: self.forward_to is not None)  # fmt: skip
            self.codec, self.payload_type = answered_codec(self.pc.localDescription.sdp)
            self._clock_hz = codec_clock_hz(self.codec)
            self.out.encoder = frame_encoder(self.codec)
        except MediaError:
            raise
        except Exception as exc:  # aiortc raises ValueError/OperationError/... on a bad or unusable offer
            raise MediaError(f"contact {self.contact_id}: bad {self.role} SDP offer: {exc}") from None
        return self.pc.localDescription.sdp

    def _prefer(self, transceiver: RTCRtpTransceiver) -> None:
        if not self.codecs:
            return
        from aiortc import RTCRtpReceiver

        capabilities = RTCRtpReceiver.getCapabilities("audio")
        caps = capabilities.codecs if capabilities is not None else []
        wanted = [c for name in self.codecs for c in caps if c.mimeType.lower() == f"audio/{name.lower()}"]
        wanted += [c for c in caps if c.mimeType.lower() == "audio/telephone-event"]
        transceiver.setCodecPreferences(wanted)

    def _hook_receiver(self, transceiver: RTCRtpTransceiver) -> None:
        receiver = self._receiver = transceiver.receiver
        original = receiver._handle_rtp_packet
        te_types: set[int] = set()
        remote = self.pc.remoteDescription
        for line in remote.sdp.splitlines() if remote else []:
            if line.startswith("a=rtpmap:") and "telephone-event" in line.lower():
                te_types.add(int(line[9:].split()[0]))

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            if packet.payload_type in te_types:
                digit = self.telephone_events.packet(packet.timestamp, packet.payload)
                if digit is not None:
                    self.on_digit(digit)
                return
            dst = self.forward_to
            if dst is not None and packet.payload_type == self.payload_type and packet.payload:
                self.frames_forwarded += 1
                try:  # never into aiortc's receive loop: it would stop the leg
                    await dst.out.forward(packet.payload, payload_samples_48k(self.codec, packet.payload),
                                          self._clock_hz)  # fmt: skip
                except ConnectionError:
                    pass  # the other leg's transport is closing
                except Exception:
                    log.exception("contact %s: forwarding the %s's audio failed", self.contact_id, self.role)
                if self.on_forwarded is not None:
                    if self._payload_decoder is None:
                        self._payload_decoder = PayloadDecoder(self.codec)
                    try:  # never into aiortc's receive loop: it would stop the leg
                        self.on_forwarded(self._payload_decoder.decode16(packet.payload), time.time())
                    except Exception:
                        log.exception("contact %s: %s recording of forwarded audio failed", self.contact_id,
                                      self.role)  # fmt: skip
                return
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    def forward(self, dst: Leg | None, on_forwarded: AudioSink | None) -> None:
        """Forward this leg's payloads to ``dst`` (None: back to aiortc's jitter buffer and decoder)."""
        if dst is None and self.forward_to is not None:
            # the jitter buffer last saw a sequence number from before the passthrough: start it
            # afresh rather than let it take the jump for misordering (or play stale frames)
            receiver = self._receiver
            old = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
            if isinstance(old, JitterBuffer):
                fresh = JitterBuffer(capacity=old.capacity, prefetch=getattr(old, "_prefetch", 4))
                setattr(receiver, "_RTCRtpReceiver__jitter_buffer", fresh)  # noqa: B010
        self.forward_to, self.on_forwarded = dst, on_forwarded

    def can_forward_to(self, other: Leg) -> bool:
        """Payloads of this leg can go to ``other`` as they are: both negotiated the same codec."""
        return bool(self.codec) and self.codec == other.codec and self.codec in PASSTHROUGH_CODECS

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames_in += 1
                try:
                    self.on_audio(to_mono48(frame), time.time())  # type: ignore[arg-type]
                except Exception:
                    log.exception("contact %s: %s audio handler failed", self.contact_id, self.role)
        except MediaStreamError:
            pass

    async def _state_changed(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self.connected = True
        self.on_state(state)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.out.stop()
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        return {"frames_in": self.frames_in, "frames_forwarded": self.frames_forwarded,
                "frames_out": self.out.frames_sent, "frames_dropped": self.out.frames_dropped,
                "fillers": self.out.fillers, "frames_cached": self.out.frames_cached,
                "frames_direct": self.out.frames_direct, "packets_at_once": self._packets_at_once(),
                "state": self.pc.connectionState, "codec": self.codec}  # fmt: skip
