"""The agent state machine: presence (logged out, ready, not ready with a reason code) plus the
contacts in hand, each offered, connected or in wrap-up, up to a per-channel capacity.

The agent's ``state`` is derived from both, most urgent first: ``logged_out``; ``reserved`` while an
offer is outstanding; ``busy`` while any contact is connected; ``wrap_up`` while after-call work is
open; otherwise ``ready`` or ``not_ready``. Going not-ready while busy is allowed ("pending
not-ready"): contacts in hand finish, no new offers come.

Cross-channel rule (:class:`ChannelBlend`): by default voice is exclusive, which is what operators
expect of a person on the phone: a voice contact (offered, connected or in wrap-up) blocks every
other offer, and a voice contact is offered only to an agent with nothing in hand. Chat, email and
SMS blend freely, each up to its own capacity. ``ChannelBlend.BLENDED`` makes every channel
independent (voice too), for centers that want that.

A contact in wrap-up keeps its slot: an agent with voice capacity 1 gets no new call before its
wrap-up ends (``tick(now)`` once ``now >= wrap_until``, or ``end_wrap_up``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from vcc.core.eventbuild import agent_event
from vcc.core.events import AgentEvent
from vcc.core.model import AgentProfile, AgentState, Channel, Pool
from vcc.errors import CapacityError, InvalidTransition

A = AgentState
# Module constants: an enum member looked up on its class costs ~90 ns, a global ~5 ns.
LOGGED_OUT, READY, NOT_READY = A.LOGGED_OUT, A.READY, A.NOT_READY
RESERVED, BUSY, WRAP_UP = A.RESERVED, A.BUSY, A.WRAP_UP

#: After-call work when neither the call nor the router says otherwise.
DEFAULT_WRAP_UP_S = 10.0

_CHANNELS = tuple(Channel)
_CHANNEL_KEYS = tuple(ch.value for ch in Channel)
# A channel's key in ``load`` and ``capacity``: a plain str, since a dict of str keys looks up a str
# ~50 ns faster than a StrEnum member. This map is keyed by the members themselves (found by identity).
CHANNEL_KEY: dict[Channel, str] = {ch: ch.value for ch in Channel}
# Capacity maps, one per distinct capacity: agents with the same capacity share one, which stays in
# cache however many agents a router holds (capacity is read on every offer). The public
# ``capacity`` is a read-only view; the hot path reads the dict behind it.
_CAPACITIES: dict[tuple[int, ...], tuple[dict[str, int], Mapping[str, int]]] = {}


def _capacity(profile: AgentProfile) -> tuple[dict[str, int], Mapping[str, int]]:
    counts = tuple(profile.capacity.get(ch, 0) for ch in _CHANNELS)
    shared = _CAPACITIES.get(counts)
    if shared is None:
        plain = dict(zip(_CHANNEL_KEYS, counts, strict=True))
        shared = _CAPACITIES[counts] = (plain, MappingProxyType(plain))
    return shared


class ChannelBlend(StrEnum):
    VOICE_EXCLUSIVE = "voice_exclusive"  # voice blocks everything else, and needs an empty hand
    BLENDED = "blended"  # every channel independent, up to its own capacity


class Agent:
    """One agent's presence and contacts in hand. Every move returns an :class:`AgentEvent`;
    a move the current state does not allow raises ``InvalidTransition``, an offer beyond free
    capacity ``CapacityError``."""

    # The slots a routing decision reads come first: an agent of 10,000 is cold in the cache, and
    # these then share its first cache lines.
    __slots__ = (
        "_order", "available", "in_hand", "load", "voice_exclusive", "idle_since", "_capacity",
        "_routes", "id", "state", "offers", "_acc_at", "reason_code", "connected", "wrapping",
        "_targeted", "is_dedicated", "handling_s", "ready_s",
        "profile", "pool", "capacity", "blend", "logged_in_at",
    )  # fmt: skip

    def __init__(self, profile: AgentProfile, *, blend: ChannelBlend = ChannelBlend.VOICE_EXCLUSIVE) -> None:
        self.profile = profile
        self.id = profile.id
        self.pool = profile.pool
        self.is_dedicated = profile.pool is Pool.DEDICATED
        self._capacity, self.capacity = _capacity(profile)  # channel -> contacts at once (shared)
        self.blend = blend
        self.voice_exclusive = blend is ChannelBlend.VOICE_EXCLUSIVE
        self.state = LOGGED_OUT
        self.available = False  # wants offers (ready) as opposed to not ready
        self.reason_code: str | None = None
        self.load: dict[str, int] = dict.fromkeys(_CHANNEL_KEYS, 0)  # contacts in hand per channel
        self.in_hand = 0
        self.offers: dict[str, Channel] = {}  # contact id -> channel, offer outstanding
        self.connected: dict[str, Channel] = {}
        self.wrapping: dict[str, tuple[Channel, float]] = {}  # contact id -> (channel, wrap_until)
        self.idle_since = 0.0  # last time it became ready, or was given or released a contact
        self.logged_in_at: float | None = None
        self.handling_s = 0.0  # time with a contact connected or in wrap-up
        self.ready_s = 0.0  # time ready and waiting for work (staffed = handling + ready)
        self._acc_at = 0.0
        # Router bookkeeping: its place in idle order, contacts transferred to it and waiting, its
        # precomputed routes (``vcc.core.dispatch.Routes``).
        self._order = 0
        self._targeted: list[Any] = []
        self._routes: Any = None

    def __repr__(self) -> str:
        return f"Agent({self.id!r}, {self.state}, load={self.load})"

    @property
    def _index(self) -> Sequence[Any]:
        """The router's free-agent levels this agent belongs in now (for the router's checks)."""
        return () if self._routes is None else self._routes.levels_for(self)

    def occupancy(self) -> float:
        """Share of staffed time (handling plus ready-and-idle) spent handling contacts, up to the
        last move; 0.0 before any staffed time."""
        staffed_s = self.staffed_s
        return self.handling_s / staffed_s if staffed_s > 0 else 0.0

    @property
    def staffed_s(self) -> float:
        """Handling time plus time ready and waiting for work, up to the last move. (Kept as two
        sums so that each move adds to one of them only.)"""
        return self.handling_s + self.ready_s

    def free(self, channel: str) -> bool:
        """Whether one more contact on ``channel`` fits (capacity and the cross-channel rule);
        presence is not considered."""
        load = self.load
        if load[channel] >= self._capacity[channel]:
            return False
        if self.voice_exclusive:
            return self.in_hand == 0 if channel == "voice" else load["voice"] == 0
        return True

    def can_take(self, channel: str) -> bool:
        """Logged in, ready, and with room on ``channel``."""
        return self.available and self.free(channel)

    # -- internals ------------------------------------------------------------------------------

    def _account(self, now: float) -> None:
        """Add the time since the last move to handling or staffed time (call before the move)."""
        dt = now - self._acc_at
        if dt > 0:
            if self.in_hand > len(self.offers):  # something connected or in wrap-up (see _release)
                self.handling_s += dt
            elif self.available:
                self.ready_s += dt
            self._acc_at = now

    def _settle(self) -> AgentState:
        if self.offers:
            state = RESERVED
        elif self.connected:
            state = BUSY
        elif self.wrapping:
            state = WRAP_UP
        else:
            state = READY if self.available else NOT_READY
        self.state = state
        return state

    def _event(
        self, now: float, prev: AgentState, contact_id: str | None = None, channel: Channel | None = None
    ) -> AgentEvent:
        return agent_event(now, self.id, self._settle(), prev, self.reason_code, contact_id, channel, self.load.copy())

    def _bad(self, requested: str) -> InvalidTransition:
        return InvalidTransition(f"agent {self.id}", self.state.value, requested)

    # -- presence -------------------------------------------------------------------------------

    def login(self, now: float) -> AgentEvent:
        """Logged out -> not ready (``reason_code`` "login"); ``ready`` starts offers."""
        if self.state is not LOGGED_OUT:
            raise self._bad("logged_in")
        self.logged_in_at = self.idle_since = self._acc_at = now
        self.reason_code = "login"
        return self._event(now, LOGGED_OUT)

    def ready(self, now: float) -> AgentEvent:
        if self.state is LOGGED_OUT or self.available:
            raise self._bad("ready")
        self._account(now)
        prev = self.state
        self.available = True
        self.reason_code = None
        self.idle_since = now
        return self._event(now, prev)

    def not_ready(self, now: float, reason_code: str) -> AgentEvent:
        """Stop new offers (contacts in hand continue); also changes the reason code of an agent
        already not ready."""
        if self.state is LOGGED_OUT:
            raise self._bad("not_ready")
        self._account(now)
        prev = self.state
        self.available = False
        self.reason_code = reason_code
        return self._event(now, prev)

    def logout(self, now: float) -> AgentEvent:
        """Only with empty hands: the router first withdraws offers and settles the rest."""
        if self.state is LOGGED_OUT or self.in_hand:
            raise self._bad("logged_out")
        self._account(now)
        prev = self.state
        self.available = False
        self.reason_code = None
        self.logged_in_at = None
        self.state = LOGGED_OUT
        return agent_event(now, self.id, LOGGED_OUT, prev, None, None, None, self.load.copy())

    # -- contacts -------------------------------------------------------------------------------

    def offer(self, contact_id: str, channel: Channel, now: float) -> AgentEvent:
        """Reserve room for one contact: ready -> reserved (or busy -> reserved for a second chat)."""
        if not self.available:
            raise self._bad("reserved")
        load = self.load
        if load[channel] >= self.capacity[channel] or (
            self.voice_exclusive and (self.in_hand if channel == "voice" else load["voice"])
        ):
            raise CapacityError(f"agent {self.id} has no free {channel.value} capacity")
        offers = self.offers
        if contact_id in offers or contact_id in self.connected:
            raise self._bad("reserved")
        return self._reserve(contact_id, channel, now)

    def _reserve(self, contact_id: str, channel: Channel, now: float) -> AgentEvent:
        """``offer`` without its checks, for the router, which offers only to agents its indexes
        hold as free for the channel."""
        offers = self.offers
        dt = now - self._acc_at
        if dt > 0:  # ``_account``, inlined
            if self.in_hand > len(offers):
                self.handling_s += dt
            elif self.available:
                self.ready_s += dt
            self._acc_at = now
        prev = self.state
        offers[contact_id] = channel
        load = self.load
        load[CHANNEL_KEY[channel]] += 1
        self.in_hand += 1
        self.idle_since = now
        self.state = RESERVED
        return agent_event(now, self.id, RESERVED, prev, self.reason_code, contact_id, channel, load.copy())

    def accept(self, contact_id: str, now: float) -> AgentEvent:
        channel = self.offers.pop(contact_id, None)
        if channel is None:
            raise self._bad("busy")
        if now > self._acc_at:
            self._account(now)
        prev = self.state
        self.connected[contact_id] = channel
        state = self.state = RESERVED if self.offers else BUSY
        return agent_event(now, self.id, state, prev, self.reason_code, contact_id, channel, self.load.copy())

    def withdraw(self, contact_id: str, now: float) -> AgentEvent:
        """An offer ends without a connection (rejected, timed out, or the caller hung up)."""
        channel = self.offers.pop(contact_id, None)
        if channel is None:
            raise self._bad("withdrawn")
        return self._release(channel, contact_id, now, False)

    def complete(self, contact_id: str, now: float, wrap_up_s: float = DEFAULT_WRAP_UP_S) -> AgentEvent:
        """A connected contact ends: wrap-up until ``now + wrap_up_s`` (slot kept), or at once free
        the slot when ``wrap_up_s <= 0``."""
        connected = self.connected
        if contact_id not in connected:
            raise self._bad("wrap_up")
        if wrap_up_s <= 0:
            return self._release(connected.pop(contact_id), contact_id, now, True)
        if now > self._acc_at:
            self._account(now)
        prev = self.state
        channel = connected.pop(contact_id)
        self.wrapping[contact_id] = (channel, now + wrap_up_s)
        state = self.state = RESERVED if self.offers else BUSY if connected else WRAP_UP
        return agent_event(now, self.id, state, prev, self.reason_code, contact_id, channel, self.load.copy())

    def drop(self, contact_id: str, now: float) -> AgentEvent:
        """A connected contact is taken away without after-call work (it failed, or the agent was
        forced out)."""
        channel = self.connected.pop(contact_id, None)
        if channel is None:
            raise self._bad("dropped")
        return self._release(channel, contact_id, now, True)

    def end_wrap_up(self, contact_id: str, now: float) -> AgentEvent:
        held = self.wrapping.pop(contact_id, None)
        if held is None:
            raise self._bad("wrap_up_ended")
        return self._release(held[0], contact_id, now, True)

    def _release(self, channel: Channel, contact_id: str, now: float, handling: bool) -> AgentEvent:
        """Free the slot of a contact already taken out of ``offers``/``connected``/``wrapping``;
        ``handling`` says it was connected or in wrap-up until now (for occupancy).

        ``in_hand`` counts offers, connected and wrapping contacts (``load`` summed), so what is left
        in hand is known without reading the ``connected`` and ``wrapping`` maps: on a large center
        each read of a map is a likely cache miss."""
        in_hand = self.in_hand - 1  # left in hand, the released contact being out of its map
        dt = now - self._acc_at
        if dt > 0:
            if handling or in_hand > len(self.offers):  # or something else connected or wrapping
                self.handling_s += dt
            elif self.available:
                self.ready_s += dt
            self._acc_at = now
        prev = self.state
        load = self.load
        load[CHANNEL_KEY[channel]] -= 1
        self.in_hand = in_hand
        self.idle_since = now
        if not in_hand:
            state = READY if self.available else NOT_READY
        elif self.offers:
            state = RESERVED
        elif self.connected:
            state = BUSY
        else:
            state = WRAP_UP
        self.state = state
        return agent_event(now, self.id, state, prev, self.reason_code, contact_id, channel, load.copy())

    def wrap_up_due(self, now: float) -> list[str]:
        """Contacts whose wrap-up has run out at ``now``."""
        return [cid for cid, (_, until) in self.wrapping.items() if now >= until]

    def tick(self, now: float) -> list[AgentEvent]:
        """End every wrap-up whose time is up."""
        return [self.end_wrap_up(cid, now) for cid in self.wrap_up_due(now)]
