"""Call recording: a sans-IO stereo aligner (caller left, agent right) and the WAV file it feeds,
plus retention cleanup.

:class:`StereoAligner` places each side's audio on a common timeline by arrival time: a chunk that
starts within ``slack_s`` of where that side's audio ended is appended (network jitter does not open
gaps), a later one is preceded by silence (hold, a muted side, lost packets), an earlier one is
appended at the side's cursor. :meth:`StereoAligner.drain` hands out the interleaved samples both
sides have covered, filling with silence a side that stayed quiet for longer than ``slack_s``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import wave
from pathlib import Path

import numpy as np

from vcc.media.pcm import Pcm

CALLER, AGENT = 0, 1


class StereoAligner:
    def __init__(self, rate_hz: int, start_s: float, slack_s: float = 0.06) -> None:
        self.rate_hz = rate_hz
        self.start_s = start_s
        self.slack = int(slack_s * rate_hz)
        self._bufs: list[list[Pcm]] = [[], []]
        self._end = [0, 0]  # sample index where each side's audio ends (absolute)
        self._drained = 0  # samples already handed out

    def add(self, side: int, at_s: float, pcm: Pcm) -> None:
        """``pcm`` (int16 at ``rate_hz``) from ``side`` arrived at ``at_s`` (its last sample)."""
        start = int(round((at_s - self.start_s) * self.rate_hz)) - len(pcm)
        end = self._end[side]
        if start > end + self.slack:
            self._bufs[side].append(np.zeros(start - end, dtype=np.int16))
            end = start
        if end < self._drained:  # this side fell behind what was drained as silence: drop the overlap
            skip = self._drained - end
            pcm = pcm[skip:]
            end = self._drained
        self._bufs[side].append(pcm)
        self._end[side] = end + len(pcm)

    def drain(self, now_s: float | None = None, final: bool = False) -> Pcm:
        """Interleaved stereo int16 (L, R, L, R...) for the samples both sides have covered; a side
        with nothing for more than the slack (by ``now_s``) counts as silent up to then. ``final``
        flushes everything."""
        if final:
            upto = max(self._end)
        else:
            upto = min(self._end)
            if now_s is not None:  # the quiet side is silent up to where the other one got, lagging by the slack
                quiet_until = int(round((now_s - self.start_s) * self.rate_hz)) - self.slack
                upto = max(upto, min(max(self._end), quiet_until))
        n = upto - self._drained
        if n <= 0:
            return np.zeros(0, dtype=np.int16)
        out = np.zeros((n, 2), dtype=np.int16)
        for side in (CALLER, AGENT):
            buf = np.concatenate(self._bufs[side]) if self._bufs[side] else np.zeros(0, dtype=np.int16)
            have = buf[:n]
            out[: len(have), side] = have
            rest = buf[n:]
            self._bufs[side] = [rest] if len(rest) else []
            if self._end[side] < upto:  # silence-filled: the side resumes from here
                self._end[side] = upto
        self._drained = upto
        return out.reshape(-1)

    @property
    def duration_s(self) -> float:
        return self._drained / self.rate_hz


def recording_path(root: str | os.PathLike[str], site: str, contact_id: str, when: dt.datetime) -> Path:
    """``<root>/<site>/<YYYY-MM-DD>/<contact id>.wav`` (the contact id made safe for a file name)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in contact_id) or "contact"
    return Path(root) / site / when.strftime("%Y-%m-%d") / f"{safe}.wav"


class WavRecorder:
    """A stereo 16-bit WAV written as the call goes (the header is completed on close)."""

    def __init__(self, path: Path, rate_hz: int, start_s: float) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed by close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate_hz)
        self.aligner = StereoAligner(rate_hz, start_s)
        self.closed = False

    def add(self, side: int, at_s: float, pcm: Pcm) -> None:
        if not self.closed:
            self.aligner.add(side, at_s, pcm)

    def flush(self, now_s: float) -> None:
        if not self.closed:
            data = self.aligner.drain(now_s)
            if len(data):
                self._wav.writeframes(data.astype("<i2").tobytes())

    def close(self, now_s: float) -> float:
        """Flush everything and close; returns the duration in seconds."""
        if not self.closed:
            self.flush(now_s)
            data = self.aligner.drain(final=True)
            if len(data):
                self._wav.writeframes(data.astype("<i2").tobytes())
            self._wav.close()
            self.closed = True
        return self.aligner.duration_s


def cleanup_recordings(root: str | os.PathLike[str], retention_days: float, now_s: float) -> int:
    """Delete ``*.wav`` under ``root`` last written more than ``retention_days`` ago, and the day
    folders left empty; returns the number of files deleted."""
    base = Path(root)
    if not base.is_dir():
        return 0
    cutoff = now_s - retention_days * 86400
    deleted = 0
    for path in base.rglob("*.wav"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    for day in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            day.rmdir()  # only empty folders go
    return deleted
