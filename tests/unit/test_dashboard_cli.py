"""``vcc dashboard``: a bad file, a port in use or a bad PID file get one line, never a traceback.
(Serving is tested for real in tests/integration/test_dashboards_browser.py.)"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from vcc.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "cluster" / "dev.yaml"


def run_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["vcc", *args])
    code: object = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out, err


def test_a_bad_users_section_is_refused_with_its_path(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEV.read_text().replace("tenant: demo", "tenant: nobody"))
    code, _, err = run_here(monkeypatch, capsys, "dashboard", str(bad), "--run-dir", str(tmp_path))
    assert code == 2
    assert "dashboards.users[1].tenant: unknown tenant 'nobody'" in err and "Traceback" not in err


def test_a_port_in_use_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_here(monkeypatch, capsys, "dashboard", str(DEV), "--port", str(port),
                                "--run-dir", str(tmp_path))  # fmt: skip
    assert code == 1
    assert err.strip() == f"error: port {port} on 127.0.0.1 is in use: pick another with --port or dashboards.port"


def test_stop_without_a_server_and_with_a_damaged_pid_file(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_here(monkeypatch, capsys, "dashboard", str(DEV), "--run-dir", str(tmp_path), "--stop")
    assert code == 0 and "no dashboard server recorded" in out
    (tmp_path / "dashboard.pid").write_text("not a pid")
    code, _, err = run_here(monkeypatch, capsys, "dashboard", str(DEV), "--run-dir", str(tmp_path), "--stop")
    assert code == 1 and "does not hold a process id" in err and "Traceback" not in err
    assert not (tmp_path / "dashboard.pid").exists()
