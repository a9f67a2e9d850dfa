"""Dashboard users in the cluster file, logging in, and what each user may see (sans-IO)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from vcc.config import load_config, load_config_text
from vcc.config.credentials import MIN_ITERATIONS, hash_password
from vcc.dashboards.scope import LoginRefused, log_in, scope_of
from vcc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _three_sites() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "cluster" / "three-sites.yaml").read_text())
    return data


def _with_users(users: list[dict[str, Any]]) -> str:
    data = copy.deepcopy(_three_sites())
    data["dashboards"] = {"users": users}
    return yaml.safe_dump(data, sort_keys=False)


def _problems(users: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(_with_users(users), "t.yaml")
    return [f"{p.path}: {p.message}" for p in info.value.problems]


FAST_HASH = hash_password("secret-1", iterations=MIN_ITERATIONS, salt=b"0123456789abcdef")


def test_shipped_cluster_files_have_dashboard_users_with_documented_passwords() -> None:
    config = load_config(ROOT / "cluster" / "three-sites.yaml")
    assert {u.id for u in config.dashboards.users} == {"ops", "eu-manager", "acme-viewer"}
    ops = log_in(config, "ops", "demo-ops")
    assert ops.is_manager and ops.sites == {"A", "B", "C"} and ops.tenants == {"acme", "nimbus", "globex"}
    viewer = log_in(config, "acme-viewer", "demo-acme-viewer")
    assert viewer.tenants == {"acme"} and not viewer.is_manager
    assert viewer.queues == {q.id for t in config.tenants if t.id == "acme" for q in t.queues}
    dev = load_config(ROOT / "cluster" / "dev.yaml")
    assert log_in(dev, "demo-viewer", "demo-demo-viewer").tenants == {"demo"}


def test_wrong_password_and_unknown_user_are_refused_alike() -> None:
    config = load_config(ROOT / "cluster" / "three-sites.yaml")
    for user, password in (("ops", "demo-eu-manager"), ("nobody", "demo-ops"), ("ops", "")):
        with pytest.raises(LoginRefused, match="unknown user or wrong password"):
            log_in(config, user, password)


def test_regional_manager_sees_only_its_regions_sites() -> None:
    config = load_config_text(_with_users([
        {"id": "eu", "name": "EU", "role": "manager", "regions": ["eu-west"], "password_hash": FAST_HASH},
    ]), "t.yaml")  # fmt: skip
    scope = log_in(config, "eu", "secret-1")
    eu_sites = {s.id for s in config.sites if s.region == "eu-west"}
    assert scope.sites == eu_sites and scope.regions == {"eu-west"}
    narrowed = scope.narrow(config, sites=["B", *eu_sites])  # B is outside: ignored, never widened
    assert narrowed.sites == eu_sites


def test_scope_filter_keeps_only_the_tenants_rows() -> None:
    config = load_config(ROOT / "cluster" / "three-sites.yaml")
    viewer = scope_of(config, next(u for u in config.dashboards.users if u.id == "acme-viewer"))
    frame = pl.DataFrame({
        "site": ["A", "A", "B", "C"], "tenant": ["acme", "globex", None, "acme"], "queue": [None, None, None, None],
    })  # fmt: skip
    assert viewer.filter(frame)["tenant"].to_list() == ["acme", "acme"]
    ops = log_in(config, "ops", "demo-ops")
    assert ops.filter(frame).height == 4  # a manager sees rows without a tenant (agents, sites)
    only_globex = ops.narrow(config, tenants=["globex"])
    assert only_globex.filter(frame)["tenant"].to_list() == ["globex", None]
    assert viewer.filter(pl.DataFrame({"x": [1]})).height == 0  # nothing to filter on: nothing shown


@pytest.mark.parametrize(
    ("user", "path", "reason"),
    [
        ({"role": "manager", "regions": ["mars"]}, "dashboards.users[0].regions[0]", "unknown region 'mars'"),
        ({"role": "tenant", "tenant": "umbrella"}, "dashboards.users[0].tenant", "unknown tenant 'umbrella'"),
        ({"role": "tenant", "tenant": "acme", "regions": ["eu-west"]}, "dashboards.users[0]", "remove `regions`"),
        ({"role": "manager", "regions": ["*"], "tenant": "acme"}, "dashboards.users[0]", "remove `tenant`"),
        ({"role": "manager"}, "dashboards.users[0]", "a manager needs `regions`"),
        ({"role": "tenant"}, "dashboards.users[0]", "a tenant user needs `tenant`"),
        ({"role": "boss", "regions": ["*"]}, "dashboards.users[0].role", "'manager' or 'tenant'"),
    ],
)
def test_bad_users_are_reported_with_their_path(user: dict[str, Any], path: str, reason: str) -> None:
    lines = _problems([{"id": "u1", "name": "U", "password_hash": FAST_HASH, **user}])
    assert any(line.startswith(path) and reason in line for line in lines), lines


def test_plain_passwords_and_duplicate_users_are_refused() -> None:
    user = {"id": "u1", "name": "U", "role": "manager", "regions": ["*"]}
    lines = _problems([{**user, "password_hash": "hunter2"}])
    assert any("dashboards.users[0].password_hash" in line and "plain-text" in line for line in lines), lines
    lines = _problems([{**user, "password_hash": FAST_HASH}, {**user, "password_hash": FAST_HASH}])
    assert any(line.startswith("dashboards.users[1].id") and "duplicate user 'u1'" in line for line in lines), lines
