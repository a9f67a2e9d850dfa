"""A whole site in this test process: the real controller, shards, IVR worker, gateway and event
sink (plain objects behind in-process ports instead of Ray actors), a real etcd, and the real gRPC
servers on a free loopback port. Tests drive it through the public API only (vcc.client)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vcc.actors.controller import SiteController
from vcc.actors.event_sink import EventSink
from vcc.actors.ivr_worker import IvrWorker
from vcc.actors.media_gateway import MediaGateway
from vcc.actors.ports import LocalPort
from vcc.actors.settings import SiteSettings
from vcc.actors.shard import AcdShard
from vcc.config import compile_center, load_config, site_view
from vcc.coord.etcd_server import free_ports
from vcc.intersite.server import Peers, serve
from vcc.runtime.launcher import apply_config

ROOT = Path(__file__).resolve().parents[2]


class InProcessSite:
    def __init__(self, config_path: Path, site: str, cluster: str, etcd: tuple[str, int], run_dir: Path,
                 *, shards: int = 1, peers: dict[str, str] | None = None, grpc_port: int | None = None,
                 clock: Callable[[], float] | None = None, etcd_fallbacks: list[tuple[str, int]] | None = None) -> None:
        self.config_path = config_path
        self.etcd = etcd
        self.config = load_config(config_path)
        self.center = compile_center(self.config)
        self.grpc_port = grpc_port or free_ports(1)[0]
        self.address = f"127.0.0.1:{self.grpc_port}"
        self.settings = SiteSettings(
            cluster=cluster, site=site, config_version=1, grpc_host="127.0.0.1", grpc_port=self.grpc_port,
            etcd_host=etcd[0], etcd_port=etcd[1], run_dir=str(run_dir), peers={site: self.address, **(peers or {})},
            shards=shards, lease_ttl_s=self.config.runtime.lease_ttl_s,
            lease_margin_s=self.config.runtime.lease_margin_s,
            peer_probe=self.config.runtime.peer_probe,
            etcd_fallbacks=[f"{h}:{p}" for h, p in etcd_fallbacks or []],
        )  # fmt: skip
        self.sink = EventSink(site, str(run_dir / "events"))
        self.shard_objects = [AcdShard(site, i, shards, self.center) for i in range(shards)]
        _, check = site_view(config_path.read_text(), str(config_path))
        self.peers = Peers(site, {k: v for k, v in (peers or {}).items() if k != site})
        self.controller = SiteController(
            self.settings, self.center,
            [LocalPort(f"{site}/shard/{i}", obj) for i, obj in enumerate(self.shard_objects)],
            [LocalPort(f"{site}/ivr/0", IvrWorker(site, 0, self.center))],
            [LocalPort(f"{site}/gateway/0", MediaGateway(site, 0))],
            LocalPort(f"{site}/events/0", self.sink), verify_password=check, compile_config=site_view,
            peer_offer=self.peers.offer,
            clock=clock or self.weekday_noon_clock(),
        )  # fmt: skip
        self.server: Any = None

    @staticmethod
    def weekday_noon_clock() -> Callable[[], float]:
        """Wall time shifted to the coming Monday, 12:00 UTC: every demo tenant is open then."""
        now = time.time()
        today = datetime.fromtimestamp(now, UTC)
        monday = (today + timedelta(days=(7 - today.weekday()) % 7 or 7)).replace(
            hour=12, minute=0, second=0, microsecond=0)
        offset = monday.timestamp() - now
        return lambda: time.time() + offset

    async def start(self) -> InProcessSite:
        # as `vcc up` does: the file the site starts from is the cluster's first config version
        version = await apply_config(self.settings.cluster, self.config_path.read_text(), [self.etcd])
        self.controller.config_version = version
        await self.controller.start()
        self.server, _ = await serve(self.controller, "127.0.0.1", self.grpc_port)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=0.2)
        await self.controller.stop()
        await self.peers.close()

    async def crash(self) -> None:
        """As if the site's processes were killed: its API goes at once, its tasks stop, and it says
        no goodbye (its session lease runs out in etcd after the TTL, as after a real crash)."""
        c = self.controller
        for task in c._tasks:  # first: nothing it does as its streams break reaches etcd or the log
            task.cancel()
        await asyncio.gather(*c._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.stop(grace=0)
            self.server = None
        await c.publisher.stop()
        await c.load_cache.stop()
        await c.session.close(revoke=False)
        await c.etcd.close()
        await self.peers.close()

    def events(self) -> list[dict[str, Any]]:
        return list(self.sink.log.read())


def dev_agents(*ids: str) -> list[tuple[str, str]]:
    """Demo agents of cluster/dev.yaml with their documented passwords."""
    return [(a, f"demo-{a}") for a in ids]
