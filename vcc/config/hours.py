"""Business-hours strings as an operator writes them, parsed into ``vcc.core.hours`` windows.

Days (a key of ``weekly``): ``mon`` .. ``sun`` (or ``monday`` ..), a range ``mon-fri`` (ranges may wrap,
``fri-mon``), a comma list ``sat,sun`` or ``mon-wed,fri``, and the words ``daily``, ``weekdays`` and
``weekends``. Windows (a value): ``"08:00-18:00"``, a list of them, ``"closed"`` or ``"24h"``. A window
that ends before it starts runs past midnight (``"22:00-06:00"``) and spills into the next day.
Days that no key names are closed; a tenant with no ``weekly`` at all is open around the clock.
"""

from __future__ import annotations

import re

MINUTES_PER_DAY = 24 * 60
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_WORDS: dict[str, tuple[int, ...]] = {
    "daily": tuple(range(7)),
    "weekdays": tuple(range(5)),
    "weekends": (5, 6),
}
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
CLOSED = "closed"
ALL_DAY = "24h"

Windows = tuple[tuple[int, int], ...]


def _day_index(name: str) -> int:
    low = name.strip().lower()
    if low in DAY_NAMES:
        return DAY_NAMES.index(low)
    if low in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(low)
    raise ValueError(f"{name.strip()!r} is not a day (use mon, tue, wed, thu, fri, sat, sun)")


def parse_days(key: str) -> tuple[int, ...]:
    """``"mon-fri"`` -> ``(0, 1, 2, 3, 4)``; raise ``ValueError`` for anything that is not days."""
    days: list[int] = []
    for part in key.split(","):
        part = part.strip().lower()
        if not part:
            raise ValueError(f"{key!r} has an empty day in its list")
        if part in _DAY_WORDS:
            days.extend(_DAY_WORDS[part])
        elif "-" in part:
            first_text, _, last_text = part.partition("-")
            first, last = _day_index(first_text), _day_index(last_text)
            span = (last - first) % 7
            days.extend((first + i) % 7 for i in range(span + 1))
        else:
            days.append(_day_index(part))
    repeated = sorted({d for d in days if days.count(d) > 1})
    if repeated:
        raise ValueError(f"{key!r} names {', '.join(DAY_NAMES[d] for d in repeated)} more than once")
    return tuple(days)


def _minutes(hours_text: str, minutes_text: str, window: str) -> int:
    hours, minutes = int(hours_text), int(minutes_text)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{window!r} has a time that does not exist")
    return hours * 60 + minutes


def parse_window(text: str) -> tuple[int, int] | None:
    """``"08:00-18:00"`` -> ``(480, 1080)``; ``"closed"`` -> ``None``; ``"24h"`` -> ``(0, 1440)``.
    An end before the start means the window runs past midnight: ``(1320, 360)``."""
    low = text.strip().lower()
    if low == CLOSED:
        return None
    if low == ALL_DAY:
        return (0, MINUTES_PER_DAY)
    match = _WINDOW.match(low)
    if not match:
        raise ValueError(f'{text!r} is not a window like "08:00-18:00", "closed" or "24h"')
    start = _minutes(match[1], match[2], text)
    end = _minutes(match[3], match[4], text)
    if start == end:
        raise ValueError(f"{text!r} opens and closes at the same time")
    if start == MINUTES_PER_DAY:
        raise ValueError(f"{text!r} starts at 24:00; write 00:00 on the next day")
    return (start, end)


def weekly_windows(weekly: dict[str, list[str]]) -> dict[int, Windows]:
    """All seven weekdays (0 = Monday) with their sorted opening windows; raise ``ValueError`` if a
    day is named twice, ``closed`` is mixed with windows, or windows overlap."""
    if not weekly:
        return {}
    named_by: dict[int, str] = {}
    raw: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
    for key, texts in weekly.items():
        for day in parse_days(key):
            if day in named_by:
                raise ValueError(f"{DAY_NAMES[day]} is given twice (in {named_by[day]!r} and {key!r})")
            named_by[day] = key
        parsed = [parse_window(t) for t in texts]
        if None in parsed and len(parsed) > 1:
            raise ValueError(f'{key!r} mixes "closed" with opening windows')
        for day in parse_days(key):
            for window in parsed:
                if window is None:
                    continue
                start, end = window
                if end > start:
                    raw[day].append((start, end))
                else:  # past midnight: the rest of today, then the start of tomorrow
                    raw[day].append((start, MINUTES_PER_DAY))
                    raw[(day + 1) % 7].append((0, end))
    result: dict[int, Windows] = {}
    for day, windows in raw.items():
        ordered = sorted(windows)
        for (s1, e1), (s2, e2) in zip(ordered, ordered[1:], strict=False):
            if s2 < e1:
                raise ValueError(
                    f"{DAY_NAMES[day]} has overlapping windows {format_window((s1, e1))} "
                    f"and {format_window((s2, e2))}"
                )
        result[day] = tuple(ordered)
    return result


def format_window(window: tuple[int, int]) -> str:
    start, end = window
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def describe_weekly(weekly: dict[int, Windows]) -> str:
    """A short text for ``vcc config show``: ``mon-fri 08:00-18:00; sat 09:00-12:00``."""
    if not weekly:
        return "open 24/7"
    groups: list[tuple[list[int], str]] = []
    for day in range(7):
        text = ", ".join(format_window(w) for w in weekly.get(day, ())) or CLOSED
        if groups and groups[-1][1] == text and groups[-1][0][-1] == day - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], text))
    parts = []
    for days, text in groups:
        if text == CLOSED:
            continue
        name = DAY_NAMES[days[0]] if len(days) == 1 else f"{DAY_NAMES[days[0]]}-{DAY_NAMES[days[-1]]}"
        parts.append(f"{name} {text}")
    return "; ".join(parts) or "always closed"
