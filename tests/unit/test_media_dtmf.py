"""The in-band DTMF detector on synthetic signals at 8, 16 and 48 kHz."""

from __future__ import annotations

import numpy as np
import pytest

from vcc.media.dtmf import KEYPAD, DtmfDetector, dtmf_pair
from vcc.media.pcm import music_on_hold, resample, tone


def keys(rate: int, digits: str, on_ms: float = 80, off_ms: float = 80, level: float = -10.0) -> np.ndarray:
    parts = []
    for d in digits:
        parts += [tone(dtmf_pair(d), on_ms, rate, level), np.zeros(int(rate * off_ms / 1000), dtype=np.int16)]
    return np.concatenate(parts)


def detect(rate: int, pcm: np.ndarray, chunk: int = 160) -> str:
    det = DtmfDetector(rate)
    return "".join(d for i in range(0, len(pcm), chunk) for d in det.feed(pcm[i : i + chunk]))


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_every_key_at_every_rate(rate: int) -> None:
    all_keys = "".join(KEYPAD)
    assert detect(rate, keys(rate, all_keys), chunk=rate // 50) == all_keys


def test_long_press_is_one_digit_and_short_gap_still_separates() -> None:
    assert detect(8000, keys(8000, "55", on_ms=600, off_ms=60)) == "55"


def test_too_short_tone_is_not_a_digit() -> None:
    assert detect(8000, keys(8000, "1", on_ms=25, off_ms=100)) == ""


def test_twist_beyond_limits_rejected() -> None:
    row, col = dtmf_pair("2")
    weak_col = tone((row,), 200, 8000, -10.0) + tone((col,), 200, 8000, -22.0)  # 12 dB normal twist
    assert detect(8000, weak_col) == ""
    ok = tone((row,), 200, 8000, -10.0) + tone((col,), 200, 8000, -14.0)  # 4 dB: fine
    assert detect(8000, ok) == "2"


def test_too_quiet_rejected() -> None:
    assert detect(8000, keys(8000, "7", level=-45.0)) == ""


def test_speechlike_and_music_do_not_trigger() -> None:
    rng = np.random.default_rng(4)
    noise = (rng.normal(0, 3000, 8000 * 3)).astype(np.int16)
    assert detect(8000, noise) == ""
    assert detect(48000, music_on_hold(), chunk=960) == ""
    single = tone((697.0,), 300, 8000, -10.0)  # one tone only
    assert detect(8000, single) == ""


def test_detects_through_noise_and_resampling() -> None:
    rng = np.random.default_rng(7)
    sig = keys(48000, "2#", level=-12.0)
    noisy = (sig + rng.normal(0, 300, len(sig))).astype(np.int16)
    assert detect(8000, resample(noisy, 48000, 8000)) == "2#"


def test_bad_rate() -> None:
    with pytest.raises(ValueError, match="sample rate"):
        DtmfDetector(2000)
