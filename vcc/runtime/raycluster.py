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
class RayPorts:
    gcs: int
    client_server: int
    node_manager: int
    object_manager: int
    dashboard: int
    dashboard_agent_listen: int
    dashboard_agent_grpc: int
    runtime_env_agent: int
    metrics_export: int
    min_worker: int
    max_worker: int

    @classmethod
    def from_base(cls, base: int, workers: int = 100) -> RayPorts:
        """Consecutive ports from ``base``; worker ports from ``base + 20``."""
        return cls(base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7, base + 8,
                   base + 20, base + 20 + workers - 1)

    def all(self) -> list[int]:
        fixed = [self.gcs, self.client_server, self.node_manager, self.object_manager, self.dashboard,
                 self.dashboard_agent_listen, self.dashboard_agent_grpc, self.runtime_env_agent,
                 self.metrics_export]
        return fixed + list(range(self.min_worker, self.max_worker + 1))


@dataclass(frozen=True, slots=True)
class RayHeadSpec:
    site: str
    ports: RayPorts
    temp_dir: Path
    token_path: Path
    num_cpus: int = 2
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.ports.gcs}"


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
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path), RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    return env


def head_argv(spec: RayHeadSpec, ray_bin: str) -> list[str]:
    p = spec.ports
    return [
        ray_bin, "start", "--head", "--block", "--disable-usage-stats",
        f"--port={p.gcs}", f"--ray-client-server-port={p.client_server}",
        f"--node-manager-port={p.node_manager}", f"--object-manager-port={p.object_manager}",
        f"--dashboard-port={p.dashboard}", f"--dashboard-agent-listen-port={p.dashboard_agent_listen}",
        f"--dashboard-agent-grpc-port={p.dashboard_agent_grpc}",
        f"--runtime-env-agent-port={p.runtime_env_agent}", f"--metrics-export-port={p.metrics_export}",
        f"--min-worker-port={p.min_worker}", f"--max-worker-port={p.max_worker}",
        f"--temp-dir={spec.temp_dir}", "--include-dashboard=false", f"--num-cpus={spec.num_cpus}",
        f"--resources={{\"site_{spec.site}\": 1000}}",
    ]


def start_head(spec: RayHeadSpec, log_path: Path, ray_bin: str) -> int:
    """Spawn the site's Ray head; returns the PID of its ``ray start --block`` parent at once. Call
    :func:`wait_head` before using it (several sites' heads start faster in parallel)."""
    busy = [port for port in spec.ports.all()[:9] if _port_in_use(port)]
    if busy:
        raise RayStartError(f"site {spec.site}: ports already in use: {busy}")
    ensure_token(spec.token_path)
    spec.temp_dir.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    return procs.spawn(head_argv(spec, ray_bin), log_path, env=ray_env(spec.token_path))


def wait_head(spec: RayHeadSpec, pid: int, log_path: Path, timeout_s: float = 90.0) -> None:
    """Return once the head's GCS accepts connections and ``ray start`` reports it is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            raise RayStartError(f"site {spec.site}: ray start exited; see {log_path}")
        if _port_in_use(spec.ports.gcs) and "--block" in log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    stop_head(pid)
    raise RayStartError(f"site {spec.site}: Ray head not up after {timeout_s:.0f} s; see {log_path}")


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
