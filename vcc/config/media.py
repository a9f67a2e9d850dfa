"""The ``media:`` section of the cluster file: prompts, music on hold, recordings, codecs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vcc.config.base import ConfigModel

Codec = Literal["opus", "PCMU", "PCMA", "G722"]


def _default_codecs() -> list[Codec]:
    return ["opus", "PCMU"]


class MediaConfig(ConfigModel):
    """How the media gateways sound and record (docs/media.md)."""

    prompts_dir: str | None = Field(
        None,
        description="Folder of recorded prompts: prompt id `acme/welcome` plays `<prompts_dir>/acme/welcome.wav` "
        "(16-bit PCM WAV, any rate). Prompts without a file are spoken by espeak-ng, made once into "
        "`<run dir>/media/prompts`.",
    )
    prompt_texts: dict[str, str] = Field(
        default_factory=dict,
        description="Words espeak-ng says for a prompt id that has no file, e.g. `acme/welcome: Welcome to Acme.` "
        "(default: the id's last part, `main_menu` says \"main menu\").",
    )
    voice: str = Field("en", min_length=1, description="espeak-ng voice for spoken prompts and announcements.")
    music_on_hold: str | None = Field(
        None, description="WAV file played to callers in queue and on hold (default: a generated chime loop)."
    )
    recordings_dir: str | None = Field(
        None, description="Where call recordings go (default `<run dir>/recordings`), as `<site>/<date>/<contact>.wav`."
    )
    retention_days: float = Field(30, gt=0, le=3650, description="Recordings older than this are deleted.")
    codecs: list[Codec] = Field(
        default_factory=_default_codecs,
        min_length=1,
        description="Audio codecs the gateways accept, in order of preference.",
    )
    announce_every_s: float = Field(
        30, ge=5, le=3600, description="While a caller waits in queue, position and wait are announced this often."
    )
