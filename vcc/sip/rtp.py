"""RTP and RTCP for the SIP side (RFC 3550), G.711 (ITU-T G.711 mu-law and A-law), sans-IO.

G.711 goes through 256-entry decode tables and 65,536-entry encode tables built once with numpy,
so a 20 ms frame (160 samples) is one table lookup each way. :class:`ReceiveStats` keeps the
RFC 3550 A.3/A.8 loss and interarrival jitter a receiver report carries.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from vcc.media.pcm import Pcm

RTP_VERSION = 2
NTP_EPOCH_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01
PT_PCMU, PT_PCMA = 0, 8
CLOCK_HZ = 8000
FRAME_SAMPLES_8K = 160


class RtpError(ValueError):
    pass


class RtpPacket(NamedTuple):  # a tuple: built for every received packet, ~0.5 us against ~1.2 for a frozen dataclass
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def serialize(self) -> bytes:
        return struct.pack("!BBHII", 0x80, (0x80 if self.marker else 0) | self.payload_type, self.sequence & 0xFFFF,
                           self.timestamp & 0xFFFFFFFF, self.ssrc) + self.payload  # fmt: skip


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12:
        raise RtpError("RTP packet shorter than its header")
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
    if b0 >> 6 != RTP_VERSION:
        raise RtpError("not RTP version 2")
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            raise RtpError("truncated RTP header extension")
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if b0 & 0x20:  # padding
        if end == 0 or data[-1] == 0 or data[-1] > end - offset:
            raise RtpError("bad RTP padding")
        end -= data[-1]
    if offset > end:
        raise RtpError("truncated RTP packet")
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, data[offset:end], bool(b1 & 0x80))


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 4: packet types 192-223 are RTCP when RTP and RTCP share a port."""
    return len(data) >= 2 and 192 <= data[1] <= 223


# --- G.711 ------------------------------------------------------------------------------------------


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


def _encode_table(decode: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    """For every int16 value the code whose decoded value is nearest (exact G.711 quantisation)."""
    order = np.argsort(decode.astype(np.int32), kind="stable")
    values = decode.astype(np.int32)[order]
    x = np.arange(-32768, 32768, dtype=np.int32)
    idx = np.clip(np.searchsorted(values, x), 1, 255)
    lower, upper = values[idx - 1], values[idx]
    pick = np.where(x - lower < upper - x, idx - 1, idx)  # a tie goes up: A-law 0 -> +8 (0xD5)
    return order[pick].astype(np.uint8)


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
ULAW_ENCODE = _encode_table(ULAW_DECODE)
ULAW_ENCODE[32768:][ULAW_ENCODE[32768:] == 0x7F] = 0xFF  # mu-law has -0 and +0: 0 and up encode as +0
ALAW_ENCODE = _encode_table(ALAW_DECODE)


def g711_decode(payload: bytes, codec: str) -> Pcm:
    codes = np.frombuffer(payload, dtype=np.uint8)
    return (ULAW_DECODE if codec == "PCMU" else ALAW_DECODE)[codes]


def g711_encode(pcm8k: Pcm, codec: str) -> bytes:
    table = ULAW_ENCODE if codec == "PCMU" else ALAW_ENCODE
    return table[pcm8k.astype(np.int32) + 32768].tobytes()


# --- receive statistics (RFC 3550 A.1, A.3, A.8) -----------------------------------------------------


class ReceiveStats:
    def __init__(self) -> None:
        self.ssrc = 0
        self.base_seq = -1
        self.max_seq = 0
        self.cycles = 0
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0  # in timestamp units
        self._transit: float | None = None
        self.last_sr_ntp_mid = 0  # middle 32 bits of the last SR's NTP time
        self.last_sr_at_s = 0.0

    def packet(self, pkt: RtpPacket, arrival_s: float) -> None:
        if self.base_seq < 0 or pkt.ssrc != self.ssrc:
            self.ssrc, self.base_seq, self.max_seq = pkt.ssrc, pkt.sequence, pkt.sequence
            self.cycles = self.received = 0
            self.expected_prior = self.received_prior = 0
            self._transit = None
        delta = (pkt.sequence - self.max_seq) & 0xFFFF
        if 0 < delta < 3000:
            if pkt.sequence < self.max_seq:
                self.cycles += 1 << 16
            self.max_seq = pkt.sequence
        self.received += 1
        transit = arrival_s * CLOCK_HZ - pkt.timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            self.jitter += (d - self.jitter) / 16
        self._transit = transit

    @property
    def expected(self) -> int:
        return 0 if self.base_seq < 0 else self.cycles + self.max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    def report_block(self, now_s: float) -> bytes:
        expected = self.expected
        interval_expected = expected - self.expected_prior
        interval_received = self.received - self.received_prior
        self.expected_prior, self.received_prior = expected, self.received
        lost_interval = interval_expected - interval_received
        fraction = 0 if interval_expected <= 0 or lost_interval <= 0 else (lost_interval << 8) // interval_expected
        cumulative = min(self.lost, 0x7FFFFF)
        dlsr = int((now_s - self.last_sr_at_s) * 65536) if self.last_sr_ntp_mid else 0
        highest = (self.cycles | self.max_seq) & 0xFFFFFFFF
        return struct.pack("!IIIIII", self.ssrc, (fraction & 0xFF) << 24 | cumulative, highest, int(self.jitter),
                           self.last_sr_ntp_mid, dlsr & 0xFFFFFFFF)  # fmt: skip


def ntp_time(now_s: float) -> tuple[int, int]:
    secs = int(now_s) + NTP_EPOCH_OFFSET_S
    frac = int((now_s % 1.0) * (1 << 32))
    return secs & 0xFFFFFFFF, frac & 0xFFFFFFFF


def build_rtcp(ssrc: int, now_s: float, rtp_ts: int, packets_sent: int, octets_sent: int,
               stats: ReceiveStats | None, cname: str) -> bytes:  # fmt: skip
    """A compound RTCP packet: SR (we send) with one report block when we hear a source, then SDES CNAME."""
    blocks = stats.report_block(now_s) if stats is not None and stats.received else b""
    count = 1 if blocks else 0
    ntp_s, ntp_f = ntp_time(now_s)
    sr_body = struct.pack("!IIIIII", ssrc, ntp_s, ntp_f, rtp_ts & 0xFFFFFFFF, packets_sent & 0xFFFFFFFF,
                          octets_sent & 0xFFFFFFFF) + blocks  # fmt: skip
    sr = struct.pack("!BBH", 0x80 | count, 200, len(sr_body) // 4) + sr_body
    name = cname.encode()[:255]
    item = bytes([1, len(name)]) + name + b"\x00"
    item += b"\x00" * (-(4 + len(item)) % 4)
    sdes_body = struct.pack("!I", ssrc) + item
    sdes = struct.pack("!BBH", 0x81, 202, len(sdes_body) // 4) + sdes_body
    return sr + sdes


@dataclass(frozen=True)
class RtcpReport:
    kind: str  # "SR" | "RR" | "BYE" | other
    ssrc: int
    ntp_mid: int = 0
    fraction_lost: int = 0
    cumulative_lost: int = 0
    jitter: int = 0


def parse_rtcp(data: bytes) -> list[RtcpReport]:
    """The sender and receiver reports (and BYEs) of a compound RTCP packet; RtpError if malformed."""
    out: list[RtcpReport] = []
    offset = 0
    while offset + 4 <= len(data):
        b0, pt, length = struct.unpack_from("!BBH", data, offset)
        end = offset + 4 + 4 * length
        if b0 >> 6 != RTP_VERSION or end > len(data):
            raise RtpError("malformed RTCP packet")
        count = b0 & 0x1F
        if pt in (200, 201) and end >= offset + 8:
            ssrc = struct.unpack_from("!I", data, offset + 4)[0]
            block_at = offset + (28 if pt == 200 else 8)
            ntp_mid = 0
            if pt == 200 and end >= offset + 28:
                ntp_s, ntp_f = struct.unpack_from("!II", data, offset + 8)
                ntp_mid = ((ntp_s & 0xFFFF) << 16) | (ntp_f >> 16)
            fraction = cumulative = jitter = 0
            if count and end >= block_at + 24:
                _, lost_word, _, jitter, _, _ = struct.unpack_from("!IIIIII", data, block_at)
                fraction, cumulative = lost_word >> 24, lost_word & 0xFFFFFF
            out.append(RtcpReport("SR" if pt == 200 else "RR", ssrc, ntp_mid, fraction, cumulative, jitter))
        elif pt == 203:
            out.append(RtcpReport("BYE", struct.unpack_from("!I", data, offset + 4)[0] if end >= offset + 8 else 0))
        offset = end
    if offset != len(data):
        raise RtpError("trailing bytes after RTCP")
    return out
