"""Shared pieces of the cluster-file models: the strict base class and the small value types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

#: Ids of sites, tenants, queues, agents, skills, flows and IVR nodes.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ID_RULE = "an id: letters, digits, '_', '-' or '.', starting with a letter or digit, at most 64 long"


class ConfigModel(BaseModel):
    """Every model of the cluster file: unknown keys are refused, values are frozen once read.

    Numbers are accepted where text is expected (``id: 101``), except where a number would lose
    information, such as phone numbers (see :data:`Address`)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
        str_strip_whitespace=True,
    )


def _refuse_bare_number(value: Any) -> Any:
    """YAML reads ``+33140000001`` as the number 33140000001: the ``+`` and leading zeros are gone."""
    if isinstance(value, bool):
        raise ValueError("expected text, got a yes/no value: quote it")
    if isinstance(value, int | float):
        raise ValueError(f"YAML read {value} as a number: quote phone numbers and addresses, e.g. '+{value}'")
    return value


Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
#: A phone number, web widget id, e-mail address or caller id: text that must not be read as a number.
Address = Annotated[
    str, BeforeValidator(_refuse_bare_number), StringConstraints(min_length=1, max_length=254)
]
Proficiency = Annotated[int, Field(ge=1, le=10)]
Port = Annotated[int, Field(ge=1024, le=65535)]


def id_field(what: str) -> Any:
    """A required id field with its description."""
    return Field(description=f"Unique id of the {what} ({ID_RULE}).")
