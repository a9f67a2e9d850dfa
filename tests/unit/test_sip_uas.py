"""The sans-IO user agent server with a hand-driven clock: RFC 3261 transaction timers and
retransmissions over UDP, CANCEL, BYE either side, re-INVITE, OPTIONS and the error answers."""

from __future__ import annotations

from vcc.sip.message import SipMessage, parse
from vcc.sip.uas import Acked, CallGone, Cancelled, IncomingCall, RemoteBye, ReOffer, Send, UasCore

UDP = ("UDP", "192.0.2.1", 5062)
TCP = ("TCP", "192.0.2.1", 40000)
SDP = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def req(method: str, cseq: int = 1, branch: str = "z9hG4bK1", to_tag: str = "", body: str = "",
        call_id: str = "c1@192.0.2.1", cseq_method: str | None = None, extra: str = "") -> bytes:  # fmt: skip
    to = "<sip:+15555550000@gw>" + (f";tag={to_tag}" if to_tag else "")
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:+15555550000@gw SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5062;branch={branch}\r\n"
            f"From: <sip:caller@192.0.2.1>;tag=ft\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\nContact: <sip:caller@192.0.2.1:5062>\r\nMax-Forwards: 70\r\n"
            f"{extra}{ctype}Content-Length: {len(body)}\r\n\r\n{body}").encode()  # fmt: skip


def sent(actions: list) -> list[SipMessage]:  # type: ignore[type-arg]
    return [parse(a.data) for a in actions if isinstance(a, Send)]


def invite(core: UasCore, peer: tuple[str, str, int] = UDP) -> tuple[str, str]:
    out = core.receive(req("INVITE", body=SDP), peer, 0.0)
    assert [m.status for m in sent(out)] == [100]
    call = next(a for a in out if isinstance(a, IncomingCall))
    return call.call, call.call.split(";")[1]


def test_invite_ringing_answer_and_the_2xx_retransmitted_until_the_ack() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, tag = invite(core)
    ring = sent(core.ringing(call, 0.01))
    assert ring[0].status == 180 and ring[0].to_tag == tag
    ok = sent(core.answer(call, SDP, 0.02))
    assert ok[0].status == 200 and ok[0].body.startswith(b"v=0") and ok[0].get("Contact")
    # Timer G-style doubling from T1 = 0.5 s: resends at 0.52, 1.52, 3.52 s
    times = []
    for step in range(1, 400):
        now = 0.02 + step * 0.01
        if sent(core.tick(now)):
            times.append(round(now, 2))
    assert times[:3] == [0.52, 1.52, 3.52]
    out = core.receive(req("ACK", to_tag=tag, branch="z9hG4bK2"), UDP, 4.0)
    assert out == [Acked(call)]
    assert all(not sent(core.tick(4.0 + t)) for t in range(1, 40))


def test_invite_retransmission_gets_the_last_response_again() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, _ = invite(core)
    core.ringing(call, 0.1)
    again = core.receive(req("INVITE", body=SDP), UDP, 0.5)
    assert [m.status for m in sent(again)] == [180]
    assert not any(isinstance(a, IncomingCall) for a in again)


def test_no_ack_ends_the_call_with_a_bye_after_64_t1() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, _ = invite(core)
    core.answer(call, SDP, 0.0)
    out = []
    for step in range(1, 70):
        out += core.tick(step * 0.5)
    byes = [m for m in sent(out) if m.method == "BYE"]
    assert byes and CallGone(call, "no_ack") in out
    assert sum(1 for m in sent(out) if m.status == 200) >= 5


def test_cancel_while_ringing_gives_200_then_487_resent_until_its_ack() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, _ = invite(core)
    core.ringing(call, 0.0)
    out = core.receive(req("CANCEL", branch="z9hG4bK1"), UDP, 1.0)
    assert [(m.status, m.cseq[1]) for m in sent(out)] == [(200, "CANCEL"), (487, "INVITE")]
    assert Cancelled(call) in out
    assert [m.status for m in sent(core.tick(1.5))] == [487]  # Timer G
    assert core.receive(req("ACK", branch="z9hG4bK1"), UDP, 1.6) == []  # absorbed by the transaction
    assert sent(core.tick(3.0)) == []
    assert core.answer(call, SDP, 3.0) == []  # too late: nothing to answer


def test_cancel_of_an_unknown_transaction_is_481() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    out = core.receive(req("CANCEL", branch="z9hG4bKnone"), UDP, 0.0)
    assert [m.status for m in sent(out)] == [481]


def test_bye_from_the_caller_and_its_retransmission() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, tag = invite(core)
    core.answer(call, SDP, 0.0)
    core.receive(req("ACK", to_tag=tag, branch="z9hG4bK2"), UDP, 0.1)
    out = core.receive(req("BYE", cseq=2, to_tag=tag, branch="z9hG4bK3"), UDP, 1.0)
    assert [m.status for m in sent(out)] == [200] and RemoteBye(call) in out
    again = core.receive(req("BYE", cseq=2, to_tag=tag, branch="z9hG4bK3"), UDP, 1.5)
    assert [m.status for m in sent(again)] == [200] and RemoteBye(call) not in again
    late = core.receive(req("BYE", cseq=3, to_tag=tag, branch="z9hG4bK4"), UDP, 2.0)
    assert [m.status for m in sent(late)] == [481]


def test_bye_from_us_is_resent_with_timer_e_and_ends_on_its_200() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, tag = invite(core)
    core.answer(call, SDP, 0.0)
    core.receive(req("ACK", to_tag=tag, branch="z9hG4bK2"), UDP, 0.1)
    bye = sent(core.hangup(call, 1.0))[0]
    assert bye.method == "BYE" and bye.from_tag == tag and bye.to_tag == "ft" and bye.cseq == (2, "BYE")
    assert bye.uri == "sip:caller@192.0.2.1:5062"
    assert [m.method for m in sent(core.tick(1.5))] == ["BYE"]
    ok = (f"SIP/2.0 200 OK\r\nVia: {bye.get('Via')}\r\nFrom: {bye.get('From')}\r\nTo: {bye.get('To')}\r\n"
          f"Call-ID: {bye.call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n").encode()  # fmt: skip
    assert core.receive(ok, UDP, 1.6) == [CallGone(call, "bye_done")]
    assert sent(core.tick(5.0)) == []


def test_bye_without_answer_times_out_with_timer_f() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, tag = invite(core)
    core.answer(call, SDP, 0.0)
    core.receive(req("ACK", to_tag=tag, branch="z9hG4bK2"), UDP, 0.1)
    core.hangup(call, 1.0)
    out = []
    for step in range(1, 80):
        out += core.tick(1.0 + step * 0.5)
    assert CallGone(call, "bye_timeout") in out
    assert 5 <= sum(1 for m in sent(out) if m.method == "BYE") <= 12


def test_tcp_has_no_retransmissions() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, tag = invite(core, TCP)
    core.answer(call, SDP, 0.0)
    assert sent(core.tick(10.0)) == []


def test_reinvite_for_hold_and_glare() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    call, tag = invite(core)
    core.answer(call, SDP, 0.0)
    core.receive(req("ACK", to_tag=tag, branch="z9hG4bK2"), UDP, 0.1)
    out = core.receive(req("INVITE", cseq=2, to_tag=tag, branch="z9hG4bK5", body=SDP + "a=sendonly\r\n"), UDP, 1.0)
    assert [m.status for m in sent(out)] == [100]
    reoffer = next(a for a in out if isinstance(a, ReOffer))
    assert b"sendonly" in reoffer.request.body
    glare = core.receive(req("INVITE", cseq=3, to_tag=tag, branch="z9hG4bK6", body=SDP), UDP, 1.1)
    assert [m.status for m in sent(glare)] == [491]
    ok = sent(core.answer(call, SDP, 1.2))
    assert ok[0].status == 200 and ok[0].cseq == (2, "INVITE")
    assert core.receive(req("ACK", cseq=2, to_tag=tag, branch="z9hG4bK7"), UDP, 1.3) == [Acked(call)]


def test_options_register_require_and_unsupported_body() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    opt = sent(core.receive(req("OPTIONS", call_id="o1", branch="z9hG4bKo1"), UDP, 0.0))[0]
    assert opt.status == 200 and "INVITE" in (opt.get("Allow") or "")
    reg = sent(core.receive(req("REGISTER", call_id="r1", branch="z9hG4bKr1"), UDP, 0.0))[0]
    assert reg.status == 405 and reg.get("Allow")
    needs_100rel = req("INVITE", call_id="q1", branch="z9hG4bKq1", extra="Require: 100rel\r\n", body=SDP)
    need = sent(core.receive(needs_100rel, UDP, 0.0))[0]
    assert need.status == 420 and need.get("Unsupported") == "100rel"
    body = "--b\r\n\r\nx\r\n--b--\r\n"
    raw = req("INVITE", call_id="m1", branch="z9hG4bKm1", body=body)
    raw = raw.replace(b"application/sdp", b"multipart/mixed;boundary=b")
    assert sent(core.receive(raw, UDP, 0.0))[0].status == 415
    stray = sent(core.receive(req("BYE", call_id="nobody", to_tag="x", branch="z9hG4bKb1"), UDP, 0.0))[0]
    assert stray.status == 481


def test_malformed_request_gets_400_with_a_warning() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    out = sent(core.receive(req("INVITE", cseq_method="BYE"), UDP, 0.0))
    assert out[0].status == 400 and "does not match" in (out[0].get("Warning") or "")
