"""Estimated wait time (EWT) per queue and per position, and the words an IVR says about it.

Inputs, per queue, kept in sliding windows bounded both by age (``window_s`` before ``now``) and by
count (``max_samples``):

* handle times of finished contacts (talk + hold + wrap-up), recorded with ``record_handle``;
* departures from the head of the queue to an agent, recorded with ``record_answer`` (with the wait
  of the contact that left).

The estimate for the contact at position ``k`` (1 = next to be served), with ``N`` agents staffed on
the queue of whom ``F`` are free right now:

1. **AHT**, shrunk toward the configured default while history is thin::

       aht_s = (prior_samples * default_aht_s + sum(handle_s)) / (prior_samples + n_handle)

2. **Staffing model** (agents release contacts independently, at rate ``1 / aht_s`` each)::

       ewt_model(k) = max(0, k - F) * aht_s / N

   The first ``F`` positions go straight to the free agents; every further position waits for one
   release among ``N`` busy agents, which come on average every ``aht_s / N`` seconds.

3. **Observed head-of-queue rate**: the mean gap ``g`` between consecutive answers, counting only
   gaps during which the queue was never empty (the later contact had already been waiting the
   whole gap: ``gap <= its wait_s``), so idle periods do not pass for slow service::

       ewt_observed(k) = max(0, k - F) * g

4. **Blend**, the observed rate weighted by how much of it there is, capped so that a change of
   staffing (``N``) always shows at once::

       w = min(max_observed_weight, n_gap / (n_gap + prior_samples))
       ewt_s(k) = (1 - w) * ewt_model(k) + w * ewt_observed(k)

No agent staffed (``N == 0``) gives ``None``: the wait is unknown (callers may wait for ever). With
no history at all the estimate is the staffing model with ``default_aht_s``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EwtConfig:
    default_aht_s: float = 180.0  # assumed handle time before a queue has history
    window_s: float = 3600.0  # samples older than this are forgotten
    max_samples: int = 200  # and at most this many are kept per queue and kind
    prior_samples: int = 10  # weight of the default (and of the staffing model) in samples
    max_observed_weight: float = 0.5  # cap on the weight of the observed head-of-queue rate

    def __post_init__(self) -> None:
        if self.default_aht_s <= 0 or self.window_s <= 0 or self.max_samples < 1 or self.prior_samples < 0:
            raise ValueError(f"invalid EWT config {self}")
        if not 0.0 <= self.max_observed_weight <= 1.0:
            raise ValueError("max_observed_weight must lie in [0, 1]")


def position_ewt_s(position: int, aht_s: float, staffed_agents: int, free_agents: int = 0) -> float | None:
    """The staffing model alone: ``max(0, position - free_agents) * aht_s / staffed_agents``;
    ``None`` (unknown) when nobody is staffed."""
    if position < 1:
        raise ValueError(f"queue positions start at 1, got {position}")
    if staffed_agents <= 0:
        return None
    return max(0, position - max(0, free_agents)) * aht_s / staffed_agents


@dataclass(slots=True)
class _QueueHistory:
    handles: deque[tuple[float, float]]  # (ts, handle_s)
    answers: deque[tuple[float, float]]  # (ts, wait_s)

    def prune(self, now: float, window_s: float) -> None:
        for samples in (self.handles, self.answers):
            while samples and samples[0][0] < now - window_s:
                samples.popleft()


class EwtEstimator:
    """EWT for every queue of a shard, fed with handle times and answers as they happen."""

    def __init__(self, config: EwtConfig | None = None) -> None:
        self.config = config or EwtConfig()
        self._queues: dict[str, _QueueHistory] = {}

    def _history(self, queue: str, now: float) -> _QueueHistory:
        history = self._queues.get(queue)
        if history is None:
            size = self.config.max_samples
            history = self._queues[queue] = _QueueHistory(deque(maxlen=size), deque(maxlen=size + 1))
        history.prune(now, self.config.window_s)
        return history

    def record_handle(
        self, queue: str, now: float, talk_s: float, hold_s: float = 0.0, wrap_up_s: float = 0.0
    ) -> None:
        """A contact of ``queue`` was finished at ``now`` (wrap-up done) after this much work."""
        handle_s = talk_s + hold_s + wrap_up_s
        if handle_s < 0 or math.isnan(handle_s):
            raise ValueError(f"handle time must be >= 0 s, got {handle_s}")
        self._history(queue, now).handles.append((now, handle_s))

    def record_answer(self, queue: str, now: float, wait_s: float) -> None:
        """A contact left the head of ``queue`` to an agent at ``now`` after waiting ``wait_s``."""
        if wait_s < 0 or math.isnan(wait_s):
            raise ValueError(f"wait must be >= 0 s, got {wait_s}")
        self._history(queue, now).answers.append((now, wait_s))

    def aht_s(self, queue: str, now: float) -> float:
        """Average handle time of ``queue`` over the window, shrunk toward the default."""
        handles = self._history(queue, now).handles
        prior = self.config.prior_samples
        if not handles and prior == 0:
            return self.config.default_aht_s
        total = sum(handle_s for _, handle_s in handles)
        return (prior * self.config.default_aht_s + total) / (prior + len(handles))

    def answer_gap_s(self, queue: str, now: float) -> tuple[float, int] | None:
        """Mean time between answers while the queue was never empty, and how many gaps it averages;
        ``None`` without such a gap in the window."""
        answers = self._history(queue, now).answers
        gaps = [
            ts - prev_ts
            for (prev_ts, _), (ts, wait_s) in zip(answers, list(answers)[1:], strict=False)
            if ts - prev_ts <= wait_s
        ]
        if not gaps:
            return None
        return sum(gaps) / len(gaps), len(gaps)

    def ewt_s(
        self, queue: str, now: float, position: int, staffed_agents: int, free_agents: int = 0
    ) -> float | None:
        """EWT in seconds of the contact at ``position`` (1 = next) in ``queue``; ``None`` when nobody
        is staffed (unknown). See the module docstring for the formula."""
        model = position_ewt_s(position, self.aht_s(queue, now), staffed_agents, free_agents)
        if model is None:
            return None
        observed = self.answer_gap_s(queue, now)
        if observed is None:
            return model
        gap_s, n_gaps = observed
        weight = min(self.config.max_observed_weight, n_gaps / (n_gaps + self.config.prior_samples))
        ahead = max(0, position - max(0, free_agents))
        return (1.0 - weight) * model + weight * ahead * gap_s

    def arrival_ewt_s(
        self, queue: str, now: float, queue_length: int, staffed_agents: int, free_agents: int = 0
    ) -> float | None:
        """EWT of a contact joining ``queue`` behind ``queue_length`` others."""
        return self.ewt_s(queue, now, queue_length + 1, staffed_agents, free_agents)

    def forget(self, queue: str) -> None:
        """Drop a queue's history (the queue was removed from the config)."""
        self._queues.pop(queue, None)


# --- words --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Wait:
    kind: str  # "unknown", "under_a_minute", "about", "over_a_day"
    hours: int = 0
    minutes: int = 0


def _round_half_up(value: float, step: int) -> int:
    return int(math.floor(value / step + 0.5)) * step


def _rounded_wait(ewt_s: float | None) -> _Wait:
    """Under 60 s: "under a minute"; then rounded to the minute up to 10 minutes, to 5 minutes up
    to an hour, to a quarter hour beyond; a day or more is "over a day"."""
    if ewt_s is None or math.isnan(ewt_s):
        return _Wait("unknown")
    if ewt_s < 60:
        return _Wait("under_a_minute")
    minutes = ewt_s / 60.0
    if minutes < 9.5:
        return _Wait("about", 0, max(1, _round_half_up(minutes, 1)))
    if minutes < 57.5:
        return _Wait("about", 0, max(10, _round_half_up(minutes, 5)))
    if minutes >= 24 * 60 - 7.5:
        return _Wait("over_a_day")
    hours, rest = divmod(_round_half_up(minutes, 15), 60)
    return _Wait("about", hours, rest)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def wait_phrase(ewt_s: float | None) -> str:
    """Operator-friendly words for a wait: "less than a minute", "about 4 minutes", "about 25
    minutes", "about 1 hour and 15 minutes", "more than a day"; ``None`` gives "unknown"."""
    wait = _rounded_wait(ewt_s)
    if wait.kind == "unknown":
        return "unknown"
    if wait.kind == "under_a_minute":
        return "less than a minute"
    if wait.kind == "over_a_day":
        return "more than a day"
    words = [_plural(wait.hours, "hour")] if wait.hours else []
    words += [_plural(wait.minutes, "minute")] if wait.minutes else []
    return "about " + " and ".join(words)


def announce_pieces(ewt_s: float | None, position: int | None) -> tuple[str, ...]:
    """The announcement as pieces for a media server that concatenates recordings: prompt ids
    (``ewt.*``) and say-as tokens (``number:3``, ``hours:1``, ``minutes:15``)."""
    pieces: list[str] = []
    if position is not None and position >= 1:
        pieces += ["ewt.you_are_number", f"number:{position}", "ewt.in_line"]
    wait = _rounded_wait(ewt_s)
    if wait.kind != "about":
        return (*pieces, f"ewt.wait_{wait.kind}")
    pieces.append("ewt.wait_about")
    pieces += [f"hours:{wait.hours}"] if wait.hours else []
    pieces += [f"minutes:{wait.minutes}"] if wait.minutes else []
    return tuple(pieces)


def announce_text(ewt_s: float | None, position: int | None) -> str:
    """The announcement as one sentence (for text-to-speech), e.g. "You are number 3 in line. The
    wait is about 4 minutes." ``position`` ``None`` leaves the position out."""
    parts: list[str] = []
    if position is not None and position >= 1:
        parts.append(f"You are number {position} in line.")
    phrase = wait_phrase(ewt_s)
    unknown = phrase == "unknown"
    parts.append("We cannot estimate the wait right now." if unknown else f"The wait is {phrase}.")
    return " ".join(parts)
