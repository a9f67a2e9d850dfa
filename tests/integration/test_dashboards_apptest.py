"""Every dashboard page under Streamlit's AppTest, on a warehouse and an etcd produced by a real run
(tests/integration/dashboard_run.py): logging in, what each page shows, and that a tenant's user
sees its own tenant only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.integration.dashboard_run import RealRun, real_run
from vcc.coord.etcd_server import EtcdCluster
from vcc.dashboards import ENV_CONFIG, ENV_RUN_DIR

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PAGES = {
    "pages/wallboard.py": "Live wallboard",
    "pages/history.py": "History",
    "pages/staffing.py": "Staffing",
    "pages/tenants.py": "Tenants and billing",
    "pages/sites.py": "Sites",
}


@pytest.fixture(scope="module")
def run(etcd_cluster: EtcdCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRun]:
    yield from real_run(tmp_path_factory.mktemp("dash"), etcd_cluster, f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture
def app_env(run: RealRun, monkeypatch: pytest.MonkeyPatch) -> RealRun:
    monkeypatch.setenv(ENV_CONFIG, str(run.config_path))
    monkeypatch.setenv(ENV_RUN_DIR, str(run.run_dir))
    return run


def logged_in(user: str, password: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert [t.value for t in at.title] == ["Log in"]
    at.text_input[0].input(user)
    at.text_input[1].input(password or f"pw-{user}")
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def all_text(at: AppTest) -> str:
    parts = [str(m.value) for m in at.metric] + [str(m.label) for m in at.metric]
    for df in frames(at):
        parts.append(df.to_csv())
    return "\n".join(parts)


def test_wrong_password_is_refused_with_one_line(app_env: RealRun) -> None:
    at = logged_in("boss", "not-the-password")
    assert [e.value for e in at.error] == ["Unknown user or wrong password."]
    assert [t.value for t in at.title] == ["Log in"]  # still on the login page, no page reachable


def test_every_page_renders_for_a_manager(app_env: RealRun) -> None:
    at = logged_in("boss")
    for page, title in PAGES.items():
        at.switch_page(page).run()
        no_errors(at)
        assert [t.value for t in at.title] == [title], page


def test_wallboard_shows_waiting_longest_wait_service_level_and_agents(app_env: RealRun) -> None:
    at = logged_in("boss")  # lands on the wallboard
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Waiting"] == "2"  # w1, w2 wait in demo-chat: nobody is logged in any more
    assert metrics["Longest wait"].endswith(" s")
    assert metrics["Service level today"].endswith("%")
    queues = frames(at)[0]
    chat = queues[(queues["site"] == "dev") & (queues["queue"] == "demo-chat")].iloc[0]
    assert chat["waiting"] == 2 and chat["tenant"] == "demo" and chat["region"] == "local"
    assert chat["longest_wait_s"] > 0 and chat["offered_today"] >= 2 and chat["sl_target_pct"] == 80
    assert 0 <= chat["sl_today_pct"] <= 100
    by_tenant = frames(at)[1]
    assert set(by_tenant["tenant"]) == {"demo", "other"}
    agents_by_tenant = frames(at)[3]
    assert {"tenant", "ready", "busy", "not_ready"} <= set(agents_by_tenant.columns)


def test_history_staffing_and_billing_show_the_runs_contacts(app_env: RealRun) -> None:
    at = logged_in("boss")
    at.switch_page("pages/history.py").run()
    no_errors(at)
    offered = {m.label: m.value for m in at.metric}["Offered"]
    assert int(offered) >= 10  # 8 handled + 2 waiting (+ the abandon, unless a short one)
    table = frames(at)[-1]
    assert {"queue", "interval_start", "service_level_pct", "sl_target_pct", "asa_s", "aht_s"} <= set(table.columns)
    assert set(table["queue"]) >= {"demo-chat", "other-chat", "demo-general"}
    at.switch_page("pages/staffing.py").run()
    no_errors(at)
    required = frames(at)[0]
    assert {"queue", "agents_required", "staffed_agents"} <= set(required.columns)
    assert required["agents_required"].max() >= 1
    at.switch_page("pages/tenants.py").run()
    no_errors(at)
    statement = frames(at)[1]
    assert list(statement["item"]) == ["dedicated_seat_hours", "shared_handled_minutes", "shared_interactions"]


def test_sites_page_shows_members_leader_sessions_and_timeline(app_env: RealRun) -> None:
    at = logged_in("boss")
    at.switch_page("pages/sites.py").run()
    no_errors(at)
    sites = frames(at)[0].set_index("site")
    assert sites.loc["dev", "status"] == "serving" and sites.loc["dev", "lease_id"]
    assert sites.loc["B", "status"] == "down (no session)"  # in the file, never started
    assert set(sites["etcd_member"]) == {"up"}
    assert sites["etcd_leader"].sum() == 1  # the test etcd's leader is one of the three members
    leader = {m.label: m.value for m in at.metric}["etcd leader"]
    assert leader in {"dev", "B", "C"}
    timeline = frames(at)[1]
    assert "site_up" in set(timeline["event"])


def test_a_tenant_user_sees_only_its_tenant_on_every_page(app_env: RealRun) -> None:
    at = logged_in("other-viewer")
    for page, title in PAGES.items():
        if page == "pages/sites.py":
            continue
        at.switch_page(page).run()
        no_errors(at)
        assert at.title[0].value == title
        text = all_text(at)
        assert "demo" not in text and "dev-0" not in text, (page, text)
        if page == "pages/wallboard.py":
            assert set(frames(at)[0]["tenant"]) == {"other"}
        if page == "pages/history.py":
            assert set(frames(at)[-1]["queue"]) == {"other-chat"}
        if page == "pages/tenants.py":
            assert at.selectbox[0].options == ["other"]


def test_a_tenant_user_has_no_sites_page_and_a_regional_manager_sees_its_region(app_env: RealRun) -> None:
    at = logged_in("demo-viewer")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/sites.py")  # not among a tenant user's pages
    eu = logged_in("eu")  # region eu-west holds only site B, which never ran
    no_errors(eu)
    queues = frames(eu)[0]
    assert queues.empty or set(queues["site"]) <= {"B"}
    assert {m.label: m.value for m in eu.metric}["Waiting"] == "0"


def test_log_out_returns_to_the_login_page_and_filters_narrow_the_view(app_env: RealRun) -> None:
    at = logged_in("boss")
    tenants = next(m for m in at.sidebar.multiselect if m.label == "Tenants")
    tenants.select("other").run()
    no_errors(at)
    assert set(frames(at)[0]["tenant"]) == {"other"}  # the wallboard follows the tenant filter
    at.switch_page("pages/history.py").run()
    assert set(frames(at)[-1]["queue"]) == {"other-chat"}  # and so does every other page
    at.sidebar.button[0].click().run()  # Log out (the browser test sees the login page come back)
    assert "vcc_scope" not in at.session_state
    assert [w.value for w in at.warning] == ["Log in first."]  # no page draws anything without a login
