"""The agent state machine: presence, per-channel capacity, the cross-channel rule, wrap-up,
idle time and occupancy, and the event of every move."""

from __future__ import annotations

import pytest

from vcc.core.agent import Agent, ChannelBlend
from vcc.core.model import AgentProfile, AgentState, Channel, Pool
from vcc.errors import CapacityError, InvalidTransition

A = AgentState
V, C, E = Channel.VOICE, Channel.CHAT, Channel.EMAIL


EXCLUSIVE = ChannelBlend.VOICE_EXCLUSIVE


def make(capacity: dict[Channel, int] | None = None, blend: ChannelBlend = EXCLUSIVE) -> Agent:
    profile = AgentProfile(
        "a1", "Ann", "site-a", ("acme",), Pool.DEDICATED, {"sales": 5}, capacity or {V: 1, C: 3, E: 2}
    )
    return Agent(profile, blend=blend)


def ready(capacity: dict[Channel, int] | None = None, blend: ChannelBlend = EXCLUSIVE) -> Agent:
    a = make(capacity, blend)
    a.login(0.0)
    a.ready(0.0)
    return a


def test_presence_moves_and_their_events() -> None:
    a = make()
    ev = a.login(10.0)
    assert (ev.prev_state, ev.state, ev.reason_code) == (A.LOGGED_OUT, A.NOT_READY, "login")
    ev = a.ready(12.0)
    assert (ev.prev_state, ev.state, ev.reason_code, a.idle_since) == (A.NOT_READY, A.READY, None, 12.0)
    ev = a.not_ready(20.0, "lunch")
    assert (ev.prev_state, ev.state, ev.reason_code) == (A.READY, A.NOT_READY, "lunch")
    ev = a.not_ready(25.0, "training")  # changing the reason code is a move too
    assert (ev.prev_state, ev.state, ev.reason_code) == (A.NOT_READY, A.NOT_READY, "training")
    ev = a.logout(30.0)
    assert (ev.prev_state, ev.state) == (A.NOT_READY, A.LOGGED_OUT)


@pytest.mark.parametrize("move", ["ready", "not_ready", "logout", "offer"])
def test_a_logged_out_agent_refuses_everything_but_login(move: str) -> None:
    a = make()
    with pytest.raises(InvalidTransition):
        if move == "not_ready":
            a.not_ready(1.0, "x")
        elif move == "offer":
            a.offer("c1", V, 1.0)
        else:
            getattr(a, move)(1.0)
    assert a.state is A.LOGGED_OUT


def test_ready_twice_and_login_twice_are_refused() -> None:
    a = ready()
    with pytest.raises(InvalidTransition):
        a.ready(1.0)
    with pytest.raises(InvalidTransition):
        a.login(1.0)


def test_offer_accept_complete_wrap_up_cycle() -> None:
    a = ready()
    ev = a.offer("c1", V, 5.0)
    assert (ev.prev_state, ev.state, ev.contact_id, ev.channel, ev.load["voice"]) == (
        A.READY, A.RESERVED, "c1", V, 1
    )  # fmt: skip
    ev = a.accept("c1", 7.0)
    assert (ev.prev_state, ev.state) == (A.RESERVED, A.BUSY)
    ev = a.complete("c1", 100.0, wrap_up_s=15.0)
    assert (ev.prev_state, ev.state, a.wrapping["c1"]) == (A.BUSY, A.WRAP_UP, (V, 115.0))
    assert a.load["voice"] == 1  # the slot is held during wrap-up
    assert a.tick(114.9) == []
    [ev] = a.tick(115.0)
    assert (ev.prev_state, ev.state, ev.load["voice"], a.idle_since) == (A.WRAP_UP, A.READY, 0, 115.0)


def test_end_wrap_up_early_and_wrap_up_zero() -> None:
    a = ready()
    a.offer("c1", V, 1.0)
    a.accept("c1", 1.0)
    a.complete("c1", 10.0, wrap_up_s=30.0)
    ev = a.end_wrap_up("c1", 12.0)
    assert (ev.state, a.load["voice"]) == (A.READY, 0)
    a.offer("c2", V, 13.0)
    a.accept("c2", 13.0)
    ev = a.complete("c2", 20.0, wrap_up_s=0)
    assert (ev.prev_state, ev.state, a.wrapping) == (A.BUSY, A.READY, {})
    with pytest.raises(InvalidTransition):
        a.end_wrap_up("c2", 21.0)


def test_chat_capacity_three_means_three_chats_and_no_fourth() -> None:
    a = ready({C: 3})
    for i in range(3):
        a.offer(f"c{i}", C, 1.0)
        a.accept(f"c{i}", 1.0)
    assert a.load["chat"] == 3 and a.state is A.BUSY and not a.free("chat")
    with pytest.raises(CapacityError):
        a.offer("c3", C, 2.0)
    a.complete("c0", 3.0, wrap_up_s=0)
    assert a.free("chat")


def test_voice_capacity_is_one() -> None:
    a = ready({V: 1})
    a.offer("c1", V, 1.0)
    with pytest.raises(CapacityError):
        a.offer("c2", V, 1.0)


def test_voice_exclusive_a_call_blocks_chats_and_a_chat_blocks_calls() -> None:
    a = ready()
    a.offer("v1", V, 1.0)
    assert not a.free("chat") and not a.free("email")
    with pytest.raises(CapacityError):
        a.offer("c1", C, 1.0)
    a.accept("v1", 1.0)
    a.complete("v1", 2.0, wrap_up_s=5.0)
    assert not a.free("chat"), "a call in wrap-up still blocks other channels"
    a.end_wrap_up("v1", 3.0)
    a.offer("c1", C, 4.0)
    assert a.free("email") and a.free("chat") and not a.free("voice")


def test_blended_channels_are_independent() -> None:
    a = ready(blend=ChannelBlend.BLENDED)
    a.offer("v1", V, 1.0)
    a.offer("c1", C, 1.0)
    a.offer("e1", E, 1.0)
    assert a.in_hand == 3 and a.free("chat") and not a.free("voice")


def test_pending_not_ready_lets_contacts_finish() -> None:
    a = ready({C: 3})
    a.offer("c1", C, 1.0)
    a.accept("c1", 1.0)
    ev = a.not_ready(2.0, "break")
    assert (ev.state, ev.reason_code, a.available) == (A.BUSY, "break", False)
    with pytest.raises(InvalidTransition):
        a.offer("c2", C, 3.0)
    ev = a.complete("c1", 4.0, wrap_up_s=0)
    assert (ev.state, ev.reason_code) == (A.NOT_READY, "break")


def test_reserved_wins_over_busy_while_an_offer_is_out() -> None:
    a = ready({C: 3})
    a.offer("c1", C, 1.0)
    a.accept("c1", 1.0)
    ev = a.offer("c2", C, 2.0)
    assert (ev.prev_state, ev.state, ev.load["chat"]) == (A.BUSY, A.RESERVED, 2)
    ev = a.withdraw("c2", 3.0)
    assert (ev.prev_state, ev.state, ev.load["chat"]) == (A.RESERVED, A.BUSY, 1)


def test_logout_needs_empty_hands() -> None:
    a = ready()
    a.offer("c1", V, 1.0)
    with pytest.raises(InvalidTransition):
        a.logout(2.0)
    a.withdraw("c1", 2.0)
    assert a.logout(3.0).state is A.LOGGED_OUT


def test_unknown_contacts_are_refused() -> None:
    a = ready()
    for move in (a.accept, a.withdraw, a.drop, a.end_wrap_up):
        with pytest.raises(InvalidTransition):
            move("nope", 1.0)
    with pytest.raises(InvalidTransition):
        a.complete("nope", 1.0)


def test_idle_since_moves_with_each_assignment_and_release() -> None:
    a = ready({C: 2})
    a.offer("c1", C, 10.0)
    assert a.idle_since == 10.0
    a.accept("c1", 12.0)
    assert a.idle_since == 10.0
    a.complete("c1", 50.0, wrap_up_s=0)
    assert a.idle_since == 50.0


def test_occupancy_counts_handling_over_staffed_time() -> None:
    a = make({V: 1})
    a.login(0.0)
    a.ready(0.0)
    a.offer("c1", V, 10.0)  # 10 s ready and idle
    a.accept("c1", 10.0)
    a.complete("c1", 40.0, wrap_up_s=10.0)  # 30 s talking
    a.end_wrap_up("c1", 50.0)  # 10 s wrap-up
    a.not_ready(60.0, "break")  # 10 s idle
    a.ready(100.0)  # 40 s not ready: not staffed
    assert a.handling_s == 40.0 and a.staffed_s == 60.0
    assert a.occupancy() == pytest.approx(40 / 60)
