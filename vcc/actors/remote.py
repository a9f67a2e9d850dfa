"""The one place ``ray.remote`` is applied: a site's actors with their Ray options, and the
controller's actor, which builds the plain :class:`SiteController` around handles to the others and
serves the site's gRPC API from its event loop.

Every actor is named ``<site>/<kind>/<n>`` in the ``vcc`` namespace, detached (it outlives the
driver that made it), restarted by Ray when its process dies (``max_restarts=-1``), and takes no
CPU slot (``num_cpus=0``: a site's actors share the machine's cores; Ray must not queue them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import ray

from vcc.actors.controller import SiteController
from vcc.actors.event_sink import EventSink
from vcc.actors.ivr_worker import IvrWorker
from vcc.actors.media_gateway import MediaGateway
from vcc.actors.ports import ActorPort, RayPort
from vcc.actors.settings import SiteSettings
from vcc.actors.shard import AcdShard
from vcc.config import compile_center, load_config_text, site_view
from vcc.core.ivr import BookCallback
from vcc.errors import VccError

NAMESPACE = "vcc"
# enable_task_events off: the site's actors take hundreds of calls a second, and Ray keeps an event
# per call in its GCS for a task list vcc does not use (no Ray dashboard): a 35-minute soak grew each
# GCS from ~110 to ~360 MiB, and reporting them costs CPU on every call.
COMMON: dict[str, Any] = {"lifetime": "detached", "max_restarts": -1, "num_cpus": 0, "enable_task_events": False}


def actor_name(site: str, kind: str, index: int = 0) -> str:
    return f"{site}/{kind}/{index}"


ShardActor = ray.remote(AcdShard)
IvrWorkerActor = ray.remote(IvrWorker)


class SiteGateway(MediaGateway):
    """A site's media gateway; gateway 0 also runs the site's SIP listener, which it starts again
    itself when Ray restarts it after a crash (``deploy_site`` starts it the first time)."""

    def __init__(self, site: str, index: int, center: Any, media: Any, run_dir: str,
                 sip: tuple[Any, ...] | None = None) -> None:  # fmt: skip
        super().__init__(site, index, center, media, run_dir)
        context = ray.get_runtime_context()
        if sip is not None and context.was_current_actor_reconstructed:
            context.current_actor.start_sip.remote(*sip)


GatewayActor = ray.remote(SiteGateway)
EventSinkActor = ray.remote(EventSink)


@ray.remote
class WebActor:
    """Hosts the site's web front door (aiohttp in this actor's event loop); the media gateways ask
    it for callers' positions and expected waits (``wait_estimate``) and to book the callbacks
    callers accept (``book_callback``)."""

    def __init__(self, settings: SiteSettings, config_yaml: str) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.settings = settings
        self.config_yaml = config_yaml
        self.door: Any = None
        self._lock = asyncio.Lock()
        context = ray.get_runtime_context()
        if context.was_current_actor_reconstructed:  # Ray restarted us after a crash: serve again
            context.current_actor.start.remote()

    async def start(self) -> dict[str, Any]:
        from vcc.web.frontdoor import FrontDoor, door_settings

        async with self._lock:
            s = self.settings
            if self.door is None:
                config = load_config_text(self.config_yaml, f"config v{s.config_version}")
                center, check = site_view(self.config_yaml, f"config v{s.config_version}")
                names = [actor_name(s.site, "gateway", i) for i in range(s.gateways)]
                gateways: list[ActorPort] = [RayPort(n, ray.get_actor(n, namespace=NAMESPACE)) for n in names]
                door = FrontDoor(door_settings(config, s.site, f"{s.grpc_host}:{s.grpc_port}", s.run_dir), center,
                                 check, gateways, estimator=ray.get_runtime_context().current_actor)
                await door.start()
                self.door = door
            return {"site": s.site, "http": self.door.health()["http"]}

    async def health(self) -> dict[str, Any]:
        return {"pid": os.getpid(), **(self.door.health() if self.door is not None else {"started": False})}

    async def wait_estimate(self, contact_id: str, tenant: str, queue: str) -> tuple[float | None, int | None]:
        if self.door is None:
            return None, None
        result: tuple[float | None, int | None] = await self.door.wait_estimate(contact_id, tenant, queue)
        return result

    async def book_callback(self, contact_id: str, booking: BookCallback) -> str:
        if self.door is None:
            return "the web front door is not started"
        error: str = await self.door.book_callback(contact_id, booking)
        return error

    async def stop(self) -> None:
        if self.door is not None:
            await self.door.stop()
            self.door = None


@ray.remote
class ControllerActor:
    """Hosts the site controller and the site's gRPC servers (an asyncio actor)."""

    def __init__(self, settings: SiteSettings, config_yaml: str) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.settings = settings
        self.config_yaml = config_yaml
        self.controller: SiteController | None = None
        self.server: Any = None
        self._lock = asyncio.Lock()
        context = ray.get_runtime_context()
        if context.was_current_actor_reconstructed:  # Ray restarted us after a crash: start again
            context.current_actor.start.remote()

    async def start(self) -> dict[str, Any]:
        from vcc.intersite.server import Peers, serve

        async with self._lock:
            if self.controller is not None:
                return {"site": self.settings.site, "started": False}
            s = self.settings
            center, check = site_view(self.config_yaml, f"config v{s.config_version}")

            def port(kind: str, i: int = 0) -> RayPort:
                name = actor_name(s.site, kind, i)
                return RayPort(name, ray.get_actor(name, namespace=NAMESPACE))

            peers = Peers(s.site, {k: v for k, v in s.peers.items() if k != s.site})
            controller = SiteController(
                s, center, [port("shard", i) for i in range(s.shards)],
                [port("ivr", i) for i in range(s.ivr_workers)], [port("gateway", i) for i in range(s.gateways)],
                port("events"), verify_password=check, compile_config=site_view, peer_offer=peers.offer,
            )  # fmt: skip
            await controller.start()
            self.server, _ = await serve(controller, s.grpc_host, s.grpc_port,
                                         extra_actors=[("web_front_door", port("web"))])
            self.controller = controller
            return {"site": s.site, "started": True}

    async def health(self) -> dict[str, Any]:
        c = self.controller
        return {"started": c is not None, "fenced": c.fenced if c else None, "errors": c.errors if c else 0,
                "pid": os.getpid()}

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=0.5)
        if self.controller is not None:
            await self.controller.stop()


def deploy_site(settings: SiteSettings, config_yaml: str) -> dict[str, Any]:
    """Create the site's actors in the Ray cluster this driver is connected to and start the
    controller. Idempotent: actors that exist are reused."""
    config = load_config_text(config_yaml, f"config v{settings.config_version}")
    center = compile_center(config)
    s = settings

    def make(cls: Any, kind: str, i: int, *args: Any, **opts: Any) -> Any:
        return cls.options(name=actor_name(s.site, kind, i), namespace=NAMESPACE, get_if_exists=True,
                           **COMMON, **opts).remote(*args)

    handles = [make(ShardActor, "shard", i, s.site, i, s.shards, center) for i in range(s.shards)]
    handles += [make(IvrWorkerActor, "ivr", i, s.site, i, center) for i in range(s.ivr_workers)]
    sip = sip_listen_args(config, s)
    handles += [make(GatewayActor, "gateway", i, s.site, i, center, config.media, s.run_dir, sip if i == 0 else None)
                for i in range(s.gateways)]
    handles.append(make(EventSinkActor, "events", 0, s.site, f"{s.run_dir}/events"))
    ray.get([h.health.remote() for h in handles])
    web = make(WebActor, "web", 0, s, config_yaml, max_concurrency=10_000)
    controller = make(ControllerActor, "controller", 0, s, config_yaml, max_concurrency=10_000)
    result: dict[str, Any] = ray.get(controller.start.remote())
    result["web"] = ray.get(web.start.remote())["http"]
    if sip is not None:  # after the controller: each call is submitted to it
        try:
            ray.get(handles[s.shards + s.ivr_workers].start_sip.remote(*sip))
        except ray.exceptions.RayTaskError as e:  # the port is taken, ...: the operator reads one line
            cause = getattr(e, "cause", None)
            raise (cause if isinstance(cause, VccError) else e) from None
        result["sip"] = f"{sip[1]}:{sip[2]}"
    return result


def sip_listen_args(config: Any, s: SiteSettings) -> tuple[Any, ...] | None:
    """What gateway 0's ``start_sip`` takes for this site: its SIP listener (UDP and TCP on the site's
    ``sip`` port) submitting each call to the site's gRPC API (docs/sip.md); None when the cluster
    file has no SIP trunk (then no SIP port is opened)."""
    site = next((x for x in config.sites if x.id == s.site), None)
    port = site.port("sip") if site is not None else None
    if site is None or port is None or not config.sip.trunks:
        return None
    try:
        advertise_ip = socket.gethostbyname(site.host)
    except OSError as e:
        raise RuntimeError(f"site {s.site}: cannot resolve its host {site.host!r} for SIP: {e}") from None
    return (config.sip, site.host, port, advertise_ip, s.gateways, f"{s.grpc_host}:{s.grpc_port}")
