"""Business hours: time-zone-aware weekly opening windows plus holidays. The interpreter and the router
ask ``BusinessHours.is_open(now)``; announcements and callbacks ask ``next_open(now)``.

Windows are read off the tenant's wall clock: ``(480, 1020)`` on Monday means open from 08:00 to
17:00 local time, whatever the UTC offset that day. On a daylight-saving change this gives:

* spring forward (e.g. Europe/Berlin, 02:00 -> 03:00): a window opening inside the skipped hour
  opens at the jump (03:00 local), a window ending inside it closes at the jump;
* fall back (03:00 -> 02:00): the repeated hour is lived twice, so a window covering it stays open
  for the whole real time that the wall clock shows inside the window (a window ``[02:00, 02:30)``
  opens twice; ``next_open`` finds the second opening too).

``now`` is always seconds since the epoch, given by the caller (the core never reads a clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """``weekly[d]`` lists opening windows for weekday ``d`` (0 = Monday) as minutes after local
    midnight, ``(start, end)`` with ``end`` exclusive and ``end <= 1440``; ``holidays`` are local
    dates on which the tenant is closed all day. An empty ``weekly`` means open around the clock."""

    timezone: str
    weekly: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    def local_time(self, now: float) -> datetime:
        """``now`` on the tenant's wall clock (an aware datetime)."""
        return datetime.fromtimestamp(now, ZoneInfo(self.timezone))

    def is_open(self, now: float) -> bool:
        """Whether the tenant is open at ``now``: not a local holiday, and the local time of day lies
        in one of the day's ``[start, end)`` windows (an empty ``weekly`` is open all week)."""
        local = self.local_time(now)
        if local.date() in self.holidays:
            return False
        if not self.weekly:
            return True
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60.0
        return any(start <= minute < end for start, end in self.weekly.get(local.weekday(), ()))

    def next_open(self, now: float) -> float | None:
        """Epoch seconds of the next moment the tenant is open: ``now`` itself if open now, ``None``
        if it never opens (no windows on any day). Used for "we open at 8 am" and callbacks."""
        if self.is_open(now):
            return now
        if self.weekly and not any(start < end for windows in self.weekly.values() for start, end in windows):
            return None
        zone = ZoneInfo(self.timezone)
        first_day = self.local_time(now).date() - timedelta(days=1)
        # each holiday hides at most one day, so a week more than the holidays always finds a window
        horizon_days = 7 * (len(self.holidays) + 2)
        best: float | None = None
        for offset in range(horizon_days):
            day = first_day + timedelta(days=offset)
            candidates = [t for t in self._openings(day, zone) if t > now and self.is_open(t)]
            if best is not None:  # the day after the first hit, in case a change crossed midnight
                return min([best, *candidates])
            if candidates:
                best = min(candidates)
        return best

    def _openings(self, day: date, zone: ZoneInfo) -> set[float]:
        """Instants at which the tenant may open on local ``day``: each window start on either side of
        a fall-back fold, and any UTC-offset change that day (a jump into a window)."""
        if day in self.holidays:
            return set()
        if not self.weekly:
            return {_day_start(day, zone)}
        found: set[float] = set()
        for start, end in self.weekly.get(day.weekday(), ()):
            if start >= end or start >= _MINUTES_PER_DAY:
                continue
            wall = datetime.combine(day, time(start // 60, start % 60), tzinfo=zone)
            found.add(wall.replace(fold=0).timestamp())
            found.add(wall.replace(fold=1).timestamp())
            if start == 0:  # midnight itself may be skipped by a change
                found.add(_day_start(day, zone))
        transition = _offset_change(day, zone)
        if transition is not None:
            found.add(transition)
        return found


def _day_start(day: date, zone: ZoneInfo) -> float:
    """Epoch seconds of the first instant of local ``day``."""
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    return min(midnight.replace(fold=0).timestamp(), midnight.replace(fold=1).timestamp())


def _offset_change(day: date, zone: ZoneInfo) -> float | None:
    """Epoch seconds (whole) of a UTC-offset change after the start of local ``day`` and no later
    than the next day's start, if there is one (zones change at most once a day). Found by
    bisection between the day's ends: ``zoneinfo`` does not expose its transition table."""
    lo = int(_day_start(day, zone))
    hi = int(_day_start(day + timedelta(days=1), zone))

    def offset(t: int) -> timedelta | None:
        return datetime.fromtimestamp(t, zone).utcoffset()

    if offset(lo) == offset(hi):
        return None
    before = offset(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset(mid) == before:
            lo = mid
        else:
            hi = mid
    return float(hi)
