"""The site's public gRPC API (what the gateways, the web front door and integrators call) answers
bad input with an error that names the field and what is wrong, and keeps serving: a real site
(controller, shards, etcd) behind its gRPC server, called as any client would."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path

import grpc
import pytest

from tests.integration.site_harness import ROOT, InProcessSite
from tests.integration.test_site_inprocess import wait_for
from vcc.coord.etcd_server import EtcdCluster
from vcc.coord.keys import CoordKeys
from vcc.proto.v1 import site_pb2 as pb
from vcc.proto.v1 import site_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

S = pb.ContactSubmission
EMAIL = {"channel": pb.EMAIL, "entry_point": "help@demo.example"}
REFUSED = {
    "slash": (S(contact_id="a/b", **EMAIL),
              "contacts[1].contact_id: invalid contact id 'a/b': must be non-empty, without '/' or spaces"),
    "newline": (S(contact_id="a\nb", **EMAIL),
                "contacts[1].contact_id: invalid contact id 'a\\nb': must be non-empty, without '/' or spaces"),
    "long id": (S(contact_id="x" * 129, **EMAIL), "contacts[1].contact_id: 129 characters, at most 128"),
    "no channel": (S(contact_id="c1", entry_point="help@demo.example"),
                   "contacts[1].channel: must be one of voice, chat, email, sms"),
    "nan patience": (S(contact_id="c2", channel=pb.VOICE, entry_point="+15555550000", patience_s=math.nan),
                     "contacts[1].patience_s: must be a number of seconds >= 0, not nan"),
    "inf patience": (S(contact_id="c3", channel=pb.VOICE, entry_point="+15555550000", patience_s=math.inf),
                     "contacts[1].patience_s: must be a number of seconds >= 0, not inf"),
    "huge data": (S(contact_id="c4", data={f"k{i:05d}": "v" * 100 for i in range(1000)}, **EMAIL),
                  "contacts[1].data: 106000 bytes of attached data, at most 65536"),
    "huge caller id": (S(contact_id="c5", caller_id="9" * 300, **EMAIL),
                       "contacts[1].caller_id: 300 characters, at most 256"),
}


def arrivals(site: InProcessSite) -> list[str]:
    return [e["contact_id"] for e in site.events() if e.get("kind") == "contact" and e["state"] == "arrived"]


def test_bad_submissions_are_refused_by_name_and_the_site_keeps_serving(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    answers: dict[str, tuple[grpc.StatusCode, str]] = {}

    async def scenario() -> None:
        site = await InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint("a"),
                                   tmp_path).start()  # fmt: skip
        channel = grpc.aio.insecure_channel(site.address)
        api = pb_grpc.SiteApiStub(channel)
        try:
            for name, (sub, _) in REFUSED.items():
                try:
                    await api.SubmitContacts(pb.SubmitContactsRequest(contacts=[S(contact_id="ok0", **EMAIL), sub]),
                                             timeout=10)  # fmt: skip
                    answers[name] = (grpc.StatusCode.OK, "")
                except grpc.aio.AioRpcError as e:
                    answers[name] = (e.code(), e.details() or "")
            # the same id twice in one request: taken once (etcd would refuse the whole transaction)
            twice = await api.SubmitContacts(pb.SubmitContactsRequest(contacts=[S(contact_id="d1", **EMAIL)] * 2),
                                             timeout=10)  # fmt: skip
            stored = await site.controller.store.get("d1")
            good = await api.SubmitContacts(pb.SubmitContactsRequest(contacts=[S(contact_id="ok1", **EMAIL)]),
                                            timeout=10)  # fmt: skip
            # the shards log an accepted contact's arrival a moment after the answer
            await wait_for(lambda: {"d1", "ok1"} <= set(arrivals(site)))
            await asyncio.sleep(0.5)  # a second arrival of d1 would show by now
        finally:
            await channel.close()
            await site.stop()
        assert [(r.accepted, r.error) for r in twice.results] == [(True, ""), (True, "duplicate: already taken")]
        assert stored is not None and stored.contact.owner_site == "dev"
        assert [(r.contact_id, r.accepted, r.error) for r in good.results] == [("ok1", True, "")]
        arrived = arrivals(site)
        assert arrived.count("d1") == 1 and "ok0" not in arrived, arrived  # a refused request takes nothing

    asyncio.run(scenario())
    assert answers == {name: (grpc.StatusCode.INVALID_ARGUMENT, why) for name, (_, why) in REFUSED.items()}
    assert not [r for r in caplog.records if r.exc_info], "a user's mistake logged a traceback"


def test_one_agents_commands_run_in_the_order_sent(
    etcd: EtcdCluster, coord_keys: CoordKeys, tmp_path: Path
) -> None:
    """An agent client that does not wait for each answer (login, ready, not ready, ready sent at
    once) gets them applied in that order; a second agent on the same batched stream is not held
    up behind the first one's login."""
    C = pb.AgentCommand
    results: list[tuple[str, int, bool, str, str]] = []

    async def scenario() -> None:
        site = await InProcessSite(ROOT / "cluster/dev.yaml", "dev", coord_keys.cluster, etcd.endpoint("a"),
                                   tmp_path).start()  # fmt: skip
        channel = grpc.aio.insecure_channel(site.address)
        api = pb_grpc.SiteApiStub(channel)
        sent = [
            C(agent_id="dev-01", request_id=1, login=pb.Login(password="demo-dev-01")),
            C(agent_id="dev-01", request_id=2, ready=pb.Ready()),
            C(agent_id="dev-01", request_id=3, not_ready=pb.NotReady(reason_code="break")),
            C(agent_id="dev-01", request_id=4, ready=pb.Ready()),
            C(agent_id="dev-02", request_id=5, login=pb.Login(password="demo-dev-02")),
        ]

        async def commands():  # type: ignore[no-untyped-def]
            yield pb.AgentCommands(commands=sent)
            await asyncio.sleep(30)  # the stream stays open; the test ends it once every answer is in

        call = api.AgentSessionBatch(commands(), timeout=30)
        try:
            async for batch in call:
                for u in batch.updates:
                    if u.WhichOneof("update") == "result" and u.result.request_id:
                        r = u.result
                        results.append((u.agent_id, r.request_id, r.ok, r.error, r.state))
                if len(results) == len(sent):
                    break
        finally:
            call.cancel()
            await channel.close()
            await site.stop()

    asyncio.run(scenario())
    dev01 = [r for r in results if r[0] == "dev-01"]
    assert [r[1:] for r in dev01] == [(1, True, "", "not_ready"), (2, True, "", "ready"),
                                      (3, True, "", "not_ready"), (4, True, "", "ready")], results  # fmt: skip
    assert ("dev-02", 5, True, "", "not_ready") in results, results
