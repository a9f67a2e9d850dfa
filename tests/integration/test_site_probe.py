"""Peer probes on a real etcd cluster and real TCP listeners: a site whose gRPC port refuses
connections has its session lease revoked (its session key goes at once, not after the TTL); a
site that listens, or that never listened yet (starting), keeps its session."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from vcc.actors import site_probe
from vcc.coord.client import EtcdClient
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.fencing import LeaseTiming
from vcc.coord.keys import CoordKeys
from vcc.coord.session import SiteSession

pytestmark = pytest.mark.integration

TTL_S = 5  # long, so that a session that goes away early was revoked, not expired


@dataclass
class _Settings:
    peers: dict[str, str]
    peer_probe: bool = True


@dataclass
class ProbingSite:
    """What ``site_probe.probe_loop`` uses of a site controller: the real etcd client and keys."""

    site: str
    etcd: EtcdClient
    keys: CoordKeys
    settings: _Settings
    fenced: bool = False
    site_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit_site_event(self, event: str, data: dict[str, Any]) -> None:
        self.site_events.append((event, data))


async def _listener() -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


def test_a_site_that_stops_listening_loses_its_session_at_once(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    async def body() -> None:
        ca, cb = (EtcdClient(*etcd.endpoint(m)) for m in ("a", "b"))
        server, address = await _listener()
        b = SiteSession(cb, coord_keys, "b", timing=LeaseTiming(ttl_s=TTL_S, margin_s=0.5))
        await b.start()
        a = ProbingSite("a", ca, coord_keys, _Settings({"a": "127.0.0.1:1", "b": address}))
        probing = asyncio.create_task(site_probe.probe_loop(a))  # type: ignore[arg-type]
        try:
            await asyncio.sleep(1.0)  # B listens: nothing happens
            assert await ca.get(coord_keys.site_session("b")) is not None
            assert a.site_events == []
            server.close()
            await server.wait_closed()
            closed = time.monotonic()
            async with asyncio.timeout(TTL_S - 1):
                while await ca.get(coord_keys.site_session("b")) is not None:  # noqa: ASYNC110 (polls etcd)
                    await asyncio.sleep(0.05)
            gone_s = time.monotonic() - closed
            print(f"MEASURE port closed -> session revoked: {gone_s:.2f} s (lease TTL {TTL_S} s)")
            assert [e for e, _ in a.site_events] == ["peer_revoked"]
            assert a.site_events[0][1]["refusals"] >= site_probe.REFUSALS_TO_REVOKE
        finally:
            probing.cancel()
            await asyncio.gather(probing, return_exceptions=True)
            await b.close(revoke=True)
            await ca.close()
            await cb.close()

    asyncio.run(body())


def test_a_site_never_seen_listening_keeps_its_session(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    """A starting site writes its session before its gRPC server listens: it is not taken for dead."""

    async def body() -> None:
        ca, cb = (EtcdClient(*etcd.endpoint(m)) for m in ("a", "b"))
        server, address = await _listener()
        server.close()
        await server.wait_closed()  # nothing listens at B's address, and nothing ever did
        b = SiteSession(cb, coord_keys, "b", timing=LeaseTiming(ttl_s=TTL_S, margin_s=0.5))
        await b.start()
        a = ProbingSite("a", ca, coord_keys, _Settings({"b": address}))
        probing = asyncio.create_task(site_probe.probe_loop(a))  # type: ignore[arg-type]
        try:
            await asyncio.sleep(1.5)  # ten probe rounds, every one refused
            assert await ca.get(coord_keys.site_session("b")) is not None
            assert a.site_events == []
        finally:
            probing.cancel()
            await asyncio.gather(probing, return_exceptions=True)
            await b.close(revoke=True)
            await ca.close()
            await cb.close()

    asyncio.run(body())
