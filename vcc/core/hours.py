"""Business hours: time-zone-aware weekly opening windows plus holidays (values only here; the
interpreter and the router ask ``BusinessHours.is_open(now)``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """``weekly[d]`` lists opening windows for weekday ``d`` (0 = Monday) as minutes after local
    midnight, ``(start, end)`` with ``end`` exclusive and ``end <= 1440``; ``holidays`` are local
    dates on which the tenant is closed all day. An empty ``weekly`` means open around the clock."""

    timezone: str
    weekly: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
