"""Sans-IO audio figures of a media load run: per call leg, how many 20 ms frames arrived, the p99
of their inter-arrival times and how many gaps (an inter-arrival over ``GAP_MS``: at least two
frames missing); per run, the same over every leg, and which calls carried the far side's tone;
and which IVR prompts take a key (a media caller presses its next key when one of them starts)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vcc.config.models import ClusterConfig

GAP_MS = 60.0
BARGE_IN_NODES = ("menu", "collect", "offer_callback")  # a digit answers these while their prompt plays


@dataclass
class LegAudio:
    """One leg's reception, from the monotonic arrival times of its frames (seconds)."""

    frames: int = 0
    interarrival_p99_ms: float | None = None
    interarrival_max_ms: float | None = None
    gaps: int = 0
    heard_far_tone: bool | None = None  # None: the leg never carried talk (abandoned, or no agent leg)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def leg_audio(arrivals_s: Sequence[float], heard_far_tone: bool | None = None) -> LegAudio:
    gaps_ms = [1000.0 * (b - a) for a, b in zip(arrivals_s, arrivals_s[1:], strict=False)]
    if not gaps_ms:
        return LegAudio(frames=len(arrivals_s), heard_far_tone=heard_far_tone)
    return LegAudio(frames=len(arrivals_s), interarrival_p99_ms=round(p99(gaps_ms), 2),
                    interarrival_max_ms=round(max(gaps_ms), 2), gaps=sum(g > GAP_MS for g in gaps_ms),
                    heard_far_tone=heard_far_tone)


def legs_summary(legs: Iterable[LegAudio]) -> dict[str, Any]:
    """Over legs: frames, the median and worst per-leg p99, gaps, and how many heard the far tone."""
    legs = list(legs)
    p99s = [leg.interarrival_p99_ms for leg in legs if leg.interarrival_p99_ms is not None]
    talked = [leg for leg in legs if leg.heard_far_tone is not None]
    return {
        "legs": len(legs), "frames": sum(leg.frames for leg in legs),
        "interarrival_p99_ms_median": round(statistics.median(p99s), 2) if p99s else None,
        "interarrival_p99_ms_worst": round(max(p99s), 2) if p99s else None,
        "gaps": sum(leg.gaps for leg in legs), "legs_with_gaps": sum(leg.gaps > 0 for leg in legs),
        "talked": len(talked), "heard_far_tone": sum(bool(leg.heard_far_tone) for leg in talked),
    }


def tone_heard(dominant_hz: float, expect_hz: float, within_hz: float = 40.0) -> bool:
    return abs(dominant_hz - expect_hz) <= within_hz


def barge_in_prompts(config: ClusterConfig) -> set[str]:
    """Prompts (ids or texts, as the gateway names them in its ``prompt`` events) that a digit answers."""
    out: set[str] = set()
    for tenant in config.tenants:
        for flow in tenant.flows:
            for node in flow.nodes.values():
                if node.type in BARGE_IN_NODES:
                    out.update(p for p in (getattr(node, "prompt", None), getattr(node, "invalid_prompt", None)) if p)
    return out
