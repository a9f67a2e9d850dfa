"""A test/load softphone on aiortc: sends a tone (or silence) with in-band or RFC 4733 key
presses, and keeps what it hears for checks by frequency. Used by the integration tests and by
``bench/webrtc.py``; also handy to call a gateway by hand."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from vcc.media.dtmf import dtmf_pair
from vcc.media.legs import _TIME_BASE, FRAME_S, to_mono48
from vcc.media.pcm import FRAME_SAMPLES, RATE_HZ, Pcm, frames_of, tone
from vcc.media.rfc4733 import build_telephone_event


class ToneTrack(MediaStreamTrack):
    """A paced 48 kHz mono source: a continuous tone (``freq_hz`` None: silence); key presses and
    other clips replace the tone while they play."""

    kind = "audio"

    def __init__(self, freq_hz: float | None, level_dbfs: float = -12.0) -> None:
        super().__init__()
        self.freq_hz = freq_hz
        self.level_dbfs = level_dbfs
        self.clips: deque[Pcm] = deque()
        self._n = 0
        self._start: float | None = None

    def play(self, pcm: Pcm) -> None:
        self.clips.extend(frames_of(pcm))

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        delay = self._start + self._n * FRAME_S - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.clips:
            pcm = self.clips.popleft()
        elif self.freq_hz is None:
            pcm = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        else:
            pcm = tone((self.freq_hz,), FRAME_S * 1000, RATE_HZ, self.level_dbfs, start_sample=self._n * FRAME_SAMPLES)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.time_base, frame.pts = RATE_HZ, _TIME_BASE, self._n * FRAME_SAMPLES
        self._n += 1
        return frame


class TonePeer:
    def __init__(self, freq_hz: float | None, *, keep_s: float = 10.0, codec: str | None = None) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = ToneTrack(freq_hz)
        self.codec = codec
        self.heard: deque[tuple[float, Pcm]] = deque(maxlen=int(keep_s / FRAME_S))
        self.arrivals: list[float] = []  # monotonic arrival time of every frame (bench)
        self.keep_arrivals = False
        self._reader: asyncio.Task[None] | None = None
        self._te_seq = random.randrange(1 << 16)
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        if self.codec:
            from aiortc import RTCRtpSender

            caps = RTCRtpSender.getCapabilities("audio")
            codecs = [c for c in (caps.codecs if caps else []) if c.mimeType.lower() in
                      (f"audio/{self.codec.lower()}", "audio/telephone-event")]  # fmt: skip
            transceiver.setCodecPreferences(codecs)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                if self.keep_arrivals:
                    self.arrivals.append(now)
                self.heard.append((now, to_mono48(frame)))  # type: ignore[arg-type]
        except MediaStreamError:
            pass

    def press_inband(self, digits: str, on_ms: float = 100, off_ms: float = 100) -> None:
        for d in digits:
            self.track.play(tone(dtmf_pair(d), on_ms, RATE_HZ, -10.0))
            self.track.play(np.zeros(int(RATE_HZ * off_ms / 1000), dtype=np.int16))

    async def press_rfc4733(self, digit: str, payload_type: int = 101) -> None:
        """Send a key press as RFC 4733 packets (start, two updates, three end packets) on its own
        SSRC, through the connection's SRTP."""
        sender = self.pc.getSenders()[0]
        ssrc = random.randrange(1, 1 << 32)
        ts = random.randrange(1 << 32)
        for i, (end, duration) in enumerate(((False, 400), (False, 800), (False, 1200), (True, 1600),
                                             (True, 1600), (True, 1600))):  # fmt: skip
            packet = RtpPacket(payload_type=payload_type, marker=1 if i == 0 else 0,
                               sequence_number=self._te_seq, timestamp=ts, ssrc=ssrc,
                               payload=build_telephone_event(digit, end=end, duration=duration))  # fmt: skip
            self._te_seq = (self._te_seq + 1) & 0xFFFF
            await sender.transport._send_rtp(packet.serialize())
            await asyncio.sleep(0.05)

    def recent(self, seconds: float) -> Pcm:
        cutoff = time.monotonic() - seconds
        parts = [pcm for t, pcm in self.heard if t >= cutoff]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    async def close(self) -> None:
        self.track.stop()
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
