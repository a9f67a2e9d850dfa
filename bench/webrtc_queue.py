"""WebRTC bench, callers in queue: N aiortc callers waiting in a gateway's queue (music on hold),
through a gateway that encodes the music once for every caller (``vcc.media.encoders.LONG_LIVED``)
and, in the same run, through one that encodes it per caller and decodes every frame (``gw-decode``,
the path before). Gateway CPU per queued caller, and the inter-arrival p99 and gaps of the music
frames at the callers (same definitions as ``bench/webrtc.py``, whose gateway processes it uses).

    .venv/bin/python bench/webrtc_queue.py [--calls 10,20] [--seconds 6] [--codec opus|PCMU]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webrtc import BurstPeer, GatewayClient, cpu_s, gateway_processes, interarrival_stats


async def step(n: int, seconds: float, codec: str, gw: GatewayClient, pid: int, tag: str) -> dict[str, Any]:
    callers = [BurstPeer(0.0, codec) for _ in range(n)]
    ids = [f"{tag}-q{n}-{i}" for i in range(n)]
    try:
        for cid, caller in zip(ids, callers, strict=True):
            await caller.accept(await gw.call("caller_offer", cid, "bench", None, None, await caller.offer(), "q"))
        deadline = time.monotonic() + 30
        while any(not p.arrivals for p in callers):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{tag} N={n}: some callers never heard the music")
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
        t0, cpu0 = time.monotonic(), cpu_s(pid)
        await asyncio.sleep(seconds)
        t1, cpu1 = time.monotonic(), cpu_s(pid)
        p99, gaps, frames = interarrival_stats(callers, t0, t1)
        cached = sum(c["caller"].get("frames_cached", 0) for c in await gw.call("calls"))
        return {"path": tag, "queued": n, "interarrival_p99_ms": round(p99, 1), "gaps": gaps, "frames": frames,
                "gateway_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 1), "frames_cached": cached}  # fmt: skip
    finally:
        for cid in ids:
            await gw.call("hangup", cid, "agent_hangup")
        for p in callers:
            await p.close()


async def bench(steps: list[int], seconds: float, codec: str, gateways: dict[str, tuple[int, int]]) -> None:
    clients = {}
    for tag, (port, _) in gateways.items():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        clients[tag] = GatewayClient(reader, writer)
    for n in steps:
        rows = [await step(n, seconds, codec, clients[tag], pid, tag) for tag, (_, pid) in gateways.items()]
        for r in rows:
            print(json.dumps(r), flush=True)
        new, old = rows
        print(f"N={n} queued {codec}: gateway CPU per caller {new['gateway_cpu_pct'] / n:.2f} % of a core "
              f"(music encoded once) vs {old['gateway_cpu_pct'] / n:.2f} % (per caller, decode all); ratio "
              f"{new['gateway_cpu_pct'] / max(old['gateway_cpu_pct'], 0.1):.2f}", flush=True)
    for c in clients.values():
        c.writer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="10,20", help="comma-separated numbers of queued callers")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--codec", default="opus", choices=["opus", "PCMU"])
    args = ap.parse_args()
    steps = [int(x) for x in args.calls.split(",") if x.strip()]
    with gateway_processes({"gateway": [], "gw-decode": ["--decode-all"]}, args.codec) as gateways:
        asyncio.run(bench(steps, args.seconds, args.codec, gateways))


if __name__ == "__main__":
    main()
