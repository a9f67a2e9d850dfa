"""The lab of ``vcc up --lab``: a namespace per site and a hub namespace whose forwarder
(:mod:`vcc.lab.hub`) is the only path between them, with the WAN settings of the cluster file's
``lab:`` section. Everything it makes is recorded (``LabRecord``, kept in ``state.json``) and
:func:`teardown` removes exactly that.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vcc.config import ClusterConfig
from vcc.config.lab import LabConfig
from vcc.lab.netns import LAB_SPACE, NETNS_DIR, LabError, _ip, in_netns, processes_in
from vcc.runtime import procs

ROOT = "root"  # the end of the lab that is the machine's own namespace (vcc, tests, operators)
SITE_IFNAME = "wan0"
HUB_READY_S = 20.0


@dataclass
class LabRecord:
    """What a lab made: its names, addresses and the hub process. Stored in ``state.json``."""

    name: str
    subnet: str
    hub_netns: str
    hub_pid: int
    control: str
    root_address: str
    root_link: str
    sites: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {netns, address}
    namespaces: list[str] = field(default_factory=list)  # exactly what it created, in order
    config_path: str = ""  # the cluster file with each site's host set to its lab address

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LabRecord:
        return cls(**raw)

    def exec_prefix(self, site: str) -> list[str]:
        return ["ip", "netns", "exec", self.sites[site]["netns"]]


def check_links(lab: LabConfig, sites: list[str]) -> None:
    ends = {*sites, ROOT}
    for link in lab.links:
        for end in link.between:
            if end not in ends:
                raise LabError(f"lab.links: {link.between[0]}-{link.between[1]} names {end!r}, which is neither a "
                               f"site ({', '.join(sites)}) nor `root`")


def _free_subnet(root: Any) -> ipaddress.IPv4Network:
    used = {ipaddress.ip_address(a.get_attr("IFA_ADDRESS")) for a in root.get_addr(family=socket.AF_INET)}
    routed = [ipaddress.ip_network(f"{r.get_attr('RTA_DST')}/{r['dst_len']}") for r in root.get_routes(family=2)
              if r.get_attr("RTA_DST") and r["dst_len"]]
    for subnet in ipaddress.IPv4Network(LAB_SPACE).subnets(new_prefix=24):
        if not any(a in subnet for a in used) and not any(subnet.overlaps(r) for r in routed):
            return subnet
    raise LabError(f"every /24 of {LAB_SPACE} is in use")


def build(config: ClusterConfig, config_path: Path, run_dir: Path, *, prefix: str = "vcclab",
          seed: int | None = None, log: Any = print) -> LabRecord:
    """Create the namespaces, start the hub (which makes the links) and write the lab's cluster file.
    On failure, whatever was made is removed before the error propagates."""
    if os.geteuid() != 0:
        raise LabError("the network lab needs root (network namespaces, TUN devices)")
    if not Path("/dev/net/tun").exists():
        raise LabError("the network lab needs /dev/net/tun")
    sites = [s.id for s in config.sites]
    check_links(config.lab, sites)
    if len(prefix) > 20 or not prefix.replace("-", "").isalnum():
        raise LabError(f"lab prefix {prefix!r}: letters, digits and '-', at most 20")
    token = secrets.token_hex(3)
    name = f"{prefix}{token}"
    subnet = ipaddress.IPv4Network(config.lab.subnet) if config.lab.subnet else in_netns(None, _free_subnet)
    hosts = subnet.hosts()
    root_address = str(next(hosts))
    addresses = {s: str(next(hosts)) for s in sites}
    run_dir = run_dir.resolve()
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    rec = LabRecord(name=name, subnet=str(subnet), hub_netns=f"{name}-hub", hub_pid=0,
                    control=str(run_dir / "lab-hub.sock"), root_address=root_address, root_link=f"vl{token}",
                    sites={s: {"netns": f"{name}-{s}", "address": a} for s, a in addresses.items()})
    try:
        for ns in [rec.hub_netns, *(v["netns"] for v in rec.sites.values())]:
            if (NETNS_DIR / ns).exists():
                raise LabError(f"network namespace {ns} already exists")
            _ip("netns", "add", ns)
            rec.namespaces.append(ns)
        links: dict[str, Any] = {}
        ends = [ROOT, *sites]
        for i, a in enumerate(ends):
            for b in ends[i + 1:]:
                links[f"{a}|{b}"] = config.lab.settings(a, b).model_dump()
        ready = run_dir / "lab-hub.ready"
        ready.unlink(missing_ok=True)
        spec = {
            "name": name, "subnet": str(subnet), "control": rec.control, "ready_file": str(ready), "seed": seed,
            "ends": {ROOT: {"netns_path": f"/proc/{os.getpid()}/ns/net", "address": root_address,
                            "ifname": rec.root_link},
                     **{s: {"netns_path": str(NETNS_DIR / v["netns"]), "address": v["address"],
                            "ifname": SITE_IFNAME} for s, v in rec.sites.items()}},
            "links": links,
        }  # fmt: skip
        spec_path = run_dir / "lab-hub.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        with open(run_dir / "logs" / "lab-hub.log", "ab") as out:
            hub = subprocess.Popen(["ip", "netns", "exec", rec.hub_netns, sys.executable, "-m", "vcc.lab.hub",
                                    str(spec_path)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        rec.hub_pid = hub.pid
        deadline = time.monotonic() + HUB_READY_S
        while not ready.exists():
            if hub.poll() is not None:
                tail = (run_dir / "logs" / "lab-hub.log").read_text(errors="replace").splitlines()[-5:]
                raise LabError("the lab hub stopped while starting: " + " | ".join(tail))
            if time.monotonic() > deadline:
                raise LabError(f"the lab hub is not ready after {HUB_READY_S:.0f} s")
            time.sleep(0.05)
        rec.config_path = str(write_lab_config(config_path, run_dir, addresses))
    except BaseException:
        teardown(rec)
        raise
    log(f"lab {name}: subnet {subnet}, root {root_address}, "
        + ", ".join(f"{s} {a}" for s, a in addresses.items()))
    return rec


def write_lab_config(config_path: Path, run_dir: Path, addresses: dict[str, str]) -> Path:
    """The cluster file with each site's ``host`` set to its lab address, in the run dir (the sites,
    ``vcc status``, ``vcc load`` and ``vcc drill`` all read this one while the lab is up)."""
    raw = yaml.safe_load(config_path.read_text())
    for site in raw["sites"]:
        site["host"] = addresses[str(site["id"])]
    path = run_dir / f"lab-{config_path.name}"
    path.write_text(f"# written by `vcc up --lab` from {config_path.resolve()}: hosts are lab addresses\n"
                    + yaml.safe_dump(raw, sort_keys=False))
    return path


def teardown(rec: LabRecord) -> dict[str, list[int]]:
    """Stop the hub (its TUN links go with it) and delete exactly the recorded namespaces. Returns,
    by namespace, the PIDs that were still inside (stop the sites first and expect ``{}``)."""
    leftovers = {ns: pids for ns in rec.namespaces if (pids := [p for p in processes_in(ns) if p != rec.hub_pid])}
    if rec.hub_pid and procs.alive(rec.hub_pid):
        procs.terminate([rec.hub_pid], timeout_s=5.0)
    for ns in reversed(rec.namespaces):
        if (NETNS_DIR / ns).exists():
            with contextlib.suppress(LabError):
                _ip("netns", "delete", ns)
    rec.namespaces = []
    Path(rec.control).unlink(missing_ok=True)
    return leftovers


def control(rec: LabRecord, request: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """One request to the running hub (status, down, set); raises LabError on an error reply."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(rec.control)
            s.sendall(json.dumps(request).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError as e:
        raise LabError(f"the lab hub does not answer at {rec.control}: {e}") from None
    reply: dict[str, Any] = json.loads(buf or b"{}")
    if not reply.get("ok"):
        raise LabError(f"lab hub: {reply.get('error', 'no reply')}")
    return reply


def cut(rec: LabRecord, site: str, down: bool = True) -> None:
    """Partition ``site`` (every path to and from it drops everything), or heal it."""
    if site not in rec.sites:
        raise LabError(f"no site {site!r} in lab {rec.name}")
    control(rec, {"op": "down", "site": site, "down": down})


def set_wan(rec: LabRecord, a: str, b: str, **params: Any) -> None:
    control(rec, {"op": "set", "between": [a, b], **params})


def status(rec: LabRecord) -> dict[str, Any]:
    """The lab: namespaces (and whether they still exist), addresses, the hub, every path's WAN
    settings and counters."""
    report: dict[str, Any] = {
        "name": rec.name, "subnet": rec.subnet, "hub": {"netns": rec.hub_netns, "pid": rec.hub_pid,
                                                         "alive": procs.alive(rec.hub_pid)},
        "root": {"address": rec.root_address, "link": rec.root_link,
                 "link_present": Path(f"/sys/class/net/{rec.root_link}").exists()},
        "sites": {s: {**v, "link": SITE_IFNAME, "netns_present": (NETNS_DIR / v["netns"]).exists()}
                  for s, v in rec.sites.items()},
    }  # fmt: skip
    try:
        reply = control(rec, {"op": "status"})
        report["paths"] = reply["paths"]
        report["unroutable"] = reply["unroutable"]
    except LabError as e:
        report["paths"] = []
        report["error"] = str(e)
    return report


def up_lab(config: ClusterConfig, config_path: Path, run_dir: Path, *, prefix: str = "vcclab",
           seed: int | None = None, log: Any = print) -> Any:
    """``vcc up --lab``: build the lab (recorded in ``state.json`` before anything runs in it), then
    start every site inside its namespace with its lab address as ``host``. On failure the sites
    started and the lab are removed again."""
    from vcc.config import load_config
    from vcc.runtime import launcher

    state = launcher.RunState.load(run_dir)
    if state is not None and (state.lab or any(procs.alive(r.ray_pid) for r in state.sites.values())):
        where = f"lab {state.lab['name']}" if state.lab else "without the lab"
        raise LabError(f"a cluster is already running from {run_dir} ({where}): `vcc down` it first")
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = build(config, config_path, run_dir, prefix=prefix, seed=seed, log=log)
    lab_path = Path(rec.config_path)
    state = launcher.RunState(config.name, str(lab_path), str(run_dir), lab=rec.to_json())
    state.save()
    try:
        lab_config = load_config(lab_path)
        state = launcher.up(lab_config, lab_path, run_dir, log=log,
                            exec_prefix={s: rec.exec_prefix(s) for s in rec.sites})
    except BaseException:
        remove_recorded_lab(launcher.RunState.load(run_dir) or state, log=log)
        (run_dir / "state.json").unlink(missing_ok=True)
        raise
    return state


def remove_recorded_lab(state: Any, log: Any = print) -> None:
    """Tear down the lab ``state.json`` records (after the sites are stopped) and forget it."""
    if not state.lab:
        return
    rec = LabRecord.from_json(state.lab)
    for ns in rec.namespaces:  # only this lab's processes can be in its namespaces
        pids = [p for p in processes_in(ns) if p != rec.hub_pid]
        if pids:
            log(f"warning: processes {pids} were still in {ns}: stopping them")
            procs.terminate(pids, timeout_s=5.0)
    teardown(rec)
    state.lab = None
    state.save()
    log(f"removed lab {rec.name} (namespaces {rec.hub_netns}, "
        + ", ".join(v["netns"] for v in rec.sites.values()) + f"; hub pid {rec.hub_pid})")


def recorded(run_dir: Path) -> LabRecord | None:
    """The lab a cluster in ``run_dir`` runs in, if any."""
    from vcc.runtime.launcher import RunState

    state = RunState.load(run_dir)
    return LabRecord.from_json(state.lab) if state and state.lab else None
