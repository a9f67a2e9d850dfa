"""The WAN emulator's arithmetic, sans IO: when (if ever) a packet that enters a link at ``now_s``
leaves it. The hub forwarder (:mod:`vcc.lab.hub`) does the IO.

Each direction of a link is a :class:`WanPath`: loss drops a packet at random; a rate limit makes
packets queue behind each other (serialisation: ``size * 8 / rate``), with a bounded backlog; delay
and jitter (uniform in ``[0, jitter_ms]``) are added on top. Packets on one path never overtake each
other (a delivery time is never earlier than the previous one's), so jitter shows up as delay
variation, not reordering, which TCP over a real WAN rarely sees. A path that is ``down`` drops
everything, silently, like a cut cable.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

#: Most bytes a rate-limited path holds queued before it drops (a router's buffer, ~tail drop).
BACKLOG_LIMIT_BYTES = 1_000_000


@dataclass(slots=True)
class WanParams:
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    rate_kbit: int | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WanParams:
        return cls(delay_ms=float(raw.get("delay_ms", 0.0)), jitter_ms=float(raw.get("jitter_ms", 0.0)),
                   loss_pct=float(raw.get("loss_pct", 0.0)),
                   rate_kbit=None if raw.get("rate_kbit") is None else int(raw["rate_kbit"]))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PathCounters:
    packets: int = 0  # delivered (or scheduled for delivery)
    bytes: int = 0
    dropped_loss: int = 0
    dropped_down: int = 0
    dropped_queue: int = 0  # backlog full, or the far end could not take it


@dataclass(slots=True)
class WanPath:
    """One direction of a link: ``src`` to ``dst``."""

    src: str
    dst: str
    params: WanParams = field(default_factory=WanParams)
    down: bool = False
    counters: PathCounters = field(default_factory=PathCounters)
    _last_out_s: float = 0.0  # delivery time of the previous packet: nothing leaves before it
    _wire_free_s: float = 0.0  # when the rate-limited wire has sent everything queued

    def admit(self, now_s: float, size_bytes: int, rng: random.Random) -> float | None:
        """The time the packet leaves the path, or None if it is dropped (counted)."""
        if self.down:
            self.counters.dropped_down += 1
            return None
        p = self.params
        if p.loss_pct > 0 and rng.random() * 100.0 < p.loss_pct:
            self.counters.dropped_loss += 1
            return None
        sent_s = now_s
        if p.rate_kbit:
            start_s = max(now_s, self._wire_free_s)
            if (start_s - now_s) * p.rate_kbit * 125.0 > BACKLOG_LIMIT_BYTES:
                self.counters.dropped_queue += 1
                return None
            self._wire_free_s = sent_s = start_s + size_bytes * 8 / (p.rate_kbit * 1000.0)
        out_s = sent_s + p.delay_ms / 1000.0
        if p.jitter_ms > 0:
            out_s += rng.random() * p.jitter_ms / 1000.0
        out_s = max(out_s, self._last_out_s)
        self._last_out_s = out_s
        self.counters.packets += 1
        self.counters.bytes += size_bytes
        return out_s

    def status(self) -> dict[str, Any]:
        return {"from": self.src, "to": self.dst, "down": self.down, **self.params.to_dict(),
                **asdict(self.counters)}


class WanTable:
    """Every path between the lab's ends (sites and ``root``), both directions."""

    def __init__(self, ends: list[str], params: dict[frozenset[str], WanParams], seed: int | None = None) -> None:
        self.ends = list(ends)
        self.rng = random.Random(seed)
        self.paths: dict[tuple[str, str], WanPath] = {}
        for a in ends:
            for b in ends:
                if a != b:
                    got = params.get(frozenset((a, b)), WanParams())
                    self.paths[(a, b)] = WanPath(a, b, WanParams(**got.to_dict()))

    def admit(self, src: str, dst: str, now_s: float, size_bytes: int) -> float | None:
        return self.paths[(src, dst)].admit(now_s, size_bytes, self.rng)

    def set_params(self, a: str, b: str, params: WanParams) -> None:
        """New settings for both directions between ``a`` and ``b``."""
        for key in ((a, b), (b, a)):
            self.paths[key].params = WanParams(**params.to_dict())

    def set_down(self, site: str, down: bool) -> None:
        """Cut (or heal) every path to and from ``site``."""
        for (src, dst), path in self.paths.items():
            if site in (src, dst):
                path.down = down

    def status(self) -> list[dict[str, Any]]:
        return [p.status() for p in self.paths.values()]
