"""SDP offer/answer for the SIP side (RFC 3264, 4566), sans-IO: G.711 (PCMU, PCMA) and RFC 4733
telephone-event, one audio stream, RTP/AVP. Hold is a re-offer with ``a=sendonly``/``inactive``
(or the old ``c=0.0.0.0``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STATIC_PT = {0: "PCMU", 8: "PCMA"}
CLOCK_HZ = 8000
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class SdpError(ValueError):
    """An offer we cannot use: the reason is the 488's Warning text."""


@dataclass
class SdpOffer:
    address: str
    port: int
    payload_types: list[int]
    codecs: dict[int, str]  # payload type -> encoding name (upper case), for the audio stream
    telephone_event_pt: int | None
    direction: str = "sendrecv"
    ptime_ms: int = 20
    session_version: int = 0
    other_media: list[str] = field(default_factory=list)  # "video 0 RTP/AVP 31" lines to reject with port 0

    @property
    def on_hold(self) -> bool:
        return self.direction in ("sendonly", "inactive") or self.address in ("0.0.0.0", "::")


def parse_offer(text: str) -> SdpOffer:
    """The audio stream of an offer; SdpError when there is none we can use."""
    session_addr = ""
    audio: SdpOffer | None = None
    in_audio = False
    seen_audio = False
    session_direction = "sendrecv"
    others: list[str] = []
    version = 0
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines or not lines[0].startswith("v=0"):
        raise SdpError("SDP does not start with v=0")
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"bad SDP line {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "o":
            parts = value.split()
            if len(parts) >= 3 and parts[2].isdigit():
                version = int(parts[2])
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
                raise SdpError(f"bad SDP connection line {line[:60]!r}")
            addr = parts[2].split("/")[0]
            if in_audio and audio is not None:
                audio.address = addr
            elif not seen_audio:
                session_addr = addr
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                raise SdpError(f"bad SDP media line {line[:60]!r}")
            if parts[0] == "audio" and audio is None and parts[2] in ("RTP/AVP", "RTP/AVPF"):
                pts = [int(p) for p in parts[3:] if p.isdigit() and int(p) < 128]
                audio = SdpOffer(session_addr, int(parts[1].split("/")[0]), pts, {}, None, session_direction)
                in_audio, seen_audio = True, True
            else:
                others.append(value)
                in_audio = False
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in DIRECTIONS:
                if in_audio and audio is not None:
                    audio.direction = name
                elif not seen_audio:
                    session_direction = name
            elif in_audio and audio is not None and name == "rtpmap":
                m = re.match(r"^(\d+)\s+([^/\s]+)/(\d+)", arg)
                if m:
                    audio.codecs[int(m.group(1))] = m.group(2).upper()
                    if m.group(2).lower() == "telephone-event" and int(m.group(3)) == CLOCK_HZ:
                        audio.telephone_event_pt = int(m.group(1))
            elif in_audio and audio is not None and name == "ptime" and arg.strip().isdigit():
                audio.ptime_ms = int(arg.strip())
    if audio is None:
        raise SdpError("no RTP/AVP audio stream in the offer")
    if not audio.address:
        raise SdpError("no connection address for the audio stream")
    for pt in audio.payload_types:
        if pt in STATIC_PT and pt not in audio.codecs:
            audio.codecs[pt] = STATIC_PT[pt]
    audio.session_version = version
    audio.other_media = others
    return audio


def choose_codec(offer: SdpOffer, preference: tuple[str, ...] = ("PCMU", "PCMA")) -> tuple[int, str]:
    """The payload type and name we answer with: the first offered codec we take, in the offer's order
    (RFC 3264 6.1: the answerer SHOULD keep the offerer's preference) among ``preference``."""
    wanted = {p.upper() for p in preference}
    for pt in offer.payload_types:
        name = offer.codecs.get(pt, "")
        if name in wanted and name in ("PCMU", "PCMA"):
            return pt, name
    offered = ", ".join(offer.codecs.get(pt, str(pt)) for pt in offer.payload_types) or "none"
    raise SdpError(f"no common codec: offered {offered}, we take {', '.join(preference)}")


def answer_direction(offer_direction: str) -> str:
    return {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}.get(offer_direction, "sendrecv")


def build_sdp(address: str, port: int, pt: int, codec: str, te_pt: int | None, session_id: int, version: int,
              direction: str = "sendrecv", other_media: list[str] | None = None) -> str:  # fmt: skip
    ip = "IP6" if ":" in address else "IP4"
    fmts = f"{pt}" + (f" {te_pt}" if te_pt is not None else "")
    lines = [
        "v=0", f"o=vcc {session_id} {version} IN {ip} {address}", "s=vcc", f"c=IN {ip} {address}", "t=0 0",
        f"m=audio {port} RTP/AVP {fmts}", f"a=rtpmap:{pt} {codec}/{CLOCK_HZ}",
    ]  # fmt: skip
    if te_pt is not None:
        lines += [f"a=rtpmap:{te_pt} telephone-event/{CLOCK_HZ}", f"a=fmtp:{te_pt} 0-16"]
    lines += ["a=ptime:20", f"a={direction}"]
    for media in other_media or []:  # refused streams keep their place with port 0 (RFC 3264 6)
        kind, _, rest = media.partition(" ")
        lines.append(f"m={kind} 0 {rest.partition(' ')[2]}")
    return "\r\n".join(lines) + "\r\n"
