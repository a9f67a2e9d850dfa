"""IVR flows as graphs: links name nodes, every node is reachable, no loop traps a caller, and
queues named by nodes belong to the flow's tenant."""

from __future__ import annotations

from typing import Any

from vcc.config.flowcheck import check_flow_graph, check_flow_references
from vcc.config.flows import FlowConfig
from vcc.config.tenants import QueueConfig
from vcc.errors import Problem

PATH = "tenants[0].flows[0]"


def graph_problems(entry: str, nodes: dict[str, dict[str, Any]]) -> list[Problem]:
    flow = FlowConfig.model_validate({"id": "f", "entry": entry, "nodes": nodes})
    problems: list[Problem] = []
    check_flow_graph(flow, PATH, lambda path, message: problems.append(Problem(path, message)))
    return problems


def play(next_node: str) -> dict[str, Any]:
    return {"type": "play", "prompt": "p", "next": next_node}


ROUTE = {"type": "route", "queue": "q"}
HANGUP = {"type": "hangup"}


def test_a_straight_flow_is_fine() -> None:
    assert graph_problems("a", {"a": play("b"), "b": ROUTE}) == []


def test_unknown_entry() -> None:
    assert graph_problems("start", {"a": HANGUP, "strat": HANGUP}) == [
        Problem(f"{PATH}.entry", "unknown node 'start'; did you mean 'strat'?")
    ]


def test_link_to_an_unknown_node() -> None:
    nodes = {"a": {"type": "menu", "prompt": "m", "options": {"1": "b", "2": "nowhere"}}, "b": HANGUP}
    assert graph_problems("a", nodes) == [Problem(f"{PATH}.nodes.a.options.2", "unknown node 'nowhere'")]


def test_unreachable_node() -> None:
    problems = graph_problems("a", {"a": play("b"), "b": ROUTE, "orphan": HANGUP})
    assert problems == [Problem(f"{PATH}.nodes.orphan", "cannot be reached from entry 'a'")]


def test_loop_with_no_way_out() -> None:
    nodes = {
        "a": play("b"),
        "b": play("c"),
        "c": {"type": "announce_wait", "queue": "q", "next": "b"},
    }
    problems = graph_problems("a", nodes)
    assert problems == [
        Problem(
            f"{PATH}.nodes.b",
            "nodes b, c form a loop with no way out "
            "(no route, hangup or empty branch can be reached from them)",
        )
    ]


def test_self_loop_with_no_way_out() -> None:
    problems = graph_problems("a", {"a": play("a")})
    assert [p.path for p in problems] == [f"{PATH}.nodes.a"]
    assert "nodes a form a loop with no way out" in problems[0].message


def test_check_hours_both_branches_looping() -> None:
    nodes = {"a": {"type": "check_hours", "open": "b", "closed": "a"}, "b": play("a")}
    assert "form a loop with no way out" in graph_problems("a", nodes)[0].message


def test_menu_that_loops_back_on_retry_is_fine_when_some_path_exits() -> None:
    nodes = {
        "menu": {"type": "menu", "prompt": "m", "options": {"1": "route", "9": "menu"}, "on_fail": "menu"},
        "route": ROUTE,
    }
    assert graph_problems("menu", nodes) == []


def test_menu_with_empty_on_fail_always_has_a_way_out() -> None:
    nodes = {"menu": {"type": "menu", "prompt": "m", "options": {"9": "menu"}}}
    assert graph_problems("menu", nodes) == []


def test_loop_that_can_leave_through_collect_failure_is_fine() -> None:
    nodes = {"a": {"type": "collect", "prompt": "p", "variable": "v", "next": "b"}, "b": play("a")}
    assert graph_problems("a", nodes) == []


def test_min_digits_above_max_digits() -> None:
    nodes = {
        "a": {
            "type": "collect",
            "prompt": "p",
            "variable": "v",
            "next": "b",
            "min_digits": 9,
            "max_digits": 4,
        }
    }
    nodes["b"] = ROUTE
    assert graph_problems("a", nodes) == [
        Problem(f"{PATH}.nodes.a.min_digits", "more than max_digits (9 > 4)")
    ]


ROUTE_MINE = {"type": "route", "queue": "mine"}


def reference_problems(nodes: dict[str, dict[str, Any]]) -> list[Problem]:
    flow = FlowConfig.model_validate({"id": "f", "entry": next(iter(nodes)), "nodes": nodes})
    queues = {
        "mine": ("t1", QueueConfig(id="mine", channel="voice")),
        "mine-cb": ("t1", QueueConfig(id="mine-cb", channel="voice", callback_offered=True)),
        "theirs": ("t2", QueueConfig(id="theirs", channel="voice")),
    }
    problems: list[Problem] = []
    check_flow_references(flow, PATH, "t1", queues, {"english"}, lambda p, m: problems.append(Problem(p, m)))
    return problems


def test_route_to_a_queue_of_another_tenant() -> None:
    assert reference_problems({"r": {"type": "route", "queue": "theirs"}}) == [
        Problem(
            f"{PATH}.nodes.r.queue", "queue 'theirs' belongs to tenant 't2', not to this flow's tenant 't1'"
        )
    ]


def test_route_to_an_unknown_queue() -> None:
    problems = reference_problems({"r": {"type": "route", "queue": "mien"}})
    assert problems == [Problem(f"{PATH}.nodes.r.queue", "unknown queue 'mien'; did you mean 'mine'?")]


def test_announce_wait_for_another_tenant() -> None:
    problems = reference_problems(
        {"w": {"type": "announce_wait", "queue": "theirs", "next": "r"}, "r": ROUTE_MINE}
    )
    assert [p.path for p in problems] == [f"{PATH}.nodes.w.queue"]


def test_offer_callback_needs_a_queue_that_offers_callbacks() -> None:
    node = {"type": "offer_callback", "prompt": "p", "accepted": "h", "declined": "h"}
    nodes = {"c": {**node, "queue": "mine"}, "h": HANGUP}
    assert reference_problems(nodes) == [
        Problem(f"{PATH}.nodes.c.queue", "queue 'mine' does not offer callbacks (callback_offered: false)")
    ]
    assert reference_problems({"c": {**node, "queue": "mine-cb"}, "h": HANGUP}) == []


def test_set_with_an_unknown_skill() -> None:
    nodes = {"s": {"type": "set", "next": "r", "skills": {"englsh": 3}}, "r": ROUTE_MINE}
    assert reference_problems(nodes) == [
        Problem(f"{PATH}.nodes.s.skills", "unknown skill 'englsh'; did you mean 'english'?")
    ]
