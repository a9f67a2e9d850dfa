"""Hard state on a real 3-member etcd cluster: adoption elections, durable contacts, config versions,
site load, and watches that miss nothing across an outage of the watcher's own member."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest

from vcc.coord.client import EtcdClient
from vcc.coord.config_store import ConfigStore, ConfigVersion
from vcc.coord.election import Elections, SiteEvent, live_sites, watch_sessions
from vcc.coord.etcd_server import EtcdCluster, wait_healthy
from vcc.coord.keys import CoordKeys
from vcc.coord.load import LoadBoard, LoadCache, LoadPublisher
from vcc.coord.session import SessionToken, SiteSession
from vcc.coord.store import ContactStore, DurableContact
from vcc.core.balancer import QueueLoad, SiteLoad
from vcc.core.model import Channel, ContactState
from vcc.errors import FencedError

pytestmark = pytest.mark.integration


def client(etcd: EtcdCluster, member: str) -> EtcdClient:
    host, port = etcd.endpoint(member)
    return EtcdClient(host, port)


async def until(predicate: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``predicate`` until it holds (TimeoutError after ``timeout_s``)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.02)


def contact(cid: str, owner: str, i: int) -> DurableContact:
    return DurableContact(
        contact_id=cid,
        tenant="acme",
        channel=Channel.CHAT if i % 2 else Channel.EMAIL,
        queue="support",
        ts=1_700_000_000.0 + i * 0.25,
        priority=i % 4,
        state=ContactState.QUEUED,
        owner_site=owner,
        data={"subject": f"case {i}"},
    )


async def live(session: SiteSession) -> SessionToken:
    """The session's token once its lease is proved alive (on a starved machine a session may fence
    for a moment between keepalives; these tests are about adoption, not fencing)."""
    return await asyncio.wait_for(session.wait_live(), 10.0)


def test_two_survivors_race_to_adopt_twenty_dead_sites(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    """20 times: a third site with durable contacts dies; sites a and b race for the election and
    (both, as a confused survivor might) run the adoption at once. Every contact is adopted exactly
    once, keeps its arrival ts and priority, and exactly one site wins each election."""

    async def body() -> None:
        async with client(etcd, "a") as ca, client(etcd, "b") as cb, client(etcd, "c") as cc:
            sa, sb = SiteSession(ca, coord_keys, "a"), SiteSession(cb, coord_keys, "b")
            await asyncio.gather(sa.start(), sb.start())
            store_a, store_b, store_c = (ContactStore(c, coord_keys) for c in (ca, cb, cc))
            el_a, el_b = Elections(ca, coord_keys), Elections(cb, coord_keys)
            split = Counter[str]()
            for rnd in range(20):
                dead = f"x{rnd}"
                sx = SiteSession(cc, coord_keys, dead)
                tx = await sx.start()
                originals = [contact(f"r{rnd}-{i}", dead, i) for i in range(150 if rnd == 0 else 30)]
                created = await asyncio.gather(*(store_c.create(c, tx) for c in originals))
                assert all(new for _, new in created)
                await sx.close()  # the site dies (revoked: its session key vanishes at once)

                wins = await asyncio.gather(el_a.try_adopt(dead, await live(sa)), el_b.try_adopt(dead, await live(sb)))
                assert sorted(wins) == [False, True]
                ra, rb = await asyncio.gather(
                    store_a.adopt(dead, await live(sa), batch_size=7),
                    store_b.adopt(dead, await live(sb), batch_size=11),
                )
                assert not set(ra.adopted) & set(rb.adopted)
                assert set(ra.adopted) | set(rb.adopted) == {c.contact_id for c in originals}
                split.update(a=len(ra.adopted), b=len(rb.adopted))

                by_id = {s.contact.contact_id: s.contact for s in await store_c.list_all()}
                for orig in originals:
                    now = by_id[orig.contact_id]
                    assert now.owner_site == ("a" if orig.contact_id in ra.adopted else "b")
                    assert (now.ts, now.priority, now.state) == (orig.ts, orig.priority, orig.state)
                    assert now.adopted_from == (dead,) and now.data == orig.data
                again = await store_a.adopt(dead, await live(sa))
                assert again.adopted == () and again.txns == 0  # idempotent re-run
                holder = await el_a.adopter_of(dead)
                assert holder is not None and holder.adopter == ("a" if wins[0] else "b")
            print(f"\nMEASURE adoption race split over 20 rounds: {dict(split)}")
            await asyncio.gather(sa.close(), sb.close())

    asyncio.run(body())


def test_adoption_stops_when_the_dead_site_comes_back(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    async def body() -> None:
        async with client(etcd, "a") as ca, client(etcd, "c") as cc:
            sa = SiteSession(ca, coord_keys, "a")
            await sa.start()
            sd = SiteSession(cc, coord_keys, "d")
            td = await sd.start()
            store_d, store_a = ContactStore(cc, coord_keys), ContactStore(ca, coord_keys)
            for i in range(5):
                await store_d.create(contact(f"d{i}", "d", i), td)
            await sd.close()
            assert await Elections(ca, coord_keys).try_adopt("d", sa.token)
            back = SiteSession(cc, coord_keys, "d")  # d restarts before a gets to adopt
            await back.start()
            assert await Elections(ca, coord_keys).adopter_of("d") is None  # cleared by d's return
            report = await store_a.adopt("d", sa.token)
            assert report.adopted == () and report.stopped is not None
            assert [s.contact.contact_id for s in await store_d.list_by_owner("d")] == [
                f"d{i}" for i in range(5)
            ]
            assert not await Elections(ca, coord_keys).try_adopt("d", sa.token)
            await asyncio.gather(sa.close(), back.close())

    asyncio.run(body())


def test_contacts_cas_complete_once_and_stale_sessions_cannot_write(
    etcd: EtcdCluster, coord_keys: CoordKeys
) -> None:
    async def body() -> None:
        async with client(etcd, "a") as ca, client(etcd, "b") as cb:
            sa = SiteSession(ca, coord_keys, "a")
            ta = await sa.start()
            store_a, store_b = ContactStore(ca, coord_keys), ContactStore(cb, coord_keys)
            stored, new = await store_a.create(contact("k1", "a", 1), ta)
            assert new and (await store_a.create(contact("k1", "a", 1), ta))[1] is False
            offered = await store_a.set_state(stored, ContactState.OFFERED, ta)
            assert offered is not None
            assert await store_a.set_state(stored, ContactState.CONNECTED, ta) is None  # stale revision
            results = await asyncio.gather(*(s.complete("k1") for s in [store_a, store_b] * 5))
            assert results.count(True) == 1
            done = await store_b.get("k1")
            assert done is not None and done.contact.state is ContactState.COMPLETED
            kv = await cb.get(coord_keys.contact("k1"))
            assert kv is not None and kv.lease != 0  # on the retention lease
            assert not await store_b.complete("no-such-contact")

            stale = ta
            await sa.close()
            with pytest.raises(FencedError):
                await store_a.create(contact("k2", "a", 2), stale)
            again = await store_a.get("k1")
            assert again is not None
            with pytest.raises(FencedError):
                await store_a.update(again, again.contact, stale)
            with pytest.raises(FencedError):
                _ = sa.token

    asyncio.run(body())


def test_a_withdrawn_create_leaves_a_terminal_key_whether_or_not_it_landed(
    etcd: EtcdCluster, coord_keys: CoordKeys
) -> None:
    """``withdraw`` after a create whose answer was lost: if the create had not landed, the key is a
    terminal tombstone (on the retention lease) and the create landing late finds it taken; if it
    had landed, the contact is ended there. A contact another site adopted is left alone."""

    async def body() -> None:
        async with client(etcd, "a") as ca:
            sa = SiteSession(ca, coord_keys, "a")
            ta = await sa.start()
            store = ContactStore(ca, coord_keys)
            # never landed: a tombstone, and the late create is a no-op
            assert await store.withdraw(contact("w1", "a", 1)) is False
            late, new = await store.create(contact("w1", "a", 1), ta)
            assert not new and late.contact.state is ContactState.FAILED and late.contact.data["withdrawn"] == "true"
            kv = await ca.get(coord_keys.contact("w1"))
            assert kv is not None and kv.lease != 0
            # landed: ended in place
            await store.create(contact("w2", "a", 2), ta)
            assert await store.withdraw(contact("w2", "a", 2)) is True
            w2 = await store.get("w2")
            assert w2 is not None and w2.contact.state is ContactState.FAILED and w2.contact.terminal
            # adopted by another site meanwhile: its contact now
            await store.create(contact("w3", "a", 3), ta)
            w3 = await store.get("w3")
            assert w3 is not None
            await store.update(w3, replace(w3.contact, owner_site="b"), ta)
            assert await store.withdraw(contact("w3", "a", 3)) is True
            w3 = await store.get("w3")
            assert w3 is not None and w3.contact.state is ContactState.QUEUED and w3.contact.owner_site == "b"
            await sa.close()

    asyncio.run(body())


def test_config_versions_apply_and_watch(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    async def body() -> None:
        async with client(etcd, "a") as ca, client(etcd, "b") as cb, client(etcd, "c") as cc:
            cfg_a, cfg_b, cfg_c = (ConfigStore(c, coord_keys) for c in (ca, cb, cc))
            assert await cfg_a.current() is None
            assert await cfg_a.apply("sites: [a]\n") == 1
            seen: list[ConfigVersion] = []

            async def follow() -> None:
                async for cv in cfg_c.watch():
                    seen.append(cv)

            watcher = asyncio.create_task(follow())
            await until(lambda: bool(seen), 5)  # a watch from "now" starts with the current version
            versions = await asyncio.gather(
                cfg_a.apply("v: a\n"), cfg_b.apply("v: b\n"), cfg_a.apply("v: c\n")
            )
            assert sorted(versions) == [2, 3, 4]
            await until(lambda: len(seen) >= 4, 5)
            assert [cv.version for cv in seen] == [1, 2, 3, 4]
            current = await cfg_b.current()
            assert current is not None and current.version == 4 and current.yaml_text == seen[-1].yaml_text
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    asyncio.run(body())


def test_load_is_published_and_only_live_sites_are_read(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    async def body() -> None:
        async with client(etcd, "a") as ca, client(etcd, "b") as cb, client(etcd, "c") as cc:
            sa, sb = SiteSession(ca, coord_keys, "a"), SiteSession(cb, coord_keys, "b")
            await asyncio.gather(sa.start(), sb.start())

            def measure_of(site: str) -> Callable[[], SiteLoad]:
                return lambda: SiteLoad(site, time.time(), False, {"support": QueueLoad(3, 12.5, 1, 4)})

            pubs = [
                LoadPublisher(LoadBoard(c, coord_keys), s, measure_of(s.site))
                for c, s in ((ca, sa), (cb, sb))
            ]
            cache = LoadCache(cc, coord_keys)
            await cache.start()
            for p in pubs:
                p.start()
            await asyncio.sleep(1.05)
            assert all(p.published >= 2 for p in pubs)
            loads = await LoadBoard(cc, coord_keys).read_all()
            assert set(loads) == {"a", "b"} and loads["a"].queues["support"] == QueueLoad(3, 12.5, 1, 4)
            assert set(cache.snapshot()) == {"a", "b"} and not cache.stale

            await pubs[1].stop()
            await sb.close()  # b dies
            assert set(await LoadBoard(ca, coord_keys).read_all()) == {"a"}
            await until(lambda: set(cache.snapshot()) == {"a"}, 2)
            await pubs[0].stop()
            await cache.stop()
            await sa.close()

    asyncio.run(body())


def test_session_watch_misses_nothing_while_its_member_is_down(
    etcd: EtcdCluster, coord_keys: CoordKeys
) -> None:
    async def body() -> None:
        async with client(etcd, "a") as ca, client(etcd, "c") as cc:
            events: list[SiteEvent] = []

            async def follow() -> None:
                async for ev in watch_sessions(cc, coord_keys):
                    events.append(ev)

            sx = SiteSession(ca, coord_keys, "x")
            await sx.start()
            watcher = asyncio.create_task(follow())
            await until(lambda: bool(events), 5)
            assert [(e.site, e.up) for e in events] == [("x", True)]

            await asyncio.to_thread(etcd.kill, "c")  # the watcher's own member goes away
            await asyncio.to_thread(wait_healthy, [etcd.members["a"], etcd.members["b"]])
            await sx.close()  # x dies and y appears while the watch is down
            sy = SiteSession(ca, coord_keys, "y")
            await sy.start()
            await asyncio.to_thread(etcd.restart, "c")
            await until(lambda: len(events) >= 3, 10)
            assert {(e.site, e.up) for e in events[1:]} == {("x", False), ("y", True)}
            assert set(await live_sites(cc, coord_keys)) == {"y"}
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await sy.close()

    asyncio.run(body())
