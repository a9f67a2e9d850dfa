"""The indexed router decides exactly as the scanning reference router on a realistic workload
(the bench's synthetic center, small): same events, in the same order, call for call."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.unit.routing_fixtures import load_bench
from vcc.core.routing import Router
from vcc.core.routing_reference import ReferenceRouter


def recorded(router: Router) -> list[Any]:
    """Wrap the router's public calls to log (call, events) pairs."""
    log: list[Any] = []
    for name in (
        "arrive",
        "enqueue",
        "accept",
        "reject",
        "complete",
        "end_wrap_up",
        "abandon",
        "tick",
        "login",
    ):
        call = getattr(router, name)

        def logged(*args: Any, _call: Any = call, _name: str = name, **kw: Any) -> Any:
            events = _call(*args, **kw)
            log.append((_name, [e.to_dict() for e in events]))
            return events

        setattr(router, name, logged)
    return log


@pytest.mark.parametrize("seed", [1, 2])
def test_indexed_and_reference_routers_make_the_same_decisions(seed: int) -> None:
    bench = load_bench()
    center = bench.build_center(160, 16, random.Random(seed))
    logs = []
    for cls in (Router, ReferenceRouter):
        router = cls(center.spec, offer_timeout_s=30.0, wrap_up_s=8.0)
        log = recorded(router)
        result = bench.run_workload(router, center, 1200, seed)
        router.check()
        logs.append(log)
    assert result.offered > 1000 and result.queued_on_arrival > 50, "the workload exercises both directions"
    assert len(logs[0]) == len(logs[1])
    for i, (fast, ref) in enumerate(zip(*logs, strict=True)):
        assert fast == ref, f"call {i} ({fast[0]}) decided differently"
