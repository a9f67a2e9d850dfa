from __future__ import annotations

from vcc.core.balancer import QueueLoad, SiteLoad, choose_site
from vcc.core.hours import BusinessHours
from vcc.core.model import Channel, QueueSpec, TenantSpec

Q = QueueSpec(id="q", tenant="t", channel=Channel.VOICE, service_level_s=20.0)
T = TenantSpec(id="t", name="T", hours=BusinessHours("UTC"), home_sites=("A", "B"))
NOW = 1_000.0


def load(site: str, ewt: float | None, ready: int = 0, staffed: int = 5, waiting: int = 3,
         ts: float = NOW, fenced: bool = False) -> SiteLoad:
    return SiteLoad(site, ts, fenced, {"q": QueueLoad(waiting, ewt, ready, staffed)})


def test_local_wait_within_service_level_stays_local() -> None:
    loads = {"A": load("A", 15.0), "B": load("B", 0.0, ready=4)}
    assert choose_site("A", Q, T, loads, NOW).site == "A"


def test_past_threshold_goes_to_the_shortest_wait() -> None:
    loads = {"A": load("A", 60.0), "B": load("B", 30.0), "C": load("C", 25.0)}
    # C is not a home site: 25 + 5 penalty = 30 ties with B, which is home
    assert choose_site("A", Q, T, loads, NOW).site == "B"
    loads["C"] = load("C", 10.0)
    assert choose_site("A", Q, T, loads, NOW).site == "C"


def test_ready_agent_and_empty_queue_means_no_wait() -> None:
    loads = {"A": load("A", None, staffed=0), "B": load("B", 90.0, ready=2, waiting=0)}
    placement = choose_site("A", Q, T, loads, NOW)
    assert placement.site == "B" and placement.ewt_s == 0.0


def test_fenced_and_stale_sites_are_never_chosen() -> None:
    loads = {
        "A": load("A", 60.0),
        "B": load("B", 0.0, ready=5, fenced=True),
        "C": load("C", 0.0, ready=5, ts=NOW - 10),
    }
    assert choose_site("A", Q, T, loads, NOW).site == "A"


def test_nobody_staffed_anywhere_waits_locally() -> None:
    loads = {"A": load("A", None, staffed=0), "B": load("B", None, staffed=0)}
    placement = choose_site("A", Q, T, loads, NOW)
    assert placement.site == "A" and placement.ewt_s is None


def test_local_wins_a_tie() -> None:
    loads = {"A": load("A", 40.0), "B": load("B", 40.0)}
    assert choose_site("A", Q, T, loads, NOW).site == "A"
