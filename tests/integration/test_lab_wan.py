"""The lab's WAN emulator with real packets: three namespaces joined only through the hub forwarder
(:mod:`vcc.lab.hub`), echo servers inside B and C, probes inside A and in the root namespace.

Checks that a link's delay is applied (TCP round trips on A-B are never shorter than twice its
one-way delay, while root-B, a link without settings, is measured beside it), that its loss rate is
what the file says (UDP echoes on A-C, seeded), that a cut site gets nothing and a healed one gets
everything again, that settings change at run time, and that teardown leaves no namespace or link.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cluster_files import make_cluster_file
from vcc.config import load_config
from vcc.drills import lab as drill_lab
from vcc.lab import cluster
from vcc.lab.netns import NETNS_DIR, processes_in
from vcc.lab.wan import WanParams
from vcc.runtime import procs
from vcc.runtime.launcher import RunState

pytestmark = pytest.mark.integration

DELAY_MS = 40.0  # A-B, one way
JITTER_MS = 10.0
LOSS_PCT = 20.0  # A-C, each way
PORT = 7000  # inside the lab's own namespaces: no other test can hold it there

ECHO = r"""
import socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((host, port))
def udp():
    while True:
        data, addr = u.recvfrom(2048); u.sendto(data, addr)
threading.Thread(target=udp, daemon=True).start()
t = socket.create_server((host, port))
while True:
    c, _ = t.accept()
    def serve(c=c):
        while data := c.recv(65536):
            c.sendall(data)
    threading.Thread(target=serve, daemon=True).start()
"""

# Round trips of a 64-byte message on one TCP connection, and UDP echoes of numbered datagrams;
# prints JSON. Runs inside a namespace (or the root one).
PROBE = r"""
import json, socket, sys, time
kind, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = {}
if kind == "tcp":
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    for i in range(n):
        t = time.perf_counter(); s.sendall(b"x" * 64); got = b""
        while len(got) < 64:
            got += s.recv(64 - len(got))
        rtts.append((time.perf_counter() - t) * 1000)
    out["rtt_ms"] = rtts
else:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.setblocking(False)
    seen = set()
    def drain():
        while True:
            try:
                seen.add(int(u.recv(64)))
            except BlockingIOError:
                return
    for i in range(n):  # replies are read as they come: a full receive buffer would drop them too
        u.sendto(b"%d" % i, (host, port)); time.sleep(0.002); drain()
    end = time.monotonic() + 1.5
    while time.monotonic() < end and len(seen) < n:
        time.sleep(0.01); drain()
    out["sent"], out["echoed"] = n, len(seen)
print(json.dumps(out))
"""


def _lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "the network lab needs root"
    if shutil.which("ip") is None or not Path("/dev/net/tun").exists():
        return "the network lab needs `ip` (iproute2) and /dev/net/tun"
    return None


def probe(prefix: list[str], kind: str, host: str, n: int) -> dict[str, Any]:
    out = subprocess.run([*prefix, sys.executable, "-c", PROBE, kind, host, str(PORT), str(n)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def vcc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vcc", *args], capture_output=True, text=True, timeout=120)


def lab_file(tmp_path: Path) -> Path:
    path = make_cluster_file(tmp_path, port_base=20000)  # below the ephemeral range
    raw = yaml.safe_load(path.read_text())
    raw["lab"] = {"links": [{"between": ["A", "B"], "delay_ms": DELAY_MS, "jitter_ms": JITTER_MS},
                            {"between": ["A", "C"], "loss_pct": LOSS_PCT}]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def path_of(report: dict[str, Any], src: str, dst: str) -> dict[str, Any]:
    return next(p for p in report["paths"] if p["from"] == src and p["to"] == dst)


def test_wan_delay_loss_cut_and_teardown(tmp_path: Path) -> None:
    missing = _lab_missing()
    if missing:
        pytest.fail(missing)
    config_path = lab_file(tmp_path)
    rec = cluster.build(load_config(config_path), config_path, tmp_path / "run", prefix="tlabwan", seed=7)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        a, b, c = (rec.sites[s]["address"] for s in "ABC")
        for site, addr in (("B", b), ("C", c)):
            servers.append(subprocess.Popen([*rec.exec_prefix(site), sys.executable, "-c", ECHO, addr, str(PORT)]))
        # every namespace has its one lab link and nothing else but loopback
        links = subprocess.run([*rec.exec_prefix("A"), "ip", "-o", "link"], capture_output=True, text=True).stdout
        assert {line.split(":")[1].strip() for line in links.splitlines()} == {"lo", "wan0"}
        for _ in range(100):  # the echo servers are up once root reaches both (no WAN settings on root)
            connect = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)"
            if all(subprocess.run([sys.executable, "-c", connect, h, str(PORT)], capture_output=True).returncode == 0
                   for h in (b, c)):
                break
        baseline = probe([], "tcp", b, 40)["rtt_ms"]
        delayed = probe(rec.exec_prefix("A"), "tcp", b, 40)["rtt_ms"]
        print(f"MEASURE TCP RTT root-B (no WAN settings): median {statistics.median(baseline):.2f} ms; "
              f"A-B (delay {DELAY_MS:g} ms, jitter {JITTER_MS:g} ms each way): median "
              f"{statistics.median(delayed):.1f} ms, min {min(delayed):.1f}, max {max(delayed):.1f}")
        assert min(delayed) >= 2 * DELAY_MS  # the delay is applied both ways on every packet
        ping = subprocess.run([*rec.exec_prefix("A"), "ping", "-c", "5", "-i", "0.2", "-q", b],
                              capture_output=True, text=True)
        assert ping.returncode == 0
        print(f"MEASURE ping A-B: {ping.stdout.strip().splitlines()[-1]}")

        lossy = probe(rec.exec_prefix("A"), "udp", c, 1000)
        clean = probe([], "udp", c, 1000)
        echoed = lossy["echoed"] / lossy["sent"]
        expected = (1 - LOSS_PCT / 100) ** 2  # lost on the way there or back
        print(f"MEASURE UDP echo A-C (loss {LOSS_PCT:g} % each way): {lossy['echoed']}/{lossy['sent']} "
              f"= {echoed:.3f}, expected {expected:.3f}; root-C: {clean['echoed']}/{clean['sent']}")
        assert abs(echoed - expected) < 0.06  # ~4 standard deviations of 1000 draws
        assert clean["echoed"] == clean["sent"]
        report = cluster.status(rec)
        there, back = path_of(report, "A", "C"), path_of(report, "C", "A")
        assert there["dropped_loss"] + back["dropped_loss"] == lossy["sent"] - lossy["echoed"]
        assert there["loss_pct"] == LOSS_PCT and path_of(report, "B", "A")["delay_ms"] == DELAY_MS

        cluster.cut(rec, "C")
        assert probe(rec.exec_prefix("A"), "udp", c, 50)["echoed"] == 0
        assert probe([], "udp", c, 50)["echoed"] == 0
        assert path_of(cluster.status(rec), "A", "C")["dropped_down"] >= 50
        cluster.cut(rec, "C", down=False)
        cluster.set_wan(rec, "A", "C", loss_pct=0)
        assert probe(rec.exec_prefix("A"), "udp", c, 200)["echoed"] == 200

        # the slow drill's action: every link of B degraded for a while, then its settings from before
        restore = drill_lab.slow(rec, "B", 10.0, WanParams(delay_ms=60))
        during = {(p["from"], p["to"]): p for p in cluster.status(rec)["paths"]}
        assert {during[(e, "B")]["delay_ms"] for e in ("root", "A", "C")} == {60}
        slowed = probe([], "tcp", b, 10)["rtt_ms"]
        print(f"MEASURE TCP RTT root-B while B is slowed (60 ms each way): median {statistics.median(slowed):.1f} ms")
        assert min(slowed) >= 120
        restore.join(timeout=30)
        after = {(p["from"], p["to"]): p for p in cluster.status(rec)["paths"]}
        assert after[("root", "B")]["delay_ms"] == 0 and after[("A", "B")]["delay_ms"] == DELAY_MS

        # `vcc lab set|status` on the lab a run dir records
        run_dir = tmp_path / "run"
        RunState(load_config(config_path).name, rec.config_path, str(run_dir), lab=rec.to_json()).save()
        where = ["--run-dir", str(run_dir)]
        changed = vcc("lab", "set", "A", "C", "--delay-ms", "30", "--loss-pct", "1", "--config", str(config_path),
                      *where)
        assert changed.returncode == 0, changed.stderr
        shown = json.loads(vcc("lab", "status", str(config_path), *where, "--json").stdout)
        a_c = path_of(shown, "C", "A")
        assert (a_c["delay_ms"], a_c["loss_pct"]) == (30, 1) and shown["hub"]["alive"]
        bad = vcc("lab", "set", "A", "Z", "--config", str(config_path), *where)
        assert bad.returncode == 1
        assert bad.stderr.strip().splitlines() == ["error: lab hub: no end 'Z' in the lab (ends: root, A, B, C)"]
    finally:
        for s in servers:
            procs.terminate([s.pid])
            s.wait()
        names = list(rec.namespaces)
        leftovers = cluster.teardown(rec)
    assert leftovers == {}
    assert not [n for n in names if (NETNS_DIR / n).exists()]
    assert not Path(f"/sys/class/net/{rec.root_link}").exists()  # the root link went with the hub
    assert not procs.alive(rec.hub_pid)
    assert not any(processes_in(n) for n in names)
