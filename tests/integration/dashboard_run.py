"""A real run for the dashboard tests: one in-process site (real controller, shards, IVR, event sink,
gRPC) on the shared 3-member etcd, two tenants, bot agents serving every channel, then contacts left
waiting and one abandoned; the event log copied to the Parquet warehouse. The site keeps running
(its load and session stay in etcd) until the module's tests are done.

The cluster file lists three sites (``dev`` here, ``B`` and ``C`` never started) whose etcd ports are
the test cluster's members, so the dashboards read the same etcd the site uses."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.integration.site_harness import ROOT, InProcessSite
from vcc.analytics import warehouse
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.config.credentials import MIN_ITERATIONS, hash_password
from vcc.coord.etcd_server import EtcdCluster

T = TypeVar("T")
#: Dashboard users of the test file; each one's password is "pw-<id>".
USERS = {
    "boss": {"role": "manager", "regions": ["*"]},
    "eu": {"role": "manager", "regions": ["eu-west"]},
    "demo-viewer": {"role": "tenant", "tenant": "demo"},
    "other-viewer": {"role": "tenant", "tenant": "other"},
}
AGENTS = ("dev-01", "dev-02", "dev-03", "dev-04", "oth-01")


def fast_hash(secret: str) -> str:
    return hash_password(secret, iterations=MIN_ITERATIONS)


def write_cluster_file(path: Path, cluster: str, etcd: EtcdCluster) -> Path:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "cluster" / "dev.yaml").read_text())
    raw["name"] = cluster
    # never bound (the site's gRPC port is picked by the harness): blocks clear of the etcd ports
    etcd_ports = [etcd.endpoint(m)[1] for m in "abc"]
    bases = [b for b in range(40000, 60000, 1000) if not any(b <= p < b + 500 for p in etcd_ports)][:3]
    dev = raw["sites"][0]
    dev.update(port_base=bases[0], ports={"etcd_client": etcd_ports[0]})
    raw["sites"] += [
        {"id": "B", "name": "Paris", "region": "eu-west", "port_base": bases[1],
         "ports": {"etcd_client": etcd_ports[1]}},
        {"id": "C", "name": "Singapore", "region": "ap-southeast", "port_base": bases[2],
         "ports": {"etcd_client": etcd_ports[2]}},
    ]  # fmt: skip
    demo = raw["tenants"][0]
    demo.pop("hours")  # open 24/7: the test runs at any hour on the real clock
    other = copy.deepcopy(demo)
    other.update(id="other", name="Other Company", flows=[], callers={},
                 queues=[{"id": "other-chat", "channel": "chat", "skills": {"english": 3},
                          "service_level": {"pct": 90, "threshold_s": 30}}],
                 entry_points=[{"address": "other-chat", "channel": "chat", "queue": "other-chat"}])  # fmt: skip
    raw["tenants"].append(other)
    for agent in raw["agents"]:
        agent["password_hash"] = fast_hash(f"demo-{agent['id']}")
    raw["agents"].append({"id": "oth-01", "name": "Other Agent", "home_site": "dev", "pool": "dedicated",
                          "tenants": ["other"], "skills": {"english": 5}, "capacity": {"chat": 3},
                          "password_hash": fast_hash("demo-oth-01")})  # fmt: skip
    raw["dashboards"] = {"port": 8501, "refresh_s": 1.0, "users": [
        {"id": uid, "name": uid.title(), "password_hash": fast_hash(f"pw-{uid}"), **spec}
        for uid, spec in USERS.items()
    ]}  # fmt: skip
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


class LoopThread:
    """An asyncio loop in a thread, so a site keeps serving while tests run synchronous code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dashboard-site", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class RealRun:
    config_path: Path
    run_dir: Path
    cluster: str
    site: InProcessSite
    handled: list[str]
    loop: LoopThread

    def submit_chat(self, contact_id: str, entry_point: str = "demo-chat") -> None:
        """A new customer chat while the tests run (nobody is logged in: it waits)."""

        async def go() -> None:
            client = SiteClient(self.site.address)
            try:
                results = await client.submit([submission(contact_id, "chat", entry_point, "web-live")])
                assert results[0].accepted, results
            finally:
                await client.close()

        self.loop.run(go())


async def _wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


async def log_in_bots(site: InProcessSite, attempts: int = 5) -> BotAgentPool:
    """Every bot agent logged in and ready; a site that fenced for a moment on a loaded machine
    refuses logins, so try again once it is live."""
    for attempt in range(attempts):
        await _wait_for(lambda: not site.controller.session.fenced, 20, "site live")
        bots = BotAgentPool(site.address, [(a, f"demo-{a}") for a in AGENTS], handle_s=lambda ch: 0.1)
        await bots.start()
        if bots.stats.logged_in == set(AGENTS):
            return bots
        await bots.stop()
        if attempt == attempts - 1 or any("fenced" not in e for e in bots.stats.login_errors.values()):
            raise AssertionError(f"bot agents could not log in: {bots.stats.login_errors}")
        await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def drive(site: InProcessSite) -> list[str]:
    """Traffic on every channel for both tenants, then two chats left waiting and one abandoned."""
    bots = await log_in_bots(site)
    client = SiteClient(site.address)
    try:
        contacts = [
            submission("v1", "voice", "+15555550000", "+4930111", dtmf="2"),
            submission("v2", "voice", "demo-web-call", "+4930112", dtmf="1 12345#"),
            submission("c1", "chat", "demo-chat", "web-1"),
            submission("c2", "chat", "demo-chat", "web-2"),
            submission("e1", "email", "help@demo.example", "bob@example.org"),
            submission("s1", "sms", "+15555550001", "+4930113"),
            submission("o1", "chat", "other-chat", "web-3"),
            submission("o2", "chat", "other-chat", "web-4"),
        ]
        results = await client.submit(contacts)
        assert all(r.accepted for r in results), results
        await _wait_for(lambda: bots.stats.completed >= len(contacts), 30, "every contact handled")
        handled = list(bots.stats.handled_ids)
    finally:
        await bots.stop()
    try:
        results = await client.submit([
            submission("w1", "chat", "demo-chat", "web-5"),
            submission("w2", "chat", "demo-chat", "web-6"),
            submission("a1", "chat", "other-chat", "web-7", patience_s=0.5),
        ])  # fmt: skip
        assert all(r.accepted for r in results), results

        def abandoned() -> bool:
            return any(e.get("contact_id") == "a1" and e.get("state") == "abandoned" for e in site.events())

        await _wait_for(abandoned, 20, "a1 abandoned")
    finally:
        await client.close()
    return handled


def flush_warehouse(run: RealRun) -> None:
    """Everything the log holds is in the Parquet warehouse now (the sink's flusher, on demand)."""
    assert run.site.sink.flusher.active, "the site's sink does not own its warehouse"
    assert str(run.site.sink.flusher.root) == str(warehouse.default_root(run.run_dir).resolve())
    run.site.sink.flush_warehouse()


def real_run(tmp: Path, etcd: EtcdCluster, cluster: str) -> Iterator[RealRun]:
    etcd.ensure_running()
    config_path = write_cluster_file(tmp / "cluster.yaml", cluster, etcd)
    run_dir = tmp / "run"
    loop = LoopThread()
    site = InProcessSite(config_path, "dev", cluster, etcd.endpoint("a"), run_dir / "sites" / "dev",
                         clock=time.time)  # fmt: skip
    try:
        loop.run(site.start())
        handled = loop.run(drive(site))
        run = RealRun(config_path, run_dir, cluster, site, handled, loop)
        flush_warehouse(run)
        yield run
    finally:
        try:
            loop.run(site.stop())
        finally:
            loop.close()
