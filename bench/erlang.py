"""Erlang fidelity bench: a real one-site cluster (cluster/scenarios/erlang-cluster.yaml on free
ports) serves an M/M/N load from ``vcc load`` over several seeds; P(wait), mean wait and SL are
compared with Erlang C (and abandonment with Erlang A when ``--patience-s`` is given).

Baseline, in the same run: an in-process M/M/N(+M) event simulation with the same arrivals (the
scenario's seeded schedule), exponential service of the same measured mean and the same patience:
how far from the formula sampling noise alone puts a run of this length.

    .venv/bin/python bench/erlang.py [--agents 8] [--aht-s 2] [--load-erl 6] [--duration-s 120] [--seeds 3] [--json]

Target: every figure within the documented tolerance (docs/load.md).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.cluster_files import make_cluster_file  # noqa: E402
from vcc.config import load_config  # noqa: E402
from vcc.drills.logs import free_port_base  # noqa: E402
from vcc.load.erlang_check import RunFigures, compare, run_figures  # noqa: E402
from vcc.load.runner import run_load  # noqa: E402
from vcc.load.sampling import schedule  # noqa: E402
from vcc.load.scenario import Scenario  # noqa: E402

WAITED_OVER_S = 0.05


def scenario(args: argparse.Namespace, seed: int) -> Scenario:
    arrival: dict[str, Any] = {"tenant": "erl", "channel": "voice", "rate_per_s": args.load_erl / args.aht_s}
    if args.patience_s:
        arrival["patience_s"] = {"dist": "exponential", "mean_s": args.patience_s}
    return Scenario.model_validate({
        "name": "erlang-bench", "duration_s": args.duration_s, "warmup_s": min(10.0, args.duration_s / 5),
        "seed": seed, "service_level_threshold_s": args.threshold_s, "arrivals": [arrival],
        "agents": {"ids": [f"erl-{i:02d}" for i in range(1, args.agents + 1)],
                   "handle_s": {"dist": "exponential", "mean_s": args.aht_s}}})


def simulate(sc: Scenario, agents: int, service_s: float, threshold_s: float) -> RunFigures:
    """M/M/N(+M) by events, on the scenario's own arrivals: FIFO, each caller leaves at its patience."""
    rng = random.Random(f"sim:{sc.seed}")
    free_at = [0.0] * agents
    heapq.heapify(free_at)
    waits, within, abandoned, n = [], 0, 0, 0
    for a in schedule(sc.arrivals, sc.duration_s, sc.seed):
        start = max(a.offset_s, free_at[0])
        wait = start - a.offset_s
        if a.offset_s < sc.warmup_s:
            heapq.heapreplace(free_at, start + rng.expovariate(1 / service_s))
            continue
        n += 1
        if a.patience_s and wait > a.patience_s:
            abandoned += 1  # FIFO with reneging: the caller never took an agent
            continue
        heapq.heapreplace(free_at, start + rng.expovariate(1 / service_s))
        waits.append(wait)
        within += wait <= threshold_s
    ended = len(waits) + abandoned
    return RunFigures(offered=n, p_wait=sum(w > WAITED_OVER_S for w in waits) / max(1, len(waits)),
                      mean_wait_s=sum(waits) / max(1, len(waits)), service_level=within / max(1, ended),
                      abandon_rate=abandoned / max(1, ended), occupied_s=service_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--aht-s", type=float, default=2.0)
    ap.add_argument("--load-erl", type=float, default=6.0)
    ap.add_argument("--patience-s", type=float, default=0.0, help="mean patience (0: Erlang C)")
    ap.add_argument("--threshold-s", type=float, default=2.0)
    ap.add_argument("--duration-s", type=float, default=120.0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--port-base", type=int, default=15000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not 1 <= args.agents <= 8:
        ap.error("--agents: the Erlang cluster file has 8 agents")
    work = Path(tempfile.mkdtemp(prefix="vcc-bench-erlang-"))
    path = make_cluster_file(work, "cluster/scenarios/erlang-cluster.yaml", port_base=free_port_base(args.port_base, 1))
    config = load_config(path)
    run_dir = work / "run"
    from vcc.runtime import launcher

    measured, simulated = [], []
    try:
        launcher.up(config, path, run_dir, log=lambda m: print(f"  up: {m}", file=sys.stderr))
        for seed in range(1, args.seeds + 1):
            sc = scenario(args, seed)
            report = asyncio.run(run_load(config, sc, ROOT))
            got = run_figures(report)
            measured.append(got)
            simulated.append(simulate(sc, args.agents, got.occupied_s, args.threshold_s))
            print(f"  seed {seed}: {report['total']}", file=sys.stderr)
    finally:
        launcher.down(run_dir, log=lambda m: None)
        for s in config.sites:
            shutil.rmtree(Path(s.temp_dir).parent, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    rate = args.load_erl / args.aht_s
    patience = args.patience_s or None
    cluster = compare(measured, args.agents, rate, args.threshold_s, WAITED_OVER_S, patience)
    baseline = compare(simulated, args.agents, rate, args.threshold_s, WAITED_OVER_S, patience)
    report_out = {"bench": "erlang", "cluster": cluster, "baseline_simulation": baseline,
                  "meets_target": cluster["within_tolerance"]}
    if args.json:
        print(json.dumps(report_out))
        return 0
    print(f"Erlang {'A' if patience else 'C'}: {args.agents} agents, {rate:g}/s, service {cluster['service_s']} s "
          f"({cluster['offered_load_erl']} Erl), {args.seeds} seeds x {args.duration_s:g} s")
    for name, f in cluster["figures"].items():
        b = baseline["figures"][name]
        print(f"  {name:14} theory {f['theory']:.4f}  cluster {f['measured']:.4f} (+-{f['tolerance']:.4f} "
              f"{'ok' if f['within'] else 'OUT'})  baseline simulation {b['measured']:.4f}")
    print(f"target: within tolerance -> {'met' if cluster['within_tolerance'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
