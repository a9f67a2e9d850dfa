"""The prompt catalog: the audio of IVR prompts and announcements, 48 kHz mono int16.

A prompt is either an id (``acme/welcome``: no spaces) or text (``"Welcome to the demo company."``).
An id is read from ``<prompts_dir>/<id>.wav`` when that file exists; otherwise, and for text, speech
is made with ``espeak-ng`` on first use into ``<cache_dir>/<sha1 of voice and text>.wav`` and
reused from there (and from memory) afterwards. The words for an id without a file come from
``texts`` (``media.prompt_texts`` in the cluster file), else from the id's last part
(``acme/main_menu`` says "main menu"). Announcements come as pieces (``vcc.core.ewt.announce_pieces``):
``ewt.*`` phrases and say-as tokens (``number:3``, ``hours:1``, ``minutes:15``), each made once and
concatenated, so the cache stays small whatever the queue lengths.

Loading may run a subprocess and read files: the gateway calls :meth:`PromptCatalog.load` and
:meth:`PromptCatalog.pieces` in a worker thread. Many calls wanting the same new prompt at once make
it once (single flight per prompt: the others wait for the first); a cache file appears only whole
(written under a name of its own, then renamed), so gateways sharing the cache dir never read one
half-written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import uuid
import wave
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from vcc.media.errors import MediaError
from vcc.media.pcm import RATE_HZ, Pcm, resample

PIECE_TEXTS = {
    "ewt.you_are_number": "You are number",
    "ewt.in_line": "in line.",
    "ewt.wait_about": "The wait is about",
    "ewt.wait_under_a_minute": "The wait is less than a minute.",
    "ewt.wait_over_a_day": "The wait is more than a day.",
    "ewt.wait_unknown": "We cannot estimate the wait right now.",
}
_GAP = np.zeros(RATE_HZ // 10, dtype=np.int16)  # 100 ms between pieces

#: text -> WAV file written (voice, text, path); replaceable in tests of the catalog alone
Synthesizer = Callable[[str, str, Path], None]


def espeak_ng(voice: str, text: str, path: Path) -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MediaError("espeak-ng is not installed: cannot make the prompt audio (apt-get install espeak-ng)")
    tmp = _private_name(path)
    try:
        proc = subprocess.run([exe, "-v", voice, "-w", str(tmp), "--", text], capture_output=True, timeout=60)
        if proc.returncode != 0 or not tmp.exists():
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            raise MediaError(f"espeak-ng failed for {text!r} (voice {voice!r}): {err[-1] if err else proc.returncode}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _private_name(path: Path) -> Path:
    """A name in ``path``'s directory that no other writer (thread or process) uses."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.wav")


def read_wav(path: Path) -> tuple[Pcm, int]:
    """Mono int16 samples and the rate of a 16-bit PCM WAV (stereo is mixed down)."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise MediaError(f"{path}: {8 * w.getsampwidth()}-bit WAV; only 16-bit PCM is supported")
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
            channels, rate = w.getnchannels(), w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise MediaError(f"{path}: not a PCM WAV file ({exc})") from None
    if channels > 1:
        data = data[: len(data) - len(data) % channels].reshape(-1, channels).mean(axis=1).astype(np.int16)
    return data, rate


def is_text(prompt: str) -> bool:
    return any(ch.isspace() for ch in prompt) or not prompt.replace("/", "").replace("_", "").replace("-", "").replace(
        ".", ""
    ).isalnum()


def words_of_id(prompt_id: str) -> str:
    return prompt_id.rsplit("/", 1)[-1].replace("_", " ").replace("-", " ").replace(".", " ").strip()


def piece_text(piece: str) -> str:
    if piece in PIECE_TEXTS:
        return PIECE_TEXTS[piece]
    kind, _, value = piece.partition(":")
    if kind == "number" and value.isdigit():
        return value
    if kind in ("hours", "minutes") and value.isdigit():
        unit = kind[:-1] if value == "1" else kind
        return f"{value} {unit}."
    raise MediaError(f"unknown announcement piece {piece!r}")


class PromptCatalog:
    def __init__(
        self,
        cache_dir: str | Path,
        *,
        prompts_dir: str | Path | None = None,
        voice: str = "en",
        texts: Mapping[str, str] | None = None,
        synthesize: Synthesizer = espeak_ng,
        max_cached: int = 512,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.prompts_dir = Path(prompts_dir) if prompts_dir else None
        self.voice = voice
        self.texts = dict(texts or {})
        self.synthesize = synthesize
        self.max_cached = max_cached
        self._memory: dict[str, Pcm] = {}
        self._lock = threading.Lock()
        self._flights: dict[str, threading.Lock] = {}  # prompt being made -> held by the thread making it

    def load(self, prompt: str) -> Pcm:
        """The prompt's audio at 48 kHz."""
        if not is_text(prompt) and self.prompts_dir is not None:
            path = self.prompts_dir / f"{prompt}.wav"
            if path.is_file():
                return self._remember(f"file:{path}", lambda: _at_rate(*read_wav(path)))
        text = prompt if is_text(prompt) else self.texts.get(prompt, words_of_id(prompt))
        return self.speech(text)

    def pieces(self, pieces: tuple[str, ...]) -> Pcm:
        """An announcement made of pieces, 100 ms apart."""
        parts: list[Pcm] = []
        for piece in pieces:
            parts += [self.speech(piece_text(piece)), _GAP]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def speech(self, text: str) -> Pcm:
        if not text.strip():
            raise MediaError("empty prompt text")
        key = hashlib.sha1(f"{self.voice}\0{text}".encode()).hexdigest()

        def make() -> Pcm:
            path = self.cache_dir / f"{key}.wav"
            if not path.is_file():
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                tmp = _private_name(path)  # whatever the synthesizer does, the cache file appears whole
                try:
                    self.synthesize(self.voice, text, tmp)
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
            return _at_rate(*read_wav(path))

        return self._remember(key, make)

    def _remember(self, key: str, make: Callable[[], Pcm]) -> Pcm:
        """From memory, else made by one thread while the others wanting it wait (single flight)."""
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                return hit
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            with self._lock:
                hit = self._memory.get(key)
            if hit is not None:  # made by the thread we waited for
                return hit
            try:
                pcm = make()
            except BaseException:
                with self._lock:
                    self._flights.pop(key, None)  # the next caller tries again
                raise
            with self._lock:
                if len(self._memory) >= self.max_cached:
                    self._memory.pop(next(iter(self._memory)))
                self._memory[key] = pcm
                self._flights.pop(key, None)
            return pcm


def _at_rate(pcm: Pcm, rate_hz: int) -> Pcm:
    return resample(pcm, rate_hz, RATE_HZ)
