"""The gateway's own encoders for what it says itself (prompts, music, silence, transcoded relay):
G.711 by table look-up in the event loop, Opus by libopus (PyAV) in aiortc's executor as before.

Why not aiortc's encoders: the outbound track also hands aiortc forwarded payloads
(:mod:`vcc.media.passthrough`), and aiortc's encoders stamp RTP timestamps from their resampler's
own sample count (which ignores the frames it did not see, and lags a frame for G.711), so mixing
the two would send timestamps that jump back. Encoding here, every outgoing payload is stamped from
the track's one clock and aiortc only packs. G.711 also loses the hop to a thread and back per frame.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from typing import Any

import av
import numpy as np

from vcc.media.pcm import FRAME_SAMPLES, RATE_HZ, Pcm, decimate, silence

log = logging.getLogger(__name__)


def _linear_codes() -> np.ndarray:
    """Every int16 value, indexed by its uint16 bit pattern (``table[pcm.view(np.uint16)]``)."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_table() -> np.ndarray:
    x = _linear_codes() >> 2  # the reference coder (Sun g711.c) on 14 bits
    mask = np.where(x < 0, 0x7F, 0xFF)
    x = np.minimum(np.abs(x), 8159) + (0x84 >> 2)
    seg = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), x)
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | ((x >> (np.minimum(seg, 7) + 1)) & 0xF))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    x = _linear_codes() >> 3  # 13 bits
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    seg = np.searchsorted(np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]), x)
    s = np.minimum(seg, 7)
    code = np.where(seg >= 8, 0x7F, (s << 4) | (np.where(s < 2, x >> 1, x >> s) & 0xF))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


PCM_TO_ULAW = _ulaw_encode_table()
PCM_TO_ALAW = _alaw_encode_table()


class G711Encoder:
    """48 kHz mono frames -> G.711 payloads (boxcar to 8 kHz, then the law's table)."""

    inline = True
    clock_hz = 8000

    def __init__(self, codec: str) -> None:
        self.table = PCM_TO_ULAW if codec == "pcmu" else PCM_TO_ALAW
        self.silence = self.encode(silence())

    def encode(self, pcm48: Pcm) -> bytes:
        pcm8 = decimate(pcm48, RATE_HZ // 8000)
        return self.table[pcm8.view(np.uint16)].tobytes()


class OpusFrameEncoder:
    """48 kHz mono frames -> one Opus packet each (libopus, VoIP mode, mono at 48 kbit/s)."""

    inline = False  # ~0.1-0.2 ms a frame: in the executor, as aiortc does
    clock_hz = RATE_HZ

    def __init__(self, with_silence: bool = True) -> None:
        self.codec = self._context()
        self.silence = b"\xf8\xff\xfe"
        if with_silence:
            warm = self._context()  # a separate encoder makes the packet sent for silence
            packets: list[bytes] = []
            for i in range(3):
                packets = self._encode_with(warm, silence(), i * FRAME_SAMPLES)
            self.silence = packets[-1] if packets else self.silence
        self._pts = 0

    @staticmethod
    def _context() -> av.AudioCodecContext:
        codec = av.AudioCodecContext.create("libopus", "w")
        codec.bit_rate = 48000
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = RATE_HZ
        codec.time_base = fractions.Fraction(1, RATE_HZ)
        codec.options = {"application": "voip"}
        return codec

    @staticmethod
    def _encode_with(codec: av.AudioCodecContext, pcm48: Pcm, pts: int) -> list[bytes]:
        frame = av.AudioFrame.from_ndarray(pcm48.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE_HZ
        frame.time_base = fractions.Fraction(1, RATE_HZ)
        frame.pts = pts
        return [bytes(p) for p in codec.encode(frame)]

    def encode(self, pcm48: Pcm) -> bytes:
        packets = self._encode_with(self.codec, pcm48, self._pts)
        self._pts += len(pcm48)
        # one 20 ms frame in, one packet out (libopus does not buffer whole frames); be safe anyway
        return packets[-1] if packets else self.silence


FrameEncoder = G711Encoder | OpusFrameEncoder


def frame_encoder(codec: str) -> FrameEncoder | None:
    """The encoder for a negotiated codec (lower case), or None where aiortc's own must encode."""
    if codec in ("pcmu", "pcma"):
        return G711Encoder(codec)
    if codec == "opus":
        return OpusFrameEncoder()
    return None


class LongLivedPayloads:
    """Opus payloads of audio many callers hear (music on hold, prompts), encoded once per array.

    A frame that is a view into a long-lived array (``LoopPlayer``/``PromptPlayer`` hand out views
    into the gateway's music and the prompt catalog's arrays), on the 20 ms grid from the array's
    start, is looked up by (array, offset). An array is encoded (in the executor, by an encoder of its
    own, as one continuous stream) once a second play of it starts at offset 0, so a one-off array
    (an announcement made of pieces) is never encoded twice. Until then, and for any other frame,
    :meth:`get` says None and the leg encodes the frame itself. The entry keeps a reference to the
    array, so an id is never reused under it."""

    def __init__(self, max_arrays: int = 256, max_frames: int = 60_000) -> None:
        self.max_arrays = max_arrays
        self.max_frames = max_frames  # 20 minutes of audio in all
        self._starts: dict[int, tuple[np.ndarray, int]] = {}  # id -> (array, plays started)
        self._payloads: dict[int, tuple[np.ndarray, list[bytes] | None]] = {}
        self._frames = 0
        self.hits = 0
        self.enabled = True

    def get(self, frame: Pcm) -> bytes | None:
        base = frame.base
        if not self.enabled or not isinstance(base, np.ndarray) or len(frame) != FRAME_SAMPLES or base.ndim != 1:
            return None
        offset_bytes = frame.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        if offset_bytes % (2 * FRAME_SAMPLES):
            return None
        index = offset_bytes // (2 * FRAME_SAMPLES)
        key = id(base)
        entry = self._payloads.get(key)
        if entry is not None and entry[0] is base:
            payloads = entry[1]
            if payloads is not None and index < len(payloads):
                self.hits += 1
                return payloads[index]
            return None
        if index == 0:
            self._started(key, base)
        return None

    def _started(self, key: int, base: np.ndarray) -> None:
        seen = self._starts.get(key)
        plays = seen[1] + 1 if seen is not None and seen[0] is base else 1
        if len(self._starts) >= self.max_arrays:
            self._starts.clear()
        self._starts[key] = (base, plays)
        frames = len(base) // FRAME_SAMPLES
        if plays < 2 or self._frames + frames > self.max_frames or len(self._payloads) >= self.max_arrays:
            return
        self._payloads[key] = (base, None)
        self._frames += frames
        future = asyncio.get_running_loop().run_in_executor(None, _encode_array, base)
        future.add_done_callback(lambda f: self._encoded(key, base, f))

    def _encoded(self, key: int, base: np.ndarray, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            log.error("encoding long-lived audio for reuse failed", exc_info=future.exception())
            return
        entry = self._payloads.get(key)
        if entry is not None and entry[0] is base:
            self._payloads[key] = (base, future.result())


def _encode_array(pcm: np.ndarray) -> list[bytes]:
    encoder = OpusFrameEncoder(with_silence=False)
    usable = len(pcm) - len(pcm) % FRAME_SAMPLES
    return [encoder.encode(np.ascontiguousarray(pcm[i : i + FRAME_SAMPLES], dtype=np.int16))
            for i in range(0, usable, FRAME_SAMPLES)]  # fmt: skip


LONG_LIVED = LongLivedPayloads()  # one per process: array ids are only meaningful within it
