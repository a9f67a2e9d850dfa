"""A forwarding leg's inbound RTP handled as the datagram arrives, not one task wakeup later.

aiortc receives in one task per DTLS transport: aioice's ``Connection.data_received`` puts every
datagram on a queue, and the transport's task wakes up, takes it, unprotects (SRTP), parses and
routes it to the receiver (``_recv_next``). For a leg that forwards its payloads (passthrough), that
hop is a queue, a future and an event-loop turn per packet, ~10 % of the gateway's CPU.

:func:`install` puts a ``data_received`` in front of aioice's for the leg's connection: while the
leg forwards (``forward_to`` set), its transport is connected and nothing is queued before it, an
SRTP packet (not SRTCP, not DTLS or STUN) is unprotected, parsed and routed right there, and the
receiver's handler (the leg's hook, which forwards the payload and sends it on the other leg's
stream) is run to its end at once: it does not wait on anything (socket sends on loopback/UDP are
immediate); if it ever does, :func:`finish` hands the rest to a task. Anything else goes on the
queue as before, in order. Counters of the transport that aiortc keeps per packet are kept too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pylibsrtp
from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtp import RtpPacket, is_rtcp

log = logging.getLogger(__name__)


def run_now(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine to its end in this call if it never waits; else the rest runs in a task."""
    try:
        waited = coro.send(None)
    except StopIteration:
        return
    task = asyncio.ensure_future(finish(coro, waited))
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


_PENDING: set[asyncio.Future[None]] = set()


async def finish(coro: Coroutine[Any, Any, Any], waited: Any) -> None:
    """Drive a coroutine that suspended on ``waited`` (a future, or None for a bare yield) as a task
    would: wait for the future without taking its outcome (the coroutine reads it), then resume."""
    while True:
        if isinstance(waited, asyncio.Future):
            waited._asyncio_future_blocking = False
            await asyncio.wait({waited})
        else:
            await asyncio.sleep(0)
        try:
            waited = coro.send(None)
        except StopIteration:
            return


def install(dtls: RTCDtlsTransport, forwarding: Callable[[], bool]) -> Callable[[], int]:
    """Handle this transport's inbound SRTP at once while ``forwarding()`` says so; returns a
    function giving how many packets were handled that way."""
    connection = dtls.transport._connection
    queue = connection._queue
    queued = connection.data_received
    handled = [0]

    def data_received(data: bytes, component: int) -> None:
        if (len(data) > 12 and 127 < data[0] < 192 and dtls._state == State.CONNECTED
                and dtls._rx_srtp is not None and queue.empty() and forwarding() and not is_rtcp(data)):  # fmt: skip
            handled[0] += 1
            try:
                _handle(dtls, data)
            except Exception:  # never into aioice's datagram handler
                log.exception("inbound RTP handled at once failed")
            return
        queued(data, component)

    connection.data_received = data_received  # type: ignore[method-assign]
    return lambda: handled[0]


def _handle(dtls: RTCDtlsTransport, data: bytes) -> None:
    """What ``RTCDtlsTransport._recv_next`` and ``_handle_rtp_data`` do for an SRTP packet."""
    transport: Any = dtls
    transport._RTCDtlsTransport__rx_bytes += len(data)
    transport._RTCDtlsTransport__rx_packets += 1
    try:
        plain = dtls._rx_srtp.unprotect(data)
        packet = RtpPacket.parse(plain, dtls._rtp_header_extensions_map)
    except (pylibsrtp.Error, ValueError):
        return  # dropped, as aiortc drops it
    receiver = dtls._rtp_router.route_rtp(packet)
    if receiver is not None:
        run_now(receiver._handle_rtp_packet(packet, arrival_time_ms=clock.current_ms()))
