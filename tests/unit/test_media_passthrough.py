"""Payload passthrough's sans-IO parts: Opus packet durations from the TOC, G.711 decode and encode
tables, the gateway's own encoders, the codec an answer chose, forwarded payloads packed (not
encoded) by aiortc's encoders, and the outbound track stamping every payload from one clock."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
import pytest
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from vcc.media import libopus
from vcc.media.encoders import PCM_TO_ALAW, PCM_TO_ULAW, LongLivedPayloads, frame_encoder
from vcc.media.legs import OutboundTrack, answered_codec
from vcc.media.libopus import OpusDecoder
from vcc.media.passthrough import (
    ALAW_TO_PCM,
    ULAW_TO_PCM,
    EncodedAudio,
    PayloadDecoder,
    opus_samples_48k,
    payload_samples_48k,
)
from vcc.media.pcm import frequency_power, level_dbfs, music_on_hold, tone


@pytest.mark.parametrize(("toc", "extra", "samples"), [
    (0x78, b"", 960),          # config 15: hybrid FB 20 ms, one frame (what browsers send)
    (0xF8, b"", 960),          # config 31: CELT FB 20 ms
    (0xF0, b"", 480),          # config 30: CELT 10 ms
    (0x08, b"", 960),          # config 1: SILK NB 20 ms
    (0x18, b"", 2880),         # config 3: SILK NB 60 ms
    (0x79, b"", 1920),         # hybrid 20 ms, code 1: two frames
    (0xFB, bytes([0x03]), 2880),  # CELT 20 ms, code 3: three frames
])  # fmt: skip
def test_opus_duration_from_toc(toc: int, extra: bytes, samples: int) -> None:
    assert opus_samples_48k(bytes([toc]) + extra + b"\x00" * 20) == samples


def test_opus_duration_of_nonsense_is_one_frame() -> None:
    assert opus_samples_48k(b"") == 960
    assert opus_samples_48k(bytes([0xFB, 0x3F])) == 960  # 63 frames of 20 ms: over 120 ms, not a real packet
    assert payload_samples_48k("pcmu", b"\xff" * 160) == 960


def test_g711_tables_match_the_standard_points() -> None:
    assert ULAW_TO_PCM[0xFF] == 0 and ULAW_TO_PCM[0x7F] == 0
    assert ULAW_TO_PCM[0x80] == 32124 and ULAW_TO_PCM[0x00] == -32124
    assert ALAW_TO_PCM[0xD5] == 8 and ALAW_TO_PCM[0x55] == -8
    assert ALAW_TO_PCM[0xAA] == 32256 and ALAW_TO_PCM[0x2A] == -32256
    assert np.all(np.diff(ULAW_TO_PCM[0x80:].astype(int)) < 0)  # monotonic within a sign


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_payloads_from_aiortcs_encoder_decode_to_the_tone(codec: str) -> None:
    encoder = get_encoder(RTCRtpCodecParameters(mimeType=f"audio/{codec}", clockRate=8000, channels=1))
    decoder = PayloadDecoder(codec.lower())
    out = []
    for i in range(25):
        pcm = tone((1000.0,), 20, 48000, -6.0, start_sample=i * 960)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, fractions.Fraction(1, 48000)
        payloads, _ = encoder.encode(frame)
        out += [decoder.decode16(p) for p in payloads]
    pcm16 = np.concatenate(out)[1600:]
    total = float(np.mean((pcm16.astype(np.float64) / 32767.0) ** 2))
    assert len(pcm16) > 4000 and frequency_power(pcm16, 1000.0, 16000) > 0.8 * total


def test_opus_payloads_decode_to_the_tone_at_16k() -> None:
    encoder = get_encoder(RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2))
    decoder = PayloadDecoder("opus")
    out = []
    for i in range(25):
        pcm = tone((700.0,), 20, 48000, -6.0, start_sample=i * 960)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, fractions.Fraction(1, 48000)
        payloads, _ = encoder.encode(frame)
        assert all(opus_samples_48k(p) == 960 for p in payloads)
        out += [decoder.decode16(p) for p in payloads]
    pcm16 = np.concatenate(out)[1600:]
    total = float(np.mean((pcm16.astype(np.float64) / 32767.0) ** 2))
    assert frequency_power(pcm16, 700.0, 16000) > 0.8 * total
    assert len(decoder.decode16(b"\xff\xff\xff")) == 0  # a broken packet: nothing, no exception


def test_answered_codec_is_the_first_payload_type_of_the_m_line() -> None:
    sdp = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 101\r\na=rtpmap:111 opus/48000/2\r\n"
           "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")  # fmt: skip
    assert answered_codec(sdp) == ("opus", 111)
    assert answered_codec(sdp.replace("SAVPF 111 0", "SAVPF 0 111")) == ("pcmu", 0)
    assert answered_codec("v=0\r\n") == ("", None)


def test_aiortc_packs_forwarded_payloads_instead_of_encoding() -> None:
    encoder = get_encoder(RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, channels=1))
    item = EncodedAudio(b"\x12" * 160, 960, 8000)
    item.stamp(4800)  # 100 ms at 48 kHz
    payloads, timestamp = encoder.pack(item)  # type: ignore[arg-type]
    assert payloads == [b"\x12" * 160] and timestamp == 800  # in the codec's 8 kHz clock
    opus = get_encoder(RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2))
    item = EncodedAudio(b"\x78\x01", 960)
    item.stamp(4800)
    assert opus.pack(item) == ([b"\x78\x01"], 4800)  # type: ignore[arg-type]


def test_outbound_track_hands_out_forwarded_payloads_with_a_running_pts() -> None:
    async def scenario() -> None:
        track = OutboundTrack()
        track.set_relay(True)
        track.push(EncodedAudio(b"a", 960))
        track.push(EncodedAudio(b"b", 1920, 8000))
        first, second = await track.recv(), await track.recv()
        assert isinstance(first, EncodedAudio) and isinstance(second, EncodedAudio)
        assert (bytes(first), first.pts, bytes(second), second.pts) == (b"a", 0, b"b", 160)  # 960 at 48k: 160 at 8k
        silence = await track.recv()  # nothing pushed within a frame time: silence, after 2880 samples
        assert isinstance(silence, av.AudioFrame) and silence.pts == 2880
        track.stop()

    asyncio.run(scenario())


def test_g711_encode_tables_invert_the_decode_tables() -> None:
    codes = np.arange(256, dtype=np.uint8)
    for enc, dec, zeros in ((PCM_TO_ULAW, ULAW_TO_PCM, {0x7F, 0xFF}), (PCM_TO_ALAW, ALAW_TO_PCM, set())):
        back = enc[dec[codes].view(np.uint16)]
        wrong = {int(c) for c in codes[back != codes]}
        assert wrong <= zeros, wrong  # mu-law has a +0 and a -0: both decode to 0, which encodes to one


@pytest.mark.parametrize("codec", ["pcmu", "pcma", "opus"])
def test_own_encoders_make_one_payload_a_frame_that_decodes_to_the_tone(codec: str) -> None:
    encoder = frame_encoder(codec)
    assert encoder is not None
    decoder = PayloadDecoder(codec)
    out = []
    for i in range(25):
        payload = encoder.encode(tone((1000.0,), 20, 48000, -6.0, start_sample=i * 960))
        assert payload_samples_48k(codec, payload) == 960
        out.append(decoder.decode16(payload))
    pcm16 = np.concatenate(out)[1600:]
    total = float(np.mean((pcm16.astype(np.float64) / 32767.0) ** 2))
    assert frequency_power(pcm16, 1000.0, 16000) > 0.8 * total
    assert level_dbfs(PayloadDecoder(codec).decode16(encoder.silence)) < -60  # (a fresh decoder: no tail)
    assert frame_encoder("g722") is None  # aiortc's encoder for the rest


def test_track_stamps_own_and_forwarded_payloads_from_one_clock() -> None:
    """Paced (music) -> relay of forwarded payloads -> paced again: timestamps only go forward,
    by each payload's duration (aiortc's encoders would restart from their own count)."""

    async def scenario() -> None:
        track = OutboundTrack()
        track.encoder = frame_encoder("pcmu")
        track.source = lambda: tone((440.0,), 20, 48000, -12.0)
        stamps = [(await track.recv()).pts for _ in range(2)]  # type: ignore[union-attr]
        track.set_relay(True)
        track.push(EncodedAudio(b"\xff" * 160, 960, 8000))
        track.push(EncodedAudio(b"\xff" * 320, 1920, 8000))
        stamps += [(await track.recv()).pts for _ in range(2)]  # type: ignore[union-attr]
        track.set_relay(False)
        item = await track.recv()
        assert isinstance(item, EncodedAudio) and len(bytes(item)) == 160
        stamps.append(item.pts)
        assert stamps == [0, 160, 320, 480, 800]  # 8 kHz clock; the 40 ms payload moved it by 320
        track.stop()

    asyncio.run(scenario())


def test_long_lived_audio_is_encoded_once_after_a_second_play() -> None:
    async def scenario() -> None:
        music = music_on_hold()
        cache = LongLivedPayloads()
        assert cache.get(music[:960]) is None  # first play: nothing, and nothing encoded
        announcement = tone((500.0,), 1000)
        assert cache.get(announcement[:960]) is None
        assert cache.get(music[:960]) is None  # second play: encoded in the background from now
        for _ in range(200):
            if cache.get(music[960:1920]) is not None:
                break
            await asyncio.sleep(0.05)
        payloads = [cache.get(music[i : i + 960]) for i in range(0, 960 * 50, 960)]
        assert all(isinstance(p, bytes) for p in payloads) and cache.hits >= 50
        assert cache.get(music[10:970]) is None  # off the 20 ms grid
        assert cache.get(music[:960].copy()) is None  # not a view of long-lived audio
        assert cache.get(announcement[960:1920]) is None  # played once: never encoded
        decoder = PayloadDecoder("opus")
        pcm16 = np.concatenate([decoder.decode16(p) for p in payloads if p is not None])
        assert level_dbfs(pcm16) > -40
        spectrum = np.abs(np.fft.rfft(pcm16.astype(np.float64)))
        assert spectrum[: len(spectrum) // 8].sum() > 0.9 * spectrum.sum()  # the chime: below 1 kHz

    asyncio.run(scenario())


def test_recording_decodes_opus_with_libopus_at_16k_like_ffmpegs_decoder() -> None:
    """The recording's Opus decode goes straight to 16 kHz mono through libopus (one C call a frame);
    it hears the same tone, at the same level, as FFmpeg's 48 kHz decoder decimated by 3."""
    assert libopus.load() is not None  # PyAV's wheel ships libopus (and Debian's chromium needs it)
    encoder = frame_encoder("opus")
    assert encoder is not None
    fast, ffmpeg = PayloadDecoder("opus"), PayloadDecoder("opus")
    ffmpeg._libopus = None  # the fallback path
    fast_out, ffmpeg_out = [], []
    for i in range(50):
        payload = encoder.encode(tone((850.0,), 20, 48000, -10.0, start_sample=i * 960))
        a, b = fast.decode16(payload), ffmpeg.decode16(payload)
        assert a.dtype == np.int16 and len(a) == len(b) == 320
        fast_out.append(a)
        ffmpeg_out.append(b)
    pcm_fast, pcm_ffmpeg = np.concatenate(fast_out)[3200:], np.concatenate(ffmpeg_out)[3200:]
    total = float(np.mean((pcm_fast.astype(np.float64) / 32767.0) ** 2))
    assert frequency_power(pcm_fast, 850.0, 16000) > 0.8 * total
    assert abs(level_dbfs(pcm_fast) - level_dbfs(pcm_ffmpeg)) < 1.0
    assert len(fast.decode16(b"\xff\xff\xff")) == 0  # a packet libopus rejects: nothing, no exception
    assert len(fast.decode16(b"")) == 0


def test_libopus_decoder_keeps_its_own_stream_state() -> None:
    """Two decoders fed the same stream give the same samples (each has its own state), and a packet
    of 60 ms (three frames) comes out whole."""
    lib = libopus.load()
    assert lib is not None
    encoder = frame_encoder("opus")
    assert encoder is not None
    payloads = [encoder.encode(tone((440.0,), 20, 48000, -12.0, start_sample=i * 960)) for i in range(10)]
    one, two = OpusDecoder(16000, lib), OpusDecoder(16000, lib)
    first = [one.decode(p) for p in payloads]
    second = [two.decode(p) for p in payloads]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    code3 = bytes([payloads[5][0] | 0x3, 0x03]) + b"\x00" * 3  # three zero-length (lost) CELT/hybrid frames
    assert len(OpusDecoder(16000, lib).decode(code3)) in (0, 960)  # libopus: PLC for 60 ms, or rejected


def test_ntp_clock_from_time_time_matches_aiortcs() -> None:
    """vcc.media.rtp_out puts a time.time() NTP clock in place of aiortc's datetime one (called twice a
    packet sent): the same 64-bit NTP value (seconds since 1900 << 32 | fraction)."""
    from aiortc import clock

    from vcc.media.rtp_out import AIORTC_NTP_TIME, current_ntp_time

    assert clock.current_ntp_time is current_ntp_time
    for _ in range(3):
        before = AIORTC_NTP_TIME()
        ours = current_ntp_time()
        after = AIORTC_NTP_TIME()
        assert before <= ours <= after  # both to the microsecond: between aiortc's two readings
    assert (current_ntp_time() >> 32) - 2_208_988_800 == pytest.approx(time.time(), abs=1)
