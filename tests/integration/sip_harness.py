"""Helpers for the SIP integration tests and bench/sip.py: a media gateway in this process with its
SIP listener on a free loopback port, and SIPp runs (Debian's sip-tester) against it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.actors.media_gateway import MediaGateway
from vcc.config import compile_center, load_config_text
from vcc.config.trunks import SipConfig
from vcc.core.model import CenterSpec

ROOT = Path(__file__).resolve().parents[2]
SIPP_DIR = ROOT / "tests" / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
DIALED = "+15555550000"


def center() -> CenterSpec:
    text = (ROOT / "cluster" / "dev.yaml").read_text()
    text = text.replace('      weekly:\n        mon-fri: "07:00-23:00"\n        sat,sun: "09:00-17:00"\n',
                        "      weekly: {}\n")  # fmt: skip  (open all week: the test must not depend on the hour)
    return compile_center(load_config_text(text, "dev.yaml (always open)"))


def free_port(kind: int = socket.SOCK_DGRAM, pair: bool = False) -> int:
    """A port free for UDP and TCP (and port+1/port+2 when ``pair``: SIPp's media uses them)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if pair and port % 2:
            continue
        try:
            for p in range(port, port + (4 if pair else 1)):
                for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, k) as t:
                        t.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port


def sip_config(**overrides: Any) -> SipConfig:
    base: dict[str, Any] = {"trunks": [{"id": "loopback", "allow": ["127.0.0.0/8"]}]}
    base.update(overrides)
    return SipConfig.model_validate(base)


async def start_gateway(tmp: Path, config: SipConfig | None = None, env: dict[str, str] | None = None,
                        index: int = 0) -> MediaGateway:  # fmt: skip
    gw = MediaGateway("s1", index, center(), run_dir=str(tmp))
    if env:
        os.environ.update(env)
    await gw.start_sip(config or sip_config(), "127.0.0.1", 0, "127.0.0.1")
    return gw


@dataclass
class SippRun:
    returncode: int
    stdout: str
    stderr: str
    stats: str

    def explain(self) -> str:
        return f"sipp exit {self.returncode}\n{self.stderr[-3000:]}\n{self.stdout[-2000:]}\n{self.stats[-1500:]}"


async def run_sipp(tmp: Path, scenario: str, port: int, *, calls: int = 1, rate: float = 1.0, limit: int | None = None,
                   transport: str = "u1", fields: list[str] | None = None, extra: list[str] | None = None,
                   timeout_s: float = 60.0, uas: bool = False) -> SippRun:  # fmt: skip
    """Run SIPp with a scenario of tests/sipp (or a built-in one such as ``uac``) against 127.0.0.1:port."""
    name = Path(scenario).stem
    csv = tmp / f"{name}.csv"
    csv.write_text("SEQUENTIAL\n" + ";".join(fields or [DIALED, "3000", "3000"]) + ";\n")
    local = free_port()
    media = free_port(pair=True)
    scen = ["-sf", str(SIPP_DIR / scenario)] if scenario.endswith(".xml") else ["-sn", scenario]
    args = [SIPP, *([] if uas else [f"127.0.0.1:{port}"]), *scen, "-i", "127.0.0.1", "-p", str(local),
            "-mi", "127.0.0.1", "-mp", str(media), "-t", transport, "-m", str(calls), "-r", str(rate),
            "-l", str(limit or calls), "-inf", str(csv), "-nostdin", "-bg" if False else "-trace_err",
            "-error_file", str(tmp / f"{name}_errors.log"), "-trace_stat", "-stf", str(tmp / f"{name}_stat.csv"),
            "-timeout", f"{int(timeout_s)}s", "-timeout_error", "-max_recv_loops", "10000", *(extra or [])]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                cwd=tmp, start_new_session=True)  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s + 15)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = await proc.communicate()
    except BaseException:  # the test gave up on this call (cancelled): SIPp goes with it
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())
        raise
    errors = tmp / f"{name}_errors.log"
    stat = tmp / f"{name}_stat.csv"
    return SippRun(proc.returncode if proc.returncode is not None else -1, out.decode(errors="replace"),
                   err.decode(errors="replace") + (errors.read_text(errors="replace") if errors.exists() else ""),
                   stat.read_text(errors="replace") if stat.exists() else "")  # fmt: skip


#: Port blocks the other tests and benches use at fixed places (cluster_files.py, test_bench_smoke.py ...).
TAKEN_BLOCKS = ((21000, 23500), (24500, 25500), (26000, 28500), (30000, 30500))


def free_port_block(span: int = 500, count: int = 1) -> int:
    """A ``port_base`` for ``count`` sites (``port_base + 1000 * i``) whose blocks of ``span`` ports
    are free for TCP and UDP now, outside the fixed blocks of other tests and below the ephemeral range."""
    import random

    candidates = list(range(10_000, 20_000, 500))
    random.shuffle(candidates)  # several engineers' tests at once: do not all try the same block first
    for base in candidates:
        ranges = [(base + 1000 * i, base + 1000 * i + span) for i in range(count)]
        if any(lo < t_hi and t_lo < hi for lo, hi in ranges for t_lo, t_hi in TAKEN_BLOCKS):
            continue
        try:
            for lo, hi in ranges:
                for p in range(lo, hi):
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        with socket.socket(socket.AF_INET, kind) as s:
                            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports for a test site")
