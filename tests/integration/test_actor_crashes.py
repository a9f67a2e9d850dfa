"""A real one-site Ray cluster under load loses its processes one at a time (an ACD shard, the event
sink, the site controller: SIGKILL by PID): Ray restarts each, the site rebuilds its state, and
every durable contact still completes exactly once, with every acknowledged event in the log."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cluster_files import make_cluster_file
from tests.integration.test_three_sites_failover import all_events, relogin
from vcc.client.contacts import SiteClient, submission
from vcc.config import load_config
from vcc.runtime import launcher

pytestmark = pytest.mark.integration


async def actor_pid(client: SiteClient, kind: str) -> int:
    status = await client.status()
    actor = next(a for a in status.actors if a.kind == kind)
    return int(json.loads(actor.detail)["pid"])


def test_shard_sink_and_controller_crashes(tmp_path: Path) -> None:
    path = make_cluster_file(tmp_path, "cluster/dev.yaml", port_base=30000)
    raw = yaml.safe_load(path.read_text())
    raw["sites"][0]["acd_shards"] = 2
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(path)
    run_dir = tmp_path / "run"
    launcher.up(config, path, run_dir, log=lambda m: None)
    try:
        # what an operator sees: `vcc status --json` on the running site
        out = subprocess.run([sys.executable, "-m", "vcc", "status", str(path), "--json", "--run-dir", str(run_dir)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        site = report["sites"][0]
        assert site["reachable"] and not site["fenced"] and site["lease_id"] > 0
        assert report["etcd"]["leader"] == site["site"] and site["etcd"] == "up"
        kinds = Counter(a["kind"] for a in site["actors"] if a["healthy"])
        assert kinds == {"site_controller": 1, "acd_shard": 2, "ivr_worker": 1, "media_gateway": 1, "event_sink": 1,
                         "web_front_door": 1}
        assert {q["queue"] for q in site["queues"]} >= {"demo-chat", "demo-email"}
        asyncio.run(_scenario(config, run_dir))
    finally:
        launcher.down(run_dir, log=lambda m: None)


async def _scenario(config: Any, run_dir: Path) -> None:
    site = config.sites[0]
    agents = [(a.id, f"demo-{a.id}") for a in config.agents]
    pools = [await relogin(site.grpc_address, agents, 10.0)]
    client = SiteClient(site.grpc_address)
    entries = [(e.address, e.channel.value) for t in config.tenants for e in t.entry_points
               if e.channel.value in ("chat", "email", "sms")]
    ids = itertools.count()
    accepted: set[str] = set()
    # one crash at a time: the next comes once the site shows it recovered from the previous one
    # (what to kill, the site event that shows it recovered, how many of those there must then be)
    kills = [("acd_shard", "shard_restored", 1), ("event_sink", None, 0), ("site_controller", "site_up", 2)]
    waiting_for: tuple[str, int] | None = None
    t0 = time.monotonic()
    next_kill_at = 1.5
    while (time.monotonic() - t0 < 9.0 or kills or waiting_for) and time.monotonic() - t0 < 180:
        elapsed = time.monotonic() - t0
        if waiting_for and sum(e.get("event") == waiting_for[0] for e in all_events(run_dir)) >= waiting_for[1]:
            waiting_for, next_kill_at = None, elapsed + 1.0
        if kills and not waiting_for and elapsed >= next_kill_at:
            kind, event, count = kills.pop(0)
            waiting_for = (event, count) if event else None
            os.kill(await actor_pid(client, kind), signal.SIGKILL)
            next_kill_at = elapsed + 1.5
            if kind == "site_controller":  # the agents' sessions died with it: they log in again
                await asyncio.sleep(1.0)
                pools.append(await relogin(site.grpc_address, agents, 90.0))  # Ray restarts it
        address, channel = entries[next(ids) % len(entries)]
        cid = f"k{len(accepted)}-{int(elapsed * 1000)}"
        try:
            result = (await client.submit([submission(cid, channel, address, "+1000")], timeout_s=2.0))[0]
            if result.accepted:
                accepted.add(cid)
        except Exception:
            await asyncio.sleep(0.2)  # the site is restarting its controller: the customer retries
        await asyncio.sleep(0.05)
    assert not kills and not waiting_for, f"the site did not recover in time from a crash ({waiting_for})"

    def completed() -> Counter[str]:
        return Counter(e["contact_id"] for e in all_events(run_dir)
                       if e.get("kind") == "contact" and e["state"] == "completed")

    deadline = time.monotonic() + 120  # generous: a loaded 2-core machine restarts actors slowly
    while time.monotonic() < deadline and not accepted <= set(completed()):  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    for pool in pools:
        await pool.stop(logout=False)
    await client.close()

    done = completed()
    if not accepted <= set(done):  # say what the site did, for whoever reads the failure
        for e in all_events(run_dir):
            if e.get("kind") == "site":
                print("SITE EVENT", e["ts"], e["event"], e["data"])
        print("LOGGED IN", [sorted(p.stats.logged_in) for p in pools], [p.stats.login_errors for p in pools])
    assert len(accepted) > 20  # contacts kept coming through all three crashes
    missing = sorted(accepted - set(done))
    assert not missing, f"{len(missing)} durable contacts never completed: {missing[:10]}"
    assert not [c for c, n in done.items() if n > 1], "a contact completed twice"
    site_events = [e["event"] for e in all_events(run_dir) if e.get("kind") == "site"]
    assert "shard_restored" in site_events and site_events.count("site_up") == 2
    seqs = [e["seq"] for e in all_events(run_dir)]
    assert seqs == list(range(1, len(seqs) + 1)), "the event log has a gap or a repeat"
