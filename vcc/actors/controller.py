"""The site controller: the one coordinator of a site.

It owns the site's etcd session (fencing), publishes the site's load, takes contacts and agent
commands from the site API, feeds ACD shards and IVR workers in batches, writes every event to the
event sink, balances contacts across sites, and adopts a dead site's durable contacts when the etcd
election says so. Its work is a set of loops; ``update()`` is the reconcile step that runs every
``reconcile_s``: a step that raises is logged and the loop goes on.

State it keeps (soft; rebuilt from etcd and the shards): a directory of the contacts it placed
(which shard, the record to replay into a restarted shard) and of the agents logged in here
(``vcc.actors.directory``). The agent side lives in ``site_agents``, where work goes in
``site_balance``, failures and new config versions in ``site_failover``: module functions that take
the controller, so each part reads on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from vcc.actors import site_agents, site_balance, site_failover, site_media, site_probe
from vcc.actors.directory import (
    TERMINAL,
    AgentStream,
    LoggedInAgent,
    PlacedContact,
    Submission,
    Submitted,
    _fields,
    void,
)
from vcc.actors.durable_writer import DurableWriter
from vcc.actors.ports import ActorPort
from vcc.actors.records import CALLBACK, Command, CommandResult, ContactRecord, ShardOutput, is_durable
from vcc.actors.settings import SiteSettings
from vcc.actors.site_live import Entry, LiveCalls
from vcc.coord.client import EtcdClient
from vcc.coord.config_store import ConfigStore
from vcc.coord.election import Elections
from vcc.coord.fencing import LeaseTiming
from vcc.coord.keys import CoordKeys
from vcc.coord.load import LoadBoard, LoadCache, LoadPublisher
from vcc.coord.ownership import AgentOwnership
from vcc.coord.session import SiteSession
from vcc.coord.store import ContactStore, DurableContact, StoredContact
from vcc.core.balancer import QueueLoad, SiteLoad
from vcc.core.events import SCHEMA_VERSION
from vcc.core.ewt import EwtEstimator
from vcc.core.model import DURABLE_CHANNELS, CenterSpec, Channel, ContactState
from vcc.errors import CoordError, FencedError
from vcc.runtime.aio import wait_event

log = logging.getLogger(__name__)

#: How long a shard step or an event append waits for more work to join it once there is some: a
#: Ray actor call costs the controller ~0.5-1 ms of CPU, whatever it carries.
BATCH_WINDOW_S = 0.004
BATCH_FULL = 200  # commands that go at once, without waiting



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
        self.etcd = EtcdClient(settings.etcd_host, settings.etcd_port, fallbacks=[
            (h, int(p)) for h, _, p in (a.rpartition(":") for a in settings.etcd_fallbacks)])
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
        self.durable = DurableWriter(self.store, lambda: self.session.token, self._durable_recorded)
        self.ewt = EwtEstimator()

        self.contacts: dict[str, PlacedContact] = {}
        self.finished: dict[str, float] = {}  # recently finished contact ids (idempotent re-submits)
        # media-IVR callbacks waiting for etcd to store them -> whether the caller hung up meanwhile
        self.booking: dict[str, bool] = {}
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
        self._anchor: list[list[str]] = [[] for _ in gateways]  # voice contacts to anchor/release, per gateway
        self._release: list[list[str]] = [[] for _ in gateways]
        self._gateway_wake = asyncio.Event()
        self._measured: SiteLoad | None = None
        self._events_wake = asyncio.Event()
        self._patience: list[tuple[float, str]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._last_site_balance = 0.0
        self.live = LiveCalls(self.etcd, self.keys, self.site, self._live_calls, self._live_entry, lambda: self.fenced)
        self.started_at = 0.0
        self.last_seq = 0
        self.errors = 0

    # ================================================================== lifecycle

    async def start(self) -> None:
        await self.etcd.connect()
        await self.session.start(timeout_s=15.0)
        self.session.on_fenced(lambda reason: void(self._spawn(site_failover.on_fenced(self, reason))))
        self.session.on_rejoined(lambda token: void(self._spawn(site_failover.on_rejoined(self, token))))
        await self.load_cache.start(wait_synced_s=5.0)
        self.publisher.start()
        self.started_at = self.clock()
        await site_failover.recover_own_contacts(self)
        lost = await site_failover.fail_live_calls_of(self, self.site, self.clock())  # a previous run's calls
        if lost:
            self.emit_site_event("live_calls_lost", {"calls": lost})
        for i in range(len(self.shards)):
            self._spawn(self._shard_loop(i))
        self._spawn(self._ivr_loop())
        self._spawn(self._event_loop())
        self._spawn(self.durable.run())
        self._spawn(self._gateway_loop())
        self._spawn(self._reconcile_loop())
        self._spawn(self._live_loop())
        self._spawn(site_failover.watch_sites(self))
        self._spawn(site_probe.probe_loop(self))
        self._spawn(site_failover.watch_config(self))
        self.emit_site_event("site_up", {"lease_id": self.session.last_token.lease_id
                                         if self.session.last_token else 0})


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
        batch: set[str] = set()
        for sub in subs:
            cid = sub.contact_id or uuid.uuid4().hex
            if cid in self.contacts or cid in self.finished or cid in batch:
                results.append(Submitted(cid, True, self.site, "duplicate: already taken"))
                continue
            batch.add(cid)
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
        written: dict[str, StoredContact] = {}
        if durable:
            stored, written = await self._store_durable(durable, now)
            for res in results:
                outcome = stored.get(res.contact_id, "stored") if res.accepted else ""
                if outcome == "failed":
                    res.accepted, res.error = False, "could not be stored durably (etcd unavailable): retry"
                elif outcome == "known":
                    res.error = "duplicate: already taken"
            ok = {r.contact_id for r in results if r.accepted and not r.error}
            records = [r for r in records if r.id in ok]
        for rec in records:
            self._admit(rec, now, written.get(rec.id))
        calls = [r.id for r in records if r.channel == Channel.VOICE]
        if calls:  # listed for the adopter before the caller hears yes (vcc.actors.site_live)
            await self.live.listed(calls)
        return results

    def _live_calls(self) -> Iterator[str]:
        voice = Channel.VOICE
        return (cid for cid, p in self.contacts.items() if p.record.channel is voice and not p.durable)

    def _live_entry(self, cid: str, placed: PlacedContact | None = None, state: str | None = None) -> Entry:
        p = placed or self.contacts[cid]
        return {"contact_id": cid, "tenant": p.record.tenant, "queue": p.record.queue, "state": state or p.state,
                "agent_id": p.agent_id}

    async def _store_durable(
        self, records: list[ContactRecord], now: float
    ) -> tuple[dict[str, str], dict[str, StoredContact]]:
        """Write new durable contacts to etcd, in one transaction when none of them is known yet:
        each "stored", "known" (already there: taken earlier, here or at another site) or "failed";
        and what was written, by id."""
        try:
            token = self.session.token
        except FencedError:
            return {r.id: "failed" for r in records}, {}
        contacts = [
            DurableContact(
                rec.id, rec.tenant, rec.channel, rec.queue or "", rec.arrived_at, rec.priority,
                ContactState.ARRIVED, self.site, {k: str(v) for k, v in rec.data.items()}, skills=dict(rec.skills),
            )  # fmt: skip
            for rec in records
        ]
        try:
            created = await self.store.create_many(contacts, token)
        except CoordError:
            return {r.id: "failed" for r in records}, {}
        outcome = {r.id: "stored" if new else "known" for r, (_, new) in zip(records, created, strict=True)}
        written = {r.id: s for r, (s, new) in zip(records, created, strict=True) if new}
        return outcome, written

    def _admit(self, rec: ContactRecord, now: float, stored: StoredContact | None = None) -> None:
        """Put a new contact in a shard: it arrives there, then goes to the IVR or its queue."""
        shard = site_balance.pick_shard(self, rec.queue)
        placed = PlacedContact(rec, shard, durable=rec.channel in DURABLE_CHANNELS, stored=stored,
                               awaiting_arrival=True)
        self.contacts[rec.id] = placed
        if rec.channel == Channel.VOICE:
            self._anchor[self._gateway_of(rec.id)].append(rec.id)
            self._gateway_wake.set()
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
            if site_media.runs_ivr_at_gateway(rec.data):
                return  # the media gateway runs the flow with the caller's audio; it reports IvrOutcome
            self._ivr_inbox.append(rec)
            self._ivr_wake.set()

        return then

    async def accept_from_site(self, from_site: str, records: list[ContactRecord]) -> list[Submitted]:
        """Contacts another site sends us (overflow, balancing): queue them keeping their arrival.
        A durable contact is taken over in etcd first (:func:`site_balance.take_over`)."""
        out: dict[str, Submitted] = {}
        fresh: list[ContactRecord] = []
        for rec in records:
            if self.fenced:
                out[rec.id] = Submitted(rec.id, False, self.site, f"site {self.site} is fenced")
            elif rec.id in self.contacts:
                out[rec.id] = Submitted(rec.id, True, self.site, "duplicate: already taken")
            elif rec.queue not in self.center.queues:
                out[rec.id] = Submitted(rec.id, False, self.site, f"unknown queue {rec.queue!r}")
            else:
                fresh.append(rec)
        durable = [r for r in fresh if is_durable(r)]
        taken = await site_balance.take_over(self, from_site, durable) if durable else {}
        now = self.clock()
        for rec in fresh:
            stored = taken.get(rec.id)
            if isinstance(stored, str):
                out[rec.id] = Submitted(rec.id, False, self.site, stored)
                continue
            self._attach(rec, now, reason=f"from_site:{from_site}", stored=stored)
            out[rec.id] = Submitted(rec.id, True, self.site)
        calls = [r.id for r in fresh if r.id in self.contacts and r.channel == Channel.VOICE and not is_durable(r)]
        if calls:  # listed here before the sender lets go of them (vcc.actors.site_live)
            await self.live.listed(calls)
        return [out[rec.id] for rec in records]

    def _attach(self, rec: ContactRecord, now: float, *, reason: str, stored: StoredContact | None = None) -> None:
        shard = site_balance.pick_shard(self, rec.queue)
        # the wait counts from the contact's first queue, wherever that was (the screen pop shows it)
        self.contacts[rec.id] = PlacedContact(rec, shard, ContactState.QUEUED.value, stored=stored,
                                              durable=is_durable(rec), queued_at=rec.enqueued_at)
        self._send(shard, ("attach", rec, reason))
        if rec.patience_s > 0:
            heapq.heappush(self._patience, (now + rec.patience_s, rec.id))

    async def abandon(self, contact_ids: list[str], reason: str = "caller_hung_up") -> list[str]:
        done = []
        for cid in contact_ids:
            placed = self.contacts.get(cid)
            if placed is None or placed.shard is None or placed.state in TERMINAL:
                continue
            if placed.record.data.get(CALLBACK) == "booked":  # the caller hangs up after booking: we call back
                continue
            if cid in self.booking:  # pressed the key for a callback: it stands if etcd stores it
                self.booking[cid] = True
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
            estimates = site_balance.local_estimates(self)
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
            target = site_balance.place_remote(self, rec)
            self._send(shard, ("enqueue", rec.id, rec.queue, res.priority_delta, rec.skills, rec.data))
            if target is not None:
                self._send(shard, ("detach", rec.id), site_balance.send_to_site(self, target))
        elif res.outcome == "callback":  # a scripted IVR's booking: written to etcd from here on
            self.durable.created(placed, self.callback_contact(placed, res.callback_number))
            self.queue_callback(placed, res.callback_number, res.priority_delta)
        else:
            self._send(shard, ("ivr_hangup", rec.id, res.reason))

    def callback_contact(self, placed: PlacedContact, number: str | None) -> DurableContact:
        """A booked callback as etcd holds it: it has no live media, so it is durable (adopted if this
        site dies)."""
        rec = placed.record
        data = {**rec.data, **_callback_fields(number)}
        return DurableContact(rec.id, rec.tenant, rec.channel, rec.queue or "", rec.arrived_at, rec.priority,
                              ContactState.QUEUED, self.site, {k: str(v) for k, v in data.items()},
                              skills=dict(rec.skills))  # fmt: skip

    def queue_callback(self, placed: PlacedContact, number: str | None, priority_delta: int) -> None:
        """Queue a booked callback at its shard, with the priority (``rec.priority`` already holds
        ``priority_delta``) and the extra skills its IVR flow gave it."""
        rec = placed.record
        rec.data.update(_callback_fields(number))
        placed.durable = True
        assert placed.shard is not None
        self._send(placed.shard, ("callback", rec.id, rec.queue, priority_delta, rec.skills, rec.data))

    # ================================================================== agents (more in vcc.actors.site_agents)

    async def agent_command(self, stream: AgentStream, agent_id: str, op: str, args: dict[str, Any]) -> CommandResult:
        return await site_agents.agent_command(self, stream, agent_id, op, args)

    async def disconnect(self, stream: AgentStream) -> None:
        await site_agents.disconnect(self, stream)

    # ================================================================== shards


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
            await wait_event(self._wake[i], self.settings.tick_s)
            if self._wake[i].is_set() and len(self._inbox[i]) < BATCH_FULL:
                await asyncio.sleep(BATCH_WINDOW_S)  # a Ray call costs ~1 ms: let more commands join it
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
                if event["kind"] == "contact" and event["state"] == ContactState.ARRIVED.value:
                    placed = self.contacts.get(event["contact_id"])
                    if placed is not None and placed.early_notes:
                        self._events.extend(placed.early_notes)
                        placed.early_notes.clear()
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
            agent.stream.push(agent.agent_id, "state", {"state": e["state"], "reason_code": e.get("reason_code")})
            return True
        cid = e["contact_id"]
        placed = self.contacts.get(cid)
        if placed is None:
            return True
        prev, state, ts = placed.state, e["state"], e["ts"]
        placed.state = state
        if state == ContactState.ARRIVED.value:
            site_media.annotate_arrival(e, placed)
            placed.awaiting_arrival = False
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
                    self.durable.changed(placed)
        elif state == ContactState.OFFERED.value:
            placed.agent_id = e.get("agent_id")
            offered_to = self.agents.get(placed.agent_id or "")
            if offered_to is not None:  # one offer per offered event (an agent's reserved state repeats)
                site_agents.push_offer(self, offered_to, cid, ts)
        elif state == ContactState.CONNECTED.value:
            placed.connected_at = ts
            if queue and placed.queued_at is not None:
                self.ewt.record_answer(queue, ts, ts - placed.queued_at)
        elif (state in (ContactState.WRAP_UP.value, ContactState.COMPLETED.value) and placed.connected_at
              and queue and prev == ContactState.CONNECTED.value):
            self.ewt.record_handle(queue, ts, ts - placed.connected_at)
        if placed.durable and state == ContactState.WRAP_UP.value and prev != state:
            self.durable.changed(placed)
        if state in TERMINAL:
            self.contacts.pop(cid, None)
            self.finished[cid] = ts
            if placed.record.channel == Channel.VOICE:
                self._release[self._gateway_of(cid)].append(cid)
                self._gateway_wake.set()
                if not placed.durable:  # listed until its end is logged
                    self.live.ended(cid, self._live_entry(cid, placed, prev))
            if placed.durable:
                self.durable.ended(placed, e)
                return False
        return True


    def _durable_recorded(self, event: dict[str, Any], recorded: bool) -> None:
        """A durable contact's end, once etcd has answered for it (see :class:`DurableWriter`). If
        another site adopted the contact while this one was cut off, the adopter's completion is the
        one that counts: this site logs only that the contact was served elsewhere."""
        if not recorded:
            event = {**event, "state": event["prev_state"] or ContactState.CONNECTED.value,
                     "reason": "served_elsewhere", "data": {"ended_here_as": event["state"]}}
        self._events.append(event)
        self._events_wake.set()

    async def _gateway_loop(self) -> None:
        """Anchor and release voice contacts on their gateways, one call per gateway and kind for
        all that arrived while the previous calls were in flight."""
        while True:
            await self._gateway_wake.wait()
            self._gateway_wake.clear()
            now = self.clock()
            for i, gateway in enumerate(self.gateways):
                anchor, self._anchor[i] = self._anchor[i], []
                release, self._release[i] = self._release[i], []
                try:
                    if anchor:
                        await gateway.call("anchor", anchor, now)
                    if release:
                        await gateway.call("release", release)
                except Exception as e:  # a gateway being restarted: its live set is rebuilt by reconcile
                    log.warning("gateway %d anchor/release failed: %s", i, e)

    async def _event_loop(self) -> None:
        while True:
            await self._events_wake.wait()
            await asyncio.sleep(BATCH_WINDOW_S)  # let the events of this instant join one append
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
        self.live.logged(batch)
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

    async def _live_loop(self) -> None:
        """The live-call keys follow the calls every reconcile step, in a loop of their own: an
        etcd that hangs holds up this loop, not the reconcile step (patience, balancing)."""
        while True:
            await asyncio.sleep(self.settings.reconcile_s)
            try:
                await self.live.publish()
            except Exception:
                self.errors += 1
                log.exception("live-call step failed")

    async def update(self) -> None:
        now = self.clock()
        while self._patience and self._patience[0][0] <= now:
            _, cid = heapq.heappop(self._patience)
            placed = self.contacts.get(cid)
            if placed is not None and placed.shard is not None and placed.state in (
                ContactState.QUEUED.value, ContactState.ARRIVED.value, ContactState.IVR.value
            ) and placed.record.data.get(CALLBACK) != "booked" and cid not in self.booking:  # booked: not waiting
                self._send(placed.shard, ("abandon", cid, "caller_hung_up"))
        if len(self.shards) > 1:
            site_balance.rebalance(self)
        if now - self._last_site_balance >= self.settings.site_balance_s:
            self._last_site_balance = now
            site_balance.rebalance_sites(self, now)
        finished = self.finished  # in the order contacts finished: drop from the oldest end
        while finished and now - finished[next(iter(finished))] > 600:
            del finished[next(iter(finished))]


    def measure_load(self) -> SiteLoad:
        """This site's load per queue. Recomputed at most every 50 ms: the balancer asks for every
        contact it places, and the figures it compares are published only every 0.4 s."""
        now = self.clock()
        cached = self._measured
        if cached is not None and 0 <= now - cached.ts < 0.05 and cached.fenced == self.fenced:
            return cached
        queues = {}
        for queue_id in self.center.queues:
            waiting, free, staffed = site_balance.queue_totals(self, queue_id)
            ewt = self.ewt.arrival_ewt_s(queue_id, now, waiting, staffed, free) if staffed else None
            queues[queue_id] = QueueLoad(waiting, ewt, free, staffed)
        self._measured = SiteLoad(self.site, now, self.fenced, queues)
        return self._measured

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


def _callback_fields(number: str | None) -> dict[str, str]:
    """What a booked callback adds to its contact's data: the number to call (when not the caller id)."""
    return {**({"callback_number": number} if number else {}), CALLBACK: "booked"}
