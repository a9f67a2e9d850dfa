"""Sans-IO measures of a drill from every site's events (the record), given when it began (``t0``).

- detected: first ``site_down_detected`` (or ``peer_revoked``) naming the site, after ``t0``;
- adopted: the ``adopted`` site event for the site (its ``adopted_ts``);
- served elsewhere: first contact of the site's tenants ``connected`` at another site, among
  contacts that arrived after ``t0``;
- live calls dropped: contacts ended ``failed`` with reason ``site_lost:<site>``;
- agents re-homed: the site's home agents seen ``ready`` at another site after ``t0``, and when the
  last of them was;
- durable contacts (chat, e-mail, SMS) arrived in the drill's span: lost (no end, after the settle
  time) and duplicated (completed more than once, over every event); a voice contact completed twice
  is listed apart (``other_completed_twice``: two sites took the same call id);
- double booking: an agent holding more contacts of a channel than its capacity at any moment,
  over every site's events (a contact is held from ``offered`` to its end, a return to queue, or
  an offer to another agent; at one instant, releases count before offers);
- service level during the drill: contacts queued in ``[t0, t_end]`` answered within their queue's
  threshold over answered plus abandoned.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

DURABLE = ("chat", "email", "sms")
FINAL = ("completed", "abandoned", "failed")
RELEASE = (*FINAL, "queued", "ivr", "callback_requested")


def _instants(events: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Contact events in time order, one list per instant (one shard step), each in log order."""
    ordered = sorted((e for e in events if e.get("kind") == "contact"), key=lambda e: (e["ts"], e.get("seq", 0)))
    for _, group in itertools.groupby(ordered, key=lambda e: e["ts"]):
        yield list(group)


def _contacts(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for step in _instants(events) for e in step]


def double_bookings(events: Iterable[dict[str, Any]], capacity: Callable[[str, str], int]) -> list[str]:
    """Agents that held more contacts of a channel than ``capacity(agent, channel)`` at some moment.
    Within one instant (one shard step) a contact held before it that the step releases counts as
    released first: the step freed the slot before it offered it again (its agent events say so),
    even where the contact's own end is logged after the new offer. The rest of the step goes in
    log order (a contact offered and abandoned in the same step is held, then released)."""
    holder: dict[str, tuple[str, str]] = {}  # contact -> (agent, channel)
    held: Counter[tuple[str, str]] = Counter()
    found = []

    def release(cid: str) -> None:
        held[holder.pop(cid)] -= 1

    for step in _instants(events):
        for e in step:
            if e["state"] in RELEASE and e["contact_id"] in holder:
                release(e["contact_id"])
        for e in step:
            cid, state, agent = e["contact_id"], e["state"], e.get("agent_id")
            prev = holder.get(cid)
            if prev is not None and (state in RELEASE or (state == "offered" and agent != prev[0])):
                release(cid)
            if state == "offered" and agent and cid not in holder:
                key = (agent, e.get("channel", "voice"))
                holder[cid] = key
                held[key] += 1
                if held[key] > capacity(*key):
                    found.append(f"{agent} held {held[key]} {key[1]} contacts at {e['ts']:.3f} ({e.get('site')})")
    return found


def measure(events: list[dict[str, Any]], site: str, t0: float, t_end: float, *, tenants: set[str],
            home_agents: set[str], thresholds: dict[str, float], durable_since: float,
            durable_until: float) -> dict[str, Any]:
    """The drill's figures; times are seconds after ``t0`` (None: not seen)."""
    def after(ts: float | None) -> float | None:
        return None if ts is None else round(ts - t0, 3)

    detected = adopted = None
    adopted_contacts = 0
    for e in events:
        if e.get("kind") != "site" or e["ts"] < t0 - 0.5:
            continue
        data = e.get("data") or {}
        if data.get("dead_site") == site or data.get("site") == site or data.get("peer") == site:
            if e["event"] in ("site_down_detected", "peer_revoked") and detected is None:
                detected = e["ts"]
            if e["event"] == "adopted" and adopted is None:
                adopted = float(data.get("adopted_ts", e["ts"]))
                adopted_contacts = int(data.get("contacts", 0))
    contacts = _contacts(events)
    arrived: dict[str, float] = {}
    channel: dict[str, str] = {}
    completions: Counter[str] = Counter()
    ended: set[str] = set()
    queued: dict[str, tuple[float, str]] = {}
    answered_within = answered = abandoned = 0
    served_elsewhere: float | None = None
    dropped = 0
    offered_at: dict[str, float] = {}
    for e in contacts:
        cid, state, ts = e["contact_id"], e["state"], e["ts"]
        channel.setdefault(cid, e.get("channel", ""))
        if state == "arrived":
            arrived.setdefault(cid, ts)
        if state == "queued" and cid not in queued:
            queued[cid] = (ts, e.get("queue") or "")
        if state == "offered":
            offered_at.setdefault(cid, ts)
        if state in FINAL:
            ended.add(cid)
            completions[cid] += state == "completed"
            if state == "failed" and e.get("reason") == f"site_lost:{site}":
                dropped += 1
        if (state == "connected" and e.get("site") != site and e.get("tenant") in tenants
                and arrived.get(cid, 0) >= t0 and served_elsewhere is None):
            served_elsewhere = ts
    for cid, (ts, queue) in queued.items():
        if not t0 <= ts <= t_end:
            continue
        final = next((e["state"] for e in reversed(contacts) if e["contact_id"] == cid and e["state"] in FINAL), None)
        if cid in offered_at and final != "abandoned":
            answered += 1
            answered_within += offered_at[cid] - ts <= thresholds.get(queue, 20.0)
        elif final == "abandoned":
            abandoned += 1
    rehomed: dict[str, float] = {}
    for e in events:
        if (e.get("kind") == "agent" and e.get("state") == "ready" and e["ts"] >= t0 and e.get("site") != site
                and e.get("agent_id") in home_agents):
            rehomed.setdefault(e["agent_id"], e["ts"])
    durable = [c for c, ts in arrived.items() if channel.get(c) in DURABLE and durable_since <= ts <= durable_until]
    return {
        "detected_s": after(detected), "adopted_s": after(adopted), "adopted_contacts": adopted_contacts,
        "tenants_served_elsewhere_s": after(served_elsewhere), "live_calls_dropped": dropped,
        "agents_rehomed": len(rehomed), "agents_home": len(home_agents),
        "agents_rehomed_s": after(max(rehomed.values())) if rehomed else None,
        "service_level_during": round(answered_within / (answered + abandoned), 4) if answered + abandoned else None,
        "contacts_queued_during": answered + abandoned,
        "durable_in_span": len(durable),
        "durable_lost": sorted(c for c in durable if c not in ended),
        "durable_duplicated": sorted(c for c in completions if completions[c] > 1 and channel.get(c) in DURABLE),
        "other_completed_twice": sorted(c for c in completions if completions[c] > 1 and channel.get(c) not in DURABLE),
    }
