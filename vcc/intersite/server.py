"""The gRPC servers of a site (site API and site-to-site), running in the site controller's event
loop, and the client a site uses to offer contacts to another."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from vcc.actors import site_media
from vcc.actors.controller import AgentStream, SiteController, Submitted
from vcc.actors.ports import ActorPort
from vcc.actors.records import ContactRecord
from vcc.intersite import convert
from vcc.proto.v1 import site_pb2 as pb
from vcc.proto.v1 import site_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
SERVICES = ("vcc.proto.v1.SiteApi", "vcc.proto.v1.InterSite")


class SiteApi(pb_grpc.SiteApiServicer):
    def __init__(self, controller: SiteController, extra_actors: list[tuple[str, ActorPort]] | None = None) -> None:
        self.c = controller
        self.extra_actors = extra_actors or []  # (kind, port): actors the controller does not call (web)
        self.customers = site_media.CustomerIndex()

    async def SubmitContacts(self, request: pb.SubmitContactsRequest, context: Any) -> pb.SubmitContactsReply:
        try:
            subs = [convert.submission(m, i) for i, m in enumerate(request.contacts)]
        except convert.BadRequest as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        # shielded: a client that gives up (deadline) must not cut a submission between its etcd
        # write and its admission, which left a durable contact in etcd that no site served
        results = await asyncio.shield(self.c.submit(subs))
        return pb.SubmitContactsReply(results=[convert.submitted(r) for r in results])

    async def Abandon(self, request: pb.AbandonRequest, context: Any) -> pb.AbandonReply:
        abandoned = await self.c.abandon(list(request.contact_ids))
        for cid in request.contact_ids:  # a caller who leaves a connected call: the agent is told
            if cid not in abandoned and site_media.caller_left(self.c, cid):
                abandoned.append(cid)
        return pb.AbandonReply(abandoned=abandoned)

    async def IvrOutcome(self, request: pb.IvrOutcomeRequest, context: Any) -> pb.IvrOutcomeReply:
        # shielded: a gateway giving up on a callback booking must not cut the controller's work in two
        error = await asyncio.shield(site_media.ivr_outcome(
            self.c, request.contact_id, request.outcome, request.queue, request.priority_delta, dict(request.data),
            request.reason, request.callback_number, dict(request.skills)))
        return pb.IvrOutcomeReply(ok=not error, error=error)

    async def GetPosition(self, request: pb.PositionRequest, context: Any) -> pb.Position:
        return pb.Position(**site_media.position(self.c, request.contact_id))

    async def ContactNote(self, request: pb.ContactNoteRequest, context: Any) -> pb.ContactNoteReply:
        error = site_media.note(self.c, request.contact_id, request.reason, dict(request.data))
        return pb.ContactNoteReply(ok=not error, error=error)

    async def CustomerHistory(self, request: pb.HistoryRequest, context: Any) -> pb.HistoryReply:
        found = await site_media.history(self.c, self.customers, request.caller_id, set(request.tenants),
                                         request.limit or 50)
        return pb.HistoryReply(contacts=[pb.PastContact(**s) for s in found])

    async def WatchEvents(self, request: pb.WatchEventsRequest, context: Any) -> AsyncIterator[pb.Event]:
        cid, tenant, agents = request.contact_id, request.tenant, request.include_agents

        def accepts(e: dict[str, Any]) -> bool:
            if e.get("kind") == "agent":
                return agents and not cid
            if cid and e.get("contact_id") != cid:
                return False
            return not tenant or e.get("tenant") == tenant

        async for event in self.c.watch(accepts, request.from_seq):
            yield pb.Event(seq=int(event.get("seq", 0)), site=self.c.site, json=json.dumps(event, default=str))

    async def AgentSession(
        self, request_iterator: AsyncIterator[pb.AgentCommand], context: Any
    ) -> AsyncIterator[pb.AgentUpdate]:
        async for updates in self._session(request_iterator):
            for update in updates:
                yield self._update(*update)

    async def AgentSessionBatch(
        self, request_iterator: AsyncIterator[pb.AgentCommands], context: Any
    ) -> AsyncIterator[pb.AgentUpdates]:
        async for updates in self._session(_unbatched(request_iterator)):
            yield pb.AgentUpdates(updates=[self._update(*update) for update in updates])

    async def _session(self, commands: AsyncIterator[pb.AgentCommand]) -> AsyncIterator[list[tuple[str, str, Any]]]:
        """An agent stream: the updates ready at each turn, as one list, until the client's side ends."""
        stream = AgentStream()
        reader = asyncio.ensure_future(self._read_commands(commands, stream))
        # The reader pushes None when the client's side ends. Waiting on the queue alone (no task
        # and no asyncio.wait per update) halves the controller's cost of a busy agent stream.
        reader.add_done_callback(lambda _: stream.updates.put_nowait(None))
        try:
            while (first := await stream.updates.get()) is not None:
                updates, more = stream.take(first)
                if updates:
                    yield updates
                if not more:
                    return
        finally:
            reader.cancel()
            await self.c.disconnect(stream)

    async def _read_commands(self, commands: AsyncIterator[pb.AgentCommand], stream: AgentStream) -> None:
        """Each command runs as its own task, so that one agent's slow command (a login checks a
        password hash; a durable contact's completion waits for etcd) does not hold up the other
        agents of a batched stream; one agent's commands run in the order sent (a ``ready`` sent
        right after ``login`` or ``end_wrap_up`` waits for it)."""
        pending: set[asyncio.Task[None]] = set()
        last: dict[str, asyncio.Task[None]] = {}  # agent -> its latest command, while it runs

        def done(agent_id: str, task: asyncio.Task[None]) -> None:
            pending.discard(task)
            if last.get(agent_id) is task:
                del last[agent_id]

        async for msg in commands:
            task = asyncio.ensure_future(self._command(msg, stream, last.get(msg.agent_id)))
            pending.add(task)
            last[msg.agent_id] = task
            task.add_done_callback(functools.partial(done, msg.agent_id))
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _command(self, msg: pb.AgentCommand, stream: AgentStream, after: asyncio.Task[None] | None) -> None:
        if after is not None and not after.done():
            await asyncio.wait((after,))
        try:
            op, args = convert.command_args(msg)
            result = await self.c.agent_command(stream, msg.agent_id, op, args)
            ok, error, state = result.ok, result.error, result.state
        except (convert.BadRequest, KeyError) as e:
            ok, error, state = False, f"bad command: {e}", ""
        stream.push(msg.agent_id, "result", {"request_id": msg.request_id, "ok": ok, "error": error,
                                             "state": state, "owner_site": self.c.site})

    @staticmethod
    def _update(agent_id: str, kind: str, p: dict[str, Any]) -> pb.AgentUpdate:
        if kind == "offer":
            offer = pb.Offer(contact_id=p["contact_id"], tenant=p["tenant"], queue=p["queue"],
                             channel=convert.CHANNEL_TO_PB[convert.Channel(p["channel"])],
                             caller_id=p["caller_id"], waited_s=p["waited_s"], data=p["data"])
            return pb.AgentUpdate(agent_id=agent_id, offer=offer)
        if kind == "notice":
            return pb.AgentUpdate(agent_id=agent_id, notice=pb.ContactNotice(**p))
        if kind == "rescinded":
            return pb.AgentUpdate(agent_id=agent_id, rescinded=pb.OfferRescinded(**p))
        if kind == "state":
            return pb.AgentUpdate(agent_id=agent_id, result=pb.CommandResult(
                request_id=0, ok=True, state=p["state"] or "", error=p.get("reason_code") or ""))
        return pb.AgentUpdate(agent_id=agent_id, result=pb.CommandResult(**p))

    async def GetLoad(self, request: pb.LoadRequest, context: Any) -> pb.SiteLoad:
        return convert.site_load(self.c.measure_load(), _tenants_of(self.c))

    async def GetStatus(self, request: pb.StatusRequest, context: Any) -> pb.SiteStatus:
        s = await self.c.status()
        for kind, port in self.extra_actors:
            try:
                detail = await asyncio.wait_for(port.call("health"), 2.0)
                s["actors"].append({"name": port.name, "kind": kind, "healthy": True, "detail": detail})
            except Exception as e:
                s["actors"].append({"name": port.name, "kind": kind, "healthy": False, "detail": str(e)})
        load = convert.site_load(s["load"], _tenants_of(self.c))
        return pb.SiteStatus(
            site=s["site"], fenced=s["fenced"], lease_id=s["lease_id"], lease_ttl_s=s["lease_ttl_s"],
            config_version=s["config_version"], queues=load.queues, adopted_sites=s["adopted_sites"],
            agents_logged_in=s["agents_logged_in"], contacts_in_progress=s["contacts_in_progress"],
            actors=[pb.ActorHealth(name=a["name"], kind=a["kind"], healthy=a["healthy"],
                                   detail=json.dumps(a["detail"], default=str)) for a in s["actors"]],
        )  # fmt: skip


class InterSite(pb_grpc.InterSiteServicer):
    def __init__(self, controller: SiteController) -> None:
        self.c = controller

    async def OfferContacts(self, request: pb.OfferContactsRequest, context: Any) -> pb.SubmitContactsReply:
        try:
            records = [convert.record_of(m) for m in request.contacts]
        except convert.BadRequest as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        results = await self.c.accept_from_site(request.from_site, records)
        return pb.SubmitContactsReply(results=[convert.submitted(r) for r in results])

    async def GetLoad(self, request: pb.LoadRequest, context: Any) -> pb.SiteLoad:
        return convert.site_load(self.c.measure_load(), _tenants_of(self.c))


def _tenants_of(c: SiteController) -> dict[str, str]:
    return {q.id: q.tenant for q in c.center.queues.values()}


class Peers:
    """Channels to the other sites' controllers, made on first use."""

    def __init__(self, site: str, addresses: dict[str, str]) -> None:
        self.site = site
        self.addresses = addresses
        self._stubs: dict[str, pb_grpc.InterSiteStub] = {}
        self._channels: list[grpc.aio.Channel] = []

    async def offer(self, site: str, records: list[ContactRecord]) -> list[Submitted]:
        stub = self._stubs.get(site)
        if stub is None:
            channel = grpc.aio.insecure_channel(self.addresses[site])
            self._channels.append(channel)
            stub = self._stubs[site] = pb_grpc.InterSiteStub(channel)
        reply = await stub.OfferContacts(
            pb.OfferContactsRequest(from_site=self.site, contacts=[convert.routed_contact(r) for r in records]),
            timeout=2.0,
        )
        return [Submitted(r.contact_id, r.accepted, r.site, r.error) for r in reply.results]

    async def close(self) -> None:
        for channel in self._channels:
            with contextlib.suppress(Exception):
                await channel.close()


async def serve(controller: SiteController, host: str, port: int,
                extra_actors: list[tuple[str, ActorPort]] | None = None) -> tuple[grpc.aio.Server, Any]:
    server = grpc.aio.server()
    pb_grpc.add_SiteApiServicer_to_server(SiteApi(controller, extra_actors), server)
    pb_grpc.add_InterSiteServicer_to_server(InterSite(controller), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    for name in ("", *SERVICES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, health_servicer


async def _unbatched(batches: AsyncIterator[pb.AgentCommands]) -> AsyncIterator[pb.AgentCommand]:
    async for batch in batches:
        for msg in batch.commands:
            yield msg
