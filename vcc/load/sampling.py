"""Sans-IO sampling for load: arrival schedules (Poisson, replayed offsets) and durations drawn from a
scenario's distributions. Everything takes its ``random.Random``: a seed gives the same run twice."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from vcc.load.scenario import ArrivalProcess, Arrivals, DistKind, Duration


def sample(d: Duration, rng: random.Random) -> float:
    """One draw of ``d`` in seconds, clipped to ``[min_s, max_s]``."""
    if d.dist == DistKind.FIXED:
        value = d.mean_s
    elif d.dist == DistKind.EXPONENTIAL:
        value = rng.expovariate(1.0 / d.mean_s)
    elif d.dist == DistKind.UNIFORM:
        assert d.max_s is not None
        return rng.uniform(d.min_s, d.max_s)
    else:  # lognormal with the given mean and standard deviation
        sigma2 = math.log(1.0 + (d.sd_s / d.mean_s) ** 2)
        value = rng.lognormvariate(math.log(d.mean_s) - sigma2 / 2.0, math.sqrt(sigma2))
    value = max(d.min_s, value)
    return min(d.max_s, value) if d.max_s is not None else value


def mean_of(d: Duration) -> float:
    """The distribution's mean before clipping (uniform: the midpoint)."""
    if d.dist == DistKind.UNIFORM:
        assert d.max_s is not None
        return (d.min_s + d.max_s) / 2.0
    return d.mean_s


def poisson_offsets(rate_per_s: float, duration_s: float, rng: random.Random) -> Iterator[float]:
    """Arrival offsets (seconds from the start) of a Poisson process up to ``duration_s``."""
    t = rng.expovariate(rate_per_s)
    while t < duration_s:
        yield t
        t += rng.expovariate(rate_per_s)


@dataclass(frozen=True, slots=True)
class Arrival:
    offset_s: float
    stream: int  # index into the scenario's arrivals
    patience_s: float  # 0: waits forever


def schedule(streams: Sequence[Arrivals], duration_s: float, seed: int,
             replayed: dict[int, list[float]] | None = None) -> Iterator[Arrival]:
    """Every arrival of every stream, in time order. Stream ``i`` draws from its own generator
    (seeded from ``seed`` and ``i``), so adding a stream does not change the others' arrivals;
    ``replayed[i]`` holds the offsets read from a replay stream's CSV."""
    def one(i: int, a: Arrivals) -> Iterator[Arrival]:
        rng = random.Random(f"{seed}:{i}")
        if a.process == ArrivalProcess.POISSON:
            offsets: Iterator[float] = poisson_offsets(a.rate_per_s, duration_s, rng)
        else:
            offsets = (t for t in (replayed or {}).get(i, []) if t < duration_s)
        for t in offsets:
            yield Arrival(t, i, sample(a.patience_s, rng) if a.patience_s is not None else 0.0)

    yield from heapq.merge(*(one(i, a) for i, a in enumerate(streams)), key=lambda x: x.offset_s)
