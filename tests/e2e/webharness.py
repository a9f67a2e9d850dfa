"""A site with its web front door in this test process: the in-process site (real controller,
shards, event sink, etcd, gRPC) with a real media gateway (aiortc) in place of its bookkeeping-only
one, plus a real :class:`FrontDoor` on a free loopback port, talking to the site through its public
gRPC API and to the gateway object directly. Also the e2e cluster file: ``cluster/dev.yaml`` open
around the clock (the gateway reads the wall clock for business hours) and announcing often."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.integration.site_harness import ROOT, InProcessSite
from vcc.actors.media_gateway import MediaGateway
from vcc.config import load_config, site_view
from vcc.coord.etcd_server import EtcdCluster, free_ports
from vcc.web.frontdoor import FrontDoor, FrontDoorSettings


def e2e_cluster_file(tmp_path: Path, *, port_base: int | None = None, name: str = "e2e") -> Path:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "cluster/dev.yaml").read_text())
    raw["name"] = name
    for tenant in raw["tenants"]:
        tenant["hours"] = {"weekly": {"daily": "24h"}}
    raw["media"] = {**raw.get("media", {}), "announce_every_s": 5}
    if port_base is not None:
        for site in raw["sites"]:
            site["port_base"] = port_base
            site.pop("ports", None)
            site["ray_temp_dir"] = str(tmp_path / f"ray-{site['id']}")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


class WebSite:
    def __init__(self, config: Path, site: str, cluster: str, etcd: EtcdCluster, run_dir: Path) -> None:
        self.config_path = config
        self.site_run = run_dir / "sites" / site  # as vcc up lays it out: the session secret is in run_dir
        self.site_run.mkdir(parents=True, exist_ok=True)
        self.site = InProcessSite(config, site, cluster, etcd.endpoint("a"), self.site_run)
        self.http_port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.http_port}"
        center, check = site_view(config.read_text(), str(config))
        self.center = center
        settings = FrontDoorSettings(site=site, host="127.0.0.1", http_port=self.http_port,
                                     grpc_address=self.site.address, run_dir=str(self.site_run),
                                     sites={site: (self.site.address, self.url)})
        self.door = FrontDoor(settings, center, check, self.site.controller.gateways)
        self.door.estimator = self.door
        self.gateway: MediaGateway | None = None

    async def start(self) -> WebSite:
        port: Any = self.site.controller.gateways[0]
        self.gateway = MediaGateway(self.site.settings.site, 0, self.center, load_config(self.config_path).media,
                                    str(self.site_run))
        port.obj = self.gateway  # the site's gateway port now reaches a gateway with media
        await self.site.start()
        await self.door.start()
        return self

    async def stop(self) -> None:
        await self.door.stop()
        if self.gateway is not None:
            await self.gateway.close()
        await self.site.stop()
