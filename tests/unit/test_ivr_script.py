from __future__ import annotations

from vcc.core.flow import (
    AnnounceWait,
    CheckHours,
    Collect,
    Flow,
    HangUp,
    Menu,
    OfferCallback,
    Play,
    RouteToQueue,
    SetAttributes,
)
from vcc.core.ivr_script import run_scripted

FLOW = Flow(
    id="main",
    tenant="t",
    entry="welcome",
    nodes={
        "welcome": Play("welcome", next="hours"),
        "hours": CheckHours(open="menu", closed="closed"),
        "closed": HangUp(prompt="closed", reason="closed"),
        "menu": Menu("main-menu", options={"1": "sales", "2": "account", "3": "wait"}, retries=1),
        "sales": RouteToQueue("sales"),
        "account": Collect("enter-account", variable="account", next="vip", max_digits=4),
        "vip": SetAttributes(next="support", priority_delta=5, skills={"billing": 3}),
        "support": RouteToQueue("support"),
        "wait": AnnounceWait("support", next="offer"),
        "offer": OfferCallback("offer-cb", queue="support", accepted="bye", declined="support",
                               min_ewt_s=60),
        "bye": HangUp(prompt="goodbye", reason="callback_booked"),
    },
)


def test_menu_choice_routes_with_the_path() -> None:
    out = run_scripted(FLOW, now=0.0, dtmf="1")
    assert out.route is not None and out.route.queue == "sales"
    assert out.path == (("menu", "1"),)
    assert out.prompts[:2] == ("welcome", "main-menu")


def test_collected_digits_and_attributes_reach_the_route() -> None:
    out = run_scripted(FLOW, now=0.0, dtmf="2 1234")
    assert out.route is not None
    assert out.route.queue == "support"
    assert out.route.variables == {"account": "1234"}
    assert out.route.priority_delta == 5 and out.route.skills == {"billing": 3}


def test_closed_hours_hang_up_without_listening_for_keys() -> None:
    out = run_scripted(FLOW, now=0.0, dtmf="1", is_open=lambda _now: False)
    assert out.hangup is not None and out.hangup.reason == "closed"
    assert out.digits_left == "1"


def test_no_key_pressed_fails_the_menu_after_retries() -> None:
    out = run_scripted(FLOW, now=0.0, dtmf="")
    assert out.hangup is not None and out.hangup.reason == "ivr_menu_failed"
    assert out.prompts.count("main-menu") == 2


def test_long_wait_offers_a_callback_that_is_booked() -> None:
    out = run_scripted(FLOW, now=0.0, dtmf="31", caller="+100", wait_estimate=lambda q: (300.0, 7))
    assert out.callback is not None and out.callback.queue == "support" and out.callback.number == "+100"
    assert out.hangup is not None and out.hangup.reason == "callback_booked"
    assert any("7" in p for p in out.prompts), out.prompts  # the position was announced


def test_short_wait_skips_the_callback_offer() -> None:
    out = run_scripted(FLOW, now=0.0, dtmf="3", wait_estimate=lambda q: (20.0, 1))
    assert out.callback is None
    assert out.route is not None and out.route.queue == "support"
    assert "offer-cb" not in out.prompts
