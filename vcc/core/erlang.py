"""Erlang B, Erlang C and Erlang A: staffing math for a queue of calls served by ``agents`` agents.

Notation: ``calls_per_h`` arrivals per hour (Poisson), ``aht_s`` average handle time (exponential),
offered load ``A = calls_per_h * aht_s / 3600`` Erlangs, ``N`` agents.

* Erlang B (M/M/N/N, blocked calls cleared) by the recursion ``B(0) = 1``,
  ``B(n) = A B(n-1) / (n + A B(n-1))``: stable for any ``N`` (no factorials, no powers).
* Erlang C (M/M/N, infinite patience): ``C = N B / (N - A (1 - B))`` for ``A < N``, else 1;
  ``P(wait > t) = C exp(-(N - A) t / aht_s)``; ASA ``= C aht_s / (N - A)``.
* Erlang A (M/M/N+M, exponential patience of mean ``patience_s``; Garnett, Mandelbaum & Reiman
  2002). With ``mu = 1/aht_s``, ``theta = 1/patience_s``, ``x = N mu / theta``, ``y = lambda / theta``
  and ``S = A(x, y) = x e^y gamma(x, y) / y^x`` (``gamma`` the lower incomplete gamma function)::

      P(wait)     = S B / (1 + (S - 1) B)
      P(abandon)  = P(wait) (1 - 1/rho + 1/(rho S)),          rho = lambda / (N mu)
      mean wait   = P(abandon) * patience_s                     (Little's law on the abandon rate)
      P(V > t)    = P(wait) P(x, y e^(-theta t)) / P(x, y)       (V: the wait offered to a caller)
      answered within t / offered
                  = 1 - P(wait) + P(wait) / rho * (P(x+1, y) - P(x+1, y e^(-theta t))) / P(x, y)

  ``P(a, z)`` is the regularized lower incomplete gamma function, evaluated here in log space by its
  series (``z < a + 1``) or its continued fraction (``z >= a + 1``) with ``math.lgamma``: no scipy,
  and no overflow for patience of days or thousands of agents.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

_EPS = 1e-16


def offered_load_erl(calls_per_h: float, aht_s: float) -> float:
    """Offered load in Erlangs: the mean number of calls in service if nobody waited."""
    return calls_per_h * aht_s / 3600.0


def _check(agents: int, load_erl: float) -> None:
    if agents < 0:
        raise ValueError(f"agents must be >= 0, got {agents}")
    if load_erl < 0 or math.isnan(load_erl):
        raise ValueError(f"offered load must be >= 0 Erlangs, got {load_erl}")


def erlang_b(agents: int, load_erl: float) -> float:
    """Probability that a call finds all ``agents`` busy in a loss system (blocking probability)."""
    _check(agents, load_erl)
    b = 1.0
    for n in range(1, agents + 1):
        b = load_erl * b / (n + load_erl * b)
    return b


def _c_from_b(agents: int, load_erl: float, b: float) -> float:
    if load_erl >= agents:
        return 1.0
    return agents * b / (agents - load_erl * (1.0 - b))


def erlang_c(agents: int, load_erl: float) -> float:
    """Probability that a call waits at all (all agents busy on arrival); 1.0 when overloaded."""
    return _c_from_b(agents, load_erl, erlang_b(agents, load_erl))


def _sl_from_c(agents: int, load_erl: float, c: float, aht_s: float, threshold_s: float) -> float:
    if load_erl >= agents:
        return 0.0
    return 1.0 - c * math.exp(-(agents - load_erl) * threshold_s / aht_s)


def service_level(agents: int, calls_per_h: float, aht_s: float, threshold_s: float) -> float:
    """Erlang C service level: the fraction of calls answered within ``threshold_s``."""
    load = offered_load_erl(calls_per_h, aht_s)
    return _sl_from_c(agents, load, erlang_c(agents, load), aht_s, threshold_s)


def asa_s(agents: int, calls_per_h: float, aht_s: float) -> float:
    """Erlang C average speed of answer (mean wait over all calls); ``inf`` when overloaded."""
    load = offered_load_erl(calls_per_h, aht_s)
    if load >= agents:
        return math.inf
    return erlang_c(agents, load) * aht_s / (agents - load)


def occupancy(agents: int, calls_per_h: float, aht_s: float) -> float:
    """Fraction of staffed time the agents spend handling calls (at most 1)."""
    if agents <= 0:
        return 1.0
    return min(1.0, offered_load_erl(calls_per_h, aht_s) / agents)


def _smallest_n(load_erl: float, good: Callable[[int, float], bool], max_agents: int) -> int:
    """Smallest N > load with ``good(N, B(N))``, stepping the Erlang B recursion incrementally."""
    b, n = 1.0, 0
    while n <= load_erl or not good(n, b):
        n += 1
        if n > max_agents:
            raise ValueError(f"no staffing up to {max_agents} agents meets the target")
        b = load_erl * b / (n + load_erl * b)
    return n


def agents_for_service_level(
    calls_per_h: float, aht_s: float, threshold_s: float, target: float, *, max_agents: int = 1_000_000
) -> int:
    """Fewest agents whose Erlang C service level (fraction answered within ``threshold_s``) is at
    least ``target`` (a fraction, e.g. 0.8 for 80/20)."""
    if not 0.0 <= target < 1.0:
        raise ValueError(f"service level target must be a fraction in [0, 1), got {target}")
    load = offered_load_erl(calls_per_h, aht_s)

    def good(n: int, b: float) -> bool:
        return _sl_from_c(n, load, _c_from_b(n, load, b), aht_s, threshold_s) >= target

    return _smallest_n(load, good, max_agents)


def agents_for_asa(
    calls_per_h: float, aht_s: float, target_asa_s: float, *, max_agents: int = 1_000_000
) -> int:
    """Fewest agents whose Erlang C average speed of answer is at most ``target_asa_s``."""
    if target_asa_s < 0:
        raise ValueError(f"ASA target must be >= 0 s, got {target_asa_s}")
    load = offered_load_erl(calls_per_h, aht_s)

    def good(n: int, b: float) -> bool:
        return _c_from_b(n, load, b) * aht_s / (n - load) <= target_asa_s

    return _smallest_n(load, good, max_agents)


# --- incomplete gamma, in log space ------------------------------------------------------------


def _log_scaled_lower_gamma(a: float, z: float) -> float:
    """``log(gamma(a, z) e^z / z^a)``: the lower incomplete gamma function without the factor that
    overflows, so that ratios of it lose no precision (``a > 0``, ``z > 0``)."""
    max_iter = 1000 + int(50 * math.sqrt(a))
    if z < a + 1.0:  # series: gamma(a, z) e^z / z^a = sum_n z^n / (a (a+1) ... (a+n))
        term = total = 1.0 / a
        for n in range(1, max_iter):
            term *= z / (a + n)
            total += term
            if term < total * _EPS:
                return math.log(total)
        raise ArithmeticError(f"incomplete gamma series did not converge for a={a}, z={z}")
    # upper gamma by its continued fraction (modified Lentz): Gamma(a, z) = e^-z z^a h
    tiny = 1e-300
    b = z + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, max_iter):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            whole = math.lgamma(a) + z - a * math.log(z)  # log(Gamma(a) e^z / z^a)
            return whole + math.log1p(-h * math.exp(-whole))
    raise ArithmeticError(f"incomplete gamma fraction did not converge for a={a}, z={z}")


def log_gamma_p(a: float, z: float) -> float:
    """``log P(a, z)``, P the regularized lower incomplete gamma function (``a > 0``, ``z >= 0``)."""
    if a <= 0:
        raise ValueError(f"a must be > 0, got {a}")
    if z <= 0:
        return -math.inf
    return _log_scaled_lower_gamma(a, z) - z + a * math.log(z) - math.lgamma(a)


# --- Erlang A ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErlangA:
    """Steady state of an M/M/N+M queue (Erlang A). Probabilities are fractions of offered calls."""

    agents: int
    calls_per_h: float
    aht_s: float
    patience_s: float
    p_wait: float  # a call finds every agent busy and queues
    p_abandon: float  # a call hangs up before an agent answers
    mean_wait_s: float  # over all offered calls (abandoned calls count the time until they left)

    def _xy(self) -> tuple[float, float]:
        return self.agents * self.patience_s / self.aht_s, self.calls_per_h / 3600.0 * self.patience_s

    def p_wait_gt(self, t_s: float) -> float:
        """Probability that the wait offered to a caller (how long a caller with unlimited patience
        would wait) exceeds ``t_s``."""
        if self.p_wait == 0.0 or self.agents == 0 or t_s <= 0:
            return self.p_wait
        x, y = self._xy()
        theta_t = t_s / self.patience_s
        z = y * math.exp(-theta_t)
        if z <= 0.0:
            return 0.0
        # gamma(x, z) / gamma(x, y), with the e^z z^x factors cancelled by hand
        log_ratio = _log_scaled_lower_gamma(x, z) - _log_scaled_lower_gamma(x, y)
        log_ratio += -y * math.expm1(-theta_t) - x * theta_t
        # P(wait > t) <= P(wait): rounding in the gamma ratios must not push it above
        return self.p_wait * math.exp(min(0.0, log_ratio))

    def service_level(self, threshold_s: float) -> float:
        """Fraction of offered calls answered within ``threshold_s`` (answered / offered)."""
        if self.p_wait == 0.0:
            return 1.0
        if self.agents == 0:
            return 0.0
        x, y = self._xy()
        theta_t = max(0.0, threshold_s) / self.patience_s
        z = y * math.exp(-theta_t)
        scaled_x1_y = _log_scaled_lower_gamma(x + 1.0, y)
        # P(answered | waited) = (P(x+1, y) - P(x+1, z)) / (rho P(x, y)) = e^d1 (1 - e^d2)
        d1 = scaled_x1_y - _log_scaled_lower_gamma(x, y)
        if z > 0.0:
            d2 = _log_scaled_lower_gamma(x + 1.0, z) - scaled_x1_y - y * math.expm1(-theta_t)
            d2 -= (x + 1.0) * theta_t
        else:
            d2 = -math.inf
        answered_if_wait = math.exp(d1) * -math.expm1(d2)
        return min(1.0, max(0.0, 1.0 - self.p_wait + self.p_wait * answered_if_wait))


def erlang_a(agents: int, calls_per_h: float, aht_s: float, patience_s: float) -> ErlangA:
    """Erlang A (M/M/N+M) for ``agents`` agents and callers whose patience is exponential with mean
    ``patience_s``. Tends to Erlang C as ``patience_s`` grows (for a stable queue)."""
    if aht_s <= 0 or patience_s <= 0:
        raise ValueError("aht_s and patience_s must be > 0")
    load = offered_load_erl(calls_per_h, aht_s)
    _check(agents, load)
    if load == 0.0:
        return ErlangA(agents, calls_per_h, aht_s, patience_s, 0.0, 0.0, 0.0)
    if agents == 0:
        return ErlangA(agents, calls_per_h, aht_s, patience_s, 1.0, 1.0, patience_s)
    x = agents * patience_s / aht_s  # N mu / theta
    y = calls_per_h / 3600.0 * patience_s  # lambda / theta
    rho = y / x
    log_s = math.log(x) + _log_scaled_lower_gamma(x, y)  # S = A(x, y) = x e^y gamma(x, y) / y^x
    b = erlang_b(agents, load)
    if b == 0.0:  # so many agents that nobody waits (B underflowed)
        return ErlangA(agents, calls_per_h, aht_s, patience_s, 0.0, 0.0, 0.0)
    # P(wait) = S B / (1 + (S - 1) B) = 1 / (1 + (1/B - 1) / S), in logs to survive a huge S
    log_ratio = math.log1p(-b) - math.log(b) - log_s if b < 1.0 else -math.inf
    p_wait = 1.0 / (1.0 + math.exp(min(log_ratio, 700.0)))
    p_abandon_if_wait = 1.0 - (1.0 - math.exp(-log_s)) / rho
    p_abandon = min(p_wait, max(0.0, p_wait * p_abandon_if_wait))
    return ErlangA(agents, calls_per_h, aht_s, patience_s, p_wait, p_abandon, p_abandon * patience_s)
