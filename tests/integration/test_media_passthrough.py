"""Payload passthrough at the media gateway, with real aiortc peers on loopback: bridged legs that
negotiated the same codec (Opus, PCMU) have their RTP payloads forwarded without a decode and
re-encode, both ways, also between two consulting agents; the recording still holds both sides
(decoded from the forwarded payloads); legs with different codecs are transcoded as before; callers
in queue hear music encoded once for all of them."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np
import pytest
from aiortc.rtp import RtpPacket

from tests.integration.test_media_gateway import (
    AGENT2_HZ,
    AGENT_HZ,
    CALLER_HZ,
    Watcher,
    center,
    connect,
    hears,
    run,
    shares,
    until,
)
from vcc.actors.media_gateway import MediaGateway
from vcc.media.pcm import level_dbfs
from vcc.media.peer import TonePeer


def recording_shares(path: Path) -> tuple[list[float], list[float], list[float], list[float]]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 16000
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    left, right = data[:, 0], data[:, 1]
    return shares(left, CALLER_HZ), shares(left, AGENT_HZ), shares(right, AGENT_HZ), shares(right, CALLER_HZ)


@pytest.mark.parametrize("codec", ["opus", "PCMU"])
def test_same_codec_legs_forward_payloads_both_ways_and_record(codec: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = MediaGateway("dev", 0, center(), run_dir=str(tmp_path))
        watch = Watcher(gw)
        caller, agent = TonePeer(CALLER_HZ, codec=codec), TonePeer(AGENT_HZ, codec=codec)
        agent2 = TonePeer(AGENT2_HZ, codec=codec)
        cid = f"c-pass-{codec}"
        try:
            await connect(lambda sdp: gw.caller_offer(cid, "demo", None, "+15555550100", sdp, "demo-general"), caller)
            await connect(lambda sdp: gw.agent_offer(cid, "dev-01", sdp), agent)
            await watch.wait(cid, "bridged", agent_id="dev-01")
            call = gw.active[cid]
            leg_caller, leg_agent = call.caller, call.agents["dev-01"]
            assert leg_caller.codec == leg_agent.codec == codec.lower()
            await until("the caller hears the agent", lambda: hears(caller, AGENT_HZ))
            await until("the agent hears the caller", lambda: hears(agent, CALLER_HZ))
            await until("payloads forwarded both ways",
                        lambda: leg_caller.frames_forwarded > 50 and leg_agent.stats()["frames_forwarded"] > 50)

            # hold: the caller's payloads are no longer forwarded (music plays to the caller)
            await gw.hold(cid)
            await until("nothing forwarded on hold", lambda: leg_caller.forward_to is None)
            forwarded, decoded = leg_caller.frames_forwarded, leg_caller.frames_in
            await until("the caller's audio decoded again (jitter buffer and decoder) on hold",
                        lambda: leg_caller.frames_in > decoded + 25)  # fmt: skip
            await until("music on hold, not the agent", lambda: not hears(caller, AGENT_HZ, 0.5))
            assert leg_caller.frames_forwarded == forwarded
            # consult: the two agents' payloads go to each other, the caller hears music
            await connect(lambda sdp: gw.agent_offer(cid, "dev-02", sdp), agent2)
            await watch.wait(cid, "leg_up", agent_id="dev-02")
            await gw.consult(cid, "dev-01", "dev-02")
            leg_agent2 = call.agents["dev-02"]
            await until("the agents hear each other", lambda: hears(agent, AGENT2_HZ) and hears(agent2, AGENT_HZ))
            assert leg_agent.forward_to is leg_agent2 and leg_agent2.forward_to is leg_agent
            assert leg_caller.forward_to is None and not hears(caller, AGENT2_HZ)
            await gw.transfer(cid, "dev-02")
            await until("the caller hears the second agent", lambda: hears(caller, AGENT2_HZ))
            assert leg_caller.forward_to is leg_agent2 and leg_agent2.forward_to is leg_caller
            await gw.hangup(cid)
            rec = await watch.wait(cid, "recording")
        finally:
            watch.task.cancel()
            for p in (caller, agent, agent2):
                await p.close()
            await gw.close()

        caller_left, agent_left, agent_right, caller_right = recording_shares(Path(rec["path"]))
        assert np.median(caller_left) > 0.5 and max(agent_left) < 0.05  # decoded from forwarded payloads
        assert sum(r > 0.5 for r in agent_right) >= 2 and max(caller_right) < 0.05

    run(scenario())


def test_different_codecs_are_transcoded_not_forwarded(tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = MediaGateway("dev", 0, center(), run_dir=str(tmp_path))
        watch = Watcher(gw)
        caller, agent = TonePeer(CALLER_HZ, codec="PCMU"), TonePeer(AGENT_HZ, codec="opus")
        cid = "c-pass-mixed"
        try:
            await connect(lambda sdp: gw.caller_offer(cid, "demo", None, "+15555550101", sdp, "demo-general"), caller)
            await connect(lambda sdp: gw.agent_offer(cid, "dev-01", sdp), agent)
            await watch.wait(cid, "bridged", agent_id="dev-01")
            call = gw.active[cid]
            assert (call.caller.codec, call.agents["dev-01"].codec) == ("pcmu", "opus")
            await until("the caller hears the agent", lambda: hears(caller, AGENT_HZ))
            await until("the agent hears the caller", lambda: hears(agent, CALLER_HZ))
            assert call.caller.forward_to is None and call.agents["dev-01"].forward_to is None
            await until("the caller's audio decoded at the gateway", lambda: call.caller.frames_in > 50)
            assert call.caller.frames_forwarded == 0 and call.agents["dev-01"].frames_forwarded == 0
        finally:
            watch.task.cancel()
            for p in (caller, agent):
                await p.close()
            await gw.close()

    run(scenario())


def test_queued_opus_callers_hear_music_encoded_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        gw = MediaGateway("dev", 0, center(), run_dir=str(tmp_path))
        first, second = TonePeer(CALLER_HZ, codec="opus"), TonePeer(CALLER_HZ, codec="opus")
        try:
            await connect(lambda sdp: gw.caller_offer("c-q-1", "demo", None, "+1555", sdp, "demo-general"), first)
            await until("the first caller hears music", lambda: level_dbfs(first.recent(0.5)) > -45)
            await connect(lambda sdp: gw.caller_offer("c-q-2", "demo", None, "+1556", sdp, "demo-general"), second)
            leg = gw.active["c-q-2"].caller
            await until("music payloads from the shared encoding", lambda: leg.out.frames_cached > 50)
            await until("the second caller hears music", lambda: level_dbfs(second.recent(0.5)) > -45)
            assert not hears(second, CALLER_HZ, 0.5)  # the music, not its own tone
        finally:
            for p in (first, second):
                await p.close()
            await gw.close()

    run(scenario())


def test_forwarded_payloads_go_out_at_once_on_the_legs_one_rtp_stream(tmp_path: Path) -> None:
    """The bridged leg's packets are handled as they arrive (vcc.media.rtp_in) and its receive hook
    sends each forwarded payload on the other leg's stream at once (vcc.media.rtp_out), not through
    the outbound track's queue and the sender task; what the caller
    receives through music -> bridged -> hold -> resumed stays one stream: one SSRC, every sequence
    number in turn, every timestamp 20 ms after the one before."""

    async def scenario() -> None:
        gw = MediaGateway("dev", 0, center(), run_dir=str(tmp_path))
        watch = Watcher(gw)
        caller, agent = TonePeer(CALLER_HZ, codec="opus"), TonePeer(AGENT_HZ, codec="opus")
        seen: list[tuple[int, int, int]] = []  # (ssrc, sequence number, timestamp) as the caller got them
        cid = "c-pass-direct"
        try:
            await caller.offer()
            receiver = caller.pc.getTransceivers()[0].receiver
            original = receiver._handle_rtp_packet

            async def record(packet: RtpPacket, arrival_time_ms: int) -> None:
                seen.append((packet.ssrc, packet.sequence_number, packet.timestamp))
                await original(packet, arrival_time_ms)

            receiver._handle_rtp_packet = record  # type: ignore[method-assign]
            answer = await gw.caller_offer(cid, "demo", None, "+15555550102", caller.pc.localDescription.sdp,
                                           "demo-general")  # fmt: skip
            await caller.accept(answer)
            await until("music", lambda: len(seen) > 25)
            await connect(lambda sdp: gw.agent_offer(cid, "dev-01", sdp), agent)
            await watch.wait(cid, "bridged", agent_id="dev-01")
            out = gw.active[cid].caller.out
            await until("the agent's payloads sent to the caller at once", lambda: out.frames_direct > 50)
            agent_leg = gw.active[cid].agents["dev-01"]
            await until("the agent's packets handled as they arrive, not through aioice's queue",
                        lambda: agent_leg.stats()["packets_at_once"] > 50)  # fmt: skip
            await until("the caller hears the agent", lambda: hears(caller, AGENT_HZ))
            await gw.hold(cid)
            n = len(seen)
            await until("music on hold", lambda: len(seen) > n + 25)
            direct = out.frames_direct
            await gw.resume(cid)
            await until("sent at once again after resume", lambda: out.frames_direct > direct + 25)
            await until("the caller hears the agent again", lambda: hears(caller, AGENT_HZ))
        finally:
            watch.task.cancel()
            for p in (caller, agent):
                await p.close()
            await gw.close()
        assert len({ssrc for ssrc, _, _ in seen}) == 1
        ordered = sorted(seen, key=lambda s: s[1] + (65536 if s[1] < seen[0][1] else 0))  # (a reordered pair)
        steps = {((b[1] - a[1]) & 0xFFFF, (b[2] - a[2]) & 0xFFFFFFFF) for a, b in itertools.pairwise(ordered)}
        assert steps == {(1, 960)}, steps

    run(scenario())
