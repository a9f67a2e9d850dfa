"""Smoke test of the routing bench: it runs at small sizes and prints one JSON object (no timing
is asserted: that is the bench's job, on a quiet machine)."""

from __future__ import annotations

import json

import pytest

from tests.unit.routing_fixtures import load_bench


def test_bench_prints_one_json_object_with_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    args = [
        "--agents",
        "300",
        "--queues",
        "12",
        "--contacts",
        "600",
        "--naive-contacts",
        "100",
        "--repeat",
        "1",
        "--json",
    ]
    assert bench.main([*args, "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {
        "agents",
        "queues",
        "channels",
        "seed",
        "indexed",
        "naive",
        "speedup",
        "target",
        "meets_target",
    } <= set(report)
    for run in ("indexed", "naive"):
        assert {"decisions_per_s", "p50_ms", "p99_ms", "timed_decisions", "contacts"} <= set(report[run])
        assert report[run]["timed_decisions"] > 0 and report[run]["decisions_per_s"] > 0
    assert report["channels"] == ["chat", "email", "voice"] and report["agents"] == 300
    assert report["target"] == {"decisions_per_s": 100_000, "p99_ms": 1.0}
    # The collector is off during the timed runs (as in timeit), which hides no cost: a run leaves
    # no cyclic garbage behind for a later collection.
    assert report["collector"] == "off during runs"
    assert report["indexed"]["cyclic_garbage"] == 0 and report["naive"]["cyclic_garbage"] == 0


def test_bench_can_keep_the_collector_on(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    args = ["--agents", "90", "--queues", "8", "--contacts", "200", "--naive-contacts", "50", "--repeat", "1"]
    assert bench.main([*args, "--gc", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["collector"] == "on" and report["indexed"]["timed_decisions"] > 0


def test_bench_prints_a_readable_report(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    assert bench.main(["--agents", "90", "--queues", "8", "--contacts", "200", "--naive-contacts", "50"]) == 0
    out = capsys.readouterr().out
    assert "decisions/s" in out and "p99" in out and "naive" in out and "100,000" in out
