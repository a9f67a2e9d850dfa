"""Payload passthrough between two legs that use the same codec (sans-IO apart from the Opus decoder).

While two legs are bridged (caller and agent, or two agents in a consult) and negotiated the same
codec, the gateway forwards each RTP payload from one leg to the other as it arrives instead of
decoding it (aiortc: jitter buffer, decoder thread, a hop back to the loop, a frame) and encoding it
again (a hop to the executor, the encoder). What still needs the audio (the recording) gets it from a
decoder here, in the loop, without the re-encode: G.711 by table look-up, Opus by libopus through PyAV.

:class:`EncodedAudio` is what the outbound track hands aiortc's sender for a forwarded payload:
anything that is not an ``av.Frame`` is *packed* (``bytes(data)``, its ``pts`` in ``time_base``)
rather than encoded, so one sender (one SSRC, one sequence) carries forwarded payloads and the
gateway's own encoded audio (music, silence) in turn.
"""

from __future__ import annotations

import fractions

import av
import numpy as np

from vcc.media import libopus
from vcc.media.libopus import OpusDecoder
from vcc.media.pcm import FRAME_SAMPLES, RATE_HZ, Pcm

PASSTHROUGH_CODECS = ("opus", "pcmu", "pcma")
RECORDING_RATE_HZ = 16_000  # what decode16 gives (the recording's rate, vcc.media.call)
_FLOAT_TO_S16_MEAN3 = np.float32(32767.0 / 3)


class EncodedAudio:
    """One forwarded payload, as aiortc's ``Encoder.pack`` wants it: ``bytes()``, ``pts``, ``time_base``.
    The track sets ``pts`` in the codec's own clock (``time_base``), so aiortc's ``convert_timebase``
    has nothing to convert (with Fractions it cost ~10 us a packet)."""

    __slots__ = ("payload", "pts", "samples_48k", "time_base")

    def __init__(self, payload: bytes, samples_48k: int, clock_hz: int = RATE_HZ) -> None:
        self.payload = payload
        self.samples_48k = samples_48k
        self.pts = 0
        self.time_base = _TIME_BASES.get(clock_hz) or fractions.Fraction(1, clock_hz)

    def stamp(self, pts_48k: int) -> None:
        """Set ``pts`` from a position on the 48 kHz clock."""
        self.pts = pts_48k * self.time_base.denominator // RATE_HZ

    def __bytes__(self) -> bytes:
        return self.payload


_TIME_BASES = {hz: fractions.Fraction(1, hz) for hz in (8000, 16000, RATE_HZ)}


def codec_clock_hz(codec: str) -> int:
    """The RTP clock of a passthrough codec."""
    return RATE_HZ if codec == "opus" else 8000


# Opus TOC (RFC 6716 section 3.1): frame duration by configuration, in 48 kHz samples.
_OPUS_FRAME_48K = [480, 960, 1920, 2880] * 3 + [480, 960] * 2 + [120, 240, 480, 960] * 4


def opus_samples_48k(payload: bytes) -> int:
    """Duration of an Opus packet in 48 kHz samples, from its TOC byte (20 ms when unreadable)."""
    if not payload:
        return FRAME_SAMPLES
    toc = payload[0]
    per_frame = _OPUS_FRAME_48K[toc >> 3]
    code = toc & 0x3
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        frames = payload[1] & 0x3F if len(payload) > 1 else 1
    total = per_frame * frames
    return total if 0 < total <= 5760 else FRAME_SAMPLES  # at most 120 ms per packet


def payload_samples_48k(codec: str, payload: bytes) -> int:
    """Duration of one payload of ``codec`` (``opus``, ``pcmu``, ``pcma``) in 48 kHz samples."""
    if codec == "opus":
        return opus_samples_48k(payload)
    return len(payload) * (RATE_HZ // 8000)  # G.711: one byte a sample at 8 kHz


def _ulaw_table() -> Pcm:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> Pcm:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


ULAW_TO_PCM = _ulaw_table()
ALAW_TO_PCM = _alaw_table()


def _upsample2(pcm8: Pcm) -> Pcm:
    """8 -> 16 kHz: the samples, with the mean of each pair between them (the last one held)."""
    out = np.empty(2 * len(pcm8), dtype=np.int16)
    out[0::2] = pcm8
    if len(pcm8):
        wide = pcm8.astype(np.int32)
        mid = wide[:-1] + wide[1:]
        mid >>= 1
        out[1:-1:2] = mid
        out[-1] = pcm8[-1]
    return out


class PayloadDecoder:
    """Decodes one leg's forwarded payloads to 16 kHz mono for the recorder (G.711: a table and a
    2x interpolation; Opus: libopus straight to 16 kHz mono int16 (:mod:`vcc.media.libopus`), or,
    where libopus cannot be loaded, FFmpeg's decoder at 48 kHz, first channel, decimated by 3)."""

    use_libopus = True  # off only to measure the difference (bench)

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self._opus: av.AudioCodecContext | None = None
        self._libopus: OpusDecoder | None = None
        if codec == "opus" and self.use_libopus and (lib := libopus.load()) is not None:
            self._libopus = OpusDecoder(RECORDING_RATE_HZ, lib)

    def decode16(self, payload: bytes) -> Pcm:
        if self.codec in ("pcmu", "pcma"):
            table = ULAW_TO_PCM if self.codec == "pcmu" else ALAW_TO_PCM
            return _upsample2(table[np.frombuffer(payload, dtype=np.uint8)])
        if self._libopus is not None:
            return self._libopus.decode(payload)
        return self._decode16_ffmpeg(payload)

    def _decode16_ffmpeg(self, payload: bytes) -> Pcm:
        if self._opus is None:
            self._opus = av.AudioCodecContext.create("opus", "r")
            self._opus.sample_rate = RATE_HZ
        parts: list[Pcm] = []
        try:
            frames = self._opus.decode(av.Packet(payload))
        except av.FFmpegError:
            return np.zeros(0, dtype=np.int16)
        for frame in frames:  # FFmpeg's Opus decoder: planar float at 48 kHz; the first channel, boxcar to 16 kHz
            x = np.frombuffer(memoryview(frame.planes[0]), dtype=np.float32, count=frame.samples - frame.samples % 3)
            y = x[0::3] + x[1::3]
            y += x[2::3]
            y *= _FLOAT_TO_S16_MEAN3
            np.minimum(y, 32767.0, out=y)  # ufuncs, not np.clip: a tenth of the cost on 320 samples
            np.maximum(y, -32768.0, out=y)
            parts.append(y.astype(np.int16))
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
