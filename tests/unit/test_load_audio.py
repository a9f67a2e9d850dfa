"""Audio figures of a media load run (sans-IO): frames, inter-arrival p99, gaps, far tone heard, and
which prompts of the shipped flows take a key."""

from __future__ import annotations

from pathlib import Path

from vcc.config import load_config
from vcc.load.audio import leg_audio, legs_summary, tone_heard

ROOT = Path(__file__).resolve().parents[2]


def test_a_steady_leg_has_no_gaps_and_a_20_ms_p99() -> None:
    arrivals = [0.02 * i for i in range(500)]
    leg = leg_audio(arrivals, heard_far_tone=True)
    assert leg.frames == 500 and leg.gaps == 0
    assert leg.interarrival_p99_ms is not None and abs(leg.interarrival_p99_ms - 20.0) < 0.01


def test_missing_frames_are_gaps_and_raise_the_tail() -> None:
    arrivals = [0.02 * i for i in range(200) if not 50 <= i < 53] + [10.0 + 0.02 * i for i in range(10)]
    leg = leg_audio(arrivals)
    assert leg.gaps == 2  # 3 frames missing (80 ms), then 6 s of silence
    assert leg.interarrival_max_ms is not None and leg.interarrival_max_ms > 1000
    assert leg.heard_far_tone is None


def test_summary_over_legs() -> None:
    legs = [leg_audio([0.02 * i for i in range(100)], True), leg_audio([0.0, 0.1, 0.12], False), leg_audio([])]
    s = legs_summary(legs)
    assert s["legs"] == 3 and s["frames"] == 103 and s["gaps"] == 1 and s["legs_with_gaps"] == 1
    assert s["talked"] == 2 and s["heard_far_tone"] == 1
    assert s["interarrival_p99_ms_worst"] == 100.0
    assert legs_summary([])["interarrival_p99_ms_median"] is None


def test_tone_heard_within_tolerance() -> None:
    assert tone_heard(1010.0, 1000.0) and not tone_heard(440.0, 1000.0)


def test_prompts_that_take_a_key() -> None:
    from vcc.load.audio import barge_in_prompts

    dev = barge_in_prompts(load_config(ROOT / "cluster" / "dev.yaml"))
    assert "For support press 1, for anything else press 2." in dev
    assert "Welcome to the demo company." not in dev  # a plain prompt: a key pressed during it is dropped
    three = barge_in_prompts(load_config(ROOT / "cluster" / "three-sites.yaml"))
    assert {"acme/main_menu", "acme/invalid_choice"} <= three and "acme/welcome" not in three
