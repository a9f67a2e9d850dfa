"""The ``dashboards:`` section of the cluster file: the Streamlit app's port and its users.

Two kinds of user log in to the dashboards: a regional **manager** watches the sites of one or more
regions (``"*"``: every region) and every tenant served there; a **tenant** user belongs to one
client company and sees that tenant's contacts, queues and statement only. Passwords are stored as
the same salted PBKDF2 hashes agents use (``vcc config hash-password``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from vcc.config.base import ConfigModel, Id, Port
from vcc.config.credentials import MIN_ITERATIONS, looks_like_plain_text, parse_password_hash
from vcc.errors import Problem

#: A manager's region list entry meaning "every region".
ALL_REGIONS = "*"


def check_password_hash(value: str) -> str:
    """The rules every stored password hash of the cluster file follows (agents, dashboard users)."""
    if looks_like_plain_text(value):
        raise ValueError(
            "this looks like a plain-text password, which is refused; make a hash with `vcc config hash-password`"
        )
    parsed = parse_password_hash(value)
    if parsed.iterations < MIN_ITERATIONS:
        raise ValueError(f"hash has {parsed.iterations} iterations; at least {MIN_ITERATIONS} are needed")
    return value


class DashboardUserConfig(ConfigModel):
    """A person who logs in to the dashboards: a regional manager or a tenant's user."""

    id: Id = Field(description="Login name (an id: letters, digits, '_', '-' or '.').")
    name: str = Field(min_length=1, description="Full name, shown once logged in.")
    role: Literal["manager", "tenant"] = Field(
        description="`manager` (sees the sites of `regions` and every tenant there) or `tenant` "
        "(sees one tenant's data only, at every site)."
    )
    regions: list[str] = Field(
        default_factory=list,
        description='Managers: the regions watched (site `region` values; `"*"` for every region). '
        "Not allowed for tenant users.",
    )
    tenant: Id | None = Field(None, description="Tenant users: the tenant they belong to. Not allowed for managers.")
    password_hash: str = Field(
        description="Salted hash `pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>` made with "
        f"`vcc config hash-password` (at least {MIN_ITERATIONS} iterations)."
    )

    @field_validator("password_hash")
    @classmethod
    def _check_hash(cls, value: str) -> str:
        return check_password_hash(value)

    @model_validator(mode="after")
    def _check_role(self) -> DashboardUserConfig:
        if self.role == "manager":
            if self.tenant is not None:
                raise ValueError("a manager sees every tenant of its regions: remove `tenant`")
            if not self.regions:
                raise ValueError('a manager needs `regions` (site regions, or ["*"] for every region)')
        else:
            if self.tenant is None:
                raise ValueError("a tenant user needs `tenant`")
            if self.regions:
                raise ValueError("a tenant user sees its tenant at every site: remove `regions`")
        return self


class DashboardsConfig(ConfigModel):
    """The Streamlit dashboards for regional managers and tenants (`vcc dashboard`)."""

    port: Port = Field(8501, description="HTTP port of the dashboard server (`vcc dashboard --port` overrides).")
    host: str = Field("127.0.0.1", min_length=1, description="Address the dashboard server listens on.")
    refresh_s: float = Field(1.0, ge=0.5, le=2.0, description="Seconds between refreshes of the live wallboard.")
    users: list[DashboardUserConfig] = Field(default_factory=list, description="Who may log in.")


def dashboard_problems(
    dashboards: DashboardsConfig, regions: set[str], tenants: set[str], where: str = "dashboards"
) -> list[Problem]:
    """Cross-references of the section: unique user ids, known regions and tenants."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, user in enumerate(dashboards.users):
        path = f"{where}.users[{i}]"
        if user.id in seen:
            first = f"{where}.users[{seen[user.id]}]"
            problems.append(Problem(f"{path}.id", f"duplicate user {user.id!r} (also at {first})"))
        seen.setdefault(user.id, i)
        for j, region in enumerate(user.regions):
            if region != ALL_REGIONS and region not in regions:
                known = ", ".join(sorted(regions))
                problems.append(Problem(f"{path}.regions[{j}]", f"unknown region {region!r} (site regions: {known})"))
        if user.tenant is not None and user.tenant not in tenants:
            problems.append(Problem(f"{path}.tenant", f"unknown tenant {user.tenant!r}"))
    return problems
