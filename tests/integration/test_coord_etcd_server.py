"""etcd member processes are handled by PID, also when launched through a command prefix (as
``ip netns exec NS`` does in the network lab; here ``env``, which also execs its command)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from vcc.coord.etcd_server import (
    EtcdTuning,
    is_healthy,
    loopback_specs,
    member_command,
    restart,
    start_cluster,
    stop,
)

pytestmark = pytest.mark.integration


def test_member_command_has_the_failover_settings(tmp_path: Path) -> None:
    (spec,) = loopback_specs(["a"], tmp_path)
    cmd = member_command(spec, "a=" + spec.peer_url, "tok", "new", EtcdTuning())
    assert "--pre-vote=true" in cmd and "--initial-cluster-token=tok" in cmd
    assert "--heartbeat-interval=100" in cmd and "--election-timeout=1000" in cmd


def test_prefixed_member_is_stopped_and_restarted_by_pid(tmp_path: Path) -> None:
    if not Path("/usr/bin/etcd").exists():
        pytest.skip("etcd is not installed")
    specs = loopback_specs(["solo"], tmp_path)
    (member,) = start_cluster(specs, exec_prefixes=[["env", "VCC_LAB=1"]])
    running = member
    try:
        assert os.readlink(f"/proc/{member.pid}/exe").endswith("etcd")
        assert member.log_path.exists() and is_healthy(member)
        assert stop(member) == -signal.SIGTERM  # etcd closes cleanly, then re-raises SIGTERM
        assert not member.alive()
        running = restart(member)
        assert running.pid != member.pid and is_healthy(running)
        assert running.exec_prefix == ("env", "VCC_LAB=1")
    finally:
        stop(running)
