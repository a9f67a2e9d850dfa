"""Sans-IO figures of a load run, computed from the sites' contact events (the record, never counters
kept on the side): offered, answered, abandoned, service level, ASA, AHT, overall and per site.

Definitions (the ones docs/load.md states):
- offered: contacts a site accepted; answered: reached ``connected``; abandoned: ended ``abandoned``;
- wait: first ``queued`` to first ``offered`` (the ACD reserved an agent: the queueing model's
  service start); ASA: mean of first ``queued`` to ``connected`` over answered contacts;
- SL: answered with wait <= T over (answered + abandoned) (``answered_over_offered``);
- AHT: ``connected`` to ``completed`` (talk plus wrap-up) over completed contacts;
- occupied: ``offered`` to the contact's end, the time an agent was held (the service time of the
  queueing model: bot accept and complete round trips included);
- per site: the site that logged the contact's last event.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vcc.core.events import SITE_LOST

FINAL = ("completed", "abandoned", "failed")


@dataclass
class Journey:
    contact_id: str
    tenant: str = ""
    channel: str = ""
    queue: str | None = None
    arrived_ts: float | None = None
    queued_ts: float | None = None
    offered_ts: float | None = None
    connected_ts: float | None = None
    end_ts: float | None = None
    final: str | None = None
    final_count: int = 0
    completions: int = 0
    site: str = ""
    reason: str | None = None

    @property
    def wait_s(self) -> float | None:
        if self.queued_ts is None or self.offered_ts is None:
            return None
        return max(0.0, self.offered_ts - self.queued_ts)

    @property
    def occupied_s(self) -> float | None:
        if self.offered_ts is None or self.end_ts is None or self.final != "completed":
            return None
        return self.end_ts - self.offered_ts


def fold(events: Iterable[dict[str, Any]], keep: Any = None) -> dict[str, Journey]:
    """Per contact, its journey over every site's events (``keep(contact_id)`` filters contacts)."""
    out: dict[str, Journey] = {}
    for e in sorted((e for e in events if e.get("kind") == "contact"), key=lambda e: e["ts"]):
        cid = e["contact_id"]
        if keep is not None and not keep(cid):
            continue
        j = out.get(cid)
        if j is None:
            j = out[cid] = Journey(cid, e.get("tenant", ""), e.get("channel", ""))
        state, ts = e["state"], e["ts"]
        j.queue = e.get("queue") or j.queue
        if state == "arrived" and j.arrived_ts is None:
            j.arrived_ts = ts
        elif state == "queued" and j.queued_ts is None:
            j.queued_ts = ts
        elif state == "offered" and j.offered_ts is None:
            j.offered_ts = ts
        elif state == "connected" and j.connected_ts is None:
            j.connected_ts = ts
        elif state in FINAL:
            presumed = str(e.get("reason") or "").startswith(SITE_LOST)
            if presumed and j.final is not None:  # an adopter's presumption after the site's own end
                continue
            if not (j.reason or "").startswith(SITE_LOST):  # a site's own end replaces a presumption
                j.final_count += 1
            j.completions += state == "completed"
            j.final, j.end_ts, j.reason = state, ts, e.get("reason")
        j.site = e.get("site", j.site)
    return out


@dataclass
class Figures:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    failed: int = 0
    completed: int = 0
    open: int = 0
    service_level: float | None = None
    asa_s: float | None = None
    aht_s: float | None = None
    mean_wait_s: float | None = None
    p_wait: float | None = None
    occupied_s: float | None = None
    waits_s: list[float] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "waits_s"}
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def figures(journeys: Iterable[Journey], threshold_s: float | Callable[[Journey], float], *,
            waited_over_s: float = 0.05) -> Figures:
    """The run's figures over ``journeys``; ``p_wait`` counts a contact as having waited when its wait
    exceeded ``waited_over_s`` (routing itself takes a few milliseconds); the SL threshold is one
    number or, per contact, ``threshold_s(journey)`` (its queue's)."""
    threshold_of = threshold_s if callable(threshold_s) else (lambda j: float(threshold_s))
    f = Figures()
    asa: list[float] = []
    aht: list[float] = []
    occupied: list[float] = []
    within = 0
    for j in journeys:
        f.offered += 1
        if j.final is None:
            f.open += 1
        elif j.final == "abandoned":
            f.abandoned += 1
        elif j.final == "failed":
            f.failed += 1
        if j.connected_ts is not None:
            f.answered += 1
            if j.queued_ts is not None:
                asa.append(j.connected_ts - j.queued_ts)
        if j.final == "completed":
            f.completed += 1
            if j.connected_ts is not None and j.end_ts is not None:
                aht.append(j.end_ts - j.connected_ts)
        wait = j.wait_s
        if wait is not None:
            f.waits_s.append(wait)
            within += j.connected_ts is not None and wait <= threshold_of(j)
        if (o := j.occupied_s) is not None:
            occupied.append(o)
    if f.answered + f.abandoned:
        f.service_level = within / (f.answered + f.abandoned)
    f.asa_s = statistics.fmean(asa) if asa else None
    f.aht_s = statistics.fmean(aht) if aht else None
    f.occupied_s = statistics.fmean(occupied) if occupied else None
    if f.waits_s:
        f.mean_wait_s = statistics.fmean(f.waits_s)
        f.p_wait = sum(w > waited_over_s for w in f.waits_s) / len(f.waits_s)
    return f


def by_site(journeys: Iterable[Journey], threshold_s: float | Callable[[Journey], float]) -> dict[str, Figures]:
    groups: dict[str, list[Journey]] = {}
    for j in journeys:
        groups.setdefault(j.site or "?", []).append(j)
    return {site: figures(js, threshold_s) for site, js in sorted(groups.items())}
