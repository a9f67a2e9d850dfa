"""IVR flows as an operator writes them: nodes keyed by id, each with a ``type:``, entered at ``entry``.

The node types and their fields are exactly those of :mod:`vcc.core.flow` (the YAML ``type`` names
are listed in :data:`NODE_TYPES`); ``vcc.config.compile`` turns each node into its core value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from vcc.config.base import ID_PATTERN, ConfigModel, Id, Proficiency, id_field
from vcc.core import flow as core_flow

DIGIT_PATTERN = r"^[0-9*#]$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
NodeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Digit = Annotated[str, StringConstraints(pattern=DIGIT_PATTERN)]

_NEXT = "Node to go to next."
_ON_FAIL = "Node to go to after the last failed try; empty means hang up."
_PROMPT = "Prompt: an audio prompt id or a text to speak."


class PlayNode(ConfigModel):
    """Play a prompt, then go on."""

    type: Literal["play"]
    prompt: str = Field(min_length=1, description=_PROMPT)
    next: NodeId = Field(description=_NEXT)


class MenuNode(ConfigModel):
    """Play a prompt and wait for one DTMF digit; a digit with no option, or none in time, is a failed try."""

    type: Literal["menu"]
    prompt: str = Field(min_length=1, description=_PROMPT)
    options: dict[Digit, NodeId] = Field(
        min_length=1, description="Digit (`0`-`9`, `*`, `#`) -> node. Quote `*` and `#` in YAML."
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="Seconds to wait for a digit.")
    retries: int = Field(2, ge=0, le=10, description="Re-tries after a failed try.")
    invalid_prompt: str | None = Field(None, description="Prompt played after a failed try.")
    on_fail: NodeId | None = Field(None, description=_ON_FAIL)


class CollectNode(ConfigModel):
    """Collect digits (an account number, a PIN) into a contact variable."""

    type: Literal["collect"]
    prompt: str = Field(min_length=1, description=_PROMPT)
    variable: str = Field(pattern=VARIABLE_PATTERN, description="Variable to store them in.")
    next: NodeId = Field(description=_NEXT)
    min_digits: int = Field(1, ge=1, le=64, description="Fewest digits accepted.")
    max_digits: int = Field(16, ge=1, le=64, description="Most digits accepted.")
    terminator: Digit = Field("#", description="Digit that ends input early (quote it: `'#'`).")
    timeout_s: float = Field(5.0, gt=0, le=60, description="Seconds to wait for input.")
    retries: int = Field(2, ge=0, le=10, description="Re-tries after a failed try.")
    on_fail: NodeId | None = Field(None, description=_ON_FAIL)


class CheckHoursNode(ConfigModel):
    """Branch on the tenant's business hours (a holiday counts as closed)."""

    type: Literal["check_hours"]
    open: NodeId = Field(description="Node when open.")
    closed: NodeId = Field(description="Node when closed.")


class AnnounceWaitNode(ConfigModel):
    """Announce the estimated wait (and position) in a queue, then go on."""

    type: Literal["announce_wait"]
    queue: Id = Field(description="Queue of the same tenant.")
    next: NodeId = Field(description=_NEXT)
    position: bool = Field(True, description="Also announce the position in the queue.")


class OfferCallbackNode(ConfigModel):
    """Offer a callback instead of waiting, when the queue's EWT is at least ``min_ewt_s``."""

    type: Literal["offer_callback"]
    prompt: str = Field(min_length=1, description=_PROMPT)
    queue: Id = Field(description="Queue of the same tenant, with `callback_offered: true`.")
    accepted: NodeId = Field(
        description="Node after the caller accepts, once the site has the callback stored in etcd (usually a "
        "goodbye: \"we will call you back\")."
    )
    declined: NodeId = Field(
        description="Node after the caller declines, when not offered, or when the callback could not be stored "
        "(etcd did not take it in time: the caller stays in line)."
    )
    accept_digit: Digit = Field("1", description="Digit that accepts.")
    min_ewt_s: float = Field(0.0, ge=0, description="Offer only when the EWT is at least this long.")
    timeout_s: float = Field(5.0, gt=0, le=60, description="Seconds to wait for the digit.")


class SetNode(ConfigModel):
    """Change how the contact will be routed: add to its priority, require extra skills."""

    type: Literal["set"]
    next: NodeId = Field(description=_NEXT)
    priority_delta: int = Field(0, ge=-1000, le=1000, description="Added to the contact's priority.")
    skills: dict[Id, Proficiency] = Field(
        default_factory=dict, description="Extra required skill -> minimum proficiency (1-10)."
    )


class RouteNode(ConfigModel):
    """Leave the IVR and queue the contact (ends the flow)."""

    type: Literal["route"]
    queue: Id = Field(description="Queue of the same tenant.")


class HangupNode(ConfigModel):
    """Play an optional goodbye and end the contact (ends the flow)."""

    type: Literal["hangup"]
    prompt: str | None = Field(None, description="Goodbye prompt.")
    reason: str = Field("ivr_hangup", min_length=1, description="Reason recorded on the contact.")


NodeConfig = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | CheckHoursNode
    | AnnounceWaitNode
    | OfferCallbackNode
    | SetNode
    | RouteNode
    | HangupNode,
    Field(discriminator="type"),
]

#: YAML ``type`` -> (config model, core node class). Field names are the same in both.
NODE_TYPES: dict[str, tuple[type[ConfigModel], type[core_flow.Node]]] = {
    "play": (PlayNode, core_flow.Play),
    "menu": (MenuNode, core_flow.Menu),
    "collect": (CollectNode, core_flow.Collect),
    "check_hours": (CheckHoursNode, core_flow.CheckHours),
    "announce_wait": (AnnounceWaitNode, core_flow.AnnounceWait),
    "offer_callback": (OfferCallbackNode, core_flow.OfferCallback),
    "set": (SetNode, core_flow.SetAttributes),
    "route": (RouteNode, core_flow.RouteToQueue),
    "hangup": (HangupNode, core_flow.HangUp),
}


class FlowConfig(ConfigModel):
    """An IVR flow of one tenant: a graph of nodes keyed by id."""

    id: Id = id_field("flow, across all tenants")
    description: str | None = Field(None, description="What the flow is for.")
    entry: NodeId = Field(description="Id of the first node.")
    nodes: dict[NodeId, NodeConfig] = Field(min_length=1, description="Node id -> node (with its `type`).")


def to_core_node(node: NodeConfig) -> core_flow.Node:
    """The core value of a validated node (same field names, minus ``type``)."""
    _, core_class = NODE_TYPES[node.type]
    fields = node.model_dump(exclude={"type"})
    return core_class(**fields)
