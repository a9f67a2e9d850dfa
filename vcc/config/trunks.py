"""The ``trunks:`` section of the cluster file: who may send calls to the sites' SIP listeners.

A trunk is a carrier or PBX: calls from it are accepted when the sender's address is in its
``allow`` list, and/or when it answers a digest challenge with its ``username`` and the password
in the environment variable ``password_env`` (a cluster file never holds a password). The dialed
number (the Request-URI's user part) is an entry point's address: it selects the tenant and flow.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from vcc.config.base import ConfigModel, Id, id_field


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network such as 192.0.2.0/24") from None
    return value


Network = Annotated[str, AfterValidator(_network)]


class TrunkConfig(ConfigModel):
    """A SIP trunk from a carrier or PBX (docs/sip.md)."""

    id: Id = id_field("trunk")
    allow: list[Network] = Field(
        default_factory=list,
        description="Addresses or networks (`192.0.2.10`, `198.51.100.0/24`) the trunk sends from. With "
        "`username` too, both must match.",
    )
    username: str | None = Field(None, min_length=1, max_length=64, description="Digest user name of the trunk.")
    password_env: str | None = Field(
        None, min_length=1, description="Environment variable of the sites holding the trunk's digest password."
    )
    tenants: list[Id] = Field(
        default_factory=list, description="Tenants whose numbers this trunk may call (default: every tenant)."
    )

    @model_validator(mode="after")
    def _check(self) -> TrunkConfig:
        if not self.allow and not self.username:
            raise ValueError("a trunk needs `allow` addresses, a digest `username`, or both")
        if bool(self.username) != bool(self.password_env):
            raise ValueError("`username` and `password_env` go together")
        return self


class SipConfig(ConfigModel):
    """The sites' SIP listeners (UDP and TCP on the site's `sip` port) and the trunks they take calls from."""

    trunks: list[TrunkConfig] = Field(default_factory=list, description="Carriers and PBXs allowed to call in.")
    realm: str = Field("vcc", min_length=1, description="Digest realm in challenges.")
    rtp_ports: tuple[int, int] = Field(
        (31000, 31999), description="Range of UDP ports for RTP (even) and RTCP (odd) of SIP calls."
    )
    codecs: list[str] = Field(
        default_factory=lambda: ["PCMU", "PCMA"], min_length=1, description="G.711 codecs answered, in preference."
    )
    max_calls: int = Field(1000, ge=1, le=100_000, description="Calls a site's SIP listener holds; more get 503.")
    ring_ms: int = Field(0, ge=0, le=10_000, description="How long a call rings (180) before it is answered.")

    @model_validator(mode="after")
    def _check(self) -> SipConfig:
        low, high = self.rtp_ports
        if not 1024 <= low < high <= 65535 or high - low < 3:
            raise ValueError("rtp_ports must be a range [low, high] within 1024-65535 with room for a pair")
        ids = [t.id for t in self.trunks]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"trunk ids used twice: {', '.join(dup)}")
        bad = [c for c in self.codecs if c not in ("PCMU", "PCMA")]
        if bad:
            raise ValueError(f"codecs {bad} are not G.711 (PCMU, PCMA)")
        return self
