"""Figures of a load run from contact events, and the Erlang comparison, on hand-made journeys."""

from __future__ import annotations

import math
from typing import Any

from vcc.load.erlang_check import RunFigures, compare, theory
from vcc.load.summary import by_site, figures, fold


def ev(cid: str, state: str, ts: float, site: str = "A", **kw: Any) -> dict[str, Any]:
    return {"kind": "contact", "contact_id": cid, "state": state, "ts": ts, "site": site, "tenant": "t",
            "channel": "voice", "queue": "q", **kw}


def test_figures_by_hand() -> None:
    events = [
        # answered after 2 s in queue, 10 s handled
        ev("a", "arrived", 0), ev("a", "queued", 0), ev("a", "offered", 2), ev("a", "connected", 2.5),
        ev("a", "completed", 12.5),
        # answered at once, handled 4 s, at site B after a move
        ev("b", "arrived", 1), ev("b", "queued", 1), ev("b", "offered", 1.01, site="B"),
        ev("b", "connected", 1.5, site="B"), ev("b", "completed", 5.5, site="B"),
        # waited 30 s (over T = 20) and answered
        ev("c", "queued", 0), ev("c", "offered", 30), ev("c", "connected", 30), ev("c", "completed", 40),
        # abandoned after 5 s
        ev("d", "queued", 0), ev("d", "abandoned", 5),
        # still open
        ev("e", "queued", 0),
        {"kind": "agent", "agent_id": "x", "state": "ready", "ts": 0},
        ev("other", "queued", 0),
    ]
    js = fold(events, keep=lambda c: c != "other")
    assert set(js) == {"a", "b", "c", "d", "e"}
    f = figures(js.values(), 20.0)
    assert (f.offered, f.answered, f.abandoned, f.completed, f.open) == (5, 3, 1, 3, 1)
    assert f.service_level == 2 / 4  # a and b within 20 s, over answered + abandoned
    assert math.isclose(f.asa_s or 0, (2.5 + 0.5 + 30) / 3)
    assert math.isclose(f.aht_s or 0, (10 + 4 + 10) / 3)
    assert f.p_wait == 2 / 3  # a and c waited more than 50 ms; b did not
    assert math.isclose(f.occupied_s or 0, (10.5 + 4.49 + 10) / 3)
    sites = by_site(js.values(), 20.0)
    assert sites["B"].offered == 1 and sites["A"].offered == 4
    assert figures(js.values(), lambda j: 40.0).service_level == 3 / 4


def test_double_completion_is_counted() -> None:
    js = fold([ev("a", "queued", 0), ev("a", "completed", 1), ev("a", "completed", 2, site="B")])
    assert js["a"].completions == 2 and js["a"].final_count == 2


def test_erlang_c_theory_matches_the_platform_notes() -> None:
    # 600 calls/h, AHT 120 s, 26 agents -> P(wait) 14.3 %, mean wait 2.9 s
    t = theory(26, 600 / 3600, 120.0, 20.0, 0.0, None)
    assert abs(t["p_wait"] - 0.143) < 0.002 and abs(t["mean_wait_s"] - 2.9) < 0.1


def test_compare_within_and_outside_tolerance() -> None:
    t = theory(4, 5.0, 0.5, 0.5, 0.05, None)
    good = [RunFigures(300, t["p_wait"] + d, t["mean_wait_s"], t["service_level"] - d, 0.0, 0.5)
            for d in (-0.02, 0.0, 0.02)]
    assert compare(good, 4, 5.0, 0.5, 0.05)["within_tolerance"]
    bad = [RunFigures(300, t["p_wait"] + 0.3, t["mean_wait_s"] * 2, t["service_level"] - 0.3, 0.0, 0.5)
           for _ in range(3)]
    out = compare(bad, 4, 5.0, 0.5, 0.05)
    assert not out["within_tolerance"] and not out["figures"]["p_wait"]["within"]
    a = theory(4, 7.0, 0.5, 0.5, 0.05, 1.0)
    runs = [RunFigures(300, a["p_wait"], 0.1, 0.7, a["abandon_rate"] + d, 0.5) for d in (-0.01, 0.01)]
    assert compare(runs, 4, 7.0, 0.5, 0.05, patience_s=1.0)["within_tolerance"]


def test_an_adopters_site_lost_failure_gives_way_to_the_sites_own_end() -> None:
    """A dead site's adopter logs failed (site_lost:A) each call A listed live; an end A logged
    itself, before or after (clocks differ), is the contact's end and counted once."""
    lost = {"reason": "site_lost:A"}
    events = [
        ev("a", "queued", 0), ev("a", "connected", 1), ev("a", "completed", 5),
        ev("a", "failed", 5.1, site="B", **lost),  # A died before it unlisted the call
        ev("b", "queued", 0), ev("b", "failed", 4.9, site="B", **lost), ev("b", "completed", 5),  # B's clock behind
        ev("c", "queued", 0), ev("c", "failed", 3, site="B", **lost),  # nothing else ended it
    ]
    js = fold(events)
    assert [(js[c].final, js[c].site, js[c].final_count) for c in "abc"] == [
        ("completed", "A", 1), ("completed", "A", 1), ("failed", "B", 1)]
    f = figures(js.values(), 20.0)
    assert (f.completed, f.failed, f.open) == (2, 1, 0)
