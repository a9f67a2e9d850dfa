"""The gateway's SIP user agent server, sans-IO: transactions with RFC 3261 timers (17.2.1 INVITE
server, 17.2.2 non-INVITE server, 17.1.2 non-INVITE client for our BYE), the 2xx retransmission of
13.3.1.4 until the ACK, dialogs (12) with CANCEL, BYE either side, re-INVITE and OPTIONS.

Drive it with :meth:`UasCore.receive` (bytes from a peer), :meth:`UasCore.tick` (the clock) and the
application's decisions (:meth:`ringing`, :meth:`answer`, :meth:`reject`, :meth:`hangup`). Each
returns a list of :class:`Send` (bytes for a peer) and call events (:class:`IncomingCall`,
:class:`Acked`, :class:`Cancelled`, :class:`RemoteBye`, :class:`ReOffer`, :class:`CallGone`). The
clock ``now`` (seconds) is always passed in; nothing here reads it or touches a socket.

Responses go back where the request came from (the source address and port, as with ``rport``, or
the same TCP connection); in-dialog requests we send (BYE) go to the dialog's peer the same way.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

from vcc.sip.message import SipMessage, SipParseError, parse, response_to

Peer = tuple[str, str, int]  # (transport "UDP"/"TCP", host, port)
MAGIC = "z9hG4bK"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
SUPPORTED_REQUIRE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Send:
    peer: Peer
    data: bytes


@dataclass(frozen=True)
class IncomingCall:
    call: str
    request: SipMessage
    peer: Peer


@dataclass(frozen=True)
class Acked:
    call: str


@dataclass(frozen=True)
class Cancelled:
    call: str


@dataclass(frozen=True)
class RemoteBye:
    call: str


@dataclass(frozen=True)
class ReOffer:
    call: str
    request: SipMessage


@dataclass(frozen=True)
class CallGone:
    call: str
    reason: str  # "no_ack", "bye_timeout", "bye_done"


@dataclass(frozen=True)
class Dropped:
    reason: str  # a message that got no answer (unparseable, a stray response, ...)


Action = Send | IncomingCall | Acked | Cancelled | RemoteBye | ReOffer | CallGone | Dropped


@dataclass
class ServerTx:
    key: tuple[str, ...]
    request: SipMessage
    peer: Peer
    state: str = "proceeding"  # proceeding -> completed -> confirmed -> terminated
    last: bytes = b""
    interval_s: float = 0.0
    call: str = ""


@dataclass
class ClientTx:
    branch: str
    data: bytes
    peer: Peer
    call: str
    interval_s: float
    started: float
    state: str = "trying"


@dataclass
class Dialog:
    call: str  # the application's handle: "<Call-ID>;<our tag>"
    call_id: str
    local_tag: str
    remote_tag: str
    peer: Peer
    local_uri: str  # the To header value with our tag
    remote_uri: str  # the From header value
    remote_target: str
    remote_cseq: int
    local_cseq: int = 1
    state: str = "early"  # early -> confirmed -> ended
    invite_tx: ServerTx | None = None
    ok: bytes = b""  # our last 2xx to an INVITE, resent until the ACK
    ok_cseq: int = 0
    ok_interval_s: float = 0.0
    ok_started: float = 0.0
    ok_acked: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class UasCore:
    def __init__(self, contact: str, server: str = "vcc", t1_s: float = 0.5, t2_s: float = 4.0,
                 t4_s: float = 5.0) -> None:  # fmt: skip
        self.contact = contact  # our Contact URI, "<sip:host:port>"
        self.server = server
        self.t1_s, self.t2_s, self.t4_s = t1_s, t2_s, t4_s
        self.server_txs: dict[tuple[str, ...], ServerTx] = {}
        self.client_txs: dict[str, ClientTx] = {}
        self.dialogs: dict[str, Dialog] = {}  # call handle -> dialog
        self._by_ids: dict[tuple[str, str, str], str] = {}  # (Call-ID, our tag, their tag) -> call handle
        self._timers: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self.stats = {"received": 0, "bad": 0, "retransmissions_in": 0, "retransmissions_out": 0}

    # --- input ------------------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> list[Action]:
        self.stats["received"] += 1
        if not data.strip(b"\r\n"):
            return []  # keep-alive
        try:
            msg = parse(data)
        except SipParseError as e:
            self.stats["bad"] += 1
            if e.partial is not None and e.partial.method != "ACK":
                resp = response_to(e.partial, e.status, to_tag=_tag())
                resp.add("Warning", f'399 {self.server} "{_quote(e.reason)}"')
                return [Send(peer, self._finish(resp))]
            return [Dropped(e.reason)]
        if not msg.is_request:
            return self._response(msg, now)
        return self._request(msg, peer, now)

    def _request(self, req: SipMessage, peer: Peer, now: float) -> list[Action]:
        key = _tx_key(req)
        method = req.method
        if method == "ACK":
            return self._ack(req, key, now)
        tx = self.server_txs.get(key)
        if tx is not None:  # a retransmission: resend our last response (17.2.1, 17.2.2)
            self.stats["retransmissions_in"] += 1
            return [Send(tx.peer, tx.last)] if tx.last else []
        if method == "CANCEL":
            return self._cancel(req, peer, now)
        tx = ServerTx(key, req, peer)
        self.server_txs[key] = tx
        if req.uri.split(":", 1)[0].lower() not in ("sip", "sips", "tel"):
            return self._respond(tx, 416, now)
        required = [r for r in req.get_all("Require") if r.lower() not in SUPPORTED_REQUIRE]
        if required:
            return self._respond(tx, 420, now, [("Unsupported", ", ".join(required))])
        if req.to_tag:
            return self._in_dialog(tx, now)
        if method == "INVITE":
            ctype = (req.get("Content-Type") or "application/sdp").split(";")[0].strip().lower()
            if req.body and ctype != "application/sdp":
                return self._respond(tx, 415, now, [("Accept", "application/sdp")])
            return self._new_invite(tx, now)
        if method == "OPTIONS":
            return self._respond(tx, 200, now, [("Allow", ALLOW), ("Accept", "application/sdp")])
        if method == "BYE":
            return self._respond(tx, 481, now)
        if method in ("REGISTER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "INFO", "UPDATE", "PRACK"):
            return self._respond(tx, 405, now, [("Allow", ALLOW)])
        return self._respond(tx, 501, now, [("Allow", ALLOW)])

    def _new_invite(self, tx: ServerTx, now: float) -> list[Action]:
        req = tx.request
        tag = _tag()
        call = f"{req.call_id};{tag}"
        contact = req.get("Contact") or req.get("From") or ""
        target = contact.partition("<")[2].partition(">")[0] if "<" in contact else contact.split(";")[0]
        dialog = Dialog(call, req.call_id, tag, req.from_tag, tx.peer, f"{req.get('To')};tag={tag}",
                        req.get("From") or "", target.strip(), req.cseq[0], invite_tx=tx)  # fmt: skip
        tx.call = call
        self.dialogs[call] = dialog
        self._by_ids[(req.call_id, tag, req.from_tag)] = call
        trying = response_to(req, 100)
        tx.last = self._finish(trying)
        return [Send(tx.peer, tx.last), IncomingCall(call, req, tx.peer)]

    def _in_dialog(self, tx: ServerTx, now: float) -> list[Action]:
        req = tx.request
        call = self._by_ids.get((req.call_id, req.to_tag, req.from_tag))
        dialog = self.dialogs.get(call) if call else None
        if dialog is None or dialog.state == "ended":
            return self._respond(tx, 481, now)
        cseq = req.cseq[0]
        if cseq <= dialog.remote_cseq and req.method != "ACK":
            return self._respond(tx, 500, now, [("Retry-After", "1")])
        dialog.remote_cseq = cseq
        tx.call = dialog.call
        if req.method == "BYE":
            out = self._respond(tx, 200, now)
            self._end_dialog(dialog)
            return [*out, RemoteBye(dialog.call)]
        if req.method == "INVITE":
            if dialog.invite_tx is not None or not dialog.ok_acked:
                return self._respond(tx, 491, now)
            dialog.invite_tx = tx
            tx.last = self._finish(response_to(req, 100))
            return [Send(tx.peer, tx.last), ReOffer(dialog.call, req)]
        if req.method == "OPTIONS":
            return self._respond(tx, 200, now, [("Allow", ALLOW), ("Accept", "application/sdp")])
        return self._respond(tx, 405 if req.method in ("INFO", "UPDATE", "REFER", "NOTIFY") else 501, now,
                             [("Allow", ALLOW)])  # fmt: skip

    def _cancel(self, req: SipMessage, peer: Peer, now: float) -> list[Action]:
        tx = ServerTx(_tx_key(req), req, peer)
        self.server_txs[tx.key] = tx
        invite = self.server_txs.get((*tx.key[:-1], "INVITE"))
        if invite is None:
            return self._respond(tx, 481, now)
        out = self._respond(tx, 200, now)
        if invite.state == "proceeding":
            out += self._respond(invite, 487, now)
            dialog = self.dialogs.get(invite.call)
            if dialog is not None:
                self._end_dialog(dialog)
                out.append(Cancelled(dialog.call))
        return out

    def _ack(self, req: SipMessage, key: tuple[str, ...], now: float) -> list[Action]:
        tx = self.server_txs.get((*key[:-1], "INVITE"))
        if tx is not None and tx.state == "completed":  # ACK of our non-2xx final (17.2.1)
            tx.state = "confirmed"
            self._timer(now + (0.0 if tx.peer[0] != "UDP" else self.t4_s), "kill_tx", tx.key)
            return []
        call = self._by_ids.get((req.call_id, req.to_tag, req.from_tag))
        dialog = self.dialogs.get(call) if call else None
        if dialog is None or dialog.ok_acked or req.cseq[0] != dialog.ok_cseq:
            return [Dropped("ACK matches no 2xx")]
        dialog.ok_acked = True
        if dialog.state == "early":
            dialog.state = "confirmed"
        return [Acked(dialog.call)]

    def _response(self, resp: SipMessage, now: float) -> list[Action]:
        try:
            branch = resp.top_via.branch
        except SipParseError:
            return [Dropped("response with a bad Via")]
        tx = self.client_txs.get(branch)
        if tx is None or resp.status < 200:
            return [] if tx is not None else [Dropped("response to no transaction of ours")]
        del self.client_txs[branch]
        return [CallGone(tx.call, "bye_done")]

    # --- the application's decisions ----------------------------------------------------------------

    def ringing(self, call: str, now: float) -> list[Action]:
        dialog = self.dialogs.get(call)
        if dialog is None or dialog.invite_tx is None or dialog.state != "early":
            return []
        resp = response_to(dialog.invite_tx.request, 180, to_tag=dialog.local_tag)
        resp.add("Contact", self.contact)
        data = self._finish(resp)
        dialog.invite_tx.last = data
        return [Send(dialog.peer, data)]

    def answer(self, call: str, sdp: str, now: float) -> list[Action]:
        """200 OK with our SDP to the pending INVITE (initial or re-INVITE), resent until the ACK."""
        dialog = self.dialogs.get(call)
        if dialog is None or dialog.invite_tx is None or dialog.state == "ended":
            return []
        tx = dialog.invite_tx
        resp = response_to(tx.request, 200, to_tag=dialog.local_tag)
        resp.add("Contact", self.contact)
        resp.add("Allow", ALLOW)
        resp.add("Content-Type", "application/sdp")
        resp.body = sdp.encode()
        data = self._finish(resp)
        dialog.invite_tx = None
        tx.state = "terminated"  # a 2xx ends the INVITE server transaction; the core resends the 2xx
        tx.last = data  # an INVITE retransmission still gets it while we wait for the ACK
        self._timer(now + 64 * self.t1_s, "kill_tx", tx.key)
        dialog.ok, dialog.ok_cseq, dialog.ok_acked = data, tx.request.cseq[0], False
        dialog.ok_started, dialog.ok_interval_s = now, self.t1_s
        if dialog.peer[0] == "UDP":
            self._timer(now + self.t1_s, "ok_resend", call)
        self._timer(now + 64 * self.t1_s, "ok_giveup", call)
        return [Send(dialog.peer, data)]

    def reject(self, call: str, status: int, now: float, headers: list[tuple[str, str]] | None = None) -> list[Action]:
        dialog = self.dialogs.get(call)
        if dialog is None or dialog.invite_tx is None:
            return []
        tx = dialog.invite_tx
        dialog.invite_tx = None
        out = self._respond(tx, status, now, headers, to_tag=dialog.local_tag)
        if dialog.state == "early":
            self._end_dialog(dialog)
        return out

    def hangup(self, call: str, now: float) -> list[Action]:
        """We end the call: BYE in a confirmed dialog (or once the ACK came), 480 if still ringing."""
        dialog = self.dialogs.get(call)
        if dialog is None or dialog.state == "ended":
            return []
        if dialog.state == "early" and dialog.invite_tx is not None:
            return self.reject(call, 480, now)
        dialog.local_cseq += 1
        branch = f"{MAGIC}{secrets.token_hex(8)}"
        bye = SipMessage(method="BYE", uri=dialog.remote_target or dialog.remote_uri)
        proto, host, port = dialog.peer
        here = self.contact.strip("<>").partition(":")[2].partition(";")[0]
        bye.add("Via", f"SIP/2.0/{proto} {here};branch={branch};rport")
        bye.add("Max-Forwards", "70")
        bye.add("From", dialog.local_uri)
        bye.add("To", dialog.remote_uri)
        bye.add("Call-ID", dialog.call_id)
        bye.add("CSeq", f"{dialog.local_cseq} BYE")
        data = self._finish(bye, server_header=False)
        self._end_dialog(dialog)
        tx = ClientTx(branch, data, dialog.peer, call, self.t1_s, now)
        self.client_txs[branch] = tx
        if proto == "UDP":
            self._timer(now + self.t1_s, "bye_resend", branch)
        self._timer(now + 64 * self.t1_s, "bye_giveup", branch)
        return [Send(dialog.peer, data)]

    # --- the clock ---------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def tick(self, now: float) -> list[Action]:
        out: list[Action] = []
        while self._timers and self._timers[0][0] <= now:
            _, _, kind, ref = heapq.heappop(self._timers)
            out += self._fire(kind, ref, now)
        return out

    def _fire(self, kind: str, ref: Any, now: float) -> list[Action]:
        if kind == "kill_tx":
            tx = self.server_txs.get(ref)
            if tx is not None and tx.state in ("completed", "confirmed", "terminated"):
                del self.server_txs[ref]
            return []
        if kind == "final_resend":  # Timer G: our non-2xx final until its ACK
            tx = self.server_txs.get(ref)
            if tx is None or tx.state != "completed":
                return []
            self.stats["retransmissions_out"] += 1
            tx.interval_s = min(2 * tx.interval_s, self.t2_s)
            self._timer(now + tx.interval_s, "final_resend", ref)
            return [Send(tx.peer, tx.last)]
        if kind in ("ok_resend", "ok_giveup"):
            dialog = self.dialogs.get(ref)
            if dialog is None or dialog.ok_acked:
                return []
            if kind == "ok_giveup":  # no ACK in 64*T1: end the call with a BYE (13.3.1.4)
                dialog.ok_acked, dialog.state = True, "confirmed"
                return [*self.hangup(ref, now), CallGone(ref, "no_ack")]
            self.stats["retransmissions_out"] += 1
            dialog.ok_interval_s = min(2 * dialog.ok_interval_s, self.t2_s)
            self._timer(now + dialog.ok_interval_s, "ok_resend", ref)
            return [Send(dialog.peer, dialog.ok)]
        if kind in ("bye_resend", "bye_giveup"):
            ctx = self.client_txs.get(ref)
            if ctx is None:
                return []
            if kind == "bye_giveup":  # Timer F
                del self.client_txs[ref]
                return [CallGone(ctx.call, "bye_timeout")]
            self.stats["retransmissions_out"] += 1
            ctx.interval_s = min(2 * ctx.interval_s, self.t2_s)
            self._timer(now + ctx.interval_s, "bye_resend", ref)
            return [Send(ctx.peer, ctx.data)]
        return []

    # --- helpers -----------------------------------------------------------------------------------

    def _respond(self, tx: ServerTx, status: int, now: float, headers: list[tuple[str, str]] | None = None,
                 to_tag: str | None = None) -> list[Action]:  # fmt: skip
        resp = response_to(tx.request, status, to_tag=to_tag or _tag())
        for name, value in headers or []:
            resp.add(name, value)
        tx.last = self._finish(resp)
        tx.state = "completed"
        reliable = tx.peer[0] != "UDP"
        if tx.request.method == "INVITE":
            if not reliable:
                tx.interval_s = self.t1_s
                self._timer(now + self.t1_s, "final_resend", tx.key)  # Timer G
            self._timer(now + 64 * self.t1_s, "kill_tx", tx.key)  # Timer H
        else:
            self._timer(now + (0.0 if reliable else 64 * self.t1_s), "kill_tx", tx.key)  # Timer J
        return [Send(tx.peer, tx.last)]

    def _end_dialog(self, dialog: Dialog) -> None:
        dialog.state = "ended"
        self._by_ids.pop((dialog.call_id, dialog.local_tag, dialog.remote_tag), None)
        self.dialogs.pop(dialog.call, None)

    def _finish(self, msg: SipMessage, server_header: bool = True) -> bytes:
        if server_header:
            msg.add("Server" if not msg.is_request else "User-Agent", self.server)
        return msg.serialize()

    def _timer(self, at: float, kind: str, ref: Any) -> None:
        heapq.heappush(self._timers, (at, next(self._seq), kind, ref))


def _tx_key(req: SipMessage) -> tuple[str, ...]:
    """17.2.3: branch + sent-by + method (ACK matches its INVITE); RFC 2543 peers without the magic
    cookie are matched by Call-ID, CSeq number, From tag and the top Via."""
    via = req.top_via
    method = "INVITE" if req.method == "ACK" else req.method
    sent_by = f"{via.host}:{via.port or 5060}"
    if via.branch.startswith(MAGIC):
        return (via.branch, sent_by, method)
    return (req.call_id, str(req.cseq[0]), req.from_tag, sent_by, method)


def _tag() -> str:
    return secrets.token_hex(6)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')[:100]
