"""Integration fixtures: a real 3-member etcd cluster on loopback, shared by the whole session.

Members are named after sites ``a``, ``b``, ``c``; a test that talks "as site a" connects to member
``a`` only. Tests that kill or stop members leave them down if they like: the ``etcd`` fixture
restarts any dead member (on its data dir) and waits for health before the next test. Each test
gets its own cluster name (``coord_keys``), so keys never collide. Processes are stopped by PID.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vcc.coord.etcd_server import ETCD_BINARY, EtcdCluster
from vcc.coord.keys import CoordKeys

SITES = ("a", "b", "c")


@pytest.fixture(scope="session")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    if not Path(ETCD_BINARY).exists() and shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: `bash .ci/setup test` installs Debian's etcd-server")
    cluster = EtcdCluster.on_loopback(SITES, tmp_path_factory.mktemp("etcd"))
    try:
        yield cluster
    finally:
        cluster.stop_all()


@pytest.fixture
def etcd(etcd_cluster: EtcdCluster) -> EtcdCluster:
    """The shared cluster with every member up and healthy."""
    etcd_cluster.ensure_running()
    return etcd_cluster


@pytest.fixture
def coord_keys() -> CoordKeys:
    """A fresh vcc cluster name, so each test has its own key space."""
    return CoordKeys(f"t{uuid.uuid4().hex[:10]}")
