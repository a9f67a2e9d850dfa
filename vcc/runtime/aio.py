"""asyncio helpers."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s``; whether it is set. Never swallows a cancellation:
    Python 3.11's ``asyncio.wait_for`` returns the inner result when a cancel arrives as the event
    is set, so a ``while True`` loop around it went on after ``cancel()`` and the ``gather`` of the
    controller's ``stop()`` waited for ever (seen in CI: test_site_api_bad_input hung)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()
