"""WebRTC bench: N concurrent bridged calls through a media gateway, beside direct peer-to-peer calls.

A gateway (:class:`vcc.actors.media_gateway.MediaGateway`, recording on, as in production) runs in
a child process behind a small JSON-lines control socket on loopback. The calls' aiortc peers (a
caller and an agent per call) run in client worker processes (``bench/webrtc_peers.py``; one per 5
calls, at most 4, or ``--client-procs``), so the clients do not share one event loop and their CPU
is counted apart from the gateway's. Each peer sends silence with a 60 ms 1 kHz burst once a second
(the caller at :00, the agent at :50) so the far side can time-stamp the onset; both peers of a call
live in the same worker, and ``time.monotonic()`` is one clock for every process. For each N:

* **inter-arrival p99** of the 20 ms packets every peer receives (timed as they come out of SRTP,
  before the client's jitter buffer; ``--client-decodes``: the frames aiortc's decoder hands out),
  and **gaps** (an inter-arrival over 60 ms: at least two frames missing);
* **one-way latency** (burst sent -> burst heard) through the gateway, and the same measured on N
  direct caller<->agent calls (no gateway) in the same run: what the gateway adds is, at p50, the
  difference of the medians and, at p99, the gateway path's p99 less the direct median (all of the
  tail is charged to the gateway: with ~55 bursts a step, a p99 is about the largest one, and a
  difference of two p99s is mostly the noise of two single bursts);
* **CPU of the gateway process** (``/proc/<pid>/stat``) over the window, per call, and apart from it
  the CPU of the client workers together;
* beside them, as diagnostics: the frames each peer *sent* a second (``client_send_fps``: 50 when
  the clients keep up; when they do not, the step's gaps and latencies are the clients'), the
  gateway's relay counters (``gw_fillers``: silence sent because nothing came within a frame time;
  ``gw_dropped``: frames dropped from a full relay queue) and the 1-minute load average.

``--compare-decode`` runs each N also through a second gateway with payload passthrough off (every
frame decoded and re-encoded, as before passthrough), in the same run, for the CPU ratio.
``VCC_BENCH_PROFILE=FILE`` writes a cProfile of each gateway process to ``FILE.<path>``
(``FILE.gateway``, ``FILE.gw-queued``, ...).

    .venv/bin/python bench/webrtc.py [--calls 5,10,20,30] [--seconds 6] [--codec opus|PCMU] [--compare-decode] [--json]

Runs every N (a failing one does not stop the run) and prints the highest N with p99 < 40 ms and no
gaps, the gateway's CPU per call at each N and the calls per core it gives, and the latency the
gateway adds. Targets: >= 25 bridged calls per core; added one-way latency p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webrtc_peers import (  # noqa: F401 - BurstPeer, interarrival_stats: bench/webrtc_queue.py's
    GAP_MS,
    BurstPeer,
    GatewayClient,
    interarrival_stats,
)

TARGET_CALLS_PER_CORE = 25
TARGET_ADDED_LATENCY_P99_MS = 20.0
MAX_P99_MS = 40.0
PACKETS_PER_CALL_S = 100  # 20 ms packets, caller -> agent and agent -> caller
KEPT_UP_PCT = 95.0  # the gateway handled at least this share of the packets offered: it was not starved
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the gateway process -------------------------------------------------------------------------


async def serve(run_dir: str, codec: str, decode_all: bool, before: bool = False) -> None:
    from aiortc import clock

    from vcc.actors.media_gateway import MediaGateway
    from vcc.config.media import MediaConfig
    from vcc.media.call import Call
    from vcc.media.encoders import LONG_LIVED
    from vcc.media.legs import Leg, OutboundTrack
    from vcc.media.passthrough import PayloadDecoder
    from vcc.media.rtp_out import AIORTC_NTP_TIME

    if before:  # passthrough as it was before this round: inbound RTP through aioice's queue and the
        # DTLS task, forwarded payloads through the outbound track's queue and aiortc's sender task,
        # the recording's Opus decoded by FFmpeg, aiortc's clock
        OutboundTrack.direct = False
        Leg.receive_at_once = False
        PayloadDecoder.use_libopus = False
        clock.current_ntp_time = AIORTC_NTP_TIME

    # the old path as a baseline: decode and re-encode every frame, and encode music per caller
    Call.passthrough = not decode_all
    LONG_LIVED.enabled = not decode_all

    gw = MediaGateway("bench", 0, None, MediaConfig(codecs=[codec]), run_dir=run_dir)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                req = json.loads(line)
                try:
                    result = await getattr(gw, req["op"])(*req["args"])
                    writer.write(json.dumps({"ok": result}).encode() + b"\n")
                except Exception as exc:
                    writer.write(json.dumps({"error": str(exc)}).encode() + b"\n")
                await writer.drain()
        except (asyncio.CancelledError, ConnectionError):
            pass  # the bench went away, or this process is stopping

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    profile = None
    if os.environ.get("VCC_BENCH_PROFILE"):  # where the gateway's time goes: cProfile to this file
        import cProfile

        profile = cProfile.Profile(time.process_time)  # CPU time: on a shared machine, wall time counts preemption
        profile.enable()
    async with server:
        await stop.wait()
    if profile is not None:
        profile.disable()
        profile.dump_stats(f"{os.environ['VCC_BENCH_PROFILE']}.{Path(run_dir).name}")  # FILE.gateway, ...
    await gw.close()


def cpu_s(pid: int) -> float:
    return sum(cpu_user_sys_s(pid))


def cpu_user_sys_s(pid: int) -> tuple[float, float]:
    """CPU seconds a process has used in user space and in the kernel (syscalls: socket I/O, epoll)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


class ClientWorkers:
    """K client worker processes (``bench/webrtc_peers.py``), each running a share of a step's calls."""

    def __init__(self, k: int) -> None:
        script = str(Path(__file__).resolve().parent / "webrtc_peers.py")
        self.procs = [asyncio.create_subprocess_exec(sys.executable, script, stdin=subprocess.PIPE,
                                                     stdout=subprocess.PIPE) for _ in range(k)]  # fmt: skip
        self.started: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        for coro in self.procs:
            proc = await coro
            self.started.append(proc)
            WORKER_PIDS.add(proc.pid)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.started]

    async def ask(self, proc: asyncio.subprocess.Process, req: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(req).encode() + b"\n")
        await proc.stdin.drain()
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError(f"client worker {proc.pid} exited")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"client worker {proc.pid}: {reply['error']}")
        return reply

    async def all(self, reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.ask(p, r) for p, r in zip(self.started, reqs, strict=True))))

    async def stop(self) -> None:
        for proc in self.started:
            if proc.stdin is not None and proc.returncode is None:
                with contextlib.suppress(ConnectionError):
                    proc.stdin.write(b'{"op": "quit"}\n')
                    proc.stdin.close()
        for proc in self.started:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            WORKER_PIDS.discard(proc.pid)


WORKER_PIDS: set[int] = set()  # client workers not yet stopped: killed at exit if a run is interrupted


def kill_workers_left() -> None:
    for pid in list(WORKER_PIDS):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        WORKER_PIDS.discard(pid)


async def inbound_packets(gw: GatewayClient) -> dict[str, int]:
    """Per leg, the audio packets it has received so far (forwarded as payloads, or decoded)."""
    counts = {}
    for call in await gw.call("calls"):
        legs = {"caller": call["caller"]} | {f"agent {a}": leg for a, leg in call["agent_legs"].items()}
        for name, leg in legs.items():
            counts[f"{call['contact_id']} {name}"] = leg.get("frames_forwarded", 0) + leg.get("frames_in", 0)
    return counts


def packets_between(before: dict[str, int], after: dict[str, int]) -> int:
    """Packets received in between by the legs live at both ends (a leg that ended is left out)."""
    return sum(after[leg] - before[leg] for leg in after.keys() & before.keys())


def workers_for(n: int, client_procs: int) -> int:
    """Client processes for N calls: as asked, else one per 5 calls, at most 4 (and never more than N)."""
    return max(1, min(n, client_procs if client_procs > 0 else min(4, -(-n // 5))))


async def run_step(n: int, seconds: float, codec: str, gw: GatewayClient | None, gw_port: int | None,
                   gw_pid: int | None, tag: str, client_procs: int, encode_each_frame: bool = False,
                   decode_frames: bool = False) -> dict[str, Any]:  # fmt: skip
    k = workers_for(n, client_procs)
    workers = ClientWorkers(k)
    await workers.start()
    ids = [f"{tag}-{n}-{i}" for i in range(n)]
    try:
        await workers.all([{"op": "setup", "ids": ids[w::k], "codec": codec, "port": gw_port,
                            "encode_each_frame": encode_each_frame, "decode_frames": decode_frames}
                           for w in range(k)])  # fmt: skip
        await asyncio.sleep(1.5)  # let jitter buffers settle
        load0 = os.getloadavg()[0]
        in0 = await inbound_packets(gw) if gw is not None else {}
        t0 = time.monotonic()
        user0, sys0 = cpu_user_sys_s(gw_pid) if gw_pid else (0.0, 0.0)
        cpu0 = user0 + sys0
        cli0 = sum(cpu_s(pid) for pid in workers.pids)
        await asyncio.sleep(seconds)
        t1 = time.monotonic()
        user1, sys1 = cpu_user_sys_s(gw_pid) if gw_pid else (0.0, 0.0)
        cpu1 = user1 + sys1
        cli1 = sum(cpu_s(pid) for pid in workers.pids)
        in1 = await inbound_packets(gw) if gw is not None else {}
        await asyncio.sleep(0.6)  # bursts sent near t1 arrive
        parts = await workers.all([{"op": "measure", "t0": t0, "t1": t1}] * k)
        relay = {"fillers": 0, "frames_dropped": 0}  # the gateway's relay queues over the whole step
        if gw is not None:
            for call in await gw.call("calls"):
                for leg in [call["caller"], *call["agent_legs"].values()]:
                    for key in relay:
                        relay[key] += leg.get(key, 0)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(workers.all([{"op": "teardown"}] * k), 60)
        await workers.stop()
    packets = packets_between(in0, in1)
    deltas = np.array([x for part in parts for x in part["deltas"]] or [1e9])
    gaps = sum(part["silent"] for part in parts) + int(np.sum(deltas > GAP_MS))
    lat = [x for part in parts for x in part["latencies"]]
    peers = sum(part["peers"] for part in parts)
    return {
        "path": tag, "calls": n, "interarrival_p99_ms": round(float(np.percentile(deltas, 99)), 1), "gaps": gaps,
        "frames": len(deltas),
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
        "latency_p99_ms": round(float(np.percentile(lat, 99)), 1) if lat else None, "bursts": len(lat),
        "gateway_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 1) if gw_pid else None,
        # the gateway's CPU per packet it received (and relayed): what a call costs it whether or not
        # the clients kept up their 50 packets a second each way
        "gw_kernel_share_pct": round(100 * (sys1 - sys0) / (cpu1 - cpu0), 1) if cpu1 > cpu0 else None,
        "gw_packets": packets,
        # of the packets the clients offered it in the window (N x 100 a second): below ~95 % the
        # gateway did not get the CPU to keep up (a starved process, not a slow path)
        "gw_kept_up_pct": round(100 * packets / (n * PACKETS_PER_CALL_S * (t1 - t0)), 1) if gw else None,
        "gw_legs_lost": len(in0.keys() - in1.keys()),  # legs that ended within the window (should be 0)
        "gw_us_per_packet": round(1e6 * (cpu1 - cpu0) / packets, 1) if gw_pid and packets > 0 else None,
        # the client worker processes together (their CPU is not the gateway's)
        "client_cpu_pct": round(100 * (cli1 - cli0) / (t1 - t0), 1), "client_procs": k,
        # frames each peer sent a second (50 on time): below ~48 the clients, not the gateway,
        # fell behind, and the gaps and latencies of the step are the clients'
        "client_send_fps": round(sum(part["sent"] for part in parts) / peers / (t1 - t0), 1),
        "gw_fillers": relay["fillers"] if gw is not None else None,
        "gw_dropped": relay["frames_dropped"] if gw is not None else None,
        "load_1m": round(load0, 1),
    }  # fmt: skip


async def bench(steps: list[int], seconds: float, codec: str, gateways: dict[str, tuple[int, int]],
                client_procs: int = 0, encode_each_frame: bool = False,
                decode_frames: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """For each N: direct calls, then the same N through each gateway (tag -> (port, pid))."""
    rows: list[dict[str, Any]] = []
    clients = {tag: await GatewayClient.connect(port) for tag, (port, _) in gateways.items()}
    opts = {"client_procs": client_procs, "encode_each_frame": encode_each_frame, "decode_frames": decode_frames}
    for n in steps:
        paths: list[tuple[str, GatewayClient | None, int | None, int | None]] = [("direct", None, None, None)]
        paths += [(tag, clients[tag], port, pid) for tag, (port, pid) in gateways.items()]
        for tag, client, port, pid in paths:
            try:
                row = await run_step(n, seconds, codec, client, port, pid, tag, **opts)  # type: ignore[arg-type]
            except RuntimeError as exc:  # e.g. calls that never got audio on a starved machine: noted, not fatal
                print(json.dumps({"path": tag, "calls": n, "error": str(exc), "load_1m": os.getloadavg()[0]}),
                      flush=True)  # fmt: skip
                continue
            rows.append(row)
            print(json.dumps(row), flush=True)
    for c in clients.values():
        c.writer.close()
    return rows


@contextlib.contextmanager
def gateway_processes(modes: dict[str, list[str]], codec: str) -> Iterator[dict[str, tuple[int, int]]]:
    """One gateway process per mode (``tag -> extra argv``), each serving from its own run dir:
    yields ``tag -> (port, pid)``; stops them all (SIGTERM, then SIGKILL) and removes the run dirs."""
    procs: dict[str, subprocess.Popen[str]] = {}
    run_dir = tempfile.mkdtemp(prefix="vcc-bench-webrtc-")
    try:
        gateways = {}
        for tag, extra in modes.items():
            argv = [sys.executable, str(Path(__file__).resolve()), "--serve", os.path.join(run_dir, tag),
                    "--codec", codec, *extra]  # fmt: skip
            proc = procs[tag] = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            gateways[tag] = (int(proc.stdout.readline()), proc.pid)
        yield gateways
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)


def run_with_gateway(steps: list[int], seconds: float, codec: str, compare_decode: bool, client_procs: int = 0,
                     encode_each_frame: bool = False, decode_frames: bool = False,
                     compare_before: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    modes: dict[str, list[str]] = {"gateway": []} | ({"gw-before": ["--before"]} if compare_before else {})
    modes |= {"gw-decode": ["--decode-all"]} if compare_decode else {}
    with gateway_processes(modes, codec) as gateways:
        try:
            return asyncio.run(bench(steps, seconds, codec, gateways, client_procs, encode_each_frame, decode_frames))
        finally:
            kill_workers_left()


def report(rows: list[dict[str, Any]], codec: str) -> dict[str, Any]:
    via = [r for r in rows if r["path"] == "gateway"]
    direct = {r["calls"]: r for r in rows if r["path"] == "direct"}
    ok = [r for r in via if r["interarrival_p99_ms"] < MAX_P99_MS and not r["gaps"]]
    best = max(ok, key=lambda r: r["calls"]) if ok else None
    summary: dict[str, Any] = {"codec": codec, "highest_ok_calls": best["calls"] if best else 0}
    # the gateway's CPU per call at each N, on time or not (its own process: the clients are apart)
    # (only where the gateway kept up: a starved gateway handles fewer packets and looks cheaper per call)
    per_call = {r["calls"]: r["gateway_cpu_pct"] / r["calls"] for r in via
                if r["gateway_cpu_pct"] is not None and (r.get("gw_kept_up_pct") or 0) >= KEPT_UP_PCT}  # fmt: skip
    us_per_packet = {r["calls"]: r["gw_us_per_packet"] for r in via if r.get("gw_us_per_packet")}
    if us_per_packet:  # a bridged call: 50 packets a second each way through the gateway
        summary |= {
            "gw_us_per_packet_by_n": us_per_packet,
            "calls_per_core_by_packet_cost": {n: round(1e6 / (us * PACKETS_PER_CALL_S), 1)
                                              for n, us in us_per_packet.items()},
        }  # fmt: skip
    if per_call:
        top = max(per_call)
        summary |= {
            "gateway_cpu_pct_per_call_by_n": {n: round(v, 2) for n, v in per_call.items()},
            "calls_per_core_by_gateway_cpu_at_top_n": round(100 / per_call[top], 1) if per_call[top] > 0 else None,
            "top_n": top,
        }  # fmt: skip
    added = {}
    for r in via:
        d = direct.get(r["calls"])
        if d and r["latency_p99_ms"] is not None and d["latency_p99_ms"] is not None:
            # p99 through the gateway over a direct call's median: the whole of the gateway path's tail
            # counts as added. (A difference of the two p99s, each ~the largest of ~55 bursts, went
            # negative whenever one direct burst was late: -11.1 ms in one run.)
            added[r["calls"]] = (round(r["latency_p50_ms"] - d["latency_p50_ms"], 1),
                                 round(r["latency_p99_ms"] - d["latency_p50_ms"], 1))  # fmt: skip
    if added:
        summary["added_latency_p50_p99_ms_by_n"] = added
    if best:
        per_call_pct = best["gateway_cpu_pct"] / best["calls"]
        base = direct.get(best["calls"], {})
        summary |= {
            "gateway_cpu_pct_per_call": round(per_call_pct, 2),
            "calls_per_core_by_gateway_cpu": round(100 / per_call_pct, 1) if per_call_pct > 0 else None,
            "latency_p99_ms_gateway": best["latency_p99_ms"], "latency_p99_ms_direct": base.get("latency_p99_ms"),
        }  # fmt: skip
    decode = {r["calls"]: r for r in rows if r["path"] == "gw-decode"}
    cpu_ratio = [round(r["gateway_cpu_pct"] / d["gateway_cpu_pct"], 2) for r in via
                 if (d := decode.get(r["calls"])) and r["gateway_cpu_pct"] and d["gateway_cpu_pct"]]  # fmt: skip
    if cpu_ratio:
        summary["cpu_vs_decode_all"] = cpu_ratio  # per N: passthrough gateway CPU / decode-all gateway CPU
    before = {r["calls"]: r for r in rows if r["path"] == "gw-before"}
    us_ratio = [round(r["gw_us_per_packet"] / d["gw_us_per_packet"], 2) for r in via
                if (d := before.get(r["calls"])) and r["gw_us_per_packet"] and d["gw_us_per_packet"]]  # fmt: skip
    if us_ratio:
        summary["us_per_packet_vs_before"] = us_ratio  # per N: this gateway / passthrough before direct sends
    decode_us = [round(r["gw_us_per_packet"] / d["gw_us_per_packet"], 2) for r in via
                 if (d := decode.get(r["calls"])) and r["gw_us_per_packet"] and d["gw_us_per_packet"]]  # fmt: skip
    if decode_us:
        summary["us_per_packet_vs_decode_all"] = decode_us
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="5,10,20,30", help="comma-separated N to try, in order")
    ap.add_argument("--seconds", type=float, default=6.0, help="measurement window per N")
    ap.add_argument("--codec", default="opus", choices=["opus", "PCMU"])
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--compare-decode",
        action="store_true",
        help="also run each N through a second gateway that decodes and re-encodes every frame "
        "(no payload passthrough): the gain of passthrough, measured in the same run",
    )
    ap.add_argument(
        "--compare-before",
        action="store_true",
        help="also run each N through a gateway with passthrough as it was before direct sends (row gw-before: "
        "inbound RTP through aioice's queue, forwarded payloads through the outbound track's queue and aiortc's "
        "sender task, the recording's Opus "
        "decoded by FFmpeg, aiortc's NTP clock), in the same run",
    )
    ap.add_argument(
        "--client-procs", type=int, default=0, help="client worker processes per step (0: one per 5 calls, at most 4)"
    )
    ap.add_argument(
        "--client-encodes",
        action="store_true",
        help="the aiortc client peers encode every frame (as the first runs did) instead of "
        "sending payloads encoded once",
    )
    ap.add_argument(
        "--client-decodes",
        action="store_true",
        help="the client peers time the frames aiortc's jitter buffer and decoder hand out (as the "
        "first runs did) instead of the packets as they arrive",
    )
    ap.add_argument("--serve", metavar="RUN_DIR", help=argparse.SUPPRESS)
    ap.add_argument("--decode-all", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--before", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.codec, args.decode_all, args.before))
        return
    steps = [int(x) for x in args.calls.split(",") if x.strip()]
    if not steps or min(steps) < 1 or args.seconds <= 1 or args.client_procs < 0:
        ap.error("--calls needs numbers >= 1, --seconds more than 1, --client-procs 0 or more")
    rows = run_with_gateway(steps, args.seconds, args.codec, args.compare_decode, args.client_procs,
                            args.client_encodes, args.client_decodes, args.compare_before)  # fmt: skip
    summary = report(rows, args.codec)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}))
        return
    head = ("path", "N", "p99 ia ms", "gaps", "lat p50", "lat p99", "gw cpu%", "us/pkt", "gw kept%", "cli cpu%",
            "procs", "cli fps", "load")  # fmt: skip
    print("\n{:9} {:>4} {:>9} {:>5} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8} {:>5} {:>8} {:>5}".format(*head))
    for r in rows:
        print(
            f"{r['path']:9} {r['calls']:>4} {r['interarrival_p99_ms']:>9} {r['gaps']:>5} {r['latency_p50_ms']!s:>8} "
            f"{r['latency_p99_ms']!s:>8} {r['gateway_cpu_pct']!s:>8} {r['gw_us_per_packet']!s:>7} "
            f"{r['gw_kept_up_pct']!s:>8} {r['client_cpu_pct']!s:>8} {r['client_procs']:>5} {r['client_send_fps']!s:>8} "
            f"{r['load_1m']:>5}"
        )
    print(f"\ncodec {args.codec}: highest N with p99 < {MAX_P99_MS:.0f} ms and no gaps: {summary['highest_ok_calls']}")
    if "top_n" in summary:
        print(
            f"gateway CPU per bridged call by N where it kept up (% of a core): "
            f"{summary['gateway_cpu_pct_per_call_by_n']} -> "
            f"{summary['calls_per_core_by_gateway_cpu_at_top_n']} calls per core at N = {summary['top_n']} "
            f"(target >= {TARGET_CALLS_PER_CORE})"
        )
    if "gw_us_per_packet_by_n" in summary:
        print(
            f"gateway CPU per packet received (us) by N: {summary['gw_us_per_packet_by_n']} -> calls per core at "
            f"{PACKETS_PER_CALL_S} packets/s a call: {summary['calls_per_core_by_packet_cost']}"
        )
    if "added_latency_p50_p99_ms_by_n" in summary:
        print(
            f"one-way latency the gateway adds over direct calls in the same run, (p50, p99) ms by N: "
            f"{summary['added_latency_p50_p99_ms_by_n']} (target p99 < {TARGET_ADDED_LATENCY_P99_MS:.0f})"
        )
    if "gateway_cpu_pct_per_call" in summary:
        print(
            f"at the highest on-time N: {summary['gateway_cpu_pct_per_call']} % of a core per call -> "
            f"{summary['calls_per_core_by_gateway_cpu']} calls per core; latency p99 "
            f"{summary['latency_p99_ms_gateway']} ms via the gateway, {summary['latency_p99_ms_direct']} ms direct"
        )
    if "cpu_vs_decode_all" in summary:
        print(
            f"gateway CPU with payload passthrough / decoding every frame (same N, same run): "
            f"{summary['cpu_vs_decode_all']}"
        )
    for key, what in (("us_per_packet_vs_before", "passthrough before direct sends (gw-before)"),
                      ("us_per_packet_vs_decode_all", "decoding every frame (gw-decode)")):  # fmt: skip
        if key in summary:
            print(f"gateway CPU per packet / {what}, same N, same run: {summary[key]}")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(verdict(summary))


def verdict(summary: dict[str, Any]) -> str:
    """The target line: at the highest N on time (p99 < 40 ms, no gaps), calls per core by the
    gateway's CPU >= 25 and the latency it adds over direct calls at p99 < 20 ms."""
    n = summary["highest_ok_calls"]
    per_core = summary.get("calls_per_core_by_gateway_cpu")
    added = summary.get("added_latency_p50_p99_ms_by_n", {}).get(n)
    met = bool(n) and per_core is not None and per_core >= TARGET_CALLS_PER_CORE and added is not None \
        and added[1] < TARGET_ADDED_LATENCY_P99_MS
    return (f"target  >= {TARGET_CALLS_PER_CORE} bridged calls per core on time, added latency p99 < "
            f"{TARGET_ADDED_LATENCY_P99_MS:.0f} ms -> {'met' if met else 'NOT met'} (highest on-time N {n}: "
            f"{per_core} calls per core by gateway CPU, added latency p50/p99 {added} ms over direct calls)")


if __name__ == "__main__":
    main()
