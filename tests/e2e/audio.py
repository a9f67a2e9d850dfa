"""Checking audio by frequency: what a page hears (its AnalyserNode) and what a recording holds."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
from playwright.async_api import Page


async def heard_hz(page: Page, expect_hz: float, *, within_hz: float = 40.0, timeout_s: float = 20.0) -> float:
    """Wait until the page's received audio has its dominant frequency near ``expect_hz``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: dict[str, float] = {}
    while asyncio.get_running_loop().time() < deadline:
        last = await page.evaluate("window.vcc.audio ? window.vcc.audio.dominantHz() : {hz: 0, db: -999}")
        if abs(last["hz"] - expect_hz) <= within_hz and last["db"] > -70:
            return float(last["hz"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"page never heard {expect_hz} Hz; last {last}")


async def stops_hearing(page: Page, hz: float, *, within_hz: float = 40.0, for_s: float = 1.5,
                        timeout_s: float = 15.0) -> None:
    """The page's received audio stops having ``hz`` as its dominant frequency and keeps so for
    ``for_s`` (e.g. the agent is no longer heard once the caller is on hold; the jitter buffer of a
    loaded machine may still play what was in flight)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    quiet_since: float | None = None
    got: dict[str, float] = {}
    while loop.time() < deadline:
        got = await page.evaluate("window.vcc.audio ? window.vcc.audio.dominantHz() : {hz: 0, db: -999}")
        if abs(got["hz"] - hz) <= within_hz and got["db"] > -60:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = loop.time()
        elif loop.time() - quiet_since >= for_s:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still hearing {hz} Hz after {timeout_s} s: {got}")


async def hears_music(page: Page, *, low_hz: float = 150.0, high_hz: float = 800.0, notes: int = 2,
                      timeout_s: float = 15.0) -> set[int]:
    """Wait until the page has heard ``notes`` different dominant frequencies in the music on hold's
    range (the generated chime: 175-392 Hz notes with their octaves), i.e. changing music rather than
    one of the tones the browsers send (440 Hz is the caller's own, which it never hears)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    seen: set[int] = set()
    got: dict[str, float] = {}
    while loop.time() < deadline:
        got = await page.evaluate("window.vcc.audio ? window.vcc.audio.dominantHz() : {hz: 0, db: -999}")
        if low_hz <= got["hz"] <= high_hz and got["db"] > -80:
            seen.add(int(round(got["hz"], -1)))
            if len(seen) >= notes:
                return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"never heard music ({notes} notes in {low_hz}-{high_hz} Hz): saw {seen}, last {got}")


def channel_peaks_hz(path: Path) -> tuple[set[int], set[int]]:
    """Dominant frequencies (rounded to 10 Hz) of 0.5 s windows of each channel of a stereo WAV."""
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2, f"{path}: {w.getnchannels()} channels"
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(float)
    out: list[set[int]] = [set(), set()]
    step = rate // 2
    for ch in (0, 1):
        for start in range(0, len(pcm) - step, step):
            window = pcm[start:start + step, ch]
            if np.abs(window).max() < 500:
                continue
            spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
            out[ch].add(int(round(np.argmax(spectrum) * rate / len(window), -1)))
    return out[0], out[1]
