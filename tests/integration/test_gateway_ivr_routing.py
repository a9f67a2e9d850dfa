"""What a caller chose in the media gateway's IVR (a ``set`` node: "press 2 for billing", a VIP
number) routes the call, and the callback the caller books instead: the extra skills and the
priority reach the site's router, and etcd's record of a booked callback, so that the site that
adopts it routes it the same way. A real etcd and a real site controller behind its gRPC API; the
gateway's side is sent as the front door sends it (``ivr_request``, ``FrontDoor.book_callback``).

cluster/dev.yaml: ``demo-support`` needs ``support`` 3; dev-02 has no ``billing``, dev-01 has 5."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import grpc
import pytest

from tests.integration.site_harness import InProcessSite, dev_agents
from tests.integration.test_callback_booking import Booking, wait_for
from tests.integration.test_two_sites_balance import start_two_sites
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient, submission
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys
from vcc.core.ivr import BookCallback
from vcc.proto.v1 import site_pb2_grpc as pb_grpc
from vcc.web.frontdoor import ivr_request

pytestmark = pytest.mark.integration

BILLING = {"billing": 5}


def state(site: InProcessSite, cid: str) -> str | None:
    placed = site.controller.contacts.get(cid)
    return placed.state if placed is not None else None


async def only_the_skilled_agent_serves(site: InProcessSite, cid: str) -> tuple[Counter[str], Counter[str]]:
    """dev-02 (no billing) is ready for 1.5 s, then dev-01 (billing 5) logs in: who handled ``cid``."""
    unskilled = BotAgentPool(site.address, dev_agents("dev-02"), handle_s=lambda ch: 0.05)
    skilled = BotAgentPool(site.address, dev_agents("dev-01"), handle_s=lambda ch: 0.05)
    try:
        await unskilled.start()
        await asyncio.sleep(1.5)
        assert state(site, cid) == "queued", state(site, cid)
        await skilled.start()
        await wait_for(lambda: cid in skilled.stats.handled_ids)
    finally:
        await skilled.stop()
        await unskilled.stop()
    return Counter(unskilled.stats.handled_ids), Counter(skilled.stats.handled_ids)


def router_contact(site: InProcessSite, cid: str) -> tuple[int, dict[str, int]]:
    """The priority and required skills of ``cid`` in its shard's router."""
    placed = site.controller.contacts[cid]
    assert placed.shard is not None
    c = site.shard_objects[placed.shard].router.contacts[cid]
    return c.priority, dict(c.skills)


def test_a_route_carries_the_skills_and_priority_the_flow_set(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with Booking(etcd, coord_keys, tmp_path) as b:
            await b.caller_in_ivr("sk1")
            base = b.c.contacts["sk1"].record.priority
            reply = await b.api.IvrOutcome(ivr_request("sk1", "route", "demo-support", 3, {}, [["menu", "2"]], "",
                                                       None, BILLING), timeout=5.0)  # fmt: skip
            assert reply.ok, reply.error
            await wait_for(lambda: b.state("sk1") == "queued")
            priority, skills = router_contact(b.site, "sk1")
            unskilled, skilled = await only_the_skilled_agent_serves(b.site, "sk1")
        assert skills == BILLING and priority == base + 3
        assert unskilled["sk1"] == 0 and skilled["sk1"] == 1

    asyncio.run(scenario())


def test_a_booked_callback_keeps_the_skills_and_priority_in_the_router_and_in_etcd(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with Booking(etcd, coord_keys, tmp_path) as b:
            await b.caller_in_ivr("sk2")
            base = b.c.contacts["sk2"].record.priority
            # what the gateway's caller pressing 1 sends: FrontDoor.book_callback's request
            booking = BookCallback("demo-support", "+4930777", {}, 2, BILLING, (("callback", "1"),))
            request = ivr_request("sk2", "callback", booking.queue, booking.priority_delta, booking.variables,
                                  booking.path, "callback_booked", booking.number, booking.skills)  # fmt: skip
            reply = await b.api.IvrOutcome(request, timeout=20.0)
            assert reply.ok, reply.error
            stored = await b.store.get("sk2")
            await wait_for(lambda: b.state("sk2") == "queued")
            priority, skills = router_contact(b.site, "sk2")
            unskilled, skilled = await only_the_skilled_agent_serves(b.site, "sk2")
        assert stored is not None and stored.contact.skills == BILLING, stored
        assert stored.contact.priority == base + 2
        assert skills == BILLING and priority == base + 2
        assert unskilled["sk2"] == 0 and skilled["sk2"] == 1

    asyncio.run(scenario())


def test_skills_the_site_does_not_know_are_refused_and_the_caller_stays_in_the_ivr(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with Booking(etcd, coord_keys, tmp_path) as b:
            await b.caller_in_ivr("sk3")
            errors = []
            for skills in ({"klingon": 3}, {"billing": 11}, {"billing": 0}):
                reply = await b.api.IvrOutcome(ivr_request("sk3", "route", "demo-support", 0, {}, [], "", None,
                                                           skills), timeout=5.0)  # fmt: skip
                errors.append(reply.error if not reply.ok else "")
            state = b.state("sk3")
        assert errors == [
            "contact 'sk3': unknown skill 'klingon'",
            "contact 'sk3': skill 'billing': proficiency must be 1-10, not 11",
            "contact 'sk3': skill 'billing': proficiency must be 1-10, not 0",
        ]
        assert state == "ivr"

    asyncio.run(scenario())


def test_a_site_that_adopts_a_booked_callback_routes_it_with_its_skills(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    """Y books a billing caller's callback and dies before anyone is staffed; X adopts the callback
    from etcd: only an agent with billing may call the customer back."""

    async def scenario() -> None:
        x, y = await start_two_sites(etcd, coord_keys, tmp_path)
        client = SiteClient(y.address)
        channel = grpc.aio.insecure_channel(y.address)
        crashed = False
        try:
            sub = submission("sk4", "voice", "+15555550000", "+4930777")
            sub.ivr_at_gateway = True
            [result] = await client.submit([sub])
            assert result.accepted and result.site == "Y", result
            request = ivr_request("sk4", "callback", "demo-support", 2, {}, [["callback", "1"]], "callback_booked",
                                  "+4930777", BILLING)  # fmt: skip
            reply = await pb_grpc.SiteApiStub(channel).IvrOutcome(request, timeout=20.0)
            assert reply.ok, reply.error
            await y.crash()
            crashed = True
            await wait_for(lambda: any(e.get("event") == "adopted" for e in x.events()), 15)
            await wait_for(lambda: state(x, "sk4") == "queued")
            _, skills = router_contact(x, "sk4")
            unskilled, skilled = await only_the_skilled_agent_serves(x, "sk4")
        finally:
            await channel.close()
            await client.close()
            await x.stop()
            if not crashed:
                await y.stop()
        assert skills == BILLING, skills
        assert unskilled["sk4"] == 0 and skilled["sk4"] == 1

    asyncio.run(scenario())
