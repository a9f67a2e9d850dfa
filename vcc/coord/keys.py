"""The etcd key schema of a vcc cluster. Every key lives under ``/vcc/<cluster>/``.

docs/coord.md documents each key: who writes it, whether it rides on a lease, who watches it.
Identifiers (site, agent, contact ids) are path segments, so they may not contain ``/``.

================================  ====================================  =====================
key (under /vcc/<cluster>/)       value                                 lease
================================  ====================================  =====================
config/current                    version number, decimal text          none
config/versions/<n>               the YAML text of version n            none
sites/<site>/session              JSON SessionInfo                      the site's session
sites/<site>/load                 JSON SiteLoad (≥ 2 writes/s)          the site's session
agents/<agent_id>/owner           owner site name                       owner site's session
contacts/<contact_id>             JSON DurableContact                   none (completed: a
                                                                        retention lease)
elections/adopt/<dead_site>       JSON {adopter, dead_epoch}            adopter's session
================================  ====================================  =====================
"""

from __future__ import annotations

from dataclasses import dataclass

SESSION = "session"
LOAD = "load"
LIVE = "live"


def check_id(kind: str, value: str) -> str:
    """Reject ids that would break the key layout (empty, or containing ``/`` or whitespace)."""
    if not value or "/" in value or any(ch.isspace() for ch in value):
        raise ValueError(f"invalid {kind} id {value!r}: must be non-empty, without '/' or spaces")
    return value


@dataclass(frozen=True, slots=True)
class CoordKeys:
    """Builds and parses the keys of one vcc cluster (``cluster`` is the cluster name)."""

    cluster: str

    def __post_init__(self) -> None:
        check_id("cluster", self.cluster)

    @property
    def root(self) -> str:
        return f"/vcc/{self.cluster}/"

    # config ---------------------------------------------------------------------------------------
    @property
    def config_current(self) -> str:
        return f"{self.root}config/current"

    def config_version(self, version: int) -> str:
        return f"{self.root}config/versions/{version}"

    # sites ----------------------------------------------------------------------------------------
    @property
    def sites_prefix(self) -> str:
        return f"{self.root}sites/"

    def site_session(self, site: str) -> str:
        return f"{self.sites_prefix}{check_id('site', site)}/{SESSION}"

    def site_load(self, site: str) -> str:
        return f"{self.sites_prefix}{check_id('site', site)}/{LOAD}"

    def live_calls_prefix(self, site: str) -> str:
        """The site's live voice calls, a key each (no lease: they outlive the site, so its adopter
        can record them as failed). Not under ``sites/``: the load and session mirrors watch that."""
        return f"{self.root}{LIVE}/{check_id('site', site)}/"

    def live_call(self, site: str, contact_id: str) -> str:
        return f"{self.live_calls_prefix(site)}{check_id('contact', contact_id)}"

    def parse_site_key(self, key: str) -> tuple[str, str] | None:
        """``sites/<site>/<kind>`` → (site, kind), None for any other key."""
        if not key.startswith(self.sites_prefix):
            return None
        parts = key[len(self.sites_prefix) :].split("/")
        return (parts[0], parts[1]) if len(parts) == 2 else None

    # agents ---------------------------------------------------------------------------------------
    @property
    def agents_prefix(self) -> str:
        return f"{self.root}agents/"

    def agent_owner(self, agent_id: str) -> str:
        return f"{self.agents_prefix}{check_id('agent', agent_id)}/owner"

    def parse_agent_owner(self, key: str) -> str | None:
        if not key.startswith(self.agents_prefix) or not key.endswith("/owner"):
            return None
        return key[len(self.agents_prefix) : -len("/owner")]

    # contacts -------------------------------------------------------------------------------------
    @property
    def contacts_prefix(self) -> str:
        return f"{self.root}contacts/"

    def contact(self, contact_id: str) -> str:
        return f"{self.contacts_prefix}{check_id('contact', contact_id)}"

    def parse_contact(self, key: str) -> str | None:
        return key[len(self.contacts_prefix) :] if key.startswith(self.contacts_prefix) else None

    # elections ------------------------------------------------------------------------------------
    @property
    def adoptions_prefix(self) -> str:
        return f"{self.root}elections/adopt/"

    def adoption(self, dead_site: str) -> str:
        return f"{self.adoptions_prefix}{check_id('site', dead_site)}"
