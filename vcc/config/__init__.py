"""The cluster file an operator writes, from YAML to the core's frozen values.

``load_config(path)`` reads and validates a file (raising one :class:`vcc.errors.ConfigError` that
lists every problem), ``compile_center(config)`` turns it into a :class:`vcc.core.model.CenterSpec`.
"""

from collections.abc import Callable

from vcc.config.compile import compile_center
from vcc.config.credentials import password_checker
from vcc.config.loader import load_config, load_config_text
from vcc.config.models import AgentConfig, ClusterConfig, SkillConfig
from vcc.config.sites import SiteConfig, etcd_initial_cluster
from vcc.config.tenants import QueueConfig, TenantConfig
from vcc.core.model import CenterSpec


def site_view(yaml_text: str, source: str = "<config>") -> tuple[CenterSpec, Callable[[str, str], bool]]:
    """What a site runs from a config text: the compiled center and its agents' password check."""
    config = load_config_text(yaml_text, source)
    return compile_center(config), password_checker({a.id: a.password_hash for a in config.agents})


__all__ = [
    "AgentConfig",
    "ClusterConfig",
    "QueueConfig",
    "SiteConfig",
    "SkillConfig",
    "TenantConfig",
    "compile_center",
    "etcd_initial_cluster",
    "load_config",
    "load_config_text",
    "site_view",
]
