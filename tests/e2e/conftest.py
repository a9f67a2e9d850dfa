"""End-to-end fixtures: the integration tests' real etcd cluster (one per session)."""

from tests.integration.conftest import coord_keys, etcd, etcd_cluster

__all__ = ["coord_keys", "etcd", "etcd_cluster"]
