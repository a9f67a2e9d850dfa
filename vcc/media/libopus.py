"""libopus's decoder through ctypes, for the recording of forwarded Opus payloads.

FFmpeg's Opus decoder (what PyAV offers) always decodes to 48 kHz stereo float; the recording wants
16 kHz mono int16, so each frame then went through numpy (first channel, boxcar by 3, clip, cast).
libopus decodes straight to the rate and channel count asked for (its decoder runs at 16 kHz mono
for less work) into int16: one C call a frame, ~4x less CPU than decode + numpy.

The library is the one PyAV's wheel ships (``av.libs/libopus-*.so*``), else the system's
(``libopus.so.0``, a dependency of Chromium on Debian); :func:`load` says None when neither loads,
and the caller falls back to FFmpeg's decoder.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from functools import cache

import numpy as np

from vcc.media.pcm import Pcm

MAX_PACKET_S = 0.12  # the longest Opus packet (RFC 6716): 120 ms


@cache
def load() -> ctypes.CDLL | None:
    """The libopus shared library with the decoder's signatures set, or None."""
    candidates: list[str] = []
    try:
        import av

        libs = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")
        candidates += sorted(glob.glob(os.path.join(libs, "libopus*.so*")))
    except ImportError:  # pragma: no cover - av is a dependency of aiortc
        pass
    found = ctypes.util.find_library("opus")
    candidates += [c for c in (found, "libopus.so.0") if c]
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            lib.opus_decoder_create.restype = ctypes.c_void_p
            lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
            lib.opus_decode.restype = ctypes.c_int
            lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_void_p,
                                        ctypes.c_int, ctypes.c_int]  # fmt: skip
            lib.opus_decoder_destroy.restype = None
            lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
            return lib
        except (OSError, AttributeError):
            continue
    return None


class OpusDecoder:
    """One Opus stream decoded to mono int16 at ``rate_hz`` (8, 12, 16, 24 or 48 kHz)."""

    def __init__(self, rate_hz: int, lib: ctypes.CDLL) -> None:
        self._lib = lib
        error = ctypes.c_int(0)
        self._state = lib.opus_decoder_create(rate_hz, 1, ctypes.byref(error))
        if not self._state or error.value != 0:
            raise RuntimeError(f"opus_decoder_create({rate_hz} Hz, mono) failed: error {error.value}")
        self._max_samples = int(rate_hz * MAX_PACKET_S)
        self._out = np.zeros(self._max_samples, dtype=np.int16)
        self._out_ptr = self._out.ctypes.data

    def decode(self, payload: bytes) -> Pcm:
        """The packet's samples (a new array); none for a packet libopus rejects, or an empty one
        (which libopus would take for a lost packet and conceal)."""
        if not payload:
            return np.zeros(0, dtype=np.int16)
        n = self._lib.opus_decode(self._state, payload, len(payload), self._out_ptr, self._max_samples, 0)
        if n <= 0:
            return np.zeros(0, dtype=np.int16)
        return self._out[:n].copy()

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.opus_decoder_destroy(state)
