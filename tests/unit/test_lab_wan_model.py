"""The WAN emulator's arithmetic (sans IO): delay, jitter without reordering, loss, rate and backlog,
cut paths, and the lab section of the cluster file."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from vcc.config.lab import LabConfig
from vcc.lab.wan import BACKLOG_LIMIT_BYTES, WanParams, WanPath, WanTable


def test_delay_and_jitter_never_reorder() -> None:
    path = WanPath("A", "B", WanParams(delay_ms=50, jitter_ms=30))
    rng = random.Random(1)
    outs = [path.admit(now_s=i * 0.001, size_bytes=100, rng=rng) for i in range(500)]
    assert all(o is not None for o in outs)
    times = [o for o in outs if o is not None]
    assert times == sorted(times)
    assert all(t - i * 0.001 >= 0.050 - 1e-9 for i, t in enumerate(times))
    assert path.counters.packets == 500 and path.counters.bytes == 50_000


def test_loss_rate_and_counters() -> None:
    path = WanPath("A", "B", WanParams(loss_pct=25))
    rng = random.Random(3)
    delivered = sum(path.admit(0.0, 10, rng) is not None for _ in range(10_000))
    assert 7300 < delivered < 7700
    assert path.counters.dropped_loss == 10_000 - delivered


def test_rate_serialises_and_bounds_the_backlog() -> None:
    path = WanPath("A", "B", WanParams(rate_kbit=8))  # 1000 bytes/s
    rng = random.Random(0)
    assert path.admit(0.0, 500, rng) == pytest.approx(0.5)
    assert path.admit(0.0, 500, rng) == pytest.approx(1.0)  # queued behind the first
    fast = WanPath("A", "B", WanParams(rate_kbit=8000))  # 1 MB/s: the backlog limit is ~1 s of it
    admitted = sum(fast.admit(0.0, 10_000, rng) is not None for _ in range(200))
    assert abs(admitted - BACKLOG_LIMIT_BYTES // 10_000) <= 1  # ~1 s of backlog, then tail drop
    assert fast.counters.dropped_queue == 200 - admitted


def test_cut_site_drops_both_ways_and_heals() -> None:
    table = WanTable(["root", "A", "B"], {frozenset(("A", "B")): WanParams(delay_ms=10)}, seed=0)
    assert table.admit("A", "B", 0.0, 10) == pytest.approx(0.010)
    assert table.admit("root", "A", 0.0, 10) == 0.0
    table.set_down("B", True)
    assert table.admit("A", "B", 1.0, 10) is None and table.admit("B", "root", 1.0, 10) is None
    assert table.admit("root", "A", 1.0, 10) == 1.0
    table.set_down("B", False)
    table.set_params("A", "B", WanParams(delay_ms=0))
    assert table.admit("B", "A", 2.0, 10) == 2.0
    st = {(p["from"], p["to"]): p for p in table.status()}
    assert st[("A", "B")]["dropped_down"] == 1 and st[("B", "root")]["dropped_down"] == 1


def test_lab_section() -> None:
    lab = LabConfig.model_validate({"subnet": "10.213.9.0/24", "default": {"delay_ms": 5},
                                    "links": [{"between": ["A", "B"], "delay_ms": 40, "loss_pct": 1}]})
    assert lab.settings("B", "A").delay_ms == 40 and lab.settings("A", "C").delay_ms == 5
    for bad in ({"subnet": "10.213.9.1/24"}, {"links": [{"between": ["A", "A"]}]},
                {"links": [{"between": ["A", "B"]}, {"between": ["B", "A"]}]},
                {"links": [{"between": ["A", "B"], "loss_pct": 101}]}, {"default": {"delay": 3}}):
        with pytest.raises(ValidationError):
            LabConfig.model_validate(bad)
