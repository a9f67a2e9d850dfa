"""Bot agents: many agents multiplexed on one ``AgentSession`` stream. Each logs in, goes ready,
accepts every offer after ``answer_delay_s``, handles it for ``handle_s(channel)`` seconds, completes
it with a disposition and ends wrap-up after ``wrap_up_s``; what happened is counted in ``stats``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import grpc

from vcc.proto.v1 import site_pb2 as pb
from vcc.proto.v1 import site_pb2_grpc as pb_grpc

CHANNEL_NAMES = {pb.VOICE: "voice", pb.CHAT: "chat", pb.EMAIL: "email", pb.SMS: "sms"}


@dataclass
class BotStats:
    logged_in: set[str] = field(default_factory=set)
    login_errors: dict[str, str] = field(default_factory=dict)
    offers: int = 0
    accepted: int = 0
    completed: int = 0
    rescinded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    in_hand: Counter[str] = field(default_factory=Counter)  # agent -> contacts held right now
    max_in_hand: Counter[str] = field(default_factory=Counter)
    handled_ids: list[str] = field(default_factory=list)
    waited_s: dict[str, float] = field(default_factory=dict)  # contact -> wait shown in the offer


class BotAgentPool:
    def __init__(
        self,
        address: str,
        agents: list[tuple[str, str]],  # (agent id, password)
        *,
        answer_delay_s: float = 0.0,
        handle_s: Callable[[str], float] = lambda channel: 0.05,
        wrap_up_s: float = 0.0,
        seed: int = 1,
        batched: bool = True,
    ) -> None:
        self.address = address
        self.batched = batched  # AgentSessionBatch: what is ready in one turn goes as one message
        self.agents = agents
        self.answer_delay_s = answer_delay_s
        self.handle_s = handle_s
        self.wrap_up_s = wrap_up_s
        self.rng = random.Random(seed)
        self.stats = BotStats()
        self._out: asyncio.Queue[pb.AgentCommand | None] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._waiters: dict[int, asyncio.Future[pb.CommandResult]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._channel: grpc.aio.Channel | None = None
        self._reader: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()

    async def start(self, *, ready: bool = True, timeout_s: float = 30.0) -> None:
        self._channel = grpc.aio.insecure_channel(self.address)
        stub = pb_grpc.SiteApiStub(self._channel)
        if self.batched:
            self._reader = asyncio.ensure_future(self._read(stub.AgentSessionBatch(self._batches()), batched=True))
        else:
            self._reader = asyncio.ensure_future(self._read(stub.AgentSession(self._requests())))
        results = await asyncio.wait_for(
            asyncio.gather(*(self.command(a, login=pb.Login(password=p)) for a, p in self.agents)), timeout_s
        )
        for (agent_id, _), result in zip(self.agents, results, strict=True):
            if result.ok:
                self.stats.logged_in.add(agent_id)
            else:
                self.stats.login_errors[agent_id] = result.error
        if ready:
            await asyncio.gather(*(self.command(a, ready=pb.Ready()) for a in self.stats.logged_in))

    async def command(self, agent_id: str, **kind: Any) -> pb.CommandResult:
        if self.ended.is_set():  # nobody would answer: the stream is gone
            return pb.CommandResult(ok=False, error="session ended")
        request_id = next(self._ids)
        fut: asyncio.Future[pb.CommandResult] = asyncio.get_running_loop().create_future()
        self._waiters[request_id] = fut
        await self._out.put(pb.AgentCommand(agent_id=agent_id, request_id=request_id, **kind))
        return await fut

    async def stop(self, *, logout: bool = True) -> None:
        if logout and not self.ended.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(
                    *(self.command(a, logout=pb.Logout()) for a in self.stats.logged_in)), 10.0)
        for task in list(self._tasks):
            task.cancel()
        await self._out.put(None)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5.0)
        if self._channel is not None:
            await self._channel.close()

    async def _requests(self) -> AsyncIterator[pb.AgentCommand]:
        while True:
            msg = await self._out.get()
            if msg is None:
                return
            yield msg

    async def _batches(self) -> AsyncIterator[pb.AgentCommands]:
        while True:
            msg = await self._out.get()
            batch = []
            while msg is not None:
                batch.append(msg)
                if self._out.empty():
                    break
                msg = self._out.get_nowait()
            if batch:
                yield pb.AgentCommands(commands=batch)
            if msg is None:
                return

    async def _read(self, call: grpc.aio.StreamStreamCall, *, batched: bool = False) -> None:
        try:
            async for message in call:
                for update in (message.updates if batched else (message,)):
                    self._on_update(update)
        except grpc.aio.AioRpcError as e:
            self.stats.errors[f"stream: {e.code().name}"] += 1
        finally:
            self.ended.set()
            for fut in self._waiters.values():
                if not fut.done():
                    fut.set_result(pb.CommandResult(ok=False, error="session ended"))

    def _on_update(self, update: pb.AgentUpdate) -> None:
        which = update.WhichOneof("update")
        if which == "result":
            fut = self._waiters.pop(update.result.request_id, None)
            if fut is not None and not fut.done():
                fut.set_result(update.result)
        elif which == "offer":
            self.stats.offers += 1
            self.stats.waited_s[update.offer.contact_id] = update.offer.waited_s
            self._spawn(self._handle(update.agent_id, update.offer))
        elif which == "rescinded":
            self.stats.rescinded += 1

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retrying(self, agent_id: str, **kind: Any) -> pb.CommandResult:
        """A command whose error says to retry (the site was rebuilding) is sent again, as a person
        at a desktop would click again."""
        for _ in range(20):
            result = await self.command(agent_id, **kind)
            if result.ok or "retry" not in result.error:
                return result
            await asyncio.sleep(0.5)
        return result

    async def _handle(self, agent_id: str, offer: pb.Offer) -> None:
        if self.answer_delay_s:
            await asyncio.sleep(self.answer_delay_s)
        result = await self._retrying(agent_id, accept=pb.Accept(contact_id=offer.contact_id))
        if not result.ok:
            self.stats.errors[f"accept: {result.error[:60]}"] += 1
            return
        self.stats.accepted += 1
        s = self.stats
        s.in_hand[agent_id] += 1
        s.max_in_hand[agent_id] = max(s.max_in_hand[agent_id], s.in_hand[agent_id])
        await asyncio.sleep(self.handle_s(CHANNEL_NAMES.get(offer.channel, "voice")))
        s.in_hand[agent_id] -= 1
        done = await self._retrying(agent_id, complete=pb.Complete(
            contact_id=offer.contact_id, disposition="resolved", skip_wrap_up=self.wrap_up_s <= 0))
        if not done.ok:
            self.stats.errors[f"complete: {done.error[:60]}"] += 1
            return
        s.completed += 1
        s.handled_ids.append(offer.contact_id)
        if self.wrap_up_s > 0:
            await asyncio.sleep(self.wrap_up_s)
            await self.command(agent_id, end_wrap_up=pb.EndWrapUp())
