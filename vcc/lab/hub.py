"""The lab's hub: a userspace packet forwarder that is the only path between the lab's namespaces,
and the WAN emulator on that path (``python -m vcc.lab.hub SPEC.json``, started by ``vcc up --lab``).

Each site's namespace has one link, ``wan0``, a TUN device held by this process (and the machine's
own namespace, ``root``, one as well): every IPv4 packet a site sends to another lab address comes
out of its ``wan0`` here, goes through the :class:`~vcc.lab.wan.WanPath` of that direction (loss,
rate, delay, jitter, or dropped while cut) and is written into the destination's TUN at its delivery
time. It forwards whole IP packets, so TCP, UDP and ICMP (ping) all cross it; it does not fragment
(every TUN has the same MTU) and forwards no IPv6.

It runs inside the lab's hub namespace, which holds nothing else. Its TUNs live as long as it does:
when it stops, every lab link vanishes with it. A Unix socket (``control`` in the spec) takes one
JSON request per line: ``{"op": "status"}``, ``{"op": "down", "site": "B", "down": true}``,
``{"op": "set", "between": ["A", "B"], "delay_ms": 80, ...}``; see :mod:`vcc.lab.cluster`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import os
import signal
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.lab.netns import in_netns
from vcc.lab.wan import WanParams, WanTable

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
READ_BATCH = 64
HUB_NICE = -15  # packets read from one TUN before the loop looks at the others


@dataclass
class End:
    """One end of the lab: a site's namespace, or root."""

    end: str
    netns_path: str  # a file whose open() gives the namespace (/var/run/netns/X, /proc/PID/ns/net)
    address: str
    ifname: str
    fd: int = -1


def open_tun(netns_path: str, ifname: str) -> int:
    """A TUN device named ``ifname`` created in the namespace at ``netns_path``: a thread enters the
    namespace, opens ``/dev/net/tun`` (the device is made in its opener's namespace) and comes back."""

    def work(_: Any) -> int:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", ifname.encode(), IFF_TUN | IFF_NO_PI))
        return fd

    return in_netns(netns_path, work)


def configure(netns_path: str, ifname: str, address: str, prefixlen: int, mtu: int) -> None:
    def work(ipr: Any) -> None:
        (index,) = ipr.link_lookup(ifname=ifname)
        ipr.link("set", index=index, mtu=mtu)
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")
        lo = ipr.link_lookup(ifname="lo")
        if lo:
            ipr.link("set", index=lo[0], state="up")

    in_netns(netns_path, work)


class Hub:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.subnet = ipaddress.IPv4Network(spec["subnet"])
        self.ends = {name: End(name, e["netns_path"], e["address"], e["ifname"]) for name, e in spec["ends"].items()}
        self.by_address = {ipaddress.IPv4Address(e.address).packed: e for e in self.ends.values()}
        params = {frozenset(k.split("|")): WanParams.from_dict(v) for k, v in spec.get("links", {}).items()}
        self.table = WanTable(list(self.ends), params, seed=spec.get("seed"))
        self.unroutable = 0
        self.started = time.time()

    def open(self) -> None:
        mtu = int(self.spec.get("mtu", 9000))
        for e in self.ends.values():
            e.fd = open_tun(e.netns_path, e.ifname)
            configure(e.netns_path, e.ifname, e.address, self.subnet.prefixlen, mtu)

    def readable(self, src: End) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(READ_BATCH):
            try:
                packet = os.read(src.fd, 65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(packet) < 20 or packet[0] >> 4 != 4:
                continue  # IPv6 (router solicitations and the like): not forwarded
            dst = self.by_address.get(packet[16:20])
            if dst is None or dst is src:
                self.unroutable += 1
                continue
            now = loop.time()
            out = self.table.admit(src.end, dst.end, now, len(packet))
            if out is None:
                continue
            if out <= now:
                self.deliver(src.end, dst, packet)
            else:
                loop.call_at(out, self.deliver, src.end, dst, packet)

    def deliver(self, src: str, dst: End, packet: bytes) -> None:
        try:
            os.write(dst.fd, packet)
        except OSError:  # the far end's queue is full (or it is going away)
            self.table.paths[(src, dst.end)].counters.dropped_queue += 1

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            return {"ok": True, "pid": os.getpid(), "up_s": round(time.time() - self.started, 1),
                    "unroutable": self.unroutable, "paths": self.table.status()}
        if op == "down":
            site = str(request.get("site"))
            if site not in self.ends or site == "root":
                return {"ok": False, "error": f"no site {site!r} in the lab"}
            self.table.set_down(site, bool(request.get("down", True)))
            return {"ok": True}
        if op == "set":
            between = request.get("between") or []
            unknown = [b for b in between if b not in self.ends]
            if len(between) != 2 or unknown or between[0] == between[1]:
                what = f"no end {unknown[0]!r} in the lab" if unknown else "`between` must name two different ends"
                return {"ok": False, "error": f"{what} (ends: {', '.join(self.ends)})"}
            params = WanParams.from_dict(request)
            if params.delay_ms < 0 or params.jitter_ms < 0 or not 0 <= params.loss_pct <= 100:
                return {"ok": False, "error": "delay_ms and jitter_ms must be >= 0, loss_pct within 0..100"}
            self.table.set_params(between[0], between[1], params)
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r} (status, down, set)"}

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    reply = self.handle(request) if isinstance(request, dict) else {"ok": False, "error": "not JSON"}
                except (ValueError, TypeError) as e:
                    reply = {"ok": False, "error": f"bad request: {e}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        for e in self.ends.values():
            loop.add_reader(e.fd, self.readable, e)
        control = self.spec["control"]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(control)
        server = await asyncio.start_unix_server(self.client, path=control)
        with open(self.spec["ready_file"], "w") as ready:  # noqa: ASYNC230 (once, at start)
            ready.write(json.dumps({"pid": os.getpid()}))
        print(f"hub {os.getpid()}: forwarding between {', '.join(self.ends)}", flush=True)
        async with server:
            await stop.wait()
        for e in self.ends.values():
            loop.remove_reader(e.fd)
            with contextlib.suppress(OSError):
                os.close(e.fd)  # the TUN devices go with their last fd
        with contextlib.suppress(FileNotFoundError):
            os.unlink(control)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m vcc.lab.hub SPEC.json", file=sys.stderr)
        return 2
    hub = Hub(json.loads(Path(args[0]).read_text()))
    with contextlib.suppress(OSError):
        # the hub is the lab's network: on a starved machine a stalled hub stalls every link at once
        # (etcd elections, every lease), which no real WAN does; so it runs ahead of the sites
        os.setpriority(os.PRIO_PROCESS, 0, HUB_NICE)
    hub.open()
    asyncio.run(hub.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
