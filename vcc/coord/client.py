"""A small typed client over aetcd: the only module of vcc that touches aetcd's untyped objects.

Everything above this module sees frozen dataclasses (:class:`KeyValue`, :class:`WatchEvent`,
:class:`TxnResult`) and one error type, :class:`~vcc.errors.CoordError` (retryable). Transactions
are built from :class:`Compare` and :class:`Put`/:class:`Delete`/:class:`Get` values rather than
aetcd's operator-overloading helpers, and ranges are read in pages at one revision so a large
prefix never exceeds a gRPC message.

Requests carry etcd's ``hasleader`` metadata: a member that has lost its leader (its site is cut
off from the quorum) fails them at once with UNAVAILABLE instead of letting them hang, and cancels
watch streams, so callers learn about isolation quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Self

import aetcd
from aetcd import rpc

from vcc.errors import CompactedError, CoordError

_REQUIRE_LEADER = (("hasleader", "true"),)
_CHANNEL_OPTIONS: dict[str, int] = {
    # Reconnect quickly once a restarted member listens again (gRPC's default backoff grows to 120 s).
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.max_receive_message_length": 32 * 1024 * 1024,
}
_OPS = {"==": rpc.Compare.EQUAL, "!=": rpc.Compare.NOT_EQUAL, "<": rpc.Compare.LESS, ">": rpc.Compare.GREATER}
_TARGETS = {
    "version": rpc.Compare.VERSION,
    "create": rpc.Compare.CREATE,
    "mod": rpc.Compare.MOD,
    "value": rpc.Compare.VALUE,
    "lease": rpc.Compare.LEASE,
}


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key as etcd stores it. ``lease`` is 0 for keys not attached to a lease."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int

    @property
    def text(self) -> str:
        return self.value.decode()


class EventKind(Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change seen by a watch. For DELETE, ``kv.mod_revision`` is the revision of the deletion."""

    kind: EventKind
    kv: KeyValue


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a transaction: ``target(key) op operand``."""

    key: str
    target: Literal["version", "create", "mod", "value", "lease"]
    op: Literal["==", "!=", "<", ">"]
    operand: int | bytes


def absent(key: str) -> Compare:
    """The key does not exist (its version is 0)."""
    return Compare(key, "version", "==", 0)


def present(key: str) -> Compare:
    return Compare(key, "version", ">", 0)


def mod_is(key: str, revision: int) -> Compare:
    """The key was last written at ``revision`` (0: it does not exist)."""
    return Compare(key, "mod", "==", revision)


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes
    lease: int = 0


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


@dataclass(frozen=True, slots=True)
class Get:
    key: str


Op = Put | Delete | Get


@dataclass(frozen=True, slots=True)
class TxnResult:
    """``succeeded`` says which branch ran; ``gets`` holds the result of each Get op of that branch."""

    succeeded: bool
    revision: int
    gets: tuple[KeyValue | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Lease:
    id: int
    ttl_s: int


@dataclass(frozen=True, slots=True)
class MemberStatus:
    member_id: int
    leader_id: int
    raft_term: int
    revision: int


def prefix_end(prefix: str) -> bytes:
    """The range end that selects every key starting with ``prefix``."""
    b = bytearray(prefix.encode())
    for i in reversed(range(len(b))):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return b"\x00"


def _kv(raw: Any) -> KeyValue:
    return KeyValue(
        raw.key.decode(), bytes(raw.value), raw.create_revision, raw.mod_revision, raw.version, raw.lease
    )


def _error(exc: BaseException, what: str) -> CoordError:
    if isinstance(exc, aetcd.RevisionCompactedError):
        return CompactedError(int(exc.compacted_revision))
    if isinstance(exc, rpc.AioRpcError):
        return CoordError(f"etcd {what}: {exc.code().name}: {exc.details()}")
    if isinstance(exc, TimeoutError):
        return CoordError(f"etcd {what}: timed out")
    return CoordError(f"etcd {what}: {exc}")


_FAILURES = (aetcd.ClientError, rpc.AioRpcError, TimeoutError)


def _member_unavailable(exc: BaseException) -> bool:
    """The member could not serve the request (down, unreachable, or without a leader), as another
    member may: not an answer, a timeout or a refused request."""
    if isinstance(exc, aetcd.ConnectionFailedError | aetcd.ConnectionTimeoutError):
        return True
    return isinstance(exc, rpc.AioRpcError) and exc.code() == rpc.StatusCode.UNAVAILABLE


class EtcdClient:
    """A connection to one etcd member at a time: the site's own (``host``, ``port``), then, once it
    cannot serve (down, or cut off from its leader), the next of ``fallbacks`` in turn. A site whose
    member alone dies keeps its session through another member instead of being taken for dead.
    The request that failed is not retried here (callers retry: every write vcc sends is guarded);
    watches on the old member end and their callers watch again. Use as ``async with
    EtcdClient(...)``.

    ``timeout_s`` bounds every unary request; keepalive and grant take their own timeout so the
    session can bound them by its fencing deadline.
    """

    def __init__(
        self, host: str, port: int, *, timeout_s: float = 2.0, fallbacks: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.endpoints = [(host, port), *((h, p) for h, p in fallbacks if (h, p) != (host, port))]
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.failovers = 0
        self._at = 0
        self._c: Any = self._client(host, port)
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    def _client(self, host: str, port: int) -> Any:
        return aetcd.Client(host, port, timeout=self.timeout_s, options=dict(_CHANNEL_OPTIONS))

    def _failed(self, used: Any, exc: BaseException) -> None:
        """``used`` (the aetcd client a request went through) failed with ``exc``: if its member
        could not serve and there is another, move to the next member (once per failed client, however
        many requests were in flight on it)."""
        if len(self.endpoints) < 2 or used is not self._c or not _member_unavailable(exc):
            return
        self._at = (self._at + 1) % len(self.endpoints)
        self.host, self.port = self.endpoints[self._at]
        self._c = self._client(self.host, self.port)
        self.failovers += 1
        # closed aside and later: closing a channel cancels the calls still on it (a keepalive would
        # raise CancelledError into the session's loop), and a channel to a dead member can take long
        task = asyncio.get_running_loop().create_task(self._close_quietly(used))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_quietly(self, client: Any) -> None:
        with contextlib.suppress(*_FAILURES, RuntimeError, asyncio.CancelledError):
            await asyncio.sleep(max(10.0, 2 * self.timeout_s))  # every call on it has timed out by then
            await asyncio.wait_for(client.close(), 10.0)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        if self._c.channel is not None:
            return
        async with self._lock:
            c = self._c
            if c.channel is None:
                # aetcd resets metadata on close; set it before every connect so watches get it too.
                c.metadata = _REQUIRE_LEADER
            try:
                await c.connect()
            except _FAILURES as e:
                self._failed(c, e)
                raise _error(e, "connect") from e

    async def close(self) -> None:
        with contextlib.suppress(*_FAILURES):
            await self._c.close()

    async def _unary(self, stub: str, method: str, request: Any, timeout_s: float | None = None) -> Any:
        await self.connect()
        c = self._c
        call = getattr(getattr(c, stub), method)
        try:
            return await call(request, timeout=self.timeout_s if timeout_s is None else timeout_s, metadata=c.metadata)
        except _FAILURES as e:
            self._failed(c, e)
            raise _error(e, method) from e

    async def get(self, key: str) -> KeyValue | None:
        resp = await self._unary("kvstub", "Range", rpc.RangeRequest(key=key.encode()))
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def get_prefix(self, prefix: str, *, page_size: int = 1000) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` (sorted by key) and the revision they were read at, reading
        ``page_size`` keys per request, all at the same revision."""
        end = prefix_end(prefix)
        start, revision = prefix.encode(), 0
        out: list[KeyValue] = []
        while True:
            req = rpc.RangeRequest(key=start, range_end=end, limit=page_size, revision=revision)
            resp = await self._unary("kvstub", "Range", req)
            revision = revision or resp.header.revision
            out.extend(_kv(kv) for kv in resp.kvs)
            if not resp.more or not resp.kvs:
                return out, revision
            start = resp.kvs[-1].key + b"\x00"

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        """Write ``key``; returns the revision of the write."""
        resp = await self._unary("kvstub", "Put", rpc.PutRequest(key=key.encode(), value=value, lease=lease))
        return int(resp.header.revision)

    async def delete(self, key: str) -> bool:
        resp = await self._unary("kvstub", "DeleteRange", rpc.DeleteRangeRequest(key=key.encode()))
        return bool(resp.deleted)

    async def delete_prefix(self, prefix: str) -> int:
        req = rpc.DeleteRangeRequest(key=prefix.encode(), range_end=prefix_end(prefix))
        return int((await self._unary("kvstub", "DeleteRange", req)).deleted)

    async def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        """One atomic transaction (etcd allows at most 128 ops per branch; vcc stays ≤ 100).

        A transport error leaves the outcome unknown: callers re-read and retry, so every
        transaction vcc sends is guarded to be idempotent."""
        req = rpc.TxnRequest(
            compare=[_compare(c) for c in compare],
            success=[_op(o) for o in success],
            failure=[_op(o) for o in failure],
        )
        resp = await self._unary("kvstub", "Txn", req)
        gets = tuple(
            _kv(r.response_range.kvs[0]) if r.response_range.kvs else None
            for r in resp.responses
            if r.WhichOneof("response") == "response_range"
        )
        return TxnResult(bool(resp.succeeded), int(resp.header.revision), gets)

    async def grant(self, ttl_s: int, *, timeout_s: float | None = None) -> Lease:
        resp = await self._unary("leasestub", "LeaseGrant", rpc.LeaseGrantRequest(TTL=ttl_s), timeout_s)
        if resp.error:
            raise CoordError(f"etcd LeaseGrant: {resp.error}")
        return Lease(int(resp.ID), int(resp.TTL))

    async def keepalive_once(self, lease_id: int, *, timeout_s: float | None = None) -> int:
        """Refresh a lease once; returns its new TTL in seconds, 0 if the lease no longer exists."""
        await self.connect()
        c = self._c
        call = c.leasestub.LeaseKeepAlive(
            iter([rpc.LeaseKeepAliveRequest(ID=lease_id)]),
            timeout=self.timeout_s if timeout_s is None else timeout_s,
            metadata=c.metadata,
        )
        try:
            reply = await call.read()
        except _FAILURES as e:
            self._failed(c, e)
            raise _error(e, "LeaseKeepAlive") from e
        finally:
            call.cancel()
        if reply is None or not hasattr(reply, "TTL"):
            raise CoordError("etcd LeaseKeepAlive: stream ended without a reply")
        return max(0, int(reply.TTL))

    async def revoke(self, lease_id: int, *, timeout_s: float | None = None) -> bool:
        """Revoke a lease (deleting its keys); False if it had already expired."""
        try:
            await self._unary("leasestub", "LeaseRevoke", rpc.LeaseRevokeRequest(ID=lease_id), timeout_s)
        except CoordError as e:
            if "lease not found" in str(e):
                return False
            raise
        return True

    async def lease_ttl(self, lease_id: int) -> int:
        """Remaining TTL in seconds; -1 if the lease does not exist."""
        resp = await self._unary("leasestub", "LeaseTimeToLive", rpc.LeaseTimeToLiveRequest(ID=lease_id))
        return int(resp.TTL)

    async def status(self) -> MemberStatus:
        resp = await self._unary("maintenancestub", "Status", rpc.StatusRequest())
        header = resp.header
        return MemberStatus(int(header.member_id), int(resp.leader), int(resp.raftTerm), int(header.revision))

    async def watch(
        self, key: str, *, start_revision: int, prefix: bool = False
    ) -> AsyncGenerator[WatchEvent, None]:
        """Events on ``key`` (every key under it if ``prefix``) from ``start_revision`` (inclusive),
        until an error ends the stream (raised as CoordError; CompactedError if that revision is
        gone). Use with ``contextlib.aclosing`` so the server-side watch is cancelled when the
        caller stops early."""
        await self.connect()
        c = self._c
        try:
            watch = await c.watch(
                key.encode(), range_end=prefix_end(key) if prefix else None, start_revision=start_revision
            )
        except _FAILURES as e:
            self._failed(c, e)
            raise _error(e, "Watch") from e
        try:
            async for ev in watch:
                kind = EventKind.PUT if ev.kind == "PUT" else EventKind.DELETE
                yield WatchEvent(kind, _kv(ev.kv))
        except _FAILURES as e:  # a watch stream also ends for reasons of its own: not a reason to move
            raise _error(e, "Watch") from e
        finally:
            with contextlib.suppress(*_FAILURES, RuntimeError):
                await watch.cancel()
        raise CoordError("etcd Watch: stream ended")


def _compare(c: Compare) -> Any:
    msg = rpc.Compare(key=c.key.encode(), target=_TARGETS[c.target], result=_OPS[c.op])
    if c.target == "value":
        if not isinstance(c.operand, bytes):
            raise TypeError("a value comparison needs bytes")
        msg.value = c.operand
    elif isinstance(c.operand, bytes):
        raise TypeError(f"a {c.target} comparison needs an int")
    elif c.target == "version":
        msg.version = c.operand
    elif c.target == "create":
        msg.create_revision = c.operand
    elif c.target == "mod":
        msg.mod_revision = c.operand
    else:
        msg.lease = c.operand
    return msg


def _op(o: Op) -> Any:
    if isinstance(o, Put):
        return rpc.RequestOp(request_put=rpc.PutRequest(key=o.key.encode(), value=o.value, lease=o.lease))
    if isinstance(o, Delete):
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=o.key.encode()))
    return rpc.RequestOp(request_range=rpc.RangeRequest(key=o.key.encode()))
