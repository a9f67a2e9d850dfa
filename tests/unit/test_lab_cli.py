"""``vcc lab`` and ``vcc up --lab`` on bad input: one line naming what is wrong, no traceback, and
nothing created (no namespace, no state file)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests import cli_here

ROOT = Path(__file__).resolve().parents[2]


def run_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, err = cli_here.run_here(monkeypatch, capsys, *args)
    return code, out + err


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_lab_status_without_a_lab(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  tmp_path: Path) -> None:
    code, out = run_here(monkeypatch, capsys, "lab", "status", str(ROOT / "cluster/three-sites.yaml"),
                         "--run-dir", str(tmp_path))
    assert code == 1
    assert out.strip().splitlines() == [f"error: no lab is running from {tmp_path} (start one with "
                                        f"`vcc up --lab {ROOT / 'cluster/three-sites.yaml'}`)"]


def test_up_lab_with_a_link_to_an_unknown_site(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "cluster/three-sites.yaml").read_text())
    raw["lab"] = {"links": [{"between": ["A", "Z"], "delay_ms": 10}]}
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    before = namespaces()
    code, out = run_here(monkeypatch, capsys, "up", "--lab", str(path), "--run-dir", str(tmp_path / "run"))
    assert code == 1
    assert out.strip().splitlines()[-1] == ("error: lab.links: A-Z names 'Z', which is neither a site (A, B, C) "
                                            "nor `root`")
    assert "Traceback" not in out
    assert namespaces() == before
    assert not (tmp_path / "run" / "state.json").exists()


def test_up_lab_bad_wan_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "cluster/three-sites.yaml").read_text())
    raw["lab"] = {"links": [{"between": ["A", "B"], "loss_pct": 150}]}
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, out = run_here(monkeypatch, capsys, "up", "--lab", str(path), "--run-dir", str(tmp_path / "run"))
    assert code == 2
    assert out.strip().splitlines() == [f"{path}: lab.links[0].loss_pct: must be at most 100 (got 150) (line "
                                        f"{out.split('(line ')[1].split(')')[0]})"]
