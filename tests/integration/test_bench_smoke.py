"""The site bench runs end to end: a real one-site cluster (etcd, Ray, the site's actors), bot agents
and customers through the public API, and the in-process baseline; its JSON report has the figures
the bench prints, and every contact it counted completed exactly once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.cluster_files import ROOT

pytestmark = pytest.mark.integration


def test_site_bench_smoke() -> None:
    # Few agents and contacts in flight, and the site's processes at normal priority: on a machine
    # that other work keeps busy, a smoke test must still see contacts completed inside its window.
    cmd = [sys.executable, str(ROOT / "bench" / "site.py"), "--duration", "3", "--shards", "1", "--json",
           "--warmup", "2", "--agents", "20", "--inflight", "100", "--ray-niceness", "0", "--port-base", "24500"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert {"runs", "target_contacts_per_s", "best_contacts_per_s", "meets_target", "workload"} <= set(report)
    (run,) = report["runs"]
    assert run["shards"] == 1
    for mode in ("ray", "inprocess"):
        r = run[mode]
        assert {"contacts_per_s", "latency_ms", "site_cpu", "site_cpu_ms_per_contact", "exactly_once"} <= set(r)
        assert r["completed_in_window"] > 0, r
        assert r["site_cpu"]["cpu_s"] > 0
        assert r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
        check = r["exactly_once"]
        assert check["accepted"] > 0 and check["completed_twice"] == 0, check
        # a fence under load no longer strands contacts: working agents go back to work on rejoin
        assert check["missing"] == 0, f"{mode}: contacts never served: {check}"
    assert "controller" in run["ray"]["site_cpu"]["by_role_s"]
    assert run["ray_over_inprocess"] > 0



def test_shard_bench_smoke() -> None:
    # The shard layer alone: real AcdShard actors in a Ray head of the bench's own (ports 31500-31999),
    # driven like the controller's shard loops, 1 and 2 shards, and the in-process baseline.
    cmd = [sys.executable, str(ROOT / "bench" / "shards.py"), "--shards", "1,2", "--duration", "2", "--warmup", "1",
           "--agents", "40", "--queues", "4", "--inflight", "100", "--ray-niceness", "0", "--port-base", "31500",
           "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert {"runs", "baseline_inprocess", "growth_2_over_1", "target_growth", "meets_target"} <= set(report)
    assert report["invariants_ok"] is True
    assert [r["shards"] for r in report["runs"]] == [1, 2]
    for r in [*report["runs"], report["baseline_inprocess"]]:
        assert r["completed_in_window"] > 0 and r["offers_per_s"] > 0, r
        assert len(r["shard_cores"]) == r["shards"] and all(c > 0 for c in r["shard_cores"]), r
        assert r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
        check = r["invariants"]
        # every contact completed exactly once; no agent past its capacity; no contact offered twice at once
        assert check["ok"] and check["created"] > 0 and check["completed"] == check["created"], check
        assert check["completed_twice"] == 0 and check["agents_over_capacity"] == 0 and check["double_offers"] == 0
        assert 0 < check["most_held_vs_capacity"] <= 1.0
        assert check["live_in_shards_after"] == [0] * r["shards"]
    assert report["runs"][0]["mode"] == "ray" and report["baseline_inprocess"]["mode"] == "in-process"
    assert report["growth_2_over_1"] > 0
