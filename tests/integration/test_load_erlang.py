"""``vcc load`` on a real one-site cluster (etcd, Ray, the site's actors) reproduces Erlang C and
Erlang A within the documented tolerance over several seeds (time-scaled: AHT 0.5 s), and a shard
drill during load loses and doubles nothing and books no agent twice."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster_files import ROOT, make_cluster_file
from vcc.config import ClusterConfig, load_config
from vcc.drills.logs import free_port_base
from vcc.load.erlang_check import compare, run_figures
from vcc.load.runner import run_load
from vcc.load.scenario import load_scenario
from vcc.runtime import launcher

pytestmark = pytest.mark.integration

SCENARIOS = ROOT / "cluster" / "scenarios"


@pytest.fixture(scope="module")
def erlang_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClusterConfig, Path, Path]]:
    work = tmp_path_factory.mktemp("erlang")
    path = make_cluster_file(work, "cluster/scenarios/erlang-cluster.yaml", port_base=free_port_base(14000, 1))
    config = load_config(path)
    run_dir = work / "run"
    try:
        launcher.up(config, path, run_dir, log=lambda m: None)
        yield config, path, run_dir
    finally:
        launcher.down(run_dir, log=lambda m: None)
        for s in config.sites:
            shutil.rmtree(Path(s.temp_dir).parent, ignore_errors=True)


def seeded(name: str, seed: int, **changes: Any) -> Any:
    return load_scenario(SCENARIOS / f"{name}.yaml").model_copy(update={"seed": seed, **changes})


def runs(config: ClusterConfig, name: str, seeds: range, duration_s: float) -> list[dict[str, Any]]:
    out = []
    for seed in seeds:
        report = asyncio.run(run_load(config, seeded(name, seed, duration_s=duration_s, warmup_s=3.0), SCENARIOS))
        assert not report["never_ended"] and not report["completed_twice"], report
        assert report["agents_max_in_hand"] == 1  # voice capacity 1: never two calls at once
        out.append(report)
    return out


def test_erlang_c_and_a_within_tolerance(erlang_cluster: tuple[ClusterConfig, Path, Path]) -> None:
    config, _, _ = erlang_cluster
    c_runs = runs(config, "erlang-c-small", range(11, 15), 25.0)
    c = compare([run_figures(r) for r in c_runs], agents=4, rate_per_s=6.0, threshold_s=0.5, waited_over_s=0.05)
    assert c["contacts"] > 400 and c["within_tolerance"], json.dumps(c)
    assert all(r["total"]["abandoned"] == 0 for r in c_runs)
    a_runs = runs(config, "erlang-a-small", range(21, 24), 25.0)
    a = compare([run_figures(r) for r in a_runs], agents=4, rate_per_s=7.0, threshold_s=0.5, waited_over_s=0.05,
                patience_s=1.0)
    assert a["figures"]["abandon_rate"]["measured"] > 0.03  # callers did hang up
    assert a["within_tolerance"], json.dumps(a)


def test_shard_drill_under_load(erlang_cluster: tuple[ClusterConfig, Path, Path]) -> None:
    config, path, run_dir = erlang_cluster
    scenario = SCENARIOS / "erlang-c-small.yaml"
    load = subprocess.Popen([sys.executable, "-m", "vcc", "load", str(scenario), "--config", str(path), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, text=True)
    try:
        drill = subprocess.run([sys.executable, "-m", "vcc", "drill", "shard", "E", "--config", str(path),
                                "--run-dir", str(run_dir), "--json", "--settle", "10"],
                               capture_output=True, text=True, timeout=120, cwd=ROOT)
        out, _ = load.communicate(timeout=180)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    assert drill.returncode == 0, drill.stdout + drill.stderr
    report = json.loads(drill.stdout)
    assert report["shard_restored_s"] > 0 and report["double_booked_count"] == 0
    assert report["contacts_queued_during"] > 0
    loaded = json.loads(out)
    assert load.returncode == 0 and loaded["accepted"] > 100 and not loaded["never_ended"]
