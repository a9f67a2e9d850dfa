"""One test per kind of problem in a cluster file: each asserts the exact path and the reason.

Every test starts from the shipped ``cluster/dev.yaml`` (valid), breaks one thing, and checks what
the operator is told."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from vcc.config import load_config, load_config_text
from vcc.errors import ConfigError, Problem

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "config"
Data = dict[str, Any]


@functools.cache
def _dev() -> Data:
    data: Data = yaml.safe_load((ROOT / "cluster" / "dev.yaml").read_text())
    return data


def problems_after(mutate: Callable[[Data], object]) -> list[Problem]:
    data = copy.deepcopy(_dev())
    mutate(data)
    with pytest.raises(ConfigError) as info:
        load_config_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "test.yaml")
    return info.value.problems


def assert_problem(problems: list[Problem], path: str, reason: str) -> None:
    found = [p for p in problems if p.path == path]
    assert any(reason in p.message for p in found), f"{path}: {reason!r} not in {[str(p) for p in problems]}"


def tenant(data: Data) -> Data:
    result: Data = data["tenants"][0]
    return result


def agent(data: Data, index: int = 0) -> Data:
    result: Data = data["agents"][index]
    return result


def second_site(data: Data, **changes: Any) -> None:
    data["sites"].append({"id": "B", "name": "Second", "region": "lab", "port_base": 26000, **changes})


# --- shapes (pydantic stage) ---------------------------------------------------------------------


def test_unknown_field_suggests_the_right_one() -> None:
    problems = problems_after(lambda d: tenant(d)["queues"][0].update(ouverflow_queue="demo-general"))
    assert_problem(problems, "tenants[0].queues[0].ouverflow_queue", "unknown field 'ouverflow_queue'")
    assert_problem(problems, "tenants[0].queues[0].ouverflow_queue", "did you mean 'overflow_queue'?")


def test_missing_required_field() -> None:
    problems = problems_after(lambda d: agent(d).pop("home_site"))
    assert_problem(problems, "agents[0].home_site", "required, but missing")


def test_proficiency_outside_1_to_10() -> None:
    problems = problems_after(lambda d: agent(d)["skills"].update(english=11, support=0))
    assert_problem(problems, "agents[0].skills.english", "must be at most 10 (got 11)")
    assert_problem(problems, "agents[0].skills.support", "must be at least 1 (got 0)")


def test_queue_minimum_proficiency_outside_1_to_10() -> None:
    problems = problems_after(lambda d: tenant(d)["queues"][0]["skills"].update(support=12))
    assert_problem(problems, "tenants[0].queues[0].skills.support", "must be at most 10 (got 12)")


def test_negative_capacity() -> None:
    problems = problems_after(lambda d: agent(d)["capacity"].update(chat=-1))
    assert_problem(problems, "agents[0].capacity.chat", "must be at least 0 (got -1)")


def test_unknown_channel() -> None:
    problems = problems_after(lambda d: agent(d)["capacity"].update(fax=1))
    assert_problem(
        problems, "agents[0].capacity.fax", "'fax' is not one of 'voice', 'chat', 'email' or 'sms'"
    )


def test_service_level_percentage_outside_0_to_100() -> None:
    problems = problems_after(lambda d: tenant(d)["queues"][0]["service_level"].update(pct=120))
    assert_problem(problems, "tenants[0].queues[0].service_level.pct", "must be at most 100 (got 120)")


def test_bad_time_zone() -> None:
    problems = problems_after(lambda d: tenant(d).update(timezone="Europe/Pariss"))
    assert_problem(
        problems, "tenants[0].timezone", "unknown time zone 'Europe/Pariss'; did you mean 'Europe/Paris'?"
    )


@pytest.mark.parametrize(
    ("key", "value", "path", "reason"),
    [
        ("mon-fri", "8am-6pm", "tenants[0].hours.weekly.mon-fri[0]", "'8am-6pm' is not a window like"),
        ("mon-fri", "25:00-26:00", "tenants[0].hours.weekly.mon-fri[0]", "has a time that does not exist"),
        ("mon-fri", "09:00-09:00", "tenants[0].hours.weekly.mon-fri[0]", "opens and closes at the same time"),
        ("funday", "09:00-10:00", "tenants[0].hours.weekly.funday", "'funday' is not a day"),
        ("mon-fri", 1080, "tenants[0].hours.weekly.mon-fri", "YAML read a time as the number 1080"),
        ("wed", "10:00-11:00", "tenants[0].hours.weekly", "wed is given twice (in 'mon-fri' and 'wed')"),
    ],
)
def test_bad_hours(key: str, value: object, path: str, reason: str) -> None:
    problems = problems_after(lambda d: tenant(d)["hours"]["weekly"].update({key: value}))
    assert_problem(problems, path, reason)


def test_overlapping_hours() -> None:
    problems = problems_after(
        lambda d: tenant(d)["hours"]["weekly"].update({"mon-fri": ["08:00-12:00", "11:00-13:00"]})
    )
    assert_problem(
        problems, "tenants[0].hours.weekly", "mon has overlapping windows 08:00-12:00 and 11:00-13:00"
    )


def test_bad_holiday() -> None:
    problems = problems_after(lambda d: tenant(d)["hours"].update(holidays=["2026-02-30"]))
    assert_problem(problems, "tenants[0].hours.holidays[0]", "must be a date like 2025-12-25")


def test_unquoted_phone_number() -> None:
    problems = problems_after(lambda d: tenant(d)["callers"].update(vip=[15555550100]))
    assert_problem(problems, "tenants[0].callers.vip[0]", "quote phone numbers")


def test_plain_text_password_is_refused() -> None:
    problems = problems_after(lambda d: agent(d).update(password="hunter2"))
    assert_problem(problems, "agents[0].password", "plain-text passwords are refused")
    assert not any("hunter2" in str(p) for p in problems)


def test_password_in_the_hash_field_is_refused() -> None:
    problems = problems_after(lambda d: agent(d).update(password_hash="hunter2"))
    assert_problem(problems, "agents[0].password_hash", "looks like a plain-text password")
    assert not any("hunter2" in str(p) for p in problems)


def test_weak_or_malformed_hash() -> None:
    problems = problems_after(lambda d: agent(d).update(password_hash="md5$1$abc$def" + "x" * 40))
    assert_problem(
        problems, "agents[0].password_hash", "not a pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64> hash"
    )
    weak = "pbkdf2_sha256$1000$AegTA73Y1/UH8VaXV+cpNw$P1FpS+FLIqgFia+lxyRShn5FuB6+tStkWt5/VYkF35o"
    problems = problems_after(lambda d: agent(d).update(password_hash=weak))
    assert_problem(
        problems, "agents[0].password_hash", "hash has 1000 iterations; at least 100000 are needed"
    )


def test_unknown_ivr_node_type_and_missing_type() -> None:
    def mutate(d: Data) -> None:
        nodes = tenant(d)["flows"][0]["nodes"]
        nodes["welcome"]["type"] = "plya"
        nodes["general"].pop("type")

    problems = problems_after(mutate)
    assert_problem(
        problems, "tenants[0].flows[0].nodes.welcome", "unknown node type 'plya' (use one of play, menu"
    )
    assert_problem(problems, "tenants[0].flows[0].nodes.general", "an IVR node needs a `type:`")


def test_field_of_an_ivr_node_has_no_tag_in_its_path() -> None:
    problems = problems_after(
        lambda d: tenant(d)["flows"][0]["nodes"]["menu"].update(options={"x": "general"})
    )
    assert_problem(problems, "tenants[0].flows[0].nodes.menu.options.x", "'x' is not a DTMF digit")


def test_problems_name_their_item_and_line() -> None:
    problems = problems_after(lambda d: agent(d)["skills"].update(english=11))
    (problem,) = problems
    line = next(
        i
        for i, text in enumerate(yaml.safe_dump(_dev(), sort_keys=False).splitlines(), 1)
        if "english: 9" in text
    )
    assert problem.message == f"must be at most 10 (got 11) (agent dev-01, line {line})"


def test_all_shape_problems_in_one_pass() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "bad_shapes.yaml")
    paths = {p.path for p in info.value.problems}
    assert {
        "sites[0].ports.grcp",
        "tenants[0].timezone",
        "tenants[0].hours.weekly.sat",
        "tenants[0].queues[0].skills.english",
        "tenants[0].queues[0].service_level.pct",
        "tenants[0].flows[0].nodes.a",
        "agents[0].password",
        "agents[0].password_hash",
    } <= paths
    assert len(info.value.problems) >= 15


# --- references and rules (second stage) ---------------------------------------------------------


def test_all_reference_problems_in_one_pass() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "bad_references.yaml")
    assert len(info.value.problems) >= 30
    assert len({p.path for p in info.value.problems}) >= 25


def test_duplicate_ids() -> None:
    def mutate(d: Data) -> None:
        second_site(d, id="dev")
        d["skills"].append("english")
        d["tenants"].append(copy.deepcopy(tenant(d)))
        d["agents"].append(copy.deepcopy(agent(d)))

    problems = problems_after(mutate)
    assert_problem(problems, "sites[1].id", "duplicate site id 'dev' (also at sites[0].id)")
    assert_problem(problems, "skills[3].id", "duplicate skill id 'english'")
    assert_problem(problems, "tenants[1].id", "duplicate tenant id 'demo'")
    assert_problem(problems, "tenants[1].queues[0].id", "duplicate queue id 'demo-support'")
    assert_problem(problems, "tenants[1].flows[0].id", "duplicate flow id 'demo-main'")
    assert_problem(problems, "tenants[1].entry_points[0].address", "duplicate entry point '+15555550000'")
    assert_problem(problems, "agents[4].id", "duplicate agent id 'dev-01'")


def test_unknown_skill_in_queue_and_agent() -> None:
    def mutate(d: Data) -> None:
        tenant(d)["queues"][2]["skills"] = {"englsh": 5}
        agent(d)["skills"]["klingon"] = 3

    problems = problems_after(mutate)
    assert_problem(problems, "tenants[0].queues[2].skills", "unknown skill 'englsh'; did you mean 'english'?")
    assert_problem(problems, "agents[0].skills", "unknown skill 'klingon'")


def test_unknown_sites_and_tenants() -> None:
    def mutate(d: Data) -> None:
        tenant(d)["home_sites"] = ["dev", "mars"]
        agent(d)["home_site"] = "moon"
        agent(d, 2)["tenants"] = ["demo", "initech"]

    problems = problems_after(mutate)
    assert_problem(problems, "tenants[0].home_sites[1]", "unknown site 'mars' (known: dev)")
    assert_problem(problems, "agents[0].home_site", "unknown site 'moon' (known: dev)")
    assert_problem(problems, "agents[2].tenants[1]", "unknown tenant 'initech' (known: demo)")


def test_dedicated_agent_serves_exactly_one_tenant() -> None:
    def mutate(d: Data) -> None:
        d["tenants"].append({"id": "other", "name": "Other", "timezone": "UTC", "home_sites": ["dev"]})
        agent(d)["tenants"] = ["demo", "other"]

    problems = problems_after(mutate)
    assert_problem(
        problems,
        "agents[0].tenants",
        "a dedicated agent serves exactly one tenant; this one lists 2 (demo, other)",
    )


def test_agent_capacity_rules() -> None:
    def mutate(d: Data) -> None:
        agent(d)["capacity"]["voice"] = 2
        agent(d, 3)["capacity"] = {"chat": 0}

    problems = problems_after(mutate)
    assert_problem(problems, "agents[0].capacity.voice", "an agent takes one call at a time: at most 1")
    assert_problem(problems, "agents[3].capacity", "no channel above 0: the agent could never take a contact")


def test_overflow_targets() -> None:
    def mutate(d: Data) -> None:
        queues = tenant(d)["queues"]
        queues[0]["overflow_queue"] = "demo-genral"
        queues[1].update(overflow_queue="demo-chat", max_wait_s=60)
        queues[2].update(overflow_queue="demo-chat", max_wait_s=60)
        queues[3]["overflow_queue"] = "demo-sms"

    problems = problems_after(mutate)
    assert_problem(
        problems, "tenants[0].queues[0].overflow_queue", "unknown queue 'demo-genral'; did you mean"
    )
    assert_problem(
        problems, "tenants[0].queues[1].overflow_queue", "'demo-chat' is a chat queue, this one is voice"
    )
    assert_problem(problems, "tenants[0].queues[2].overflow_queue", "a queue cannot overflow to itself")
    assert_problem(problems, "tenants[0].queues[3].overflow_queue", "needs max_wait_s")


def test_overflow_loop() -> None:
    problems = problems_after(
        lambda d: tenant(d)["queues"][1].update(overflow_queue="demo-support", max_wait_s=30)
    )
    assert_problem(
        problems,
        "tenants[0].queues[0].overflow_queue",
        "overflow goes round in a loop: demo-support -> demo-general -> demo-support",
    )


def test_overflow_to_another_tenant() -> None:
    def mutate(d: Data) -> None:
        other = {"id": "other", "name": "Other", "timezone": "UTC", "home_sites": ["dev"]}
        other["queues"] = [{"id": "other-voice", "channel": "voice"}]
        d["tenants"].append(other)
        agent(d, 2)["tenants"] = ["demo", "other"]
        tenant(d)["queues"][0]["overflow_queue"] = "other-voice"

    problems = problems_after(mutate)
    assert_problem(
        problems,
        "tenants[0].queues[0].overflow_queue",
        "queue 'other-voice' belongs to tenant 'other'; overflow stays within a tenant",
    )


def test_queue_without_a_qualified_agent() -> None:
    problems = problems_after(lambda d: tenant(d)["queues"][2]["skills"].update(english=10))
    assert_problem(
        problems,
        "tenants[0].queues[2]",
        "no agent qualifies for queue 'demo-chat' (serves 'demo', takes chat, has english>=10)",
    )


def test_caller_both_vip_and_blocked() -> None:
    problems = problems_after(lambda d: tenant(d)["callers"]["blocked"].append("+15555550100"))
    assert_problem(problems, "tenants[0].callers.vip[0]", "caller '+15555550100' is also blocked")


@pytest.mark.parametrize(
    ("entry", "path", "reason"),
    [
        (
            {"address": "+15555550009", "channel": "voice", "queue": "demo-support"},
            ".queue",
            "give `flow` instead",
        ),
        (
            {"address": "w", "channel": "chat"},
            "",
            "needs a flow (an IVR) or, for chat, email and sms, a queue",
        ),
        ({"address": "w", "channel": "chat", "flow": "demo-main", "queue": "demo-chat"}, "", "not both"),
        (
            {"address": "w", "channel": "chat", "queue": "demo-sms"},
            ".queue",
            "'demo-sms' is a sms queue, not chat",
        ),
        ({"address": "w", "channel": "chat", "queue": "nope"}, ".queue", "unknown queue 'nope'"),
        ({"address": "w", "channel": "voice", "flow": "nope"}, ".flow", "unknown flow 'nope'"),
        (
            {"address": "no-at-sign", "channel": "email", "queue": "demo-email"},
            ".address",
            "is not an e-mail",
        ),
        (
            {"address": "12345", "channel": "sms", "queue": "demo-sms"},
            ".address",
            "is not an E.164 phone number",
        ),
    ],
)
def test_entry_point_rules(entry: Data, path: str, reason: str) -> None:
    problems = problems_after(lambda d: tenant(d)["entry_points"].append(entry))
    assert_problem(problems, "tenants[0].entry_points[5]" + path, reason)


def test_flow_routing_to_a_queue_of_the_wrong_channel_is_reported_in_the_file() -> None:
    problems = problems_after(lambda d: tenant(d)["flows"][0]["nodes"]["general"].update(queue="demo-chat"))
    assert_problem(
        problems,
        "tenants[0].flows[0].nodes.general.queue",
        "routes to chat queue 'demo-chat', but the flow serves voice entry point '+15555550000'",
    )


def test_port_collisions_across_sites() -> None:
    def mutate(d: Data) -> None:
        second_site(d, port_base=25200, ports={"grpc": 25001})

    problems = problems_after(mutate)
    assert_problem(problems, "sites[1].ports.grpc", "port 25001 is also sites[0].ports.http")
    assert_problem(
        problems, "sites[1].ports.ray.gcs_port", "falls in the Ray worker ports 25100-25499 of sites[0]"
    )
    assert_problem(
        problems, "sites[1].ports.ray.min_worker_port", "Ray worker ports 25300-25699 overlap 25100-25499"
    )


def test_site_without_port_base() -> None:
    problems = problems_after(lambda d: second_site(d, port_base=None))
    assert_problem(problems, "sites[1].port_base", "required when the site's ports are not given one by one")


def test_worker_range_upside_down() -> None:
    problems = problems_after(
        lambda d: d["sites"][0].update(ports={"ray": {"min_worker_port": 25499, "max_worker_port": 25400}})
    )
    assert_problem(problems, "sites[0].ports.ray.min_worker_port", "above max_worker_port (25499 > 25400)")
