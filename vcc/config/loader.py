"""Read a cluster file: bytes, then YAML, then the pydantic models, then the cross-reference checks.

Every user error becomes a :class:`vcc.errors.Problem` inside one :class:`vcc.errors.ConfigError`
(the CLI prints one line each and exits 2): a missing or unreadable file, bytes that are not UTF-8
text, YAML syntax (with line and column), an empty file, a top level that is not a mapping, and
then every shape and reference problem found in one pass. Problems inside the document carry the
line they were found at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vcc.config.models import ClusterConfig
from vcc.config.problems import Segment, format_path, translate
from vcc.config.validate import validate_config
from vcc.errors import ConfigError, Problem

_PATH_TOKEN = re.compile(r"[^.\[\]]+|\[\d+\]")
#: List keys whose items carry an id worth naming in a message.
_ITEM_KINDS = {
    "sites": "site",
    "skills": "skill",
    "tenants": "tenant",
    "queues": "queue",
    "entry_points": "entry point",
    "flows": "flow",
    "agents": "agent",
}
#: Refuse files larger than this: a cluster file is text a person writes.
MAX_FILE_BYTES = 8 * 1024 * 1024
#: Aliases (``&defaults`` ... ``*defaults``) may repeat parts of a file, but not blow it up: a few
#: lines of nested aliases (a "billion laughs" file) would expand to billions of values and keep
#: the validator busy for hours. The document with every alias written out holds at most this many.
MAX_EXPANDED_VALUES = 1_000_000


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last silently,
    which would drop, say, one of two IVR nodes with the same id)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    "a key must be plain text",
                    key_node.start_mark,
                ) from None
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key {key!r} is given twice (first at line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


@dataclass
class YamlDocument:
    """A parsed YAML document and the line each value starts at, by path."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest enclosing value that is in the file."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    def owner_of(self, path: str) -> str | None:
        """The innermost item with an id that ``path`` lies in, e.g. ``queue acme-claims``."""
        current: Any = self.data
        key, owner = "", None
        for token in _PATH_TOKEN.findall(path):
            if token.startswith("["):
                index = int(token[1:-1])
                if not isinstance(current, list) or index >= len(current):
                    break
                current = current[index]
                ident = current.get("id", current.get("address")) if isinstance(current, dict) else None
                if key in _ITEM_KINDS and isinstance(ident, str | int) and not isinstance(ident, bool):
                    owner = f"{_ITEM_KINDS[key]} {ident}"
            elif isinstance(current, dict) and token in current:
                key, current = token, current[token]
            else:
                break
        return owner

    def with_lines(self, problems: list[Problem]) -> list[Problem]:
        """The problems in the order of the file, each told the item it is in and its line."""
        located = [(self.line_of(p.path), p) for p in problems]
        located.sort(key=lambda item: item[0] or 0)
        result = []
        for line, problem in located:
            where = [part for part in (self.owner_of(problem.path), line and f"line {line}") if part]
            suffix = f" ({', '.join(where)})" if where else ""
            result.append(Problem(problem.path, problem.message + suffix))
        return result


def _index_lines(node: yaml.Node, segments: list[Segment], lines: dict[str, int]) -> None:
    lines[format_path(segments)] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _index_lines(value_node, [*segments, str(key_node.value)], lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, [*segments, i], lines)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _alias_problem(root: yaml.Node) -> Problem | None:
    """A value that contains itself through an alias, or aliases that expand the document beyond
    ``MAX_EXPANDED_VALUES``: found on the composed nodes (an alias is the anchored node itself), in
    one pass over the distinct nodes, before anything walks the expanded document."""
    sizes: dict[int, int] = {}  # id(node) -> values in it, aliases written out
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            size = sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_EXPANDED_VALUES:
                return Problem(f"line {node.start_mark.line + 1}",
                               f"aliases expand this value to more than {MAX_EXPANDED_VALUES:,} values "
                               "(nested aliases?): write the repeated parts out, or nest aliases less")  # fmt: skip
            continue
        if key in sizes:
            continue
        if key in on_path:
            return Problem(f"line {node.start_mark.line + 1}",
                           "this value contains itself through an alias: a cluster file cannot be recursive")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return None


def _syntax_problem(exc: yaml.YAMLError, text: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = ": ".join(part for part in (exc.context, exc.problem) if part) or "YAML syntax error"
        if mark is None:
            return Problem("", what)
        return Problem(f"line {mark.line + 1}, column {mark.column + 1}", what)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return Problem(f"line {line}, column {column}", f"unacceptable character #x{exc.character:04x}")
    return Problem("", f"not YAML: {exc}")


def _read_text(path: Path, source: str) -> str:
    try:
        if path.is_dir():
            raise ConfigError(source, [Problem("", "is a directory, not a cluster file")])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, [Problem("", "no such file")]) from None
    except PermissionError:
        raise ConfigError(source, [Problem("", "permission denied")]) from None
    except OSError as exc:
        raise ConfigError(source, [Problem("", f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(source, [Problem("", f"larger than {MAX_FILE_BYTES} bytes: not a cluster file")])
    if b"\x00" in raw:
        raise ConfigError(source, [Problem("", "not a text file (it contains NUL bytes)")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            source, [Problem("", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})")]
        ) from None


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document that must be a mapping; raise :class:`ConfigError` if it is not."""
    if not text.strip():
        raise ConfigError(source, [Problem("", "the file is empty")])
    try:
        loader = _StrictLoader(text)  # checks for unprintable characters already
        try:
            node = loader.get_single_node()
            if node is not None and (problem := _alias_problem(node)) is not None:
                raise ConfigError(source, [problem])
            data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_syntax_problem(exc, text)]) from None
    except RecursionError:  # PyYAML composes and constructs recursively
        raise ConfigError(source, [Problem("", "values nested too deeply (hundreds of levels): "
                                               "not a cluster file")]) from None
    if node is None or data is None:
        raise ConfigError(source, [Problem("", "the file is empty (nothing but comments)")])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the single value {str(data)[:40]!r}"
        raise ConfigError(
            source,
            [Problem("", f"the top level must be a mapping (name:, sites:, tenants:, ...), not {kind}")],
        )
    lines: dict[str, int] = {}
    _index_lines(node, [], lines)
    return YamlDocument(data, lines)


def config_from_document(doc: YamlDocument, source: str) -> ClusterConfig:
    """Validate shapes, then references; raise one :class:`ConfigError` with every problem found."""
    try:
        config = ClusterConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(source, doc.with_lines(translate(exc, doc.data, ClusterConfig))) from None
    problems = validate_config(config)
    if problems:
        raise ConfigError(source, doc.with_lines(problems))
    return config


def load_config_text(text: str, source: str = "<config>") -> ClusterConfig:
    """A validated :class:`ClusterConfig` from YAML text (``source`` names it in messages)."""
    return config_from_document(parse_yaml(text, source), source)


def load_config(path: str | Path) -> ClusterConfig:
    """A validated :class:`ClusterConfig` from a cluster file; :class:`ConfigError` if anything is wrong."""
    source = str(path)
    return load_config_text(_read_text(Path(path), source), source)
