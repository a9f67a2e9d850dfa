"""The dashboards' sans-IO parts: folding events into the floor, tailing a log that is still being
written, and the wallboard and sites tables cut to a scope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from vcc.config import load_config
from vcc.core.balancer import QueueLoad, SiteLoad
from vcc.dashboards.floor import EventTail, FloorState
from vcc.dashboards.live import LiveSnapshot, MemberState
from vcc.dashboards.scope import log_in
from vcc.dashboards.views import agent_state_matrix, agents_by_state, sites_table, wallboard_queues

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "cluster" / "three-sites.yaml")


def contact(cid: str, state: str, ts: float, site: str, tenant: str = "acme", queue: str | None = "acme-claims",
            ) -> dict[str, Any]:  # fmt: skip
    return {"kind": "contact", "contact_id": cid, "state": state, "ts": ts, "site": site, "tenant": tenant,
            "queue": queue, "channel": "voice"}  # fmt: skip


def test_a_contact_moved_between_sites_waits_from_its_first_arrival_and_ends_once() -> None:
    floor = FloorState()
    # site B's log is read before site A's: order across sites is by ts, not by reading order
    floor.apply([contact("k1", "queued", 105.0, "B")])
    floor.apply([contact("k1", "arrived", 100.0, "A", queue=None), contact("k1", "queued", 101.0, "A"),
                 contact("k2", "queued", 110.0, "A"), contact("k3", "queued", 90.0, "A"),
                 contact("k3", "completed", 95.0, "A")])  # fmt: skip
    waiting = floor.waiting(now=120.0).sort("wait_s", descending=True)
    assert waiting.select("site", "wait_s").rows() == [("B", 20.0), ("A", 10.0)]
    floor.apply([contact("k1", "connected", 121.0, "B")])
    assert floor.waiting(now=130.0)["site"].to_list() == ["A"]
    floor.apply([contact("k3", "queued", 96.0, "B")])  # a late event of a finished contact is ignored
    assert "k3" not in floor.contacts


def test_agents_keep_their_latest_state_and_site_events_form_a_timeline() -> None:
    floor = FloorState()
    floor.apply([
        {"kind": "agent", "agent_id": "acme-01", "state": "busy", "ts": 5.0, "site": "A"},
        {"kind": "agent", "agent_id": "acme-01", "state": "ready", "ts": 3.0, "site": "A"},
        {"kind": "agent", "agent_id": "shared-01", "state": "logged_out", "ts": 4.0, "site": "A"},
        {"kind": "site", "event": "adopted", "ts": 9.0, "site": "B", "data": {"dead": "A"}},
        {"kind": "site", "event": "site_up", "ts": 1.0, "site": "A", "data": {}},
    ])  # fmt: skip
    assert dict(floor.agent_states().select("agent_id", "state").rows()) == {"acme-01": "busy",
                                                                             "shared-01": "logged_out"}
    timeline = floor.site_timeline()
    assert timeline.select("site", "event", "detail").rows() == [("A", "site_up", ""), ("B", "adopted", "dead=A")]


def test_the_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    log = tmp_path / "sites" / "A" / "events" / "events-000000000001.jsonl"
    log.parent.mkdir(parents=True)
    first = json.dumps(contact("k1", "queued", 1.0, "A"))
    log.write_text(first + "\n" + json.dumps(contact("k2", "queued", 2.0, "A"))[:20])  # a line being written
    tail = EventTail(tmp_path)
    assert tail.poll() == 1 and set(tail.state.contacts) == {"k1"}
    with open(log, "w") as f:
        f.write(first + "\n" + json.dumps(contact("k2", "queued", 2.0, "A")) + "\n")
    assert tail.poll() == 1 and set(tail.state.contacts) == {"k1", "k2"}
    assert tail.poll() == 0


def _snapshot() -> LiveSnapshot:
    loads = {
        "A": SiteLoad("A", 99.0, False, {"acme-claims": QueueLoad(3, 40.0, 0, 4),
                                         "globex-chat": QueueLoad(1, None, 0, 0)}),
        "B": SiteLoad("B", 99.5, True, {"acme-claims": QueueLoad(0, 0.0, 2, 2)}),
    }  # fmt: skip
    members = {"A": MemberState("A", True, 11, 22, 4), "B": MemberState("B", True, 22, 22, 4),
               "C": MemberState("C", False, error="down")}  # fmt: skip
    sessions = {s: {"lease_id": 255, "ttl_s": 1, "started_at": 50.0} for s in ("A", "B")}
    return LiveSnapshot(100.0, loads, sessions, {"acme-01": "A", "acme-02": "A"}, members)


def test_wallboard_rows_join_load_config_and_waits_within_the_scope() -> None:
    queues = [q.id for t in CONFIG.tenants for q in t.queues]
    assert {"acme-claims", "globex-chat"} <= set(queues), queues
    waiting = pl.DataFrame({"site": ["A", "A"], "tenant": ["acme", "acme"], "queue": ["acme-claims"] * 2,
                            "channel": ["voice"] * 2, "wait_s": [12.0, 31.5]})  # fmt: skip
    boss = log_in(CONFIG, "ops", "demo-ops")
    board = wallboard_queues(_snapshot(), waiting, CONFIG, boss)
    a = board.filter((pl.col("site") == "A") & (pl.col("queue") == "acme-claims")).row(0, named=True)
    assert (a["waiting"], a["longest_wait_s"], a["tenant"], a["region"]) == (3, 31.5, "acme", "eu-west")
    assert board.filter(pl.col("site") == "B")["fenced"].to_list() == [True]
    acme = log_in(CONFIG, "acme-viewer", "demo-acme-viewer")
    assert set(wallboard_queues(_snapshot(), waiting, CONFIG, acme)["tenant"]) == {"acme"}
    eu = log_in(CONFIG, "eu-manager", "demo-eu-manager")
    assert set(wallboard_queues(_snapshot(), waiting, CONFIG, eu)["site"]) == {"A"}


def test_sites_table_names_the_leader_and_the_down_site() -> None:
    boss = log_in(CONFIG, "ops", "demo-ops")
    table = sites_table(_snapshot(), CONFIG, boss)
    rows = {r["site"]: r for r in table.iter_rows(named=True)}
    assert rows["B"]["etcd_leader"] and not rows["A"]["etcd_leader"]  # member 22 leads: site B's
    assert rows["B"]["status"] == "fenced" and rows["A"]["status"] == "serving"
    assert rows["C"]["status"] == "down (no session)" and rows["C"]["etcd_member"] == "down"
    assert rows["A"]["agents_owned"] == 2 and rows["A"]["lease_id"] == "ff" and rows["A"]["load_age_s"] == 1.0


def test_agents_by_state_counts_a_shared_agent_once_per_tenant() -> None:
    states = pl.DataFrame({"agent_id": ["acme-01", "shared-01", "shared-02"], "site": ["A", "A", "A"],
                           "state": ["ready", "busy", "logged_out"], "since_ts": [1.0, 2.0, 3.0]})  # fmt: skip
    shared = next(a for a in CONFIG.agents if a.id == "shared-01")
    boss = log_in(CONFIG, "ops", "demo-ops")
    by_state = agents_by_state(states, CONFIG, boss)
    matrix = {r["tenant"]: r for r in agent_state_matrix(by_state, "tenant").iter_rows(named=True)}
    for tenant in shared.tenants:
        assert matrix[tenant]["busy"] == 1
    assert matrix["acme"]["ready"] == 1 and sum(r["not_ready"] for r in matrix.values()) == 0


def test_the_tail_keeps_the_current_utc_days_events_only(tmp_path: Path) -> None:
    log = tmp_path / "sites" / "A" / "events" / "events-000000000001.jsonl"
    log.parent.mkdir(parents=True)
    day1, day2 = 86400.0 * 20000 + 100, 86400.0 * 20001 + 100  # two UTC days
    lines = [dict(contact(f"k{i}", "queued", ts, "A"), seq=i + 1) for i, ts in enumerate((day1, day1 + 5))]
    log.write_text("".join(json.dumps(e) + "\n" for e in lines))
    tail = EventTail(tmp_path)
    tail.poll()
    assert tail.today(day1 + 10).collect()["contact_id"].to_list() == ["k0", "k1"]
    assert tail.today(day2).collect().height == 0  # nothing read yet for the next day
    with open(log, "a") as f:
        f.write(json.dumps(dict(contact("k2", "queued", day2, "A"), seq=3)) + "\n")
    tail.poll()
    assert tail.today(day2 + 1).collect()["contact_id"].to_list() == ["k2"]
