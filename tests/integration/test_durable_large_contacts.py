"""Durable contacts carry their attached data (up to 64 KiB each: an e-mail's text, a form) into
etcd, whose requests are limited to 1.5 MiB: the site writes, completes and adopts them in
transactions cut by size as well as by count, so a request of many large e-mails is taken, and a
dead site's large e-mails are adopted, instead of failing over and over ("etcd unavailable: retry",
an adoption that never ends). A real etcd, real sites behind their gRPC APIs."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.site_harness import ROOT, InProcessSite, dev_agents
from tests.integration.test_site_inprocess import wait_for
from tests.integration.test_two_sites_balance import start_two_sites
from vcc.client.bots import BotAgentPool
from vcc.client.contacts import SiteClient
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys
from vcc.errors import CoordError
from vcc.proto.v1 import site_pb2 as pb

pytestmark = pytest.mark.integration

BODY = "x" * 40_000  # 40 kB of text: 40 such e-mails are a 1.6 MB transaction


def emails(prefix: str, n: int) -> list[pb.ContactSubmission]:
    return [pb.ContactSubmission(contact_id=f"{prefix}{i:03d}", channel=pb.EMAIL, entry_point="help@demo.example",
                                 caller_id="c@example.com", data={"body": BODY}) for i in range(n)]  # fmt: skip


def test_a_request_of_many_large_emails_is_taken_and_served(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    async def scenario() -> None:
        site = await InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint("a"),
                                   tmp_path).start()  # fmt: skip
        client = SiteClient(site.address)
        bots = BotAgentPool(site.address, dev_agents("dev-01", "dev-03"), handle_s=lambda ch: 0.01)
        try:
            results = await client.submit(emails("big", 60), timeout_s=30)  # 2.4 MB of data, one request
            assert [(r.accepted, r.error) for r in results] == [(True, "")] * 60, {r.error for r in results}
            stored = await site.controller.store.get_many([f"big{i:03d}" for i in range(60)])
            assert len(stored) == 60 and stored["big059"].contact.data["body"] == BODY
            await bots.start()
            await wait_for(lambda: len(set(bots.stats.handled_ids)) == 60, 60)
            await asyncio.sleep(1.0)  # the completions reach etcd with the controller's next batches
            done = await site.controller.store.get_many([f"big{i:03d}" for i in range(60)])
        finally:
            await bots.stop()
            await client.close()
            await site.stop()
        assert Counter(s.contact.state.value for s in done.values()) == {"completed": 60}

    asyncio.run(scenario())


@pytest.mark.parametrize("etcd_error", [False, True], ids=["clean", "etcd_error_midway"])
def test_a_dead_sites_large_emails_are_adopted(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path, etcd_error: bool
) -> None:
    """60 e-mails of 40 kB: three adoption transactions. With ``etcd_error`` the second one fails
    (as when the etcd leader changes) after the first moved its contacts: the adoption goes on
    and X takes all 60 (before, the adoption task died and X served none of them)."""
    injected: list[str] = []

    async def scenario() -> None:
        x, y = await start_two_sites(etcd, coord_keys, tmp_path)
        client = SiteClient(y.address)
        crashed = False
        store = x.controller.store
        real_adopt, real_txn = store.adopt, store.client.txn
        adopting: list[int] = []  # one entry per adoption transaction

        async def failing_txn(*args: Any, **kwargs: Any) -> Any:
            if adopting:
                adopting.append(1)
                if len(adopting) == 3 and etcd_error and not injected:  # the adoption's second transaction, once
                    injected.append("txn")
                    raise CoordError("etcd Txn: UNAVAILABLE (injected)")
            return await real_txn(*args, **kwargs)

        async def adopt(*args: Any, **kwargs: Any) -> Any:
            adopting.append(0)
            try:
                return await real_adopt(*args, **kwargs)
            finally:
                adopting.clear()

        store.adopt = adopt  # type: ignore[method-assign]
        store.client.txn = failing_txn  # type: ignore[method-assign]
        try:
            for start in range(0, 60, 20):  # three requests of 20: each one 0.8 MB
                batch = emails("adopt", 60)[start : start + 20]
                results = await client.submit(batch, timeout_s=30)
                assert all(r.accepted and r.site == "Y" for r in results), {(r.site, r.error) for r in results}
            await y.crash()
            crashed = True
            await wait_for(lambda: any(e.get("event") == "adopted" for e in x.events()), 30)
            adopted = next(e for e in x.events() if e.get("event") == "adopted")
            owned = await x.controller.store.get_many([f"adopt{i:03d}" for i in range(60)])
        finally:
            await client.close()
            await x.stop()
            if not crashed:
                await y.stop()
        assert adopted["data"]["contacts"] == 60, adopted
        assert Counter(s.contact.owner_site for s in owned.values()) == {"X": 60}
        assert injected == (["txn"] if etcd_error else [])

    asyncio.run(scenario())
