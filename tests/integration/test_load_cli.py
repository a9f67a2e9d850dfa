"""``vcc load`` before anything runs: a load that no site would take is refused in one line (it used
to run its whole duration, every submission refused, and exit 0), and a soak whose warm-up is shorter
than etcd's fill time says so before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli_here import run_here
from tests.integration.cluster_files import ROOT, make_cluster_file
from vcc.load.soak import ETCD_STEADY_AFTER_S

pytestmark = pytest.mark.integration


def test_a_load_on_a_cluster_that_is_not_up_is_refused_with_the_addresses_it_tried(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = make_cluster_file(tmp_path, port_base=27500)  # nothing of this cluster was started
    scenario = yaml.safe_load((ROOT / "cluster/scenarios/soak.yaml").read_text())
    scenario.update(duration_s=5, warmup_s=60)
    path = tmp_path / "short-soak.yaml"
    path.write_text(yaml.safe_dump(scenario))
    code, out, err = run_here(monkeypatch, capsys, "load", str(path), "--config", str(cluster),
                        "--run-dir", str(tmp_path / "run"), "--soak-report", "30")
    out += err
    assert code == 1
    assert "Traceback" not in out
    assert f"warmup_s 60 is shorter than {ETCD_STEADY_AFTER_S:g} s" in out.replace("\n", " ")
    error = out[out.index("error:"):].replace("\n", " ")
    assert "no site of cluster" in error and "A at 127.0.0.1:27500" in error and "`vcc up CLUSTER`" in error
