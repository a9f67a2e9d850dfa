"""The WebRTC benches' client side: aiortc peers that time 1 kHz bursts, the figures taken from them,
and a client worker process that runs a share of a step's calls (``bench/webrtc.py`` starts several,
so the clients of a run do not share one event loop, and their CPU is counted apart from the
gateway's).

A worker speaks JSON lines on stdin/stdout: ``setup`` (make its calls, through the gateway's control
socket or direct peer-to-peer; answers once every peer hears audio), ``measure`` (the raw figures of
its peers over a window ``[t0, t1]`` of ``time.monotonic()``, which is one clock for every process
on the machine), ``teardown`` (hang up, close the peers), ``quit``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from vcc.media.encoders import frame_encoder
from vcc.media.passthrough import EncodedAudio, PayloadDecoder
from vcc.media.pcm import FRAME_SAMPLES, RATE_HZ, frames_of, tone
from vcc.media.peer import TonePeer

GAP_MS = 60.0
BURST_MS = 60
LOUD = 3000  # a sample above this: the burst is on


class GatewayClient:
    """The gateway process's JSON-lines control socket (``bench/webrtc.py --serve``)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.lock = reader, writer, asyncio.Lock()

    @classmethod
    async def connect(cls, port: int) -> GatewayClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def call(self, op: str, *args: Any) -> Any:
        async with self.lock:
            self.writer.write(json.dumps({"op": op, "args": list(args)}).encode() + b"\n")
            await self.writer.drain()
            reply = json.loads(await self.reader.readline())
        if "error" in reply:
            raise RuntimeError(f"gateway {op}: {reply['error']}")
        return reply["ok"]


class BurstPeer(TonePeer):
    """Silence with a 1 kHz burst every second at ``phase_s``; records burst send times, the onsets
    it hears, and the arrival time of every packet (or frame) it receives.

    Sending: payloads encoded once (a silence payload, the burst's three frames) through aiortc's
    pack path, so no encoder runs per frame; ``encode_each_frame`` makes it encode every frame with
    aiortc's encoder as the first runs did.

    Receiving: by default each RTP packet is timed as it comes out of SRTP (before aiortc's jitter
    buffer) and decoded in the loop by libopus / a G.711 table for the burst's onset: the audio the
    gateway sent, when it arrived, without the client's own jitter buffer, decoder thread and hop
    back to the loop (which cost the clients more CPU than the gateway spent on the call).
    ``decode_frames`` times the frames aiortc's receiver decodes instead, as the first runs did."""

    def __init__(self, phase_s: float, codec: str, encode_each_frame: bool = False,
                 decode_frames: bool = False) -> None:  # fmt: skip
        super().__init__(None, keep_s=1.0, codec=codec)
        self.phase_s = phase_s
        self.decode_frames = decode_frames
        self.sent: list[float] = []  # burst send times
        self.send_times: list[float] = []  # every frame handed to aiortc's sender
        self.onsets: list[float] = []
        self.keep_arrivals = True
        self._loud = False
        self._burst = tone((1000.0,), BURST_MS, RATE_HZ, -10.0)
        self._armed_at = 0.0
        self._decoder: PayloadDecoder | None = None
        self._payload_type: int | None = None
        original_recv = self.track.recv
        encoder = None if encode_each_frame else frame_encoder(codec.lower())
        burst_payloads = [encoder.encode(f) for f in frames_of(self._burst)] if encoder else []
        pending: list[bytes] = []
        track = self.track

        def arm(now: float) -> bool:
            if (not track.clips and not pending and now - self._armed_at >= 0.9
                    and self.phase_s <= (now % 1.0) < self.phase_s + 0.1):  # fmt: skip
                self._armed_at = now
                self.sent.append(now + FRAME_SAMPLES / RATE_HZ)  # goes out from the next frame
                return True
            return False

        async def recv() -> Any:
            if encoder is None:
                frame = await original_recv()
                now = time.monotonic()
                self.send_times.append(now)
                if arm(now):
                    track.play(self._burst)
                return frame
            if track.readyState != "live":
                raise MediaStreamError
            loop = asyncio.get_running_loop()
            if track._start is None:
                track._start = loop.time()
            delay = track._start + track._n * FRAME_SAMPLES / RATE_HZ - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            n = track._n
            track._n += 1
            payload = pending.pop(0) if pending else encoder.silence
            now = time.monotonic()
            self.send_times.append(now)
            if arm(now):
                pending.extend(burst_payloads)
            item = EncodedAudio(payload, FRAME_SAMPLES, encoder.clock_hz)
            item.stamp(n * FRAME_SAMPLES)
            return item

        self.track.recv = recv  # type: ignore[method-assign]

    async def offer(self) -> str:
        sdp = await super().offer()
        self.hook(self.pc.getTransceivers()[0])
        return sdp

    def hook(self, transceiver: RTCRtpTransceiver) -> None:
        """Time and decode the audio packets as they come out of SRTP (not with ``decode_frames``)."""
        if self.decode_frames:
            return
        receiver = transceiver.receiver

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            if self._payload_type is None:  # the answer's first payload type is the audio codec's
                self._payload_type = packet.payload_type
            if packet.payload_type != self._payload_type or not packet.payload:
                return  # telephone-events, or nothing to hear
            now = time.monotonic()
            self.arrivals.append(now)
            if self._decoder is None:
                self._decoder = PayloadDecoder((self.codec or "opus").lower())
            pcm = self._decoder.decode16(packet.payload)
            self._heard(now, pcm)

        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    def _on_track(self, track: Any) -> None:
        if self.decode_frames:
            super()._on_track(track)

    def _heard(self, now: float, pcm: np.ndarray) -> None:
        loud = bool(len(pcm)) and int(np.abs(pcm.astype(np.int32)).max()) > LOUD
        if loud and not self._loud:
            self.onsets.append(now)
        self._loud = loud

    async def _read(self, track: Any) -> None:
        from vcc.media.legs import to_mono48

        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                self.arrivals.append(now)
                self._heard(now, to_mono48(frame))
        except MediaStreamError:
            pass


def latencies_ms(sent: list[float], heard: list[float], t0: float, t1: float) -> list[float]:
    """Match each burst sent in [t0, t1] with the first onset heard after it (within 0.5 s)."""
    out, j = [], 0
    heard = sorted(heard)
    for s in sorted(sent):
        if not t0 <= s <= t1:
            continue
        while j < len(heard) and heard[j] < s - 0.02:
            j += 1
        if j < len(heard) and heard[j] - s < 0.5:
            out.append((heard[j] - s) * 1000)
    return out


def interarrival_ms(peers: list[BurstPeer], t0: float, t1: float) -> tuple[list[np.ndarray], int]:
    """Per peer, the inter-arrival times (ms) of what it received in [t0, t1]; and the number of
    peers that received fewer than two packets there (each counts as a gap)."""
    deltas, silent = [], 0
    for p in peers:
        a = np.array([t for t in p.arrivals if t0 <= t <= t1])
        if len(a) < 2:
            silent += 1
            continue
        deltas.append(np.diff(a) * 1000)
    return deltas, silent


def interarrival_stats(peers: list[BurstPeer], t0: float, t1: float) -> tuple[float, int, int]:
    """p99 of the inter-arrival times (ms), gaps (inter-arrivals over ``GAP_MS``), frames counted."""
    deltas, silent = interarrival_ms(peers, t0, t1)
    alld = np.concatenate(deltas) if deltas else np.array([1e9])
    return float(np.percentile(alld, 99)), silent + int(np.sum(alld > GAP_MS)), len(alld)


# --- a client worker process --------------------------------------------------------------------


class Worker:
    def __init__(self) -> None:
        self.callers: list[BurstPeer] = []
        self.agents: list[BurstPeer] = []
        self.ids: list[str] = []
        self.gw: GatewayClient | None = None

    async def setup(self, ids: list[str], codec: str, port: int | None, encode_each_frame: bool,
                    decode_frames: bool) -> dict[str, Any]:  # fmt: skip
        self.ids = ids
        self.callers = [BurstPeer(0.0, codec, encode_each_frame, decode_frames) for _ in ids]
        self.agents = [BurstPeer(0.5, codec, encode_each_frame, decode_frames) for _ in ids]
        if port is not None:
            self.gw = await GatewayClient.connect(port)
        for cid, caller, agent in zip(ids, self.callers, self.agents, strict=True):
            if self.gw is not None:
                answer = await self.gw.call("caller_offer", cid, "bench", None, None, await caller.offer(),
                                            "bench-queue")  # fmt: skip
                await caller.accept(answer)
                await agent.accept(await self.gw.call("agent_offer", cid, "agent-" + cid, await agent.offer()))
            else:  # direct: the caller offers, the agent answers
                offer = await caller.offer()
                agent.hook(agent.pc.addTransceiver(agent.track, direction="sendrecv"))
                await agent.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                await agent.pc.setLocalDescription(await agent.pc.createAnswer())
                await caller.accept(agent.pc.localDescription.sdp)
        deadline = time.monotonic() + 30
        while any(not p.arrivals for p in self.callers + self.agents):
            if time.monotonic() > deadline:
                raise RuntimeError(f"calls {ids[0]}..: some peers never got audio")
            await asyncio.sleep(0.1)
        return {"ready": len(ids)}

    def measure(self, t0: float, t1: float) -> dict[str, Any]:
        peers = self.callers + self.agents
        deltas, silent = interarrival_ms(peers, t0, t1)
        lat: list[float] = []
        for c, a in zip(self.callers, self.agents, strict=True):
            lat += latencies_ms(c.sent, a.onsets, t0, t1 - 0.5)
            lat += latencies_ms(a.sent, c.onsets, t0, t1 - 0.5)
        sent = sum(sum(1 for t in p.send_times if t0 <= t <= t1) for p in peers)
        return {"deltas": [round(float(x), 2) for d in deltas for x in d], "silent": silent, "latencies": lat,
                "sent": sent, "peers": len(peers)}  # fmt: skip

    async def teardown(self) -> dict[str, Any]:
        if self.gw is not None:
            for cid in self.ids:
                await self.gw.call("hangup", cid, "agent_hangup")
            self.gw.writer.close()
            self.gw = None
        for p in self.callers + self.agents:
            await p.close()
        self.callers, self.agents, self.ids = [], [], []
        return {"closed": True}


async def worker_main() -> None:
    """Serve ``setup``/``measure``/``teardown``/``quit`` lines from stdin, one JSON reply a line."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    worker = Worker()
    while line := await reader.readline():
        req = json.loads(line)
        op = req.pop("op")
        try:
            if op == "quit":
                break
            if op == "setup":
                reply = await worker.setup(**req)
            elif op == "measure":
                reply = worker.measure(**req)
            elif op == "teardown":
                reply = await worker.teardown()
            else:
                reply = {"error": f"unknown op {op!r}"}
        except Exception as exc:
            reply = {"error": f"{op}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    await worker.teardown()


if __name__ == "__main__":
    asyncio.run(worker_main())
