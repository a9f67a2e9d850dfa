"""The fencing arithmetic of a site session, without etcd: a site must stop acting before any
other site could see its lease expire."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vcc.coord.fencing import LeaseClock, LeaseTiming, fence_deadline, must_fence


def test_no_proof_means_fenced() -> None:
    assert must_fence(None, 2, 0.5, now=0.0)
    assert LeaseClock(LeaseTiming()).fenced(123.0)


def test_deadline_is_ttl_minus_margin_after_the_send() -> None:
    assert fence_deadline(10.0, 2, 0.5) == 11.5
    assert not must_fence(10.0, 2, 0.5, now=11.49)
    assert must_fence(10.0, 2, 0.5, now=11.5)


def test_refresh_moves_the_deadline_and_failure_fences_at_once() -> None:
    lc = LeaseClock(LeaseTiming(ttl_s=2, margin_s=0.5))
    lc.proved(sent_at=0.0, granted_ttl_s=2)
    assert lc.deadline == 1.5
    lc.proved(sent_at=0.7, granted_ttl_s=2)
    assert lc.deadline == pytest.approx(2.2)
    assert not lc.fenced(2.0)
    lc.lost()
    assert lc.fenced(0.8)
    assert lc.deadline is None


def test_an_older_proof_never_moves_the_deadline_back() -> None:
    lc = LeaseClock(LeaseTiming())
    lc.proved(sent_at=5.0, granted_ttl_s=2)
    lc.proved(sent_at=4.0, granted_ttl_s=2)  # a slow answer to an earlier keepalive
    assert lc.last_ok_sent_at == 5.0


def test_the_smaller_of_asked_and_granted_ttl_is_trusted() -> None:
    lc = LeaseClock(LeaseTiming(ttl_s=2, margin_s=0.5))
    lc.proved(sent_at=0.0, granted_ttl_s=5)  # etcd may raise a TTL to its minimum
    assert lc.deadline == 1.5
    lc.proved(sent_at=0.0, granted_ttl_s=1)
    assert lc.deadline == 0.5


@given(
    ttl_s=st.integers(min_value=1, max_value=30),
    u=st.floats(min_value=0.0, max_value=0.999),
    sent=st.floats(min_value=0.0, max_value=1e6),
)
def test_next_refresh_always_comes_before_the_deadline(ttl_s: int, u: float, sent: float) -> None:
    timing = LeaseTiming(ttl_s=ttl_s, margin_s=0.25 * ttl_s)
    lc = LeaseClock(timing)
    lc.proved(sent, ttl_s)
    at = lc.next_refresh_at(u)
    assert sent < at
    deadline = lc.deadline
    assert deadline is not None and at < deadline
    assert lc.refresh_timeout(at) > 0


@given(last=st.floats(min_value=0, max_value=1e6), now=st.floats(min_value=0, max_value=2e6))
def test_not_fenced_implies_the_lease_outlives_now_by_the_margin(last: float, now: float) -> None:
    # etcd's expiry is at least last + ttl (the leader handled the keepalive after it was sent).
    ttl_s, margin_s = 2, 0.5
    if not must_fence(last, ttl_s, margin_s, now):
        assert now + margin_s <= last + ttl_s + 1e-9


def test_retry_delay_is_jittered_within_bounds() -> None:
    lc = LeaseClock(LeaseTiming(retry_min_s=0.1, retry_max_s=0.4))
    assert lc.retry_delay(0.0) == pytest.approx(0.1)
    assert lc.retry_delay(0.999) < 0.4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl_s": 0},
        {"ttl_s": 2, "margin_s": 0},
        {"ttl_s": 2, "margin_s": 1.5},  # leaves no room for a refresh before the deadline
        {"retry_min_s": 0.5, "retry_max_s": 0.1},
    ],
)
def test_bad_timings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LeaseTiming(**kwargs)


def test_next_refresh_needs_a_proved_lease() -> None:
    with pytest.raises(ValueError):
        LeaseClock(LeaseTiming()).next_refresh_at(0.5)
