"""Cluster files for tests: the shipped examples with their own name, ports, run and temp dirs, so
a test cluster never collides with a running demo (or another test)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
#: the Ray temp roots (``/tmp/vcc-t/<tag>``) the cluster files of this test session name: removed
#: after each test that passed (tests/conftest.py), kept with their logs after one that failed
TEMP_ROOTS: list[Path] = []


def ray_temp_root(tag: str) -> Path:
    root = Path("/tmp/vcc-t") / tag
    TEMP_ROOTS.append(root)
    return root


def make_cluster_file(tmp_path: Path, source: str = "cluster/three-sites.yaml", *, port_base: int = 26000,
                      runtime: dict[str, Any] | None = None, always_open: bool = False) -> Path:
    """Write a copy of ``source`` with sites on ``port_base``, ``+1000``, ... (below Linux's ephemeral
    range) and Ray temp dirs of its own; returns its path. ``always_open``: every tenant open around
    the clock, no holidays (flows then take their open branch whenever the test runs)."""
    raw = yaml.safe_load((ROOT / source).read_text())
    if always_open:
        for tenant in raw["tenants"]:
            tenant["hours"] = {"weekly": {"mon-sun": "00:00-24:00"}, "holidays": []}
    tag = uuid.uuid4().hex[:6]
    raw["name"] = f"t{tag}"
    temp_root = ray_temp_root(tag)
    for i, site in enumerate(raw["sites"]):
        site["port_base"] = port_base + 1000 * i
        site.pop("ports", None)
        site["ray_temp_dir"] = str(temp_root / site["id"])
    if runtime:
        raw["runtime"] = {**raw.get("runtime", {}), **runtime}
    path = tmp_path / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
