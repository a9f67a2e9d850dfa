"""The soak's memory report: which processes it samples (a real process tree, as ``vcc up`` records
one: a Ray head whose grandchildren host the actors) and how it turns samples into growth figures."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from vcc.load.soak import GROWTH_LIMIT_PCT, RssSampler, etcd_report, growth_report, rss_kib, site_pids, trend_pct
from vcc.runtime import procs
from vcc.runtime.launcher import RunState, SiteRecord

# A "head" that starts a child that starts a grandchild holding ~64 MiB, as raylet -> actor worker.
TREE = """
import subprocess, sys, time
leaf = "import time; b = b'x' * (64 << 20); time.sleep(60)"
mid = f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', {leaf!r}]); time.sleep(60)"
subprocess.Popen([sys.executable, '-c', mid])
time.sleep(60)
"""


@pytest.fixture
def tree(tmp_path: Path):  # type: ignore[no-untyped-def]
    head = subprocess.Popen([sys.executable, "-c", TREE])
    member = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    state = RunState("soaktest", "x.yaml", str(tmp_path), sites={
        "A": SiteRecord("A", "g", "h", "e", "r", etcd_pid=member.pid, ray_pid=head.pid)})
    state.save()
    try:
        yield tmp_path, head.pid, member.pid
    finally:
        pids = [head.pid, member.pid, *procs.descendants(head.pid)]
        procs.terminate(pids, timeout_s=5.0)
        head.wait()
        member.wait()


def test_every_descendant_of_the_ray_head_and_the_etcd_member_is_sampled(tree) -> None:  # type: ignore[no-untyped-def]
    run_dir, head, member = tree
    found: dict[int, str] = {}
    for _ in range(400):  # until the grandchild exists and has touched its 64 MiB
        found = site_pids(run_dir)["A"]
        if any((rss_kib(p) or 0) > 60 * 1024 for p in found if p not in (head, member)):
            break
        time.sleep(0.05)
    assert len(found) == 4  # member, head, child, grandchild
    assert found[member] == "etcd"
    sampler = RssSampler(run_dir, every_s=1.0)
    sampler.sample()
    taken = sampler.samples[0][1]["A"]
    assert set(taken) == set(found)
    assert max(taken.values()) > 60 * 1024  # the grandchild, where an actor's memory would be


def _samples(series: dict[int, list[int]], every_s: float = 30.0) -> list[tuple[float, dict[str, dict[int, int]]]]:
    n = max(len(v) for v in series.values())
    return [(i * every_s, {"A": {p: v[i] for p, v in series.items() if i < len(v) and v[i] >= 0}}) for i in range(n)]


def test_a_process_that_grows_is_named_even_when_its_site_total_stays_within_the_limit() -> None:
    flat = [1_000_000] * 12  # ~1 GB that does not move
    growing = [40_000 + 1_000 * i for i in range(12)]  # a small process growing steadily
    report = growth_report(_samples({1: flat, 2: growing}), {1: "ray::AcdShard", 2: "etcd"}, warmup_s=60)
    assert report["sites"]["A"]["growth_pct"] < GROWTH_LIMIT_PCT
    assert report["worst_process"]["name"] == "etcd"
    assert report["worst_process_growth_pct"] > GROWTH_LIMIT_PCT
    assert report["within_limit"] is False
    assert report["edge_samples"] == 2  # 10 samples after warm-up: a quarter, rounded down


def test_one_sample_before_a_collection_does_not_decide_the_growth() -> None:
    series = [100_000] * 12
    series[-1] = 110_000  # a spike in the last sample only
    report = growth_report(_samples({1: series}), {1: "raylet"}, warmup_s=0)
    assert report["edge_samples"] == 3
    assert report["worst_process_growth_pct"] == pytest.approx(100 * (10_000 / 3) / 100_000, abs=0.01)
    assert report["within_limit"] is True


def test_a_restarted_process_is_reported_as_new_not_as_growth() -> None:
    old = [200_000] * 6 + [-1] * 6  # gone halfway
    new = [-1] * 6 + [100_000] * 6  # its replacement
    steady = [50_000] * 12
    report = growth_report(_samples({1: old, 2: new, 3: steady}), {1: "ray::X", 2: "ray::X", 3: "raylet"}, 0)
    site = report["sites"]["A"]
    assert site["restarted_or_new"] == 1
    assert site["gone"] == ["1 ray::X"]
    assert site["growth_pct"] == 0.0
    assert [r["pid"] for r in report["processes"]] == [3]
    assert report["curve"]["site_mib"]["A"][0] == round(250_000 / 1024, 1)


def test_too_few_samples_after_warm_up_say_so() -> None:
    report = growth_report(_samples({1: [1, 2, 3]}), {}, warmup_s=75)
    assert report == {"samples": 3, "note": "fewer than 2 samples after warm-up"}


def test_the_ends_average_one_compaction_period_so_a_sawtooth_does_not_read_as_growth() -> None:
    # 60 min after warm-up, a sample every 30 s, a 5-min sawtooth (etcd compacting its history) on a flat base
    saw = [100_000 + 10_000 * (i % 10) for i in range(120)]
    saw = saw[:-3]  # the window ends near the top of a tooth: a 90-s mean at each end would read +36 %
    report = growth_report(_samples({1: saw}), {1: "etcd"}, warmup_s=0)
    assert report["edge_samples"] == 10  # 300 s of 30-s samples
    row = report["processes"][0]
    assert abs(row["growth_pct"]) < 3.0
    assert abs(row["trend_pct"]) < 3.0
    steady_leak = [100_000 + 100 * i for i in range(120)]  # +12 % over the hour, in small steps
    leak = growth_report(_samples({1: steady_leak}), {1: "etcd"}, warmup_s=0)["processes"][0]
    assert leak["growth_pct"] > 10 and leak["trend_pct"] == pytest.approx(100 * 119 * 100 / 105_950, abs=0.1)


def test_trend_is_the_least_squares_slope_over_the_window_in_percent_of_the_mean() -> None:
    assert trend_pct([(0.0, 100.0), (10.0, 110.0), (20.0, 120.0)]) == pytest.approx(100 * 20 / 110, abs=0.01)
    assert trend_pct([(0.0, 5.0), (10.0, 5.0)]) == 0.0
    assert trend_pct([(0.0, 5.0)]) is None


def test_etcd_figures_are_reported_per_site_from_their_own_samples() -> None:
    samples = [(30.0 * i, {"A": {"heap_inuse_mib": 50.0 + (i % 2), "keys": 1000.0 + i}, "B": {}}) for i in range(40)]
    report = etcd_report(samples, warmup_s=300)
    heap = report["A"]["heap_inuse_mib"]
    assert heap["min"] == 50.0 and heap["max"] == 51.0 and abs(heap["trend_pct"]) < 1
    assert report["A"]["keys"]["end"] > report["A"]["keys"]["after_warmup"]
    assert report["B"] == {}  # a member that did not answer has no figures, not zeros
