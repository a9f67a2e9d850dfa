"""The cluster file an operator writes: sites, skills, tenants (with their queues, entry points and
IVR flows) and agents. Every model refuses unknown keys; cross-references are checked by
:mod:`vcc.config.validate` once the shapes are right."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from vcc.config.base import ConfigModel, Id, Proficiency, id_field
from vcc.config.credentials import MIN_ITERATIONS, looks_like_plain_text, parse_password_hash
from vcc.config.dashboards import DashboardsConfig
from vcc.config.lab import LabConfig
from vcc.config.media import MediaConfig
from vcc.config.sites import SiteConfig
from vcc.config.tenants import TenantConfig
from vcc.config.trunks import SipConfig
from vcc.core.model import Channel, Pool

#: Most contacts of one channel an agent may hold at once.
MAX_CAPACITY = 20


class SkillConfig(ConfigModel):
    """A skill agents have and queues require (a language, a product, a kind of request)."""

    id: Id = id_field("skill")
    description: str | None = Field(None, description="What the skill means.")


def _skill_entry(value: Any) -> Any:
    """``- billing`` is short for ``- {id: billing}``."""
    return {"id": value} if isinstance(value, str | int) and not isinstance(value, bool) else value


class AgentConfig(ConfigModel):
    """A person who handles contacts, from a browser anywhere."""

    id: Id = id_field("agent")
    name: str = Field(min_length=1, description="Full name.")
    home_site: str = Field(description="Site the agent normally logs in to.")
    pool: Pool = Field(description="`dedicated` (works for exactly one tenant) or `shared` (several).")
    tenants: list[Id] = Field(min_length=1, description="Tenants served: exactly one if dedicated.")
    skills: dict[Id, Proficiency] = Field(
        default_factory=dict, description="Skill -> proficiency, 1 (novice) to 10 (expert)."
    )
    capacity: dict[Channel, Annotated[int, Field(ge=0, le=MAX_CAPACITY)]] = Field(
        description="Channel -> contacts at once, e.g. `{voice: 1, chat: 3, email: 5, sms: 3}`; a "
        "channel not listed is not handled. Voice is at most 1."
    )
    password_hash: str = Field(
        description="Salted hash `pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>` made with "
        f"`vcc config hash-password` (at least {MIN_ITERATIONS} iterations)."
    )
    password: SecretStr | None = Field(
        None, description="Refused: a cluster file never holds a plain-text password; use `password_hash`."
    )

    @field_validator("password")
    @classmethod
    def _refuse_plain_password(cls, value: SecretStr | None) -> None:
        if value is not None:
            raise ValueError(
                "plain-text passwords are refused; store `password_hash` made with `vcc config hash-password`"
            )
        return None

    @field_validator("password_hash")
    @classmethod
    def _check_hash(cls, value: str) -> str:
        if looks_like_plain_text(value):
            raise ValueError(
                "this looks like a plain-text password, which is refused; "
                "make a hash with `vcc config hash-password`"
            )
        parsed = parse_password_hash(value)
        if parsed.iterations < MIN_ITERATIONS:
            raise ValueError(f"hash has {parsed.iterations} iterations; at least {MIN_ITERATIONS} are needed")
        return value


class RuntimeConfig(ConfigModel):
    """How fast sites notice each other's death, and how sure they must be."""

    lease_ttl_s: int = Field(
        2, ge=1, le=30,
        description="TTL of each site's etcd session lease (whole seconds, etcd's unit). A dead site is "
        "noticed about one TTL after its last keepalive (plus an etcd election when its member led).",
    )
    lease_margin_s: float = Field(
        0.25, gt=0, lt=5,
        description="A site fences itself this long before its lease could expire without a proof of life.",
    )
    peer_probe: bool = Field(
        True,
        description="Each controller probes the other sites' gRPC ports (a TCP connect every ~0.15 s) and "
        "revokes the session lease of a site that refuses connections 3 times in a row, so a dead site is "
        "adopted in about 0.5 s instead of after its lease expires. `false`: leave it to lease expiry.",
    )
    etcd_heartbeat_ms: int = Field(50, ge=10, le=1000, description="etcd `--heartbeat-interval`.")
    etcd_election_ms: int = Field(500, ge=100, le=10_000, description="etcd `--election-timeout`.")

    @model_validator(mode="after")
    def _check(self) -> RuntimeConfig:
        if self.lease_margin_s >= self.lease_ttl_s:
            raise ValueError("lease_margin_s must be below lease_ttl_s")
        if self.etcd_election_ms < 5 * self.etcd_heartbeat_ms:
            raise ValueError("etcd_election_ms must be at least 5 x etcd_heartbeat_ms (etcd's own advice)")
        return self


class ClusterConfig(ConfigModel):
    """A whole cluster file: what ``vcc up`` starts and ``vcc config apply`` loads."""

    version: Literal[1] = Field(1, description="Format version of this file; only `1` exists.")
    name: str = Field(min_length=1, description="Name of the cluster, e.g. `three-sites`.")
    description: str | None = Field(None, description="Free text.")
    sites: list[SiteConfig] = Field(min_length=1, description="The sites; one etcd member runs at each.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Leases and etcd timing.")
    skills: list[Annotated[SkillConfig, BeforeValidator(_skill_entry)]] = Field(
        default_factory=list, description="Every skill; `- billing` is short for `- {id: billing}`."
    )
    tenants: list[TenantConfig] = Field(default_factory=list, description="Client companies.")
    agents: list[AgentConfig] = Field(default_factory=list, description="Agents of every tenant.")
    media: MediaConfig = Field(
        default_factory=MediaConfig, description="Media gateways: prompts, music on hold, recordings, codecs."
    )
    dashboards: DashboardsConfig = Field(
        default_factory=DashboardsConfig, description="Streamlit dashboards: port and users (`vcc dashboard`)."
    )
    sip: SipConfig = Field(
        default_factory=SipConfig, description="SIP listeners and the trunks (carriers, PBXs) calls come in from."
    )
    lab: LabConfig = Field(
        default_factory=LabConfig, description="The network lab of `vcc up --lab`: subnet and WAN links (docs/lab.md)."
    )

    def site(self, site_id: str) -> SiteConfig | None:
        return next((s for s in self.sites if s.id == site_id), None)

    def summary(self) -> str:
        """One line: ``3 sites, 3 tenants, 15 queues, 36 agents, 3 flows, 11 entry points, 10 skills``."""
        counts = {
            "site": len(self.sites),
            "tenant": len(self.tenants),
            "queue": sum(len(t.queues) for t in self.tenants),
            "agent": len(self.agents),
            "flow": sum(len(t.flows) for t in self.tenants),
            "entry point": sum(len(t.entry_points) for t in self.tenants),
            "skill": len(self.skills),
        }
        return ", ".join(f"{n} {noun}{'' if n == 1 else 's'}" for noun, n in counts.items())
