"""Agent ownership: while an agent is logged in, exactly one site owns it, and only that site's ACD
reserves it, so no agent is ever offered two contacts by two sites.

``agents/<agent_id>/owner`` holds the owner site's name and rides on the owner's session lease.
A claim is a transaction on "the key does not exist" (and "my session is the live one"), so of any
number of concurrent claims exactly one creates the key. When the owner site dies or fences, its
lease expires, its ownership keys vanish with it, and the agent may log in at another site.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcc.coord.client import Compare, Delete, EtcdClient, Get, Put, absent, mod_is
from vcc.coord.keys import CoordKeys, check_id
from vcc.coord.session import SessionToken
from vcc.errors import FencedError


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of a claim: who owns the agent now (``owner`` is "" if nobody could be read),
    and whether that is the claiming site."""

    agent_id: str
    owner: str
    acquired: bool


class AgentOwnership:
    def __init__(self, client: EtcdClient, keys: CoordKeys) -> None:
        self.client = client
        self.keys = keys

    async def claim(self, agent_id: str, token: SessionToken, *, max_attempts: int = 5) -> Claim:
        """Make ``token.site`` the agent's owner if nobody owns it (or refresh our own ownership onto
        the current lease after a rejoin). Returns the actual owner; raises FencedError if the
        token's session is no longer the live one."""
        key = self.keys.agent_owner(check_id("agent", agent_id))
        site = token.site.encode()
        for _ in range(max_attempts):
            result = await self.client.txn(
                [absent(key), token.guard()],
                [Put(key, site, token.lease_id)],
                [Get(key), Get(token.session_key)],
            )
            if result.succeeded:
                return Claim(agent_id, token.site, True)
            owner_kv, session_kv = result.gets
            if session_kv is None or session_kv.mod_revision != token.epoch:
                raise FencedError(f"site {token.site}: session epoch {token.epoch} is no longer live")
            if owner_kv is None:
                continue  # the owner's lease expired between the compare and the read: try again
            if owner_kv.value != site:
                return Claim(agent_id, owner_kv.text, False)
            if owner_kv.lease == token.lease_id:
                return Claim(agent_id, token.site, True)  # already ours (an idempotent re-claim)
            # Ours, but from a previous session of this site: move it onto the live lease.
            moved = await self.client.txn(
                [mod_is(key, owner_kv.mod_revision), token.guard()], [Put(key, site, token.lease_id)]
            )
            if moved.succeeded:
                return Claim(agent_id, token.site, True)
        owner = await self.owner_of(agent_id)
        return Claim(agent_id, owner or "", owner == token.site)

    async def release(self, agent_id: str, site: str) -> bool:
        """Give up ownership (the agent logged out). Only deletes the key if ``site`` owns it."""
        key = self.keys.agent_owner(check_id("agent", agent_id))
        result = await self.client.txn([Compare(key, "value", "==", site.encode())], [Delete(key)])
        return result.succeeded

    async def owner_of(self, agent_id: str) -> str | None:
        kv = await self.client.get(self.keys.agent_owner(check_id("agent", agent_id)))
        return kv.text if kv is not None else None

    async def owners(self) -> dict[str, str]:
        """agent_id → owner site, for every logged-in agent of the cluster."""
        kvs, _ = await self.client.get_prefix(self.keys.agents_prefix)
        out: dict[str, str] = {}
        for kv in kvs:
            agent = self.keys.parse_agent_owner(kv.key)
            if agent is not None:
                out[agent] = kv.text
        return out

    async def owned_by(self, site: str) -> list[str]:
        return sorted(a for a, s in (await self.owners()).items() if s == site)
