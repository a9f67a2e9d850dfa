"""The prompt catalog: espeak-ng speech made once into the cache, files from the prompts dir,
announcement pieces; tones and music."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from vcc.core.ewt import announce_pieces
from vcc.media.errors import MediaError
from vcc.media.pcm import RATE_HZ, dominant_hz, level_dbfs, music_on_hold, resample, tone
from vcc.media.prompts import PromptCatalog, is_text, piece_text, read_wav, words_of_id


def test_prompt_kinds() -> None:
    assert is_text("Welcome to the demo company.") and not is_text("acme/main_menu")
    assert words_of_id("acme/main_menu") == "main menu"
    assert piece_text("number:3") == "3" and piece_text("minutes:1") == "1 minute."
    with pytest.raises(MediaError, match="unknown announcement piece"):
        piece_text("ewt.nope")


def test_espeak_once_then_cache(tmp_path: Path) -> None:
    calls: list[str] = []
    cat = PromptCatalog(tmp_path / "cache")
    real = cat.synthesize

    def counting(voice: str, text: str, path: Path) -> None:
        calls.append(text)
        real(voice, text, path)

    cat.synthesize = counting
    pcm = cat.load("Welcome to the demo company.")
    assert len(pcm) > RATE_HZ // 2 and level_dbfs(pcm) > -40  # real speech, at 48 kHz
    assert len(list((tmp_path / "cache").glob("*.wav"))) == 1
    cat2 = PromptCatalog(tmp_path / "cache", synthesize=counting)  # a new gateway reuses the files
    assert np.array_equal(cat2.load("Welcome to the demo company."), pcm)
    assert calls == ["Welcome to the demo company."]


def test_prompt_file_wins_and_texts(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts" / "acme"
    prompts.mkdir(parents=True)
    with wave.open(str(prompts / "welcome.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(tone((440.0,), 500, 8000).tobytes())
    spoken: list[str] = []
    cat = PromptCatalog(tmp_path / "c", prompts_dir=tmp_path / "prompts", texts={"acme/menu": "Press 2."},
                        synthesize=lambda v, t, p: (spoken.append(t), _write_tone(p)))
    pcm = cat.load("acme/welcome")
    assert abs(len(pcm) - RATE_HZ // 2) < 10 and abs(dominant_hz(pcm, RATE_HZ) - 440) < 5
    cat.load("acme/menu")
    cat.load("acme/closed_hours")
    assert spoken == ["Press 2.", "closed hours"]


def _write_tone(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050)
        w.writeframes(tone((300.0,), 200, 22050).tobytes())


def test_announcement_pieces_concatenate(tmp_path: Path) -> None:
    cat = PromptCatalog(tmp_path)
    pcm = cat.pieces(announce_pieces(250.0, 3))
    assert len(pcm) > RATE_HZ  # several words
    assert len(list(tmp_path.glob("*.wav"))) == len(announce_pieces(250.0, 3))


def test_bad_wav(tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not a wav")
    with pytest.raises(MediaError, match="not a PCM WAV"):
        read_wav(bad)


def test_tones_and_music() -> None:
    assert abs(dominant_hz(tone((1000.0,), 100, 8000), 8000) - 1000) < 15
    moh = music_on_hold()
    assert len(moh) == 8 * RATE_HZ and -40 < level_dbfs(moh) < -15
    assert abs(dominant_hz(resample(tone((440.0,), 200, 48000), 48000, 8000), 8000) - 440) < 10


def test_many_calls_wanting_one_uncached_prompt_synthesize_it_once(tmp_path: Path) -> None:
    """Calls arriving together all need the same new prompt: espeak-ng runs once per catalog, the
    others wait for it; two gateways sharing the cache dir never see each other's half-written file."""
    import threading

    calls: list[str] = []
    cats = [PromptCatalog(tmp_path / "cache"), PromptCatalog(tmp_path / "cache")]  # two gateways of a site
    real = cats[0].synthesize

    def counting(voice: str, text: str, path: Path) -> None:
        calls.append(text)
        real(voice, text, path)

    for cat in cats:
        cat.synthesize = counting
    start = threading.Barrier(16)
    results: list[object] = []

    def call(i: int) -> None:
        start.wait()
        try:
            results.append(cats[i % 2].load("Please hold, a new prompt for everyone."))
        except Exception as exc:  # collected: the test says which thread failed and how
            results.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    assert len(results) == 16 and all(np.array_equal(r, results[0]) for r in results)  # type: ignore[arg-type]
    assert 1 <= len(calls) <= 2  # once per catalog at most (the second may find the first's file)
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".wav") or ".tmp" in p.name] == []
