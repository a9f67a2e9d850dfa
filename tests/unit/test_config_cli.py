"""``vcc config validate|show|hash-password``: exit codes, one line per problem, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_here import run_here
from vcc.config.credentials import MIN_ITERATIONS, verify_password

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "config"
THREE_SITES = ROOT / "cluster" / "three-sites.yaml"
DEV = ROOT / "cluster" / "dev.yaml"
_SCRIPT = Path(sys.executable).parent / "vcc"
VCC = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "vcc"]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The installed ``vcc`` command, as an operator runs it."""
    return subprocess.run([*VCC, *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize(
    "name",
    ["no-such-file.yaml", "empty.yaml", "garbage.yaml", "binary.png", "latin1.yaml", "not_a_mapping.yaml",
     "alias_bomb.yaml", "recursive_alias.yaml", "too_deep.yaml"],
)
def test_validate_user_errors_exit_2_without_traceback(name: str) -> None:
    path = FIXTURES / name
    result = run("config", "validate", str(path))
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith(f"{path}: ") for line in lines)


def test_validate_ok_prints_one_summary_line() -> None:
    result = run("config", "validate", str(THREE_SITES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        f"{THREE_SITES}: OK: 3 sites, 3 tenants, 15 queues, 36 agents, 3 flows, 11 entry points, 10 skills"
    ]
    assert result.stderr == ""


def test_validate_dev(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_here(monkeypatch, capsys, "config", "validate", str(DEV))
    assert code == 0 and out.startswith(f"{DEV}: OK: 1 site, 1 tenant, ")


def test_validate_prints_every_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FIXTURES / "bad_references.yaml"
    code, out, err = run_here(monkeypatch, capsys, "config", "validate", str(path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) >= 30
    assert f"{path}: agents[0].home_site: unknown site 'Q' (known: A, C) (agent ag1, line 51)" in lines
    unknown_skill = "unknown skill 'englsh'; did you mean 'english'? (queue q1, line 14)"
    assert f"{path}: tenants[0].queues[0].skills: {unknown_skill}" in lines


@pytest.mark.parametrize(
    "name", ["bad_shapes.yaml", "syntax_error.yaml", "duplicate_key.yaml", "comments_only.yaml"]
)
def test_validate_bad_files_in_process(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_here(monkeypatch, capsys, "config", "validate", str(FIXTURES / name))
    assert code == 2 and "Traceback" not in err and err.strip()


def test_show_prints_the_summary(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_here(monkeypatch, capsys, "config", "show", str(THREE_SITES), "--width", "200")
    assert code == 0
    for text in (
        "Sites",
        "Paris",
        "127.0.0.1:21000",  # site A's gRPC
        "127.0.0.1:23010",  # site C's Ray head
        "23100-23499",  # site C's Ray worker ports
        "vcc-A=http://127.0.0.1:21004",  # etcd initial cluster
        "Acme Insurance",
        "Europe/Paris",
        "mon-fri 08:00-19:00",
        "acme-claims",
        "80 % in 20 s",
        "claims@acme-insurance.example",
        "flow acme-main",
        "Agents by site and pool",
        "Agents by skill",
        "IVR flows",
    ):
        assert text in out, text


def test_show_bad_file_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_here(monkeypatch, capsys, "config", "show", str(FIXTURES / "empty.yaml"))
    assert code == 2 and err.strip() == f"{FIXTURES / 'empty.yaml'}: the file is empty"


def test_hash_password_reads_stdin() -> None:
    result = run("config", "hash-password", "--iterations", str(MIN_ITERATIONS), stdin="s3cret-pass\n")
    assert result.returncode == 0, result.stderr
    stored = result.stdout.strip()
    assert stored.startswith(f"pbkdf2_sha256${MIN_ITERATIONS}$")
    assert verify_password("s3cret-pass", stored)
    assert "s3cret-pass" not in result.stdout


def test_hash_password_refuses_empty_and_weak(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run("config", "hash-password", stdin="\n")
    assert result.returncode == 2 and "empty password" in result.stderr
    code, _, err = run_here(monkeypatch, capsys, "config", "hash-password", "--iterations", "10")
    assert code == 2 and "Traceback" not in err


@pytest.mark.parametrize("command", [[], ["validate"], ["show"], ["hash-password"]])
def test_every_command_has_help(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_here(monkeypatch, capsys, "config", *command, "--help")
    assert code == 0 and "Usage" in out
