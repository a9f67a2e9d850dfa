"""The site controller's agent side: logins (password, etcd ownership), commands from the agent
session streams, offers pushed back to the right stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from vcc.actors import site_media
from vcc.actors.directory import AgentStream, LoggedInAgent
from vcc.actors.records import Command, CommandResult
from vcc.actors.shard import shard_of
from vcc.errors import CoordError, FencedError
from vcc.web import session

if TYPE_CHECKING:
    from vcc.actors.controller import SiteController

log = logging.getLogger("vcc.actors.controller")


async def agent_command(
    c: SiteController, stream: AgentStream, agent_id: str, op: str, args: dict[str, Any]
) -> CommandResult:
    if op == "login":
        return await login(c, stream, agent_id, str(args.get("password", "")), str(args.get("session_token", "")))
    agent = c.agents.get(agent_id)
    if agent is None or agent.stream is not stream:
        return CommandResult(0, False, f"agent {agent_id} is not logged in on this session")
    match op:
        case "ready":
            if c.fenced:
                return CommandResult(0, False, f"site {c.site} is fenced", agent.state)
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
            placed = c.contacts.get(cid)
            if args.get("disposition") and placed is not None and placed.agent_id == agent_id:
                # logged as a note (reason "disposition"), as EndWrapUp does: the shard's events
                # do not carry the controller's copy of the record's data
                site_media.wrap_up_note(c, agent, cid, str(args["disposition"]), str(args.get("notes", "")))
            command = ("complete", cid, wrap)
        case "end_wrap_up":
            if args.get("contact_id") and (args.get("disposition") or args.get("notes")):
                site_media.wrap_up_note(c, agent, str(args["contact_id"]), str(args.get("disposition", "")),
                                        str(args.get("notes", "")))
            # one contact's wrap-up (a desk with several chats ends each apart), or all when none is named
            command = ("end_wrap_up", agent_id, str(args["contact_id"]) if args.get("contact_id") else None)
        case "hold" | "resume" | "transfer" | "consult" | "chat":
            return await site_media.agent_media_command(c, agent, op, args)
        case "logout":
            result = await c._call(agent.shard, ("logout", agent_id))
            await forget_agent(c, agent_id)
            return result
        case _:
            return CommandResult(0, False, f"unknown command {op!r}")
    return await c._call(agent.shard, command)


async def login(c: SiteController, stream: AgentStream, agent_id: str, password: str,
                session_token: str = "") -> CommandResult:
    if agent_id not in c.center.agents:
        return CommandResult(0, False, f"unknown agent {agent_id!r}")
    if session_token:
        error = _check_session(c, agent_id, session_token)
        if error:
            return CommandResult(0, False, error)
    elif not await asyncio.to_thread(c.verify_password, agent_id, password):  # PBKDF2: off the loop
        return CommandResult(0, False, "wrong password")
    if agent_id in c.agents:
        c.agents[agent_id].stream = stream
        stream.agents.add(agent_id)
        return CommandResult(0, True, state=c.agents[agent_id].state)
    try:
        claim = await c.ownership.claim(agent_id, c.session.token)
    except FencedError:
        return CommandResult(0, False, f"site {c.site} is fenced: log in at another site")
    except CoordError as e:
        return CommandResult(0, False, f"could not claim agent ownership: {e}")
    if not claim.acquired:
        return CommandResult(0, False, f"agent {agent_id} is logged in at site {claim.owner}",
                             state="owned_elsewhere")
    shard = shard_of(agent_id, len(c.shards))
    c.agents[agent_id] = LoggedInAgent(agent_id, shard, stream)
    stream.agents.add(agent_id)
    return await c._call(shard, ("login", agent_id, False))


_secrets: dict[str, bytes] = {}


def _check_session(c: SiteController, agent_id: str, token: str) -> str:
    """A web front door's signed session stands in for the password (the desktop moved sites)."""
    path = session.secret_path(c.settings.run_dir)
    try:
        secret = _secrets.get(str(path)) or _secrets.setdefault(str(path), session.load_or_create_secret(path))
        signed = session.verify(secret, token, time.time())  # wall time, as the front door signed it
    except (session.BadSession, OSError) as e:
        return f"session refused: {e}"
    if signed.agent_id != agent_id:
        return "session refused: it belongs to another agent"
    return ""


async def disconnect(c: SiteController, stream: AgentStream) -> None:
    """A session stream ended: its agents are logged out (their contacts go back to queue)."""
    for agent_id in list(stream.agents):
        agent = c.agents.get(agent_id)
        if agent is not None and agent.stream is stream:
            await c._call(agent.shard, ("logout", agent_id))
            await forget_agent(c, agent_id)


async def forget_agent(c: SiteController, agent_id: str) -> None:
    agent = c.agents.pop(agent_id, None)
    if agent is not None:
        agent.stream.agents.discard(agent_id)
    with contextlib.suppress(CoordError):
        await c.ownership.release(agent_id, c.site)


def push_offer(c: SiteController, agent: LoggedInAgent, cid: str, ts: float) -> None:
    placed = c.contacts.get(cid)
    if placed is None:
        return
    rec = placed.record
    agent.stream.push(agent.agent_id, "offer", {
        "contact_id": cid, "tenant": rec.tenant, "queue": rec.queue or "", "channel": rec.channel.value,
        "caller_id": rec.caller_id, "waited_s": ts - (placed.queued_at or rec.arrived_at),
        "data": {k: str(v) for k, v in rec.data.items()},
    })  # fmt: skip
