"""SIP bench: SIPp calls into a media gateway's SIP listener, beside SIPp against SIPp's own UAS.

The gateway (:class:`vcc.actors.media_gateway.MediaGateway` with its SIP front end, the dev
config's IVR) runs in a child process driven by JSON lines on stdin/stdout; SIPp (Debian
``sip-tester``) places the calls with ``tests/sipp/uac_load.xml`` (INVITE with SDP, G.711 A-law
audio from a pcap, BYE). Two parts:

* **Set-up rate**: for each rate R (calls/s) SIPp places R x ``--seconds`` calls; reported: call
  set-ups per second completed, failures, and the **post-dial delay** (INVITE -> 200 OK, SIPp's
  ``-trace_rtt``) p50/p99. The same SIPp run against ``sipp -sn uas`` at the same rate is the
  baseline (what SIPp and the machine cost on their own). Target: >= 50 set-ups/s with p99 <= 200 ms.
* **Concurrent calls in the IVR/queue**: N calls held at once (each sending G.711 and hearing the
  IVR's prompts), measured over a window once all are up: the gateway process's CPU
  (``/proc/<pid>/stat``) -> **calls per core**, and **on-time RTP**: how late the gateway's 20 ms
  RTP clock ran (p99; on time = p99 < 10 ms, half a frame, and no stall over 100 ms). Baseline in
  the same run: the clock's lateness with a single call. Target: >= 200 concurrent calls per core.

    .venv/bin/python bench/sip.py [--rates 10,25,50,100] [--seconds 4] [--calls 50,100,200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.sip_harness import DIALED, SIPP, SIPP_DIR, free_port

TARGET_SETUPS_PER_S = 50
TARGET_PDD_P99_MS = 200.0
TARGET_CALLS_PER_CORE = 200
ON_TIME_P99_MS = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the gateway process -------------------------------------------------------------------------


async def serve(run_dir: str) -> None:
    from tests.integration.sip_harness import sip_config, start_gateway

    gw = await start_gateway(Path(run_dir), sip_config(max_calls=5000, rtp_ports=(32000, 35999)))
    assert gw.sip is not None
    for node in ("welcome", "menu"):  # make the IVR's first prompts once, before hundreds of calls ask at once
        prompt = getattr(gw.center.flows["demo-main"].nodes[node], "prompt", None)  # type: ignore[union-attr]
        if prompt:
            await asyncio.to_thread(gw.catalog.load, prompt)
    print(json.dumps({"port": gw.sip.port, "pid": os.getpid()}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    profile: cProfile.Profile | None = None
    while line := await reader.readline():
        cmd, _, arg = line.decode().strip().partition(" ")
        if cmd == "reset":
            gw.sip.clock.lateness_ms.clear()
            gw.sip.clock.late_ticks = 0
            gw.sip.setup_ms.clear()
        elif cmd == "profile_on":
            profile = cProfile.Profile()
            profile.enable()
        elif cmd == "profile_off" and profile is not None:
            profile.disable()
            profile.dump_stats(arg)
            profile = None
        print(json.dumps({**gw.sip.status(), "active": len(gw.active)}), flush=True)
    await gw.close()


class Gateway:
    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.pid = 0

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", self.run_dir, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
        first = json.loads(await self._line())
        self.port, self.pid = first["port"], first["pid"]

    async def _line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        return (await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode()

    async def ask(self, cmd: str = "status") -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(f"{cmd}\n".encode())
        await self.proc.stdin.drain()
        return dict(json.loads(await self._line()))

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    async def stop(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# --- SIPp ------------------------------------------------------------------------------------------


async def sipp(tmp: Path, target_port: int, rate: float, calls: int, limit: int, duration_ms: int,
               tag: str) -> dict[str, Any]:  # fmt: skip
    work = tmp / tag
    work.mkdir(parents=True, exist_ok=True)
    csv = work / "numbers.csv"
    csv.write_text(f"SEQUENTIAL\n{DIALED};\n")
    args = [SIPP, f"127.0.0.1:{target_port}", "-sf", str(SIPP_DIR / "uac_load.xml"), "-i", "127.0.0.1",
            "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port(pair=True)), "-t", "u1",
            "-r", str(rate), "-m", str(calls), "-l", str(limit), "-d", str(duration_ms), "-inf", str(csv),
            "-nostdin", "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-timeout", "120s",
            "-max_recv_loops", "10000", "-max_sched_loops", "10000", "-buff_size", "1048576"]  # fmt: skip
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*args, cwd=work, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)  # fmt: skip
    _, err = await proc.communicate()
    elapsed = time.monotonic() - started
    rtts: list[float] = []
    for f in work.glob("*_rtt.csv"):
        for line in f.read_text().splitlines()[1:]:
            parts = line.split(";")  # Date_ms;response_time_ms;rtd_no
            if len(parts) >= 2 and parts[1]:
                with contextlib.suppress(ValueError):
                    rtts.append(float(parts[1]))
        f.unlink()
    ok = failed = 0
    for f in work.glob("*_.csv"):
        rows = [r.split(";") for r in f.read_text().splitlines()]
        head, last = rows[0], rows[-1]
        ok = int(last[head.index("SuccessfulCall(C)")])
        failed = int(last[head.index("FailedCall(C)")])
        f.unlink()
    rtts.sort()

    def pct(q: float) -> float | None:
        return round(rtts[min(len(rtts) - 1, int(q * len(rtts)))], 2) if rtts else None

    return {"rate": rate, "calls": calls, "ok": ok, "failed": failed, "elapsed_s": round(elapsed, 2),
            "pdd_p50_ms": pct(0.5), "pdd_p99_ms": pct(0.99), "exit": proc.returncode,
            "stderr": err.decode(errors="replace")[-300:] if proc.returncode else ""}  # fmt: skip


async def uas(tmp: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    work = tmp / "uas"
    work.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1", "-mp", str(free_port(pair=True)),
        "-nostdin", "-bg" if False else "-trace_err", cwd=work, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
    await asyncio.sleep(1.0)
    return proc, port


# --- the two parts ---------------------------------------------------------------------------------


async def setup_rates(tmp: Path, gw: Gateway, rates: list[float], seconds: float) -> list[dict[str, Any]]:
    baseline_proc, baseline_port = await uas(tmp)
    rows = []
    try:
        for rate in rates:
            calls = max(1, int(rate * seconds))
            await gw.ask("reset")
            via_gw = await sipp(tmp, gw.port, rate, calls, calls, 500, f"gw-{rate}")
            status = await gw.ask()
            base = await sipp(tmp, baseline_port, rate, calls, calls, 500, f"uas-{rate}")
            rows.append({"rate": rate, "gateway": via_gw, "baseline": base,
                         "gateway_pdd_p99_ms_server_side": status["post_dial_delay_p99_ms"]})  # fmt: skip
            print(f"rate {rate:6.1f}/s (load average {os.getloadavg()[0]:.1f}): gateway {via_gw['ok']}/{calls} ok in "
                  f"{via_gw['elapsed_s']} s, PDD p50 {via_gw['pdd_p50_ms']} p99 {via_gw['pdd_p99_ms']} ms | "
                  f"SIPp uas baseline {base['ok']}/{calls} ok, "
                  f"PDD p50 {base['pdd_p50_ms']} p99 {base['pdd_p99_ms']} ms", flush=True)  # fmt: skip
    finally:
        baseline_proc.terminate()
        await baseline_proc.wait()
    return rows


async def held_calls(tmp: Path, gw: Gateway, counts: list[int], window_s: float,
                     profile: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for n in [1, *counts]:
        profiled = profile is not None and n == max(counts)
        deadline = time.monotonic() + 60  # calls of the step before still ending: let them go first
        while (await gw.ask())["active"] and time.monotonic() < deadline:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.5)
        await gw.ask("reset")
        ramp_rate = min(100.0, max(1.0, n / 2))
        hold_ms = int((n / ramp_rate + window_s + 3) * 1000)
        run = asyncio.create_task(sipp(tmp, gw.port, ramp_rate, n, n, hold_ms, f"held-{n}"))
        deadline = time.monotonic() + n / ramp_rate + 30
        while not run.done() and time.monotonic() < deadline:  # polling another process
            if (await gw.ask())["active"] >= n:
                break
            await asyncio.sleep(0.2)
        status0 = await gw.ask("reset")
        if profiled:
            await gw.ask("profile_on")
        load0, cpu0, t0 = os.getloadavg()[0], gw.cpu_s(), time.monotonic()
        await asyncio.sleep(window_s)
        cpu1, t1 = gw.cpu_s(), time.monotonic()
        status = await gw.ask(f"profile_off {profile}" if profiled else "status")
        result = await run
        cpu_frac = (cpu1 - cpu0) / (t1 - t0)
        row = {"calls": n, "held": status0["active"], "gateway_cpu_pct": round(100 * cpu_frac, 1),
               "calls_per_core": round(status0["active"] / cpu_frac, 1) if cpu_frac > 0 else None,
               "rtp_tick_lateness_p99_ms": status["rtp_tick_lateness_p99_ms"], "rtp_stalls": status["rtp_late_ticks"],
               "sipp_ok": result["ok"], "sipp_failed": result["failed"],
               "load_average": [round(load0, 1), round(os.getloadavg()[0], 1)]}  # fmt: skip
        # on time: every call of the step was up during the window and the clock kept its 20 ms
        row["on_time"] = (status0["active"] >= n and row["rtp_tick_lateness_p99_ms"] is not None
                          and row["rtp_tick_lateness_p99_ms"] < ON_TIME_P99_MS and row["rtp_stalls"] == 0)  # fmt: skip
        rows.append(row)
        label = "baseline (1 call)" if n == 1 else f"{n} calls"
        print(f"{label:>18}: {row['held']} held, gateway CPU {row['gateway_cpu_pct']} % -> {row['calls_per_core']} "
              f"calls/core, RTP clock lateness p99 {row['rtp_tick_lateness_p99_ms']} ms, stalls {row['rtp_stalls']}, "
              f"on time: {row['on_time']} (load average {row['load_average'][0]} -> {row['load_average'][1]})",
              flush=True)  # fmt: skip
    return rows


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="vcc-sip-bench-"))
    gw = Gateway(str(tmp / "gw"))
    await gw.start()
    try:
        rates = [float(r) for r in args.rates.split(",") if r]
        counts = [int(c) for c in args.calls.split(",") if c]
        setup = await setup_rates(tmp, gw, rates, args.seconds) if rates else []
        held = await held_calls(tmp, gw, counts, args.window, args.profile) if counts else []
    finally:
        await gw.stop()
    good_rates = [r["rate"] for r in setup if r["gateway"]["failed"] == 0 and r["gateway"]["ok"] > 0
                  and (r["gateway"]["pdd_p99_ms"] or 1e9) <= TARGET_PDD_P99_MS]  # fmt: skip
    best_rate = max(good_rates, default=0.0)
    on_time = [r for r in held if r["calls"] > 1 and r["on_time"] and r["sipp_failed"] == 0]
    per_core = max((r["calls_per_core"] or 0 for r in on_time), default=0.0)
    print(f"\nset-ups/s with PDD p99 <= {TARGET_PDD_P99_MS:.0f} ms and no failures: {best_rate:.0f} "
          f"(target >= {TARGET_SETUPS_PER_S})")
    highest = max((r["calls"] for r in on_time), default=0)
    full = [r for r in held if r["calls"] > 1 and r["held"] >= r["calls"] and r["calls_per_core"]]
    if full:  # the robust figure on a shared machine: CPU per call, whatever the clock's lateness
        print("gateway CPU per held call: " + ", ".join(f"{100 / r['calls_per_core']:.3f} % of a core at {r['calls']}"
                                                        for r in full))  # fmt: skip
        base = next((r for r in held if r["calls"] == 1), None)
        if base is not None:  # how late the clock runs with calls, beside how late it runs with one (the machine)
            print(f"RTP clock lateness p99: {base['rtp_tick_lateness_p99_ms']} ms with 1 call (baseline), "
                  + ", ".join(f"{r['rtp_tick_lateness_p99_ms']} ms at {r['calls']}" for r in full))  # fmt: skip
    print(f"concurrent calls per core in IVR/queue with on-time RTP: {per_core:.0f} "
          f"(target >= {TARGET_CALLS_PER_CORE}; highest N held on time: {highest})")
    met = best_rate >= TARGET_SETUPS_PER_S and per_core >= TARGET_CALLS_PER_CORE
    print(f"target  >= {TARGET_SETUPS_PER_S} set-ups/s with PDD p99 <= {TARGET_PDD_P99_MS:.0f} ms and >= "
          f"{TARGET_CALLS_PER_CORE} held calls per core on time -> {'met' if met else 'NOT met'} ({best_rate:.0f} "
          f"set-ups/s; {per_core:.0f} calls per core by gateway CPU at an on-time step, highest on-time N {highest})")
    if args.json:
        print(json.dumps({"setup": setup, "held": held, "best_setups_per_s": best_rate, "calls_per_core": per_core}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve":
        asyncio.run(serve(sys.argv[2]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,25,50,100", help="call set-up rates to try, calls/s")
    parser.add_argument("--seconds", type=float, default=4.0, help="how long each rate runs")
    parser.add_argument("--calls", default="50,100,200", help="concurrent calls to hold in the IVR/queue")
    parser.add_argument("--window", type=float, default=4.0, help="measurement window with all calls held, s")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the gateway during the largest held-call "
                        "window into FILE (read with python -m pstats FILE)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    asyncio.run(main(parser.parse_args()))
