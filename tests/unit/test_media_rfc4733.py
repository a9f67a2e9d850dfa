"""RFC 4733 telephone-event parsing and de-duplication."""

from __future__ import annotations

import pytest

from vcc.media.rfc4733 import (
    TelephoneEventError,
    TelephoneEventReceiver,
    build_telephone_event,
    parse_telephone_event,
)


def test_parse_fields() -> None:
    ev = parse_telephone_event(bytes([11, 0x80 | 10, 0x03, 0x20]))
    assert (ev.digit, ev.end, ev.volume, ev.duration) == ("#", True, 10, 800)
    assert parse_telephone_event(build_telephone_event("2", end=False, duration=160)).digit == "2"
    assert parse_telephone_event(bytes([16, 0, 0, 0])).digit is None  # not a key (flash etc.)


def test_short_payload() -> None:
    with pytest.raises(TelephoneEventError, match="4 needed"):
        parse_telephone_event(b"\x01\x02")


def test_one_press_per_event_despite_updates_and_end_retransmissions() -> None:
    rx = TelephoneEventReceiver()
    got = []
    for ts, digit in ((1000, "2"), (5000, "2"), (9000, "5")):
        for dur in (160, 320, 480):
            got.append(rx.packet(ts, build_telephone_event(digit, end=False, duration=dur)))
        for _ in range(3):  # the end packet is sent three times
            got.append(rx.packet(ts, build_telephone_event(digit, end=True, duration=640)))
    assert [d for d in got if d] == ["2", "2", "5"]


def test_end_packet_alone_still_counts_once_and_garbage_ignored() -> None:
    rx = TelephoneEventReceiver()
    assert rx.packet(42, build_telephone_event("9", end=True, duration=800)) == "9"
    assert rx.packet(42, build_telephone_event("9", end=True, duration=800)) is None
    assert rx.packet(43, b"\x00") is None
