"""Site sessions on a real 3-member etcd cluster: keepalive, fencing when the site's own member dies
or loses quorum, rejoining, and agent ownership following the lease.

Each site talks to its own member (site "a" → member "a"); only where a test says so does it have
the other members as fallbacks. Figures marked MEASURE are printed
(run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator

import pytest

from vcc.coord.client import EtcdClient
from vcc.coord.election import SiteEvent, watch_sessions
from vcc.coord.etcd_server import EtcdCluster, wait_healthy
from vcc.coord.keys import CoordKeys
from vcc.coord.ownership import AgentOwnership
from vcc.coord.session import SiteSession
from vcc.errors import FencedError

pytestmark = pytest.mark.integration

TTL_S = 2


def client(etcd: EtcdCluster, member: str) -> EtcdClient:
    host, port = etcd.endpoint(member)
    return EtcdClient(host, port)


class SessionWatch:
    """Collects site events seen through one member, with their monotonic arrival times."""

    def __init__(self, c: EtcdClient, keys: CoordKeys) -> None:
        self.events: list[tuple[float, SiteEvent]] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(watch_sessions(c, keys)))

    async def _run(self, it: AsyncIterator[SiteEvent]) -> None:
        async for ev in it:
            self.events.append((time.monotonic(), ev))
            self._changed.set()

    async def wait_for(self, site: str, up: bool, timeout_s: float, after: float = 0.0) -> float:
        """Monotonic time at which ``site`` was seen going up/down (at or after ``after``)."""
        async with asyncio.timeout(timeout_s):
            while True:
                for t, ev in self.events:
                    if ev.site == site and ev.up is up and t >= after:
                        return t
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def test_keepalive_holds_the_session_key(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    async def body() -> None:
        async with client(etcd, "a") as c:
            session = SiteSession(c, coord_keys, "a")
            token = await session.start()
            await asyncio.sleep(1.6 * TTL_S)
            kv = await c.get(coord_keys.site_session("a"))
            assert kv is not None and kv.lease == token.lease_id and kv.mod_revision == token.epoch
            assert not session.fenced and session.token == token
            assert session.stats.refreshes >= 3 and session.stats.fences == 0
            assert await c.lease_ttl(token.lease_id) > 0
            await session.close()
            assert await c.get(coord_keys.site_session("a")) is None  # revoked on a clean close
            assert session.fenced

    asyncio.run(body())


def test_sigkill_of_own_member_fences_then_rejoins_on_a_new_lease(
    etcd: EtcdCluster, coord_keys: CoordKeys
) -> None:
    async def body() -> None:
        async with client(etcd, "a") as ca, client(etcd, "b") as cb:
            session = SiteSession(ca, coord_keys, "a")
            first = await session.start()
            reasons: list[str] = []
            session.on_fenced(reasons.append)
            survivor = SessionWatch(cb, coord_keys)
            await survivor.wait_for("a", True, 5.0)

            killed_at = time.monotonic()
            await asyncio.to_thread(etcd.kill, "a")
            await asyncio.wait_for(session.fenced_event.wait(), TTL_S)
            fenced_after = time.monotonic() - killed_at
            assert session.fenced and reasons
            with pytest.raises(FencedError):
                _ = session.token

            down_at = await survivor.wait_for("a", False, 10.0)
            print(
                f"\nMEASURE member SIGKILL -> site fenced {fenced_after:.3f} s; "
                f"-> survivor sees session DELETE {down_at - killed_at:.3f} s"
            )
            assert fenced_after < down_at - killed_at  # fenced before anyone could see the expiry

            restart_at = time.monotonic()
            await asyncio.to_thread(etcd.restart, "a")
            second = await asyncio.wait_for(session.wait_live(), 10.0)
            rejoined_after = time.monotonic() - restart_at
            assert second.lease_id != first.lease_id and second.epoch > first.epoch
            assert session.stats.rejoins == 1
            await survivor.wait_for("a", True, 5.0, after=down_at)
            kv = await ca.get(coord_keys.site_session("a"))
            assert kv is not None and kv.lease == second.lease_id
            print(f"MEASURE member restart (healthy) -> session live on a new lease {rejoined_after:.3f} s")
            await survivor.stop()
            await session.close()

    asyncio.run(body())


def test_a_site_with_fallback_members_outlives_its_own_member(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    """With the other members as fallbacks (what `vcc up` gives a site), SIGKILL of the site's own
    member moves its client to another member: the session keeps its lease and epoch, and no other
    site ever sees it end (nothing is adopted, no live call dropped)."""
    async def body() -> None:
        own = etcd.endpoint("a")
        async with EtcdClient(*own, fallbacks=[etcd.endpoint("b"), etcd.endpoint("c")]) as ca, \
                client(etcd, "b") as cb:
            session = SiteSession(ca, coord_keys, "a")
            first = await session.start()
            survivor = SessionWatch(cb, coord_keys)
            await survivor.wait_for("a", True, 5.0)
            await asyncio.to_thread(etcd.kill, "a")
            await asyncio.sleep(3 * TTL_S)  # well past the lease's TTL
            ended = [ev for _, ev in survivor.events if ev.site == "a" and not ev.up]
            assert not ended, f"the site's session ended with its member: {ended}"
            token = await asyncio.wait_for(session.wait_live(), 5.0)
            assert (token.lease_id, token.epoch) == (first.lease_id, first.epoch)
            assert ca.failovers >= 1 and (ca.host, ca.port) != own
            kv = await cb.get(coord_keys.site_session("a"))
            assert kv is not None and kv.lease == first.lease_id
            print(f"\nMEASURE own member SIGKILL with fallbacks: client moved {ca.failovers} time(s), to "
                  f"{ca.host}:{ca.port}; session fenced {session.stats.fences} time(s), same lease kept")
            await survivor.stop()
            await session.close()

    asyncio.run(body())


def test_quorum_loss_fences_and_the_session_resumes_when_quorum_returns(
    etcd: EtcdCluster, coord_keys: CoordKeys
) -> None:
    async def body() -> None:
        async with client(etcd, "a") as ca:
            session = SiteSession(ca, coord_keys, "a")
            first = await session.start()
            rejoined = asyncio.Event()
            session.on_rejoined(lambda _token: rejoined.set())
            cut_at = time.monotonic()
            await asyncio.gather(asyncio.to_thread(etcd.kill, "b"), asyncio.to_thread(etcd.kill, "c"))
            await asyncio.wait_for(session.fenced_event.wait(), TTL_S + 0.5)
            fenced_after = time.monotonic() - cut_at
            back_at = time.monotonic()
            await asyncio.to_thread(etcd.ensure_running)
            await asyncio.wait_for(rejoined.wait(), 10.0)
            live_after = time.monotonic() - back_at
            token = session.token
            how = "same lease (resumed)" if token.lease_id == first.lease_id else "new lease"
            print(
                f"\nMEASURE quorum lost -> site fenced {fenced_after:.3f} s; "
                f"quorum back -> live again {live_after:.3f} s on the {how}"
            )
            assert fenced_after < TTL_S
            await session.close()

    asyncio.run(body())


def test_agents_follow_the_lease_and_move_when_their_site_dies(
    etcd: EtcdCluster, coord_keys: CoordKeys
) -> None:
    async def body() -> None:
        async with client(etcd, "a") as ca, client(etcd, "b") as cb:
            sa, sb = SiteSession(ca, coord_keys, "a"), SiteSession(cb, coord_keys, "b")
            ta, tb = await sa.start(), await sb.start()
            own_a, own_b = AgentOwnership(ca, coord_keys), AgentOwnership(cb, coord_keys)
            agents = [f"agent{i}" for i in range(10)]
            for agent in agents:
                assert (await own_a.claim(agent, ta)).acquired
            assert (await own_a.claim("agent0", ta)).acquired  # idempotent re-claim
            claim = await own_b.claim("agent0", tb)
            assert not claim.acquired and claim.owner == "a"
            race = await asyncio.gather(own_a.claim("contested", ta), own_b.claim("contested", tb))
            assert sum(c.acquired for c in race) == 1 and race[0].owner == race[1].owner
            assert await own_b.owned_by("a") == sorted([*agents, "contested"] if race[0].acquired else agents)

            # Site a's processes die: its keepalive stops and nothing revokes the lease.
            await sa.close(revoke=False)
            deadline = time.monotonic() + TTL_S + 5.0  # etcd expires it ~TTL after, up to 1 s more here
            while await own_b.owner_of("agent0") is not None:
                assert time.monotonic() < deadline, "a's agents still owned long after its lease ran out"
                await asyncio.sleep(0.1)
            for agent in agents:
                assert (await own_b.claim(agent, tb)).acquired
            assert await own_a.owner_of("agent3") == "b"
            with pytest.raises(FencedError):
                await own_a.claim("agent-new", ta)  # a stale session cannot claim
            assert not await own_a.release("agent1", "a")  # nor take b's agent away
            assert await own_b.release("agent1", "b")
            await sb.close()

    asyncio.run(body())


def test_session_delete_latency_after_keepalive_stops(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    """What survivors see when a site's processes are SIGKILLed: the session key's DELETE arrives
    for every site, never before TTL after its last keepalive; usually about TTL after it (etcd
    scans for expired leases every 500 ms), up to a second more on this busy machine."""

    async def body() -> None:
        members = ["a", "b", "c"]
        clients = [client(etcd, m) for m in members]
        for c in clients:
            await c.connect()
        watcher = SessionWatch(clients[1], coord_keys)
        sites = [f"s{i}" for i in range(6)]
        sessions = [SiteSession(clients[i % 3], coord_keys, s) for i, s in enumerate(sites)]
        await asyncio.gather(*(s.start() for s in sessions))
        for s in sites:
            await watcher.wait_for(s, True, 5.0)

        async def crash(i: int, s: SiteSession) -> tuple[float, float]:
            await asyncio.sleep(0.13 * i)  # spread the crashes over the refresh period
            last_proof = s.last_proof_at
            stopped_at = time.monotonic()
            await s.close(revoke=False)
            down_at = await watcher.wait_for(s.site, False, 6.0)
            assert last_proof is not None
            return down_at - stopped_at, down_at - last_proof

        results = await asyncio.gather(*(crash(i, s) for i, s in enumerate(sessions)))
        from_stop = [r[0] for r in results]
        from_proof = [r[1] for r in results]
        print(
            f"\nMEASURE keepalive stopped -> DELETE seen: min {min(from_stop):.3f} "
            f"median {statistics.median(from_stop):.3f} max {max(from_stop):.3f} s; "
            f"from last keepalive sent: min {min(from_proof):.3f} "
            f"median {statistics.median(from_proof):.3f} max {max(from_proof):.3f} s (n={len(results)})"
        )
        # a site is never taken for dead before its lease could have run out (the upper end is
        # printed, not asserted: the DELETE came, within wait_for's 6 s, for every site)
        assert all(t >= TTL_S - 0.1 for t in from_proof), from_proof
        await watcher.stop()
        for c in clients:
            await c.close()

    asyncio.run(body())


def test_cluster_is_healthy_after_the_drills(etcd: EtcdCluster) -> None:
    assert wait_healthy(list(etcd.members.values()), 5.0) < 5.0
