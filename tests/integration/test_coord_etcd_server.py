"""etcd member processes are handled by PID, also when launched through a command prefix (as
``ip netns exec NS`` does in the network lab; here ``env``, which also execs its command)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from vcc.coord.etcd_server import (
    EtcdCluster,
    EtcdTuning,
    free_ports,
    is_healthy,
    loopback_specs,
    member_command,
    restart,
    start_cluster,
    stop,
)
from vcc.load.soak import ETCD_METRICS, etcd_metrics

pytestmark = pytest.mark.integration


def test_member_command_has_the_failover_settings(tmp_path: Path) -> None:
    (spec,) = loopback_specs(["a"], tmp_path)
    cmd = member_command(spec, "a=" + spec.peer_url, "tok", "new", EtcdTuning())
    assert "--pre-vote=true" in cmd and "--initial-cluster-token=tok" in cmd
    assert "--heartbeat-interval=100" in cmd and "--election-timeout=1000" in cmd


def test_prefixed_member_is_stopped_and_restarted_by_pid(tmp_path: Path) -> None:
    if not Path("/usr/bin/etcd").exists():
        pytest.fail("etcd is not installed: `bash .ci/setup test` installs Debian's etcd-server")
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


def test_the_soak_reads_a_members_heap_keys_and_db_on_its_metrics_endpoint(etcd: EtcdCluster) -> None:
    host, port = etcd.endpoint("a")
    figures = etcd_metrics(f"{host}:{port}")
    assert set(figures) == set(ETCD_METRICS)
    assert 1 < figures["heap_inuse_mib"] < 1024 and figures["db_in_use_mib"] >= 0 and figures["keys"] >= 0
    (closed,) = free_ports(1)
    assert etcd_metrics(f"127.0.0.1:{closed}", timeout_s=0.5) == {}  # no member there: no figures, no error
