"""The field reference of ``docs/config.md``, generated from the models so the two cannot drift.

``python -m vcc.config.reference`` prints it; ``docs/config.md`` holds it between the markers
:data:`BEGIN` and :data:`END`, and a unit test fails when the committed copy is out of date
(``python -m vcc.config.reference --write docs/config.md`` refreshes it).
"""

from __future__ import annotations

import enum
import sys
import types
import typing
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from vcc.config.base import ID_PATTERN
from vcc.config.dashboards import DashboardsConfig, DashboardUserConfig
from vcc.config.flows import DIGIT_PATTERN, NODE_TYPES, FlowConfig
from vcc.config.lab import LabConfig, LabLinkConfig, WanSettings
from vcc.config.media import MediaConfig
from vcc.config.models import AgentConfig, ClusterConfig, RuntimeConfig, SkillConfig
from vcc.config.sites import RayPorts, SiteConfig, SitePorts
from vcc.config.tenants import (
    BillingConfig,
    CallerListsConfig,
    EntryPointConfig,
    HoursConfig,
    QueueConfig,
    ServiceLevelTarget,
    TenantConfig,
)
from vcc.config.trunks import SipConfig, TrunkConfig

_NODE_MODELS = {model for model, _ in NODE_TYPES.values()}
_NODES_INTRO = (
    "Each node of a flow is a mapping with a `type:`; its other fields are those of the node type. "
    "A field naming a node is a node id of the same flow; an empty optional branch hangs up."
)

BEGIN = "<!-- BEGIN GENERATED REFERENCE (python -m vcc.config.reference) -->"
END = "<!-- END GENERATED REFERENCE -->"

#: (heading, where it sits in the file, model), in the order of the reference.
SECTIONS: list[tuple[str, str, type[BaseModel]]] = [
    ("Top level", "the file", ClusterConfig),
    ("Site", "`sites[]`", SiteConfig),
    ("Site ports", "`sites[].ports`", SitePorts),
    ("Ray ports", "`sites[].ports.ray`", RayPorts),
    ("Skill", "`skills[]`", SkillConfig),
    ("Tenant", "`tenants[]`", TenantConfig),
    ("Business hours", "`tenants[].hours`", HoursConfig),
    ("Caller lists", "`tenants[].callers`", CallerListsConfig),
    ("Billing", "`tenants[].billing`", BillingConfig),
    ("Queue", "`tenants[].queues[]`", QueueConfig),
    ("Service-level target", "`tenants[].queues[].service_level`", ServiceLevelTarget),
    ("Entry point", "`tenants[].entry_points[]`", EntryPointConfig),
    ("IVR flow", "`tenants[].flows[]`", FlowConfig),
    *[
        (f"IVR node `{tag}`", f"`tenants[].flows[].nodes.<id>` with `type: {tag}`", model)
        for tag, (model, _) in NODE_TYPES.items()
    ],
    ("Agent", "`agents[]`", AgentConfig),
    ("Runtime", "`runtime`", RuntimeConfig),
    ("Media", "`media`", MediaConfig),
    ("Dashboards", "`dashboards`", DashboardsConfig),
    ("Dashboard user", "`dashboards.users[]`", DashboardUserConfig),
    ("SIP", "`sip`", SipConfig),
    ("SIP trunk", "`sip.trunks[]`", TrunkConfig),
    ("Network lab", "`lab`", LabConfig),
    ("WAN settings", "`lab.default`", WanSettings),
    ("Lab link", "`lab.links[]`", LabLinkConfig),
]


def _anchor(heading: str) -> str:
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return "#" + kept.replace(" ", "-")


def _flat(metadata: Iterable[Any]) -> list[Any]:
    """Constraint objects, with those inside a nested ``Field(...)`` brought up."""
    out: list[Any] = []
    for meta in metadata:
        out.extend(_flat(meta.metadata) if isinstance(meta, FieldInfo) else [meta])
        if isinstance(meta, FieldInfo) or hasattr(meta, "pattern"):
            out.append(meta)
    return out


def _bounds(metadata: Iterable[Any]) -> str:
    flat = _flat(metadata)
    low = next((getattr(m, a) for m in flat for a in ("ge", "gt") if getattr(m, a, None) is not None), None)
    high = next((getattr(m, a) for m in flat for a in ("le", "lt") if getattr(m, a, None) is not None), None)
    if low is not None and high is not None:
        return f" {low}–{high}"
    return f" ≥ {low}" if low is not None else ""


def _pattern_name(metadata: Iterable[Any]) -> str | None:
    patterns = {getattr(m, "pattern", None) for m in _flat(metadata)}
    return "id" if ID_PATTERN in patterns else "digit" if DIGIT_PATTERN in patterns else None


def type_name(annotation: Any, bounds: bool = True) -> str:
    """A short, readable name for a field's type (models link to their section)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _pattern_name(args[1:]) or type_name(args[0]) + (_bounds(args[1:]) if bounds else "")
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) > 1 and all(m in _NODE_MODELS for m in members):
            return f"[IVR node]({_anchor('IVR nodes')})"
        return " or ".join(type_name(a, bounds=False) for a in members) + (
            " (optional)" if type(None) in args else ""
        )
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"map {type_name(args[0])} → {type_name(args[1])}"
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " / ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        heading = next((h for h, _, m in SECTIONS if m is annotation), annotation.__name__)
        return f"[{heading}]({_anchor(heading)})"
    names = {Decimal: "decimal", str: "text", int: "int", float: "number", bool: "true/false", date: "date"}
    return names.get(
        annotation, getattr(annotation, "__name__", str(annotation)).replace("SecretStr", "text")
    )


def _constraints(info: FieldInfo) -> str:
    """Bounds given on the field itself or inside its optional type (``Port | None``)."""
    metadata = list(info.metadata)
    if typing.get_origin(info.annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(info.annotation):
            if typing.get_origin(arg) is typing.Annotated:
                metadata.extend(typing.get_args(arg)[1:])
    bounds = []
    for meta in _flat(metadata):
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "min length")):
            value = getattr(meta, attr, None)
            if value is not None and not isinstance(meta, FieldInfo):
                bounds.append(f"{sign} {value}")
    return ", ".join(dict.fromkeys(bounds))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        return "empty" if info.default is PydanticUndefined else "—"
    value = info.default
    if value is None:
        return "—"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def model_table(model: type[BaseModel]) -> str:
    rows = ["| Field | Type | Default | Constraints | Description |", "|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        description = (info.description or ("Node type." if name == "type" else "")).replace("|", "\\|")
        kind = _pattern_name(info.metadata) or type_name(info.annotation)
        rows.append(f"| `{name}` | {kind} | {_default(info)} | {_constraints(info)} | {description} |")
    return "\n".join(rows)


def reference_markdown() -> str:
    parts = [BEGIN, ""]
    for heading, where, model in SECTIONS:
        doc = (model.__doc__ or "").strip().splitlines()[0].replace("``", "`")
        is_node = model in _NODE_MODELS
        if is_node and "### IVR nodes" not in parts:
            parts += ["### IVR nodes", "", _NODES_INTRO, ""]
        level = "####" if is_node else "###"
        parts += [f"{level} {heading}", "", f"In {where}. {doc}", "", model_table(model), ""]
    parts.append(END)
    return "\n".join(parts)


def replace_reference(document: str) -> str:
    """``document`` with the text between the markers replaced by the current reference."""
    start, end = document.index(BEGIN), document.index(END) + len(END)
    return document[:start] + reference_markdown() + document[end:]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"] and len(argv) == 2:
        path = Path(argv[1])
        path.write_text(replace_reference(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stdout.write(reference_markdown() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
