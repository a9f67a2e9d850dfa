"""Sites: one failure domain each, with its own Ray cluster and one etcd member.

Every port can be given, or left out and derived from the site's ``port_base`` (see
:data:`PORT_OFFSETS`). Several sites may share one machine (a lab, a laptop), so no port, and no
part of a Ray worker-port range, may be used twice across all sites.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from vcc.config.base import ConfigModel, Port

SITE_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,15}$"

#: Offset of each port from ``port_base`` when the port is not given. The names are the dotted
#: paths under a site's ``ports`` block.
PORT_OFFSETS: dict[str, int] = {
    "grpc": 0,
    "http": 1,
    "sip": 2,
    "etcd_client": 3,
    "etcd_peer": 4,
    "ray.gcs_port": 10,
    "ray.ray_client_server_port": 11,
    "ray.node_manager_port": 12,
    "ray.object_manager_port": 13,
    "ray.dashboard_port": 14,
    "ray.dashboard_agent_listen_port": 15,
    "ray.dashboard_agent_grpc_port": 16,
    "ray.runtime_env_agent_port": 17,
    "ray.metrics_export_port": 18,
    "ray.min_worker_port": 100,
    "ray.max_worker_port": 499,
}
#: The highest offset: ``port_base`` must leave room for it below 65536.
PORT_SPAN = max(PORT_OFFSETS.values()) + 1

#: ``ray start`` flag for each Ray port.
RAY_FLAGS: dict[str, str] = {
    "ray.gcs_port": "--port",
    "ray.ray_client_server_port": "--ray-client-server-port",
    "ray.node_manager_port": "--node-manager-port",
    "ray.object_manager_port": "--object-manager-port",
    "ray.dashboard_port": "--dashboard-port",
    "ray.dashboard_agent_listen_port": "--dashboard-agent-listen-port",
    "ray.dashboard_agent_grpc_port": "--dashboard-agent-grpc-port",
    "ray.runtime_env_agent_port": "--runtime-env-agent-port",
    "ray.metrics_export_port": "--metrics-export-port",
    "ray.min_worker_port": "--min-worker-port",
    "ray.max_worker_port": "--max-worker-port",
}


def _derived(offset: int) -> str:
    return f" Default: `port_base + {offset}`."


class RayPorts(ConfigModel):
    """The ports of a site's Ray head; each defaults to ``port_base`` plus a fixed offset."""

    gcs_port: Port | None = Field(None, description="GCS port (`ray start --port`)." + _derived(10))
    ray_client_server_port: Port | None = Field(None, description="Ray Client server port." + _derived(11))
    node_manager_port: Port | None = Field(None, description="Raylet node manager port." + _derived(12))
    object_manager_port: Port | None = Field(None, description="Object manager port." + _derived(13))
    dashboard_port: Port | None = Field(None, description="Ray dashboard (HTTP) port." + _derived(14))
    dashboard_agent_listen_port: Port | None = Field(
        None, description="Dashboard agent HTTP listen port." + _derived(15)
    )
    dashboard_agent_grpc_port: Port | None = Field(
        None, description="Dashboard agent gRPC port." + _derived(16)
    )
    runtime_env_agent_port: Port | None = Field(None, description="Runtime env agent port." + _derived(17))
    metrics_export_port: Port | None = Field(
        None, description="Prometheus metrics export port." + _derived(18)
    )
    min_worker_port: Port | None = Field(
        None, description="Lowest port of the worker-port range." + _derived(100)
    )
    max_worker_port: Port | None = Field(
        None, description="Highest port of the worker-port range (inclusive)." + _derived(499)
    )


class SitePorts(ConfigModel):
    """Every port a site listens on; each defaults to ``port_base`` plus a fixed offset."""

    grpc: Port | None = Field(None, description="Site controller gRPC (site to site)." + _derived(0))
    http: Port | None = Field(
        None, description="Web front door: agent desktop, caller web pages." + _derived(1)
    )
    sip: Port | None = Field(
        None, description="SIP from carriers and PBXs, UDP and TCP (when `sip.trunks` is set)." + _derived(2)
    )
    etcd_client: Port | None = Field(
        None, description="This site's etcd member, client URL port." + _derived(3)
    )
    etcd_peer: Port | None = Field(None, description="This site's etcd member, peer URL port." + _derived(4))
    ray: RayPorts = Field(default_factory=RayPorts, description="Ports of the site's Ray head.")


class SiteConfig(ConfigModel):
    """A site: a failure domain with its own Ray cluster, site controller and etcd member."""

    id: Annotated[str, StringConstraints(pattern=SITE_ID_PATTERN)] = Field(
        description="Unique site id, e.g. `A` (a letter, then letters, digits, '_' or '-'; at most 16)."
    )
    name: str = Field(min_length=1, description="Human name, e.g. `Paris`.")
    region: str = Field(min_length=1, description="Region or data center, e.g. `eu-west`.")
    host: str = Field(
        "127.0.0.1", min_length=1, description="Host name or address other sites and agents reach it at."
    )
    port_base: int | None = Field(
        None,
        ge=1024,
        le=65536 - PORT_SPAN,
        description=f"First port of the site's block of {PORT_SPAN}; ports not given are derived from it.",
    )
    ports: SitePorts = Field(default_factory=SitePorts, description="Explicit ports (override `port_base`).")
    acd_shards: int = Field(1, ge=1, le=64, description="ACD shard actors (agents are split among them).")
    ivr_workers: int = Field(1, ge=1, le=64, description="IVR worker actors.")
    media_gateways: int = Field(1, ge=1, le=64, description="Media gateway actors.")
    ray_num_cpus: int = Field(2, ge=1, le=1024, description="CPUs the site's Ray head offers.")
    ray_temp_dir: str | None = Field(
        None,
        description="Ray temp dir for this site's head (distinct per site). Default: `/tmp/vcc/ray-<id>`.",
    )

    def port(self, name: str) -> int | None:
        """The port named by a dotted path (``"grpc"``, ``"ray.gcs_port"``): given, derived, or None."""
        block: SitePorts | RayPorts = self.ports
        field = name
        if name.startswith("ray."):
            block, field = self.ports.ray, name.removeprefix("ray.")
        given: int | None = getattr(block, field)
        if given is not None:
            return given
        return None if self.port_base is None else self.port_base + PORT_OFFSETS[name]

    def resolved_ports(self) -> dict[str, int]:
        """Every port that is given or derivable, by dotted name."""
        ports = {name: self.port(name) for name in PORT_OFFSETS}
        return {name: port for name, port in ports.items() if port is not None}

    def _required_port(self, name: str) -> int:
        port = self.port(name)
        if port is None:
            raise ValueError(f"site {self.id}: port {name} is neither given nor derivable")
        return port

    @property
    def ray_address(self) -> str:
        """``host:port`` of the site's Ray head (GCS), for ``ray start --address`` and ``ray.init``."""
        return f"{self.host}:{self._required_port('ray.gcs_port')}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self._required_port('grpc')}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self._required_port('http')}"

    @property
    def etcd_client_url(self) -> str:
        return f"http://{self.host}:{self._required_port('etcd_client')}"

    @property
    def etcd_peer_url(self) -> str:
        return f"http://{self.host}:{self._required_port('etcd_peer')}"

    @property
    def etcd_member_name(self) -> str:
        return f"vcc-{self.id}"

    @property
    def temp_dir(self) -> str:
        return self.ray_temp_dir or f"/tmp/vcc/ray-{self.id}"

    def ray_start_args(self) -> list[str]:
        """Flags for ``ray start --head`` that keep this site's Ray head off every other site's ports."""
        args = [f"{flag}={self._required_port(name)}" for name, flag in RAY_FLAGS.items()]
        return [*args, f"--temp-dir={self.temp_dir}"]


def etcd_initial_cluster(sites: list[SiteConfig]) -> str:
    """The ``--initial-cluster`` value shared by every site's etcd member."""
    return ",".join(f"{s.etcd_member_name}={s.etcd_peer_url}" for s in sites)
