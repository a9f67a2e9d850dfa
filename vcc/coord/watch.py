"""A local mirror of every key under a prefix, kept by get-then-watch, that never misses a change.

The mirror reads the prefix at revision R, reports what differs from what it held, then watches from
R + 1. When the watch breaks (the member restarts, loses its leader, or the revision was compacted)
it waits a jittered moment and starts over: the fresh read is diffed against the mirror, so a key
deleted while the watch was down is still reported as deleted. Consumers see each key's changes in
order; a change that happened and was undone during an outage may be coalesced away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

from vcc.coord.client import EtcdClient, EventKind, KeyValue
from vcc.errors import CoordError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """A key appeared or changed (PUT, ``kv`` set) or vanished (DELETE, ``kv`` None). ``prev`` is
    what the mirror held before (None for a new key). ``revision`` is when it happened, or the read
    revision for changes found by a re-sync."""

    kind: EventKind
    key: str
    kv: KeyValue | None
    prev: KeyValue | None
    revision: int


class PrefixMirror:
    """``async for change in mirror.changes()`` drives it; ``state`` is the current copy."""

    def __init__(
        self,
        client: EtcdClient,
        prefix: str,
        *,
        retry_min_s: float = 0.1,
        retry_max_s: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.state: dict[str, KeyValue] = {}
        self.revision = 0
        self.synced = asyncio.Event()
        self.resyncs = 0
        self._retry = (retry_min_s, retry_max_s)
        self._rng = rng or random.Random()

    @property
    def stale(self) -> bool:
        """True while the watch is down (the state may miss recent changes)."""
        return not self.synced.is_set()

    async def changes(self) -> AsyncIterator[Change]:
        """Every change, forever (cancel the consuming task, or ``aclose()``, to stop)."""
        while True:
            try:
                kvs, revision = await self.client.get_prefix(self.prefix)
            except CoordError as e:
                log.debug("mirror %s: read failed: %s", self.prefix, e)
                await self._pause()
                continue
            for change in self._resync({kv.key: kv for kv in kvs}, revision):
                yield change
            self.synced.set()
            try:
                events = self.client.watch(self.prefix, start_revision=revision + 1, prefix=True)
                async with contextlib.aclosing(events) as stream:
                    async for ev in stream:
                        applied = self._apply(ev.kind, ev.kv)
                        if applied is not None:
                            yield applied
            except CoordError as e:
                log.info("mirror %s: watch ended (%s); re-syncing", self.prefix, e)
            self.synced.clear()
            self.resyncs += 1
            await self._pause()

    async def _pause(self) -> None:
        lo, hi = self._retry
        await asyncio.sleep(lo + (hi - lo) * self._rng.random())

    def _resync(self, fresh: dict[str, KeyValue], revision: int) -> list[Change]:
        out: list[Change] = []
        for key in sorted(self.state.keys() - fresh.keys()):
            out.append(Change(EventKind.DELETE, key, None, self.state.pop(key), revision))
        for key, kv in fresh.items():
            prev = self.state.get(key)
            if prev is None or prev.mod_revision != kv.mod_revision:
                self.state[key] = kv
                out.append(Change(EventKind.PUT, key, kv, prev, kv.mod_revision))
        self.revision = revision
        return out

    def _apply(self, kind: EventKind, kv: KeyValue) -> Change | None:
        self.revision = max(self.revision, kv.mod_revision)
        if kind is EventKind.DELETE:
            prev = self.state.pop(kv.key, None)
            if prev is None:
                return None
            return Change(kind, kv.key, None, prev, kv.mod_revision)
        prev = self.state.get(kv.key)
        self.state[kv.key] = kv
        return Change(kind, kv.key, kv, prev, kv.mod_revision)


class MirrorTask:
    """Runs a PrefixMirror in a background task (reference kept) for cache-style users."""

    def __init__(self, mirror: PrefixMirror, name: str) -> None:
        self.mirror = mirror
        self._name = name
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, wait_synced_s: float | None = 5.0) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name=self._name)
        if wait_synced_s is not None:
            try:
                await asyncio.wait_for(self.mirror.synced.wait(), wait_synced_s)
            except TimeoutError as e:
                raise CoordError(f"{self._name}: no initial read within {wait_synced_s} s") from e

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _drain(self) -> None:
        async for _ in self.mirror.changes():
            pass
