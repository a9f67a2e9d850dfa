"""`vcc down` (launcher.down without --site) also stops the dashboard server that
`vcc dashboard --background` recorded in the run dir, by its recorded PID."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vcc.runtime import launcher, procs


def test_down_stops_the_recorded_dashboard_server(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "dashboard.pid").write_text(f"{server.pid}\n")
        said: list[str] = []
        launcher.down(tmp_path, log=said.append)
        assert server.wait(timeout=10) is not None
        assert not (tmp_path / "dashboard.pid").exists()
        assert any("dashboard" in line for line in said)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_down_of_one_site_leaves_the_dashboard_alone_and_a_bad_pid_file_is_removed(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "dashboard.pid").write_text(f"{server.pid}\n")
        launcher.down(tmp_path, sites=["B"], log=lambda _: None)
        assert procs.alive(server.pid)
        (tmp_path / "dashboard.pid").write_text("not a pid\n")
        launcher.down(tmp_path, log=lambda _: None)
        assert not (tmp_path / "dashboard.pid").exists() and procs.alive(server.pid)
    finally:
        server.kill()
        server.wait()
