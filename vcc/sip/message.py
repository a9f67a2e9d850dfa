"""SIP messages (RFC 3261 section 7, 20, 25), sans-IO: a strict parser and a serializer.

:func:`parse` takes one datagram (or one TCP-framed message) and returns a :class:`SipMessage`, or
raises :class:`SipParseError` with a one-line reason and, when the bytes were a request whose
basic headers could be read, enough of it (``partial``) to answer 400. Header names are kept in
their canonical long form (compact ``v``/``f``/``t``/``i``/``m``/``l``/``c``/``k``/``s``/``e``
expanded), folded lines are unfolded, and each comma-separated list header keeps its values in
order. Accessors for the headers a UAS needs: Via, From/To (tags), CSeq, Call-ID, Content-Length.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

MAX_MESSAGE_BYTES = 65_535
MAX_HEADERS = 200
SIP_VERSION = "SIP/2.0"

COMPACT = {
    "v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact", "l": "Content-Length",
    "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding", "o": "Event",
    "r": "Refer-To", "u": "Allow-Events", "x": "Session-Expires",
}  # fmt: skip
CANONICAL = {n.lower(): n for n in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type", "Max-Forwards",
    "Supported", "Subject", "Content-Encoding", "Allow", "Accept", "Require", "Proxy-Require", "Unsupported",
    "Route", "Record-Route", "Authorization", "WWW-Authenticate", "Proxy-Authorization", "Proxy-Authenticate",
    "User-Agent", "Server", "Expires", "Event", "Refer-To", "Allow-Events", "Session-Expires", "Date",
    "Retry-After", "Warning", "Timestamp", "Reason", "P-Asserted-Identity", "Diversion", "Min-Expires",
)}  # fmt: skip
# Headers whose value may be a comma-separated list (RFC 3261 7.3.1); others are kept whole.
LIST_HEADERS = frozenset({"Via", "Route", "Record-Route", "Allow", "Supported", "Require", "Proxy-Require",
                          "Unsupported", "Accept", "Allow-Events"})  # fmt: skip
REQUIRED_REQUEST_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) (SIP/\d+\.\d+)$")
_STATUS_LINE = re.compile(r"^(SIP/\d+\.\d+) (\d{3})(?: (.*))?$")
_URI = re.compile(r"^(sips?|tel):[^\s<>\"]+$", re.IGNORECASE)
_ANY_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>\"]+$")

REASONS = {
    100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 407: "Proxy Authentication Required",
    408: "Request Timeout", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 505: "Version Not Supported", 513: "Message Too Large",
}  # fmt: skip


class SipParseError(ValueError):
    """Malformed SIP. ``partial`` is the request as far as it could be read (to answer 400), or None."""

    def __init__(self, reason: str, partial: SipMessage | None = None, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial
        self.status = status


@dataclass
class SipMessage:
    """A request (``method`` and ``uri`` set) or a response (``status`` set)."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str, default: str | None = None) -> str | None:
        name = canonical(name)
        return next((v for n, v in self.headers if n == name), default)

    def get_all(self, name: str) -> list[str]:
        name = canonical(name)
        return [v for n, v in self.headers if n == name]

    def set(self, name: str, value: str) -> None:
        name = canonical(name)
        self.headers = [(n, v) for n, v in self.headers if n != name] + [(name, value)]

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical(name), value))

    # --- the headers a UAS reads ------------------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.get("CSeq") or "")

    @property
    def top_via(self) -> Via:
        vias = self.get_all("Via")
        if not vias:
            raise SipParseError("no Via header")
        return parse_via(vias[0])

    @property
    def from_tag(self) -> str:
        return header_param(self.get("From") or "", "tag") or ""

    @property
    def to_tag(self) -> str:
        return header_param(self.get("To") or "", "tag") or ""

    def serialize(self) -> bytes:
        if self.method:
            lines = [f"{self.method} {self.uri} {SIP_VERSION}"]
        else:
            lines = [f"{SIP_VERSION} {self.status} {self.reason}"]
        lines += [f"{n}: {v}" for n, v in self.headers if n != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass(frozen=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str:
        return self.params.get("branch") or ""


@functools.lru_cache(maxsize=1024)  # a few dozen names in practice; looked up ~50 times a message
def canonical(name: str) -> str:
    low = name.strip().lower()
    if low in COMPACT:
        return COMPACT[low]
    return CANONICAL.get(low) or "-".join(p[:1].upper() + p[1:] for p in low.split("-"))


def parse(data: bytes) -> SipMessage:
    """One SIP message from bytes (a UDP datagram or one framed TCP message)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes is too large", status=513)
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")  # bare LF line ends: tolerated (RFC 3261 7.5 says SHOULD)
        if not sep:
            raise SipParseError("no blank line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8") from None
    raw_lines = text.replace("\r\n", "\n").split("\n")
    while raw_lines and raw_lines[0] == "":  # RFC 3261 7.5: ignore CRLFs before the start line
        raw_lines.pop(0)
    if not raw_lines:
        raise SipParseError("empty message")
    pending: SipParseError | None = None  # a bad version or Request-URI: answered once the headers are read
    try:
        msg = _start_line(raw_lines[0])
    except SipParseError as e:
        if e.partial is None:
            raise
        msg, pending = e.partial, e
    lines: list[str] = []
    for line in raw_lines[1:]:
        if line[:1] in (" ", "\t"):
            if not lines:
                raise SipParseError("a folded line before any header")
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    if len(lines) > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} header lines")
    problems: list[str] = []
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not name or not _TOKEN.match(name):
            problems.append(f"bad header line {line[:40]!r}")
            continue
        cname = canonical(name)
        value = value.strip(" \t")
        if cname in LIST_HEADERS:
            for part in split_list(value):
                msg.headers.append((cname, part))
        else:
            msg.headers.append((cname, value))
    msg.body = body
    if pending is not None:
        raise SipParseError(pending.reason, _partial(msg), pending.status)
    if problems:
        raise SipParseError(problems[0], _partial(msg))
    _validate(msg)
    return msg


def _start_line(line: str) -> SipMessage:
    m = _STATUS_LINE.match(line)
    if m:
        if m.group(1) != SIP_VERSION:
            raise SipParseError(f"unsupported version {m.group(1)}")
        return SipMessage(status=int(m.group(2)), reason=m.group(3) or "")
    m = _REQUEST_LINE.match(line)
    if not m:
        raise SipParseError(f"bad start line {line[:60]!r}")
    method, uri, version = m.groups()
    msg = SipMessage(method=method, uri=uri)
    if version != SIP_VERSION:
        raise SipParseError(f"unsupported version {version}", msg, status=505)
    if not _ANY_URI.match(uri) or (uri[:4].lower() in ("sip:", "sips") and "?" in uri.rpartition("@")[2]):
        raise SipParseError(f"bad Request-URI {uri[:60]!r}", msg)  # headers (?...) are not allowed in it (19.1.5)
    return msg


def _partial(msg: SipMessage) -> SipMessage | None:
    """A request good enough to answer: it has every header a response copies."""
    if not msg.is_request or any(msg.get(h) is None for h in REQUIRED_REQUEST_HEADERS):
        return None
    try:
        parse_via(msg.get_all("Via")[0])
    except SipParseError:
        return None
    return msg


def _validate(msg: SipMessage) -> None:
    for name in REQUIRED_REQUEST_HEADERS if msg.is_request else ("Via", "From", "To", "Call-ID", "CSeq"):
        if msg.get(name) is None:
            raise SipParseError(f"missing {name} header", _partial(msg))
        if name in ("From", "To", "Call-ID", "CSeq") and len(msg.get_all(name)) > 1:
            raise SipParseError(f"more than one {name} header", _partial(msg))
    for via in msg.get_all("Via"):
        parse_via(via)  # raises on a bad Via: no response can be routed then
    partial = _partial(msg)
    number, method = parse_cseq(msg.get("CSeq") or "", partial)
    if msg.is_request and method != msg.method and not (msg.method == "ACK" and method == "ACK"):
        raise SipParseError(f"CSeq method {method} does not match the request method {msg.method}", partial)
    if not 0 <= number < 2**31:
        raise SipParseError(f"CSeq number {number} out of range", partial)
    for name in ("From", "To"):
        value = msg.get(name) or ""
        parse_name_addr(value, name, partial)
    mf = msg.get("Max-Forwards")
    if mf is not None and (not mf.isdigit() or int(mf) > 255):
        raise SipParseError(f"bad Max-Forwards {mf!r}", partial)
    cl = msg.get_all("Content-Length")
    if len(cl) > 1:
        raise SipParseError("more than one Content-Length header", partial)
    if cl:
        if not cl[0].isdigit() or len(cl[0]) > 9:
            raise SipParseError(f"bad Content-Length {cl[0][:20]!r}", partial)
        length = int(cl[0])
        if length > len(msg.body):
            raise SipParseError(f"Content-Length {length} is more than the {len(msg.body)} body bytes", partial)
        msg.body = msg.body[:length]  # UDP: extra bytes after the declared body are discarded (18.3)
    if msg.body and msg.get("Content-Type") is None:
        raise SipParseError("a body without Content-Type", partial)


def split_list(value: str) -> list[str]:
    """Split a header value at commas outside quotes and angle brackets."""
    parts, cur, quote, angle, i = [], [], False, False, 0
    while i < len(value):
        ch = value[i]
        if quote and ch == "\\" and i + 1 < len(value):
            cur.append(value[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quote = not quote
        elif ch == "<" and not quote:
            angle = True
        elif ch == ">" and not quote:
            angle = False
        if ch == "," and not quote and not angle:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def parse_cseq(value: str, partial: SipMessage | None = None) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or not _TOKEN.match(parts[1]):
        raise SipParseError(f"bad CSeq {value[:40]!r}", partial)
    return int(parts[0]), parts[1]


_VIA = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+([^;]+?)\s*(;.*)?$", re.DOTALL | re.IGNORECASE)


def parse_via(value: str) -> Via:
    """``SIP/2.0/UDP host:port;branch=...`` (linear white space allowed around the slashes, 7.3.1)."""
    m = _VIA.match(value.strip())
    if m is None:
        raise SipParseError(f"bad Via {value[:60]!r}")
    host, port = _host_port(m.group(2).strip(), value)
    return Via(m.group(1).upper(), host, port, _params(m.group(3) or ""))


def _host_port(hostport: str, whole: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise SipParseError(f"bad host in {whole[:60]!r}")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise SipParseError(f"bad host in {whole[:60]!r}")
    else:
        host, _, port_text = hostport.partition(":")
    if not host or not re.match(r"^[A-Za-z0-9.\-\[\]:]+$", host):
        raise SipParseError(f"bad host in {whole[:60]!r}")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError(f"bad port in {whole[:60]!r}")
        return host, int(port_text)
    return host, None


def _params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, eq, val = part.partition("=")
        params[key.strip().lower()] = val.strip().strip('"') if eq else None
    return params


@dataclass(frozen=True)
class NameAddr:
    display: str
    uri: str
    params: dict[str, str | None]


def parse_name_addr(value: str, what: str = "header", partial: SipMessage | None = None) -> NameAddr:
    """``"Bob" <sip:bob@x>;tag=1``, ``Bob <sip:bob@x>`` or ``sip:bob@x;tag=1`` (params after a bare URI
    belong to the header, 20.10)."""
    value = value.strip()
    display = ""
    rest = value
    if value.startswith('"'):
        i, quoted = 1, []
        while i < len(value) and value[i] != '"':
            if value[i] == "\\" and i + 1 < len(value):
                i += 1
            quoted.append(value[i])
            i += 1
        if i >= len(value):
            raise SipParseError(f"unbalanced quotes in {what} {value[:60]!r}", partial)
        display, rest = "".join(quoted), value[i + 1 :].lstrip()
        if not rest.startswith("<"):
            raise SipParseError(f"bad {what} {value[:60]!r}", partial)
    elif "<" in value:
        words, _, after = value.partition("<")
        if words.strip() and not all(_TOKEN.match(w) for w in words.split()):
            raise SipParseError(f"bad {what} display name {words.strip()[:40]!r}", partial)
        display, rest = " ".join(words.split()), "<" + after
    if rest.startswith("<"):
        uri, close, params_text = rest[1:].partition(">")
        if not close or (params_text.strip() and not params_text.strip().startswith(";")):
            raise SipParseError(f"bad {what} {value[:60]!r}", partial)
    else:
        uri, _, params_text = rest.partition(";")
        if " " in uri.strip() or '"' in uri:
            raise SipParseError(f"bad {what} {value[:60]!r}", partial)
    uri = uri.strip()
    if not _ANY_URI.match(uri):
        raise SipParseError(f"bad {what} URI {uri[:60]!r}", partial)
    return NameAddr(display, uri, _params(params_text))


def header_param(value: str, key: str) -> str | None:
    try:
        return parse_name_addr(value).params.get(key)
    except SipParseError:
        return None


def uri_user(uri: str) -> str:
    """The user part of ``sip:+15555550000@host;user=phone`` (``+15555550000``), or of ``tel:+1555...``."""
    uri = uri.strip().strip("<>")
    scheme, _, rest = uri.partition(":")
    if scheme.lower() == "tel":
        return rest.split(";")[0]
    user, at, _ = rest.partition("@")
    return _unescape(user.split(";")[0].split(":")[0]) if at else ""


def uri_host_port(uri: str) -> tuple[str, int | None]:
    uri = uri.strip().strip("<>")
    _, _, rest = uri.partition(":")
    hostpart = rest.rpartition("@")[2].split(";")[0].split("?")[0]
    return _host_port(hostpart, uri)


def _unescape(text: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def response_to(request: SipMessage, status: int, reason: str | None = None, to_tag: str | None = None) -> SipMessage:
    """A response copying Via, From, To (adding ``to_tag`` when To has none), Call-ID and CSeq (8.2.6.2)."""
    resp = SipMessage(status=status, reason=reason or REASONS.get(status, "Unknown"))
    for via in request.get_all("Via"):
        resp.add("Via", via)
    to = request.get("To") or ""
    if to_tag and status > 100 and header_param(to, "tag") is None:
        to = f"{to};tag={to_tag}"
    resp.add("From", request.get("From") or "")
    resp.add("To", to)
    resp.add("Call-ID", request.call_id)
    resp.add("CSeq", request.get("CSeq") or "")
    return resp


def frame_stream(buffer: bytearray) -> bytes | None:
    """TCP framing (18.3): cut one message off ``buffer`` by its Content-Length; None if incomplete.
    Raises SipParseError when the headers are unusable (the connection should then be closed)."""
    while buffer[:2] == b"\r\n":  # keep-alive CRLFs
        del buffer[:2]
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_MESSAGE_BYTES:
            raise SipParseError("headers longer than the largest message")
        return None
    head = bytes(buffer[:end]).decode("utf-8", "replace")
    m = re.search(r"^(?:content-length|l)[ \t]*:[ \t]*(\d{1,9})[ \t]*$", head, re.IGNORECASE | re.MULTILINE)
    if m is None:
        raise SipParseError("a message over TCP without Content-Length")
    total = end + 4 + int(m.group(1))
    if total > MAX_MESSAGE_BYTES:
        raise SipParseError("message too large")
    if len(buffer) < total:
        return None
    data = bytes(buffer[:total])
    del buffer[:total]
    return data
