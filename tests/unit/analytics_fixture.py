"""A hand-built day of events whose KPIs were computed by hand (docs/analytics.md definitions).

B is aligned on 15 min, 1 h and 1 day. Tenant t1 (SL: answered within T over answered + abandoned,
short abandon 5 s), queue q1 (voice, T = 20 s); tenant t2 (SL: answered within T over answered +
abandoned after T), queue q2 (chat, T = 10 s). Agent a1 dedicated to t1; a2 and s1 shared (t1, t2).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from vcc.analytics.catalog import AgentInfo, Catalog, QueueInfo, TenantInfo, TenantRates
from vcc.analytics.warehouse import events_frame
from vcc.core.model import ServiceLevelFormula

B = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, a multiple of 86400? no: of 900 and 3600
assert B % 3600 == 0


def catalog() -> Catalog:
    return Catalog(
        tenants={
            "t1": TenantInfo("t1", "Tenant One", ServiceLevelFormula.ANSWERED_OVER_OFFERED, 5.0,
                             TenantRates("EUR", Decimal("20"), Decimal("1.0"), Decimal("0"))),
            "t2": TenantInfo("t2", "Tenant Two", ServiceLevelFormula.ABANDONED_AFTER_T, 5.0,
                             TenantRates("EUR", Decimal("0"), Decimal("0.5"), Decimal("0.10"))),
        },
        queues={"q1": QueueInfo("q1", "t1", "voice", 20.0, 80.0), "q2": QueueInfo("q2", "t2", "chat", 10.0, 90.0)},
        agents={"a1": AgentInfo("a1", "dedicated", ("t1",)), "a2": AgentInfo("a2", "shared", ("t1", "t2")),
                "s1": AgentInfo("s1", "shared", ("t1", "t2"))},
    )  # fmt: skip


def _contact(cid: str, tenant: str, channel: str, steps: list[tuple[float, str, str | None, str | None]],
             disposition: str | None = None, site: str = "A") -> list[dict[str, Any]]:
    out, prev = [], None
    for t, state, queue, agent in steps:
        data = {"disposition": disposition} if disposition and state == "completed" else {}
        out.append({"kind": "contact", "ts": B + t, "contact_id": cid, "tenant": tenant, "channel": channel,
                    "state": state, "prev_state": prev, "queue": queue, "agent_id": agent, "reason": None,
                    "data": data, "schema_version": 1, "site": site})
        prev = state
    return out


def _agent(aid: str, steps: list[tuple[float, str]], site: str = "A") -> list[dict[str, Any]]:
    out, prev = [], None
    for t, state in steps:
        out.append({"kind": "agent", "ts": B + t, "agent_id": aid, "state": state, "prev_state": prev,
                    "reason_code": None, "contact_id": None, "channel": None, "load": {}, "schema_version": 1,
                    "site": site})
        prev = state
    return out


def events() -> list[dict[str, Any]]:
    ev: list[dict[str, Any]] = []
    ev += _contact("c1", "t1", "voice", [(0, "arrived", "q1", None), (0, "queued", "q1", None),
                                         (5, "offered", "q1", "a1"), (10, "connected", "q1", "a1"),
                                         (70, "wrap_up", "q1", "a1"), (80, "completed", "q1", "a1")], "resolved")
    ev += _contact("c2", "t1", "voice", [(100, "queued", "q1", None), (103, "abandoned", "q1", None)])
    ev += _contact("c3", "t1", "voice", [(200, "queued", "q1", None), (230, "abandoned", "q1", None)])
    # queued in the first 15 min, answered and transferred in the second one
    ev += _contact("c4", "t1", "voice", [(890, "queued", "q1", None), (915, "offered", "q1", "a2"),
                                         (920, "connected", "q1", "a2"), (980, "transferred", "q1", "a2"),
                                         (980, "queued", "q1", "a1"), (985, "offered", "q1", "a1"),
                                         (990, "connected", "q1", "a1"), (1050, "completed", "q1", "a1")],
                   "not_resolved", site="B")
    ev += _contact("c5", "t1", "voice", [(300, "queued", "q1", None), (312, "abandoned", "q1", None)])
    ev += _contact("c6", "t1", "voice", [(400, "arrived", "q1", None), (400, "queued", "q1", None),
                                         (420, "callback_requested", "q1", None), (420, "queued", "q1", None),
                                         (500, "offered", "q1", "a2"), (505, "connected", "q1", "a2"),
                                         (565, "completed", "q1", "a2")])
    ev += _contact("c7", "t1", "voice", [(50, "arrived", None, None), (50, "ivr", None, None),
                                         (60, "completed", None, None)])
    ev += _contact("d1", "t2", "chat", [(0, "queued", "q2", None), (2, "offered", "q2", "s1"),
                                        (5, "connected", "q2", "s1"), (65, "completed", "q2", "s1")])
    ev += _contact("d2", "t2", "chat", [(10, "queued", "q2", None), (40, "abandoned", "q2", None)])
    ev += _agent("a1", [(0, "not_ready"), (2, "ready"), (5, "reserved"), (10, "busy"), (70, "wrap_up"),
                        (80, "ready"), (985, "reserved"), (990, "busy"), (1050, "ready"), (1800, "logged_out")])
    ev.sort(key=lambda e: e["ts"])
    for i, e in enumerate(ev, 1):
        e["seq"] = i
    return ev


def lazy_events() -> pl.LazyFrame:
    return events_frame(events()).lazy()
