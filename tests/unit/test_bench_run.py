"""bench/run's RESULTS.md: each bench's own target lines gathered in a summary table above the
whole reports, so the verdicts are read first and the figures beside them come from the bench."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_run() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("bench_run", str(ROOT / "bench" / "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_verdicts_are_the_benches_own_target_lines() -> None:
    run = load_run()
    out = "shards 1  ray site  647 contacts/s\n  target  >= 500 contacts/s per site -> met (best 647/s)\nother"
    assert run.verdicts(out) == ["target >= 500 contacts/s per site -> met (best 647/s)"]
    assert run.verdicts("Target | a -> NOT met") == ["Target / a -> NOT met"]  # a table cell stays one cell
    assert run.verdicts("no verdict here") == ["(no target line: see its output below)"]


def test_summary_table_goes_above_the_reports() -> None:
    run = load_run()
    lines = ["# Benchmark results", "", "## Machine", "", "- CPU: x", "", "## routing: r", "", "```", "out", "```"]
    doc = run.document(lines, ["| routing | ok, 3 s | target x -> met |"])
    assert doc.index("## Summary") < doc.index("## Machine") < doc.index("## routing")
    assert "| routing | ok, 3 s | target x -> met |" in doc
