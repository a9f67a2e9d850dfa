"""The contact lifecycle: one customer interaction on one channel, from arrival to a terminal state.

::

    arrived -> ivr -> queued -> offered -> connected -> wrap_up -> completed
                        ^   \\      |          |
                        |    \\     |(reject,  +-> transferred -> queued (or targeted at an agent)
                        +-----\\----+ timeout)
                               +-> abandoned | callback_requested | failed

Every transition is checked against ``TRANSITIONS`` (anything else raises
:class:`~vcc.errors.InvalidTransition`) and returns one :class:`~vcc.core.events.ContactEvent`.
A transferred contact keeps its id, so its event history simply continues; an offer that is rejected
or times out puts the contact back in its queue with its original enqueue time (its FIFO position)
and priority.
"""

from __future__ import annotations

from typing import Any

from vcc.core.eventbuild import contact_event
from vcc.core.events import ContactEvent
from vcc.core.model import Channel, ContactState
from vcc.errors import InvalidTransition

S = ContactState
# Module constants: an enum member looked up on its class costs ~90 ns, a global ~5 ns.
ARRIVED, IVR, QUEUED, OFFERED = S.ARRIVED, S.IVR, S.QUEUED, S.OFFERED
CONNECTED, WRAP_UP, COMPLETED, TRANSFERRED = S.CONNECTED, S.WRAP_UP, S.COMPLETED, S.TRANSFERRED
ABANDONED, FAILED, CALLBACK_REQUESTED = S.ABANDONED, S.FAILED, S.CALLBACK_REQUESTED

#: Allowed moves. ``queued -> queued`` is an overflow (or a move) to another queue.
TRANSITIONS: dict[ContactState, frozenset[ContactState]] = {
    S.ARRIVED: frozenset({S.IVR, S.QUEUED, S.ABANDONED, S.FAILED}),
    S.IVR: frozenset({S.QUEUED, S.ABANDONED, S.FAILED, S.CALLBACK_REQUESTED, S.COMPLETED}),
    S.QUEUED: frozenset({S.QUEUED, S.OFFERED, S.ABANDONED, S.FAILED, S.CALLBACK_REQUESTED}),
    S.OFFERED: frozenset({S.CONNECTED, S.QUEUED, S.ABANDONED, S.FAILED}),
    S.CONNECTED: frozenset({S.WRAP_UP, S.COMPLETED, S.TRANSFERRED, S.FAILED}),
    S.WRAP_UP: frozenset({S.COMPLETED}),
    S.TRANSFERRED: frozenset({S.QUEUED, S.COMPLETED, S.ABANDONED, S.FAILED}),
    S.CALLBACK_REQUESTED: frozenset({S.QUEUED, S.COMPLETED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.ABANDONED: frozenset(),
    S.FAILED: frozenset(),
}
TERMINAL: frozenset[ContactState] = frozenset({S.COMPLETED, S.ABANDONED, S.FAILED})


class Contact:
    """One customer interaction. Routing fields (``queue``, ``priority``, ``skills``,
    ``enqueued_at``) are read by the router; ``agent_id`` is the agent offered or connected."""

    # What the router reads and writes comes first: a contact that has waited or talked for a while
    # is cold in the cache, and these then share its first cache lines.
    __slots__ = (
        "state", "id", "tenant", "channel", "queue", "agent_id",
        "_entry", "_offer", "skills", "enqueued_at", "priority", "vip_boost", "_order", "target_agent",
        "queue_entered_at", "offers", "ended_at", "reason", "_ripe",
        "entry_point", "caller_id", "data", "arrived_at", "vip", "transfers",
    )  # fmt: skip

    def __init__(
        self,
        id: str,
        tenant: str,
        channel: Channel,
        arrived_at: float,
        *,
        entry_point: str = "",
        caller_id: str = "",
        data: dict[str, Any] | None = None,
        priority: int = 0,
        queue: str | None = None,
        skills: dict[str, int] | None = None,
    ) -> None:
        self.id = id
        self.tenant = tenant
        self.channel = channel
        self.entry_point = entry_point
        self.caller_id = caller_id
        self.data: dict[str, Any] = {} if data is None else data  # attached data (IVR inputs, CRM ids)
        self.arrived_at = arrived_at
        self.priority = priority  # points on top of the queue's base priority (IVR, VIP boost)
        self.queue = queue  # current (or, at arrival, requested) queue
        self.skills: dict[str, int] = {} if skills is None else skills  # extra skill -> min proficiency
        self.state = ARRIVED
        self.agent_id: str | None = None
        self.target_agent: str | None = None  # set while queued for one agent (transfer-to-agent)
        self.vip = False
        self.vip_boost = 0  # the tenant's VIP boost, set on arrival; added to priority when queued
        self.enqueued_at: float | None = None  # first entry in a queue; FIFO position and aging
        self.queue_entered_at: float | None = None  # entry in the current queue; max_wait_s
        self.offers = 0
        self.transfers = 0
        self.reason: str | None = None
        self.ended_at: float | None = None
        # Router bookkeeping: current queue heap entry (identity marks it live), FIFO tie-break,
        # current offer timer's sequence number, shared-pool eligibility.
        self._entry: tuple[Any, ...] | None = None
        self._order = 0
        self._offer: int | None = None
        self._ripe = False  # shared agents may take it (waited the queue's shared_after_s)

    def __repr__(self) -> str:
        return f"Contact({self.id!r}, {self.channel}, {self.state}, queue={self.queue!r})"

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def can(self, state: ContactState) -> bool:
        return state in TRANSITIONS[self.state]

    def move(
        self,
        state: ContactState,
        now: float,
        *,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> ContactEvent:
        """Go to ``state`` (checked against ``TRANSITIONS``) and return the event."""
        prev = self.state
        if state not in TRANSITIONS[prev]:
            raise InvalidTransition(f"contact {self.id}", prev.value, state.value)
        self.state = state
        if state in TERMINAL:
            self.ended_at = now
            self.reason = reason
        return contact_event(
            now, self.id, self.tenant, self.channel, state, prev, self.queue, self.agent_id, reason, data
        )

    # Named moves: each sets what the new state means, then records the move.

    def start_ivr(self, now: float) -> ContactEvent:
        return self.move(IVR, now)

    def enqueue(
        self,
        queue: str,
        now: float,
        *,
        reason: str | None = None,
        target_agent: str | None = None,
        enqueued_at: float | None = None,
    ) -> ContactEvent:
        """Enter ``queue`` (from arrival, the IVR, a callback, a transfer or an overflow), or wait
        for ``target_agent`` with ``queue`` as fallback. The event's ``agent_id`` is the target.
        ``enqueued_at`` keeps the place in line of a contact handed over from another router."""
        if QUEUED not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"contact {self.id}", self.state.value, QUEUED.value)
        return self._enqueued(queue, now, reason, target_agent, enqueued_at)

    def _enqueued(
        self, queue: str, now: float, reason: str | None, target_agent: str | None, enqueued_at: float | None
    ) -> ContactEvent:
        """``enqueue`` without its check, for the router, which checked the move."""
        prev = self.state
        self.queue = queue
        self.queue_entered_at = now
        if self.enqueued_at is None or prev is TRANSFERRED or prev is CALLBACK_REQUESTED:
            self.enqueued_at = now  # a new wait; an overflow or a move keeps the first one
        if enqueued_at is not None:
            self.enqueued_at = enqueued_at
        self.agent_id = None
        self.target_agent = target_agent
        self.state = QUEUED
        return contact_event(now, self.id, self.tenant, self.channel, QUEUED, prev, queue, target_agent, reason)

    def offer(self, agent_id: str, now: float) -> ContactEvent:
        if self.state is not QUEUED:
            raise InvalidTransition(f"contact {self.id}", self.state.value, OFFERED.value)
        return self._offered(agent_id, now)

    def _offered(self, agent_id: str, now: float) -> ContactEvent:
        """``offer`` without its check, for the router, which offers only contacts it holds queued."""
        self.agent_id = agent_id
        self.offers += 1
        self.state = OFFERED
        return contact_event(now, self.id, self.tenant, self.channel, OFFERED, QUEUED, self.queue, agent_id, None)

    def requeue(self, now: float, *, reason: str) -> ContactEvent:
        """An offer was rejected, timed out or withdrawn: back to the queue, keeping the original
        enqueue time (FIFO position) and priority."""
        if self.state is not OFFERED:
            raise InvalidTransition(f"contact {self.id}", self.state.value, QUEUED.value)
        agent = self.agent_id
        self.agent_id = None
        self.state = QUEUED
        return contact_event(now, self.id, self.tenant, self.channel, QUEUED, OFFERED, self.queue, agent, reason)

    def connect(self, now: float) -> ContactEvent:
        if self.state is not OFFERED:
            raise InvalidTransition(f"contact {self.id}", self.state.value, CONNECTED.value)
        self.target_agent = None
        self.state = CONNECTED
        return contact_event(
            now, self.id, self.tenant, self.channel, CONNECTED, OFFERED, self.queue, self.agent_id, None
        )

    def _completed(self, now: float) -> ContactEvent:
        """``move(COMPLETED, now)`` from wrap-up, for the router, which knows the contact is in it."""
        self.state = COMPLETED
        self.ended_at = now
        self.reason = None
        return contact_event(
            now, self.id, self.tenant, self.channel, COMPLETED, WRAP_UP, self.queue, self.agent_id, None, None
        )

    def transfer(self, now: float, *, reason: str | None = None) -> ContactEvent:
        self.transfers += 1
        return self.move(TRANSFERRED, now, reason=reason)
