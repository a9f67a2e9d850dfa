"""The hard-state layer of the multi-site runtime: etcd sessions, agent ownership, elections,
durable contacts, config versions and site load. See docs/coord.md for the key schema.

Each site's processes talk only to their own site's etcd member (one :class:`EtcdClient`).
"""

from vcc.coord.client import EtcdClient, KeyValue
from vcc.coord.config_store import ConfigStore, ConfigVersion
from vcc.coord.election import Elections, SiteEvent, live_sites, watch_sessions
from vcc.coord.fencing import LeaseClock, LeaseTiming, must_fence
from vcc.coord.keys import CoordKeys
from vcc.coord.load import LoadBoard, LoadCache, LoadPublisher, QueueLoad, SiteLoad
from vcc.coord.ownership import AgentOwnership, Claim
from vcc.coord.session import SessionToken, SiteSession
from vcc.coord.store import AdoptionReport, ContactStore, DurableContact, StoredContact

__all__ = [
    "AdoptionReport",
    "AgentOwnership",
    "Claim",
    "ConfigStore",
    "ConfigVersion",
    "ContactStore",
    "CoordKeys",
    "DurableContact",
    "Elections",
    "EtcdClient",
    "KeyValue",
    "LeaseClock",
    "LeaseTiming",
    "LoadBoard",
    "LoadCache",
    "LoadPublisher",
    "QueueLoad",
    "SessionToken",
    "SiteEvent",
    "SiteLoad",
    "SiteSession",
    "StoredContact",
    "live_sites",
    "must_fence",
    "watch_sessions",
]
