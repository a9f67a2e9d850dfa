"""The cluster file an operator writes, from YAML to the core's frozen values.

``load_config(path)`` reads and validates a file (raising one :class:`vcc.errors.ConfigError` that
lists every problem), ``compile_center(config)`` turns it into a :class:`vcc.core.model.CenterSpec`.
"""

from vcc.config.compile import compile_center
from vcc.config.loader import load_config, load_config_text
from vcc.config.models import AgentConfig, ClusterConfig, SkillConfig
from vcc.config.sites import SiteConfig, etcd_initial_cluster
from vcc.config.tenants import QueueConfig, TenantConfig

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
]
