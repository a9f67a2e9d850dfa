"""``vcc dashboard``: serve the Streamlit dashboards (``dashboards/app.py``) for a cluster file.

In the foreground by default (Ctrl-C stops it). ``--background`` starts the server detached, records
its PID in ``<run dir>/dashboard.pid``, waits until it answers its health check and returns;
``--stop`` stops the recorded server (by that PID only).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import typer

from vcc.config.compile import compile_center
from vcc.config.loader import load_config
from vcc.dashboards import ENV_CONFIG, ENV_RUN_DIR
from vcc.errors import VccError
from vcc.runtime import launcher

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PID_FILE = "dashboard.pid"
START_TIMEOUT_S = 30.0


class DashboardError(VccError):
    """The dashboard server could not be started or stopped."""


def streamlit_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true", "--server.address", host, "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = START_TIMEOUT_S) -> None:
    """Return once ``url``/_stcore/health answers ok; raise if the server exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DashboardError(f"the dashboard server exited with code {proc.returncode} before serving")
        with contextlib.suppress(urllib.error.URLError, OSError), \
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1.0) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise DashboardError(f"the dashboard server did not answer at {url} within {timeout_s:.0f} s")


def _recorded_pid(pid_file: Path) -> int | None:
    """The recorded server's PID if that process still runs (a stale file is removed)."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def _stop(pid_file: Path) -> None:
    if not pid_file.exists():
        typer.echo(f"no dashboard server recorded in {pid_file}")
        return
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        pid_file.unlink()
        raise DashboardError(f"{pid_file} does not hold a process id; removed it") from None
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)
    typer.echo(f"stopped the dashboard server (pid {pid})")


def dashboard(
    config_path: Path = typer.Argument(Path("cluster/three-sites.yaml"), help="Cluster file (YAML)."),
    port: int | None = typer.Option(None, "--port", min=1024, max=65535,
                                    help="HTTP port (default: dashboards.port of the file)."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="The cluster's run dir (default var/run/<cluster>)."),
    background: bool = typer.Option(False, "--background", help="Start detached, wait until serving, return."),
    stop: bool = typer.Option(False, "--stop", help="Stop the server `--background` started."),
) -> None:
    """Serve the dashboards: live wallboard, history, staffing, tenants and billing, sites."""
    config = load_config(config_path)
    compile_center(config)
    rd = run_dir or launcher.default_run_dir(config)
    pid_file = rd / PID_FILE
    if stop:
        _stop(pid_file)
        return
    host = config.dashboards.host
    port = port or config.dashboards.port
    running = _recorded_pid(pid_file)
    if background and running is not None:
        typer.echo(f"the dashboard server already runs (pid {running}; stop: vcc dashboard --stop {config_path})")
        return
    if not _port_free(host, port):
        raise DashboardError(f"port {port} on {host} is in use: pick another with --port or dashboards.port")
    env = {**os.environ, ENV_CONFIG: str(config_path.resolve()), ENV_RUN_DIR: str(rd.resolve())}
    url = f"http://{host}:{port}"
    if not config.dashboards.users:
        typer.echo(f"warning: {config_path} has no dashboards.users: nobody can log in", err=True)
    if not background:
        typer.echo(f"vcc dashboards for {config.name!r} at {url} (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(streamlit_command(host, port), env=env, check=False)
        return
    rd.mkdir(parents=True, exist_ok=True)
    (rd / "logs").mkdir(exist_ok=True)
    with open(rd / "logs" / "dashboard.log", "ab") as log:
        proc = subprocess.Popen(streamlit_command(host, port), env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(f"{proc.pid}\n")
    try:
        wait_healthy(url, proc)
    except DashboardError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        pid_file.unlink(missing_ok=True)
        raise
    typer.echo(f"vcc dashboards for {config.name!r} at {url} (pid {proc.pid}; stop: vcc dashboard --stop "
               f"{config_path}; log {rd / 'logs' / 'dashboard.log'})")
