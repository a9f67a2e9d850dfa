"""Every drill through the command line on a plain three-site cluster (no lab) while ``vcc load``
offers mixed traffic (voice through the IVR, durable chat, e-mail and SMS, bot agents):

- ``vcc drill kill B --json``: exit 0; B's death detected and its work adopted inside the window;
  no durable contact lost or duplicated, no agent double-booked; every agent homed at B re-homed;
- ``vcc drill heal B``: B is started again and serves (``vcc status --json``: reachable, a session
  lease, not fenced);
- ``vcc drill shard A --json``: the killed ACD shard is restored, nothing lost or doubled;
- ``vcc drill etcd-leader --json``: another member leads, and the killed member's site keeps its
  session through another member (it is not taken for dead: nothing adopted, no live call dropped,
  nothing lost); ``vcc drill heal <its site>`` restarts the member, and the site still serves.

Two load runs: one (40 s) through the kill, one (100 s, after B is back) through the shard and
etcd drills. Each must end with no contact left open or completed twice. Times are printed
(``MEASURE``), never asserted. ``vcc down`` at the end; the ``finally`` stops every process recorded
in the run dir (and the load) by PID even when an assertion fails. After a failure the sites' Ray
temp dirs (the actors' logs) are kept, beside the run dir's event logs and etcd data.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cluster_files import ROOT, make_cluster_file
from tests.integration.sip_harness import free_port_block
from vcc.config import load_config
from vcc.runtime import launcher, procs

pytestmark = pytest.mark.integration

VCC = [sys.executable, "-m", "vcc"]
SCENARIO = {
    "name": "drills-mix",
    "description": "light mixed traffic on the three sites while the drills run",
    "duration_s": 40,
    "warmup_s": 0,
    "drain_s": 40,
    "seed": 5,
    "arrivals": [
        {"tenant": "acme", "entry_point": "+33140000001", "rate_per_s": 0.3, "dtmf": "2",
         "patience_s": {"dist": "exponential", "mean_s": 30}},
        {"tenant": "acme", "channel": "email", "rate_per_s": 0.3},
        {"tenant": "nimbus", "entry_point": "+14165550100", "rate_per_s": 0.3, "dtmf": "1",
         "patience_s": {"dist": "exponential", "mean_s": 30}},
        {"tenant": "nimbus", "channel": "chat", "rate_per_s": 0.4},
        {"tenant": "nimbus", "channel": "sms", "rate_per_s": 0.3},
        {"tenant": "globex", "channel": "chat", "rate_per_s": 0.4},
    ],
    "agents": {
        "handle_s": {"dist": "lognormal", "mean_s": 1.5, "sd_s": 0.7, "max_s": 6},
        "wrap_up_s": {"dist": "uniform", "min_s": 0.1, "max_s": 0.4},
        "answer_delay_s": {"dist": "uniform", "min_s": 0.1, "max_s": 0.4},
    },
}


def vcc(*args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VCC, *args], capture_output=True, text=True, timeout=timeout_s, check=False, cwd=ROOT)


def drill(config_path: Path, run_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = vcc("drill", *args, "--config", str(config_path), "--run-dir", str(run_dir), "--json",
               "--window", "25", "--settle", "30")
    assert done.returncode in (0, 1), (done.stdout + done.stderr)[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    print(f"MEASURE drill {' '.join(args)}: " + json.dumps(
        {k: v for k, v in report.items() if k.endswith("_s") or k.endswith("_count") or k in (
            "adopted_contacts", "agents_rehomed", "agents_home", "live_calls_dropped", "service_level_during",
            "contacts_queued_during", "durable_in_span", "new_leader_site", "killed_member_of_site")}))
    return done, report


def status(config_path: Path, run_dir: Path) -> dict[str, Any]:
    done = vcc("status", str(config_path), "--run-dir", str(run_dir), "--json", timeout_s=60)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def site_status(config_path: Path, run_dir: Path, site: str) -> dict[str, Any]:
    return next(s for s in status(config_path, run_dir)["sites"] if s["site"] == site)


def wait_for(what: str, check: Any, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < end, f"{what}: not seen within {deadline_s} s"
        time.sleep(1.0)


def start_load(config_path: Path, run_dir: Path, scenario: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*VCC, "load", str(scenario), "--config", str(config_path), "--run-dir", str(run_dir),
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)


def agents_at_home(config_path: Path, run_dir: Path, home: dict[str, int]) -> None:
    wait_for("every bot agent logged in at its home site",
             lambda: all(s.get("agents_logged_in") == home[s["site"]] for s in status(config_path, run_dir)["sites"]),
             90)


def serving(config_path: Path, run_dir: Path, site: str) -> bool:
    s = site_status(config_path, run_dir, site)
    return bool(s.get("reachable") and s["lease_id"] and not s["fenced"])


def load_report(load: subprocess.Popen[str], lost: str | None) -> dict[str, Any]:
    """The load's report: nothing open or doubled; ``lost``: the load saw that site lost."""
    out, _ = load.communicate(timeout=200)
    assert load.returncode == 0, out[-3000:]
    loaded: dict[str, Any] = json.loads(out)
    print(f"MEASURE load: {loaded['accepted']} of {loaded['submitted']} accepted, "
          f"{loaded['retried_at_another_site']} retried at another site, total {loaded['total']}, "
          f"site losses {loaded['site_losses']}, rehomes {loaded['rehomes']}")
    assert not loaded["never_ended"] and not loaded["completed_twice"], loaded
    assert loaded["accepted"] > 20, loaded
    assert lost is None or lost in [x["site"] for x in loaded["site_losses"]], loaded
    return loaded


def strays(marks: list[str]) -> list[int]:
    """Processes of this test's cluster that no state.json records (``vcc up`` stopped before writing
    it): those whose command line names one of this test's own unique paths (its run dir, its Ray
    temp dirs), with everything below them."""
    own = {os.getpid()}
    found = {int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in own
             and any(m in procs.cmdline(int(p)) for m in marks)}
    return sorted(found | {d for p in found for d in procs.descendants(p)})


def assert_clean(report: dict[str, Any]) -> None:
    assert report["durable_lost_count"] == 0, report["durable_lost"]
    assert report["durable_duplicated_count"] == 0, report["durable_duplicated"]
    assert report["double_booked_count"] == 0, report["double_booked"]
    assert report["ok"], report


def test_drills_on_three_sites_under_load(tmp_path: Path) -> None:
    # lease TTL 2 s: on the shared 2-core machine a 1 s lease fences sites now and then under no drill
    config_path = make_cluster_file(tmp_path, port_base=free_port_block(span=500, count=3),
                                    runtime={"lease_ttl_s": 2})
    config = load_config(config_path)
    run_dir = tmp_path / "run"
    scenario = tmp_path / "drills-mix.yaml"  # through the kill
    scenario.write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    longer = tmp_path / "drills-mix-long.yaml"  # through the shard and etcd drills (more CLI round trips)
    longer.write_text(yaml.safe_dump({**SCENARIO, "duration_s": 100}, sort_keys=False))
    home = {s.id: sum(a.home_site == s.id for a in config.agents) for s in config.sites}
    loads: list[subprocess.Popen[str]] = []
    t_start = time.monotonic()
    try:
        up = vcc("up", str(config_path), "--run-dir", str(run_dir), timeout_s=420)
        assert up.returncode == 0, (up.stdout + up.stderr)[-3000:]
        print(f"MEASURE vcc up, three sites: {time.monotonic() - t_start:.1f} s")
        loads.append(start_load(config_path, run_dir, scenario))
        agents_at_home(config_path, run_dir, home)
        time.sleep(5.0)  # contacts in flight at every site

        done, kill = drill(config_path, run_dir, "kill", "B")
        assert done.returncode == 0, json.dumps(kill)
        assert kill["detected_s"] is not None and kill["adopted_s"] is not None, kill
        assert kill["tenants_served_elsewhere_s"] is not None, kill
        assert kill["agents_home"] == home["B"] > 0 and kill["agents_rehomed"] == home["B"], kill
        assert kill["durable_in_span"] > 0
        assert_clean(kill)

        healed = vcc("drill", "heal", "B", "--config", str(config_path), "--run-dir", str(run_dir), "--json",
                     timeout_s=420)  # a site's start: ~2 minutes on this busy machine
        assert healed.returncode == 0, healed.stderr[-2000:]
        assert json.loads(healed.stdout)["healed"] == "site restarted"
        wait_for("B serving with a session of its own", lambda: serving(config_path, run_dir, "B"), 60)
        load_report(loads[0], "B")

        loads.append(start_load(config_path, run_dir, longer))
        agents_at_home(config_path, run_dir, home)
        time.sleep(3.0)
        done, shard = drill(config_path, run_dir, "shard", "A")
        assert done.returncode == 0, json.dumps(shard)
        assert shard["shard_restored_s"] is not None and shard["shard_pid"] > 0, shard
        assert shard["durable_in_span"] > 0
        assert_clean(shard)

        leader_before = status(config_path, run_dir)["etcd"]["leader"]
        done, etcd = drill(config_path, run_dir, "etcd-leader")
        assert done.returncode == 0, json.dumps(etcd)
        assert etcd["killed_member_of_site"] == leader_before, (etcd, leader_before)
        assert etcd["new_leader_s"] is not None and etcd["new_leader_site"] != leader_before, etcd
        assert etcd["durable_in_span"] > 0
        assert_clean(etcd)
        # the site lost its own member, not its session: it moved to another member
        assert etcd["adopted_s"] is None and etcd["live_calls_dropped"] == 0, etcd
        site = etcd["killed_member_of_site"]
        healed = vcc("drill", "heal", site, "--config", str(config_path), "--run-dir", str(run_dir), "--json")
        assert healed.returncode == 0, healed.stderr[-2000:]
        assert json.loads(healed.stdout)["healed"] == "etcd member restarted"
        wait_for(f"{site}'s etcd member up again", lambda: site_status(config_path, run_dir, site)["etcd"] == "up",
                 30)
        wait_for(f"{site} serving", lambda: serving(config_path, run_dir, site), 60)
        load_report(loads[1], None)  # a site without its etcd member is fenced, not necessarily unreachable

        down = vcc("down", str(config_path), "--run-dir", str(run_dir))
        assert down.returncode == 0, down.stderr[-2000:]
        print(f"MEASURE whole test: {time.monotonic() - t_start:.1f} s")
    finally:
        for load in loads:
            if load.poll() is None:
                load.kill()
                load.wait()
        if launcher.RunState.load(run_dir) is not None:  # failed before `vcc down`: stop what it recorded
            with contextlib.suppress(Exception):
                launcher.down(run_dir, log=lambda m: None)
        left = strays([str(run_dir), *(str(Path(s.temp_dir).parent) for s in config.sites)])
        procs.terminate(left, timeout_s=10.0)  # the Ray temp dirs go after a pass (tests/conftest.py)
    assert not (run_dir / "state.json").exists()
    assert not left, f"processes of the test's cluster left after vcc down: {left}"
