"""A warehouse produced by a real run: one in-process site (real controller, shards, event sink, real
etcd, gRPC), bot agents and customers through the public API. The sink's flusher copies the event log
to Parquet while the site runs; KPIs, CDRs, billing and ``vcc report`` read it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tests.integration.site_harness import ROOT, InProcessSite, dev_agents
from vcc.analytics import billing, cdr, kpis, warehouse
from vcc.analytics.catalog import Catalog
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.config import load_config
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys
from vcc.proto.v1 import site_pb2 as pb

pytestmark = pytest.mark.integration
CONTACTS = ["c1", "c2", "e1", "s1", "s2"]


async def wait_for(predicate, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_real_run_warehouse_matches_the_event_log(etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path) -> None:
    root = tmp_path / "warehouse"

    async def scenario() -> InProcessSite:
        site = await InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint("a"),
                                   tmp_path).start()
        bots = BotAgentPool(site.address, dev_agents("dev-01", "dev-03"), handle_s=lambda ch: 0.2)
        client = SiteClient(site.address)
        try:
            await bots.start()
            subs = [submission("c1", "chat", "demo-chat", "v1"), submission("c2", "chat", "demo-chat", "v2"),
                    submission("e1", "email", "help@demo.example", "bob@example.org"),
                    submission("s1", "sms", "+15555550001", "+4930113"),
                    submission("s2", "sms", "+15555550001", "+4930114")]  # fmt: skip
            results = await client.submit(subs)
            assert all(r.accepted for r in results), results
            await wait_for(lambda: bots.stats.completed >= len(CONTACTS))
            # while the site runs, the sink's flusher catches up with the log by itself
            await wait_for(lambda: warehouse.last_seq(root, "dev") >= site.sink.log.last_seq)
        finally:
            await bots.stop()
            await client.close()
            await site.stop()
        return site

    site = asyncio.run(scenario())
    site.sink.close()  # the last flush
    logged = site.events()
    stored = warehouse.scan_events(root).collect().sort("seq")
    assert stored["seq"].to_list() == [e["seq"] for e in logged]
    assert stored["state"].to_list() == [e.get("state") for e in logged]
    assert stored["contact_id"].to_list() == [e.get("contact_id") for e in logged]
    assert set(stored["schema_version"].to_list()) == {1}

    catalog = Catalog.from_config(load_config(ROOT / "cluster/dev.yaml"))
    events = warehouse.scan_events(root)
    contacts = cdr.contacts(events, catalog).collect()
    assert sorted(contacts["contact_id"].to_list()) == sorted(CONTACTS)
    assert contacts["outcome"].to_list() == ["completed"] * len(CONTACTS)
    assert contacts["agent_id"].is_in(["dev-01", "dev-03"]).all()
    total = kpis.report(events, catalog, by=["tenant"], interval=None).row(0, named=True)
    assert (total["tenant"], total["offered"], total["answered"], total["handled"]) == ("demo", 5, 5, 5)
    assert total["aht_s"] > 0 and total["asa_s"] >= 0
    st = billing.statement(events, catalog, "demo", stored["ts"].min(), stored["ts"].max() + 1)  # type: ignore[arg-type]
    seat_hours = {line.item: line.quantity for line in st.lines}["dedicated_seat_hours"]
    assert seat_hours > 0  # dev-01 (dedicated) was logged in

    out = subprocess.run(
        [sys.executable, "-m", "vcc", "report", "kpis", "--run-dir", str(tmp_path), "--config",
         str(ROOT / "cluster/dev.yaml"), "--by", "tenant", "--interval", "all", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["tenant"], r["answered"]) for r in rows] == [("demo", 5)]
    cdr_file = tmp_path / "cdr.parquet"
    out = subprocess.run([sys.executable, "-m", "vcc", "report", "cdr", "--run-dir", str(tmp_path), "--config",
                          str(ROOT / "cluster/dev.yaml"), "--out", str(cdr_file)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert pl.read_parquet(cdr_file).height == len(CONTACTS)


def test_real_run_dispositions_and_hold_reach_the_kpis(etcd: EtcdCluster, coord_keys: CoordKeys,
                                                       tmp_path: Path) -> None:
    """Bot agents complete with a disposition (Complete.disposition) and one contact is held and
    resumed through the site API while it is connected: FCR and hold seconds come from what the
    site really logged."""
    root = tmp_path / "warehouse"
    held: dict[str, float] = {}

    async def scenario() -> InProcessSite:
        site = await InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint("a"),
                                   tmp_path).start()
        pool = BotAgentPool(site.address, dev_agents("dev-01", "dev-03"), handle_s=lambda ch: 1.5)
        client = SiteClient(site.address)
        try:
            await pool.start()
            results = await client.submit([submission("h1", "chat", "demo-chat", "v1"),
                                           submission("h2", "chat", "demo-chat", "v2")])  # fmt: skip
            assert all(r.accepted for r in results), results
            await wait_for(lambda: pool.stats.accepted >= 2)
            agent = next(e["agent_id"] for e in site.events()
                         if e.get("contact_id") == "h1" and e.get("state") == "connected")
            t0 = time.monotonic()
            assert (await pool.command(agent, hold=pb.Hold(contact_id="h1"))).ok
            await asyncio.sleep(0.5)
            assert (await pool.command(agent, resume=pb.Resume(contact_id="h1"))).ok
            held["h1"] = time.monotonic() - t0
            await wait_for(lambda: pool.stats.completed >= 2)
        finally:
            await pool.stop()
            await client.close()
            await site.stop()
        return site

    site = asyncio.run(scenario())
    site.sink.close()
    catalog = Catalog.from_config(load_config(ROOT / "cluster/dev.yaml"))
    contacts = cdr.contacts(warehouse.scan_events(root), catalog).collect().sort("contact_id")
    assert contacts["contact_id"].to_list() == ["h1", "h2"]
    assert contacts["disposition"].to_list() == ["resolved", "resolved"]  # the bots' Complete.disposition
    h1, h2 = contacts.row(0, named=True), contacts.row(1, named=True)
    assert 0.5 <= h1["hold_s"] <= held["h1"] and h2["hold_s"] == 0.0
    assert h1["handle_s"] == pytest.approx(h1["talk_s"] + h1["hold_s"] + h1["wrap_s"])
    total = kpis.report(warehouse.scan_events(root), catalog, by=["tenant"], interval=None).row(0, named=True)
    assert (total["fcr_num"], total["fcr_den"], total["fcr"]) == (2, 2, 1.0)
