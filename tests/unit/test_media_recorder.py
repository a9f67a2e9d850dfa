"""The stereo recorder: caller left, agent right, aligned by time, gaps filled; retention."""

from __future__ import annotations

import datetime as dt
import os
import time
import wave
from pathlib import Path

import numpy as np

from vcc.media.pcm import dominant_hz, tone
from vcc.media.recorder import AGENT, CALLER, StereoAligner, WavRecorder, cleanup_recordings, recording_path

RATE = 16000
FRAME = 320  # 20 ms


def test_aligned_channels_with_silence_gap() -> None:
    al = StereoAligner(RATE, start_s=100.0)
    for i in range(50):  # one second of both sides, a little jitter
        t = 100.0 + (i + 1) * 0.02
        al.add(CALLER, t + 0.003 * (i % 3), tone((440.0,), 20, RATE, start_sample=i * FRAME))
        if i < 20 or i >= 30:  # the agent side is silent 0.4..0.6 s (on hold, say)
            al.add(AGENT, t, tone((1000.0,), 20, RATE, start_sample=i * FRAME))
    out = al.drain(final=True).reshape(-1, 2)
    assert abs(len(out) - RATE) <= 2 * FRAME
    left, right = out[:, 0], out[:, 1]
    assert abs(dominant_hz(left, RATE) - 440) < 10
    assert abs(dominant_hz(right[: 20 * FRAME], RATE) - 1000) < 10
    gap = right[21 * FRAME : 29 * FRAME]
    assert np.all(gap == 0)
    assert np.any(left[21 * FRAME : 29 * FRAME] != 0)


def test_quiet_side_filled_up_to_now() -> None:
    al = StereoAligner(RATE, start_s=0.0)
    for i in range(10):
        al.add(CALLER, (i + 1) * 0.02, tone((440.0,), 20, RATE))
    assert len(al.drain()) == 0  # the agent side might still come
    out = al.drain(now_s=0.3).reshape(-1, 2)
    assert len(out) == 10 * FRAME and np.all(out[:, 1] == 0)
    al.add(AGENT, 0.32, tone((1000.0,), 20, RATE))  # late agent audio does not rewrite history
    al.add(CALLER, 0.32, tone((440.0,), 20, RATE))
    rest = al.drain(final=True).reshape(-1, 2)
    assert np.any(rest[:, 1] != 0)


def test_wav_file_and_path(tmp_path: Path) -> None:
    when = dt.datetime(2024, 5, 17, 10, 0, tzinfo=dt.UTC)
    path = recording_path(tmp_path, "A", "c-1/../x", when)
    assert path.parent == tmp_path / "A" / "2024-05-17" and path.name == "c-1_.._x.wav"
    rec = WavRecorder(path, RATE, start_s=5.0)
    for i in range(25):
        rec.add(CALLER, 5.0 + (i + 1) * 0.02, tone((440.0,), 20, RATE, start_sample=i * FRAME))
        rec.add(AGENT, 5.0 + (i + 1) * 0.02, tone((1000.0,), 20, RATE, start_sample=i * FRAME))
        if i % 10 == 0:
            rec.flush(5.0 + i * 0.02)
    assert abs(rec.close(5.6) - 0.5) < 0.05
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert abs(dominant_hz(data[:, 0], RATE) - 440) < 10 and abs(dominant_hz(data[:, 1], RATE) - 1000) < 10


def test_retention(tmp_path: Path) -> None:
    old = tmp_path / "A" / "2020-01-01" / "old.wav"
    new = tmp_path / "A" / "2024-05-17" / "new.wav"
    for p in (old, new):
        p.parent.mkdir(parents=True)
        p.write_bytes(b"RIFF")
    now = time.time()
    os.utime(old, (now - 40 * 86400, now - 40 * 86400))
    assert cleanup_recordings(tmp_path, 30, now) == 1
    assert not old.exists() and not old.parent.exists() and new.exists()
    assert cleanup_recordings(tmp_path / "missing", 30, now) == 0
