"""The web front doors of a real cluster (`vcc up`: three sites, each its own etcd member and Ray
cluster, actors deployed as in production) in headless Chromium: a web call at site dev with audio
both ways through the Ray-deployed front door and media gateway; then site dev is killed and the
agent's desktop moves to another site's front door on its own, is back in service there, and takes
a web chat from that site's widget page."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.audio import heard_hz
from tests.e2e.browsers import Browsers, log_in, until
from tests.e2e.webharness import e2e_cluster_file
from tests.integration.cluster_files import ray_temp_root
from vcc.client.contacts import SiteClient
from vcc.config import load_config
from vcc.config.sites import PORT_OFFSETS
from vcc.runtime import launcher

pytestmark = pytest.mark.integration
SITES = ("dev", "d2", "d3")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(candidates: tuple[int, ...] = (28500, 23500, 31000, 29000)) -> int:
    """A base where three sites (one per 1000 ports) find every port free, outside the blocks
    other tests use (26000-28499, 30000-30499, 25000-25499, 21000-23499)."""
    for base in candidates:
        blocks = [base + 1000 * i for i in range(len(SITES))]
        if any(25000 <= b <= 25499 or 30000 <= b <= 30499 for b in blocks):
            continue
        if all(port_free(b + offset) for b in blocks for offset in PORT_OFFSETS.values()):
            return base
    raise RuntimeError("no free port block for three sites")


def three_site_file(tmp_path: Path) -> Path:
    """cluster/dev.yaml, open around the clock, on three sites (etcd keeps quorum without one)."""
    path = e2e_cluster_file(tmp_path, name=f"w{uuid.uuid4().hex[:6]}")
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    base = free_port_base()
    temp_root = ray_temp_root(raw["name"])
    raw["sites"] = [{"id": s, "name": s, "region": "local", "port_base": base + 1000 * i,
                     "ray_temp_dir": str(temp_root / s), "ray_num_cpus": 1}
                    for i, s in enumerate(SITES)]
    for tenant in raw["tenants"]:
        tenant["home_sites"] = list(SITES)
    for agent in raw["agents"]:
        agent["home_site"] = "dev"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_web_front_doors_of_a_real_cluster_survive_a_site_loss(tmp_path: Path) -> None:
    config_path = three_site_file(tmp_path)
    config = load_config(config_path)
    run_dir = tmp_path / "run"
    launcher.up(config, config_path, run_dir, log=lambda m: None)
    try:
        asyncio.run(scenario(config, run_dir, tmp_path))
    finally:
        launcher.down(run_dir, log=lambda m: None)


async def scenario(config: Any, run_dir: Path, tmp_path: Path) -> None:
    sites = {s.id: s for s in config.sites}
    dev_url = sites["dev"].http_url
    client = SiteClient(sites["dev"].grpc_address)
    try:
        status = await client.status()
        web = [a for a in status.actors if a.kind == "web_front_door"]
        assert [(a.name, a.healthy) for a in web] == [("dev/web/0", True)], status.actors
    finally:
        await client.close()

    async with Browsers(tmp_path) as browsers:
        agent = await browsers.open("agent", f"{dev_url}/agent", 1000.0)
        await log_in(agent, "dev-01", "demo-dev-01")
        caller = await browsers.open("caller", f"{dev_url}/w/demo-web-call", 440.0)
        await caller.fill("#caller-id", "+4930666")
        await caller.click("#call")
        await until(caller, "window.vcc.voice.media.some(e => e.kind === 'prompt' && /press 2/i.test(e.prompt))", 40)
        await caller.click("#key-2")
        await until(caller, "window.vcc.voice.state === 'queued'", 30)
        await until(caller, "window.vcc.voice.position === 1", 30)
        await agent.click("#ready")
        await until(agent, "window.vcc.offers.length > 0", 30)
        await agent.click("#accept")
        await until(agent, "window.vcc.call && window.vcc.audio")
        await heard_hz(agent, 440.0, timeout_s=30)
        await heard_hz(caller, 1000.0, timeout_s=30)
        await agent.click("#hangup")
        await agent.click("#wrap-done")
        await until(agent, "window.vcc.state === 'ready'", 30)
        await caller.close()

        await asyncio.to_thread(launcher.kill_site, run_dir, "dev")
        moved = await until(agent, f"location.origin !== '{dev_url}' && window.vcc && window.vcc.state === 'ready'"
                                   " && location.origin", 90)
        assert moved in (sites["d2"].http_url, sites["d3"].http_url), moved

        chat = await browsers.open("chat", f"{moved}/w/demo-chat")
        await chat.fill("#caller-id", "+4930666")
        await chat.click("#chat-start")
        await until(chat, "window.vcc.chat.contactId", 60)  # the survivors may be electing an etcd leader
        await chat.fill("#chat-text", "Are you still there?")
        await chat.click("#chat-send")
        await until(agent, "window.vcc.offers.some(o => o.channel === 'chat')", 30)
        pop = await agent.evaluate("window.vcc.offers.find(o => o.channel === 'chat')")
        assert pop["caller_id"] == "+4930666"
        await agent.click("#accept")
        cid = pop["contact_id"]
        await until(agent, f"window.vcc.chats['{cid}']")
        await agent.fill(f"#chat-{cid} input", "Yes, from another site.")
        await agent.click(f"#chat-{cid} .send")
        await until(chat, "window.vcc.chat.lines.some(l => l.from === 'agent')", 30)
