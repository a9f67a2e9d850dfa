"""`vcc dashboard --background` serves the real Streamlit server; headless Chromium logs in and
screenshots every page (saved under the test's tmp dir), each checked for its title and for no
exception or error box. A tenant's user gets a different menu, without the sites page."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.integration.dashboard_run import RealRun, real_run
from vcc.coord.etcd_server import EtcdCluster

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
PAGES = ["Live wallboard", "History", "Staffing", "Tenants and billing", "Sites"]
ERROR_BOXES = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vcc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vcc", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def run(etcd_cluster: EtcdCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRun]:
    yield from real_run(tmp_path_factory.mktemp("dashweb"), etcd_cluster, f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="module")
def server(run: RealRun) -> Iterator[str]:
    port = free_port()
    started = vcc("dashboard", str(run.config_path), "--port", str(port), "--run-dir", str(run.run_dir), "--background")
    assert started.returncode == 0, started.stderr + started.stdout
    assert f"http://127.0.0.1:{port}" in started.stdout
    again = vcc("dashboard", str(run.config_path), "--port", str(port), "--run-dir", str(run.run_dir), "--background")
    assert again.returncode == 0 and "already runs" in again.stdout, again.stderr  # set-up may run twice
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stopped = vcc("dashboard", str(run.config_path), "--run-dir", str(run.run_dir), "--stop")
        assert stopped.returncode == 0 and "stopped the dashboard server" in stopped.stdout, stopped.stderr


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})  # fmt: skip
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def log_in(page: Page, url: str, user: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="User").fill(user)
    page.get_by_role("textbox", name="Password").fill(f"pw-{user}")
    page.get_by_role("button", name="Log in").click()
    page.locator("h1", has_text="Live wallboard").wait_for(timeout=30_000)


def show(page: Page, title: str, shots: Path) -> None:
    """Open ``title`` from the sidebar menu, wait until it drew its content, check it, screenshot it."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
    page.locator("h1", has_text=title).wait_for(timeout=30_000)
    page.locator('[data-testid="stMetric"], [data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=30_000)
    page.screenshot(path=str(shots / f"{title.lower().replace(' ', '-')}.png"), full_page=True)
    assert page.locator(ERROR_BOXES).count() == 0, page.locator(ERROR_BOXES).all_inner_texts()
    assert page.locator("h1").first.inner_text().strip() == title


def test_every_page_in_chromium(server: str, page: Page, tmp_path: Path) -> None:
    log_in(page, server, "boss")
    assert page.title() == "Live wallboard"  # the browser tab carries the page's title
    for title in PAGES:
        show(page, title, tmp_path)
    page.get_by_role("button", name="Log out").click()
    page.locator("h1", has_text="Log in").wait_for(timeout=30_000)
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert shots == sorted(f"{t.lower().replace(' ', '-')}.png" for t in PAGES)
    assert all((tmp_path / s).stat().st_size > 10_000 for s in shots)


def test_a_tenant_user_in_chromium_has_no_sites_page(server: str, page: Page, tmp_path: Path) -> None:
    log_in(page, server, "demo-viewer")
    menu = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    assert [m.strip() for m in menu] == PAGES[:-1]
    show(page, "Tenants and billing", tmp_path)
    assert "other" not in page.locator('[data-testid="stMain"]').inner_text().lower().split()


def test_the_wallboard_follows_the_floor_without_a_reload(server: str, run: RealRun, page: Page) -> None:
    """A chat arriving while the wallboard is open shows up by itself (the page refreshes from
    the sites' load in etcd every `dashboards.refresh_s`)."""
    log_in(page, server, "boss")
    waiting = page.locator('[data-testid="stMetric"]', has_text="Waiting").locator('[data-testid="stMetricValue"]')
    before = int(waiting.inner_text())
    run.submit_chat(f"live-{uuid.uuid4().hex[:6]}")
    page.wait_for_function(
        """([before]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
              .some(m => m.innerText.startsWith('Waiting') &&
                         parseInt(m.querySelector('[data-testid="stMetricValue"]').innerText) === before + 1)""",
        arg=[before], timeout=20_000,
    )
    assert page.locator(ERROR_BOXES).count() == 0
