"""Business-hours strings: days, ranges, windows, overnight windows, and the mistakes people make."""

from __future__ import annotations

import pytest

from vcc.config.hours import describe_weekly, parse_days, parse_window, weekly_windows


@pytest.mark.parametrize(
    ("key", "days"),
    [
        ("mon", (0,)),
        ("Sunday", (6,)),
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("fri-mon", (4, 5, 6, 0)),
        ("sat,sun", (5, 6)),
        ("mon-wed, fri", (0, 1, 2, 4)),
        ("weekdays", (0, 1, 2, 3, 4)),
        ("weekends", (5, 6)),
        ("daily", tuple(range(7))),
    ],
)
def test_days(key: str, days: tuple[int, ...]) -> None:
    assert parse_days(key) == days


@pytest.mark.parametrize(
    ("key", "reason"),
    [("funday", "'funday' is not a day"), ("mon,mon", "names mon more than once"), ("mon,", "empty day")],
)
def test_bad_days(key: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_days(key)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("08:00-18:00", (480, 1080)),
        ("8:30 - 17:45", (510, 1065)),
        ("00:00-24:00", (0, 1440)),
        ("24h", (0, 1440)),
        ("closed", None),
        ("22:00-06:00", (1320, 360)),
    ],
)
def test_windows(text: str, window: tuple[int, int] | None) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["8-18", "08:00", "08:60-09:00", "24:00-01:00", "10:00-10:00", "noon-ish"])
def test_bad_windows(text: str) -> None:
    with pytest.raises(ValueError):
        parse_window(text)


def test_weekly_fills_all_seven_days_so_closed_days_stay_closed() -> None:
    weekly = weekly_windows({"mon-fri": ["08:00-12:00", "13:00-18:00"], "sun": ["closed"]})
    assert sorted(weekly) == list(range(7))
    assert weekly[0] == ((480, 720), (780, 1080))
    assert weekly[5] == () and weekly[6] == ()


def test_no_weekly_means_open_around_the_clock() -> None:
    assert weekly_windows({}) == {}
    assert describe_weekly({}) == "open 24/7"


def test_overnight_window_spills_into_the_next_day() -> None:
    weekly = weekly_windows({"fri": ["20:00-02:00"]})
    assert weekly[4] == ((1200, 1440),)
    assert weekly[5] == ((0, 120),)


def test_sunday_night_spills_into_monday() -> None:
    weekly = weekly_windows({"sun": ["22:00-06:00"], "mon": ["08:00-12:00"]})
    assert weekly[0] == ((0, 360), (480, 720))


@pytest.mark.parametrize(
    ("weekly", "reason"),
    [
        ({"mon-fri": ["08:00-18:00"], "fri": ["19:00-20:00"]}, "fri is given twice"),
        ({"mon": ["08:00-12:00", "11:00-13:00"]}, "mon has overlapping windows"),
        ({"sun": ["20:00-09:00"], "mon": ["08:00-12:00"]}, "mon has overlapping windows"),
        ({"mon": ["closed", "08:00-12:00"]}, 'mixes "closed" with opening windows'),
    ],
)
def test_bad_weekly(weekly: dict[str, list[str]], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        weekly_windows(weekly)


def test_describe_groups_days_with_the_same_hours() -> None:
    weekly = weekly_windows({"mon-fri": ["08:00-18:00"], "sat": ["09:00-12:00"]})
    assert describe_weekly(weekly) == "mon-fri 08:00-18:00; sat 09:00-12:00"
