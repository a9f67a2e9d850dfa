"""In-band DTMF detection (sans-IO): Goertzel-style single-bin DFTs at the eight DTMF frequencies
over fixed blocks of PCM, with the usual ITU-T Q.24 style checks.

Feed decoded audio with :meth:`DtmfDetector.feed`; it returns the digits whose tone has just been
recognised. Each block is ``block_ms`` long (25.6 ms: the classic 205 samples at 8 kHz; 410 at
16 kHz; 1230 at 48 kHz), so the frequency resolution is ~39 Hz at every rate. A block holds a digit
when:

* each of its two tones (the strongest row and the strongest column frequency) has an amplitude of
  at least ``min_level_dbfs``;
* the twist is within limits: the row tone at most ``normal_twist_db`` above the column tone, the
  column tone at most ``reverse_twist_db`` above the row tone;
* each tone is ``relative_peak_db`` above the other frequencies of its group;
* the two tones carry at least ``min_tone_energy_ratio`` of the block's energy (speech and music
  spread their energy; a DTMF pair does not).

A digit is reported once it holds for ``min_on_blocks`` consecutive blocks (2 blocks: a tone of
>= ~51 ms is always caught; Q.24 asks for 40 ms) and is armed again only after ``min_off_blocks``
blocks without it (debounce: a long press is one digit). The result of each block is a dot product
of the samples with precomputed cosine/sine tables: the same number the Goertzel recursion gives,
computed in one numpy call per block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vcc.media.pcm import FULL_SCALE, Pcm

ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
COLS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")


def dtmf_pair(digit: str) -> tuple[float, float]:
    """The (row, column) frequencies of a key."""
    for r, row in enumerate(KEYPAD):
        c = row.find(digit)
        if c >= 0:
            return ROWS_HZ[r], COLS_HZ[c]
    raise ValueError(f"not a DTMF digit: {digit!r}")


@dataclass(frozen=True, slots=True)
class DtmfThresholds:
    block_ms: float = 25.6
    min_level_dbfs: float = -36.0
    normal_twist_db: float = 8.0
    reverse_twist_db: float = 4.0
    relative_peak_db: float = 6.0
    min_tone_energy_ratio: float = 0.6
    min_on_blocks: int = 2
    min_off_blocks: int = 1


class DtmfDetector:
    """One caller's in-band DTMF detector at one sample rate. Not thread-safe."""

    def __init__(self, rate_hz: int, thresholds: DtmfThresholds | None = None) -> None:
        if rate_hz < 4000:
            raise ValueError(f"DTMF needs a sample rate of at least 4000 Hz, got {rate_hz}")
        self.rate_hz = rate_hz
        self.th = thresholds or DtmfThresholds()
        self.block = int(round(rate_hz * self.th.block_ms / 1000))
        n = np.arange(self.block, dtype=np.float64)
        freqs = np.array(ROWS_HZ + COLS_HZ)
        phase = 2 * math.pi * np.outer(freqs, n) / rate_hz
        self._basis: npt.NDArray[np.float64] = np.vstack([np.cos(phase), np.sin(phase)])  # (16, block)
        self._pending = np.zeros(0, dtype=np.float64)
        self._candidate: str | None = None
        self._count = 0
        self._reported: str | None = None  # the digit held now (reported, not yet released)
        self._off = 0
        self._min_amp = FULL_SCALE * 10 ** (self.th.min_level_dbfs / 20)
        # |X|^2 <= energy * N at any frequency (Cauchy-Schwarz), so a tone of amplitude A >= min
        # (|X| = A N / 2) needs a block energy of at least min^2 N / 4
        self._min_energy = self._min_amp**2 * self.block / 4
        self._peak_ratio = 10 ** (self.th.relative_peak_db / 10)

    def feed(self, pcm: Pcm) -> list[str]:
        """Add samples; returns the digits recognised in the blocks they completed."""
        data = np.concatenate([self._pending, pcm.astype(np.float64)]) if len(self._pending) else pcm.astype(
            np.float64
        )
        out: list[str] = []
        usable = len(data) - len(data) % self.block
        if usable:
            blocks = data[:usable].reshape(-1, self.block)
            for digit in self._classify(blocks):
                got = self._debounce(digit)
                if got is not None:
                    out.append(got)
        self._pending = data[usable:]
        return out

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float64)
        self._candidate, self._count, self._reported, self._off = None, 0, None, 0

    # --- internals ------------------------------------------------------------------------------

    def _classify(self, blocks: npt.NDArray[np.float64]) -> list[str | None]:
        proj = blocks @ self._basis.T  # (n_blocks, 16)
        power = proj[:, :8] ** 2 + proj[:, 8:] ** 2  # |X|^2 per frequency
        energy = np.einsum("ij,ij->i", blocks, blocks)
        # the checks on 8 numbers a block run on Python floats: numpy's per-call cost on arrays this
        # small was most of a caller's receive path (same float64 arithmetic, same results)
        return [self._block(p, e) for p, e in zip(power.tolist(), energy.tolist(), strict=True)]

    def _block(self, power: list[float], energy: float) -> str | None:
        if energy < self._min_energy:  # too quiet for any tone to reach the minimum level
            return None
        rows, cols = power[:4], power[4:]
        r = max(range(4), key=rows.__getitem__)  # the first of equal maxima, as np.argmax
        c = max(range(4), key=cols.__getitem__)
        amp_r, amp_c = 2 * math.sqrt(rows[r]) / self.block, 2 * math.sqrt(cols[c]) / self.block
        if amp_r < self._min_amp or amp_c < self._min_amp:
            return None
        th = self.th
        twist_db = 10 * math.log10(rows[r] / cols[c])
        if twist_db > th.normal_twist_db or -twist_db > th.reverse_twist_db:
            return None
        if not (_peaks(rows, r, self._peak_ratio) and _peaks(cols, c, self._peak_ratio)):
            return None
        # a sine of amplitude A over N samples carries A^2 N / 2 of energy
        tone_energy = (amp_r**2 + amp_c**2) * self.block / 2
        if energy <= 0 or tone_energy / energy < th.min_tone_energy_ratio:
            return None
        return KEYPAD[r][c]

    def _debounce(self, digit: str | None) -> str | None:
        if self._reported is not None:
            if digit == self._reported:
                self._off = 0
                return None
            self._off += 1
            if self._off < self.th.min_off_blocks:
                return None
            self._reported, self._off = None, 0
        if digit is None:
            self._candidate, self._count = None, 0
            return None
        if digit == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = digit, 1
        if self._count >= self.th.min_on_blocks:
            self._reported, self._candidate, self._count = digit, None, 0
            return digit
        return None


def _peaks(group: list[float], winner: int, ratio: float) -> bool:
    return group[winner] >= max(v for i, v in enumerate(group) if i != winner) * ratio
