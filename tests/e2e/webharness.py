"""A site with its web front door in this test process: the in-process site (real controller,
shards, gateway, event sink, etcd, gRPC) plus a real :class:`FrontDoor` on a free loopback port,
talking to the site through its public gRPC API and to the site's gateway object directly."""

from __future__ import annotations

from pathlib import Path

from tests.integration.site_harness import InProcessSite
from vcc.config import site_view
from vcc.coord.etcd_server import EtcdCluster, free_ports
from vcc.web.frontdoor import FrontDoor, FrontDoorSettings


class WebSite:
    def __init__(self, config: Path, site: str, cluster: str, etcd: EtcdCluster, run_dir: Path) -> None:
        site_run = run_dir / "sites" / site  # as vcc up lays it out: the session secret is in run_dir
        site_run.mkdir(parents=True, exist_ok=True)
        self.site = InProcessSite(config, site, cluster, etcd.endpoint("a"), site_run)
        self.http_port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.http_port}"
        center, check = site_view(config.read_text(), str(config))
        settings = FrontDoorSettings(site=site, host="127.0.0.1", http_port=self.http_port,
                                     grpc_address=self.site.address, run_dir=str(site_run),
                                     sites={site: (self.site.address, self.url)})
        self.door = FrontDoor(settings, center, check, self.site.controller.gateways)
        self.door.estimator = self.door

    async def start(self) -> WebSite:
        await self.site.start()
        await self.door.start()
        return self

    async def stop(self) -> None:
        await self.door.stop()
        await self.site.stop()
