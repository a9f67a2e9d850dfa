"""PCM helpers (sans-IO, numpy): the gateway's internal format is mono int16 at 48 kHz in 20 ms
frames. Resampling, level measurement, tones and a generated music-on-hold loop."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]

RATE_HZ = 48_000
FRAME_MS = 20
FRAME_SAMPLES = RATE_HZ * FRAME_MS // 1000  # 960
FULL_SCALE = 32767.0


def silence(samples: int = FRAME_SAMPLES) -> Pcm:
    return np.zeros(samples, dtype=np.int16)


def resample(pcm: Pcm, from_hz: int, to_hz: int) -> Pcm:
    """Linear-interpolation resampling (plenty for speech prompts and tones; not for hi-fi)."""
    if from_hz == to_hz or len(pcm) == 0:
        return pcm.astype(np.int16, copy=False)
    n_out = int(round(len(pcm) * to_hz / from_hz))
    x_out = np.arange(n_out, dtype=np.float64) * (from_hz / to_hz)
    out = np.interp(x_out, np.arange(len(pcm), dtype=np.float64), pcm.astype(np.float64))
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def decimate(pcm: Pcm, factor: int) -> Pcm:
    """Downsample by an integer factor with a boxcar (mean of ``factor`` samples) anti-alias filter:
    cheap, and flat enough below a quarter of the output rate (DTMF, speech)."""
    if factor == 1:
        return pcm
    usable = len(pcm) - len(pcm) % factor
    return (pcm[:usable].reshape(-1, factor).sum(axis=1, dtype=np.int32) // factor).astype(np.int16)


def level_dbfs(pcm: Pcm) -> float:
    """RMS level in dB relative to full scale (a full-scale sine is -3 dBFS; silence is -inf)."""
    if len(pcm) == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
    return -math.inf if rms == 0 else 20 * math.log10(rms / FULL_SCALE)


def tone(freqs_hz: tuple[float, ...], duration_ms: float, rate_hz: int = RATE_HZ, level_dbfs: float = -12.0,
         start_sample: int = 0) -> Pcm:
    """Sum of sines, each at ``level_dbfs`` peak amplitude (a DTMF pair: two 697/1209 Hz ...)."""
    n = int(round(rate_hz * duration_ms / 1000))
    t = (np.arange(n, dtype=np.float64) + start_sample) / rate_hz
    amp = FULL_SCALE * 10 ** (level_dbfs / 20)
    out = np.zeros(n, dtype=np.float64)
    for f in freqs_hz:
        out += amp * np.sin(2 * math.pi * f * t)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


# The music on hold: a slow arpeggio (C major, A minor, F major, G major) with soft attacks, 8 s.
_CHORDS_HZ = ((261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66))


def music_on_hold(rate_hz: int = RATE_HZ, level_dbfs: float = -20.0) -> Pcm:
    """A generated chime loop for callers on hold or in queue (used when no file is configured)."""
    note_s = 0.5
    n_note = int(rate_hz * note_s)
    t = np.arange(n_note, dtype=np.float64) / rate_hz
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-3.0 * t)
    amp = FULL_SCALE * 10 ** (level_dbfs / 20)
    notes = []
    for chord in _CHORDS_HZ:
        for f in (*chord, chord[1]):
            notes.append(amp * envelope * (np.sin(2 * math.pi * f * t) + 0.3 * np.sin(4 * math.pi * f * t)))
    return np.clip(np.rint(np.concatenate(notes)), -32768, 32767).astype(np.int16)


def frames_of(pcm: Pcm, samples: int = FRAME_SAMPLES) -> list[Pcm]:
    """Cut into frames, the last padded with silence."""
    if len(pcm) % samples:
        pcm = np.concatenate([pcm, np.zeros(samples - len(pcm) % samples, dtype=np.int16)])
    return [pcm[i : i + samples] for i in range(0, len(pcm), samples)]


def frequency_power(pcm: Pcm, freq_hz: float, rate_hz: int) -> float:
    """Mean power of ``pcm`` at ``freq_hz`` (single-bin DFT), normalised so a full-scale sine gives ~0.5."""
    if len(pcm) == 0:
        return 0.0
    x = pcm.astype(np.float64) / FULL_SCALE
    w = 2 * math.pi * freq_hz * np.arange(len(x)) / rate_hz
    re, im = float(np.dot(x, np.cos(w))), float(np.dot(x, np.sin(w)))
    return 2 * (re * re + im * im) / (len(x) ** 2)


def dominant_hz(pcm: Pcm, rate_hz: int) -> float:
    """The strongest frequency of a signal (FFT peak, Hann window), for tests and checks."""
    x = pcm.astype(np.float64) * np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(x))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * rate_hz / len(pcm))
