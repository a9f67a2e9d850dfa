"""A caller in the media IVR presses the key for a callback: the site answers the booking only once
etcd holds the callback, so the caller hears "we will call you back" only when a surviving site would
call back if this one died. A real etcd and a real site controller behind its gRPC API; the media
gateway's side (IvrOutcome with outcome ``callback``) is sent as the front door sends it.

Fault injection: the controller's contact store is wrapped to hold or fail etcd creates, as the
other durable-contact tests do (a real etcd behind it)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration.site_harness import ROOT, InProcessSite, dev_agents
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys
from vcc.errors import CoordError
from vcc.proto.v1 import site_pb2 as pb
from vcc.proto.v1 import site_pb2_grpc as pb_grpc
from vcc.web.frontdoor import ivr_request

pytestmark = pytest.mark.integration


async def wait_for(predicate: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


class Booking:
    """One site with nobody staffed, a caller in the gateway's IVR, and the gRPC stub the front door uses."""

    def __init__(self, etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path) -> None:
        self.site = InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint("a"), tmp_path)
        self.c = self.site.controller
        self.store = self.c.store
        self.real_create_many = self.store.create_many
        self.attempts: list[str] = []  # contact ids of every etcd create tried

    async def __aenter__(self) -> Booking:
        await self.site.start()
        self.client = SiteClient(self.site.address)
        self.channel = grpc.aio.insecure_channel(self.site.address)
        self.api = pb_grpc.SiteApiStub(self.channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.store.create_many = self.real_create_many  # type: ignore[method-assign]
        await self.channel.close()
        await self.client.close()
        await self.site.stop()

    def hold_creates(self, *, fail: bool = False, applied: bool = True) -> asyncio.Event:
        """The site's etcd creates wait until the returned event is set, then go through, or fail
        (``applied``: etcd applied the transaction, but its answer is lost)."""
        release = asyncio.Event()

        async def held_create_many(contacts: list, token: object) -> list:  # type: ignore[type-arg]
            self.attempts.extend(c.contact_id for c in contacts)
            await release.wait()
            if not fail:
                return await self.real_create_many(contacts, token)  # type: ignore[arg-type]
            if applied:
                await self.real_create_many(contacts, token)  # type: ignore[arg-type]
                raise CoordError("etcd Txn: DEADLINE_EXCEEDED (injected, after etcd applied it)")
            raise CoordError("etcd Txn: UNAVAILABLE (injected)")

        self.store.create_many = held_create_many  # type: ignore[method-assign]
        return release

    async def caller_in_ivr(self, cid: str) -> None:
        sub = submission(cid, "voice", "+15555550000", "+4930777")
        sub.ivr_at_gateway = True
        [result] = await self.client.submit([sub])
        assert result.accepted, result.error
        await wait_for(lambda: self.state(cid) == "ivr")

    def book(self, cid: str) -> asyncio.Task[pb.IvrOutcomeReply]:
        """What the front door sends when the gateway's caller presses 1 at the callback offer."""
        request = ivr_request(cid, "callback", "demo-support", 0, {}, [["callback", "1"]], "callback_booked",
                              "+4930777")  # fmt: skip
        return asyncio.ensure_future(self.api.IvrOutcome(request, timeout=20.0))

    async def served(self, cid: str) -> Counter[str]:
        """An agent logs in and serves ``cid``: how many times each contact was handled."""
        bots = BotAgentPool(self.site.address, dev_agents("dev-01"), handle_s=lambda ch: 0.05)
        try:
            await bots.start()
            await wait_for(lambda: cid in bots.stats.handled_ids)
            await asyncio.sleep(0.5)
        finally:
            await bots.stop()
        return Counter(bots.stats.handled_ids)

    def state(self, cid: str) -> str | None:
        placed = self.c.contacts.get(cid)
        return placed.state if placed is not None else None

    def journey(self, cid: str) -> list[str]:
        return [e["state"] for e in self.site.events() if e.get("kind") == "contact" and e["contact_id"] == cid
                and e["state"] != e.get("prev_state")]


def test_the_booking_is_answered_only_once_etcd_holds_the_callback(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with Booking(etcd, coord_keys, tmp_path) as b:
            landed = b.hold_creates()
            await b.caller_in_ivr("bk1")
            reply = b.book("bk1")
            await asyncio.sleep(1.0)
            # etcd has not taken it: no answer yet, so the caller has not been promised anything
            assert not reply.done()
            assert await b.store.get("bk1") is None
            landed.set()
            answer = await reply
            stored = await b.store.get("bk1")  # read right after the answer
            await b.served("bk1")
            await wait_for(lambda: "completed" in b.journey("bk1"), 10.0)
            done = await b.store.get("bk1")
            journey = b.journey("bk1")
        assert answer.ok, answer.error
        assert stored is not None and stored.contact.owner_site == "dev" and stored.contact.state.value == "queued"
        assert stored.contact.data.get("callback") == "booked"
        assert stored.contact.data.get("callback_number") == "+4930777"
        assert stored.contact.data.get("ivr_path") == "callback:1"
        assert "callback_requested" in journey and journey[-1] == "completed", journey
        assert done is not None and done.contact.state.value == "completed", done

    asyncio.run(scenario())


def test_a_callback_etcd_cannot_store_is_withdrawn_and_the_caller_stays_in_line(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with Booking(etcd, coord_keys, tmp_path) as b:
            b.hold_creates(fail=True, applied=False).set()
            await b.caller_in_ivr("bk2")
            answer = await b.book("bk2")
            state_after = b.state("bk2")
            creating = set(b.c.durable.creating)
            b.store.create_many = b.real_create_many  # type: ignore[method-assign]
            # the gateway's IVR goes down the declined branch: the caller is routed to the queue
            route = await b.api.IvrOutcome(ivr_request("bk2", "route", "demo-support", 0, {}, [["callback", "1"]],
                                                       "", None), timeout=5.0)  # fmt: skip
            handled = await b.served("bk2")
            await wait_for(lambda: "completed" in b.journey("bk2"), 10.0)
            stored = await b.store.get("bk2")
            journey = b.journey("bk2")
        assert not answer.ok and "could not be stored" in answer.error, answer
        assert b.attempts and set(b.attempts) == {"bk2"}  # the write was tried, and retried, until withdrawn
        assert state_after == "ivr" and "bk2" not in creating
        assert route.ok, route.error
        assert stored is None  # a withdrawn create never lands later
        assert "callback_requested" not in journey and journey[-1] == "completed", journey
        assert handled["bk2"] == 1

    asyncio.run(scenario())


def test_a_write_in_flight_when_the_wait_ends_still_books_the_callback(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    """Withdrawing cannot take back a transaction etcd may already have applied: the answer is that
    transaction's outcome, however late."""

    async def scenario() -> None:
        async with Booking(etcd, coord_keys, tmp_path) as b:
            release = b.hold_creates()
            await b.caller_in_ivr("bk3")
            reply = b.book("bk3")
            await asyncio.sleep(b.c.settings.callback_confirm_s + 0.5)
            assert not reply.done()
            release.set()
            answer = await reply
            stored = await b.store.get("bk3")
            await wait_for(lambda: "callback_requested" in b.journey("bk3"), 10.0)
            journey = b.journey("bk3")
        assert answer.ok, answer.error
        assert stored is not None and stored.contact.owner_site == "dev"
        assert "callback_requested" in journey, journey

    asyncio.run(scenario())


@pytest.mark.parametrize("then", ["route", "book_again"])
def test_a_withdrawn_write_that_etcd_applied_after_all_is_ended_there(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path, then: str
) -> None:
    """The write was in flight when the wait ended, and its answer was lost although etcd applied it:
    the caller was told it could not be booked and stays in line, so the record must not stay a
    queued callback (a survivor would adopt it and call back a caller already served). The writer
    makes the key terminal (failed, withdrawn). Then the caller is routed; or, in a flow that offers
    the callback again, books it again: that booking takes the key back (queued, this site's)."""

    async def scenario() -> None:
        async with Booking(etcd, coord_keys, tmp_path) as b:
            release = b.hold_creates(fail=True, applied=True)
            await b.caller_in_ivr("bk5")
            reply = b.book("bk5")
            await asyncio.sleep(b.c.settings.callback_confirm_s + 0.5)
            release.set()
            answer = await reply
            swept: list[Any] = []

            async def ended_in_etcd() -> None:
                while not swept:
                    got = await b.store.get("bk5")
                    if got is not None and got.contact.terminal:
                        swept.append(got)
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(ended_in_etcd(), 10.0)
            b.store.create_many = b.real_create_many  # type: ignore[method-assign]
            if then == "route":
                second = await b.api.IvrOutcome(ivr_request("bk5", "route", "demo-support", 0, {},
                                                            [["callback", "1"]], "", None), timeout=5.0)  # fmt: skip
            else:
                second = await b.book("bk5")
            rebooked = await b.store.get("bk5")
            handled = await b.served("bk5")
            await wait_for(lambda: "completed" in b.journey("bk5"), 10.0)
            journey = b.journey("bk5")
        assert not answer.ok and "could not be stored" in answer.error, answer
        [ended] = swept
        assert ended.contact.state.value == "failed" and ended.contact.data.get("withdrawn") == "true", ended
        assert second.ok, second.error
        assert handled["bk5"] == 1, handled
        if then == "route":
            assert "callback_requested" not in journey, journey
        else:
            assert rebooked is not None and rebooked.contact.state.value == "queued", rebooked
            assert rebooked.contact.owner_site == "dev" and rebooked.contact.data.get("callback") == "booked"
            assert "callback_requested" in journey, journey

    asyncio.run(scenario())


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "not_stored"])
def test_a_caller_who_hangs_up_during_the_booking(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path, stored: bool
) -> None:
    """The caller pressed 1 and hung up before the confirmation: the callback stands if etcd stores it
    (the customer asked for it); if it cannot be stored, the contact is abandoned, not left in the IVR."""

    async def scenario() -> None:
        async with Booking(etcd, coord_keys, tmp_path) as b:
            decide = b.hold_creates(fail=not stored, applied=False)
            await b.caller_in_ivr("bk4")
            reply = b.book("bk4")
            await wait_for(lambda: "bk4" in b.c.booking)
            abandoned = await b.api.Abandon(pb.AbandonRequest(contact_ids=["bk4"]), timeout=5.0)
            decide.set()
            answer = await reply
            await wait_for(lambda: {"callback_requested", "abandoned"} & set(b.journey("bk4")), 10.0)
            in_etcd = await b.store.get("bk4")
            journey = b.journey("bk4")
        assert list(abandoned.abandoned) == []  # not while the booking is undecided
        if stored:
            assert answer.ok, answer.error
            assert in_etcd is not None and in_etcd.contact.state.value == "queued"
            assert "callback_requested" in journey and "abandoned" not in journey, journey
        else:
            assert not answer.ok
            assert in_etcd is None
            assert journey[-1] == "abandoned", journey

    asyncio.run(scenario())
