"""The IVR interpreter, node by node, plus properties over random flows and random callers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcc.core.flow import (
    AnnounceWait,
    CheckHours,
    Collect,
    Flow,
    HangUp,
    Menu,
    Node,
    OfferCallback,
    Play,
    RouteToQueue,
    SetAttributes,
)
from vcc.core.ivr import (
    Announce,
    BookCallback,
    CallbackResult,
    CallerHungUp,
    CheckHoursRequest,
    CollectDigits,
    Digit,
    HangUpAction,
    HoursResult,
    IvrAction,
    IvrEvent,
    IvrSession,
    PlayPrompt,
    PromptFinished,
    RequestWaitEstimate,
    RouteAction,
    Started,
    StartTimer,
    StopPrompt,
    Timeout,
    UnknownNodeError,
    WaitEstimate,
)

T0 = 1_700_000_000.0


def flow(entry: str, **nodes: Node) -> Flow:
    return Flow("f", "acme", entry, dict(nodes))


class Call:
    """A session plus the worker's side of the protocol: remembers the last prompt and timer ids."""

    def __init__(self, f: Flow, caller: str | None = "+4930123", **kwargs: int) -> None:
        self.session = IvrSession(f, caller=caller, **kwargs)
        self.now = T0
        self.play_id = 0
        self.timer_id = 0
        self.log: list[IvrAction] = []

    def send(self, event: IvrEvent) -> list[IvrAction]:
        self.now += 1
        actions = self.session.handle(event, self.now)
        for action in actions:
            if isinstance(action, PlayPrompt | Announce):
                self.play_id = action.play_id
            if isinstance(action, CollectDigits | StartTimer):
                self.timer_id = action.timer_id
        self.log += actions
        return actions

    def start(self) -> list[IvrAction]:
        return self.send(Started())

    def finish_prompt(self) -> list[IvrAction]:
        return self.send(PromptFinished(self.play_id))

    def timeout(self) -> list[IvrAction]:
        return self.send(Timeout(self.timer_id))

    def digits(self, keys: str) -> list[IvrAction]:
        out: list[IvrAction] = []
        for key in keys:
            out += self.send(Digit(key))
        return out


def prompts(actions: list[IvrAction]) -> list[str]:
    return [a.prompt for a in actions if isinstance(a, PlayPrompt)]


MAIN = Menu("main-menu", {"1": "sales", "2": "support"}, invalid_prompt="sorry", retries=2, on_fail="bye")
SALES = RouteToQueue("sales")
SUPPORT = RouteToQueue("support")
BYE = HangUp("goodbye", reason="menu_failed")


# --- play, menu --------------------------------------------------------------------------------


def test_play_then_next_and_stale_prompt_finished_is_ignored() -> None:
    call = Call(
        flow("hello", hello=Play("welcome", "main"), main=MAIN, sales=SALES, support=SUPPORT, bye=BYE)
    )
    assert call.start() == [PlayPrompt("welcome", False, 1)]
    assert call.send(PromptFinished(99)) == []
    assert call.finish_prompt() == [PlayPrompt("main-menu", True, 2)]


def test_digit_during_a_plain_prompt_is_dropped() -> None:
    call = Call(
        flow("hello", hello=Play("welcome", "main"), main=MAIN, sales=SALES, support=SUPPORT, bye=BYE)
    )
    call.start()
    assert call.digits("1") == []
    assert prompts(call.finish_prompt()) == ["main-menu"]  # the "1" did not carry over


def test_menu_barge_in_stops_the_prompt_and_records_the_choice() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    actions = call.digits("2")
    assert actions == [StopPrompt(1), RouteAction("support", 0, {}, {}, (("main", "2"),))]
    assert call.session.done and call.session.path == (("main", "2"),)


def test_menu_waits_for_a_digit_after_its_prompt() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    assert call.finish_prompt() == [CollectDigits(1, "", 5.0, 1)]
    assert call.digits("1")[-1] == RouteAction("sales", 0, {}, {}, (("main", "1"),))


def test_menu_invalid_digit_plays_invalid_prompt_then_menu_again() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    call.finish_prompt()
    assert prompts(call.digits("7")) == ["sorry"]
    assert prompts(call.finish_prompt()) == ["main-menu"]
    assert call.digits("1")[-1] == RouteAction("sales", 0, {}, {}, (("main", "1"),))


def test_menu_timeouts_use_up_retries_then_go_to_on_fail() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    for _ in range(2):  # two re-tries
        call.finish_prompt()
        assert prompts(call.timeout()) == ["sorry"]
        call.finish_prompt()
    call.finish_prompt()
    assert prompts(call.timeout()) == ["goodbye"]
    assert call.finish_prompt() == [HangUpAction("menu_failed")]


def test_menu_on_fail_none_hangs_up() -> None:
    menu = Menu("main-menu", {"1": "sales"}, retries=0)
    call = Call(flow("main", main=menu, sales=SALES))
    call.start()
    call.finish_prompt()
    assert call.digits("5") == [HangUpAction("ivr_menu_failed")]


def test_stale_timeout_is_ignored() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    call.finish_prompt()
    old_timer = call.timer_id
    call.timeout()
    call.finish_prompt()
    call.finish_prompt()
    assert call.send(Timeout(old_timer)) == []
    assert call.digits("1")[-1] == RouteAction("sales", 0, {}, {}, (("main", "1"),))


def test_menu_without_invalid_prompt_replays_the_menu() -> None:
    menu = Menu("main-menu", {"1": "sales"}, retries=1)
    call = Call(flow("main", main=menu, sales=SALES))
    call.start()
    assert prompts(call.digits("9")) == ["main-menu"]


# --- collect -----------------------------------------------------------------------------------

ACCOUNT = Collect("enter-account", "account", "route", min_digits=3, max_digits=6, retries=1)
ROUTE = RouteToQueue("billing")


def test_collect_stops_at_max_digits_and_stores_the_variable() -> None:
    call = Call(flow("acct", acct=ACCOUNT, route=ROUTE))
    call.start()
    actions = call.digits("123456")
    assert actions[0] == StopPrompt(1)
    assert actions[-1] == RouteAction("billing", 0, {}, {"account": "123456"}, ())


def test_collect_terminator_ends_early_and_is_not_stored() -> None:
    call = Call(flow("acct", acct=ACCOUNT, route=ROUTE))
    call.start()
    call.finish_prompt()
    assert call.digits("1234#")[-1] == RouteAction("billing", 0, {}, {"account": "1234"}, ())


def test_collect_restarts_the_inter_digit_timer() -> None:
    call = Call(flow("acct", acct=ACCOUNT, route=ROUTE))
    call.start()
    assert call.finish_prompt() == [CollectDigits(6, "#", 5.0, 1)]
    assert call.digits("1") == [StartTimer(5.0, 2)]
    assert call.digits("2") == [StartTimer(5.0, 3)]


def test_collect_timeout_accepts_enough_digits() -> None:
    call = Call(flow("acct", acct=ACCOUNT, route=ROUTE))
    call.start()
    call.finish_prompt()
    call.digits("1234")
    assert call.timeout()[-1] == RouteAction("billing", 0, {}, {"account": "1234"}, ())


def test_collect_too_few_digits_retries_then_fails() -> None:
    call = Call(flow("acct", acct=ACCOUNT, route=ROUTE))
    call.start()
    assert prompts(call.digits("12#")) == ["enter-account"]  # too short: asked again
    call.finish_prompt()
    assert call.timeout() == [HangUpAction("ivr_collect_failed")]  # nothing typed, retries used up


def test_collect_failure_goes_to_on_fail() -> None:
    collect = Collect("enter-pin", "pin", "route", min_digits=4, max_digits=4, retries=0, on_fail="bye")
    call = Call(flow("pin", pin=collect, route=ROUTE, bye=HangUp(reason="no_pin")))
    call.start()
    assert call.digits("1#") == [StopPrompt(1), CollectDigits(3, "#", 5.0, 1), HangUpAction("no_pin")]


# --- hours, announcements, callbacks, attributes -----------------------------------------------


def test_check_hours_branches() -> None:
    f = flow("hours", hours=CheckHours("open", "closed"), open=SALES, closed=HangUp("closed-msg", "closed"))
    call = Call(f)
    assert call.start() == [CheckHoursRequest()]
    assert call.send(HoursResult(True)) == [RouteAction("sales", 0, {}, {}, ())]
    closed = Call(f)
    closed.start()
    assert prompts(closed.send(HoursResult(False))) == ["closed-msg"]
    assert closed.finish_prompt() == [HangUpAction("closed")]


def test_unasked_answers_are_ignored() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    assert call.send(HoursResult(False)) == []
    assert call.send(WaitEstimate(30, 1)) == []
    assert call.send(Started()) == []
    assert not call.session.done


def test_announce_wait_requests_an_estimate_and_says_it() -> None:
    f = flow("ann", ann=AnnounceWait("sales", "route"), route=SALES)
    call = Call(f)
    assert call.start() == [RequestWaitEstimate("sales")]
    (announce,) = call.send(WaitEstimate(240, 3))
    assert isinstance(announce, Announce)
    assert announce.text == "You are number 3 in line. The wait is about 4 minutes."
    assert announce.pieces[-2:] == ("ewt.wait_about", "minutes:4")
    assert call.finish_prompt() == [RouteAction("sales", 0, {}, {}, ())]


def test_announce_without_position() -> None:
    call = Call(flow("ann", ann=AnnounceWait("sales", "route", position=False), route=SALES))
    call.start()
    (announce,) = call.send(WaitEstimate(20, 7))
    assert isinstance(announce, Announce)
    assert announce.position is None and announce.text == "The wait is less than a minute."


OFFER = OfferCallback("offer-callback", "sales", accepted="booked", declined="route", min_ewt_s=120)


def offer_flow() -> Flow:
    return flow(
        "vars",
        vars=Collect("enter-number", "callback_number", "offer", min_digits=0, max_digits=3, retries=0),
        offer=OFFER,
        booked=HangUp("we-will-call", "callback_booked"),
        route=SALES,
    )


def test_callback_not_offered_when_the_wait_is_short() -> None:
    call = Call(flow("offer", offer=OFFER, booked=HangUp(), route=SALES))
    assert call.start() == [RequestWaitEstimate("sales")]
    assert call.send(WaitEstimate(60, 2)) == [RouteAction("sales", 0, {}, {}, ())]


def test_callback_offered_when_the_wait_is_unknown_and_accepted() -> None:
    call = Call(flow("offer", offer=OFFER, booked=HangUp(reason="callback_booked"), route=SALES))
    call.start()
    assert prompts(call.send(WaitEstimate(None, None))) == ["offer-callback"]
    assert call.digits("1") == [StopPrompt(1), BookCallback("sales", "+4930123", {}, path=(("offer", "1"),))]
    # the goodbye waits until the site says the booking is stored
    assert call.send(CallbackResult(True)) == [HangUpAction("callback_booked")]
    assert call.session.outcome == HangUpAction("callback_booked")


def test_a_callback_that_could_not_be_stored_goes_down_the_declined_branch() -> None:
    call = Call(flow("offer", offer=OFFER, booked=HangUp("we-will-call", "callback_booked"), route=SALES))
    call.start()
    call.send(WaitEstimate(600, 9))
    assert call.digits("1")[-1] == BookCallback("sales", "+4930123", {}, path=(("offer", "1"),))
    assert not call.session.done
    # the caller stays in line: routed like a caller who declined, the offer digit kept in the path
    routed = call.send(CallbackResult(False, "etcd did not answer"))
    assert routed == [RouteAction("sales", 0, {}, {}, (("offer", "1"),))]
    assert any(e.what == "callback not booked: etcd did not answer" for e in call.session.transcript)


def test_while_a_callback_is_booked_keys_wait_and_stale_events_are_ignored() -> None:
    f = flow(
        "offer",
        offer=OfferCallback("offer-callback", "sales", accepted="more", declined="route", min_ewt_s=0),
        more=Menu("anything-else", {"1": "route"}),
        route=SALES,
    )
    call = Call(f)
    call.start()
    call.send(WaitEstimate(600, 9))
    call.digits("1")
    # a key, an old timer and a stray prompt end do nothing while the booking is in flight...
    assert call.digits("1") == []
    assert call.send(Timeout(call.timer_id)) == []
    assert call.send(PromptFinished(call.play_id)) == []
    assert call.send(WaitEstimate(1, 1)) == []
    # ...and the key typed meanwhile answers the next menu once the callback is booked
    assert call.send(CallbackResult(True))[-1] == RouteAction("sales", 0, {}, {}, (("offer", "1"), ("more", "1")))


def test_a_caller_who_hangs_up_while_the_callback_is_booked_ends_the_session() -> None:
    call = Call(flow("offer", offer=OFFER, booked=HangUp(), route=SALES))
    call.start()
    call.send(WaitEstimate(600, 9))
    call.digits("1")
    assert call.send(CallerHungUp()) == []
    assert call.session.done and call.session.caller_hung_up
    assert call.send(CallbackResult(True)) == []


def test_callback_number_variable_wins_over_the_caller_id() -> None:
    call = Call(offer_flow())
    call.start()
    call.digits("555")
    call.send(WaitEstimate(600, 9))
    booked = [a for a in call.digits("1") if isinstance(a, BookCallback)]
    assert booked == [BookCallback("sales", "555", {"callback_number": "555"}, path=(("offer", "1"),))]


def test_a_booked_callback_keeps_the_priority_and_skills_the_flow_set() -> None:
    # routed as the call would have been: a VIP's callback keeps its priority, a French speaker's
    # callback still needs a French-speaking agent
    f = flow(
        "vip",
        vip=SetAttributes("french", priority_delta=5, skills={"billing": 6}),
        french=SetAttributes("offer", priority_delta=2, skills={"french": 4, "billing": 3}),
        offer=OFFER,
        booked=HangUp(),
        route=SALES,
    )
    call = Call(f)
    call.start()
    call.send(WaitEstimate(600, 9))
    [booked] = [a for a in call.digits("1") if isinstance(a, BookCallback)]
    assert (booked.priority_delta, booked.skills) == (7, {"billing": 6, "french": 4})
    assert booked.path == (("offer", "1"),)


def test_callback_declined_by_other_digit_or_timeout() -> None:
    call = Call(flow("offer", offer=OFFER, booked=HangUp(), route=SALES))
    call.start()
    call.send(WaitEstimate(600, 9))
    assert call.digits("2")[-1] == RouteAction("sales", 0, {}, {}, (("offer", "2"),))
    timed_out = Call(flow("offer", offer=OFFER, booked=HangUp(), route=SALES))
    timed_out.start()
    timed_out.send(WaitEstimate(600, 9))
    timed_out.finish_prompt()
    assert timed_out.timeout() == [RouteAction("sales", 0, {}, {}, ())]


def test_set_attributes_accumulate_into_the_route() -> None:
    f = flow(
        "main",
        main=Menu("main-menu", {"1": "vip"}),
        vip=SetAttributes("french", priority_delta=5, skills={"billing": 6}),
        french=SetAttributes("acct", priority_delta=2, skills={"french": 4, "billing": 3}),
        acct=Collect("enter-account", "account", "route", max_digits=2),
        route=ROUTE,
    )
    call = Call(f)
    call.start()
    call.digits("1")
    route = call.digits("42")[-1]
    assert route == RouteAction(
        "billing", 7, {"billing": 6, "french": 4}, {"account": "42"}, (("main", "1"),)
    )


# --- terminal states, hang-ups, runaway flows ---------------------------------------------------


def test_nothing_after_a_terminal_action() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    call.digits("1")
    assert call.session.done
    for event in (Digit("2"), PromptFinished(1), Timeout(1), HoursResult(True), CallerHungUp()):
        assert call.send(event) == []


def test_hang_up_without_prompt() -> None:
    call = Call(flow("bye", bye=HangUp(reason="closed")))
    assert call.start() == [HangUpAction("closed")]
    assert call.session.outcome == HangUpAction("closed")


def test_caller_hang_up_ends_at_any_point() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    assert call.send(CallerHungUp()) == []
    assert call.session.done and call.session.caller_hung_up and call.session.outcome is None
    assert call.digits("1") == []


def test_attribute_loop_hits_the_step_budget() -> None:
    f = flow("a", a=SetAttributes("b", priority_delta=1), b=SetAttributes("a"))
    call = Call(f, step_budget=50)
    assert call.start() == [HangUpAction("ivr_loop")]
    assert call.session.priority_delta == 25


def test_prompt_loop_hits_the_session_budget() -> None:
    call = Call(flow("a", a=Play("one", "b"), b=Play("two", "a")), session_budget=10)
    played = prompts(call.start())
    for _ in range(9):
        played += prompts(call.finish_prompt())
    assert played == ["one", "two"] * 5
    assert call.finish_prompt() == [HangUpAction("ivr_loop")]


def test_unknown_node_fails_with_a_clear_error() -> None:
    call = Call(flow("main", main=Menu("main-menu", {"1": "nowhere"})))
    call.start()
    with pytest.raises(UnknownNodeError, match="'nowhere'.*'main'"):
        call.digits("1")


# --- type-ahead, events before start, transcript ----------------------------------------------


def test_digits_typed_during_a_request_answer_the_next_menu() -> None:
    f = flow("hours", hours=CheckHours("main", "main"), main=MAIN, sales=SALES, support=SUPPORT, bye=BYE)
    call = Call(f)
    call.start()
    assert call.digits("2") == []
    assert call.send(HoursResult(True)) == [RouteAction("support", 0, {}, {}, (("main", "2"),))]


def test_type_ahead_is_flushed_by_a_plain_prompt() -> None:
    f = flow("hours", hours=CheckHours("note", "note"), note=Play("recorded", "main"), main=MAIN, sales=SALES)
    call = Call(f)
    call.start()
    call.digits("1")
    call.send(HoursResult(True))
    assert prompts(call.finish_prompt()) == ["main-menu"]


def test_type_ahead_fills_a_collection_then_arms_the_timer() -> None:
    f = flow("hours", hours=CheckHours("acct", "acct"), acct=ACCOUNT, route=ROUTE)
    call = Call(f)
    call.start()
    call.digits("12")
    assert call.send(HoursResult(True)) == [CollectDigits(4, "#", 5.0, 1)]
    assert call.digits("3#")[-1] == RouteAction("billing", 0, {}, {"account": "123"}, ())


def test_events_before_start_are_ignored() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    assert call.digits("1") == []
    assert call.send(PromptFinished(0)) == []
    assert prompts(call.start()) == ["main-menu"]


def test_digit_must_be_dtmf() -> None:
    with pytest.raises(ValueError):
        Digit("x")
    with pytest.raises(ValueError):
        Digit("12")


def test_transcript_records_times_and_nodes() -> None:
    call = Call(flow("main", main=MAIN, sales=SALES, support=SUPPORT, bye=BYE))
    call.start()
    call.digits("9")
    entries = call.session.transcript
    assert entries[0].ts == T0 + 1 and entries[0].what == "started"
    assert ("main", "digit 9 invalid") in [(e.node, e.what) for e in entries]
    assert entries[-1].ts == T0 + 2


# --- properties ----------------------------------------------------------------------------------

IDS = [f"n{i}" for i in range(6)]
KEYS = "0123456789*#"


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    target = st.sampled_from(IDS)
    optional = st.one_of(st.none(), target)
    nodes: dict[str, Node] = {}
    for node_id in IDS:
        kind = draw(st.integers(0, 8))
        node: Node
        if kind == 0:
            node = Play("p", draw(target))
        elif kind == 1:
            options = draw(st.dictionaries(st.sampled_from("0123456789"), target, max_size=4))
            node = Menu(
                "m",
                options,
                retries=draw(st.integers(0, 2)),
                invalid_prompt=draw(st.sampled_from([None, "i"])),
                on_fail=draw(optional),
            )
        elif kind == 2:
            low = draw(st.integers(0, 3))
            node = Collect(
                "c",
                "v",
                draw(target),
                min_digits=low,
                max_digits=draw(st.integers(max(low, 1), 4)),
                retries=draw(st.integers(0, 2)),
                on_fail=draw(optional),
            )
        elif kind == 3:
            node = CheckHours(draw(target), draw(target))
        elif kind == 4:
            node = AnnounceWait("q", draw(target), position=draw(st.booleans()))
        elif kind == 5:
            node = OfferCallback(
                "o", "q", draw(target), draw(target), min_ewt_s=draw(st.sampled_from([0.0, 60.0]))
            )
        elif kind == 6:
            node = SetAttributes(draw(target), priority_delta=draw(st.integers(-3, 3)), skills={"s": 1})
        elif kind == 7:
            node = RouteToQueue("q")
        else:
            node = HangUp(draw(st.sampled_from([None, "bye"])))
        nodes[node_id] = node
    return Flow("random", "acme", "n0", nodes)


def _answer(pending: IvrAction | None, choice: int) -> IvrEvent:
    """What a well-behaved worker (and caller) may send next, given the last action that awaits one."""
    match pending:
        case PlayPrompt(play_id=pid, barge_in=True) if choice % 3 == 0:
            return Digit(KEYS[choice % len(KEYS)])
        case PlayPrompt(play_id=pid) | Announce(play_id=pid):
            return PromptFinished(pid)
        case CollectDigits(timer_id=tid) | StartTimer(timer_id=tid):
            return Timeout(tid) if choice % 4 == 0 else Digit(KEYS[choice % len(KEYS)])
        case CheckHoursRequest():
            return HoursResult(choice % 2 == 0)
        case RequestWaitEstimate():
            return WaitEstimate(None if choice % 5 == 0 else float(choice % 300), choice % 7)
        case BookCallback():
            return CallbackResult(choice % 3 != 0, "" if choice % 3 else "not stored")
    return Started()


NOISE = st.sampled_from(
    [Digit("5"), Timeout(0), PromptFinished(0), HoursResult(True), WaitEstimate(1.0, 1), CallbackResult(True),
     Started()]
)


@settings(max_examples=150, deadline=None)
@given(
    f=flows(),
    choices=st.lists(st.integers(0, 10_000), min_size=1, max_size=50),
    noise=st.lists(st.tuples(st.integers(0, 50), NOISE), max_size=10),
)
def test_random_callers_on_random_flows_always_end_and_nothing_follows_the_end(
    f: Flow, choices: list[int], noise: list[tuple[int, IvrEvent]]
) -> None:
    session = IvrSession(f, caller="+1555", step_budget=100, session_budget=40)
    noise_at = dict(noise)
    pending: IvrAction | None = None
    ended = False
    for step in range(5000):
        if step in noise_at:
            event = noise_at[step]
        else:
            event = Started() if step == 0 else _answer(pending, choices[step % len(choices)] + step)
        actions = session.handle(event, T0 + step)
        if ended:
            assert actions == []
            break
        for i, action in enumerate(actions):
            if isinstance(action, RouteAction | HangUpAction):
                assert i == len(actions) - 1, actions
                ended = True
        waiting = [
            a
            for a in actions
            if isinstance(
                a,
                PlayPrompt | Announce | CollectDigits | StartTimer | CheckHoursRequest | RequestWaitEstimate
                | BookCallback,
            )
        ]
        if waiting:
            pending = waiting[-1]
    assert ended and session.done
    assert session.outcome is not None


@settings(max_examples=100, deadline=None)
@given(
    f=flows(),
    events=st.lists(
        st.one_of(
            NOISE,
            st.builds(Digit, st.sampled_from(KEYS)),
            st.builds(Timeout, st.integers(0, 5)),
            st.builds(PromptFinished, st.integers(0, 5)),
        ),
        max_size=60,
    ),
)
def test_arbitrary_event_streams_never_break_the_session(f: Flow, events: list[IvrEvent]) -> None:
    session = IvrSession(f, step_budget=100, session_budget=40)
    ended = False
    for step, event in enumerate([Started(), *events, CallerHungUp()]):
        actions = session.handle(event, T0 + step)
        if ended:
            assert actions == []
        ended = ended or any(isinstance(a, RouteAction | HangUpAction) for a in actions)
    assert session.done
