"""WebRTC bench: N concurrent bridged calls through a media gateway, beside direct peer-to-peer calls.

A gateway (:class:`vcc.actors.media_gateway.MediaGateway`, recording on, as in production) runs in
a child process behind a small JSON-lines control socket on loopback; this process runs, per call,
an aiortc caller peer and an aiortc agent peer. Each peer sends silence with a 60 ms 1 kHz burst
once a second (the caller at :00, the agent at :50), so the far side can time-stamp the onset: both
peers live in this process, so send and receive times come from the same clock. For each N:

* **inter-arrival p99** of received 20 ms frames at every peer, and **gaps** (an inter-arrival over
  60 ms: at least two frames missing);
* **one-way latency** (burst sent -> burst heard) through the gateway, and the same measured on N
  direct caller<->agent calls (no gateway) in the same run: the difference is what the gateway adds;
* **CPU of the gateway process** (``/proc/<pid>/stat``) over the window, per call;
* beside them, as diagnostics: the frames each peer *sent* a second (``client_send_fps``: 50 when
  this process keeps up; when it does not, the step's gaps and latencies are the client's), and the
  gateway's relay counters (``gw_fillers``: silence sent because nothing came within a frame time;
  ``gw_dropped``: frames dropped from a full relay queue).

``--compare-decode`` runs each N also through a second gateway with payload passthrough off (every
frame decoded and re-encoded, as before passthrough), in the same run, for the CPU ratio.

    .venv/bin/python bench/webrtc.py [--calls 5,10,20,30] [--seconds 6] [--codec opus|PCMU] [--compare-decode] [--json]

Prints the highest N with p99 < 40 ms and no gaps, and the calls per core the gateway's CPU per
call gives. Targets: >= 25 bridged calls per core; added one-way latency p99 < 20 ms.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc.mediastreams import MediaStreamError

from vcc.media.encoders import frame_encoder
from vcc.media.passthrough import EncodedAudio
from vcc.media.pcm import FRAME_SAMPLES, RATE_HZ, frames_of, tone
from vcc.media.peer import TonePeer

TARGET_CALLS_PER_CORE = 25
TARGET_ADDED_LATENCY_P99_MS = 20.0
MAX_P99_MS = 40.0
GAP_MS = 60.0
BURST_MS = 60
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the gateway process -------------------------------------------------------------------------


async def serve(run_dir: str, codec: str, decode_all: bool) -> None:
    from vcc.actors.media_gateway import MediaGateway
    from vcc.config.media import MediaConfig
    from vcc.media.call import Call
    from vcc.media.encoders import LONG_LIVED

    # the old path as a baseline: decode and re-encode every frame, and encode music per caller
    Call.passthrough = not decode_all
    LONG_LIVED.enabled = not decode_all

    gw = MediaGateway("bench", 0, None, MediaConfig(codecs=[codec]), run_dir=run_dir)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            req = json.loads(line)
            try:
                result = await getattr(gw, req["op"])(*req["args"])
                writer.write(json.dumps({"ok": result}).encode() + b"\n")
            except Exception as exc:
                writer.write(json.dumps({"error": str(exc)}).encode() + b"\n")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    profile = None
    if os.environ.get("VCC_BENCH_PROFILE"):  # where the gateway's time goes: cProfile to this file
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    async with server:
        await stop.wait()
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["VCC_BENCH_PROFILE"])
    await gw.close()


class GatewayClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.lock = reader, writer, asyncio.Lock()

    async def call(self, op: str, *args: Any) -> Any:
        async with self.lock:
            self.writer.write(json.dumps({"op": op, "args": list(args)}).encode() + b"\n")
            await self.writer.drain()
            reply = json.loads(await self.reader.readline())
        if "error" in reply:
            raise RuntimeError(f"gateway {op}: {reply['error']}")
        return reply["ok"]


# --- peers that time bursts ----------------------------------------------------------------------


class BurstPeer(TonePeer):
    """Silence with a 1 kHz burst every second at ``phase_s``; records burst send times and the
    onsets it hears, and the arrival time of every frame.

    By default the peer sends payloads encoded once (a silence payload, the burst's three frames)
    through aiortc's pack path, so it costs no encoder per frame: the clients of a run, not the
    gateway, were what fell behind at N >= 10 on a shared 2-core machine. ``encode_each_frame``
    makes it encode every frame with aiortc's encoder as before. Either way the direct baseline uses
    the same peers, and what is measured (decoded frames' arrival, burst onsets) is the same."""

    def __init__(self, phase_s: float, codec: str, encode_each_frame: bool = False) -> None:
        super().__init__(None, keep_s=1.0, codec=codec)
        self.phase_s = phase_s
        self.sent: list[float] = []
        self.onsets: list[float] = []
        self.keep_arrivals = True
        self._loud = False
        self._burst = tone((1000.0,), BURST_MS, RATE_HZ, -10.0)
        self._armed_at = 0.0
        original_recv = self.track.recv
        encoder = None if encode_each_frame else frame_encoder(codec.lower())
        burst_payloads = [encoder.encode(f) for f in frames_of(self._burst)] if encoder else []
        pending: list[bytes] = []
        track = self.track

        def arm(now: float) -> bool:
            if (not track.clips and not pending and now - self._armed_at >= 0.9
                    and self.phase_s <= (now % 1.0) < self.phase_s + 0.1):  # fmt: skip
                self._armed_at = now
                self.sent.append(now + FRAME_SAMPLES / RATE_HZ)  # goes out from the next frame
                return True
            return False

        async def recv() -> Any:
            if encoder is None:
                frame = await original_recv()
                if arm(time.monotonic()):
                    track.play(self._burst)
                return frame
            if track.readyState != "live":
                raise MediaStreamError
            loop = asyncio.get_running_loop()
            if track._start is None:
                track._start = loop.time()
            delay = track._start + track._n * FRAME_SAMPLES / RATE_HZ - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            n = track._n
            track._n += 1
            payload = pending.pop(0) if pending else encoder.silence
            if arm(time.monotonic()):
                pending.extend(burst_payloads)
            item = EncodedAudio(payload, FRAME_SAMPLES, encoder.clock_hz)
            item.stamp(n * FRAME_SAMPLES)
            return item

        self.track.recv = recv  # type: ignore[method-assign]

    async def _read(self, track: Any) -> None:
        from vcc.media.legs import to_mono48

        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                self.arrivals.append(now)
                pcm = to_mono48(frame)
                loud = float(np.abs(pcm.astype(np.int32)).max()) > 3000
                if loud and not self._loud:
                    self.onsets.append(now)
                self._loud = loud
        except MediaStreamError:
            pass


def latencies_ms(sent: list[float], heard: list[float], t0: float, t1: float) -> list[float]:
    """Match each burst sent in [t0, t1] with the first onset heard after it (within 0.5 s)."""
    out, j = [], 0
    heard = sorted(heard)
    for s in sorted(sent):
        if not t0 <= s <= t1:
            continue
        while j < len(heard) and heard[j] < s - 0.02:
            j += 1
        if j < len(heard) and heard[j] - s < 0.5:
            out.append((heard[j] - s) * 1000)
    return out


def interarrival_stats(peers: list[BurstPeer], t0: float, t1: float) -> tuple[float, int, int]:
    gaps, deltas = 0, []
    for p in peers:
        a = np.array([t for t in p.arrivals if t0 <= t <= t1])
        if len(a) < 2:
            gaps += 1
            continue
        d = np.diff(a) * 1000
        deltas.append(d)
        gaps += int(np.sum(d > GAP_MS))
    alld = np.concatenate(deltas) if deltas else np.array([1e9])
    return float(np.percentile(alld, 99)), gaps, len(alld)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def run_step(n: int, seconds: float, codec: str, gw: GatewayClient | None, gw_pid: int | None,
                   tag: str, encode_each_frame: bool = False) -> dict[str, Any]:  # fmt: skip
    callers = [BurstPeer(0.0, codec, encode_each_frame) for _ in range(n)]
    agents = [BurstPeer(0.5, codec, encode_each_frame) for _ in range(n)]
    ids = [f"{tag}-{n}-{i}" for i in range(n)]
    try:
        for cid, caller, agent in zip(ids, callers, agents, strict=True):
            if gw is not None:
                await caller.accept(await gw.call("caller_offer", cid, "bench", None, None, await caller.offer(),
                                                  "bench-queue"))  # fmt: skip
                await agent.accept(await gw.call("agent_offer", cid, "agent-" + cid, await agent.offer()))
            else:  # direct: the caller offers, the agent answers
                offer = await caller.offer()
                from aiortc import RTCSessionDescription

                agent.pc.addTransceiver(agent.track, direction="sendrecv")
                await agent.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                await agent.pc.setLocalDescription(await agent.pc.createAnswer())
                await caller.accept(agent.pc.localDescription.sdp)
        deadline = time.monotonic() + 30
        while any(not p.arrivals for p in callers + agents):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{tag} N={n}: some calls never got audio")
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # let jitter buffers settle
        t0 = time.monotonic()
        sent0 = sum(p.track._n for p in callers + agents)
        cpu0 = cpu_s(gw_pid) if gw_pid else 0.0
        mine0 = time.process_time()
        await asyncio.sleep(seconds)
        t1 = time.monotonic()
        sent1 = sum(p.track._n for p in callers + agents)
        cpu1 = cpu_s(gw_pid) if gw_pid else 0.0
        mine1 = time.process_time()
        await asyncio.sleep(0.6)  # bursts sent near t1 arrive
        p99, gaps, frames = interarrival_stats(callers + agents, t0, t1)
        relay = {"fillers": 0, "frames_dropped": 0}  # the gateway's relay queues over the whole step
        if gw is not None:
            for call in await gw.call("calls"):
                for leg in [call["caller"], *call["agent_legs"].values()]:
                    for key in relay:
                        relay[key] += leg.get(key, 0)
        lat = []
        for c, a in zip(callers, agents, strict=True):
            lat += latencies_ms(c.sent, a.onsets, t0, t1 - 0.5)
            lat += latencies_ms(a.sent, c.onsets, t0, t1 - 0.5)
        return {
            "path": tag, "calls": n, "interarrival_p99_ms": round(p99, 1), "gaps": gaps, "frames": frames,
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
            "latency_p99_ms": round(float(np.percentile(lat, 99)), 1) if lat else None, "bursts": len(lat),
            "gateway_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 1) if gw_pid else None,
            "client_cpu_pct": round(100 * (mine1 - mine0) / (t1 - t0), 1),
            # frames each peer sent a second (50 on time): below ~48 this process, not the gateway,
            # fell behind, and the gaps and latencies of the step are the client's
            "client_send_fps": round((sent1 - sent0) / len(callers + agents) / (t1 - t0), 1),
            "gw_fillers": relay["fillers"] if gw is not None else None,
            "gw_dropped": relay["frames_dropped"] if gw is not None else None,
        }  # fmt: skip
    finally:
        if gw is not None:
            for cid in ids:
                await gw.call("hangup", cid, "agent_hangup")
        for p in callers + agents:
            await p.close()


async def bench(steps: list[int], seconds: float, codec: str, gateways: dict[str, tuple[int, int]],
                encode_each_frame: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """For each N: direct calls, then the same N through each gateway (tag -> (port, pid))."""
    rows: list[dict[str, Any]] = []
    clients = {}
    for tag, (port, _) in gateways.items():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        clients[tag] = GatewayClient(reader, writer)
    for n in steps:
        step_rows = [await run_step(n, seconds, codec, None, None, "direct", encode_each_frame)]
        for tag, (_, pid) in gateways.items():
            step_rows.append(await run_step(n, seconds, codec, clients[tag], pid, tag, encode_each_frame))
        rows += step_rows
        for r in step_rows:
            print(json.dumps(r), flush=True)
        via = step_rows[1]
        if via["interarrival_p99_ms"] >= MAX_P99_MS or via["gaps"]:
            break
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


def run_with_gateway(steps: list[int], seconds: float, codec: str, compare_decode: bool,
                     encode_each_frame: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    modes = {"gateway": []} | ({"gw-decode": ["--decode-all"]} if compare_decode else {})
    with gateway_processes(modes, codec) as gateways:
        return asyncio.run(bench(steps, seconds, codec, gateways, encode_each_frame))


def report(rows: list[dict[str, Any]], codec: str) -> dict[str, Any]:
    via = [r for r in rows if r["path"] == "gateway"]
    direct = {r["calls"]: r for r in rows if r["path"] == "direct"}
    ok = [r for r in via if r["interarrival_p99_ms"] < MAX_P99_MS and not r["gaps"]]
    best = max(ok, key=lambda r: r["calls"]) if ok else None
    summary: dict[str, Any] = {"codec": codec, "highest_ok_calls": best["calls"] if best else 0}
    if best:
        per_call_pct = best["gateway_cpu_pct"] / best["calls"]
        base = direct[best["calls"]]
        added = [r["latency_p99_ms"] - direct[r["calls"]]["latency_p99_ms"] for r in ok
                 if r["latency_p99_ms"] is not None and direct[r["calls"]]["latency_p99_ms"] is not None]  # fmt: skip
        summary |= {
            "gateway_cpu_pct_per_call": round(per_call_pct, 2),
            "calls_per_core_by_gateway_cpu": round(100 / per_call_pct, 1) if per_call_pct > 0 else None,
            "latency_p99_ms_gateway": best["latency_p99_ms"], "latency_p99_ms_direct": base["latency_p99_ms"],
            "added_latency_p99_ms_worst": round(max(added), 1) if added else None,
        }  # fmt: skip
    decode = {r["calls"]: r for r in rows if r["path"] == "gw-decode"}
    cpu_ratio = [round(r["gateway_cpu_pct"] / d["gateway_cpu_pct"], 2) for r in via
                 if (d := decode.get(r["calls"])) and r["gateway_cpu_pct"] and d["gateway_cpu_pct"]]  # fmt: skip
    if cpu_ratio:
        summary["cpu_vs_decode_all"] = cpu_ratio  # per N: passthrough gateway CPU / decode-all gateway CPU
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="5,10,20,30", help="comma-separated N to try, in order")
    ap.add_argument("--seconds", type=float, default=6.0, help="measurement window per N")
    ap.add_argument("--codec", default="opus", choices=["opus", "PCMU"])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--compare-decode", action="store_true",
                    help="also run each N through a second gateway that decodes and re-encodes every frame "
                         "(no payload passthrough): the gain of passthrough, measured in the same run")
    ap.add_argument("--client-encodes", action="store_true",
                    help="the aiortc client peers encode every frame (as the first runs did) instead of "
                         "sending payloads encoded once")
    ap.add_argument("--serve", metavar="RUN_DIR", help=argparse.SUPPRESS)
    ap.add_argument("--decode-all", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.codec, args.decode_all))
        return
    steps = [int(x) for x in args.calls.split(",") if x.strip()]
    rows = run_with_gateway(steps, args.seconds, args.codec, args.compare_decode, args.client_encodes)
    summary = report(rows, args.codec)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}))
        return
    head = ("path", "N", "p99 ia ms", "gaps", "lat p50", "lat p99", "gw cpu%", "cli cpu%", "cli fps")
    print("\n{:9} {:>4} {:>9} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8}".format(*head))
    for r in rows:
        print(f"{r['path']:9} {r['calls']:>4} {r['interarrival_p99_ms']:>9} {r['gaps']:>5} {r['latency_p50_ms']!s:>8} "
              f"{r['latency_p99_ms']!s:>8} {r['gateway_cpu_pct']!s:>8} {r['client_cpu_pct']!s:>8} "
            f"{r['client_send_fps']!s:>8}")
    print(f"\ncodec {args.codec}: highest N with p99 < {MAX_P99_MS:.0f} ms and no gaps: {summary['highest_ok_calls']}")
    if "gateway_cpu_pct_per_call" in summary:
        print(f"gateway CPU per bridged call: {summary['gateway_cpu_pct_per_call']} % of a core -> "
              f"{summary['calls_per_core_by_gateway_cpu']} calls per core (target >= {TARGET_CALLS_PER_CORE})")
        print(f"one-way latency p99: {summary['latency_p99_ms_gateway']} ms via the gateway, "
              f"{summary['latency_p99_ms_direct']} ms direct (baseline, same run); added p99 (worst N): "
              f"{summary['added_latency_p99_ms_worst']} ms (target < {TARGET_ADDED_LATENCY_P99_MS:.0f})")
    if "cpu_vs_decode_all" in summary:
        print(f"gateway CPU with payload passthrough / decoding every frame (same N, same run): "
              f"{summary['cpu_vs_decode_all']}")


if __name__ == "__main__":
    main()
