"""The SIP listener of a real site survives its process: ``vcc up`` of cluster/dev.yaml on free ports;
SIPp calls through the IVR (RFC 4733 key 2) and hangs up; media gateway 0's process is killed by PID;
Ray restarts it and it opens the site's SIP port again by itself (``vcc status`` shows it listening,
from a new process), and the next SIPp call goes through the IVR to the queue as the first did."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_sip_site_e2e import sip_cluster_file
from tests.integration.sip_harness import run_sipp
from tests.integration.test_three_sites_failover import all_events
from vcc.client.contacts import SiteClient
from vcc.config import load_config
from vcc.runtime import launcher

pytestmark = pytest.mark.integration


def gateway0(address: str) -> dict[str, Any] | None:
    """Gateway 0's health detail from the site's status (None while it does not answer)."""
    async def ask() -> dict[str, Any] | None:
        client = SiteClient(address)
        try:
            status = await client.status()
        except Exception:  # the site is busy restarting an actor: ask again
            return None
        finally:
            await client.close()
        for a in status.actors:
            if a.name.endswith("/gateway/0") and a.healthy:
                return dict(json.loads(a.detail))
        return None

    return asyncio.run(ask())


def routed_sip_calls(run_dir: Path) -> list[str]:
    """SIP calls the IVR sent to a queue (their `queued` event after `ivr`)."""
    events = [e for e in all_events(run_dir) if e.get("kind") == "contact"]
    sip = {e["contact_id"] for e in events if (e.get("data") or {}).get("origin") == "sip"}
    return [e["contact_id"] for e in events if e["contact_id"] in sip and e["state"] == "queued"
            and e.get("prev_state") == "ivr"]  # fmt: skip


def test_sip_listener_comes_back_with_a_restarted_gateway(tmp_path: Path) -> None:
    path = sip_cluster_file(tmp_path)
    config = load_config(path)
    run_dir = tmp_path / "run"
    state = launcher.up(config, path, run_dir, log=lambda m: None)
    try:
        port = int(state.sites[config.sites[0].id].sip.rsplit(":", 1)[1])
        first = asyncio.run(run_sipp(tmp_path, "uac_ivr.xml", port))
        assert first.returncode == 0, first.explain()
        before = gateway0(config.sites[0].grpc_address)
        assert before is not None
        os.kill(int(before["pid"]), signal.SIGKILL)

        deadline = time.monotonic() + 120  # Ray restarts the actor; slow on a loaded 2-core machine
        after = None
        while time.monotonic() < deadline:
            after = gateway0(config.sites[0].grpc_address)
            if after is not None and after["pid"] != before["pid"] and "sip" in after:
                break
            time.sleep(0.5)
        assert after is not None and "sip" in after, f"gateway 0 did not listen for SIP again: {after}"
        assert after["sip"]["port"] == port

        second = asyncio.run(run_sipp(tmp_path, "uac_ivr.xml", port))
        assert second.returncode == 0, second.explain()
        deadline = time.monotonic() + 30
        while len(routed_sip_calls(run_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(set(routed_sip_calls(run_dir))) == 2, routed_sip_calls(run_dir)
        shown = subprocess.run([sys.executable, "-m", "vcc", "status", str(path), "--run-dir", str(run_dir)],
                               capture_output=True, text=True, timeout=60)  # what the operator reads
        assert shown.returncode == 0, shown.stderr
        assert f"SIP 127.0.0.1:{port} (UDP+TCP): listening, 0 calls, 1 answered" in shown.stdout, shown.stdout
    finally:
        launcher.down(run_dir, log=lambda m: None)


def test_vcc_up_with_the_sip_port_taken_says_so_in_one_line(tmp_path: Path) -> None:
    import socket

    path = sip_cluster_file(tmp_path)
    site = load_config(path).sites[0]
    run_dir = tmp_path / "run"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:  # another program has the SIP port
        taken.bind(("127.0.0.1", site.port("sip")))
        try:
            out = subprocess.run([sys.executable, "-m", "vcc", "up", str(path), "--run-dir", str(run_dir)],
                                 capture_output=True, text=True, timeout=400)  # fmt: skip
        finally:
            if (run_dir / "state.json").exists():
                launcher.down(run_dir, log=lambda m: None)  # nothing is left running even if up half-worked
    assert out.returncode != 0
    assert f"site {site.id}: SIP listener: cannot bind UDP 127.0.0.1:{site.port('sip')}: Address already in use" in (
        out.stderr.splitlines()), out.stderr  # fmt: skip
    assert "Traceback" not in out.stderr and "File \"" not in out.stderr, out.stderr
