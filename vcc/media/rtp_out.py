"""A leg's RTP sending loop in place of aiortc's, so forwarded payloads can go out at once.

aiortc's ``RTCRtpSender._run_rtp`` pulls every frame from the track in its own task: a payload
forwarded from the bridged leg (:mod:`vcc.media.passthrough`) went into the outbound track's queue,
woke the sender's task, came back out through ``recv()`` and aiortc's ``Encoder.pack``, and only
then went out: a task wakeup, a future and a few layers of Python per packet, and the sequence
number is a local variable of that loop, so nothing else can send on the stream.

:class:`RtpOut` is installed as the sender's ``_run_rtp`` (before the connection starts it) and
keeps the stream's state (SSRC from the sender, sequence number, timestamp origin) itself. Its loop
does what aiortc's did for the track's own audio (music, prompts, silence, fillers, a transcoded
relay: every one an ``EncodedAudio`` the gateway encoded), and :meth:`send` lets the receive hook of
the bridged leg send a forwarded payload right away, in its own task, on the same stream. The
sender's RTCP reports (``_run_rtcp``) read the counters this keeps on the sender as aiortc's loop
did. A codec the gateway has no encoder for (the track hands out ``av.AudioFrame``s) runs aiortc's
own loop unchanged.

Also here: aiortc's NTP clock made from ``time.time()`` (its datetime arithmetic cost ~40 us a
packet, twice per packet sent); the same value.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpSender, clock
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from vcc.media.passthrough import EncodedAudio

if TYPE_CHECKING:
    from vcc.media.legs import OutboundTrack

log = logging.getLogger(__name__)

NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01


def current_ntp_time() -> int:
    """aiortc's ``clock.current_ntp_time`` (64-bit NTP: seconds << 32 | fraction) from ``time.time()``."""
    now_us = time.time_ns() // 1000
    seconds, micros = divmod(now_us, 1_000_000)
    return ((seconds + NTP_UNIX_OFFSET_S) << 32) | ((micros << 32) // 1_000_000)


AIORTC_NTP_TIME = clock.current_ntp_time
clock.current_ntp_time = current_ntp_time  # aiortc's sender and receiver call it through the module


class RtpOut:
    """The RTP stream of one leg's sender: its loop, and direct sends of forwarded payloads."""

    def __init__(self, sender: RTCRtpSender, track: OutboundTrack) -> None:
        self.sender = sender
        self.track = track
        self.sequence_number = random.randrange(1 << 16)
        self.timestamp_origin = random.randrange(1 << 32)
        self.running = False  # the loop runs: the transport is connected and send() may be used
        self._payload_type = 0
        self._mid: str | None = None
        self._extensions: Any = None
        sender._run_rtp = self._run  # type: ignore[method-assign]

    async def _run(self, codec: RTCRtpCodecParameters) -> None:
        if self.track.encoder is None:  # a codec without an encoder here: aiortc's loop, as before
            await RTCRtpSender._run_rtp(self.sender, codec)
            return
        sender = self.sender
        sender._RTCRtpSender__rtp_started.set()  # type: ignore[attr-defined]
        self._payload_type = codec.payloadType or 0
        self._mid = sender._RTCRtpSender__mid  # type: ignore[attr-defined]
        self._extensions = sender._RTCRtpSender__rtp_header_extensions_map  # type: ignore[attr-defined]
        self.running = True
        try:
            while True:
                item = await self.track.recv()
                if isinstance(item, EncodedAudio):
                    await self.send(item.payload, item.pts)
                else:  # cannot happen with an encoder on the track; never send unstamped audio
                    log.error("leg sender: a frame that is not encoded (%s); dropped", type(item).__name__)
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:
            log.exception("leg sender: RTP loop failed")
        finally:
            self.running = False
            self.track.stop()
            sender._RTCRtpSender__rtp_exited.set()  # type: ignore[attr-defined]

    async def send(self, payload: bytes, timestamp: int) -> None:
        """One packet now: ``payload`` with ``timestamp`` in the codec's clock from the stream's start."""
        seq = self.sequence_number
        self.sequence_number = (seq + 1) & 0xFFFF
        packet = RtpPacket(payload_type=self._payload_type, marker=1, sequence_number=seq,
                           timestamp=(self.timestamp_origin + timestamp) & 0xFFFFFFFF,
                           ssrc=self.sender._ssrc, payload=payload)  # fmt: skip
        ntp = current_ntp_time()
        packet.extensions.abs_send_time = (ntp >> 14) & 0x00FFFFFF
        packet.extensions.mid = self._mid
        await self.sender.transport._send_rtp(packet.serialize(self._extensions))
        sender: Any = self.sender
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = packet.timestamp
        sender._RTCRtpSender__octet_count += len(payload)
        sender._RTCRtpSender__packet_count += 1
