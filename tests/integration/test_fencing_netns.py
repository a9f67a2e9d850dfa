"""Fencing across a real partition: three sites, each in its own network namespace of a lab
(:mod:`vcc.lab.netns`), so every packet between sites crosses the lab's bridge. Site B's link is set
down mid-load, then up again.

While cut off, B must fence itself within about one lease TTL, take no new contact (a probe inside
B's namespace keeps submitting to B's API) and offer no contact to an agent; a survivor must detect B
down and adopt its durable contacts. After the link returns, B must rejoin, serve its API again and
take a new contact that a bot agent completes. Everything is checked from the sites' event logs
(files the test process can read from the root namespace) and through the public API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cluster_files import make_cluster_file
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.config import ClusterConfig, load_config
from vcc.runtime import launcher, procs
from vcc.runtime.eventlog import read_log

pytestmark = pytest.mark.integration

CUT_S = 6.0  # how long B stays cut off: TTL 1 s, so fence, expiry and adoption all fit well inside


def _lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "the network lab needs root"
    if shutil.which("ip") is None:
        return "the network lab needs `ip` (Debian iproute2)"
    if not Path("/usr/bin/etcd").exists():
        return "needs /usr/bin/etcd (Debian etcd-server)"
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        return "the network lab needs pyroute2"
    return None


# Submits one contact to B every 0.25 s from inside B's namespace (the only place B can be reached
# from while its link is down) and prints what B answered, with the wall-clock send and reply times.
PROBE = r"""
import asyncio, json, sys, time
from vcc.client.contacts import SiteClient, submission

async def main(address, until):
    client, out, i = SiteClient(address), [], 0
    kinds = [("voice", "+14165550100"), ("chat", "nimbus-chat")]
    while time.time() < until:
        channel, entry = kinds[i % 2]
        cid, sent = f"probe{i}", time.time()
        try:
            r = (await client.submit([submission(cid, channel, entry, "+15550000")], timeout_s=1.0))[0]
            out.append({"id": cid, "sent": sent, "replied": time.time(), "accepted": r.accepted, "error": r.error})
        except Exception as e:
            out.append({"id": cid, "sent": sent, "replied": time.time(), "accepted": False, "error": repr(e)[:80]})
        i += 1
        await asyncio.sleep(0.25)
    await client.close()
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def read_events(run_dir: Path, site: str | None = None) -> list[dict[str, Any]]:
    """Every complete event in the sites' logs, read-only (the sinks are still writing)."""
    events: list[dict[str, Any]] = []
    for directory in sorted((run_dir / "sites").glob(f"{site or '*'}/events")):
        events += list(read_log(directory))
    return events


def site_events(events: list[dict[str, Any]], site: str, what: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("kind") == "site" and e.get("site") == site and e["event"] == what]


async def poll(predicate: Any, timeout_s: float, step_s: float = 0.1) -> Any:
    """Wait for ``predicate()`` to return something truthy (event logs are files other processes write:
    polling them is the only way to watch)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        await asyncio.sleep(step_s)
    return predicate()


async def submit_all(client: SiteClient, subs: list[Any], attempts: int = 5) -> list[str]:
    """Submit, resubmitting what was refused (a loaded 2-core lab can fence a site for a moment);
    returns the ids accepted."""
    accepted: list[str] = []
    for _ in range(attempts):
        results = await client.submit(subs, timeout_s=10.0)
        accepted += [r.contact_id for r in results if r.accepted]
        subs = [s for s, r in zip(subs, results, strict=True) if not r.accepted]
        if not subs:
            break
        await asyncio.sleep(0.5)
    return accepted


def lab_cluster_file(tmp_path: Path, addresses: dict[str, str]) -> Path:
    # below the ephemeral ports (32768-60999) that the sites' own processes connect from: a site's
    # gRPC port once failed to bind because an outgoing connection in its namespace held it
    path = make_cluster_file(tmp_path, port_base=16000, runtime={"lease_ttl_s": 1})
    raw = yaml.safe_load(path.read_text())
    for site in raw["sites"]:
        site["host"] = addresses[site["id"]]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def stop_strays(lab: Any) -> list[int]:
    """Stop any process still inside the lab's namespaces (they can only be this test's: the
    namespaces are its own), by PID; returns those PIDs."""
    from vcc.lab.netns import processes_in

    pids = [p for s in lab.sites.values() for p in processes_in(s.netns)]
    procs.terminate(pids, timeout_s=5.0)
    return pids


def _reachable(address: str, port: int, timeout_s: float = 0.5) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(timeout_s)
        return s.connect_ex((address, port)) == 0


def test_lab_cut_and_heal() -> None:
    """The lab alone: a listener inside B's namespace is reachable from the root namespace and from
    A's, not while B's link is down, again after it is healed; teardown leaves nothing behind."""
    missing = _lab_missing()
    if missing:
        pytest.fail(f"{missing}: `bash .ci/setup test` installs it")
    from vcc.lab.netns import NETNS_DIR, NetLab, processes_in

    listener = "import socket,time; s=socket.create_server(('0.0.0.0', 7777)); time.sleep(60)"
    from_a = "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex((sys.argv[1], 7777)))"
    with NetLab(["A", "B"]) as lab:
        b = lab.address("B")
        server = subprocess.Popen([*lab.exec_prefix("B"), sys.executable, "-c", listener])
        try:
            deadline = time.monotonic() + 10
            while not _reachable(b, 7777) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert processes_in(lab.netns("B")) == [server.pid]
            assert _reachable(b, 7777)
            assert subprocess.run([*lab.exec_prefix("A"), sys.executable, "-c", from_a, b]).returncode == 0
            lab.link_down("B")
            assert not lab.link_is_up("B")
            assert not _reachable(b, 7777)
            assert subprocess.run([*lab.exec_prefix("A"), sys.executable, "-c", from_a, b]).returncode != 0
            lab.link_up("B")
            assert _reachable(b, 7777, timeout_s=3.0)
        finally:
            procs.terminate([server.pid])
            server.wait()
        names = [lab.hub, *(s.netns for s in lab.sites.values())]
        root_link = lab.root_link
    assert not [n for n in names if (NETNS_DIR / n).exists()]
    assert not Path(f"/sys/class/net/{root_link}").exists()


def test_site_b_partitioned_fences_and_rejoins(tmp_path: Path) -> None:
    missing = _lab_missing()
    if missing:
        pytest.fail(f"{missing}: `bash .ci/setup test` installs it")
    from vcc.lab.netns import NetLab

    lab = NetLab(["A", "B", "C"])
    t0 = time.monotonic()
    lab.build()
    print(f"MEASURE lab built (hub, 3 site namespaces, root link): {time.monotonic() - t0:.2f} s")
    run_dir = tmp_path / "run"
    config: ClusterConfig | None = None
    strays: list[int] = []
    leftovers: dict[str, list[int]] = {}
    try:
        config_path = lab_cluster_file(tmp_path, {s: lab.address(s) for s in "ABC"})
        config = load_config(config_path)
        t0 = time.monotonic()
        launcher.up(config, config_path, run_dir, log=lambda m: print(f"  up: {m}"),
                    exec_prefix={s: lab.exec_prefix(s) for s in "ABC"})
        print(f"MEASURE vcc up, three sites in namespaces (etcd, Ray heads, actors): {time.monotonic() - t0:.1f} s")
        asyncio.run(_scenario(config, run_dir, lab))
    finally:
        try:
            with contextlib.suppress(Exception):
                lab.link_up("B")
            launcher.down(run_dir, log=lambda m: None)
        finally:
            strays = stop_strays(lab)
            leftovers = lab.teardown()
            if config is not None:
                for s in config.sites:
                    shutil.rmtree(s.temp_dir, ignore_errors=True)
                    with contextlib.suppress(OSError):
                        Path(s.temp_dir).parent.rmdir()  # the cluster's own dir, once empty
    assert not strays, f"processes left in the lab after vcc down: {strays}"
    assert not leftovers, leftovers


async def _scenario(config: ClusterConfig, run_dir: Path, lab: Any) -> None:
    sites = {s.id: s.grpc_address for s in config.sites}
    home = {s: [(a.id, f"demo-{a.id}") for a in config.agents if a.home_site == s] for s in sites}
    late = [a for a in home["B"] if a[0] in ("shared-05", "shared-06")]  # log in at B after the heal
    early_b = [a for a in home["B"] if a not in late]
    pools = {
        "A": BotAgentPool(sites["A"], home["A"], handle_s=lambda ch: 0.3),
        "B": BotAgentPool(sites["B"], early_b, handle_s=lambda ch: 2.0),  # busy: B holds contacts at the cut
        "C": BotAgentPool(sites["C"], home["C"], handle_s=lambda ch: 0.3),
    }
    await asyncio.gather(*(p.start() for p in pools.values()))
    for s, p in pools.items():
        assert p.stats.logged_in, (s, p.stats.login_errors)
    client_b = SiteClient(sites["B"])
    ids = itertools.count()

    # Load on B: durable contacts (chat, SMS, e-mail) for tenants B serves, more than its agents hold.
    entries = [("chat", "nimbus-chat"), ("sms", "+14165550199"), ("email", "claims@acme-insurance.example")]
    batch = [submission(f"pre{next(ids)}", ch, ep, f"+1555{i:04d}") for i, (ch, ep) in
             zip(range(45), itertools.cycle(entries), strict=False)]
    accepted_before = await submit_all(client_b, batch)
    assert len(accepted_before) == len(batch), sorted({s.contact_id for s in batch} - set(accepted_before))
    await asyncio.sleep(1.0)

    # --- the cut -----------------------------------------------------------------------------
    probe_until = time.time() + CUT_S
    probe = await asyncio.create_subprocess_exec(
        *lab.exec_prefix("B"), sys.executable, "-c", PROBE, sites["B"], str(probe_until),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.6)  # the probe's first submissions land while B is still connected
    cut_at = time.time()
    await lab.alink_down("B")
    try:
        fenced = await poll(lambda: [e for e in site_events(read_events(run_dir, "B"), "B", "fenced")
                                     if e["ts"] >= cut_at], 10.0)
        assert fenced, "B never fenced itself after its link went down"
        adopted = await poll(lambda: [e for e in read_events(run_dir) if e.get("kind") == "site"
                                      and e["event"] == "adopted" and e["data"]["dead_site"] == "B"
                                      and e["ts"] >= cut_at], 15.0)
        assert adopted, "no surviving site adopted B's work"
        # probe_until bounds the cut at CUT_S unless the waits above took longer
        await asyncio.sleep(max(0.0, probe_until - time.time()))
    finally:
        healed_at = time.time()
        await lab.alink_up("B")
        try:
            out, err = await asyncio.wait_for(probe.communicate(), 20)
        except TimeoutError:
            probe.kill()
            out, err = await probe.communicate()
    assert probe.returncode == 0, err.decode()[-2000:]
    probed = json.loads(out)

    # --- the heal ----------------------------------------------------------------------------
    fenced_ts = fenced[0]["ts"]
    rejoined = await poll(lambda: [e for e in site_events(read_events(run_dir, "B"), "B", "rejoined")
                                   if e["ts"] > fenced_ts], 20.0)
    assert rejoined, "B did not rejoin after its link came back"
    await asyncio.to_thread(launcher.wait_serving, sites["B"], 20.0)
    status = await client_b.status()
    assert not status.fenced

    rejoined_ts = rejoined[0]["ts"]
    print(f"MEASURE cut -> B fenced: {fenced_ts - cut_at:.2f} s (lease TTL {config.runtime.lease_ttl_s} s, "
          f"margin {config.runtime.lease_margin_s} s)")
    first = min(adopted, key=lambda e: e["data"]["adopted_ts"])
    print(f"MEASURE cut -> {first['site']} adopted B ({first['data']['contacts']} durable contacts): "
          f"{first['data']['adopted_ts'] - cut_at:.2f} s")
    print(f"MEASURE link up -> B rejoined: {rejoined_ts - healed_at:.2f} s (cut lasted {healed_at - cut_at:.1f} s)")
    # The safety property, not a timing bound: B stopped taking work before a survivor took B's over.
    assert fenced_ts < first["data"]["adopted_ts"], (fenced_ts, first)
    assert len(adopted) == 1, adopted  # exactly one survivor won B's adoption election
    assert first["site"] in ("A", "C")
    assert rejoined_ts > fenced_ts

    # While fenced, B accepted nothing from the probe...
    in_window = [p for p in probed if p["sent"] > fenced_ts and p["replied"] < rejoined_ts]
    assert in_window, f"the probe never reached B while it was fenced: {probed[:5]}"
    assert not [p for p in in_window if p["accepted"]], [p for p in in_window if p["accepted"]]
    refused = sum(1 for p in in_window if "fenced" in p["error"])
    print(f"MEASURE probe inside B's namespace while fenced: {len(in_window)} submissions, {refused} refused "
          f"as fenced, {len(in_window) - refused} failed otherwise, 0 accepted")
    # ...admitted no contact, and offered none to an agent.
    events_b = [e for e in read_events(run_dir, "B") if fenced_ts < e["ts"] < rejoined_ts]
    arrived = [e for e in events_b if e.get("kind") == "contact" and e["state"] == "arrived"]
    offered = [e for e in events_b if e.get("kind") == "contact" and e["state"] == "offered"]
    reserved = [e for e in events_b if e.get("kind") == "agent" and e["state"] == "reserved"]
    assert not arrived, arrived[:3]
    assert not offered, offered[:3]
    assert not reserved, reserved[:3]

    # --- B takes a new contact after the heal, and a bot agent completes it -------------------
    fresh = BotAgentPool(sites["B"], late, handle_s=lambda ch: 0.2)
    await fresh.start()
    assert fresh.stats.logged_in == {a for a, _ in late}, fresh.stats.login_errors
    cid = "after-heal"
    result = (await client_b.submit([submission(cid, "chat", "nimbus-chat", "+15559999")], timeout_s=5.0))[0]
    assert result.accepted, result.error

    def done() -> list[dict[str, Any]]:
        return [e for e in read_events(run_dir) if e.get("kind") == "contact" and e["contact_id"] == cid
                and e["state"] == "completed"]

    completed = await poll(done, 20.0)
    assert completed, f"{cid} accepted by B after the heal but never completed"
    print(f"MEASURE contact submitted to B after the heal completed at {completed[0]['site']} "
          f"by {completed[0].get('agent_id')}")

    # Survivors fence too if B's etcd member led the cluster (no leader until the next election).
    for s in ("A", "C"):
        blips = [e for e in site_events(read_events(run_dir, s), s, "fenced") if cut_at <= e["ts"] < healed_at]
        print(f"MEASURE {s} fenced during the cut: {len(blips)} time(s)")
    # Durable contacts B held at the cut: the adopter served them; B's agents finishing them after
    # the heal must not count a second completion (B logs them as served elsewhere).
    ends = [e for e in read_events(run_dir) if e.get("kind") == "contact" and e["state"] == "completed"
            and e["contact_id"] in set(accepted_before)]
    per_id: dict[str, int] = {}
    for e in ends:
        per_id[e["contact_id"]] = per_id.get(e["contact_id"], 0) + 1
    print(f"MEASURE durable contacts submitted to B before the cut: {len(accepted_before)}, completed "
          f"{len(per_id)}, completed twice {sum(1 for n in per_id.values() if n > 1)}")
    assert not [cid for cid, n in per_id.items() if n > 1], "a durable contact completed twice across the partition"

    # B rejoined still holding copies of contacts the adopter had taken (queued, or in its agents'
    # hands): it must hand them over (etcd names their owner) and never offer one again. A contact B
    # was offering to a survivor when the link went down may have been taken over by that survivor
    # (its answer lost in the cut): B hands it over too.
    everywhere = read_events(run_dir)
    adopted_ids = {e["contact_id"] for e in everywhere if e.get("kind") == "contact"
                   and e.get("reason") == "adopted_from:B"}
    taken_by_offer = {e["contact_id"] for e in everywhere if e.get("kind") == "contact" and e["site"] != "B"
                      and e.get("reason") == "from_site:B"}
    events_b = read_events(run_dir, "B")
    moved = {e["contact_id"]: e["data"]["site"] for e in events_b if e.get("kind") == "contact"
             and e.get("reason") == "moved_to_site" and e["ts"] >= rejoined_ts}
    # A new offer or a new connection counts. B's agent setting a wrap-up code on a contact it already had
    # in hand before the cut (connected -> connected, reason disposition) is the finish allowed above.
    stale = [(e["contact_id"], e["state"], e.get("agent_id"), e.get("reason")) for e in events_b
             if e.get("kind") == "contact" and e["ts"] >= rejoined_ts and e["contact_id"] in adopted_ids
             and (e["state"] == "offered" or (e["state"] == "connected" and e["prev_state"] != "connected"))]
    print(f"MEASURE B rejoined holding {len(moved)} contacts adopted elsewhere: handed over to "
          f"{sorted(set(moved.values()))}; offered again at B: {len(stale)}")
    assert moved, "B rejoined without handing over the contacts a survivor adopted from it"
    assert set(moved) <= adopted_ids | taken_by_offer, sorted(set(moved) - adopted_ids - taken_by_offer)[:5]
    # a contact leaves B once (until it comes back): a late answer to an offer adds no second departure
    gone: set[str] = set()
    twice: list[str] = []
    for e in sorted(events_b, key=lambda e: e["seq"]):
        if e.get("kind") != "contact" or e["ts"] < rejoined_ts:
            continue
        if (e.get("reason") or "").startswith("from_site:"):
            gone.discard(e["contact_id"])
        elif e.get("reason") in ("moved_to_site", "sent_to_site"):
            if e["contact_id"] in gone:
                twice.append(e["contact_id"])
            gone.add(e["contact_id"])
    assert not twice, f"contacts that left B twice: {twice[:5]}"
    assert set(moved.values()) <= {"A", "C"}, moved  # the adopter, or where it sent them on
    assert not stale, f"B offered contacts that another site owns after it rejoined: {stale[:5]}"

    for p in [*pools.values(), fresh]:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(p.stop(logout=False), 10.0)
    await client_b.close()
