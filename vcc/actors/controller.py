"""The site controller: the one coordinator of a site.

It owns the site's etcd session (fencing), publishes the site's load, takes contacts and agent
commands from the site API, feeds ACD shards and IVR workers in batches, writes every event to the
event sink, balances contacts across sites, and adopts a dead site's durable contacts when the etcd
election says so. Its work is a set of loops; ``update()`` is the reconcile step that runs every
``reconcile_s``: a step that raises is logged and the loop goes on.

State it keeps (soft; rebuilt from etcd and the shards): a directory of the contacts it placed
(which shard, the record to replay into a restarted shard) and of the agents logged in here.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from vcc.actors.ports import ActorPort
from vcc.actors.records import Command, CommandResult, ContactRecord, ShardOutput
from vcc.actors.settings import SiteSettings
from vcc.actors.shard import shard_of
from vcc.coord.client import EtcdClient
from vcc.coord.config_store import ConfigStore
from vcc.coord.election import Elections, SiteEvent, watch_sessions
from vcc.coord.fencing import LeaseTiming
from vcc.coord.keys import CoordKeys
from vcc.coord.load import LoadBoard, LoadCache, LoadPublisher
from vcc.coord.ownership import AgentOwnership
from vcc.coord.session import SessionToken, SiteSession
from vcc.coord.store import ContactStore, DurableContact
from vcc.core.balancer import QueueLoad, SiteLoad, choose_site, expected_wait
from vcc.core.events import SCHEMA_VERSION
from vcc.core.ewt import EwtEstimator
from vcc.core.model import DURABLE_CHANNELS, AgentState, CenterSpec, Channel, ContactState
from vcc.errors import CoordError, FencedError

log = logging.getLogger(__name__)

TERMINAL = {ContactState.COMPLETED.value, ContactState.ABANDONED.value, ContactState.FAILED.value}


@dataclass(slots=True)
class PlacedContact:
    record: ContactRecord
    shard: int | None  # None while in the IVR or on its way to another site
    state: str = ContactState.ARRIVED.value
    agent_id: str | None = None
    durable: bool = False
    queued_at: float | None = None
    connected_at: float | None = None


@dataclass(slots=True)
class LoggedInAgent:
    agent_id: str
    shard: int
    stream: AgentStream
    state: str = AgentState.NOT_READY.value
    reason_code: str | None = None
    ready_before_fence: bool = False


@dataclass(eq=False)
class AgentStream:
    """One connected agent session stream (a desktop, or a pool of bot agents): what to push to it."""

    updates: asyncio.Queue[tuple[str, str, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    agents: set[str] = field(default_factory=set)

    def push(self, agent_id: str, kind: str, payload: dict[str, Any]) -> None:
        self.updates.put_nowait((agent_id, kind, payload))


@dataclass(slots=True)
class Submission:
    contact_id: str
    channel: Channel
    entry_point: str
    caller_id: str
    data: dict[str, str]
    patience_s: float = 0.0


@dataclass(slots=True)
class Submitted:
    contact_id: str
    accepted: bool
    site: str
    error: str = ""


class SiteController:
    def __init__(
        self,
        settings: SiteSettings,
        center: CenterSpec,
        shards: list[ActorPort],
        ivr_workers: list[ActorPort],
        gateways: list[ActorPort],
        sink: ActorPort,
        *,
        verify_password: Callable[[str, str], bool],
        compile_config: Callable[[str], tuple[CenterSpec, Callable[[str, str], bool]]] | None = None,
        peer_offer: Callable[[str, list[ContactRecord]], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.site = settings.site
        self.center = center
        self.shards = shards
        self.ivr_workers = ivr_workers
        self.gateways = gateways
        self.sink = sink
        self.verify_password = verify_password
        self.compile_config = compile_config  # YAML text -> (center, password check); None: no live reload
        self.config_version = settings.config_version
        self.peer_offer = peer_offer  # async (site, records) -> list[Submitted]; set by the gRPC edge
        self.clock = clock
        self.keys = CoordKeys(settings.cluster)
        self.etcd = EtcdClient(settings.etcd_host, settings.etcd_port)
        self.session = SiteSession(self.etcd, self.keys, self.site,
                                   timing=LeaseTiming(ttl_s=settings.lease_ttl_s,
                                                      margin_s=settings.lease_margin_s))
        self.ownership = AgentOwnership(self.etcd, self.keys)
        self.elections = Elections(self.etcd, self.keys)
        self.store = ContactStore(self.etcd, self.keys)
        self.config_store = ConfigStore(self.etcd, self.keys)
        self.load_board = LoadBoard(self.etcd, self.keys)
        self.load_cache = LoadCache(self.etcd, self.keys)
        self.publisher = LoadPublisher(self.load_board, self.session, self.measure_load, interval_s=0.4)
        self.ewt = EwtEstimator()

        self.contacts: dict[str, PlacedContact] = {}
        self.finished: dict[str, float] = {}  # recently finished contact ids (idempotent re-submits)
        self.agents: dict[str, LoggedInAgent] = {}
        self.adopted_sites: list[str] = []
        self.watchers: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Queue[dict[str, Any] | None]]] = []

        self._inbox: list[list[tuple[int, Command]]] = [[] for _ in shards]
        self._wake = [asyncio.Event() for _ in shards]
        self._pending: dict[int, asyncio.Future[CommandResult]] = {}
        self._token = 0
        self._shard_load: list[dict[str, dict[str, float]]] = [{} for _ in shards]
        self._shard_healthy = [True for _ in shards]
        self._ivr_inbox: list[ContactRecord] = []
        self._ivr_wake = asyncio.Event()
        self._events: list[dict[str, Any]] = []
        self._events_wake = asyncio.Event()
        self._patience: list[tuple[float, str]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._last_site_balance = 0.0
        self._last_live_publish = 0.0
        self._published_live: frozenset[str] = frozenset()
        self.started_at = 0.0
        self.last_seq = 0
        self.errors = 0

    # ================================================================== lifecycle

    async def start(self) -> None:
        await self.etcd.connect()
        await self.session.start(timeout_s=15.0)
        self.session.on_fenced(lambda reason: void(self._spawn(self._on_fenced(reason))))
        self.session.on_rejoined(lambda token: void(self._spawn(self._on_rejoined(token))))
        await self.load_cache.start(wait_synced_s=5.0)
        self.publisher.start()
        self.started_at = self.clock()
        await self._recover_own_contacts()
        for i in range(len(self.shards)):
            self._spawn(self._shard_loop(i))
        self._spawn(self._ivr_loop())
        self._spawn(self._event_loop())
        self._spawn(self._reconcile_loop())
        self._spawn(self._watch_sites())
        self._spawn(self._watch_config())
        self.emit_site_event("site_up", {"lease_id": self.session.last_token.lease_id
                                         if self.session.last_token else 0})

    async def _recover_own_contacts(self) -> None:
        """A controller (re)starting takes back the durable contacts etcd says this site owns: after
        a controller crash they are still in etcd but no longer in its directory. The shards are
        reset first so nothing is held twice."""
        stored = [s.contact for s in await self.store.list_by_owner(self.site, include_terminal=True)]
        await self._repair_log([c for c in stored if c.terminal])
        owned = [c for c in stored if not c.terminal]
        if not owned:
            return
        for shard in self.shards:
            await shard.call("reconfigure", self.center)
        now = self.clock()
        for contact in owned:
            rec = ContactRecord(
                contact.contact_id, contact.tenant, contact.channel, contact.ts, data=dict(contact.data),
                priority=contact.priority, queue=contact.queue or self._first_queue_of(contact.tenant, contact.channel),
                enqueued_at=contact.ts, origin_site=self.site,
            )  # fmt: skip
            if rec.queue is not None and rec.queue in self.center.queues:
                self._attach(rec, now, reason="controller_restarted")
        self.emit_site_event("recovered", {"contacts": len(owned)})

    async def _repair_log(self, ended: list[DurableContact]) -> None:
        """An end is recorded in etcd before it is logged (so it is never logged twice); a crash in
        between leaves it unlogged. A starting controller logs each such end once."""
        if not ended:
            return
        logged: set[str] = set()
        seq = 1
        while True:
            batch = await self.sink.call("read", seq, 10_000)
            for e in batch:
                if e.get("kind") == "contact" and e.get("state") in TERMINAL:
                    logged.add(e["contact_id"])
            if len(batch) < 10_000:
                break
            seq = batch[-1]["seq"] + 1
        now = self.clock()
        for c in ended:
            if c.contact_id in logged:
                continue
            self._events.append({
                "kind": "contact", "ts": now, "contact_id": c.contact_id, "tenant": c.tenant,
                "channel": c.channel.value, "state": c.state.value, "prev_state": None, "queue": c.queue,
                "agent_id": None, "reason": "recovered_after_crash", "data": {}, "schema_version": SCHEMA_VERSION,
                "site": self.site,
            })  # fmt: skip
        self._events_wake.set()

    async def stop(self) -> None:
        self._stopping = True
        for agent_id in list(self.agents):
            with contextlib.suppress(CoordError):
                await self.ownership.release(agent_id, self.site)
        await self.publisher.stop()
        await self.load_cache.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush_events()
        with contextlib.suppress(CoordError):
            await self.session.close(revoke=True)
        await self.etcd.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors += 1
            log.error("controller task failed", exc_info=task.exception())

    @property
    def fenced(self) -> bool:
        return self.session.fenced

    # ================================================================== contacts in

    async def submit(self, subs: list[Submission]) -> list[Submitted]:
        """New contacts from customers (the site API). Durable channels are written to etcd before
        the submission is acknowledged."""
        now = self.clock()
        results: list[Submitted] = []
        records: list[ContactRecord] = []
        for sub in subs:
            cid = sub.contact_id or uuid.uuid4().hex
            if cid in self.contacts or cid in self.finished:
                results.append(Submitted(cid, True, self.site, "duplicate: already taken"))
                continue
            if self.fenced:
                results.append(Submitted(cid, False, self.site, f"site {self.site} is fenced: try another site"))
                continue
            entry = self.center.entry_points.get(sub.entry_point)
            if entry is None:
                results.append(Submitted(cid, False, self.site, f"unknown entry point {sub.entry_point!r}"))
                continue
            if entry.channel != sub.channel:
                results.append(Submitted(cid, False, self.site, f"entry point {sub.entry_point!r} takes "
                                         f"{entry.channel.value}, not {sub.channel.value}"))
                continue
            rec = ContactRecord(
                cid, entry.tenant, entry.channel, now, entry_point=sub.entry_point, caller_id=sub.caller_id,
                data=dict(sub.data), queue=entry.queue, flow=entry.flow, origin_site=self.site,
                patience_s=sub.patience_s,
            )  # fmt: skip
            records.append(rec)
            results.append(Submitted(cid, True, self.site))
        durable = [r for r in records if r.channel in DURABLE_CHANNELS]
        if durable:
            stored = await self._store_durable(durable, now)
            for res in results:
                if res.accepted and res.contact_id in stored and not stored[res.contact_id]:
                    res.accepted, res.error = False, "could not be stored durably (etcd unavailable): retry"
            ok = {r.contact_id for r in results if r.accepted}
            records = [r for r in records if r.id in ok]
        for rec in records:
            self._admit(rec, now)
        return results

    async def _store_durable(self, records: list[ContactRecord], now: float) -> dict[str, bool]:
        try:
            token = self.session.token
        except FencedError:
            return {r.id: False for r in records}

        async def one(rec: ContactRecord) -> bool:
            contact = DurableContact(
                rec.id, rec.tenant, rec.channel, rec.queue or "", rec.arrived_at, rec.priority,
                ContactState.ARRIVED, self.site, {k: str(v) for k, v in rec.data.items()},
            )  # fmt: skip
            try:
                await self.store.create(contact, token)
                return True
            except CoordError:
                return False

        done = await asyncio.gather(*(one(r) for r in records))
        return {r.id: ok for r, ok in zip(records, done, strict=True)}

    def _admit(self, rec: ContactRecord, now: float) -> None:
        """Put a new contact in a shard: it arrives there, then goes to the IVR or its queue."""
        shard = self._pick_shard(rec.queue)
        placed = PlacedContact(rec, shard, durable=rec.channel in DURABLE_CHANNELS)
        self.contacts[rec.id] = placed
        if rec.channel == Channel.VOICE:
            self._spawn(self.gateways[self._gateway_of(rec.id)].call("anchor", [rec.id], now))
        flow = rec.flow
        queue = rec.queue
        rec_for_shard = ContactRecord(**{**_fields(rec), "queue": None if flow else queue})
        self._send(shard, ("arrive", rec_for_shard), self._after_arrival(rec, flow))
        if rec.patience_s > 0:
            heapq.heappush(self._patience, (now + rec.patience_s, rec.id))

    def _after_arrival(self, rec: ContactRecord, flow: str | None) -> Callable[[CommandResult], None]:
        def then(result: CommandResult) -> None:
            placed = self.contacts.get(rec.id)
            if not result.ok or placed is None or placed.state in TERMINAL or flow is None:
                return
            assert placed.shard is not None
            self._send(placed.shard, ("start_ivr", rec.id))
            self._ivr_inbox.append(rec)
            self._ivr_wake.set()

        return then

    async def accept_from_site(self, from_site: str, records: list[ContactRecord]) -> list[Submitted]:
        """Contacts another site sends us (overflow, balancing): queue them keeping their arrival."""
        now = self.clock()
        out = []
        for rec in records:
            if self.fenced:
                out.append(Submitted(rec.id, False, self.site, f"site {self.site} is fenced"))
                continue
            if rec.id in self.contacts:
                out.append(Submitted(rec.id, True, self.site, "duplicate: already taken"))
                continue
            if rec.queue not in self.center.queues:
                out.append(Submitted(rec.id, False, self.site, f"unknown queue {rec.queue!r}"))
                continue
            self._attach(rec, now, reason=f"from_site:{from_site}")
            out.append(Submitted(rec.id, True, self.site))
        return out

    def _attach(self, rec: ContactRecord, now: float, *, reason: str) -> None:
        shard = self._pick_shard(rec.queue)
        self.contacts[rec.id] = PlacedContact(rec, shard, ContactState.QUEUED.value,
                                              durable=rec.channel in DURABLE_CHANNELS)
        self._send(shard, ("attach", rec, reason))
        if rec.patience_s > 0:
            heapq.heappush(self._patience, (now + rec.patience_s, rec.id))

    async def abandon(self, contact_ids: list[str], reason: str = "caller_hung_up") -> list[str]:
        done = []
        for cid in contact_ids:
            placed = self.contacts.get(cid)
            if placed is None or placed.shard is None or placed.state in TERMINAL:
                continue
            result = await self._call(placed.shard, ("abandon", cid, reason))
            if result.ok:
                done.append(cid)
        return done

    # ================================================================== the IVR

    async def _ivr_loop(self) -> None:
        turn = 0
        while True:
            await self._ivr_wake.wait()
            self._ivr_wake.clear()
            batch, self._ivr_inbox = self._ivr_inbox, []
            if not batch:
                continue
            estimates = self._local_estimates()
            worker = self.ivr_workers[turn % len(self.ivr_workers)]
            turn += 1
            try:
                results = await worker.call("run", batch, self.clock(), estimates)
            except Exception:
                log.exception("IVR worker %s failed; retrying the batch", worker.name)
                self._ivr_inbox = batch + self._ivr_inbox
                self._ivr_wake.set()
                await asyncio.sleep(0.2)
                continue
            for res in results:
                self._after_ivr(res)

    def _after_ivr(self, res: Any) -> None:
        rec: ContactRecord = res.record
        placed = self.contacts.get(rec.id)
        if placed is None or placed.shard is None or placed.state in TERMINAL:
            return
        rec.priority += res.priority_delta
        placed.record = rec
        shard = placed.shard
        if res.outcome == "route":
            target = self._place_remote(rec)
            self._send(shard, ("enqueue", rec.id, rec.queue, res.priority_delta, rec.skills, rec.data))
            if target is not None:
                self._send(shard, ("detach", rec.id), self._send_to_site(target))
        elif res.outcome == "callback":
            if res.callback_number:
                rec.data["callback_number"] = res.callback_number
            self._send(shard, ("callback", rec.id, rec.queue, rec.data))
        else:
            self._send(shard, ("ivr_hangup", rec.id, res.reason))

    def _local_estimates(self) -> dict[str, tuple[float | None, int]]:
        now = self.clock()
        out: dict[str, tuple[float | None, int]] = {}
        for queue_id in self.center.queues:
            waiting, free, staffed = self._queue_totals(queue_id)
            out[queue_id] = (self.ewt.arrival_ewt_s(queue_id, now, waiting, staffed, free), waiting)
        return out

    # ================================================================== balancing across sites

    def _place_remote(self, rec: ContactRecord) -> str | None:
        """The other site that should serve this contact, or None to keep it here."""
        queue = self.center.queues.get(rec.queue or "")
        tenant = self.center.tenants.get(rec.tenant)
        if queue is None or tenant is None or self.peer_offer is None:
            return None
        loads = dict(self.load_cache.snapshot())
        loads[self.site] = self.measure_load()
        placement = choose_site(self.site, queue, tenant, loads, self.clock())
        return None if placement.site == self.site else placement.site

    def _send_to_site(self, site: str) -> Callable[[CommandResult], None]:
        def then(result: CommandResult) -> None:
            if result.ok and result.record is not None:
                self._spawn(self._offer_to_site(site, result.record))

        return then

    async def _offer_to_site(self, site: str, rec: ContactRecord) -> None:
        placed = self.contacts.get(rec.id)
        if placed is None:
            return
        placed.shard = None
        accepted = False
        if self.peer_offer is not None:
            try:
                replies = await self.peer_offer(site, [rec])
                accepted = bool(replies) and replies[0].accepted
            except Exception as e:  # the other site is unreachable: keep the contact here
                log.warning("offering %s to site %s failed: %s", rec.id, site, e)
        now = self.clock()
        if accepted:
            self.contacts.pop(rec.id, None)
            self._emit_marker(rec, now, "sent_to_site", {"site": site})
            if placed.durable:
                self._spawn(self._hand_over_durable(rec, site))
        else:
            self._attach(rec, now, reason="kept_local")

    async def _hand_over_durable(self, rec: ContactRecord, site: str) -> None:
        stored = await self.store.get(rec.id)
        if stored is None:
            return
        new = DurableContact(**{**_fields(stored.contact), "owner_site": site, "queue": rec.queue or ""})
        with contextlib.suppress(CoordError, FencedError):
            await self.store.update(stored, new, self.session.token)

    # ================================================================== agents

    async def agent_command(self, stream: AgentStream, agent_id: str, op: str, args: dict[str, Any]) -> CommandResult:
        if op == "login":
            return await self._login(stream, agent_id, str(args.get("password", "")))
        agent = self.agents.get(agent_id)
        if agent is None or agent.stream is not stream:
            return CommandResult(0, False, f"agent {agent_id} is not logged in on this session")
        match op:
            case "ready":
                if self.fenced:
                    return CommandResult(0, False, f"site {self.site} is fenced", agent.state)
                command: Command = ("ready", agent_id)
            case "not_ready":
                command = ("not_ready", agent_id, str(args.get("reason_code") or "break"))
            case "accept":
                command = ("accept", str(args["contact_id"]))
            case "reject":
                command = ("reject", str(args["contact_id"]))
            case "complete":
                wrap = 0.0 if args.get("skip_wrap_up") else None
                cid = str(args["contact_id"])
                if args.get("disposition") and cid in self.contacts:
                    self.contacts[cid].record.data["disposition"] = str(args["disposition"])
                command = ("complete", cid, wrap)
            case "end_wrap_up":
                command = ("end_wrap_up", agent_id)
            case "logout":
                result = await self._call(agent.shard, ("logout", agent_id))
                await self._forget_agent(agent_id)
                return result
            case _:
                return CommandResult(0, False, f"unknown command {op!r}")
        return await self._call(agent.shard, command)

    async def _login(self, stream: AgentStream, agent_id: str, password: str) -> CommandResult:
        if agent_id not in self.center.agents:
            return CommandResult(0, False, f"unknown agent {agent_id!r}")
        if not await asyncio.to_thread(self.verify_password, agent_id, password):  # PBKDF2: off the loop
            return CommandResult(0, False, "wrong password")
        if agent_id in self.agents:
            self.agents[agent_id].stream = stream
            stream.agents.add(agent_id)
            return CommandResult(0, True, state=self.agents[agent_id].state)
        try:
            claim = await self.ownership.claim(agent_id, self.session.token)
        except FencedError:
            return CommandResult(0, False, f"site {self.site} is fenced: log in at another site")
        except CoordError as e:
            return CommandResult(0, False, f"could not claim agent ownership: {e}")
        if not claim.acquired:
            return CommandResult(0, False, f"agent {agent_id} is logged in at site {claim.owner}",
                                 state="owned_elsewhere")
        shard = shard_of(agent_id, len(self.shards))
        self.agents[agent_id] = LoggedInAgent(agent_id, shard, stream)
        stream.agents.add(agent_id)
        return await self._call(shard, ("login", agent_id, False))

    async def disconnect(self, stream: AgentStream) -> None:
        """A session stream ended: its agents are logged out (their contacts go back to queue)."""
        for agent_id in list(stream.agents):
            agent = self.agents.get(agent_id)
            if agent is not None and agent.stream is stream:
                await self._call(agent.shard, ("logout", agent_id))
                await self._forget_agent(agent_id)

    async def _forget_agent(self, agent_id: str) -> None:
        agent = self.agents.pop(agent_id, None)
        if agent is not None:
            agent.stream.agents.discard(agent_id)
        with contextlib.suppress(CoordError):
            await self.ownership.release(agent_id, self.site)

    # ================================================================== shards

    def _pick_shard(self, queue: str | None) -> int:
        """The shard with the most free agents for ``queue`` (then the fewest waiting)."""
        if len(self.shards) == 1:
            return 0
        best, best_key = 0, (-math.inf, math.inf)
        for i, load in enumerate(self._shard_load):
            if not self._shard_healthy[i]:
                continue
            q = load.get(queue or "", {})
            key = (q.get("free", 0.0) - q.get("waiting", 0.0), q.get("waiting", 0.0))
            if key[0] > best_key[0] or (key[0] == best_key[0] and key[1] < best_key[1]):
                best, best_key = i, key
        if queue and best_key[0] > 0:  # claim the free agent we counted, so a burst spreads out
            self._shard_load[best][queue]["free"] -= 1
        return best

    def _send(self, shard: int, command: Command, then: Callable[[CommandResult], None] | None = None) -> None:
        self._token += 1
        token = self._token
        if then is not None:
            fut: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
            fut.add_done_callback(lambda f: then(f.result()) if not f.cancelled() else None)
            self._pending[token] = fut
        self._inbox[shard].append((token, command))
        self._wake[shard].set()

    async def _call(self, shard: int, command: Command) -> CommandResult:
        fut: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._token += 1
        self._pending[self._token] = fut
        self._inbox[shard].append((self._token, command))
        self._wake[shard].set()
        return await fut

    async def _shard_loop(self, i: int) -> None:
        port = self.shards[i]
        last_load = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake[i].wait(), self.settings.tick_s)
            self._wake[i].clear()
            batch, self._inbox[i] = self._inbox[i], []
            now = self.clock()
            want_load = now - last_load >= 0.1
            try:
                out: ShardOutput = await port.call("step", batch, now, want_load)
            except Exception as e:
                log.error("shard %s failed (%s): rebuilding it", port.name, e)
                self._shard_healthy[i] = False
                for token, _ in batch:
                    self._resolve(CommandResult(token, False, f"shard restarted ({e}): retry"))
                await self._restore_shard(i)
                continue
            if want_load:
                last_load = now
            self._absorb(i, out)

    async def _restore_shard(self, i: int) -> None:
        port = self.shards[i]
        while True:
            await asyncio.sleep(0.2)
            try:
                await port.call("health")
                break
            except Exception:
                continue
        await self._rebuild_shard(i)
        self.emit_site_event("shard_restored", {"shard": i})

    async def _rebuild_shard(self, i: int) -> None:
        port = self.shards[i]
        logins = [(a.agent_id, a.state, a.reason_code or "") for a in self.agents.values() if a.shard == i]
        contacts = []
        for cid, placed in self.contacts.items():
            if placed.shard == i and placed.state not in TERMINAL:
                rec = placed.record
                if placed.state in (ContactState.CONNECTED.value, ContactState.WRAP_UP.value):
                    rec.data["restored_agent"] = placed.agent_id or ""
                contacts.append((cid, placed.state, placed.agent_id, rec))
        out = await port.call("restore", logins, contacts, self.clock())
        self._shard_healthy[i] = True
        self._absorb(i, out)
        lost = [r for r in out.results if not r.ok and r.record is None]
        if lost:
            log.warning("shard %d rebuild: %d commands failed: %s", i, len(lost), lost[0].error)

    def _absorb(self, shard: int, out: ShardOutput) -> None:
        for result in out.results:
            self._resolve(result)
        if out.load is not None:
            self._shard_load[shard] = out.load
        for event in out.events:
            if self._observe(shard, event):
                self._events.append(event)
        if out.events:
            self._events_wake.set()

    def _resolve(self, result: CommandResult) -> None:
        fut = self._pending.pop(result.token, None)
        if fut is not None and not fut.done():
            fut.set_result(result)

    # ================================================================== events

    def _observe(self, shard: int, e: dict[str, Any]) -> bool:
        """Keep the directory in step with what the shard did; push offers to agents. Returns False
        for an event to hold back: a durable contact's end is logged once etcd has recorded it, so a
        site that dies in between leaves the contact to its adopter and the log never shows two."""
        e["site"] = self.site
        if e["kind"] == "agent":
            agent = self.agents.get(e["agent_id"])
            if agent is None:
                return True
            agent.state = e["state"]
            agent.reason_code = e.get("reason_code")
            if e["state"] == AgentState.RESERVED.value and e.get("contact_id"):
                self._push_offer(agent, e["contact_id"], e["ts"])
            agent.stream.push(agent.agent_id, "state", {"state": e["state"], "reason_code": e.get("reason_code")})
            return True
        cid = e["contact_id"]
        placed = self.contacts.get(cid)
        if placed is None:
            return True
        prev, state, ts = placed.state, e["state"], e["ts"]
        placed.state = state
        queue = e.get("queue")
        if state == ContactState.QUEUED.value:
            if prev == ContactState.OFFERED.value and placed.agent_id in self.agents:
                self.agents[placed.agent_id].stream.push(placed.agent_id, "rescinded",
                                                         {"contact_id": cid, "reason": e.get("reason") or ""})
            placed.agent_id = None
            if placed.queued_at is None:
                placed.queued_at = ts
                placed.record.enqueued_at = ts
            if queue:
                placed.record.queue = queue
                if placed.durable and prev != ContactState.QUEUED.value:
                    self._spawn(self._update_durable(placed, ContactState.QUEUED))
        elif state == ContactState.OFFERED.value:
            placed.agent_id = e.get("agent_id")
        elif state == ContactState.CONNECTED.value:
            placed.connected_at = ts
            if queue and placed.queued_at is not None:
                self.ewt.record_answer(queue, ts, ts - placed.queued_at)
        elif (state in (ContactState.WRAP_UP.value, ContactState.COMPLETED.value) and placed.connected_at
              and queue and prev == ContactState.CONNECTED.value):
            self.ewt.record_handle(queue, ts, ts - placed.connected_at)
        if state in TERMINAL:
            self.contacts.pop(cid, None)
            self.finished[cid] = ts
            if placed.record.channel == Channel.VOICE:
                self._spawn(self.gateways[self._gateway_of(cid)].call("release", [cid]))
            if placed.durable:
                self._spawn(self._complete_durable(cid, e))
                return False
        return True

    def _push_offer(self, agent: LoggedInAgent, cid: str, ts: float) -> None:
        placed = self.contacts.get(cid)
        if placed is None:
            return
        rec = placed.record
        agent.stream.push(agent.agent_id, "offer", {
            "contact_id": cid, "tenant": rec.tenant, "queue": rec.queue or "", "channel": rec.channel.value,
            "caller_id": rec.caller_id, "waited_s": ts - (placed.queued_at or rec.arrived_at),
            "data": {k: str(v) for k, v in rec.data.items()},
        })  # fmt: skip

    async def _update_durable(self, placed: PlacedContact, state: ContactState) -> None:
        rec = placed.record
        try:
            stored = await self.store.get(rec.id)
            if stored is None or stored.contact.terminal:
                return
            new = DurableContact(**{**_fields(stored.contact), "queue": rec.queue or "", "state": state,
                                    "priority": rec.priority})
            await self.store.update(stored, new, self.session.token)
        except (CoordError, FencedError) as e:
            log.warning("durable update of %s failed: %s", rec.id, e)

    async def _complete_durable(self, cid: str, event: dict[str, Any]) -> None:
        """Record the end in etcd, then log it. While etcd cannot be reached the end stays unlogged:
        if this site dies meanwhile, the adopter serves the contact and logs its one end."""
        delay = 0.1
        while True:
            try:
                await self.store.complete(cid)
                break
            except CoordError as e:
                log.warning("recording the end of durable contact %s failed (%s); retrying", cid, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._events.append(event)
        self._events_wake.set()

    async def _event_loop(self) -> None:
        while True:
            await self._events_wake.wait()
            self._events_wake.clear()
            await self._flush_events()

    async def _flush_events(self) -> None:
        batch, self._events = self._events, []
        if not batch:
            return
        for attempt in range(50):
            try:
                self.last_seq = await self.sink.call("append", batch)
                break
            except Exception as e:
                log.error("event sink append failed (attempt %d): %s", attempt + 1, e)
                await asyncio.sleep(0.2)
        for event in batch:
            for accepts, queue in self.watchers:
                if accepts(event):
                    queue.put_nowait(event)

    def emit_site_event(self, what: str, data: dict[str, Any]) -> None:
        self._events.append({"kind": "site", "ts": self.clock(), "site": self.site, "event": what,
                             "data": data, "schema_version": SCHEMA_VERSION})
        self._events_wake.set()

    def _emit_marker(self, rec: ContactRecord, now: float, reason: str, data: dict[str, Any]) -> None:
        self._events.append({
            "kind": "contact", "ts": now, "contact_id": rec.id, "tenant": rec.tenant,
            "channel": rec.channel.value, "state": ContactState.QUEUED.value,
            "prev_state": ContactState.QUEUED.value, "queue": rec.queue, "agent_id": None, "reason": reason,
            "data": data, "schema_version": SCHEMA_VERSION, "site": self.site,
        })  # fmt: skip
        self._events_wake.set()

    async def watch(
        self, accepts: Callable[[dict[str, Any]], bool], from_seq: int = 0
    ) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        entry = (accepts, queue)
        self.watchers.append(entry)
        try:
            if from_seq > 0:
                seen = 0
                while True:
                    batch = await self.sink.call("read", from_seq, 10_000)
                    for event in batch:
                        if accepts(event):
                            yield event
                        seen = event["seq"]
                    if len(batch) < 10_000:
                        break
                    from_seq = seen + 1
                while True:
                    event = await queue.get()
                    if event is None:
                        return
                    if event.get("seq", seen + 1) > seen:
                        yield event
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self.watchers.remove(entry)

    # ================================================================== reconcile

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_s)
            try:
                await self.update()
            except Exception:
                self.errors += 1
                log.exception("reconcile step failed")

    async def update(self) -> None:
        now = self.clock()
        while self._patience and self._patience[0][0] <= now:
            _, cid = heapq.heappop(self._patience)
            placed = self.contacts.get(cid)
            if placed is not None and placed.shard is not None and placed.state in (
                ContactState.QUEUED.value, ContactState.ARRIVED.value, ContactState.IVR.value
            ):
                self._send(placed.shard, ("abandon", cid, "caller_hung_up"))
        if len(self.shards) > 1:
            self._rebalance()
        if now - self._last_live_publish >= 0.5:
            self._last_live_publish = now
            await self._publish_live_calls()
        if now - self._last_site_balance >= self.settings.site_balance_s:
            self._last_site_balance = now
            self._rebalance_sites(now)
        for cid, ts in list(self.finished.items()):
            if now - ts > 600:
                del self.finished[cid]

    def _rebalance(self) -> None:
        """Move waiting contacts from a shard with no free agent to one where an agent came free."""
        for queue_id in self.center.queues:
            donors = [(i, load[queue_id]["waiting"]) for i, load in enumerate(self._shard_load)
                      if queue_id in load and load[queue_id]["waiting"] > 0 and load[queue_id]["free"] <= 0]
            takers = [(i, load[queue_id]["free"]) for i, load in enumerate(self._shard_load)
                      if queue_id in load and load[queue_id]["free"] > 0 and load[queue_id]["waiting"] <= 0]
            for (src, waiting), (dst, free) in zip(donors, takers, strict=False):
                n = int(min(waiting, free))
                self._shard_load[src][queue_id]["waiting"] -= n
                self._shard_load[dst][queue_id]["free"] -= n
                self._send(src, ("detach_head", queue_id, n), self._move_to(dst))

    async def _publish_live_calls(self) -> None:
        """Keep ``sites/<site>/live`` (no lease) listing the voice calls anchored here, so that if
        this site dies the adopter can record them as failed: their media died with it."""
        live = {cid: p for cid, p in self.contacts.items() if p.record.channel == Channel.VOICE}
        if frozenset(live) == self._published_live or self.fenced:
            return
        body = json.dumps([{"contact_id": cid, "tenant": p.record.tenant, "queue": p.record.queue,
                            "state": p.state, "agent_id": p.agent_id} for cid, p in live.items()])
        try:
            await self.etcd.put(self.keys.site_live_calls(self.site), body.encode())
            self._published_live = frozenset(live)
        except CoordError as e:
            log.warning("publishing live calls failed: %s", e)

    async def _fail_live_calls_of(self, dead_site: str, now: float) -> int:
        """The adopter's duty: the dead site's live voice calls ended with it; record them failed."""
        kv = await self.etcd.get(self.keys.site_live_calls(dead_site))
        if kv is None:
            return 0
        calls = json.loads(kv.value)
        for call in calls:
            self._events.append({
                "kind": "contact", "ts": now, "contact_id": call["contact_id"], "tenant": call["tenant"],
                "channel": Channel.VOICE.value, "state": ContactState.FAILED.value, "prev_state": call["state"],
                "queue": call["queue"], "agent_id": call["agent_id"], "reason": f"site_lost:{dead_site}",
                "data": {"failed_by": self.site}, "schema_version": SCHEMA_VERSION, "site": self.site,
            })  # fmt: skip
        await self.etcd.delete(self.keys.site_live_calls(dead_site))
        self._events_wake.set()
        return len(calls)

    def _rebalance_sites(self, now: float) -> None:
        """Offer waiting contacts to another site when the local wait is past the queue's service
        level and another live site would serve them sooner (e.g. its agents are the tenant's, or
        logged in there after a failover)."""
        if self.fenced or self.peer_offer is None:
            return
        local = self.measure_load()
        loads = dict(self.load_cache.snapshot())
        loads[self.site] = local
        for queue_id, spec in self.center.queues.items():
            here = local.queues.get(queue_id)
            tenant = self.center.tenants.get(spec.tenant)
            if here is None or here.waiting == 0 or tenant is None:
                continue
            if expected_wait(here) <= spec.service_level_s:
                continue
            placement = choose_site(self.site, spec, tenant, loads, now)
            if placement.site == self.site:
                continue
            there = loads[placement.site].queues.get(queue_id)
            budget = min(here.waiting, max(1, there.ready_agents if there else 1))
            for i, shard_load in enumerate(self._shard_load):
                waiting = int(shard_load.get(queue_id, {}).get("waiting", 0))
                take = min(budget, waiting)
                if take <= 0:
                    continue
                budget -= take
                shard_load[queue_id]["waiting"] -= take
                self._send(i, ("detach_head", queue_id, take), self._send_all_to_site(placement.site))

    def _send_all_to_site(self, site: str) -> Callable[[CommandResult], None]:
        def then(result: CommandResult) -> None:
            for rec in result.records:
                self._spawn(self._offer_to_site(site, rec))

        return then

    def _move_to(self, dst: int) -> Callable[[CommandResult], None]:
        def then(result: CommandResult) -> None:
            for rec in result.records:
                placed = self.contacts.get(rec.id)
                if placed is not None:
                    placed.shard = dst
                    placed.record = rec
                self._send(dst, ("attach", rec, None))

        return then

    def _queue_totals(self, queue_id: str) -> tuple[int, int, int]:
        waiting = free = staffed = 0
        for load in self._shard_load:
            q = load.get(queue_id)
            if q:
                waiting += int(q["waiting"])
                free += int(q["free"])
                staffed += int(q["staffed"])
        return waiting, free, staffed

    def measure_load(self) -> SiteLoad:
        now = self.clock()
        queues = {}
        for queue_id in self.center.queues:
            waiting, free, staffed = self._queue_totals(queue_id)
            ewt = self.ewt.arrival_ewt_s(queue_id, now, waiting, staffed, free) if staffed else None
            queues[queue_id] = QueueLoad(waiting, ewt, free, staffed)
        return SiteLoad(self.site, now, self.fenced, queues)

    # ================================================================== configuration

    async def _watch_config(self) -> None:
        if self.compile_config is None:
            return
        while True:
            try:
                async for version in self.config_store.watch(after=self.config_version):
                    await self.reconfigure(version.version, version.yaml_text)
            except CoordError as e:
                log.warning("config watch broke (%s); re-watching", e)
                await asyncio.sleep(0.5)

    async def reconfigure(self, version: int, yaml_text: str) -> None:
        """Run on a new config version without a restart: flows, queues, agents, entry points.
        Shards get a router for the new center and are rebuilt from the directory; agents that are
        gone from the config are logged out; a contact whose queue is gone fails with a reason."""
        assert self.compile_config is not None
        if version <= self.config_version:
            return
        try:
            center, check = self.compile_config(yaml_text)
        except Exception as e:  # validated by `vcc config apply`; a bad version must not stop the site
            log.error("config version %d cannot be used here: %s", version, e)
            self.emit_site_event("config_rejected", {"version": version, "error": str(e)[:500]})
            return
        self.center, self.verify_password = center, check
        for agent_id in [a for a in self.agents if a not in center.agents]:
            agent = self.agents[agent_id]
            agent.stream.push(agent_id, "state", {"state": "logged_out", "reason_code": "removed_from_config"})
            await self._forget_agent(agent_id)
        now = self.clock()
        for placed in list(self.contacts.values()):
            rec = placed.record
            if rec.queue is not None and rec.queue not in center.queues and placed.state not in TERMINAL:
                event = {
                    "kind": "contact", "ts": now, "contact_id": rec.id, "tenant": rec.tenant,
                    "channel": rec.channel.value, "state": ContactState.FAILED.value, "prev_state": placed.state,
                    "queue": rec.queue, "agent_id": placed.agent_id, "reason": "queue_removed_by_config",
                    "data": {"config_version": version}, "schema_version": SCHEMA_VERSION,
                }  # fmt: skip
                if self._observe(placed.shard or 0, event):
                    self._events.append(event)
        for worker in self.ivr_workers:
            await worker.call("reconfigure", center)
        for i, shard in enumerate(self.shards):
            await shard.call("reconfigure", center)
            await self._rebuild_shard(i)
        self.config_version = version
        self.emit_site_event("config_applied", {"version": version})

    # ================================================================== fencing and failover

    async def _on_fenced(self, reason: str) -> None:
        """We cannot prove our lease: reserve no agent and take no contact until we rejoin."""
        self.emit_site_event("fenced", {"reason": reason})
        for agent in self.agents.values():
            agent.ready_before_fence = agent.state in (AgentState.READY.value,)
            self._send(agent.shard, ("not_ready", agent.agent_id, "site_fenced"))

    async def _on_rejoined(self, token: SessionToken) -> None:
        self.emit_site_event("rejoined", {"lease_id": token.lease_id})
        for agent_id, agent in list(self.agents.items()):
            try:
                claim = await self.ownership.claim(agent_id, token)
            except CoordError:
                continue
            if not claim.acquired:  # another site took the agent while we were away
                await self._call(agent.shard, ("logout", agent_id))
                agent.stream.push(agent_id, "state", {"state": "logged_out",
                                                      "reason_code": f"owned_by_{claim.owner}"})
                self.agents.pop(agent_id, None)
            elif agent.ready_before_fence:
                self._send(agent.shard, ("ready", agent_id))

    async def _watch_sites(self) -> None:
        while True:
            try:
                async for event in watch_sessions(self.etcd, self.keys):
                    if not event.up and event.site != self.site:
                        self._spawn(self._site_down(event))
            except CoordError as e:
                log.warning("session watch broke (%s); re-watching", e)
                await asyncio.sleep(0.5)

    async def _site_down(self, event: SiteEvent) -> None:
        detected = self.clock()
        self.emit_site_event("site_down_detected", {"dead_site": event.site, "epoch": event.epoch})
        try:
            token = await asyncio.wait_for(self.session.wait_live(), 5.0)
            won = await self.elections.try_adopt(event.site, token, dead_epoch=event.epoch)
        except (CoordError, TimeoutError) as e:
            log.warning("adoption election for %s failed: %s", event.site, e)
            return
        if not won:
            return
        report = await self.store.adopt(event.site, token)
        taken = set(report.adopted)
        mine = [s.contact for s in await self.store.list_by_owner(self.site) if s.contact.contact_id in taken]
        now = self.clock()
        adopted = 0
        for contact in mine:
            if contact.contact_id in self.contacts or contact.terminal:
                continue
            rec = ContactRecord(
                contact.contact_id, contact.tenant, contact.channel, contact.ts,
                data=dict(contact.data), priority=contact.priority, queue=contact.queue or None,
                enqueued_at=contact.ts, origin_site=event.site,
            )  # fmt: skip
            if rec.queue is None or rec.queue not in self.center.queues:
                rec.queue = self._first_queue_of(rec.tenant, rec.channel)
            if rec.queue is None:
                continue
            self._attach(rec, now, reason=f"adopted_from:{event.site}")
            adopted += 1
        self.adopted_sites.append(event.site)
        adopted_ts = self.clock()
        failed_calls = await self._fail_live_calls_of(event.site, adopted_ts)
        self.emit_site_event("adopted", {"dead_site": event.site, "contacts": adopted,
                                         "failed_live_calls": failed_calls, "detected_ts": detected,
                                         "adopted_ts": adopted_ts})

    def _first_queue_of(self, tenant: str, channel: Channel) -> str | None:
        for q in self.center.queues.values():
            if q.tenant == tenant and q.channel == channel:
                return q.id
        return None

    def _gateway_of(self, cid: str) -> int:
        return hash(cid) % len(self.gateways)

    # ================================================================== status

    async def status(self) -> dict[str, Any]:
        actors = [{"name": f"{self.site}/controller/0", "kind": "site_controller", "healthy": True,
                   "detail": {"pid": os.getpid(), "errors": self.errors, "fenced": self.fenced}}]
        for kind, ports in (("acd_shard", self.shards), ("ivr_worker", self.ivr_workers),
                            ("media_gateway", self.gateways), ("event_sink", [self.sink])):
            for port in ports:
                try:
                    detail = await asyncio.wait_for(port.call("health"), 2.0)
                    actors.append({"name": port.name, "kind": kind, "healthy": True, "detail": detail})
                except Exception as e:
                    actors.append({"name": port.name, "kind": kind, "healthy": False, "detail": str(e)})
        token = self.session.last_token
        return {
            "site": self.site, "fenced": self.fenced, "lease_id": token.lease_id if token else 0,
            "lease_ttl_s": self.settings.lease_ttl_s, "config_version": self.config_version,
            "actors": actors, "load": self.measure_load(), "adopted_sites": list(self.adopted_sites),
            "agents_logged_in": len(self.agents), "contacts_in_progress": len(self.contacts),
            "errors": self.errors, "last_seq": self.last_seq,
        }  # fmt: skip


def void(_: object) -> None:
    """Drop a value (a callback that must return None spawns a task that is already tracked)."""


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}

