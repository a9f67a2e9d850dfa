"""Sans-IO comparison of measured queueing figures with Erlang C (infinite patience) and Erlang A
(exponential patience), over several seeded runs of an M/M/N scenario.

The model's service time is what an agent is *held* per contact: from the ACD's offer to the end of
the contact (the bot's accept and complete round trips included), measured in each run; the
theory is evaluated at that mean (``occupied_s``), with the scenario's arrival rate. A contact
counts as having waited when its wait exceeded ``waited_over_s`` (a few ms of routing), and the
theory's P(wait) is taken at the same point: ``P(W > t) = C exp(-(N mu - lambda) t)``.

Tolerance (docs/load.md): for each figure, the mean over the seeds must lie within
``max(floor, 3 standard errors of the seeds' mean)`` of the theory; floors are 0.06 (absolute) for
P(wait), SL and abandonment, and 25 % of the theory for the mean wait.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vcc.core.erlang import erlang_a, erlang_c

FLOOR_ABS = 0.06
FLOOR_REL_WAIT = 0.25


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One seed's measured figures (from :func:`vcc.load.summary.figures`)."""

    offered: int
    p_wait: float
    mean_wait_s: float
    service_level: float
    abandon_rate: float
    occupied_s: float


def theory(agents: int, rate_per_s: float, service_s: float, threshold_s: float, waited_over_s: float,
           patience_s: float | None) -> dict[str, float]:
    """Erlang C (or A, with ``patience_s``) figures for the measured service time."""
    mu = 1.0 / service_s
    load = rate_per_s * service_s
    if patience_s is None:
        c = erlang_c(agents, load)
        gap = agents * mu - rate_per_s
        if gap <= 0:
            return {"p_wait": 1.0, "mean_wait_s": math.inf, "service_level": 0.0, "abandon_rate": 0.0}
        return {"p_wait": c * math.exp(-gap * waited_over_s), "mean_wait_s": c / gap,
                "service_level": 1.0 - c * math.exp(-gap * threshold_s), "abandon_rate": 0.0}
    a = erlang_a(agents, rate_per_s * 3600.0, service_s, patience_s)
    return {"p_wait": a.p_wait_gt(waited_over_s), "mean_wait_s": a.mean_wait_s,
            "service_level": a.service_level(threshold_s), "abandon_rate": a.p_abandon}


def compare(runs: Sequence[RunFigures], agents: int, rate_per_s: float, threshold_s: float,
            waited_over_s: float, patience_s: float | None = None) -> dict[str, Any]:
    """Per figure: theory, the seeds' mean, its standard error, the tolerance and whether it holds."""
    service_s = statistics.fmean(r.occupied_s for r in runs)
    expected = theory(agents, rate_per_s, service_s, threshold_s, waited_over_s, patience_s)
    names = ["p_wait", "service_level", "mean_wait_s"] if patience_s is None else ["abandon_rate", "p_wait"]
    out: dict[str, Any] = {"agents": agents, "rate_per_s": rate_per_s, "service_s": round(service_s, 4),
                           "offered_load_erl": round(rate_per_s * service_s, 3), "patience_s": patience_s,
                           "seeds": len(runs), "contacts": sum(r.offered for r in runs), "figures": {}}
    ok = True
    for name in names:
        values = [float(getattr(r, name)) for r in runs]
        mean = statistics.fmean(values)
        se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.inf
        floor = FLOOR_REL_WAIT * expected[name] if name == "mean_wait_s" else FLOOR_ABS
        tolerance = max(floor, 3.0 * se) if math.isfinite(se) else floor
        holds = abs(mean - expected[name]) <= tolerance
        ok &= holds
        out["figures"][name] = {"theory": round(expected[name], 4), "measured": round(mean, 4),
                                "per_seed": [round(v, 4) for v in values], "std_error": round(se, 4),
                                "tolerance": round(tolerance, 4), "within": holds}
    out["within_tolerance"] = ok
    return out


def run_figures(report: dict[str, Any]) -> RunFigures:
    """A seed's figures from a ``vcc load --json`` report."""
    t = report["total"]
    ended = t["answered"] + t["abandoned"]
    return RunFigures(offered=t["offered"], p_wait=t["p_wait"] or 0.0, mean_wait_s=t["mean_wait_s"] or 0.0,
                      service_level=t["service_level"] or 0.0, abandon_rate=t["abandoned"] / ended if ended else 0.0,
                      occupied_s=t["occupied_s"] or 0.0)
