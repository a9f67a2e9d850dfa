"""Versioned configuration: every ``vcc config apply`` stores a new immutable version.

``config/versions/<n>`` holds the YAML text of version n (never rewritten) and ``config/current``
holds n. :meth:`ConfigStore.apply` writes both in one transaction guarded on the ``mod_revision``
of ``config/current``, so concurrent applies get distinct, gap-free version numbers. Validation is
the caller's job (``vcc.config``); this layer stores text. Every site controller watches
``config/current`` through :meth:`ConfigStore.watch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

from vcc.coord.client import EtcdClient, Put, mod_is
from vcc.coord.keys import CoordKeys
from vcc.errors import CoordError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    version: int
    yaml_text: str
    revision: int


class ConfigStore:
    def __init__(self, client: EtcdClient, keys: CoordKeys, *, rng: random.Random | None = None) -> None:
        self.client = client
        self.keys = keys
        self._rng = rng or random.Random()

    async def apply(self, yaml_text: str, *, max_attempts: int = 20) -> int:
        """Store ``yaml_text`` as the next version and make it current; returns its number."""
        key = self.keys.config_current
        for _ in range(max_attempts):
            kv = await self.client.get(key)
            current = int(kv.text) if kv is not None else 0
            nxt = current + 1
            result = await self.client.txn(
                [mod_is(key, kv.mod_revision if kv is not None else 0)],
                [Put(key, str(nxt).encode()), Put(self.keys.config_version(nxt), yaml_text.encode())],
            )
            if result.succeeded:
                return nxt
            await asyncio.sleep(0.01 + 0.04 * self._rng.random())  # another apply won: re-read
        raise CoordError(f"config apply: lost {max_attempts} races for config/current")

    async def current_version(self) -> int:
        """The current version number, 0 if none was ever applied."""
        kv = await self.client.get(self.keys.config_current)
        return int(kv.text) if kv is not None else 0

    async def current(self) -> ConfigVersion | None:
        version = await self.current_version()
        return await self.get(version) if version else None

    async def get(self, version: int) -> ConfigVersion | None:
        kv = await self.client.get(self.keys.config_version(version))
        return ConfigVersion(version, kv.text, kv.mod_revision) if kv is not None else None

    async def watch(self, *, after: int | None = None) -> AsyncIterator[ConfigVersion]:
        """Yield each version newer than ``after`` in order, forever. With ``after=None`` the
        current version (if any) comes first. Survives watch outages by re-reading."""
        seen = after
        while True:
            try:
                # A range read gives the store revision even when the key does not exist yet.
                kvs, revision = await self.client.get_prefix(self.keys.config_current)
                latest = int(kvs[0].text) if kvs else 0
                async for cv in self._catch_up(seen, latest):
                    seen = cv.version
                    yield cv
                seen = latest if seen is None else seen
                events = self.client.watch(self.keys.config_current, start_revision=revision + 1)
                async with contextlib.aclosing(events) as stream:
                    async for ev in stream:
                        if ev.kv.value:
                            async for cv in self._catch_up(seen, int(ev.kv.text)):
                                seen = cv.version
                                yield cv
            except CoordError as e:
                log.info("config watch: %s; re-reading", e)
            await asyncio.sleep(0.1 + 0.4 * self._rng.random())

    async def _catch_up(self, seen: int | None, latest: int) -> AsyncIterator[ConfigVersion]:
        first = latest if seen is None else seen + 1
        for version in range(max(first, 1), latest + 1):
            cv = await self.get(version)
            if cv is not None:
                yield cv
