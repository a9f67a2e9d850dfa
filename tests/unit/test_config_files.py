"""The shipped cluster files validate and compile; a file that is not a cluster file at all
(missing, empty, not YAML, not text) gives one clear problem, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcc.config import compile_center, load_config, load_config_text
from vcc.config.credentials import verify_password
from vcc.config.hours import DAY_NAMES
from vcc.core.flow import CheckHours, Menu, Play, RouteToQueue
from vcc.core.model import Channel, Pool
from vcc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "config"
THREE_SITES = ROOT / "cluster" / "three-sites.yaml"
DEV = ROOT / "cluster" / "dev.yaml"
NODE_TYPES = {
    "play",
    "menu",
    "collect",
    "check_hours",
    "announce_wait",
    "offer_callback",
    "set",
    "route",
    "hangup",
}


def only_problem(path: Path | str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1, info.value.lines()
    return str(info.value.problems[0])


@pytest.mark.parametrize("path", [DEV, THREE_SITES], ids=["dev", "three-sites"])
def test_shipped_files_validate_and_compile(path: Path) -> None:
    config = load_config(path)
    center = compile_center(config)
    assert set(center.tenants) == {t.id for t in config.tenants}
    assert set(center.queues) == {q.id for t in config.tenants for q in t.queues}
    assert set(center.agents) == {a.id for a in config.agents}
    for queue in center.queues.values():
        assert any(agent.qualifies(queue) for agent in center.agents.values()), queue.id


def test_dev_has_one_site() -> None:
    assert [s.id for s in load_config(DEV).sites] == ["dev"]


def test_three_sites_covers_the_brief() -> None:
    config = load_config(THREE_SITES)
    center = compile_center(config)
    assert [s.id for s in config.sites] == ["A", "B", "C"]
    assert len({s.region for s in config.sites}) == 3
    assert len(config.agents) >= 30
    assert {q.channel for q in center.queues.values()} == set(Channel)
    assert {e.channel for e in center.entry_points.values()} == set(Channel)
    pools_by_tenant = {t: {a.pool for a in center.agents.values() if t in a.tenants} for t in center.tenants}
    assert {Pool.DEDICATED} in pools_by_tenant.values()
    assert {Pool.SHARED} in pools_by_tenant.values()
    assert {Pool.DEDICATED, Pool.SHARED} in pools_by_tenant.values()
    used_types = {n.type for t in config.tenants for f in t.flows for n in f.nodes.values()}
    assert used_types == NODE_TYPES
    assert len({t.timezone for t in config.tenants}) == 3
    assert all(t.hours.holidays and t.callers.vip and t.callers.blocked for t in config.tenants)


def test_three_sites_ports_are_disjoint_and_in_range() -> None:
    config = load_config(THREE_SITES)
    taken: set[int] = set()
    for site in config.sites:
        ports = site.resolved_ports()
        low, high = ports.pop("ray.min_worker_port"), ports.pop("ray.max_worker_port")
        block = set(ports.values()) | set(range(low, high + 1))
        assert len(ports) == len(set(ports.values()))
        assert not block & taken
        assert all(20000 <= p <= 40000 for p in block)
        taken |= block


def test_demo_passwords_follow_the_documented_scheme() -> None:
    agent = load_config(DEV).agents[0]
    assert verify_password(f"demo-{agent.id}", agent.password_hash)
    assert not verify_password("demo-someone-else", agent.password_hash)


def test_compiled_values_match_the_file() -> None:
    center = compile_center(load_config(THREE_SITES))
    acme = center.tenants["acme"]
    assert acme.hours.timezone == "Europe/Paris"
    assert acme.hours.weekly[0] == ((8 * 60, 19 * 60),)
    assert acme.hours.weekly[DAY_NAMES.index("sun")] == ()
    assert "+33612345678" in acme.callers.vip and acme.callers.vip_priority_boost == 20
    assert acme.home_sites == ("A", "B")
    flow = center.flows["acme-main"]
    assert flow.tenant == "acme" and isinstance(flow.nodes[flow.entry], Play)
    assert isinstance(flow.nodes["hours"], CheckHours)
    menu = flow.nodes["main_menu"]
    assert isinstance(menu, Menu) and menu.options["1"] == "claim_number"
    assert flow.nodes["claims"] == RouteToQueue(queue="acme-claims")
    claims = center.queues["acme-claims"]
    assert claims.overflow_queue == "acme-general" and claims.max_wait_s == 300
    assert {(r.skill, r.min_proficiency) for r in claims.required_skills} == {("claims", 5), ("french", 6)}
    entry = center.entry_points["claims@acme-insurance.example"]
    assert entry.queue == "acme-email" and entry.flow is None and entry.channel == Channel.EMAIL


def test_site_endpoints_are_derived_from_port_base() -> None:
    site = load_config(THREE_SITES).sites[0]
    assert site.ray_address == "127.0.0.1:21010"
    assert site.etcd_client_url == "http://127.0.0.1:21003"
    assert site.etcd_peer_url == "http://127.0.0.1:21004"
    assert "--min-worker-port=21100" in site.ray_start_args()
    assert "--max-worker-port=21499" in site.ray_start_args()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("empty.yaml", "the file is empty"),
        ("comments_only.yaml", "the file is empty (nothing but comments)"),
        ("not_a_mapping.yaml", "the top level must be a mapping"),
        ("binary.png", "not a text file"),
        ("latin1.yaml", "not UTF-8 text (byte 0xe9 at offset 9)"),
        ("garbage.yaml", "line 2, column 1: while parsing a flow sequence"),
        ("syntax_error.yaml", "line 5, column 11: while parsing a flow sequence: expected ',' or ']'"),
        ("duplicate_key.yaml", "line 3, column 1: while reading a mapping: key 'name' is given twice"),
        ("control_character.yaml", "line 1, column 8: unacceptable character #x0001"),
        ("alias_bomb.yaml", "line 10: aliases expand this value to more than 1,000,000 values"),
        ("recursive_alias.yaml", "line 3: this value contains itself through an alias"),
        ("too_deep.yaml", "values nested too deeply"),
    ],
)
def test_not_a_cluster_file(name: str, expected: str) -> None:
    assert expected in only_problem(FIXTURES / name)


def test_anchors_and_merge_keys_still_repeat_parts_of_a_file() -> None:
    text = (ROOT / "cluster" / "dev.yaml").read_text()
    for old, new in (
        ("    capacity: {voice: 1, chat: 3, email: 5, sms: 3}\n",
         "    capacity: &full {voice: 1, chat: 3, email: 5, sms: 3}\n"),
        ("    capacity: {voice: 1, chat: 2}\n", "    capacity: *full\n"),
        ("    capacity: {voice: 1, email: 5, sms: 3}\n", "    capacity: {<<: *full, chat: 2}\n"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    agents = compile_center(load_config_text(text, "anchors.yaml")).agents
    assert agents["dev-02"].capacity == agents["dev-01"].capacity
    assert agents["dev-03"].capacity[Channel.CHAT] == 2 and agents["dev-03"].capacity[Channel.EMAIL] == 5


def test_missing_file_and_directory() -> None:
    assert only_problem(FIXTURES / "no-such-file.yaml") == "no such file"
    assert only_problem(FIXTURES) == "is a directory, not a cluster file"


def test_source_names_the_file_in_every_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "empty.yaml")
    assert info.value.lines() == [f"{FIXTURES / 'empty.yaml'}: the file is empty"]
    assert info.value.exit_code == 2


def test_text_without_a_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("- 1\n", "payload")
    assert info.value.lines()[0].startswith("payload: the top level must be a mapping")
