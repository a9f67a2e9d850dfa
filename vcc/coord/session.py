"""A site's session: its lease in etcd, kept alive, and the site's right to act.

A site may reserve agents, take contacts and write durable state only while :attr:`SiteSession.fenced`
is False. The session fences itself (see :mod:`vcc.coord.fencing`) as soon as a keepalive fails or
too long has passed since the last one that succeeded, before any other site could see the lease
expire. While fenced it keeps trying: if the old lease turns out to be still alive (a short blip)
it resumes on it; otherwise it grants a NEW lease, writes its session key again and reports
rejoined. Both fire ``on_rejoined`` with the new :class:`SessionToken`.

The token's ``epoch`` is the revision at which the session key was written. Writes that only the
live session may make (claiming agents, adopting or updating contacts) carry ``token.guard()``, a
transaction compare on that revision: once the lease has expired or the session was rewritten, the
guard fails in etcd itself, so even a write already in flight when the site fenced cannot land.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from vcc.coord.client import Compare, Delete, EtcdClient, Put, mod_is
from vcc.coord.fencing import LeaseClock, LeaseTiming
from vcc.coord.keys import CoordKeys
from vcc.errors import CoordError, FencedError

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SessionToken:
    """Proof of one live session: the lease to attach site-owned keys to, and the epoch to guard
    writes with. A token outlives its session; etcd rejects guarded writes made with a stale one."""

    site: str
    lease_id: int
    epoch: int
    session_key: str

    def guard(self) -> Compare:
        """Transaction compare: this session's key is still the one written at ``epoch``."""
        return mod_is(self.session_key, self.epoch)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The JSON value of ``sites/<site>/session``, for people and dashboards."""

    site: str
    session_id: str
    lease_id: int
    ttl_s: int
    endpoint: str
    started_at: float

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()


@dataclass(slots=True)
class SessionStats:
    refreshes: int = 0
    failed_refreshes: int = 0
    fences: int = 0
    resumes: int = 0
    rejoins: int = 0


class SiteSession:
    """Owns the site's lease and its keepalive task. ``start()`` once, ``close()`` at the end."""

    def __init__(
        self,
        client: EtcdClient,
        keys: CoordKeys,
        site: str,
        *,
        timing: LeaseTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.site = site
        self.timing = timing or LeaseTiming()
        self.stats = SessionStats()
        self.fenced_event = asyncio.Event()
        self.live_event = asyncio.Event()
        self._clock = clock
        self._wall = wall_clock
        self._rng = rng or random.Random()
        self._lease_clock = LeaseClock(self.timing)
        self._token: SessionToken | None = None
        self._fenced = True
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._on_fenced: list[Callable[[str], None]] = []
        self._on_rejoined: list[Callable[[SessionToken], None]] = []
        self.fenced_event.set()

    # --- public state --------------------------------------------------------------------------
    @property
    def fenced(self) -> bool:
        """True while the site must not act: fenced by the loop, or past its deadline by the clock
        (even if the event loop has not yet run the keepalive task to notice)."""
        return self._fenced or self._lease_clock.fenced(self._clock())

    @property
    def token(self) -> SessionToken:
        """The live session's token; raises FencedError while fenced."""
        if self.fenced or self._token is None:
            raise FencedError(f"site {self.site} is fenced: its session lease is not proved alive")
        return self._token

    @property
    def last_token(self) -> SessionToken | None:
        """The most recent token, live or not (for logging and for cleaning up)."""
        return self._token

    @property
    def last_proof_at(self) -> float | None:
        """Monotonic send time of the last grant/keepalive that proved the lease (None if fenced)."""
        return self._lease_clock.last_ok_sent_at

    def on_fenced(self, callback: Callable[[str], None]) -> None:
        """``callback(reason)`` runs on the event loop each time the site fences itself."""
        self._on_fenced.append(callback)

    def on_rejoined(self, callback: Callable[[SessionToken], None]) -> None:
        """``callback(token)`` runs each time the site is live again after a fence."""
        self._on_rejoined.append(callback)

    async def wait_live(self) -> SessionToken:
        while True:
            await self.live_event.wait()
            if not self.fenced and self._token is not None:
                return self._token
            await asyncio.sleep(0.01)

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self, timeout_s: float = 10.0) -> SessionToken:
        """Grant the first lease and write the session key (retrying until ``timeout_s``), then
        start the keepalive task."""
        if self._task is not None:
            raise RuntimeError("session already started")
        deadline = self._clock() + timeout_s
        while True:
            try:
                token = await self._establish()
                break
            except CoordError:
                if self._clock() > deadline:
                    raise
                await asyncio.sleep(self._lease_clock.retry_delay(self._rng.random()))
        self._go_live(token, announce=False)
        self._task = asyncio.create_task(self._run(), name=f"vcc-session-{self.site}")
        return token

    async def close(self, *, revoke: bool = True) -> None:
        """Stop the keepalive. With ``revoke`` the lease is revoked, so the session key and every
        key on the lease vanish at once; without it they expire after the TTL, as after a crash."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        token = self._token
        self._fence("session closed")
        if revoke and token is not None:
            with contextlib.suppress(CoordError):
                await self.client.revoke(token.lease_id, timeout_s=1.0)

    # --- the keepalive loop --------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._closing:
            try:
                if self._fenced:
                    await self._recover()
                else:
                    await self._refresh()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._closing or task is None or task.cancelling():
                    raise
                # not this task's cancellation: a gRPC call whose channel was closed under it
                log.warning("session %s: a keepalive step was cancelled from below; fencing", self.site)
                self._fence("keepalive step cancelled")
                await asyncio.sleep(self.timing.retry_min_s)
            except Exception:  # a bug: fence rather than keep acting on an unproved lease
                log.exception("session %s: keepalive step failed", self.site)
                self._fence("keepalive step raised")
                await asyncio.sleep(self.timing.retry_max_s)

    async def _refresh(self) -> None:
        lc = self._lease_clock
        delay = lc.next_refresh_at(self._rng.random()) - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
        token = self._token
        sent = self._clock()
        if token is None or lc.fenced(sent):
            self._fence("no keepalive succeeded in time")
            return
        budget = lc.refresh_timeout(sent)
        try:
            ttl = await asyncio.wait_for(
                self.client.keepalive_once(token.lease_id, timeout_s=budget), budget + 0.05
            )
        except (CoordError, TimeoutError) as e:
            self.stats.failed_refreshes += 1
            self._fence(f"keepalive failed: {e or 'timeout'}")
            return
        if ttl <= 0:
            self._fence("lease expired")
            return
        lc.proved(sent, ttl)
        self.stats.refreshes += 1

    async def _recover(self) -> None:
        await asyncio.sleep(self._lease_clock.retry_delay(self._rng.random()))
        old = self._token
        if old is not None:
            sent = self._clock()
            try:
                ttl = await self.client.keepalive_once(
                    old.lease_id, timeout_s=max(0.3, self.timing.ttl_s / 4)
                )
                kv = await self.client.get(old.session_key) if ttl > 0 else None
            except CoordError:
                return  # still cut off from the quorum
            if kv is not None and kv.mod_revision == old.epoch and kv.lease == old.lease_id:
                self._lease_clock.proved(sent, ttl)
                if not self._lease_clock.fenced(self._clock()):
                    self.stats.resumes += 1
                    self._go_live(old, announce=True)
                    return
            with contextlib.suppress(CoordError):
                await self.client.revoke(old.lease_id, timeout_s=1.0)
            self._token = None
        try:
            token = await self._establish()
        except CoordError:
            return
        self.stats.rejoins += 1
        self._go_live(token, announce=True)

    async def _establish(self) -> SessionToken:
        """Grant a lease and write the session key on it (clearing any finished adoption election
        for this site, so a later death of this site gets a fresh election)."""
        sent = self._clock()
        lease = await self.client.grant(self.timing.ttl_s, timeout_s=self.timing.ttl_s / 2)
        info = SessionInfo(
            self.site,
            uuid.uuid4().hex,
            lease.id,
            lease.ttl_s,
            f"{self.client.host}:{self.client.port}",
            self._wall(),
        )
        key = self.keys.site_session(self.site)
        try:
            result = await self.client.txn(
                [], [Put(key, info.to_json(), lease.id), Delete(self.keys.adoption(self.site))]
            )
        except CoordError:
            with contextlib.suppress(CoordError):
                await self.client.revoke(lease.id, timeout_s=0.5)
            raise
        self._lease_clock.proved(sent, lease.ttl_s)
        return SessionToken(self.site, lease.id, result.revision, key)

    def _go_live(self, token: SessionToken, *, announce: bool) -> None:
        self._token = token
        self._fenced = False
        self.fenced_event.clear()
        self.live_event.set()
        log.info("session %s live: lease %x epoch %d", self.site, token.lease_id, token.epoch)
        if announce:
            for cb in list(self._on_rejoined):
                _call(cb, token)

    def _fence(self, reason: str) -> None:
        self._lease_clock.lost()
        if self._fenced:
            return
        self._fenced = True
        self.stats.fences += 1
        self.live_event.clear()
        self.fenced_event.set()
        level = logging.INFO if self._closing else logging.WARNING
        log.log(level, "session %s fenced: %s", self.site, reason)
        for cb in list(self._on_fenced):
            _call(cb, reason)


def _call(cb: Callable[[_T], None], arg: _T) -> None:
    try:
        cb(arg)
    except Exception:
        log.exception("session callback %r failed", cb)
