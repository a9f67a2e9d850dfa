"""Real headless Chromium (Debian's, never `playwright install`) for the e2e tests, each browser
with its own fake microphone: a WAV tone made here, so what the other side hears can be checked by
frequency."""

from __future__ import annotations

import wave
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import numpy as np
from playwright.async_api import BrowserContext, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]


def tone_wav(path: Path, hz: float, seconds: float = 30.0, rate: int = 48_000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


class Browsers:
    """Chromium instances for one test; each closed (by its handle) when the test ends."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.stack = AsyncExitStack()
        self.pw: Any = None
        self.pages: list[Page] = []

    async def __aenter__(self) -> Browsers:
        self.pw = await self.stack.enter_async_context(async_playwright())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def open(self, name: str, url: str, tone_hz: float | None = None) -> Page:
        args = list(ARGS)
        if tone_hz is not None:
            args.append(f"--use-file-for-fake-audio-capture={tone_wav(self.tmp / f'{name}.wav', tone_hz)}")
        context: BrowserContext = await self.pw.chromium.launch_persistent_context(
            str(self.tmp / f"profile-{name}"), executable_path=CHROMIUM, headless=True, args=args)
        self.stack.push_async_callback(context.close)
        page = context.pages[0] if context.pages else await context.new_page()
        page.on("console", lambda m: print(f"[{name}] {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        await page.goto(url)
        await page.wait_for_function("window.vcc && window.vcc.loaded === true")
        self.pages.append(page)
        return page


async def until(page: Page, expression: str, timeout_s: float = 20.0) -> Any:
    """Wait until ``expression`` (JavaScript, over ``window.vcc``) is truthy and return its value."""
    handle = await page.wait_for_function(expression, timeout=timeout_s * 1000)
    return await handle.json_value()


async def log_in(page: Page, agent_id: str, password: str) -> None:
    await page.fill("#agent-id", agent_id)
    await page.fill("#password", password)
    await page.click("#login")
    await until(page, "window.vcc.connected && window.vcc.agentId")
