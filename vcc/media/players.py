"""What a leg hears when it is not bridged (sans-IO): a prompt played once, music looped, silence.
Each gives one 20 ms frame (48 kHz mono int16) per call of :meth:`next_frame`."""

from __future__ import annotations

from vcc.media.pcm import FRAME_SAMPLES, Pcm, silence

_SILENCE = silence()


class PromptPlayer:
    """Plays ``pcm`` once; ``done`` after its last frame went out."""

    def __init__(self, pcm: Pcm, play_id: int = 0) -> None:
        self.pcm = pcm
        self.play_id = play_id
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.pcm)

    def next_frame(self) -> Pcm:
        chunk = self.pcm[self.pos : self.pos + FRAME_SAMPLES]
        self.pos += FRAME_SAMPLES
        if len(chunk) < FRAME_SAMPLES:
            out = _SILENCE.copy()
            out[: len(chunk)] = chunk
            return out
        return chunk


class LoopPlayer:
    """Loops ``pcm`` for ever (music on hold), continuing where it stopped when resumed."""

    def __init__(self, pcm: Pcm) -> None:
        self.pcm = pcm if len(pcm) >= FRAME_SAMPLES else silence()
        self.pos = 0

    def next_frame(self) -> Pcm:
        end = self.pos + FRAME_SAMPLES
        if end <= len(self.pcm):
            chunk = self.pcm[self.pos : end]
            self.pos = end % len(self.pcm)
            return chunk
        first = self.pcm[self.pos :]
        self.pos = FRAME_SAMPLES - len(first)
        return _concat(first, self.pcm[: self.pos])


def _concat(a: Pcm, b: Pcm) -> Pcm:
    out = _SILENCE.copy()
    out[: len(a)] = a
    out[len(a) : len(a) + len(b)] = b
    return out
