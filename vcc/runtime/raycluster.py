"""One Ray cluster per site: start its head with every port and the temp dir derived from the config,
so several sites' clusters coexist on one machine; stop exactly that cluster.

``ray start --head --block`` keeps one parent process that owns every process of the head (GCS,
raylet, dashboard, monitors; the raylet owns the workers). vcc records that parent's PID and stops
the head by walking its descendants in the order that leaves nothing hung: raylet first, then the
helpers, then the GCS, then the parent (measured: ~0.7 s). ``ray stop`` is never used: it stops every
Ray cluster on the machine.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from vcc.errors import VccError
from vcc.runtime import procs


class RayStartError(VccError):
    """A site's Ray head did not come up."""

    retryable = True


@dataclass(frozen=True, slots=True)
class RayHeadSpec:
    """A site's Ray head: ``port_args`` are the ``ray start`` port flags and ``--temp-dir`` that keep it
    off every other site's ports (``SiteConfig.ray_start_args()``)."""

    site: str
    gcs_port: int
    port_args: tuple[str, ...]
    token_path: Path
    num_cpus: int = 2
    host: str = "127.0.0.1"
    #: Prefixes the ``ray start`` command, e.g. ``("ip", "netns", "exec", NS)`` to run the head in a
    #: network namespace (``host`` is then the namespace's address). ``ip netns exec`` execs, so the
    #: recorded PID is still ``ray start``'s own.
    exec_prefix: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.gcs_port}"


def ensure_token(path: Path) -> None:
    """Ray token authentication: one secret per vcc cluster, readable by root only."""
    if path.exists() and path.read_text().strip():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))


def ray_env(token_path: Path) -> dict[str, str]:
    """The environment a head and every driver of the cluster must share (token auth on)."""
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path), RAY_USAGE_STATS_ENABLED="0",
               # the GCS keeps at most this many task events (Ray's default, 100,000, held ~250 MiB)
               RAY_task_events_max_num_task_in_gcs="10000")
    env.pop("RAY_ADDRESS", None)
    return env


def head_argv(spec: RayHeadSpec, ray_bin: str) -> list[str]:
    return [
        ray_bin, "start", "--head", "--block", "--disable-usage-stats", "--include-dashboard=false",
        f"--node-ip-address={spec.host}", f"--num-cpus={spec.num_cpus}", *spec.port_args,
    ]


def start_head(spec: RayHeadSpec, log_path: Path, ray_bin: str) -> int:
    """Spawn the site's Ray head; returns the PID of its ``ray start --block`` parent at once. Call
    :func:`wait_head` before using it (several sites' heads start faster in parallel)."""
    if _port_in_use(spec.gcs_port, spec.host):
        raise RayStartError(f"site {spec.site}: port {spec.gcs_port} is already in use")
    ensure_token(spec.token_path)
    log_path.unlink(missing_ok=True)
    return procs.spawn([*spec.exec_prefix, *head_argv(spec, ray_bin)], log_path, env=ray_env(spec.token_path))


def wait_head(spec: RayHeadSpec, pid: int, log_path: Path, timeout_s: float = 180.0) -> None:
    """Return once the head's GCS accepts connections and ``ray start`` reports it is up (3 minutes:
    three heads starting at once on a starved 2-core machine took over 90 s)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            raise RayStartError(f"site {spec.site}: ray start exited ({_last_error(log_path)}); see {log_path}")
        if _port_in_use(spec.gcs_port, spec.host) and "--block" in log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    stop_head(pid)
    raise RayStartError(f"site {spec.site}: Ray head not up after {timeout_s:.0f} s; see {log_path}")


#: What ``ray start`` says when its raylet missed Ray's fixed 30 s to register (a starved machine).
RAY_STARTUP_TIMEOUT = "timed out during startup"


def wait_port_free(port: int, host: str, timeout_s: float) -> None:
    """Wait until nothing listens on ``host:port`` any more (a stopped head's GCS letting go)."""
    deadline = time.monotonic() + timeout_s
    while _port_in_use(port, host) and time.monotonic() < deadline:
        time.sleep(0.1)


def _last_error(log_path: Path) -> str:
    """The last line of ``ray start``'s output that looks like a reason (the whole log is long)."""
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if any(w in line.lower() for w in ("error", "failed", "in use", "exception", "refused")):
            return line[:300]
    return lines[-1][:300] if lines else "empty log"


def stop_head(pid: int, timeout_s: float = 5.0) -> None:
    """Stop the head whose ``ray start --block`` parent is ``pid`` and every process below it."""
    if not procs.alive(pid):
        return
    below = procs.descendants(pid)
    raylet = {p for p in below if "raylet/raylet" in procs.cmdline(p)}
    gcs = {p for p in below if "gcs_server" in procs.cmdline(p)}
    procs.signal_quietly(pid, signal.SIGSTOP)  # the parent would otherwise react to its children exiting
    procs.terminate(raylet, timeout_s)
    procs.terminate(procs.descendants(pid) - gcs, timeout_s)
    procs.terminate(gcs, timeout_s)
    procs.kill([pid])
    procs.signal_quietly(pid, signal.SIGCONT)
    procs.wait_gone([pid], timeout_s)


def kill_head(pid: int) -> None:
    """SIGKILL the head and everything below it at once: a site dying without warning."""
    procs.kill([pid, *procs.descendants(pid)])


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0
