"""A scripted caller for the IVR (sans-IO): runs an :class:`IvrSession` to its end for a contact
that has no live audio, the keys it presses given up front (the ``dtmf`` attached data of a
signaling-only contact, a load generator's caller, a bot in a drill).

The caller listens to every prompt to its end unless the prompt allows barge-in and it still has a
key to press; it presses its next key whenever the IVR listens, and lets the timer run out when it
has none left. Hours checks and wait estimates are answered at once by the callbacks given, and a
callback booking as booked (the site stores it when the outcome reaches it). Prompts
take no time here: the worker with real media (a later plane) plays them for real.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vcc.core.flow import Flow
from vcc.core.ivr import (
    Announce,
    BookCallback,
    CallbackResult,
    CheckHoursRequest,
    CollectDigits,
    Digit,
    HangUpAction,
    HoursResult,
    IvrEvent,
    IvrSession,
    PlayPrompt,
    PromptFinished,
    RequestWaitEstimate,
    RouteAction,
    Started,
    StartTimer,
    StopPrompt,
    Timeout,
    WaitEstimate,
)

#: (ewt_s or None when unknown, position or None) for a queue
WaitEstimator = Callable[[str], tuple[float | None, int | None]]


@dataclass(frozen=True, slots=True)
class ScriptedOutcome:
    route: RouteAction | None
    hangup: HangUpAction | None
    callback: BookCallback | None
    prompts: tuple[str, ...]  # what the caller heard, in order (announcements as text)
    path: tuple[tuple[str, str], ...]
    digits_left: str


def run_scripted(
    flow: Flow,
    *,
    now: float,
    dtmf: str = "",
    caller: str | None = None,
    is_open: Callable[[float], bool] = lambda _now: True,
    wait_estimate: WaitEstimator = lambda _queue: (None, None),
    max_events: int = 10_000,
) -> ScriptedOutcome:
    session = IvrSession(flow, caller=caller)
    keys = deque(k for k in dtmf if not k.isspace())
    pending: deque[IvrEvent] = deque([Started()])
    playing: int | None = None
    barge_in = False
    timer: int | None = None
    heard: list[str] = []
    callback: BookCallback | None = None

    for _ in range(max_events):
        if not pending:
            if playing is not None:
                if barge_in and keys:
                    pending.append(Digit(keys.popleft()))
                else:
                    pending.append(PromptFinished(playing))
                playing = None
            elif timer is not None:
                pending.append(Digit(keys.popleft()) if keys else Timeout(timer))
                if not keys:
                    timer = None
            else:
                break
        for action in session.handle(pending.popleft(), now):
            match action:
                case PlayPrompt():
                    heard.append(action.prompt)
                    playing, barge_in = action.play_id, action.barge_in
                case Announce():
                    heard.append(action.text)
                    playing, barge_in = action.play_id, False
                case StopPrompt():
                    playing = None
                case CollectDigits() | StartTimer():
                    timer = action.timer_id
                case CheckHoursRequest():
                    pending.append(HoursResult(is_open(now)))
                case RequestWaitEstimate():
                    ewt_s, position = wait_estimate(action.queue)
                    pending.append(WaitEstimate(ewt_s, position))
                case BookCallback():  # no caller waits on the line: the site books it from the outcome
                    callback = action
                    pending.append(CallbackResult(True))
                case RouteAction() | HangUpAction():
                    pass
        if session.done:
            break

    outcome = session.outcome
    if outcome is None:  # the IVR waits on nothing we can give it: treat as a failed call
        outcome = HangUpAction("ivr_stalled")
    return ScriptedOutcome(
        route=outcome if isinstance(outcome, RouteAction) else None,
        hangup=outcome if isinstance(outcome, HangUpAction) else None,
        callback=callback,
        prompts=tuple(heard),
        path=session.path,
        digits_left="".join(keys),
    )
