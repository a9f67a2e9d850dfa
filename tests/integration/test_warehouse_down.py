"""`vcc down` brings the warehouse up to the event log: a real one-site Ray cluster (launcher.up),
bot agents and customers through the public API, then down. The test holds the site's warehouse
writer lock while the site runs, so its sink cannot flush (it logs that another writer holds the
warehouse) and every event reaches Parquet only through down's last flush: without it the warehouse
would be empty, whatever the timing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import polars as pl
import pytest

from tests.integration.cluster_files import make_cluster_file
from tests.integration.sip_harness import free_port_block
from vcc.analytics import cdr, warehouse
from vcc.analytics.catalog import Catalog
from vcc.analytics.flusher import LogTail
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.config import load_config
from vcc.runtime import launcher

pytestmark = pytest.mark.integration


def test_down_flushes_what_the_sinks_logged_since_their_last_flush(tmp_path: Path) -> None:
    # a free block below Linux's ephemeral range (32768+): a fixed 33700 collided in CI with a port an
    # outgoing connection had taken, and the raylet could not start its gRPC server
    path = make_cluster_file(tmp_path, "cluster/dev.yaml", port_base=free_port_block())
    config = load_config(path)
    site = config.sites[0]
    run_dir = tmp_path / "run"
    root = warehouse.default_root(run_dir)
    lock = warehouse.WriterLock(root, site.id)
    assert lock.acquire()
    try:
        launcher.up(config, path, run_dir, log=lambda m: None)
        try:
            asyncio.run(_traffic(site.grpc_address, [(a.id, f"demo-{a.id}") for a in config.agents]))
        finally:
            lock.release()  # as a crashed sink's lock would be: down may write now
            launcher.down(run_dir, log=lambda m: None)
    finally:
        lock.release()
    log_dir = run_dir / "sites" / site.id / "events"
    logged = LogTail(log_dir, 1).read(limit=1_000_000)
    stored = warehouse.scan_events(root).collect().sort("seq")
    assert len(logged) > 10
    assert stored["seq"].to_list() == [e["seq"] for e in logged]
    assert stored["state"].to_list() == [e.get("state") for e in logged]
    # the agents' logouts are among the last events a site logs before it stops
    assert "logged_out" in stored.filter(pl.col("kind") == "agent")["state"].to_list()
    contacts = cdr.contacts(warehouse.scan_events(root), Catalog.from_config(config)).collect()
    assert sorted(contacts.filter(pl.col("outcome") == "completed")["contact_id"].to_list()) == ["d1", "d2", "d3"]


async def _traffic(address: str, agents: list[tuple[str, str]]) -> None:
    bots = BotAgentPool(address, agents, handle_s=lambda ch: 0.2)
    client = SiteClient(address)
    try:
        await bots.start(timeout_s=60.0)
        subs = [submission(f"d{i}", "chat", "demo-chat", f"v{i}") for i in (1, 2, 3)]
        assert all(r.accepted for r in await client.submit(subs))
        deadline = time.monotonic() + 60
        while bots.stats.completed < 3:
            assert time.monotonic() < deadline, "the bots did not complete the contacts"
            await asyncio.sleep(0.1)
    finally:
        await bots.stop()
        await client.close()
