"""Processes vcc starts, found and stopped by the PIDs it recorded: never ``ray stop``, ``pkill`` or
``killall``, which would reach processes that are not ours."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` (not ``root`` itself)."""
    parents = {int(p): _parent(int(p)) for p in os.listdir("/proc") if p.isdigit()}
    found: set[int] = set()
    frontier = {root}
    while frontier:
        children = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= children
        frontier = children
    return {p for p in found if alive(p)}


def terminate(pids: Iterable[int], timeout_s: float = 5.0) -> list[int]:
    """SIGTERM ``pids``, wait up to ``timeout_s`` for them to exit, SIGKILL the rest.
    Returns the PIDs that had to be killed."""
    pids = [p for p in pids if alive(p)]
    for pid in pids:
        signal_quietly(pid, signal.SIGTERM)
    wait_gone(pids, timeout_s)
    killed = [p for p in pids if alive(p)]
    for pid in killed:
        signal_quietly(pid, signal.SIGKILL)
    return killed


def wait_gone(pids: Iterable[int], timeout_s: float) -> bool:
    """Wait until none of ``pids`` runs; False if some still do after ``timeout_s``."""
    pids = list(pids)
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def kill(pids: Iterable[int]) -> None:
    """SIGKILL at once: how a test or a drill makes a site die without warning."""
    for pid in pids:
        signal_quietly(pid, signal.SIGKILL)


def signal_quietly(pid: int, sig: int) -> None:
    """Send ``sig``; a process that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def spawn(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session (so a Ctrl-C at the operator's terminal does not reach it),
    output to ``log_path``; returns its PID. The child is reaped by a thread-free double wait later:
    callers keep the PID and stop it with :func:`terminate`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return proc.pid
