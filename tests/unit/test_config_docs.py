"""docs/config.md documents every field of the cluster file and stays in step with the models."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from vcc.config.reference import SECTIONS, reference_markdown
from vcc.config.sites import PORT_OFFSETS

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def _models() -> list[type[BaseModel]]:
    return [model for _, _, model in SECTIONS]


def test_reference_in_docs_is_up_to_date() -> None:
    assert reference_markdown() in DOC.read_text(encoding="utf-8"), (
        "docs/config.md is stale: run `python -m vcc.config.reference --write docs/config.md`"
    )


def test_every_field_has_a_description() -> None:
    for model in _models():
        for name, info in model.model_fields.items():
            assert name == "type" or info.description, f"{model.__name__}.{name} has no description"


def test_every_model_refuses_unknown_keys() -> None:
    for model in _models():
        assert model.model_config.get("extra") == "forbid", model.__name__


def test_walkthrough_lists_every_port_and_the_demo_passwords() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in PORT_OFFSETS:
        assert f"`ports.{name}" in text, name
    assert "`demo-<agent id>`" in text
