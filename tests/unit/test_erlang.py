"""Erlang B/C/A: reference numbers, stability for big centers, and Erlang A against an independent
numerical solution of the M/M/N+M birth-death chain."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcc.core.erlang import (
    agents_for_asa,
    agents_for_service_level,
    asa_s,
    erlang_a,
    erlang_b,
    erlang_c,
    log_gamma_p,
    occupancy,
    offered_load_erl,
    service_level,
)

# --- Erlang B / C --------------------------------------------------------------------------------


def test_reference_numbers_from_the_platform_notes() -> None:
    load = offered_load_erl(600, 120)
    assert load == 20.0
    assert erlang_c(26, load) == pytest.approx(0.143, abs=5e-4)
    assert round(asa_s(26, 600, 120), 1) == 2.9
    assert erlang_c(30, load) == pytest.approx(0.025, abs=5e-4)
    assert 1.0 - service_level(2, 30, 60, 10) == pytest.approx(0.078, abs=5e-4)


def test_erlang_b_small_values_by_hand() -> None:
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)  # (1/2) / (1 + 1 + 1/2)
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=1e-6)


def _erlang_b_by_logsumexp(agents: int, load: float) -> float:
    logs = [k * math.log(load) - math.lgamma(k + 1) for k in range(agents + 1)]
    top = max(logs)
    return math.exp(logs[-1] - top - math.log(sum(math.exp(v - top) for v in logs)))


@pytest.mark.parametrize(("agents", "load"), [(1000, 980.0), (2500, 2400.0), (5000, 4900.0), (1200, 50.0)])
def test_big_centers_do_not_overflow(agents: int, load: float) -> None:
    b = erlang_b(agents, load)
    assert b == pytest.approx(_erlang_b_by_logsumexp(agents, load), rel=1e-9, abs=1e-300)
    c = erlang_c(agents, load)
    assert 0.0 <= c <= 1.0 and math.isfinite(c)
    assert c == pytest.approx(agents * b / (agents - load * (1 - b)), rel=1e-12, abs=1e-300)


def test_overload_waits_for_ever() -> None:
    assert erlang_c(5, 5.0) == 1.0
    assert erlang_c(5, 7.5) == 1.0
    assert service_level(5, 300, 60, 20) == 0.0  # 5 Erlangs on 5 agents
    assert asa_s(5, 300, 60) == math.inf


def test_service_level_and_asa_formulas() -> None:
    load = offered_load_erl(600, 120)
    c = erlang_c(26, load)
    assert service_level(26, 600, 120, 20) == pytest.approx(1 - c * math.exp(-(26 - 20) * 20 / 120))
    assert service_level(26, 600, 120, 0) == pytest.approx(1 - c)
    assert asa_s(26, 600, 120) == pytest.approx(c * 120 / 6)


def test_occupancy() -> None:
    assert occupancy(26, 600, 120) == pytest.approx(20 / 26)
    assert occupancy(10, 600, 120) == 1.0
    assert occupancy(0, 600, 120) == 1.0


def test_agents_for_service_level_is_the_fewest_that_meet_it() -> None:
    n = agents_for_service_level(600, 120, 20, 0.8)
    assert service_level(n, 600, 120, 20) >= 0.8
    assert service_level(n - 1, 600, 120, 20) < 0.8
    assert n == 24
    assert agents_for_service_level(600, 120, 20, 0.0) == 21  # any stable staffing: N > A


def test_agents_for_asa_is_the_fewest_that_meet_it() -> None:
    n = agents_for_asa(600, 120, 2.9)
    assert n == 26
    assert asa_s(n, 600, 120) <= 2.9 < asa_s(n - 1, 600, 120)


def test_staffing_for_a_big_center_is_fast_and_sane() -> None:
    n = agents_for_service_level(3_600_000, 100, 20, 0.9)  # 100,000 Erlangs
    assert 100_000 < n < 100_100
    assert service_level(n, 3_600_000, 100, 20) >= 0.9 > service_level(n - 1, 3_600_000, 100, 20)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        erlang_b(-1, 1.0)
    with pytest.raises(ValueError):
        erlang_c(3, -1.0)
    with pytest.raises(ValueError):
        agents_for_service_level(600, 120, 20, 1.0)
    with pytest.raises(ValueError):
        agents_for_service_level(600, 120, 20, 0.8, max_agents=10)
    with pytest.raises(ValueError):
        erlang_a(3, 100, 0, 60)


@settings(max_examples=60, deadline=None)
@given(load=st.floats(0.1, 300.0), extra=st.integers(1, 60), t_s=st.floats(0.0, 120.0))
def test_more_agents_wait_less_and_serve_more(load: float, extra: int, t_s: float) -> None:
    agents = math.floor(load) + extra
    calls_per_h = load * 3600 / 180
    assert erlang_c(agents + 1, load) <= erlang_c(agents, load)
    assert service_level(agents + 1, calls_per_h, 180, t_s) >= service_level(agents, calls_per_h, 180, t_s)
    assert service_level(agents, calls_per_h, 180, t_s + 5) >= service_level(agents, calls_per_h, 180, t_s)


# --- incomplete gamma ------------------------------------------------------------------------------


@pytest.mark.parametrize("a", [1, 2, 5, 30])
@pytest.mark.parametrize("z", [0.1, 1.0, 4.0, 6.5, 29.0, 40.0])
def test_log_gamma_p_for_whole_a_matches_the_poisson_sum(a: int, z: float) -> None:
    expected = 1.0 - math.exp(-z) * sum(z**k / math.factorial(k) for k in range(a))
    assert math.exp(log_gamma_p(a, z)) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("z", [0.01, 0.5, 2.0, 9.0])
def test_log_gamma_p_for_half_is_erf(z: float) -> None:
    assert math.exp(log_gamma_p(0.5, z)) == pytest.approx(math.erf(math.sqrt(z)), rel=1e-10)
    assert log_gamma_p(0.5, 0.0) == -math.inf


# --- Erlang A --------------------------------------------------------------------------------------


def _chain(agents: int, calls_per_h: float, aht_s: float, patience_s: float, states: int) -> list[float]:
    """Stationary law of the M/M/N+M birth-death chain, truncated at ``states``."""
    lam, mu, theta = calls_per_h / 3600, 1 / aht_s, 1 / patience_s
    weights = [1.0]
    for n in range(1, states):
        weights.append(weights[-1] * lam / (min(n, agents) * mu + max(n - agents, 0) * theta))
    total = sum(weights)
    return [w / total for w in weights]


def _answered_by(
    agents: int, calls_per_h: float, aht_s: float, patience_s: float, t_s: float
) -> tuple[float, float]:
    """(answered within t / offered, P(offered wait > t)) by uniformizing the chain of a tagged
    caller: state k = callers ahead of it, who move up at N mu + k theta; the tagged caller itself
    abandons at theta (or, for the offered wait, never)."""
    pi = _chain(agents, calls_per_h, aht_s, patience_s, agents + 200)
    mu, theta = 1 / aht_s, 1 / patience_s
    ahead = pi[agents:]
    results = []
    for tagged_theta in (theta, 0.0):
        rate = agents * mu + (len(ahead) - 1) * theta + tagged_theta
        moves = [(agents * mu + k * theta) / rate for k in range(len(ahead))]
        vec, served = list(ahead), sum(pi[:agents])
        mean = rate * t_s
        answered = 0.0
        for m in range(int(mean + 20 * math.sqrt(mean) + 50)):
            answered += math.exp(-mean + m * math.log(mean) - math.lgamma(m + 1)) * served
            served += vec[0] * moves[0]
            stay = [vec[k] * (1 - moves[k] - tagged_theta / rate) for k in range(len(vec))]
            vec = [
                stay[k] + (vec[k + 1] * moves[k + 1] if k + 1 < len(vec) else 0.0) for k in range(len(vec))
            ]
        results.append(answered)
    return results[0], 1.0 - results[1]


@pytest.mark.parametrize(
    ("agents", "calls_per_h", "aht_s", "patience_s"),
    [(5, 180, 90, 120), (3, 180, 90, 60), (26, 600, 120, 300), (1, 40, 60, 30)],
)
def test_erlang_a_matches_the_birth_death_chain(
    agents: int, calls_per_h: float, aht_s: float, patience_s: float
) -> None:
    pi = _chain(agents, calls_per_h, aht_s, patience_s, agents + 200)
    lam = calls_per_h / 3600
    queued = sum((n - agents) * p for n, p in enumerate(pi) if n > agents)
    result = erlang_a(agents, calls_per_h, aht_s, patience_s)
    assert result.p_wait == pytest.approx(sum(pi[agents:]), rel=1e-9)
    assert result.p_abandon == pytest.approx(queued / patience_s / lam, rel=1e-9)
    assert result.mean_wait_s == pytest.approx(queued / lam, rel=1e-9)  # Little's law
    for t_s in (5.0, 20.0, 60.0):
        answered, waits_longer = _answered_by(agents, calls_per_h, aht_s, patience_s, t_s)
        assert result.service_level(t_s) == pytest.approx(answered, rel=1e-8)
        assert result.p_wait_gt(t_s) == pytest.approx(waits_longer, rel=1e-7)


@pytest.mark.parametrize(
    ("agents", "calls_per_h", "aht_s"), [(26, 600, 120), (30, 600, 120), (2, 30, 60), (2000, 71640, 100)]
)
def test_erlang_a_tends_to_erlang_c_as_patience_grows(agents: int, calls_per_h: float, aht_s: float) -> None:
    load = offered_load_erl(calls_per_h, aht_s)
    c = erlang_c(agents, load)
    previous_gap = math.inf
    for patience_s in (1e3, 1e5, 1e7, 1e9):
        result = erlang_a(agents, calls_per_h, aht_s, patience_s)
        gap = abs(result.p_wait - c)
        assert gap <= previous_gap + 1e-12
        previous_gap = gap
    assert result.p_wait == pytest.approx(c, rel=1e-5)
    assert result.p_abandon < 1e-6
    assert result.mean_wait_s == pytest.approx(asa_s(agents, calls_per_h, aht_s), rel=1e-4)
    assert result.service_level(20) == pytest.approx(service_level(agents, calls_per_h, aht_s, 20), rel=1e-5)
    assert result.p_wait_gt(10) == pytest.approx(c * math.exp(-(agents - load) * 10 / aht_s), rel=1e-4)


def test_erlang_a_stays_finite_when_overloaded() -> None:
    """Impatience keeps an overloaded queue stable: with huge patience the abandon rate is 1 - 1/rho."""
    result = erlang_a(10, 720, 100, 60)  # 20 Erlangs on 10 agents
    assert 0.9 < result.p_wait < 1.0 and 0.0 < result.p_abandon < result.p_wait
    patient = erlang_a(10, 720, 100, 1e7)
    assert patient.p_abandon == pytest.approx(0.5, rel=1e-6)


def test_erlang_a_edges() -> None:
    idle = erlang_a(3, 0, 100, 60)
    assert (idle.p_wait, idle.p_abandon, idle.service_level(20)) == (0.0, 0.0, 1.0)
    nobody = erlang_a(0, 100, 100, 60)
    assert (nobody.p_wait, nobody.p_abandon, nobody.mean_wait_s, nobody.service_level(20)) == (
        1.0,
        1.0,
        60,
        0.0,
    )
    plenty = erlang_a(2000, 36, 100, 60)  # one Erlang on 2,000 agents: B underflows to 0
    assert plenty.p_wait == pytest.approx(0.0, abs=1e-300)
    assert plenty.service_level(0) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(
    agents=st.integers(1, 80),
    load_per_agent=st.floats(0.3, 1.5),
    patience_s=st.floats(10.0, 3600.0),
    t_s=st.floats(0.0, 120.0),
)
def test_erlang_a_monotone(agents: int, load_per_agent: float, patience_s: float, t_s: float) -> None:
    calls_per_h = agents * load_per_agent * 3600 / 120
    base = erlang_a(agents, calls_per_h, 120, patience_s)
    more_agents = erlang_a(agents + 1, calls_per_h, 120, patience_s)
    more_patient = erlang_a(agents, calls_per_h, 120, patience_s * 2)
    assert 0.0 <= base.p_abandon <= base.p_wait <= 1.0
    assert more_agents.p_wait <= base.p_wait + 1e-12
    assert more_agents.service_level(t_s) >= base.service_level(t_s) - 1e-9
    assert more_patient.p_abandon <= base.p_abandon + 1e-12
    # incomplete-gamma ratios are good to ~1e-12 relative; compare at a tolerance above that
    assert base.service_level(t_s + 10) >= base.service_level(t_s) - 1e-9
    assert base.p_wait_gt(t_s + 10) <= base.p_wait_gt(t_s) + 1e-9
