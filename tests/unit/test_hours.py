"""Business hours on the tenant's wall clock: windows, holidays, midnight, DST, next opening."""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from vcc.core.hours import BusinessHours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_8_TO_17 = dict.fromkeys(range(5), ((480, 1020),))


def at(zone: ZoneInfo, *fields: int, fold: int = 0) -> float:
    return datetime(*fields, tzinfo=zone, fold=fold).timestamp()


def local(zone: ZoneInfo, ts: float) -> datetime:
    return datetime.fromtimestamp(ts, zone)


def test_window_start_is_inclusive_and_end_exclusive() -> None:
    hours = BusinessHours("Europe/Berlin", WEEKDAYS_8_TO_17)
    assert not hours.is_open(at(BERLIN, 2024, 6, 3, 7, 59, 59))  # a Monday
    assert hours.is_open(at(BERLIN, 2024, 6, 3, 8, 0))
    assert hours.is_open(at(BERLIN, 2024, 6, 3, 16, 59, 59))
    assert not hours.is_open(at(BERLIN, 2024, 6, 3, 17, 0))
    assert not hours.is_open(at(BERLIN, 2024, 6, 8, 10, 0))  # Saturday: no windows


def test_the_tenants_time_zone_decides() -> None:
    instant = datetime(2024, 6, 3, 14, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # 16:00 Berlin, 10:00 NY
    assert BusinessHours("Europe/Berlin", {0: ((480, 900),)}).is_open(instant) is False
    assert BusinessHours("America/New_York", {0: ((480, 900),)}).is_open(instant) is True


def test_several_windows_a_day() -> None:
    hours = BusinessHours("Europe/Berlin", {2: ((840, 1080), (480, 720))})  # lunch break, unsorted
    assert hours.is_open(at(BERLIN, 2024, 6, 5, 9, 0))
    assert not hours.is_open(at(BERLIN, 2024, 6, 5, 13, 0))
    assert hours.is_open(at(BERLIN, 2024, 6, 5, 15, 0))
    assert hours.next_open(at(BERLIN, 2024, 6, 5, 13, 0)) == at(BERLIN, 2024, 6, 5, 14, 0)


def test_holiday_is_closed_all_day_by_local_date() -> None:
    hours = BusinessHours(
        "America/New_York", dict.fromkeys(range(7), ((0, 1440),)), frozenset({date(2024, 12, 25)})
    )
    assert not hours.is_open(at(NEW_YORK, 2024, 12, 25, 0, 0))
    assert not hours.is_open(at(NEW_YORK, 2024, 12, 25, 23, 59))  # already Dec 26 in UTC
    assert hours.is_open(at(NEW_YORK, 2024, 12, 24, 23, 59))
    assert hours.next_open(at(NEW_YORK, 2024, 12, 25, 12, 0)) == at(NEW_YORK, 2024, 12, 26, 0, 0)


def test_empty_weekly_is_open_around_the_clock_except_holidays() -> None:
    hours = BusinessHours("Europe/Berlin")
    assert hours.is_open(at(BERLIN, 2024, 6, 9, 3, 0))
    now = at(BERLIN, 2024, 6, 9, 3, 0)
    assert hours.next_open(now) == now
    closed_xmas = BusinessHours("Europe/Berlin", holidays=frozenset({date(2024, 12, 25), date(2024, 12, 26)}))
    assert not closed_xmas.is_open(at(BERLIN, 2024, 12, 26, 12, 0))
    assert closed_xmas.next_open(at(BERLIN, 2024, 12, 25, 12, 0)) == at(BERLIN, 2024, 12, 27, 0, 0)


def test_window_to_midnight_and_across_it() -> None:
    hours = BusinessHours("Europe/Berlin", {0: ((1320, 1440),), 1: ((0, 360),)})
    assert hours.is_open(at(BERLIN, 2024, 6, 3, 23, 59, 59))
    assert hours.is_open(at(BERLIN, 2024, 6, 4, 0, 0))  # Tuesday's window carries on
    assert not hours.is_open(at(BERLIN, 2024, 6, 4, 6, 0))
    late_only = BusinessHours("Europe/Berlin", {0: ((1320, 1440),)})
    assert late_only.is_open(at(BERLIN, 2024, 6, 3, 23, 59, 59))
    assert not late_only.is_open(at(BERLIN, 2024, 6, 4, 0, 0))


def test_next_open_is_now_when_open_and_none_when_never() -> None:
    hours = BusinessHours("Europe/Berlin", WEEKDAYS_8_TO_17)
    now = at(BERLIN, 2024, 6, 3, 9, 30)
    assert hours.next_open(now) == now
    never = BusinessHours("Europe/Berlin", {0: (), 3: ((600, 600),)})
    assert never.next_open(now) is None
    assert not never.is_open(now)


def test_next_open_over_a_weekend_and_holidays() -> None:
    hours = BusinessHours(
        "Europe/Berlin", WEEKDAYS_8_TO_17, frozenset({date(2024, 6, 10), date(2024, 6, 11)})
    )
    friday_evening = at(BERLIN, 2024, 6, 7, 18, 0)
    assert hours.next_open(friday_evening) == at(BERLIN, 2024, 6, 12, 8, 0)


def test_next_open_across_spring_forward_in_new_york() -> None:
    """Friday 8 March 2024 18:00 EST; clocks go forward on Sunday; Monday 08:00 is EDT (12:00 UTC)."""
    hours = BusinessHours("America/New_York", WEEKDAYS_8_TO_17)
    opening = hours.next_open(at(NEW_YORK, 2024, 3, 8, 18, 0))
    assert opening == datetime(2024, 3, 11, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert local(NEW_YORK, opening).hour == 8


def test_spring_forward_day_in_berlin() -> None:
    """31 March 2024: 02:00 CET jumps to 03:00 CEST; 01:00-05:00 wall clock lasts 3 real hours."""
    hours = BusinessHours("Europe/Berlin", {6: ((60, 300),)})
    assert hours.is_open(at(BERLIN, 2024, 3, 31, 1, 59, 59))
    assert hours.is_open(at(BERLIN, 2024, 3, 31, 3, 0))
    assert not hours.is_open(at(BERLIN, 2024, 3, 31, 5, 0))
    assert at(BERLIN, 2024, 3, 31, 5, 0) - at(BERLIN, 2024, 3, 31, 1, 0) == 3 * 3600
    in_the_gap = BusinessHours("Europe/Berlin", {6: ((150, 240),)})  # opens at 02:30, which is skipped
    opening = in_the_gap.next_open(at(BERLIN, 2024, 3, 31, 0, 0))
    assert opening == at(BERLIN, 2024, 3, 31, 3, 0)  # opens at the jump
    ends_in_gap = BusinessHours("Europe/Berlin", {6: ((60, 150),)})
    assert ends_in_gap.is_open(at(BERLIN, 2024, 3, 31, 1, 59))
    assert not ends_in_gap.is_open(at(BERLIN, 2024, 3, 31, 3, 0))


def test_fall_back_day_in_berlin() -> None:
    """27 October 2024: 03:00 CEST falls back to 02:00 CET; 02:10-02:30 happens twice."""
    hours = BusinessHours("Europe/Berlin", {6: ((130, 150), (480, 1020))})
    first, second = at(BERLIN, 2024, 10, 27, 2, 20, fold=0), at(BERLIN, 2024, 10, 27, 2, 20, fold=1)
    assert second - first == 3600
    assert hours.is_open(first) and hours.is_open(second)
    after_first = at(BERLIN, 2024, 10, 27, 2, 40, fold=0)
    assert not hours.is_open(after_first)
    assert hours.next_open(after_first) == at(BERLIN, 2024, 10, 27, 2, 10, fold=1)  # the repeat
    after_second = at(BERLIN, 2024, 10, 27, 2, 40, fold=1)
    assert hours.next_open(after_second) == datetime(2024, 10, 27, 7, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    wider = BusinessHours("Europe/Berlin", {6: ((60, 150),)})  # 01:00-02:30: closed 02:30-03:00 CEST
    assert wider.next_open(after_first) == at(BERLIN, 2024, 10, 27, 2, 0, fold=1)  # the jump back


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
TRANSITION_DAYS = [datetime(2024, 3, 9), datetime(2024, 3, 30), datetime(2024, 10, 26), datetime(2024, 4, 6)]


@st.composite
def business_hours(draw: st.DrawFn) -> BusinessHours:
    weekly: dict[int, tuple[tuple[int, int], ...]] = {}
    for day in draw(st.sets(st.integers(0, 6), min_size=1)):
        windows = []
        for _ in range(draw(st.integers(1, 3))):
            start = draw(st.integers(0, 1439))
            windows.append((start, draw(st.integers(start + 1, 1440))))
        weekly[day] = tuple(windows)
    return BusinessHours(draw(st.sampled_from(ZONES)), weekly)


@settings(max_examples=40, deadline=None)
@given(
    hours=business_hours(),
    day=st.sampled_from(TRANSITION_DAYS),
    offset_s=st.floats(0, 2 * 86400),
)
def test_next_open_is_the_first_open_minute(hours: BusinessHours, day: datetime, offset_s: float) -> None:
    """Brute force: every whole minute between now and next_open is closed (windows and DST changes
    of these zones fall on whole minutes, so minutes are where openness can change)."""
    now = day.replace(tzinfo=ZoneInfo("UTC")).timestamp() + offset_s
    opening = hours.next_open(now)
    assert opening is not None
    assert opening >= now and hours.is_open(opening)
    assert opening - now <= 8 * 86400
    minute = math.ceil(now / 60) * 60
    while minute < opening:
        assert not hours.is_open(minute), local(ZoneInfo(hours.timezone), minute)
        minute += 60
    if opening > now:
        assert not hours.is_open(now)
        assert not hours.is_open(opening - 1e-3) or opening - 1e-3 <= now


def test_is_open_matches_wall_clock_minutes_through_a_transition() -> None:
    hours = BusinessHours("Europe/Berlin", {6: ((0, 135),)})  # 00:00-02:15 wall clock
    start = at(BERLIN, 2024, 10, 27, 0, 0)
    open_minutes = sum(hours.is_open(start + 60 * m) for m in range(6 * 60))
    assert open_minutes == 135 + 15  # 02:00-02:15 is lived twice
