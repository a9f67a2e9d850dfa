"""Start, stop and restart etcd member processes: one member per site.

Every process is handled by its PID (kept in an :class:`EtcdMemberProcess`), never by name: a lab
machine runs several clusters and other people's etcd at once. A member can be launched inside a
network namespace by giving an ``exec_prefix`` such as ``["ip", "netns", "exec", "site-a"]``
(``ip netns exec`` execs the command, so the PID is etcd's own).

The API is synchronous (subprocess and a blocking health poll); async callers use the ``a*``
wrappers, which run it in a thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vcc.errors import CoordError

ETCD_BINARY = "/usr/bin/etcd"


@dataclass(frozen=True, slots=True)
class EtcdMemberSpec:
    """Where one member listens and keeps its data. ``name`` is usually the site name."""

    name: str
    host: str
    client_port: int
    peer_port: int
    data_dir: Path

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"


@dataclass(frozen=True, slots=True)
class EtcdTuning:
    """Raft timers and housekeeping. 100/1000 ms elects a new leader in ~1–1.4 s on loopback;
    etcd's minimum lease TTL is 1.5 × election timeout (so 2 s leases need ≤ 1333 ms here)."""

    heartbeat_interval_ms: int = 100
    election_timeout_ms: int = 1000
    auto_compaction_retention: str = "5m"
    quota_backend_bytes: int = 2 * 1024**3


@dataclass(slots=True)
class EtcdMemberProcess:
    """A running (or stopped) member: its spec, the cluster it belongs to, and its PID."""

    spec: EtcdMemberSpec
    initial_cluster: str
    cluster_token: str
    pid: int
    log_path: Path
    exec_prefix: tuple[str, ...] = ()
    tuning: EtcdTuning = field(default_factory=EtcdTuning)
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> tuple[str, int]:
        """(host, port) for an etcd client of this member."""
        return self.spec.host, self.spec.client_port

    def alive(self) -> bool:
        """Whether the process still runs (reaping it if it has exited)."""
        if self._popen is not None:
            return self._popen.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the kernel says are free right now (held open together so they are distinct)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def loopback_specs(names: Sequence[str], base_dir: Path, host: str = "127.0.0.1") -> list[EtcdMemberSpec]:
    """One spec per name on free loopback ports, data dirs under ``base_dir``."""
    ports = free_ports(2 * len(names), host)
    return [
        EtcdMemberSpec(name, host, ports[2 * i], ports[2 * i + 1], base_dir / f"{name}.etcd")
        for i, name in enumerate(names)
    ]


def initial_cluster_of(specs: Sequence[EtcdMemberSpec]) -> str:
    return ",".join(f"{s.name}={s.peer_url}" for s in specs)


def member_command(
    spec: EtcdMemberSpec,
    initial_cluster: str,
    cluster_token: str,
    state: str,
    tuning: EtcdTuning,
    binary: str = ETCD_BINARY,
) -> list[str]:
    """The etcd command line of one member (``state`` is ``new`` or ``existing``)."""
    return [
        binary,
        f"--name={spec.name}",
        f"--data-dir={spec.data_dir}",
        f"--listen-client-urls={spec.client_url}",
        f"--advertise-client-urls={spec.client_url}",
        f"--listen-peer-urls={spec.peer_url}",
        f"--initial-advertise-peer-urls={spec.peer_url}",
        f"--initial-cluster={initial_cluster}",
        f"--initial-cluster-state={state}",
        f"--initial-cluster-token={cluster_token}",
        f"--heartbeat-interval={tuning.heartbeat_interval_ms}",
        f"--election-timeout={tuning.election_timeout_ms}",
        "--pre-vote=true",
        "--auto-compaction-mode=periodic",
        f"--auto-compaction-retention={tuning.auto_compaction_retention}",
        f"--quota-backend-bytes={tuning.quota_backend_bytes}",
        # raft entries kept in memory between snapshots: etcd 3.4's 100,000 grew a member from ~80 to
        # ~180 MiB over a 35-minute soak, still rising
        "--snapshot-count=10000",
        "--logger=zap",
        "--log-outputs=stderr",
    ]


def _launch(
    spec: EtcdMemberSpec,
    initial_cluster: str,
    cluster_token: str,
    state: str,
    exec_prefix: Sequence[str],
    tuning: EtcdTuning,
    log_dir: Path | None,
) -> EtcdMemberProcess:
    spec.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = (log_dir or spec.data_dir.parent) / f"{spec.name}.etcd.log"
    cmd = [*exec_prefix, *member_command(spec, initial_cluster, cluster_token, state, tuning)]
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return EtcdMemberProcess(
        spec, initial_cluster, cluster_token, popen.pid, log_path, tuple(exec_prefix), tuning, popen
    )


def is_healthy(member: EtcdMemberProcess, timeout_s: float = 1.0) -> bool:
    """etcd's ``/health``: true when the member has a leader and serves a quorum read."""
    try:
        with urllib.request.urlopen(f"{member.spec.client_url}/health", timeout=timeout_s) as resp:
            return b'"true"' in resp.read()
    except (OSError, urllib.error.URLError):
        return False


def wait_healthy(members: Sequence[EtcdMemberProcess], timeout_s: float = 15.0) -> float:
    """Block until every member reports healthy; returns the seconds waited."""
    start = time.monotonic()
    pending = list(members)
    while pending:
        for m in list(pending):
            if not m.alive():
                raise CoordError(f"etcd member {m.spec.name} exited; see {m.log_path}")
            if is_healthy(m):
                pending.remove(m)
        if pending:
            if time.monotonic() - start > timeout_s:
                names = ", ".join(m.spec.name for m in pending)
                raise CoordError(f"etcd members not healthy after {timeout_s:.0f} s: {names}")
            time.sleep(0.05)
    return time.monotonic() - start


def start_cluster(
    specs: Sequence[EtcdMemberSpec],
    *,
    exec_prefixes: Sequence[Sequence[str]] | None = None,
    tuning: EtcdTuning | None = None,
    cluster_token: str | None = None,
    log_dir: Path | None = None,
    wait: bool = True,
    timeout_s: float = 15.0,
) -> list[EtcdMemberProcess]:
    """Start a new cluster of ``len(specs)`` members and (by default) wait until all are healthy.

    ``exec_prefixes[i]`` prefixes member i's command (e.g. to run it in a network namespace).
    On failure every member started here is killed before the error propagates.
    """
    token = cluster_token or f"vcc-{uuid.uuid4().hex[:12]}"
    return _launch_all(specs, initial_cluster_of(specs), token, "new", exec_prefixes, tuning or EtcdTuning(),
                       log_dir, timeout_s if wait else None)


def launch_members(
    specs: Sequence[EtcdMemberSpec],
    all_specs: Sequence[EtcdMemberSpec],
    *,
    cluster_token: str,
    tuning: EtcdTuning | None = None,
    log_dir: Path | None = None,
    timeout_s: float = 30.0,
    exec_prefixes: Sequence[Sequence[str]] | None = None,
) -> list[EtcdMemberProcess]:
    """Start some members of a cluster whose members are ``all_specs``: on a fresh cluster (no data
    dir anywhere) as ``new``, otherwise as ``existing`` (a member with a data dir rejoins from it).
    All are launched before any is waited for: a restarted cluster needs a quorum to be healthy.
    ``exec_prefixes[i]`` prefixes member i's command (e.g. ``ip netns exec NS``)."""
    state = "existing" if any(spec.data_dir.exists() for spec in all_specs) else "new"
    return _launch_all(specs, initial_cluster_of(all_specs), cluster_token, state, exec_prefixes,
                       tuning or EtcdTuning(), log_dir, timeout_s)


def _launch_all(
    specs: Sequence[EtcdMemberSpec], initial: str, token: str, state: str,
    exec_prefixes: Sequence[Sequence[str]] | None, tuning: EtcdTuning, log_dir: Path | None,
    timeout_s: float | None,
) -> list[EtcdMemberProcess]:
    """Launch every member, then (unless ``timeout_s`` is None) wait for all: a cluster needs its
    quorum up before any member is healthy. On failure, kill every member launched here."""
    prefixes = list(exec_prefixes) if exec_prefixes is not None else [() for _ in specs]
    if len(prefixes) != len(specs):
        raise ValueError("exec_prefixes must have one entry per member")
    members: list[EtcdMemberProcess] = []
    try:
        for spec, prefix in zip(specs, prefixes, strict=True):
            members.append(_launch(spec, initial, token, state, prefix, tuning, log_dir))
        if timeout_s is not None:
            wait_healthy(members, timeout_s)
    except BaseException:
        for m in members:
            kill(m)
        raise
    return members


def stop(member: EtcdMemberProcess, timeout_s: float = 5.0) -> int | None:
    """SIGTERM the member's PID, SIGKILL it if it has not exited after ``timeout_s``.

    Returns the exit status when known (None if the process was not our child)."""
    if not member.alive():
        return member._popen.returncode if member._popen else None
    _signal(member.pid, signal.SIGTERM)
    if _wait_exit(member, timeout_s):
        return member._popen.returncode if member._popen else None
    return kill(member)


def kill(member: EtcdMemberProcess) -> int | None:
    """SIGKILL the member's PID (a crash, as in a failover drill) and reap it."""
    if member.alive():
        _signal(member.pid, signal.SIGKILL)
        _wait_exit(member, 5.0)
    return member._popen.returncode if member._popen else None


def restart(member: EtcdMemberProcess, *, wait: bool = True, timeout_s: float = 15.0) -> EtcdMemberProcess:
    """Start a stopped member again on its data dir: it rejoins the same cluster."""
    if member.alive():
        raise CoordError(f"etcd member {member.spec.name} (pid {member.pid}) is still running")
    fresh = _launch(
        member.spec,
        member.initial_cluster,
        member.cluster_token,
        "existing",
        member.exec_prefix,
        member.tuning,
        member.log_path.parent,
    )
    if wait:
        try:
            wait_healthy([fresh], timeout_s)
        except BaseException:
            kill(fresh)
            raise
    return fresh


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_exit(member: EtcdMemberProcess, timeout_s: float) -> bool:
    if member._popen is not None:
        try:
            member._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout_s
    while member.alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


async def astart_cluster(
    specs: Sequence[EtcdMemberSpec],
    *,
    exec_prefixes: Sequence[Sequence[str]] | None = None,
    tuning: EtcdTuning | None = None,
    cluster_token: str | None = None,
    log_dir: Path | None = None,
    timeout_s: float = 15.0,
) -> list[EtcdMemberProcess]:
    """:func:`start_cluster` off the event loop."""
    return await asyncio.to_thread(
        lambda: start_cluster(
            specs,
            exec_prefixes=exec_prefixes,
            tuning=tuning,
            cluster_token=cluster_token,
            log_dir=log_dir,
            timeout_s=timeout_s,
        )
    )


async def astop(member: EtcdMemberProcess, timeout_s: float = 5.0) -> int | None:
    return await asyncio.to_thread(stop, member, timeout_s)


async def akill(member: EtcdMemberProcess) -> int | None:
    return await asyncio.to_thread(kill, member)


async def arestart(
    member: EtcdMemberProcess, *, wait: bool = True, timeout_s: float = 15.0
) -> EtcdMemberProcess:
    return await asyncio.to_thread(lambda: restart(member, wait=wait, timeout_s=timeout_s))


class EtcdCluster:
    """The members of one cluster by name, for labs, drills and tests."""

    def __init__(self, members: Sequence[EtcdMemberProcess]) -> None:
        self.members: dict[str, EtcdMemberProcess] = {m.spec.name: m for m in members}

    @classmethod
    def on_loopback(cls, names: Sequence[str], base_dir: Path, *, timeout_s: float = 15.0) -> EtcdCluster:
        """Start ``names`` as members on free loopback ports with data under ``base_dir``."""
        return cls(start_cluster(loopback_specs(names, base_dir), timeout_s=timeout_s))

    def endpoint(self, name: str) -> tuple[str, int]:
        return self.members[name].endpoint

    def kill(self, name: str) -> None:
        kill(self.members[name])

    def stop(self, name: str) -> None:
        stop(self.members[name])

    def restart(self, name: str, *, wait: bool = True) -> EtcdMemberProcess:
        self.members[name] = restart(self.members[name], wait=wait)
        return self.members[name]

    def ensure_running(self, timeout_s: float = 15.0) -> None:
        """Restart any member that is down, then wait until every member is healthy."""
        for name, m in list(self.members.items()):
            if not m.alive():
                self.members[name] = restart(m, wait=False)
        wait_healthy(list(self.members.values()), timeout_s)

    def stop_all(self) -> None:
        for m in self.members.values():
            stop(m)
