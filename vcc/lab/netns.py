"""A network lab on one machine: every site in its own network namespace, all joined by one bridge.

::

    root namespace                       hub namespace <name>-hub         site namespaces
    vl<id> 10.213.X.1/24 ───veth─── up0 ─┐
                                         ├─ br0 ─ s0 ───veth─── eth0 10.213.X.2   <name>-A
                                         │      ├ s1 ───veth─── eth0 10.213.X.3   <name>-B
                                         │      └ s2 ───veth─── eth0 10.213.X.4   <name>-C

A site's processes run inside its namespace (``exec_prefix(site)`` is ``ip netns exec <ns>``) and
listen on its address; every packet between sites, and from the root namespace to a site, crosses
the bridge. :meth:`NetLab.link_down` sets the site's bridge port down: the site's link loses carrier
and its packets are dropped, a black hole as in a real partition (no error reaches the sender).
:meth:`NetLab.link_up` heals it.

The namespaces have loopback and the lab subnet, and no default route: nothing inside can reach
beyond the lab. Each lab picks a free ``/24`` of :data:`LAB_SPACE` (unless given one) and a unique
name, and :meth:`NetLab.teardown` removes exactly the namespaces and links it recorded, so parallel
labs, and a lab left over by a crashed run, never collide.

Needs root, Linux network namespaces and veth/bridge support, ``pyroute2`` and ``ip`` (iproute2).
By hand: ``python -m vcc.lab.netns --state lab.json up A B C``, then ``... cut B``, ``... heal B``,
``... down`` (see ``docs/lab.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import functools
import ipaddress
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pyroute2 import IPRoute

from vcc.errors import VccError

#: The address space labs take their ``/24`` from.
LAB_SPACE = ipaddress.ip_network("10.213.0.0/16")
NETNS_DIR = Path("/var/run/netns")
_NAME_PREFIX = "vcclab"
CLONE_NEWNET = 0x40000000
_T = TypeVar("_T")


class LabError(VccError):
    """The lab could not be built, or was asked about a site it does not have."""


@dataclass(frozen=True, slots=True)
class LabSite:
    """A site's place in the lab: its namespace, its address, and its port on the hub bridge."""

    site: str
    netns: str
    address: str
    hub_port: str


class NetLab:
    """A hub namespace with a bridge, one namespace per site, and a veth from the root namespace.

    Build it with :meth:`build` (or ``with NetLab([...]) as lab:``), stop every process you started
    inside, then :meth:`teardown`.
    """

    def __init__(self, sites: Sequence[str], *, subnet: str | None = None, name: str | None = None) -> None:
        if not sites or len(set(sites)) != len(sites):
            raise LabError("a lab needs distinct site ids")
        self.name = name or f"{_NAME_PREFIX}{secrets.token_hex(3)}"
        self.hub = f"{self.name}-hub"
        self.root_link = f"vl{self.name.removeprefix(_NAME_PREFIX)}"[:15]
        self._subnet = ipaddress.ip_network(subnet) if subnet else None
        self._site_ids = list(sites)
        self.sites: dict[str, LabSite] = {}
        self._namespaces: list[str] = []  # exactly what this lab created, in order
        self._root_links: list[str] = []

    # --- addresses -------------------------------------------------------------------------------
    @property
    def subnet(self) -> ipaddress.IPv4Network:
        if self._subnet is None:
            raise LabError("the lab is not built yet")
        return ipaddress.IPv4Network(self._subnet)

    @property
    def root_address(self) -> str:
        """The root namespace's address in the lab (``.1``): where tests and root-side sites listen."""
        return str(self.subnet.network_address + 1)

    def site(self, site: str) -> LabSite:
        try:
            return self.sites[site]
        except KeyError:
            raise LabError(f"site {site!r} is not in lab {self.name}") from None

    def address(self, site: str) -> str:
        return self.site(site).address

    def netns(self, site: str) -> str:
        return self.site(site).netns

    def exec_prefix(self, site: str) -> list[str]:
        """The command prefix that runs a process inside the site's namespace."""
        return ["ip", "netns", "exec", self.netns(site)]

    # --- building and tearing down ---------------------------------------------------------------
    def build(self) -> NetLab:
        """Create the hub, the sites' namespaces and links, and the root-side link. On failure,
        whatever was created is removed before the error propagates."""
        if self._namespaces:
            raise LabError(f"lab {self.name} is already built")
        if os.geteuid() != 0:
            raise LabError("the network lab needs root (network namespaces, veth, bridge)")
        try:
            self._subnet = self._subnet or in_netns(None, _free_subnet)
            hosts = self.subnet.hosts()
            next(hosts)  # .1 is the root namespace's
            self._add_namespace(self.hub)
            in_netns(self.hub, _make_hub)
            for i, site in enumerate(self._site_ids):
                lab_site = LabSite(site, f"{self.name}-{site}", str(next(hosts)), f"s{i}")
                self._add_namespace(lab_site.netns)
                self.sites[site] = lab_site
                in_netns(self.hub, functools.partial(_add_port, port=lab_site.hub_port, peer="eth0",
                                                     peer_ns=lab_site.netns))
                in_netns(lab_site.netns, functools.partial(_address, ifname="eth0", address=lab_site.address,
                                                           subnet=self.subnet))
            self._root_links.append(self.root_link)
            in_netns(None, lambda root: root.link("add", ifname=self.root_link, kind="veth",
                                                  peer={"ifname": "up0", "net_ns_fd": self.hub}))
            in_netns(None, lambda root: _address(root, self.root_link, self.root_address, self.subnet))
            in_netns(self.hub, lambda hub: _enslave(hub, "up0"))
        except BaseException:
            self.teardown()
            raise
        return self

    def _add_namespace(self, name: str) -> None:
        if (NETNS_DIR / name).exists():
            raise LabError(f"network namespace {name} already exists")
        _ip("netns", "add", name)  # not pyroute2's netns.create: it forks, which gRPC's threads forbid
        self._namespaces.append(name)

    def teardown(self) -> dict[str, list[int]]:
        """Remove the links and namespaces this lab created (nothing else). Returns, by namespace,
        the PIDs still running inside (their namespace lives on, nameless, until they exit): stop
        your processes first and expect ``{}``."""
        leftovers = {ns: pids for ns in self._namespaces if (pids := processes_in(ns))}
        for link in reversed(self._root_links):
            with contextlib.suppress(Exception):
                in_netns(None, functools.partial(_delete_link, ifname=link))
        self._root_links.clear()
        for ns in reversed(self._namespaces):  # deleting a namespace deletes its ends of the veths
            with contextlib.suppress(Exception):
                _ip("netns", "delete", ns)
        self._namespaces.clear()
        self.sites.clear()
        return leftovers

    def __enter__(self) -> NetLab:
        return self if self._namespaces else self.build()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.teardown()

    # --- partitions ------------------------------------------------------------------------------
    def link_down(self, site: str) -> None:
        """Cut the site off: its bridge port goes down, every packet to or from it is dropped."""
        port = self.site(site).hub_port
        in_netns(self.hub, lambda hub: hub.link("set", index=_index(hub, port), state="down"))

    def link_up(self, site: str) -> None:
        """Heal the site's link."""
        port = self.site(site).hub_port
        in_netns(self.hub, lambda hub: hub.link("set", index=_index(hub, port), state="up"))

    async def alink_down(self, site: str) -> None:
        """:meth:`link_down` without blocking the event loop."""
        await asyncio.to_thread(self.link_down, site)

    async def alink_up(self, site: str) -> None:
        """:meth:`link_up` without blocking the event loop."""
        await asyncio.to_thread(self.link_up, site)

    def link_is_up(self, site: str) -> bool:
        port = self.site(site).hub_port
        flags = in_netns(self.hub, lambda hub: int(hub.get_links(_index(hub, port))[0].get("flags", 0)))
        return bool(flags & 1)  # IFF_UP

    # --- a lab built in one process and cut by hand from another ---------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "subnet": str(self.subnet), "namespaces": self._namespaces,
                "root_links": self._root_links, "sites": {s: asdict(v) for s, v in self.sites.items()}}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> NetLab:
        lab = cls(list(raw["sites"]), subnet=raw["subnet"], name=raw["name"])
        lab.sites = {s: LabSite(**v) for s, v in raw["sites"].items()}
        lab._namespaces = list(raw["namespaces"])
        lab._root_links = list(raw["root_links"])
        return lab


def in_netns(ns: str | None, fn: Callable[[Any], _T]) -> _T:
    """``fn(ipr)`` with a pyroute2 ``IPRoute`` bound to the named namespace (None: the root one).

    Neither a fork (pyroute2's ``IPRoute(netns=...)`` forks a helper, which crashes in a process
    running gRPC's threads) nor a change to the caller's thread: a short-lived thread ``setns``-es
    into the namespace (a netlink socket belongs to the namespace it was opened in), does the work
    and goes back. That thread also keeps pyroute2's own event loop off an async caller's loop."""

    def work() -> _T:
        if ns is None:
            with IPRoute() as ipr:
                return fn(ipr)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(NETNS_DIR / ns, os.O_RDONLY)
        try:
            _setns(target)
            try:
                with IPRoute() as ipr:
                    return fn(ipr)
            finally:
                _setns(home)
        finally:
            os.close(target)
            os.close(home)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vcc-lab") as pool:
        return pool.submit(work).result()


def _setns(fd: int) -> None:
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def _make_hub(hub: Any) -> None:
    _up(hub, "lo")
    hub.link("add", ifname="br0", kind="bridge")
    _up(hub, "br0")


def _add_port(hub: Any, port: str, peer: str, peer_ns: str) -> None:
    """A veth from the hub's bridge to ``peer`` in ``peer_ns``."""
    hub.link("add", ifname=port, kind="veth", peer={"ifname": peer, "net_ns_fd": peer_ns})
    _enslave(hub, port)


def _enslave(hub: Any, port: str) -> None:
    hub.link("set", index=_index(hub, port), master=_index(hub, "br0"), state="up")


def _address(ipr: Any, ifname: str, address: str, subnet: ipaddress.IPv4Network) -> None:
    _up(ipr, "lo")
    ipr.addr("add", index=_index(ipr, ifname), address=address, prefixlen=subnet.prefixlen)
    _up(ipr, ifname)


def _index(ipr: Any, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise LabError(f"no link {ifname}")
    return int(found[0])


def _up(ipr: Any, ifname: str) -> None:
    ipr.link("set", index=_index(ipr, ifname), state="up")


def _delete_link(ipr: Any, ifname: str) -> None:
    found = ipr.link_lookup(ifname=ifname)
    if found:
        ipr.link("del", index=found[0])


def _free_subnet(root: Any) -> ipaddress.IPv4Network:
    """The first ``/24`` of :data:`LAB_SPACE` that no address of the root namespace is in (another
    lab's root link holds its ``.1``). Two labs built at the same instant may race: build one at a
    time, or pass ``subnet``."""
    used = {ipaddress.ip_address(a.get_attr("IFA_ADDRESS")) for a in root.get_addr(family=socket.AF_INET)}
    for subnet in ipaddress.IPv4Network(LAB_SPACE).subnets(new_prefix=24):
        if not any(a in subnet for a in used):
            return subnet
    raise LabError(f"every /24 of {LAB_SPACE} is in use")


def processes_in(ns: str) -> list[int]:
    """PIDs of the processes whose network namespace is the named one."""
    try:
        st = os.stat(NETNS_DIR / ns)
    except OSError:
        return []
    target = (st.st_dev, st.st_ino)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            other = os.stat(f"/proc/{pid}/ns/net")
            if (other.st_dev, other.st_ino) == target:
                found.append(int(pid))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vcc.lab.netns", description="Build, cut, heal, remove a lab.")
    parser.add_argument("--state", type=Path, default=Path("lab.json"), help="the lab's state file")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build a lab with these sites")
    up.add_argument("sites", nargs="+")
    up.add_argument("--subnet")
    for cmd in ("cut", "heal"):
        sub.add_parser(cmd, help=f"{cmd} a site's link").add_argument("site")
    sub.add_parser("show", help="print the lab")
    sub.add_parser("down", help="remove the lab")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            if args.state.exists():
                raise LabError(f"{args.state} exists: a lab is up (`down` it first)")
            lab = NetLab(args.sites, subnet=args.subnet).build()
            args.state.write_text(json.dumps(lab.to_json(), indent=2))
        else:
            if not args.state.exists():
                raise LabError(f"no lab state at {args.state}")
            lab = NetLab.from_json(json.loads(args.state.read_text()))
            if args.cmd == "cut":
                lab.link_down(args.site)
            elif args.cmd == "heal":
                lab.link_up(args.site)
            elif args.cmd == "down":
                for ns, pids in lab.teardown().items():
                    print(f"warning: {ns} still had processes {pids}", file=sys.stderr)
                args.state.unlink()
                return 0
        print(f"lab {lab.name}: root {lab.root_address}")
        for s in lab.sites.values():
            state = "up" if lab.link_is_up(s.site) else "CUT"
            print(f"  {s.site}: {s.address} in {s.netns} (link {state}); run: ip netns exec {s.netns} CMD")
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
