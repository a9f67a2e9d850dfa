"""Reading what a cluster records, from outside it: the sites' event logs as they grow (read only),
the etcd leader (etcd's JSON gateway), and port blocks free for a new cluster."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vcc.config.sites import PORT_OFFSETS, PORT_SPAN


class LogTail:
    """New complete lines of a site's event log since the last call (read only: never opens the
    log for writing, which would cut a line another process is still writing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.offsets: dict[Path, int] = {}

    def new(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in sorted(self.directory.glob("events-*.jsonl")):
            offset = self.offsets.get(path, 0)
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            out += [json.loads(line) for line in data[:end].splitlines()]
            self.offsets[path] = offset + end
        return out


class ClusterTail:
    """New events of every site of a run dir since the last call."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.tails: dict[Path, LogTail] = {}

    def new(self) -> list[dict[str, Any]]:
        out = []
        for directory in sorted((self.run_dir / "sites").glob("*/events")):
            tail = self.tails.setdefault(directory, LogTail(directory))
            out += tail.new()
        return out


def all_events(run_dir: Path) -> Iterator[dict[str, Any]]:
    for directory in sorted((run_dir / "sites").glob("*/events")):
        yield from LogTail(directory).new()


def etcd_leader(client_url: str) -> str | None:
    """The name of the etcd member that leads now, asked of the member at ``client_url`` (through
    etcd's JSON gateway); None if it cannot tell."""

    def post(path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{client_url}{path}", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=2.0) as reply:
            body: dict[str, Any] = json.loads(reply.read())
            return body

    try:
        leader = str(post("/v3/maintenance/status")["leader"])
        members = post("/v3/cluster/member/list")["members"]
    except (OSError, ValueError, KeyError):
        return None
    return next((str(m.get("name")) for m in members if str(m.get("ID")) == leader), None)


def durable_state(client_url: str, key: str) -> str | None:
    """The ``state`` of a durable contact's record in etcd (through the JSON gateway of the member at
    ``client_url``); None if there is no record or no member answers."""
    import base64

    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    request = urllib.request.Request(f"{client_url}/v3/kv/range", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=2.0) as reply:
            kvs = json.loads(reply.read()).get("kvs") or []
        if not kvs:
            return None
        record = json.loads(base64.b64decode(kvs[0]["value"]))
    except (OSError, ValueError, KeyError):
        return None
    return str(record.get("state")) if isinstance(record, dict) else None


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port_base(start: int, sites: int) -> int:
    """The first port base at or above ``start`` (in steps of 1000, below Linux's ephemeral range)
    where ``sites`` sites (one per 1000 ports) find every port free: other clusters share this machine."""
    for base in range(start, 32768 - PORT_SPAN - 1000 * (sites - 1), 1000):
        if all(port_free(base + 1000 * i + offset) for i in range(sites) for offset in PORT_OFFSETS.values()):
            return base
    raise RuntimeError(f"no free ports for {sites} site(s) from {start} up")
