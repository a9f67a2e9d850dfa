"""wait_event: a loop waiting on an event with a timeout stops when cancelled, even when the cancel
arrives as the event is set (Python 3.11's asyncio.wait_for returns the result then and swallows the
cancel: the controller's shard loop went on and its stop() hung, in CI)."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest

from vcc.runtime.aio import wait_event


async def _loop_after_cancel(use_wait_for: bool) -> str:
    """A controller-style loop; the event is set and the loop cancelled in the same step."""
    event = asyncio.Event()

    async def loop() -> None:
        while True:
            if use_wait_for:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 0.05)
            else:
                await wait_event(event, 0.05)
            event.clear()

    task = asyncio.create_task(loop())
    for _ in range(3):
        await asyncio.sleep(0)  # the loop is waiting
    event.set()
    task.cancel()
    try:
        await asyncio.wait_for(asyncio.shield(task), 0.5)
    except asyncio.CancelledError:
        return "stopped"
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        return "still running"
    return "returned"


def test_a_loop_on_wait_event_stops_when_cancelled_as_the_event_is_set() -> None:
    assert asyncio.run(_loop_after_cancel(use_wait_for=False)) == "stopped"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for keeps the cancel from Python 3.12")
def test_the_same_loop_on_wait_for_does_not_stop_on_python_3_11() -> None:
    assert asyncio.run(_loop_after_cancel(use_wait_for=True)) == "still running"


def test_wait_event_says_whether_the_event_was_set() -> None:
    async def scenario() -> tuple[bool, bool]:
        event = asyncio.Event()
        late = await wait_event(event, 0.01)
        asyncio.get_running_loop().call_later(0.01, event.set)
        return late, await wait_event(event, 5.0)

    assert asyncio.run(scenario()) == (False, True)
