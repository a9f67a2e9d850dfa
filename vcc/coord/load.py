"""Site load: soft state each site pushes out so the others can balance work.

``sites/<site>/load`` holds a :class:`vcc.core.balancer.SiteLoad` as JSON on the site's session
lease, rewritten at least twice a second by :class:`LoadPublisher`. Because it rides on the lease,
a dead or fenced site's load vanishes with its session: :meth:`LoadBoard.read_all` and
:class:`LoadCache` only ever show live sites. The global balancer reads the cache (a watch-fed
mirror), never etcd per decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from vcc.coord.client import EtcdClient, KeyValue
from vcc.coord.keys import LOAD, CoordKeys
from vcc.coord.session import SiteSession
from vcc.coord.watch import MirrorTask, PrefixMirror
from vcc.core.balancer import QueueLoad, SiteLoad
from vcc.errors import CoordError

log = logging.getLogger(__name__)


def load_to_json(load: SiteLoad) -> bytes:
    return json.dumps(
        {
            "site": load.site,
            "ts": load.ts,
            "fenced": load.fenced,
            "queues": {
                q: {"waiting": v.waiting, "ewt_s": v.ewt_s, "ready": v.ready_agents,
                    "staffed": v.staffed_agents}
                for q, v in load.queues.items()
            },
        },
        separators=(",", ":"),
    ).encode()


def load_from_json(raw: bytes) -> SiteLoad:
    d: dict[str, Any] = json.loads(raw)
    return SiteLoad(
        site=str(d["site"]),
        ts=float(d["ts"]),
        fenced=bool(d.get("fenced", False)),
        queues={
            str(q): QueueLoad(
                int(v["waiting"]),
                None if v.get("ewt_s") is None else float(v["ewt_s"]),
                int(v.get("ready", 0)),
                int(v.get("staffed", 0)),
            )
            for q, v in d.get("queues", {}).items()
        },
    )


def _loads_of(keys: CoordKeys, kvs: list[KeyValue] | Mapping[str, KeyValue]) -> dict[str, SiteLoad]:
    items = kvs.values() if isinstance(kvs, Mapping) else kvs
    out: dict[str, SiteLoad] = {}
    for kv in items:
        parsed = keys.parse_site_key(kv.key)
        if parsed is not None and parsed[1] == LOAD:
            try:
                out[parsed[0]] = load_from_json(kv.value)
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring malformed load of site %s", parsed[0])
    return out


class LoadBoard:
    def __init__(self, client: EtcdClient, keys: CoordKeys) -> None:
        self.client = client
        self.keys = keys

    async def publish(self, load: SiteLoad, lease_id: int) -> int:
        """Write the site's load on its lease (fails once the lease is gone); returns the revision."""
        return await self.client.put(self.keys.site_load(load.site), load_to_json(load), lease=lease_id)

    async def read_all(self) -> dict[str, SiteLoad]:
        """site → load for every live site (one range read)."""
        kvs, _ = await self.client.get_prefix(self.keys.sites_prefix)
        return _loads_of(self.keys, kvs)


class LoadCache:
    """Every live site's load, kept current by a watch. ``start()``, then read :meth:`snapshot`."""

    def __init__(self, client: EtcdClient, keys: CoordKeys) -> None:
        self.keys = keys
        self._runner = MirrorTask(PrefixMirror(client, keys.sites_prefix), "vcc-load-cache")

    async def start(self, *, wait_synced_s: float | None = 5.0) -> None:
        await self._runner.start(wait_synced_s=wait_synced_s)

    async def stop(self) -> None:
        await self._runner.stop()

    @property
    def stale(self) -> bool:
        return self._runner.mirror.stale

    def snapshot(self) -> dict[str, SiteLoad]:
        return _loads_of(self.keys, self._runner.mirror.state)


class LoadPublisher:
    """Publishes ``measure()`` every ``interval_s`` (± jitter) while the session is live; skips
    while fenced (the lease is not proved, and the load would vanish with it anyway)."""

    def __init__(
        self,
        board: LoadBoard,
        session: SiteSession,
        measure: Callable[[], SiteLoad],
        *,
        interval_s: float = 0.4,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if interval_s > 0.5:
            raise ValueError("load must be published at least twice a second")
        self.board = board
        self.session = session
        self.measure = measure
        self.interval_s = interval_s
        self.jitter = jitter
        self.published = 0
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"vcc-load-{self.session.site}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self.session.fenced:
                try:
                    await self.board.publish(self.measure(), self.session.token.lease_id)
                    self.published += 1
                except CoordError as e:
                    log.info("load of %s not published: %s", self.session.site, e)
                except Exception:
                    log.exception("load of %s: measure failed", self.session.site)
            await asyncio.sleep(self.interval_s * (1 + self.jitter * (2 * self._rng.random() - 1)))
