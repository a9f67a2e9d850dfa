"""SIP callers from real clients none of us wrote (SIPp, baresip) into a media gateway in this
process: IVR with RFC 4733 keys, BYE either side, CANCEL while ringing, re-INVITE hold and OPTIONS
over TCP, digest-authenticated and refused trunks, and a SIP caller bridged to a WebRTC (aiortc)
agent with audio both ways and a recording."""

from __future__ import annotations

import asyncio
import os
import signal
import wave
from pathlib import Path

import numpy as np

from vcc.media.pcm import frequency_power
from vcc.media.peer import TonePeer
from vcc.media.sip_leg import SipLeg

from .sip_harness import DIALED, free_port, run_sipp, sip_config, start_gateway
from .test_media_gateway import Watcher, run, until


def caller_leg(gw, contact_id: str) -> SipLeg:  # type: ignore[no-untyped-def]
    leg = gw.active[contact_id].caller
    assert isinstance(leg, SipLeg)
    return leg


def test_sipp_call_runs_the_ivr_with_rfc4733_keys_and_the_caller_hangs_up(tmp_path: Path) -> None:
    run(_sipp_call_runs_the_ivr_with_rfc4733_keys_and_the_caller_hangs_up(tmp_path))


async def _sipp_call_runs_the_ivr_with_rfc4733_keys_and_the_caller_hangs_up(tmp_path: Path) -> None:
    gw = await start_gateway(tmp_path)
    watch = Watcher(gw)
    try:
        run = await run_sipp(tmp_path, "uac_ivr.xml", gw.sip.port)  # type: ignore[union-attr]
        assert run.returncode == 0, run.explain()
        await until("the call to end", lambda: any(e["kind"] == "ended" for e in watch.events))
        cid = watch.events[0]["contact_id"]
        assert (await watch.wait(cid, "leg_up"))["leg"] == "caller"
        assert (await watch.wait(cid, "dtmf"))["source"] == "rfc4733"
        ivr = await watch.wait(cid, "ivr")
        assert (ivr["outcome"], ivr["queue"], ivr["path"]) == ("route", "demo-general", [["menu", "2"]])
        ended = await watch.wait(cid, "ended")
        assert (ended["reason"], ended["by"]) == ("caller_hangup", "caller")
        status = gw.sip.status()  # type: ignore[union-attr]
        assert (status["invites"], status["answered"], status["byes_in"], status["calls"]) == (1, 1, 1, 0)
        assert gw.active == {}
    finally:
        watch.task.cancel()
        await gw.close()


def test_gateway_hangs_up_with_a_bye_and_rtp_rtcp_flow_both_ways(tmp_path: Path) -> None:
    run(_gateway_hangs_up_with_a_bye_and_rtp_rtcp_flow_both_ways(tmp_path))


async def _gateway_hangs_up_with_a_bye_and_rtp_rtcp_flow_both_ways(tmp_path: Path) -> None:
    gw = await start_gateway(tmp_path)
    watch = Watcher(gw)
    try:
        sipp = asyncio.create_task(run_sipp(tmp_path, "uac_gateway_bye.xml", gw.sip.port))  # type: ignore[union-attr]
        await until("a caller leg", lambda: any(e["kind"] == "leg_up" for e in watch.events))
        cid = watch.events[0]["contact_id"]
        leg = caller_leg(gw, cid)
        await until("3 s of the caller's audio", lambda: leg.frames_in >= 150)
        stats = leg.stats()
        assert stats["codec"] == "PCMU" and stats["frames_out"] > 100 and stats["rtcp_sent"] >= 1
        assert stats["lost"] == 0
        # in the IVR with RFC 4733 keys and no recording the caller's audio is not decoded at all
        assert stats["frames_unheard"] >= 100
        await gw.hangup(cid, "agent_hangup")
        run = await sipp
        assert run.returncode == 0, run.explain()
        assert (await watch.wait(cid, "ended"))["by"] == "agent"
        assert gw.sip.status()["byes_out"] == 1  # type: ignore[union-attr]
    finally:
        watch.task.cancel()
        await gw.close()


def test_cancel_while_ringing_gets_487_and_no_call_is_left(tmp_path: Path) -> None:
    run(_cancel_while_ringing_gets_487_and_no_call_is_left(tmp_path))


async def _cancel_while_ringing_gets_487_and_no_call_is_left(tmp_path: Path) -> None:
    gw = await start_gateway(tmp_path, sip_config(ring_ms=5000))
    watch = Watcher(gw)
    try:
        run = await run_sipp(tmp_path, "uac_cancel.xml", gw.sip.port)  # type: ignore[union-attr]
        assert run.returncode == 0, run.explain()
        status = gw.sip.status()  # type: ignore[union-attr]
        assert (status["cancelled"], status["answered"]) == (1, 0)
        await until("the ring to finish", lambda: gw.sip.calls == {} and not gw.sip._tasks, 10.0)  # type: ignore[union-attr]
        assert gw.active == {}
        ended = await watch.wait(watch.events[0]["contact_id"], "ended")
        assert ended["by"] == "caller"
    finally:
        watch.task.cancel()
        await gw.close()


def test_a_caller_no_trunk_allows_is_refused(tmp_path: Path) -> None:
    run(_a_caller_no_trunk_allows_is_refused(tmp_path))


async def _a_caller_no_trunk_allows_is_refused(tmp_path: Path) -> None:
    config = sip_config(trunks=[{"id": "carrier", "allow": ["192.0.2.0/24"]}])
    gw = await start_gateway(tmp_path, config)
    try:
        run = await run_sipp(tmp_path, "uac_refused.xml", gw.sip.port)  # type: ignore[union-attr]
        assert run.returncode == 0, run.explain()
        status = gw.sip.status()  # type: ignore[union-attr]
        assert (status["refused"], status["answered"]) == (1, 0) and gw.active == {}
    finally:
        await gw.close()


def test_a_pbx_trunk_with_digest_credentials_gets_in(tmp_path: Path) -> None:
    run(_a_pbx_trunk_with_digest_credentials_gets_in(tmp_path))


async def _a_pbx_trunk_with_digest_credentials_gets_in(tmp_path: Path) -> None:
    config = sip_config(trunks=[{"id": "pbx", "username": "pbx1", "password_env": "VCC_TEST_PBX1_PW"}])
    gw = await start_gateway(tmp_path, config, env={"VCC_TEST_PBX1_PW": "s3cret-pw"})
    try:
        run = await run_sipp(tmp_path, "uac_digest.xml", gw.sip.port,  # type: ignore[union-attr]
                             extra=["-au", "pbx1", "-ap", "s3cret-pw"])  # fmt: skip
        assert run.returncode == 0, run.explain()
        status = gw.sip.status()  # type: ignore[union-attr]
        assert (status["refused"], status["answered"], status["byes_in"]) == (1, 1, 1)
        bad = await run_sipp(tmp_path, "uac_digest.xml", gw.sip.port, extra=["-au", "pbx1", "-ap", "wrong"])  # type: ignore[union-attr]
        assert bad.returncode != 0 and "403" in bad.explain()
    finally:
        await gw.close()


def test_options_and_caller_hold_by_reinvite_over_tcp(tmp_path: Path) -> None:
    run(_options_and_caller_hold_by_reinvite_over_tcp(tmp_path))


async def _options_and_caller_hold_by_reinvite_over_tcp(tmp_path: Path) -> None:
    gw = await start_gateway(tmp_path)
    watch = Watcher(gw)
    try:
        run = await run_sipp(tmp_path, "uac_hold.xml", gw.sip.port, transport="t1")  # type: ignore[union-attr]
        assert run.returncode == 0, run.explain()
        await until("the hold events", lambda: len([e for e in watch.events if e["kind"] == "caller_hold"]) == 2)
        holds = [e["on_hold"] for e in watch.events if e["kind"] == "caller_hold"]
        assert holds == [True, False]
        assert gw.sip.status()["byes_in"] == 1  # type: ignore[union-attr]
    finally:
        watch.task.cancel()
        await gw.close()


def test_sip_caller_bridged_to_a_webrtc_agent_audio_both_ways_and_recorded(tmp_path: Path) -> None:
    run(_sip_caller_bridged_to_a_webrtc_agent_audio_both_ways_and_recorded(tmp_path))


async def _sip_caller_bridged_to_a_webrtc_agent_audio_both_ways_and_recorded(tmp_path: Path) -> None:
    """SIPp echoes the RTP it gets (-rtp_echo): the agent's 1 kHz tone goes to the SIP caller as G.711
    and comes back, so the agent hearing 1 kHz proves both directions through a real SIP client."""
    gw = await start_gateway(tmp_path)
    watch = Watcher(gw)
    agent = TonePeer(1000.0)
    try:
        sipp = asyncio.create_task(run_sipp(tmp_path, "uac_echo.xml", gw.sip.port,  # type: ignore[union-attr]
                                             extra=["-rtp_echo"]))  # fmt: skip
        await until("a caller leg", lambda: any(e["kind"] == "leg_up" for e in watch.events))
        cid = watch.events[0]["contact_id"]
        await agent.accept(await gw.agent_offer(cid, "dev-01", await agent.offer()))
        await watch.wait(cid, "bridged", agent_id="dev-01")
        await until("the agent leg", lambda: watch.find(cid, "leg_up", leg="agent") is not None)
        await asyncio.sleep(3.0)
        heard = agent.recent(1.5)
        assert len(heard) > 0
        assert frequency_power(heard, 1000.0, 48_000) > 20 * frequency_power(heard, 1500.0, 48_000)
        run = await sipp
        assert run.returncode == 0, run.explain()
        rec = await watch.wait(cid, "recording")
        with wave.open(rec["path"]) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
            rate = w.getframerate()
        tail = frames[-3 * rate :]
        assert frequency_power(tail[:, 1], 1000.0, rate) > 1e-4  # the agent, on the right
        assert frequency_power(tail[:, 0], 1000.0, rate) > 1e-4  # the caller (the echo), on the left
    finally:
        watch.task.cancel()
        await agent.close()
        await gw.close()


BARESIP_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{sip_port}
audio_player aubridge,nowhere
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
auplay_srate 48000
audio_alert aubridge,nowhere
rtp_ports {rtp_low}-{rtp_high}
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module ausine.so
module aubridge.so
module account.so
module_app menu.so
"""


def test_a_baresip_call_reaches_an_agent_with_its_tone(tmp_path: Path) -> None:
    run(_a_baresip_call_reaches_an_agent_with_its_tone(tmp_path))


async def _a_baresip_call_reaches_an_agent_with_its_tone(tmp_path: Path) -> None:
    gw = await start_gateway(tmp_path)
    watch = Watcher(gw)
    agent = TonePeer(1000.0)
    home = tmp_path / "baresip"
    home.mkdir()
    rtp_low = free_port(pair=True)
    (home / "config").write_text(BARESIP_CONFIG.format(sip_port=free_port(), rtp_low=rtp_low, rtp_high=rtp_low + 3))
    (home / "accounts").write_text("<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(home), "-e", f"/dial sip:{DIALED}@127.0.0.1:{gw.sip.port}",  # type: ignore[union-attr]
        "-t", "30", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)  # fmt: skip
    try:
        await until("baresip's call", lambda: any(e["kind"] == "leg_up" for e in watch.events), 20.0)
        cid = watch.events[0]["contact_id"]
        await agent.accept(await gw.agent_offer(cid, "dev-01", await agent.offer()))
        await watch.wait(cid, "bridged", agent_id="dev-01")
        await asyncio.sleep(3.0)
        heard = agent.recent(1.5)
        assert frequency_power(heard, 440.0, 48_000) > 20 * frequency_power(heard, 1000.0, 48_000)
        assert caller_leg(gw, cid).frames_in > 100
        await gw.hangup(cid, "agent_hangup")
        await until("baresip to get its BYE", lambda: gw.sip.status()["byes_out"] == 1)  # type: ignore[union-attr]
        await until("the BYE's 200", lambda: not gw.sip.core.client_txs, 10.0)  # type: ignore[union-attr]
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        watch.task.cancel()
        await agent.close()
        await gw.close()


def write_inband_dtmf_pcap(path: Path, digit: str) -> None:
    """A pcap of PCMU RTP (Ethernet/IPv4/UDP, as SIPp's play_pcap_audio reads): 200 ms of silence,
    the key's two tones for 120 ms, 200 ms of silence."""
    import struct

    from vcc.media.dtmf import dtmf_pair
    from vcc.media.pcm import tone
    from vcc.sip.rtp import RtpPacket, g711_encode

    pcm = np.concatenate([np.zeros(1600, np.int16), tone(dtmf_pair(digit), 120, 8000, -8.0),
                          np.zeros(1600, np.int16)])  # fmt: skip
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(len(pcm) // 160):
        rtp = RtpPacket(0, 1000 + i, 160 * i, 0x5151, g711_encode(pcm[160 * i : 160 * (i + 1)], "PCMU")).serialize()
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                         bytes([127, 0, 0, 1])) + udp  # fmt: skip
        frame = b"\0" * 12 + b"\x08\x00" + ip
        usec = i * 20_000
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def test_inband_dtmf_from_a_sip_caller_without_telephone_event(tmp_path: Path) -> None:
    run(_inband_dtmf_from_a_sip_caller_without_telephone_event(tmp_path))


async def _inband_dtmf_from_a_sip_caller_without_telephone_event(tmp_path: Path) -> None:
    write_inband_dtmf_pcap(tmp_path / "dtmf_inband_2.pcap", "2")
    gw = await start_gateway(tmp_path)
    watch = Watcher(gw)
    try:
        result = await run_sipp(tmp_path, "uac_ivr_inband.xml", gw.sip.port)  # type: ignore[union-attr]
        assert result.returncode == 0, result.explain()
        await until("the call to end", lambda: any(e["kind"] == "ended" for e in watch.events))
        cid = watch.events[0]["contact_id"]
        assert (await watch.wait(cid, "dtmf", digit="2"))["source"] == "inband"
        ivr = await watch.wait(cid, "ivr")
        assert (ivr["outcome"], ivr["queue"]) == ("route", "demo-general")
    finally:
        watch.task.cancel()
        await gw.close()


def test_two_sites_on_one_machine_share_the_rtp_port_range(tmp_path: Path) -> None:
    run(_two_sites_on_one_machine_share_the_rtp_port_range(tmp_path))


async def _two_sites_on_one_machine_share_the_rtp_port_range(tmp_path: Path) -> None:
    """Two sites' gateways with the same ``sip.rtp_ports`` (as the shipped cluster files have, room
    for two calls here): each call binds a pair the other site left free; with the range full a new
    call is refused with a 503 (Retry-After) naming the problem, and nothing else breaks."""
    low = free_port(pair=True)
    config = sip_config(rtp_ports=(low, low + 4))  # two pairs: low/low+1 and low+2/low+3
    for d in "abc":
        (tmp_path / d).mkdir()
    gw_a, gw_b = await start_gateway(tmp_path / "a", config), await start_gateway(tmp_path / "b", config)
    watches = [Watcher(gw_a), Watcher(gw_b)]
    calls = [asyncio.create_task(run_sipp(tmp_path / d, "uac_gateway_bye.xml", gw.sip.port))  # type: ignore[union-attr]
             for d, gw in (("a", gw_a), ("b", gw_b))]  # fmt: skip
    try:
        for watch in watches:
            await until("a caller leg", lambda w=watch: any(e["kind"] == "leg_up" for e in w.events))  # type: ignore[misc]
        legs = [caller_leg(gw, w.events[0]["contact_id"]) for gw, w in zip((gw_a, gw_b), watches, strict=True)]
        assert sorted(leg.local_port for leg in legs) == [low, low + 2]
        full = await run_sipp(tmp_path / "c", "uac_gateway_bye.xml", gw_a.sip.port, timeout_s=15.0)  # type: ignore[union-attr]
        assert full.returncode != 0 and "SIP/2.0 503" in full.explain(), full.explain()
        assert "no free RTP port pair" in full.explain() and "Retry-After: 5" in full.explain()
        for gw, w in zip((gw_a, gw_b), watches, strict=True):
            await gw.hangup(w.events[0]["contact_id"], "agent_hangup")
        for result in await asyncio.gather(*calls):
            assert result.returncode == 0, result.explain()
    finally:
        for watch in watches:
            watch.task.cancel()
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await gw_a.close()
        await gw_b.close()


def test_a_sip_port_in_use_is_a_one_line_error_and_leaves_nothing_open(tmp_path: Path) -> None:
    run(_a_sip_port_in_use_is_a_one_line_error_and_leaves_nothing_open(tmp_path))


async def _a_sip_port_in_use_is_a_one_line_error_and_leaves_nothing_open(tmp_path: Path) -> None:
    import socket

    import pytest

    from vcc.actors.media_gateway import MediaGateway
    from vcc.media.errors import MediaError

    from .sip_harness import center

    port = free_port()
    for kind, name in ((socket.SOCK_DGRAM, "UDP"), (socket.SOCK_STREAM, "TCP")):
        taken = socket.socket(socket.AF_INET, kind)  # another program (or site) has the port
        taken.bind(("127.0.0.1", port))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        gw = MediaGateway("s1", 0, center(), run_dir=str(tmp_path))
        try:
            with pytest.raises(MediaError) as err:
                await gw.start_sip(sip_config(), "127.0.0.1", port, "127.0.0.1")
            assert str(err.value).startswith("site s1: SIP listener: cannot ") and f"{name} 127.0.0.1:{port}" in str(
                err.value) and "\n" not in str(err.value)  # fmt: skip
            assert gw.sip is None
        finally:
            taken.close()
            await gw.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # the UDP side was let go
            s.bind(("127.0.0.1", port))
