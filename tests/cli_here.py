"""``vcc`` run in the test's own process (faster than a subprocess): its exit code and what it printed."""

from __future__ import annotations

import sys

import pytest

from vcc.cli import main


def run_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout, stderr of ``vcc ARGS``."""
    monkeypatch.setattr(sys, "argv", ["vcc", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err
