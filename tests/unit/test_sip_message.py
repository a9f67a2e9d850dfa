"""The SIP parser against RFC 4475 torture messages (valid ones parse, invalid ones get 400/416/505
or are dropped, never an exception), the serializer, and Hypothesis fuzzing of parser and UAS."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vcc.sip.message import SipParseError, frame_stream, parse, parse_name_addr, parse_via, uri_user
from vcc.sip.uas import Dropped, Send, UasCore

PEER = ("UDP", "192.0.2.1", 5060)


def crlf(text: str, body: str = "") -> bytes:
    """A message written with LF line ends, sent with CRLF, Content-Length set from the body."""
    head = text.strip("\n").replace("\n", "\r\n").replace("{len}", str(len(body.replace("\n", "\r\n"))))
    return (head + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


SDP = """v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""

# RFC 4475 3.1.1.1 "wsinv": a short tortuous INVITE (whitespace, folding, compact forms, case)
WSINV = crlf(r'''INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : {len}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
  /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33''', SDP)


def request(first: str, *headers: str, body: str = "", cl: bool = True) -> bytes:
    base = {
        "Via": "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKtorture", "To": "<sip:j.user@example.com>",
        "From": "<sip:caller@example.net>;tag=9fxced76sl", "Call-ID": "torture@192.0.2.1", "CSeq": "1 OPTIONS",
        "Max-Forwards": "70",
    }  # fmt: skip
    lines = [first]
    overridden = {h.split(":")[0].strip().lower() for h in headers}
    lines += [f"{k}: {v}" for k, v in base.items() if k.lower() not in overridden]
    lines += [h for h in headers if not h.endswith(": <drop>")]
    if cl:
        lines.append("Content-Length: {len}")
    return crlf("\n".join(lines), body)


VALID = {
    "wsinv": WSINV,
    "intmeth": request("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",  # noqa: E501
                       "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~"),
    "esc01": request("INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0", "CSeq: 1 INVITE"),
    "escnull": request("REGISTER sip:example.com SIP/2.0", "CSeq: 1 REGISTER",
                       "To: sip:null-%00-null@example.com"),
    "semiuri": request("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0"),
    "transports": request("OPTIONS sip:user@example.com SIP/2.0",
                          "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw, SIP/2.0/SCTP t2.example.com;"
                          "branch=z9hG4bKklasjdhf, SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj, "
                          "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en"),
    "inv2543": request("INVITE sip:UserB@example.com SIP/2.0", "Via: SIP/2.0/UDP 192.0.2.15", "CSeq: 1 INVITE"),
    "zeromf": request("OPTIONS sip:user@example.com SIP/2.0", "Max-Forwards: 0"),
    "noreason": crlf("SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
                     "Call-ID: noreason.asndj203insk@192.0.2.105\nCSeq: 35 INVITE\n"
                     "From: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.edu>;tag=902jndnke3\n"
                     "Content-Length: 0"),
    "unreason": crlf("SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e"
                     "\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435\n"  # noqa: E501
                     "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\nCall-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
                     "CSeq: 35 INVITE\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\n"
                     "Content-Length: 0"),
}
# RFC 4475 3.1.2: messages a UAS must answer 400 (or 416/505) or drop.
INVALID = {
    "clerr": (request("INVITE sip:user@example.com SIP/2.0", "CSeq: 1 INVITE", "Content-Type: application/sdp",
                      "Content-Length: 9999", cl=False, body=SDP), 400),
    "ncl": (request("INVITE sip:user@example.com SIP/2.0", "CSeq: 1 INVITE", "Content-Type: application/sdp",
                    "Content-Length: -999", cl=False, body=SDP), 400),
    "scalar02": (request("REGISTER sip:example.com SIP/2.0", "CSeq: 36893488147419103232 REGISTER",
                         "Max-Forwards: 300"), 400),
    "scalarlg": (request("INVITE sip:user@example.com SIP/2.0", "CSeq: 1 INVITE",
                         "Content-Length: 18446744073709551617", cl=False), 400),
    "quotbal": (request("INVITE sip:user@example.com SIP/2.0", "CSeq: 1 INVITE",
                        'To: "Mr. J. User <sip:j.user@example.com>'), 400),
    "ltgtruri": (request("INVITE <sip:user@example.com> SIP/2.0", "CSeq: 1 INVITE"), 400),
    "lwsruri": (request("INVITE sip:user@example.com; lr SIP/2.0", "CSeq: 1 INVITE"), None),
    "lwsstart": (request("INVITE  sip:user@example.com  SIP/2.0", "CSeq: 1 INVITE"), None),
    "trws": (request("OPTIONS sip:remote-target@example.com SIP/2.0  "), None),
    "escruri": (request("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0", "CSeq: 1 INVITE"), 400),
    "baddn": (request("OPTIONS sip:t.watson@example.org SIP/2.0",
                      "From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43"), 400),
    "badvers": (request("OPTIONS sip:t.watson@example.org SIP/7.0"), 505),
    "mismatch01": (request("OPTIONS sip:user@example.com SIP/2.0", "CSeq: 8 INVITE"), 400),
    "mismatch02": (request("NEWMETHOD sip:user@example.com SIP/2.0", "CSeq: 8 INVITE"), 400),
    "multi01": (request("INVITE sip:user@company.com SIP/2.0", "CSeq: 1 INVITE", "Call-ID: one@x",
                        "Call-ID: two@x"), 400),
    "insuf": (request("INVITE sip:user@example.com SIP/2.0", "CSeq: 1 INVITE", "Call-ID: <drop>", "From: <drop>",
                      "To: <drop>"), None),
}
INVALID["insuf"] = (crlf("INVITE sip:user@example.com SIP/2.0\nCSeq: 193942 INVITE\n"
                         "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\nContent-Length: 0"), None)
BIGCODE = crlf("SIP/2.0 4294967301 better not break the receiver\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398\n"
               "Call-ID: bigcode@x\nCSeq: 353494 INVITE\nFrom: <sip:user@example.com>;tag=39ansfi3\n"
               "To: <sip:user@example.edu>;tag=902jndnke3\nContent-Length: 0")


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_torture_messages_parse(name: str) -> None:
    msg = parse(VALID[name])
    assert msg.call_id
    assert msg.get("From") and msg.get("To")


def test_wsinv_is_read_as_the_rfc_means() -> None:
    msg = parse(WSINV)
    assert msg.method == "INVITE" and msg.cseq == (9, "INVITE")
    assert msg.to_tag == "1918181833n" and msg.from_tag == "98asjd8"
    assert parse_name_addr(msg.get("From") or "").display == 'J Rosenberg \\"'
    assert [parse_via(v).host for v in msg.get_all("Via")] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    assert parse_via(msg.get_all("Via")[2]).branch == "z9hG4bK30239"
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("Max-Forwards") == "0068" and msg.body.startswith(b"v=0")


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_torture_messages_get_an_error_or_are_dropped(name: str) -> None:
    data, status = INVALID[name]
    with pytest.raises(SipParseError):
        parse(data)
    core = UasCore("<sip:192.0.2.9:5060>")
    out = core.receive(data, PEER, 0.0)
    sends = [a for a in out if isinstance(a, Send)]
    if status is None:
        assert sends == [] and any(isinstance(a, Dropped) for a in out)
    else:
        assert len(sends) == 1, out
        reply = sends[0].data.decode()  # it copies the bad header, so our strict parser may refuse it
        assert reply.startswith(f"SIP/2.0 {status} ")
        assert f"Call-ID: {parse_headers_only(data).get('Call-ID')}\r\n" in reply


def parse_headers_only(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode().split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out.setdefault(k.strip(), v.strip())
    return out


def test_unknown_uri_schemes_get_416_and_unknown_methods_501() -> None:
    core = UasCore("<sip:192.0.2.9:5060>")
    for uri in ("nobodyknowsthisscheme:totallyopaquecontent", "soap.beep://192.0.2.103:3002"):
        out = core.receive(request(f"OPTIONS {uri} SIP/2.0", f"Call-ID: {uri[:8]}@x"), PEER, 0.0)
        assert parse(out[0].data).status == 416  # type: ignore[union-attr]
    out = core.receive(VALID["intmeth"], PEER, 0.0)
    assert parse(out[0].data).status == 501  # type: ignore[union-attr]


def test_a_response_with_a_huge_status_code_is_dropped() -> None:
    with pytest.raises(SipParseError):
        parse(BIGCODE)
    assert isinstance(UasCore("<sip:x:5060>").receive(BIGCODE, PEER, 0.0)[0], Dropped)


def test_two_requests_in_one_datagram_keep_only_the_first() -> None:
    one = request("OPTIONS sip:a@example.com SIP/2.0")
    msg = parse(one + request("OPTIONS sip:b@example.com SIP/2.0"))
    assert msg.uri == "sip:a@example.com" and msg.body == b""


def test_serialize_round_trip_and_uri_user() -> None:
    msg = parse(WSINV)
    again = parse(msg.serialize())
    assert again.headers == [(n, v) for n, v in msg.headers if n != "Content-Length"] + [
        ("Content-Length", str(len(msg.body)))
    ]
    assert again.body == msg.body
    assert uri_user("sip:+15555550000@gw.example.com;user=phone") == "+15555550000"
    assert uri_user("tel:+15555550000;phone-context=x") == "+15555550000"
    assert uri_user("sip:sips%3Auser%40example.com@example.net") == "sips:user@example.com"


def test_tcp_framing_by_content_length() -> None:
    a = request("OPTIONS sip:a@example.com SIP/2.0")
    b = request("INVITE sip:b@example.com SIP/2.0", "CSeq: 2 INVITE", "Content-Type: application/sdp", body=SDP)
    buf = bytearray(b"\r\n\r\n" + a + b[:50])
    assert frame_stream(buf) == a
    assert frame_stream(buf) is None
    buf += b[50:]
    assert frame_stream(buf) == b and not buf
    with pytest.raises(SipParseError):
        frame_stream(bytearray(b"OPTIONS sip:a@x SIP/2.0\r\nVia: x\r\n\r\n"))


# --- fuzzing ---------------------------------------------------------------------------------------

SEEDS = [WSINV, *VALID.values(), *(d for d, _ in INVALID.values()), BIGCODE]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_only_ever_raise_parse_errors(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse(data)
    out = UasCore("<sip:192.0.2.9:5060>").receive(data, PEER, 0.0)
    assert all(isinstance(a, Send | Dropped) for a in out) or out == []


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 8),
                                                   st.binary(max_size=8)), max_size=6))  # fmt: skip
def test_fuzz_mutated_torture_messages_never_crash_the_uas(seed: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = bytearray(seed)
    for pos, cut, insert in edits:
        pos %= len(data) + 1
        data[pos : pos + cut] = insert
    core = UasCore("<sip:192.0.2.9:5060>")
    for _ in range(2):  # the second time is a retransmission
        out = core.receive(bytes(data), PEER, 0.0)
        for action in out:
            if isinstance(action, Send):
                first = action.data.split(b"\r\n", 1)[0]
                assert first[:8] == b"SIP/2.0 " and first[8:11].isdigit() and b"\r\n\r\n" in action.data
    core.tick(100.0)
