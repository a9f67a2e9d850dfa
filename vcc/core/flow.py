"""IVR flows as the core sees them: a graph of typed nodes keyed by id, entered at ``entry``.

Config (``vcc.config``) validates a person's YAML and compiles it into these frozen values; the IVR
interpreter (``vcc.core.ivr``) walks them. Every field that names another node is a node id in the
same flow; ``None`` where a branch is optional means "hang up".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Play:
    """Play a prompt (an audio prompt id or a text for TTS), then go on."""

    prompt: str
    next: str


@dataclass(frozen=True, slots=True)
class Menu:
    """Play a prompt and wait for one DTMF digit; ``options`` maps a digit to the next node.
    No digit within ``timeout_s``, or a digit with no option, counts as a failed try; after
    ``retries`` failed re-tries go to ``on_fail``."""

    prompt: str
    options: dict[str, str]
    timeout_s: float = 5.0
    retries: int = 2
    invalid_prompt: str | None = None
    on_fail: str | None = None


@dataclass(frozen=True, slots=True)
class Collect:
    """Collect up to ``max_digits`` digits (ended early by ``terminator``) into ``variable``."""

    prompt: str
    variable: str
    next: str
    min_digits: int = 1
    max_digits: int = 16
    terminator: str = "#"
    timeout_s: float = 5.0
    retries: int = 2
    on_fail: str | None = None


@dataclass(frozen=True, slots=True)
class CheckHours:
    """Branch on the tenant's business hours (a holiday counts as closed)."""

    open: str
    closed: str


@dataclass(frozen=True, slots=True)
class AnnounceWait:
    """Announce the estimated wait (and position, if ``position``) for ``queue``, then go on."""

    queue: str
    next: str
    position: bool = True


@dataclass(frozen=True, slots=True)
class OfferCallback:
    """Offer a callback instead of waiting: ``accept_digit`` books a callback in ``queue`` and goes
    to ``accepted``; anything else (or a timeout) goes to ``declined``. Offered only when the queue's
    EWT is at least ``min_ewt_s``; otherwise straight to ``declined``."""

    prompt: str
    queue: str
    accepted: str
    declined: str
    accept_digit: str = "1"
    min_ewt_s: float = 0.0
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class SetAttributes:
    """Change how the contact will be routed: add to its priority, require extra skills."""

    next: str
    priority_delta: int = 0
    skills: dict[str, int] = field(default_factory=dict)  # extra skill -> min proficiency


@dataclass(frozen=True, slots=True)
class RouteToQueue:
    """Leave the IVR and queue the contact (terminal)."""

    queue: str


@dataclass(frozen=True, slots=True)
class HangUp:
    """Play an optional goodbye and end the contact (terminal)."""

    prompt: str | None = None
    reason: str = "ivr_hangup"


Node = (
    Play | Menu | Collect | CheckHours | AnnounceWait | OfferCallback | SetAttributes | RouteToQueue | HangUp
)


@dataclass(frozen=True, slots=True)
class Flow:
    id: str
    tenant: str
    entry: str
    nodes: dict[str, Node]


def successors(node: Node) -> list[str | None]:
    """Every node id this node can go to (``None`` means the contact ends)."""
    match node:
        case Play(next=n) | Collect(next=n) | AnnounceWait(next=n) | SetAttributes(next=n):
            extra = [node.on_fail] if isinstance(node, Collect) else []
            return [n, *extra]
        case Menu():
            return [*node.options.values(), node.on_fail]
        case CheckHours():
            return [node.open, node.closed]
        case OfferCallback():
            return [node.accepted, node.declined]
        case RouteToQueue() | HangUp():
            return []
    raise TypeError(f"unknown IVR node {node!r}")
