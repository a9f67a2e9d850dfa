"""Stateful property test of the router: random arrivals, IVR, presence changes, offers accepted,
rejected or timed out, completions, wrap-ups, abandons, transfers, callbacks, hand-overs to
another site and a moving clock.

After every step:
- the router's invariants hold (``Router.check``: capacity, one offer per contact, FIFO keys, one
  place per contact, exact free-agent indexes, no free agent idle beside a contact it could take);
- the indexed router and the scanning reference router emitted the very same events (so every
  decision followed the rules as the reference states them);
- every contact's events chain (each ``prev_state`` is the state before), it has at most one
  terminal event, and it is either terminal and gone or live and tracked; agents' events chain too.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.unit.routing_fixtures import LO, C, E, V, agent, queue, tenant
from vcc.core.agent import ChannelBlend
from vcc.core.contact import TERMINAL, Contact
from vcc.core.events import AgentEvent, ContactEvent, Event
from vcc.core.model import AgentState, ContactState, Pool
from vcc.core.routing import Router
from vcc.core.routing_reference import ReferenceRouter
from vcc.errors import VccError

S = ContactState
SHARED = Pool.SHARED
QUEUES = [
    queue("acme_voice", skills={"sales": 3}, aging_per_s=0.5, shared_after_s=20.0, max_wait_s=60.0,
          overflow_queue="acme_voice2"),
    queue("acme_voice2", skills={"sales": 1}, priority=5),
    queue("acme_chat", skills={"sales": 1}, channel=C, selection=LO, shared_after_s=10.0),
    queue("globex_email", tenant="globex", channel=E),
]  # fmt: skip
AGENTS = [
    agent("d1", skills={"sales": 5}, capacity={V: 1, C: 2}),
    agent("d2", skills={"sales": 2}, capacity={V: 1, C: 3}),
    agent("s1", ("acme", "globex"), SHARED, {"sales": 4}, {V: 1, C: 2, E: 2}),
    agent("s2", ("acme", "globex"), SHARED, {"es": 5}, {V: 1, E: 1}),
    agent("s3", ("globex",), SHARED, {}, {E: 3}),
]
TENANTS = [tenant("acme", vip={"+1000"}, blocked={"+1666"}, boost=3), tenant("globex")]
CHANNEL_OF = {q.id: q.channel for q in QUEUES}
TENANT_OF = {q.id: q.tenant for q in QUEUES}
pick = st.integers(min_value=0, max_value=10_000)


class RouterMachine(RuleBasedStateMachine):
    options: ClassVar[dict[str, Any]] = {"offer_timeout_s": 25.0, "wrap_up_s": 5.0}

    def __init__(self) -> None:
        super().__init__()
        options = self.options
        self.fast = Router(tenants=TENANTS, queues=QUEUES, agents=AGENTS, **options)
        self.ref = ReferenceRouter(tenants=TENANTS, queues=QUEUES, agents=AGENTS, **options)
        self.now = 0.0
        self.count = 0
        self.states: dict[str, list[ContactState]] = {}  # every contact that entered: its states
        self.agent_state = {a.id: AgentState.LOGGED_OUT for a in AGENTS}
        self.handed_over: set[str] = set()  # contacts another site took: gone without an end

    # -- plumbing -------------------------------------------------------------------------------

    def both(self, name: str, *args: Any, **kw: Any) -> list[Event]:
        """Run one call on both routers; they must agree on the outcome and the events."""
        results = []
        for r in (self.fast, self.ref):
            call_args = [Contact(**a) if isinstance(a, dict) else a for a in args]
            try:
                out = getattr(r, name)(*call_args, **kw)
                results.append((None, out[1] if isinstance(out, tuple) else out))  # hand_over: (contact, events)
            except VccError as err:
                results.append((type(err), []))
        (err_fast, fast), (err_ref, ref) = results
        assert err_fast == err_ref, f"{name}{args}: {err_fast} vs {err_ref}"
        assert [e.to_dict() for e in fast] == [e.to_dict() for e in ref], f"{name}{args} decided differently"
        for ev in fast:
            self.record(ev)
        return fast

    def record(self, ev: Event) -> None:
        if isinstance(ev, ContactEvent):
            seen = self.states.setdefault(ev.contact_id, [])
            assert ev.prev_state == (seen[-1] if seen else None), f"{ev.contact_id}: broken chain {seen} -> {ev}"
            assert not seen or seen[-1] not in TERMINAL, f"{ev.contact_id}: event after the end"
            seen.append(ev.state)
        elif isinstance(ev, AgentEvent):
            assert ev.prev_state == self.agent_state[ev.agent_id], f"{ev.agent_id}: broken chain at {ev}"
            self.agent_state[ev.agent_id] = ev.state

    def live(self, *states: ContactState) -> list[str]:
        return sorted(cid for cid, c in self.fast.contacts.items() if c.state in states)

    # -- clock ----------------------------------------------------------------------------------

    @rule(dt=st.sampled_from([0.0, 0.5, 3.0, 7.0, 12.0, 30.0]))
    def advance(self, dt: float) -> None:
        self.now += dt
        self.both("tick", self.now)

    # -- contacts -------------------------------------------------------------------------------

    @rule(
        q=st.sampled_from([*CHANNEL_OF, None]),
        caller=st.sampled_from(["+1000", "+1666", "+2000", "+3000"]),
        extra=st.sampled_from([None, {"es": 4}, {"sales": 4}]),
        priority=st.sampled_from([0, 0, 2]),
    )
    def arrive(self, q: str | None, caller: str, extra: dict[str, int] | None, priority: int) -> None:
        self.count += 1
        qid = q or "acme_voice"
        fields = {"id": f"c{self.count}", "tenant": TENANT_OF[qid], "channel": CHANNEL_OF[qid],
                  "arrived_at": self.now, "caller_id": caller, "queue": q, "skills": dict(extra or {}),
                  "priority": priority}  # fmt: skip
        self.both("arrive", fields, self.now)

    @rule(i=pick)
    def start_ivr(self, i: int) -> None:
        ids = self.live(S.ARRIVED)
        if ids:
            self.both("start_ivr", ids[i % len(ids)], self.now)

    @rule(i=pick, q=st.sampled_from(sorted(CHANNEL_OF)))
    def enqueue(self, i: int, q: str) -> None:
        ids = [c for c in self.live(S.ARRIVED, S.IVR, S.CALLBACK_REQUESTED, S.QUEUED)
               if CHANNEL_OF[q] == self.fast.contacts[c].channel]  # fmt: skip
        if ids:
            self.both("enqueue", ids[i % len(ids)], q, self.now)

    @rule(i=pick, yes=st.booleans())
    def answer_offer(self, i: int, yes: bool) -> None:
        ids = self.live(S.OFFERED)
        if ids:
            self.both("accept" if yes else "reject", ids[i % len(ids)], self.now)

    @rule(i=pick, wrap_up_s=st.sampled_from([None, 0.0, 10.0]))
    def complete(self, i: int, wrap_up_s: float | None) -> None:
        ids = self.live(S.CONNECTED)
        if ids:
            self.both("complete", ids[i % len(ids)], self.now, wrap_up_s=wrap_up_s)

    @rule(i=pick, to_agent=st.booleans(), j=pick, wrap_up_s=st.sampled_from([None, 0.0, 30.0]))
    def transfer(self, i: int, to_agent: bool, j: int, wrap_up_s: float | None) -> None:
        ids = self.live(S.CONNECTED)
        if not ids:
            return
        cid = ids[i % len(ids)]
        if to_agent:
            self.both("transfer", cid, self.now, agent_id=AGENTS[j % len(AGENTS)].id, wrap_up_s=wrap_up_s)
        else:
            queues = [q for q, ch in CHANNEL_OF.items() if ch == self.fast.contacts[cid].channel]
            self.both("transfer", cid, self.now, queue=queues[j % len(queues)], wrap_up_s=wrap_up_s)

    @rule(i=pick, how=st.sampled_from(["abandon", "fail", "request_callback"]))
    def leave(self, i: int, how: str) -> None:
        ids = sorted(self.fast.contacts)
        if not ids:
            return
        if how == "fail":
            self.both(how, ids[i % len(ids)], self.now, reason="test")
        else:
            self.both(how, ids[i % len(ids)], self.now)

    @rule(i=pick)
    def hand_over(self, i: int) -> None:
        ids = sorted(self.fast.contacts)
        if ids:
            cid = ids[i % len(ids)]
            self.both("hand_over", cid, self.now)
            self.handed_over.add(cid)

    # -- agents ---------------------------------------------------------------------------------

    @rule(i=pick, ready=st.booleans())
    def login(self, i: int, ready: bool) -> None:
        self.both("login", AGENTS[i % len(AGENTS)].id, self.now, ready=ready)

    @rule(i=pick, to_ready=st.booleans())
    def presence(self, i: int, to_ready: bool) -> None:
        aid = AGENTS[i % len(AGENTS)].id
        if to_ready:
            self.both("ready", aid, self.now)
        else:
            self.both("not_ready", aid, self.now, "break")

    @rule(i=pick, force=st.booleans())
    def logout(self, i: int, force: bool) -> None:
        self.both("logout", AGENTS[i % len(AGENTS)].id, self.now, force=force)

    @rule(i=pick)
    def end_wrap_up(self, i: int) -> None:
        self.both("end_wrap_up", AGENTS[i % len(AGENTS)].id, self.now)

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def routers_hold_their_invariants(self) -> None:
        self.fast.check()
        self.ref.check()

    @invariant()
    def every_contact_is_ended_once_or_tracked(self) -> None:
        for cid, states in self.states.items():
            ended = [s for s in states if s in TERMINAL]
            assert len(ended) <= 1
            assert (cid in self.fast.contacts) != (bool(ended) or cid in self.handed_over), f"{cid}: {states}"
            assert (cid in self.ref.contacts) != (bool(ended) or cid in self.handed_over)
        assert set(self.fast.contacts) <= set(self.states)
        for aid, state in self.agent_state.items():
            assert self.fast.agents[aid].state is state


class BlendedRouterMachine(RouterMachine):
    """Every channel independent; an unanswered offer leaves the agent ready; short offers."""

    options: ClassVar[dict[str, Any]] = {
        "offer_timeout_s": 8.0,
        "wrap_up_s": 0.0,
        "blend": ChannelBlend.BLENDED,
        "rona_not_ready": False,
    }


SETTINGS = settings(
    max_examples=50, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
RouterMachine.TestCase.settings = SETTINGS
BlendedRouterMachine.TestCase.settings = SETTINGS
TestRouterMachine = RouterMachine.TestCase
TestBlendedRouterMachine = BlendedRouterMachine.TestCase
