"""``vcc load`` with ``media: true`` on a real one-site cluster (etcd, Ray, the site's actors, its
media gateway and web front door): four web callers with real audio (aiortc, a 440 Hz tone) come
through the ``demo-web-call`` widget, press 2 on the menu, are answered by desk bot agents with an
audio leg of their own (1000 Hz); chats run beside them. Every call connects, each end hears the
other's tone, the key sends each call to the queue of option 2, nothing is left open or doubled,
and the summary carries per-call audio figures (printed, not asserted: no timing assertions)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.cluster_files import ROOT, make_cluster_file
from tests.integration.sip_harness import free_port_block
from vcc.config import load_config
from vcc.drills.logs import all_events
from vcc.runtime import launcher

pytestmark = pytest.mark.integration

SCENARIO = ROOT / "cluster" / "scenarios" / "media-dev.yaml"


def always_open_dev_cluster(tmp_path: Path) -> Path:
    # lease TTL 2 s: on the shared 2-core machine a 1 s lease fences the site now and then under no drill
    path = make_cluster_file(tmp_path, "cluster/dev.yaml", port_base=free_port_block(span=500, count=1),
                             runtime={"lease_ttl_s": 2})
    raw = yaml.safe_load(path.read_text())
    for tenant in raw["tenants"]:  # the flow checks the hours: open whenever the test runs
        tenant["hours"] = {"weekly": {"mon-sun": "24h"}, "holidays": []}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_media_load_web_callers_and_desk_agents_with_audio(tmp_path: Path) -> None:
    config_path = always_open_dev_cluster(tmp_path)
    config = load_config(config_path)
    run_dir = tmp_path / "run"
    try:
        launcher.up(config, config_path, run_dir, log=lambda m: None)
        done = subprocess.run([sys.executable, "-m", "vcc", "load", str(SCENARIO), "--config", str(config_path),
                               "--run-dir", str(run_dir), "--json"], capture_output=True, text=True, timeout=300,
                              cwd=ROOT, check=False)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        report = json.loads(done.stdout)
        media = report["media"]
        print("MEASURE media load: " + json.dumps({k: media[k] for k in ("calls", "connected", "dtmf_methods",
                                                                          "caller_legs", "agent_legs")}))
        for row in media["per_call"]:
            print(f"MEASURE call {row}")
        assert media["desk_login_errors"] == {} and media["desk_failures"] == [], media
        assert report["agents_logged_in"] == len(config.agents)
        assert media["calls"] == 4 and media["connected"] == 4, media["per_call"]
        assert media["keys_pressed"] == 4 and sum(media["dtmf_methods"].values()) == 4
        callers, agents = media["caller_legs"], media["agent_legs"]
        assert callers["legs"] == 4 and callers["talked"] == 4 and callers["heard_far_tone"] == 4, callers
        assert callers["frames"] > 4 * 100  # at least 2 s of 20 ms frames per call
        assert agents["talked"] >= 4 and agents["heard_far_tone"] == agents["talked"], agents
        assert all(row["final"] == "completed" and row["frames"] > 0 for row in media["per_call"])
        assert not report["never_ended"] and not report["completed_twice"]
        assert report["agents_max_in_hand"] >= 1
        chats = [v for k, v in report["per_stream"].items() if k.startswith("1:")][0]
        assert chats["offered"] > 0 and chats["completed"] == chats["offered"]

        calls = {row["contact_id"] for row in media["per_call"]}
        queued = {e["contact_id"]: e.get("queue") for e in all_events(run_dir)
                  if e.get("kind") == "contact" and e["state"] == "queued" and e["contact_id"] in calls}
        assert queued == dict.fromkeys(calls, "demo-general"), queued  # key 2: "anything else"
    finally:
        launcher.down(run_dir, log=lambda m: None)
        for s in config.sites:
            shutil.rmtree(Path(s.temp_dir).parent, ignore_errors=True)
    assert not (run_dir / "state.json").exists()
