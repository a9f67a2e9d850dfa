"""EWT: the staffing model, the observed head-of-queue rate, sliding windows, and the words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcc.core.ewt import (
    EwtConfig,
    EwtEstimator,
    announce_pieces,
    announce_text,
    position_ewt_s,
    wait_phrase,
)

T0 = 1_700_000_000.0


def test_staffing_model() -> None:
    assert position_ewt_s(1, 120, 4) == pytest.approx(30)
    assert position_ewt_s(9, 120, 4) == pytest.approx(270)
    assert position_ewt_s(3, 120, 4, free_agents=3) == 0.0  # straight to a free agent
    assert position_ewt_s(5, 120, 4, free_agents=3) == pytest.approx(60)
    assert position_ewt_s(1, 120, 0) is None  # nobody staffed: unknown
    with pytest.raises(ValueError):
        position_ewt_s(0, 120, 4)


def test_no_history_uses_the_default_aht() -> None:
    ewt = EwtEstimator(EwtConfig(default_aht_s=200))
    assert ewt.aht_s("sales", T0) == 200
    assert ewt.ewt_s("sales", T0, position=4, staffed_agents=2) == pytest.approx(400)
    assert ewt.ewt_s("sales", T0, position=4, staffed_agents=0) is None


def test_aht_counts_talk_hold_and_wrap_up_shrunk_toward_the_default() -> None:
    ewt = EwtEstimator(EwtConfig(default_aht_s=180, prior_samples=10))
    for i in range(10):
        ewt.record_handle("sales", T0 + i, talk_s=90, hold_s=20, wrap_up_s=10)
    assert ewt.aht_s("sales", T0 + 10) == pytest.approx((10 * 180 + 10 * 120) / 20)
    plain = EwtEstimator(EwtConfig(prior_samples=0))
    plain.record_handle("sales", T0, talk_s=90, hold_s=20, wrap_up_s=10)
    assert plain.aht_s("sales", T0) == pytest.approx(120)
    assert plain.aht_s("support", T0) == 180  # queues are apart


def test_window_forgets_old_samples_by_age() -> None:
    ewt = EwtEstimator(EwtConfig(default_aht_s=180, window_s=600, prior_samples=0))
    ewt.record_handle("sales", T0, talk_s=60)
    ewt.record_handle("sales", T0 + 300, talk_s=120)
    assert ewt.aht_s("sales", T0 + 300) == pytest.approx(90)
    assert ewt.aht_s("sales", T0 + 700) == pytest.approx(120)  # the first one aged out
    assert ewt.aht_s("sales", T0 + 1000) == 180  # all aged out: back to the default


def test_window_keeps_at_most_max_samples() -> None:
    ewt = EwtEstimator(EwtConfig(max_samples=3, prior_samples=0))
    for i, talk_s in enumerate([1000, 60, 60, 60]):
        ewt.record_handle("sales", T0 + i, talk_s=talk_s)
    assert ewt.aht_s("sales", T0 + 4) == pytest.approx(60)


def test_gaps_count_only_while_the_queue_was_never_empty() -> None:
    ewt = EwtEstimator()
    ewt.record_answer("sales", T0, wait_s=50)
    ewt.record_answer("sales", T0 + 20, wait_s=45)  # waited through the gap: counts (20 s)
    ewt.record_answer("sales", T0 + 320, wait_s=5)  # arrived long after: queue was empty, skipped
    ewt.record_answer("sales", T0 + 360, wait_s=40)  # counts (40 s)
    assert ewt.answer_gap_s("sales", T0 + 360) == (pytest.approx(30), 2)
    assert EwtEstimator().answer_gap_s("sales", T0) is None


def test_blend_of_model_and_observed_rate() -> None:
    config = EwtConfig(default_aht_s=120, prior_samples=10, max_observed_weight=0.5)
    ewt = EwtEstimator(config)
    for i in range(6):  # 5 gaps of 30 s, each waited through
        ewt.record_answer("sales", T0 + 30 * i, wait_s=100)
    now = T0 + 150
    weight = 5 / (5 + 10)
    model = 4 * 120 / 2
    observed = 4 * 30
    expected = (1 - weight) * model + weight * observed
    assert ewt.ewt_s("sales", now, position=4, staffed_agents=2) == pytest.approx(expected)
    for i in range(6, 60):  # plenty of gaps: the weight is capped
        ewt.record_answer("sales", T0 + 30 * i, wait_s=100)
    later = T0 + 30 * 59
    assert ewt.ewt_s("sales", later, position=4, staffed_agents=2) == pytest.approx(
        0.5 * model + 0.5 * observed
    )
    assert ewt.ewt_s("sales", later, position=2, staffed_agents=2, free_agents=2) == 0.0
    assert ewt.ewt_s("sales", later, position=4, staffed_agents=0) is None


def test_arrival_ewt_is_the_position_behind_the_queue() -> None:
    ewt = EwtEstimator(EwtConfig(default_aht_s=100))
    assert ewt.arrival_ewt_s("sales", T0, queue_length=3, staffed_agents=2) == pytest.approx(200)
    assert ewt.arrival_ewt_s("sales", T0, queue_length=0, staffed_agents=2, free_agents=1) == 0.0


def test_forget_drops_a_queues_history() -> None:
    ewt = EwtEstimator(EwtConfig(default_aht_s=100, prior_samples=0))
    ewt.record_handle("sales", T0, talk_s=10)
    ewt.forget("sales")
    assert ewt.aht_s("sales", T0) == 100


def test_bad_samples_and_config_are_rejected() -> None:
    ewt = EwtEstimator()
    with pytest.raises(ValueError):
        ewt.record_handle("sales", T0, talk_s=-1)
    with pytest.raises(ValueError):
        ewt.record_answer("sales", T0, wait_s=float("nan"))
    with pytest.raises(ValueError):
        EwtConfig(default_aht_s=0)
    with pytest.raises(ValueError):
        EwtConfig(max_observed_weight=1.5)


@settings(max_examples=80, deadline=None)
@given(
    handles=st.lists(st.floats(1, 3600), max_size=30),
    gaps=st.lists(st.tuples(st.floats(0.1, 300), st.floats(0, 600)), max_size=30),
    position=st.integers(1, 200),
    staffed=st.integers(1, 50),
    free=st.integers(0, 10),
)
def test_ewt_grows_with_position_and_shrinks_with_staffing(
    handles: list[float], gaps: list[tuple[float, float]], position: int, staffed: int, free: int
) -> None:
    ewt = EwtEstimator()
    now = T0
    for handle_s in handles:
        now += 1
        ewt.record_handle("q", now, talk_s=handle_s)
    for gap_s, wait_s in gaps:
        now += gap_s
        ewt.record_answer("q", now, wait_s=wait_s)
    free = min(free, staffed)
    here = ewt.ewt_s("q", now, position, staffed, free)
    assert here is not None and here >= 0
    behind = ewt.ewt_s("q", now, position + 1, staffed, free)
    assert behind is not None and behind >= here
    more_staff = ewt.ewt_s("q", now, position, staffed + 1, free)
    assert more_staff is not None and more_staff <= here + 1e-9
    if position <= free:
        assert here == 0.0


# --- words ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ewt_s", "phrase"),
    [
        (None, "unknown"),
        (0, "less than a minute"),
        (59.9, "less than a minute"),
        (60, "about 1 minute"),
        (89, "about 1 minute"),
        (90, "about 2 minutes"),
        (569, "about 9 minutes"),
        (570, "about 10 minutes"),
        (1000, "about 15 minutes"),
        (3449, "about 55 minutes"),
        (3450, "about 1 hour"),
        (4500, "about 1 hour and 15 minutes"),
        (7300, "about 2 hours"),
        (90000, "more than a day"),
        (float("inf"), "more than a day"),
    ],
)
def test_wait_phrase_rounds_like_an_operator(ewt_s: float | None, phrase: str) -> None:
    assert wait_phrase(ewt_s) == phrase


def test_announce_text() -> None:
    assert announce_text(240, 3) == "You are number 3 in line. The wait is about 4 minutes."
    assert announce_text(20, None) == "The wait is less than a minute."
    assert announce_text(None, 2) == "You are number 2 in line. We cannot estimate the wait right now."


def test_announce_pieces() -> None:
    assert announce_pieces(240, 3) == (
        "ewt.you_are_number",
        "number:3",
        "ewt.in_line",
        "ewt.wait_about",
        "minutes:4",
    )
    assert announce_pieces(4500, None) == ("ewt.wait_about", "hours:1", "minutes:15")
    assert announce_pieces(None, None) == ("ewt.wait_unknown",)
    assert announce_pieces(10, None) == ("ewt.wait_under_a_minute",)
