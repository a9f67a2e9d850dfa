"""RFC 4733 telephone-event payloads (sans-IO): parse, and turn a stream of packets into key presses.

A payload is 4 bytes per event: event code (0-9, 10 ``*``, 11 ``#``, 12-15 ``A``-``D``), a byte
with the end bit (E), a reserved bit and a 6-bit volume, and a 16-bit duration in timestamp units.
A sender repeats the packets of one event (same RTP timestamp) as the duration grows and sends the
final packet with E set three times. :class:`TelephoneEventReceiver` reports each event once, when
its first packet arrives (the start of the key press, so the IVR reacts at once), and ignores the
updates, the retransmitted end packets and any packet of an event it already reported, keyed by RTP
timestamp (and the event code, for senders that reuse a timestamp).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

EVENT_CODES = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # 0..63, as -dBm0
    duration: int  # timestamp units

    @property
    def digit(self) -> str | None:
        return EVENT_CODES[self.event] if self.event < len(EVENT_CODES) else None


class TelephoneEventError(ValueError):
    pass


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """The first event of a payload (redundant events after it, allowed by RFC 4733 §2.5.1.5,
    repeat earlier ones and are not needed here)."""
    if len(payload) < 4:
        raise TelephoneEventError(f"telephone-event payload of {len(payload)} bytes; 4 needed")
    event, flags, duration = struct.unpack("!BBH", payload[:4])
    return TelephoneEvent(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)


def build_telephone_event(digit: str, *, end: bool, duration: int, volume: int = 10) -> bytes:
    code = EVENT_CODES.index(digit)
    return struct.pack("!BBH", code, (0x80 if end else 0) | (volume & 0x3F), duration & 0xFFFF)


class TelephoneEventReceiver:
    """Key presses from telephone-event packets of one RTP stream."""

    def __init__(self, memory: int = 64) -> None:
        self._seen: deque[tuple[int, int]] = deque(maxlen=memory)

    def packet(self, rtp_timestamp: int, payload: bytes) -> str | None:
        """Returns the digit when this packet starts an event not seen before; None otherwise
        (updates, end packets and their retransmissions, non-key events, malformed payloads)."""
        try:
            ev = parse_telephone_event(payload)
        except TelephoneEventError:
            return None
        key = (rtp_timestamp, ev.event)
        if key in self._seen:
            return None
        self._seen.append(key)
        return ev.digit
