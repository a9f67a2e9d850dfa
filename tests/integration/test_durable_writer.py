"""The site's batched writer of durable contacts, on a real etcd: an end that arrives while the site
is fenced (no session token) waits, and is recorded in etcd and reported once the site is live
again. (It used to be dropped: taken off the queue before the token was asked for, so a chat or an
e-mail finished during a fence stayed open in etcd, and an adopter served it a second time.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.test_coord_state import client, contact, live
from vcc.actors.directory import PlacedContact
from vcc.actors.durable_writer import DurableWriter
from vcc.actors.records import ContactRecord
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys
from vcc.coord.session import SessionToken, SiteSession
from vcc.coord.store import ContactStore
from vcc.core.model import Channel, ContactState
from vcc.errors import FencedError

pytestmark = pytest.mark.integration


def test_an_end_during_a_fence_is_recorded_after_it(etcd: EtcdCluster, coord_keys: CoordKeys) -> None:
    async def body() -> None:
        async with client(etcd, "a") as c:
            session = SiteSession(c, coord_keys, "w")
            await session.start()
            store = ContactStore(c, coord_keys)
            fenced = False

            def token() -> SessionToken:
                if fenced:  # as SiteSession.token does while the lease is not proved
                    raise FencedError("site w is fenced")
                return session.token

            [(stored, new)] = await store.create_many([contact("fence-1", "w", 1)], await live(session))
            assert new
            recorded: list[tuple[dict[str, Any], bool]] = []
            reported = asyncio.Event()

            def on_recorded(event: dict[str, Any], ok: bool) -> None:
                recorded.append((event, ok))
                reported.set()

            writer = DurableWriter(store, token, on_recorded)
            task = asyncio.ensure_future(writer.run())
            try:
                record = ContactRecord("fence-1", "acme", Channel.CHAT, stored.contact.ts, queue="support")
                placed = PlacedContact(record, 0, ContactState.WRAP_UP.value, durable=True, stored=stored)
                fenced = True
                writer.ended(placed, {"contact_id": "fence-1", "state": "completed", "prev_state": "wrap_up"})
                await asyncio.sleep(0.8)  # several tries while fenced
                assert recorded == [] and writer.backlog == 1  # waiting, not dropped
                fenced = False
                await asyncio.wait_for(reported.wait(), 10)
            finally:
                task.cancel()
                await session.close()
            assert recorded == [({"contact_id": "fence-1", "state": "completed", "prev_state": "wrap_up"}, True)]
            now = await store.get("fence-1")
            assert now is not None and now.contact.state == ContactState.COMPLETED and now.contact.owner_site == "w"

    asyncio.run(body())
