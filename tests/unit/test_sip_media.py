"""SDP offer/answer, G.711, RTP/RTCP packets and receive statistics, digest auth and trunk admission
(sans-IO parts of vcc/sip)."""

from __future__ import annotations

import numpy as np
import pytest

from vcc.config.trunks import SipConfig, TrunkConfig
from vcc.media.pcm import tone
from vcc.sip.digest import DigestAuthenticator, digest_response, parse_auth_params
from vcc.sip.message import parse
from vcc.sip.rtp import (
    ReceiveStats,
    RtpError,
    RtpPacket,
    build_rtcp,
    g711_decode,
    g711_encode,
    is_rtcp,
    parse_rtcp,
    parse_rtp,
)
from vcc.sip.sdp import SdpError, build_sdp, choose_codec, parse_offer
from vcc.sip.trunks import TrunkTable

OFFER = ("v=0\r\no=alice 1 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
         "m=video 4002 RTP/AVP 31\r\n")  # fmt: skip


def test_offer_answer_keeps_the_offerers_order_and_telephone_event() -> None:
    offer = parse_offer(OFFER)
    assert (offer.address, offer.port, offer.telephone_event_pt, offer.session_version) == ("192.0.2.1", 4000, 101, 7)
    assert choose_codec(offer) == (8, "PCMA")
    assert choose_codec(offer, ("PCMU",)) == (0, "PCMU")
    answer = build_sdp("192.0.2.9", 31000, 8, "PCMA", 101, 5, 0, "sendrecv", offer.other_media)
    back = parse_offer(answer)
    assert back.port == 31000 and back.codecs[8] == "PCMA" and back.telephone_event_pt == 101
    assert "m=video 0 RTP/AVP 31" in answer


def test_hold_offers_and_bad_offers() -> None:
    assert parse_offer(OFFER.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")).on_hold
    assert parse_offer(OFFER.replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0")).on_hold
    assert not parse_offer(OFFER).on_hold
    with pytest.raises(SdpError, match="no common codec"):
        choose_codec(parse_offer(OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 18 101")))
    for bad in ("", "x=1", "v=0\r\nm=video 1 RTP/AVP 31\r\n", "v=0\r\nm=audio x RTP/AVP 0\r\n",
                "v=0\r\nm=audio 4000 RTP/AVP 0\r\n"):  # fmt: skip
        with pytest.raises(SdpError):
            parse_offer(bad)


def test_g711_round_trip_keeps_a_tone() -> None:
    pcm = tone((440.0,), 20, 8000, -10.0)
    for codec in ("PCMU", "PCMA"):
        back = g711_decode(g711_encode(pcm, codec), codec)
        assert len(g711_encode(pcm, codec)) == 160
        err = np.abs(back.astype(np.int32) - pcm.astype(np.int32))
        assert err.max() < 400 and float(np.corrcoef(back, pcm)[0, 1]) > 0.999
    assert g711_encode(np.zeros(4, dtype=np.int16), "PCMU") == b"\xff" * 4
    assert g711_encode(np.zeros(4, dtype=np.int16), "PCMA") == b"\xd5" * 4


def test_rtp_packets_and_malformed_ones() -> None:
    p = RtpPacket(0, 65535, 4_294_967_200, 0x1234, b"\xff" * 160, marker=True)
    assert parse_rtp(p.serialize()) == p
    with_csrc_ext = bytes([0x91, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2]) + b"\0\0\0\3" + b"\xbe\xde\0\1" + b"abcd" + b"PL"
    assert parse_rtp(with_csrc_ext).payload == b"PL"
    for bad in (b"", b"\x80" * 11, b"\x40" + b"\0" * 11, bytes([0xA0, 0]) + b"\0" * 10 + b"\x00",
                bytes([0x90, 0]) + b"\0" * 10):  # fmt: skip
        with pytest.raises(RtpError):
            parse_rtp(bad)


def test_receive_stats_loss_and_rtcp_report_round_trip() -> None:
    stats = ReceiveStats()
    for i in list(range(0, 50)) + list(range(60, 100)):  # 10 lost
        stats.packet(RtpPacket(0, (65500 + i) & 0xFFFF, i * 160, 7, b""), 100.0 + i * 0.02 + (0.003 if i % 2 else 0))
    assert stats.expected == 100 and stats.lost == 10 and stats.jitter > 0
    rtcp = build_rtcp(0xABC, 1000.5, 12345, 50, 8000, stats, "vcc@test")
    assert is_rtcp(rtcp) and not is_rtcp(RtpPacket(0, 1, 1, 1, b"").serialize())
    reports = parse_rtcp(rtcp)
    assert reports[0].kind == "SR" and reports[0].ssrc == 0xABC
    assert reports[0].cumulative_lost == 10 and reports[0].fraction_lost == (10 << 8) // 100
    with pytest.raises(RtpError):
        parse_rtcp(rtcp[:-3])


def _invite(auth: str | None = None) -> bytes:
    head = ("INVITE sip:+15555550000@gw SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKa\r\n"
            "From: <sip:pbx@198.51.100.7>;tag=1\r\nTo: <sip:+15555550000@gw>\r\nCall-ID: x\r\n"
            "CSeq: 1 INVITE\r\n")  # fmt: skip
    return (head + (f"Authorization: {auth}\r\n" if auth else "") + "Content-Length: 0\r\n\r\n").encode()


def test_digest_trunk_challenge_then_admit_and_refusals() -> None:
    auth = DigestAuthenticator("vcc", b"secret", nonce_ttl_s=60)
    trunks = [TrunkConfig(id="carrier", allow=["192.0.2.0/24"]),
              TrunkConfig(id="pbx", username="pbx1", password_env="PBX1_PW", tenants=["demo"])]  # fmt: skip
    table = TrunkTable(trunks, auth, env={"PBX1_PW": "s3cret"})
    assert table.admit(parse(_invite()), "192.0.2.44", 0.0).trunk == "carrier"
    first = table.admit(parse(_invite()), "198.51.100.7", 10.0)
    assert first.status == 401 and 'realm="vcc"' in first.challenge
    nonce = parse_auth_params(first.challenge)[1]["nonce"]
    resp = digest_response("pbx1", "vcc", "s3cret", "INVITE", "sip:+15555550000@gw", nonce, "auth", "00000001", "cn")
    good = (f'Digest username="pbx1", realm="vcc", nonce="{nonce}", uri="sip:+15555550000@gw", response="{resp}", '
            'qop=auth, nc=00000001, cnonce="cn", algorithm=MD5')  # fmt: skip
    ok = table.admit(parse(_invite(good)), "198.51.100.7", 20.0)
    assert ok.status == 0 and ok.trunk == "pbx" and table.allows_tenant("pbx", "demo")
    assert not table.allows_tenant("pbx", "other")
    stale = table.admit(parse(_invite(good)), "198.51.100.7", 100.0)
    assert stale.status == 401 and "stale=true" in stale.challenge
    wrong = table.admit(parse(_invite(good.replace(resp, "0" * 32))), "198.51.100.7", 20.0)
    assert wrong.status == 403 and "wrong password" in wrong.reason
    forged = table.admit(parse(_invite(good.replace(nonce, "1." + "a" * 32))), "198.51.100.7", 20.0)
    assert forged.status == 403


def test_address_only_trunks_refuse_strangers_and_config_errors_are_one_line() -> None:
    table = TrunkTable([TrunkConfig(id="carrier", allow=["192.0.2.10"])], DigestAuthenticator("vcc", b"k"), env={})
    refused = table.admit(parse(_invite()), "203.0.113.5", 0.0)
    assert refused.status == 403 and "203.0.113.5" in refused.reason
    with pytest.raises(ValueError, match="needs `allow` addresses"):
        TrunkConfig(id="t")
    with pytest.raises(ValueError, match="not an IP address"):
        TrunkConfig(id="t", allow=["example.com"])
    with pytest.raises(ValueError, match="go together"):
        TrunkConfig(id="t", username="u")
    with pytest.raises(ValueError, match="used twice"):
        SipConfig(trunks=[TrunkConfig(id="t", allow=["192.0.2.1"]), TrunkConfig(id="t", allow=["192.0.2.2"])])
    missing = TrunkTable([TrunkConfig(id="p", username="u", password_env="NOPE_PW")], DigestAuthenticator("v", b"k"),
                         env={})  # fmt: skip
    assert missing.missing == ["trunk p: environment variable NOPE_PW is not set"]


def test_frame_encoder_encodes_each_paced_frame_once_by_its_samples() -> None:
    from types import SimpleNamespace

    from vcc.media.pcm import FRAME_SAMPLES, decimate, music_on_hold
    from vcc.media.sip_gateway import caller_audio_wanted
    from vcc.media.sip_leg import FrameEncoder

    music = music_on_hold()
    enc = FrameEncoder()
    frames = [music[i : i + FRAME_SAMPLES] for i in range(0, 50 * FRAME_SAMPLES, FRAME_SAMPLES)]
    first = [enc.encode(f, "PCMU") for f in frames]
    assert first == [g711_encode(decimate(f, 6), "PCMU") for f in frames]
    assert (enc.hits, enc.misses) == (0, 50)
    # a second caller, and a per-call copy of the same samples (a loop's wrap-around frame): looked up
    assert [enc.encode(f.copy(), "PCMU") for f in frames] == first and (enc.hits, enc.misses) == (50, 50)
    assert enc.encode(frames[3], "PCMA") == g711_encode(decimate(frames[3], 6), "PCMA") and enc.misses == 51
    # relayed frames (an agent's voice) are encoded as they come and never cached
    voice = tone((300.0, 1100.0), 20)
    assert enc.encode(voice, "PCMU", cache=False) == g711_encode(decimate(voice, 6), "PCMU")
    assert (enc.hits, enc.misses) == (50, 51)
    small = FrameEncoder(max_frames=10)
    for f in frames[:25]:
        small.encode(f, "PCMU")
    assert small.misses == 25 and len(small._cache["PCMU"]) <= 10

    # the SIP front end's audio gate: decode only what the call listens to
    leg = SimpleNamespace(te_pt=101)
    call = SimpleNamespace(state="ivr", recorder=None)
    wanted = caller_audio_wanted(call, leg)  # type: ignore[arg-type]
    assert wanted() is False  # IVR, keys come as RFC 4733 events, nothing records
    call.state = "queued"
    assert wanted() is False
    leg.te_pt = None  # a caller without telephone-event: in-band keys need the audio
    assert wanted() is True
    leg.te_pt, call.state = 101, "connected"  # bridged: the agent hears the caller
    assert wanted() is True
    call.state, call.recorder = "transfer", object()
    assert wanted() is True


def test_inband_keys_just_above_the_minimum_level_survive_the_quiet_block_skip() -> None:
    """The detector skips blocks too quiet to hold a tone at its minimum level (-36 dBFS): keys a
    little above it are still heard, keys below are not, at the SIP caller's 8 kHz."""
    from vcc.media.dtmf import DtmfDetector, dtmf_pair

    def heard(level_dbfs: float) -> str:
        det = DtmfDetector(8000)
        gap = np.zeros(800, dtype=np.int16)
        pcm = np.concatenate([gap, *(np.concatenate([tone(dtmf_pair(d), 80, 8000, level_dbfs), gap]) for d in "159#")])
        return "".join(d for i in range(0, len(pcm), 160) for d in det.feed(pcm[i : i + 160]))

    assert heard(-34.0) == "159#"
    assert heard(-38.0) == ""
    det = DtmfDetector(8000)
    assert det._min_energy > 0 and det.feed(np.zeros(410, dtype=np.int16)) == []
