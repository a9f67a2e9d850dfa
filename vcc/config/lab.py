"""The ``lab:`` section of the cluster file: the network lab ``vcc up --lab`` builds (its subnet) and
the WAN between its sites (delay, jitter, loss and rate per link, applied by the hub forwarder)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from vcc.config.base import ConfigModel, Id


class WanSettings(ConfigModel):
    """What a WAN link does to every packet crossing it, each way."""

    delay_ms: float = Field(0.0, ge=0, le=10_000, description="One-way delay added to every packet (ms).")
    jitter_ms: float = Field(
        0.0, ge=0, le=10_000,
        description="Up to this much more delay, uniformly drawn per packet (ms); packets are never reordered.",
    )
    loss_pct: float = Field(0.0, ge=0, le=100, description="Share of packets dropped at random (%).")
    rate_kbit: int | None = Field(
        None, ge=8, le=10_000_000,
        description="Bandwidth of the link each way (kbit/s); packets queue behind each other. None: unlimited.",
    )


class LabLinkConfig(WanSettings):
    """The WAN between two sites (or a site and `root`, the namespace `vcc` and the tests run in)."""

    between: Annotated[list[Id], Field(min_length=2, max_length=2)] = Field(
        description="The two ends: site ids, or `root` for the machine's own namespace."
    )

    @field_validator("between")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if value[0] == value[1]:
            raise ValueError("a link joins two different ends")
        return value


class LabConfig(ConfigModel):
    """The network lab of `vcc up --lab` (docs/lab.md): a namespace per site, WAN emulated between them.

    Ignored by a plain `vcc up`."""

    subnet: str | None = Field(
        None,
        description="The lab's IPv4 /24..: the machine's namespace gets `.1`, sites `.2`, `.3`, ... in file "
        "order, overriding their `host`. None: the first /24 of 10.213.0.0/16 not in use.",
    )
    default: WanSettings = Field(
        default_factory=WanSettings, description="WAN settings of every link the `links` list does not name."
    )
    links: list[LabLinkConfig] = Field(default_factory=list, description="Per-link WAN settings.")

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as e:
            raise ValueError(f"not an IPv4 network like 10.213.7.0/24: {e}") from None
        if net.prefixlen > 28:
            raise ValueError("the lab needs at least a /28 (14 addresses)")
        return str(net)

    @model_validator(mode="after")
    def _no_twice(self) -> LabConfig:
        seen: set[frozenset[str]] = set()
        for link in self.links:
            key = frozenset(link.between)
            if key in seen:
                raise ValueError(f"link {link.between[0]}-{link.between[1]} is given twice")
            seen.add(key)
        return self

    def settings(self, a: str, b: str) -> WanSettings:
        """The WAN settings between ``a`` and ``b`` (either order)."""
        for link in self.links:
            if set(link.between) == {a, b}:
                return WanSettings(delay_ms=link.delay_ms, jitter_ms=link.jitter_ms, loss_pct=link.loss_pct,
                                   rate_kbit=link.rate_kbit)
        return self.default
