"""What a site's actors are told when they start: derived from the cluster file by ``vcc up``."""

from __future__ import annotations

from dataclasses import dataclass, field

#: How long a gateway waits for the site's answer to a callback booking: above the controller's own
#: bound (``SiteSettings.callback_confirm_s``, at most 5 s) plus a write still in flight.
BOOK_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class SiteSettings:
    cluster: str
    site: str
    config_version: int
    grpc_host: str
    grpc_port: int
    etcd_host: str
    etcd_port: int
    run_dir: str
    peers: dict[str, str] = field(default_factory=dict)  # site id -> "host:grpc_port", every site
    # the other sites' etcd members ("host:port"), used in turn when the site's own member cannot serve
    etcd_fallbacks: list[str] = field(default_factory=list)
    shards: int = 1
    ivr_workers: int = 1
    gateways: int = 1
    lease_ttl_s: int = 1
    lease_margin_s: float = 0.25
    peer_probe: bool = True  # revoke the lease of a site whose gRPC port refuses connections (site_probe)
    tick_s: float = 0.05  # the longest a shard waits for work before running its clocks
    reconcile_s: float = 0.1
    site_balance_s: float = 0.5  # how often waiting contacts are reconsidered for another site

    @property
    def callback_confirm_s(self) -> float:
        """How long a caller who pressed the key for a callback waits for etcd to store it before the
        IVR gives up the booking (the caller stays in line instead): one lease TTL, after which a site
        that etcd does not answer has fenced itself anyway, plus a second; at most 5 s of silence."""
        return min(self.lease_ttl_s + 1.0, 5.0)
