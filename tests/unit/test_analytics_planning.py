"""Billing, staffing, forecast and shift plans on hand-computed inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from tests.unit.analytics_fixture import B, catalog, lazy_events
from vcc.analytics import billing, forecast, kpis, staffing
from vcc.core import erlang
from vcc.errors import VccError


def test_statement_dedicated_seat_hours_and_shared_minutes_and_interactions():
    s1 = billing.statement(lazy_events(), catalog(), "t1", B, B + 86400)
    lines = {line.item: line for line in s1.lines}
    assert lines["dedicated_seat_hours"].quantity == Decimal("0.5000")  # a1 logged in 30 min
    assert lines["dedicated_seat_hours"].amount == Decimal("10.00")
    assert lines["shared_handled_minutes"].quantity == Decimal("2.0000")  # a2: c4 before transfer, c6
    assert lines["shared_handled_minutes"].amount == Decimal("2.00")
    assert lines["shared_interactions"].quantity == Decimal(2)
    assert s1.total == Decimal("12.00")
    s2 = billing.statement(lazy_events(), catalog(), "t2", B, B + 86400)
    assert s2.total == Decimal("0.60")  # s1: 1 minute at 0.50 + 1 interaction at 0.10
    assert s2.to_dict()["total"] == "0.60"


def test_statement_clips_seat_time_to_the_period():
    s = billing.statement(lazy_events(), catalog(), "t1", B + 900, B + 1200)
    assert {x.item: x.quantity for x in s.lines}["dedicated_seat_hours"] == Decimal("0.0833")  # 300 s


def test_statement_errors_are_sentences():
    with pytest.raises(VccError, match="unknown tenant 'nope'"):
        billing.statement(lazy_events(), catalog(), "nope", B, B + 1)
    with pytest.raises(VccError, match="end must be after the start"):
        billing.statement(lazy_events(), catalog(), "t1", B, B)


def test_required_agents_from_measured_rate_and_aht():
    frame = kpis.report(lazy_events(), catalog(), by=["queue"], interval="15m", start_ts=B, end_ts=B + 1800)
    need_c = staffing.required(frame, catalog(), 900, method="erlang_c")
    q1 = need_c.filter(pl.col("queue") == "q1").row(0, named=True)
    assert q1["calls_per_h"] == pytest.approx(20.0)  # 5 offered in 15 min
    assert q1["agents_required"] == erlang.agents_for_service_level(20.0, 250 / 3, 20.0, 0.8)
    assert q1["gap_agents"] == pytest.approx(1.0 - q1["agents_required"])
    need_a = staffing.required(frame, catalog(), 900, method="erlang_a")
    q1a = need_a.filter(pl.col("queue") == "q1").row(0, named=True)
    assert 1 <= q1a["agents_required"] <= q1["agents_required"]
    assert staffing.patience_s(190.0, 2) == 95.0  # q1: waits of offered contacts over abandons
    with pytest.raises(VccError, match="staffing method"):
        staffing.agents_required(10, 60, 20, 0.8, method="erlang_x")


def test_erlang_a_needs_fewer_agents_than_erlang_c_when_callers_abandon():
    c = staffing.agents_required(600, 120, 20, 0.8, "erlang_c")
    a = staffing.agents_required(600, 120, 20, 0.8, "erlang_a", patience=30.0)
    assert c == erlang.agents_for_service_level(600, 120, 20, 0.8)
    assert a < c
    assert erlang.erlang_a(a, 600, 120, 30.0).service_level(20) >= 0.8
    assert erlang.erlang_a(a - 1, 600, 120, 30.0).service_level(20) < 0.8


def test_shift_plan_covers_every_interval_greedily():
    plan = staffing.shift_plan([0, 2, 2, 3, 1, 0], interval_s=3600, shift_h=2)
    assert [(s.start_index, s.intervals, s.agents) for s in plan] == [(1, 2, 2), (3, 2, 3)]
    late = staffing.shift_plan([0, 0, 1], interval_s=3600, shift_h=2)
    assert [(s.start_index, s.agents) for s in late] == [(1, 1)]  # starts early to end with the day


MONDAY0 = 1_799_971_200.0 - 4 * 86400  # Monday 2027-01-11 00:00 UTC


def _day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def _history() -> pl.LazyFrame:
    monday0 = MONDAY0
    rows = []
    for day, n in ((0, 10), (7, 20), (8, 100)):  # Monday, next Monday, Tuesday: calls at 09:xx
        for i in range(n):
            ts = monday0 + day * 86400 + 9 * 3600 + i
            rows.append({"queue": "q1", "queued_ts": ts, "first_ts": ts, "offered": 1, "handle_counted_s": 60.0,
                         "handled": 1})
    return pl.DataFrame(rows).lazy()


def test_forecast_is_the_same_weekday_mean():
    monday0 = MONDAY0
    start = _day(monday0 + 14 * 86400 + 43200)
    f = forecast.next_day(_history(), interval="1h", day=start)
    assert f.height == 24
    nine = f.filter(pl.col("interval_start").dt.hour() == 9).row(0, named=True)
    assert nine["offered"] == pytest.approx(15.0)  # Mondays: (10 + 20) / 2
    assert nine["aht_s"] == pytest.approx(60.0)
    assert f.filter(pl.col("interval_start").dt.hour() == 10)["offered"].item() == 0
    wednesday = _day(monday0 + 16 * 86400 + 43200)
    w = forecast.next_day(_history(), interval="1h", day=wednesday)
    assert w.filter(pl.col("interval_start").dt.hour() == 9)["offered"].item() == pytest.approx(130 / 3)
