"""Submitting contacts and watching events through a site's public API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc

from vcc.proto.v1 import site_pb2 as pb
from vcc.proto.v1 import site_pb2_grpc as pb_grpc

CHANNELS = {"voice": pb.VOICE, "chat": pb.CHAT, "email": pb.EMAIL, "sms": pb.SMS}


def submission(contact_id: str, channel: str, entry_point: str, caller_id: str = "", *,
               dtmf: str = "", patience_s: float = 0.0, **data: str) -> pb.ContactSubmission:
    attached = dict(data)
    if dtmf:
        attached["dtmf"] = dtmf
    return pb.ContactSubmission(contact_id=contact_id, channel=CHANNELS[channel], entry_point=entry_point,
                                caller_id=caller_id, data=attached, patience_s=patience_s)


class SiteClient:
    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = pb_grpc.SiteApiStub(self.channel)

    async def submit(self, contacts: list[pb.ContactSubmission], timeout_s: float = 10.0) -> list[pb.SubmitResult]:
        reply = await self.stub.SubmitContacts(pb.SubmitContactsRequest(contacts=contacts), timeout=timeout_s)
        return list(reply.results)

    async def status(self, timeout_s: float = 3.0) -> pb.SiteStatus:
        return await self.stub.GetStatus(pb.StatusRequest(), timeout=timeout_s)

    async def load(self, timeout_s: float = 3.0) -> pb.SiteLoad:
        return await self.stub.GetLoad(pb.LoadRequest(), timeout=timeout_s)

    async def events(self, *, contact_id: str = "", tenant: str = "", include_agents: bool = False,
                     from_seq: int = 0) -> AsyncIterator[dict[str, Any]]:
        call = self.stub.WatchEvents(pb.WatchEventsRequest(
            contact_id=contact_id, tenant=tenant, include_agents=include_agents, from_seq=from_seq))
        async for event in call:
            yield json.loads(event.json)

    async def close(self) -> None:
        await self.channel.close()
