"""Turn pydantic's validation errors into operator sentences with paths like ``tenants[1].queues[0]``.

Pydantic reports where a value is (``loc``) with the discriminator tag of IVR nodes and ``[key]``
markers in it; the path an operator reads names only what is in the file.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from vcc.config.base import ID_PATTERN, ID_RULE
from vcc.errors import Problem

Segment = str | int


def format_path(segments: Sequence[Segment]) -> str:
    """``["tenants", 1, "queues", 0, "skills"]`` -> ``tenants[1].queues[0].skills``."""
    out = ""
    for seg in segments:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else seg
    return out


def clean_loc(loc: Sequence[Segment], data: Any) -> list[Segment]:
    """Drop what pydantic adds to a location (node-type tags, ``[key]``), keeping what the file has."""
    path: list[Segment] = []
    current: Any = data
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(current, dict):
            if seg not in current and str(seg) not in current and current.get("type") == seg:
                continue  # the ``type:`` tag of an IVR node
            current = current.get(seg, current.get(str(seg)))
            path.append(str(seg))  # a mapping key, even when YAML read it as a number
            continue
        if isinstance(current, list) and isinstance(seg, int) and 0 <= seg < len(current):
            current = current[seg]
        else:
            current = None
        path.append(seg)
    return path


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold: ``Annotated`` and ``X | None`` peeled off."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def model_at(root: type[BaseModel], loc: Sequence[Segment]) -> type[BaseModel] | None:
    """The model class that holds the field at the end of ``loc`` (a raw pydantic loc, tags included)."""
    candidates: list[Any] = [root]
    for seg in loc:
        nxt: list[Any] = []
        for cand in candidates:
            origin = typing.get_origin(cand)
            if isinstance(cand, type) and issubclass(cand, BaseModel) and isinstance(seg, str):
                field = cand.model_fields.get(seg)
                if field is not None:
                    nxt.extend(_unwrap(field.annotation))
                elif _tag_of(cand) == seg:
                    nxt.append(cand)
            elif origin is list and isinstance(seg, int):
                nxt.extend(_unwrap(typing.get_args(cand)[0]))
            elif origin is dict:
                nxt.extend(_unwrap(typing.get_args(cand)[1]))
        candidates = nxt
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if len(models) == 1 else None


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return None
    tag = typing.get_args(field.annotation)[0]
    return tag if isinstance(tag, str) else None


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."


def reason(error: ErrorDetails, root: type[BaseModel], secret: bool = False) -> str:
    """One sentence for one pydantic error."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = "" if secret else f" (got {_show(value)})"
    loc = error["loc"]
    match kind:
        case "missing":
            return "required, but missing"
        case "extra_forbidden":
            holder = model_at(root, loc[:-1])
            allowed = sorted(holder.model_fields) if holder else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else (f" (allowed: {', '.join(allowed)})" if allowed else "")
            )
            return f"unknown field {str(loc[-1])!r}{hint}"
        case "union_tag_not_found":
            return f"an IVR node needs a `type:` ({_node_types()})"
        case "union_tag_invalid":
            return f"unknown node type {ctx.get('tag')!r} (use one of {_node_types()})"
        case "value_error" | "assertion_error":
            return str(ctx.get("error", error["msg"]))
        case "enum" | "literal_error":
            return f"{_show(value)} is not one of {ctx.get('expected')}"
        case "string_pattern_mismatch":
            rule = _pattern_rules().get(str(ctx.get("pattern")), f"text matching {ctx.get('pattern')}")
            return f"{_show(value)} is not {rule}"
        case "greater_than_equal":
            return f"must be at least {_num(ctx.get('ge'))}{got}"
        case "less_than_equal":
            return f"must be at most {_num(ctx.get('le'))}{got}"
        case "greater_than":
            return f"must be more than {_num(ctx.get('gt'))}{got}"
        case "less_than":
            return f"must be less than {_num(ctx.get('lt'))}{got}"
        case "too_short" if ctx.get("min_length") == 1:
            return "must not be empty"
        case "string_too_short" if ctx.get("min_length") == 1:
            return "must not be empty"
        case "model_type" | "model_attributes_type" | "dict_type":
            return f"must be a mapping (key: value), not {_show(value)}"
        case "list_type":
            return f"must be a list, not {_show(value)}"
        case "string_type":
            return f"must be text, not {_show(value)}"
        case "int_type" | "int_parsing" | "int_from_float":
            return f"must be a whole number{got}"
        case "float_type" | "float_parsing" | "decimal_parsing" | "decimal_type":
            return f"must be a number{got}"
        case "bool_type" | "bool_parsing":
            return f"must be true or false{got}"
        case "date_type" | "date_parsing" | "date_from_datetime_parsing" | "date_from_datetime_inexact":
            return f"must be a date like 2025-12-25{got}"
    return f"{error['msg']}{got}"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _node_types() -> str:
    from vcc.config.flows import NODE_TYPES

    return ", ".join(NODE_TYPES)


def _pattern_rules() -> dict[str, str]:
    """What each regex pattern of the models means, in words."""
    from vcc.config.flows import DIGIT_PATTERN, VARIABLE_PATTERN
    from vcc.config.sites import SITE_ID_PATTERN
    from vcc.config.tenants import CURRENCY_PATTERN

    return {
        ID_PATTERN: ID_RULE,
        DIGIT_PATTERN: "a DTMF digit: 0-9, '*' or '#' (quote '*' and '#' in YAML)",
        VARIABLE_PATTERN: "a variable name: letters, digits and '_', not starting with a digit",
        SITE_ID_PATTERN: "a site id: a letter, then letters, digits, '_' or '-', at most 16 long",
        CURRENCY_PATTERN: "an ISO 4217 currency code such as EUR or USD",
    }


def translate(exc: ValidationError, data: Any, root: type[BaseModel]) -> list[Problem]:
    """One :class:`Problem` per pydantic error, with the path as the file spells it."""
    problems = []
    for error in exc.errors(include_url=False):
        path = format_path(clean_loc(error["loc"], data))
        secret = "password" in path
        problems.append(Problem(path, reason(error, root, secret=secret)))
    return problems
