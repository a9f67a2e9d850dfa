"""KPIs against the hand-computed fixture (tests/unit/analytics_fixture.py): contacts spanning
intervals, short abandons, transfers, callbacks, each tenant's service-level formula."""

from __future__ import annotations

import polars as pl
import pytest

from tests.unit.analytics_fixture import B, catalog, events, lazy_events
from vcc.analytics import cdr, kpis
from vcc.analytics.warehouse import events_frame
from vcc.errors import VccError


def _row(frame, **keys):
    rows = [r for r in frame.iter_rows(named=True) if all(r[k] == v for k, v in keys.items())]
    assert len(rows) == 1, rows
    return rows[0]


def test_cdr_one_row_per_contact_with_hand_computed_times():
    c = cdr.contacts(lazy_events(), catalog()).collect()
    assert c.height == 9
    c4 = _row(c, contact_id="c4")  # answered by a2 at site B, transferred to a1
    assert (c4["wait_s"], c4["talk_s"], c4["handle_s"], c4["transfers"]) == (30.0, 120.0, 120.0, 1)
    assert (c4["agent_id"], c4["site"], c4["outcome"], c4["disposition"]) == ("a2", "B", "completed", "not_resolved")
    c1 = _row(c, contact_id="c1")
    assert (c1["wait_s"], c1["talk_s"], c1["wrap_s"], c1["handle_s"]) == (10.0, 60.0, 10.0, 70.0)
    assert _row(c, contact_id="c6")["callback_requested"] is True
    assert _row(c, contact_id="c6")["wait_s"] == 105.0  # from the first queue entry, across the callback
    assert _row(c, contact_id="c7")["outcome"] == "self_service"
    assert _row(c, contact_id="c2")["short_abandoned"] == 1


def test_contact_kpis_by_tenant_queue_in_15_min_intervals():
    frame = kpis.contact_kpis(cdr.contacts(lazy_events(), catalog()), by=["tenant", "queue"], interval="15m")
    q1 = _row(frame, queue="q1")
    # c4 entered the queue at B+890 and was answered after B+900: it counts in the first interval
    assert q1["interval_start"].timestamp() == B
    assert (q1["offered"], q1["answered"], q1["abandoned"], q1["short_abandoned"]) == (5, 3, 2, 1)
    assert (q1["answered_within_t"], q1["abandoned_within_t"], q1["abandoned_after_t"]) == (1, 1, 1)
    assert q1["service_level"] == pytest.approx(1 / 5)  # t1: answered within T / (answered + abandoned)
    assert q1["sl_answered_over_answered"] == pytest.approx(1 / 3)
    assert q1["sl_abandoned_after_t"] == pytest.approx(1 / 4)
    assert q1["sl_abandoned_positive"] == pytest.approx(2 / 5)
    assert q1["asa_s"] == pytest.approx((10 + 30 + 105) / 3)
    assert q1["aht_s"] == pytest.approx((70 + 120 + 60) / 3)
    assert (q1["transfers"], q1["callbacks"], q1["fcr"]) == (1, 1, 0.5)
    assert q1["abandon_rate"] == pytest.approx(2 / 5)
    q2 = _row(frame, queue="q2")
    assert q2["service_level"] == pytest.approx(1 / 2)  # t2: answered within T / (answered + abandoned after T)
    assert (q2["offered"], q2["answered"], q2["abandoned_after_t"]) == (2, 1, 1)
    assert frame.filter(frame["queue"].is_null())["contacts"].to_list() == [1]  # the self-service contact


def test_service_level_across_tenants_counts_each_contact_by_its_tenant_formula():
    whole = kpis.contact_kpis(cdr.contacts(lazy_events(), catalog()), by=[], interval=None)
    assert whole.height == 1
    r = whole.row(0, named=True)
    assert (r["sl_num"], r["sl_den"]) == (2, 7)
    assert r["service_level"] == pytest.approx(2 / 7)
    assert r["offered"] == 7


def test_by_site_channel_agent_and_day():
    c = cdr.contacts(lazy_events(), catalog())
    by_site = kpis.contact_kpis(c, by=["site"], interval="1d")
    assert _row(by_site, site="B")["answered"] == 1
    assert _row(by_site, site="A")["offered"] == 6
    by_channel = kpis.contact_kpis(c, by=["channel"], interval="1h")
    assert _row(by_channel, channel="chat")["offered"] == 2
    by_agent = kpis.contact_kpis(c, by=["agent_id"], interval=None)
    assert _row(by_agent, agent_id="a2")["answered"] == 2


def test_period_filter_uses_queue_entry_time():
    c = cdr.contacts(lazy_events(), catalog())
    late = kpis.contact_kpis(c, by=["queue"], interval=None, start_ts=B + 300, end_ts=B + 900)
    assert _row(late, queue="q1")["offered"] == 3  # c4 (890), c5 (300) and c6 (400); c1, c3 earlier


def test_agent_time_split_at_interval_boundaries():
    spans = cdr.agent_spans(lazy_events(), until_ts=B + 1800)
    frame = kpis.agent_kpis(spans, cdr.segments(lazy_events()), catalog(), by=["agent_id"], interval="15m")
    first = _row(frame, agent_id="a1", interval_start=frame["interval_start"][0])
    assert (first["staffed_s"], first["available_s"], first["handling_s"], first["not_ready_s"]) == (900, 828, 70, 2)
    assert first["occupancy"] == pytest.approx(70 / 898)
    assert first["utilization"] == pytest.approx(70 / 900)
    assert first["staffed_agents"] == pytest.approx(1.0)
    assert first["aht_s"] == 70
    a1 = frame.filter(frame["agent_id"] == "a1")
    assert a1.height == 2  # nothing after the logout
    second = a1.row(1, named=True)
    assert (second["available_s"], second["handling_s"]) == (840, 60)  # ready 80 -> 985 split at B+900
    a2 = frame.filter(frame["agent_id"] == "a2")
    assert a2["segments"].sum() == 2  # a transferred contact counts for both agents


def test_agent_kpis_by_tenant_for_dedicated_agents():
    spans = cdr.agent_spans(lazy_events(), until_ts=B + 1800)
    frame = kpis.agent_kpis(spans, cdr.segments(lazy_events()), catalog(), by=["tenant"], interval=None,
                            start_ts=B, end_ts=B + 3600)
    t1 = _row(frame, tenant="t1")
    assert t1["staffed_s"] == 1800
    assert t1["staffed_agents"] == pytest.approx(0.5)


def test_report_puts_staffed_agents_beside_contact_kpis():
    frame = kpis.report(lazy_events(), catalog(), by=["queue"], interval="15m", start_ts=B, end_ts=B + 1800)
    q1 = _row(frame, queue="q1")
    assert q1["staffed_agents"] == pytest.approx(1.0)  # a1 (dedicated to t1) logged in all the interval
    assert q1["offered"] == 5


def test_bad_grouping_and_interval_are_one_line_errors():
    c = cdr.contacts(lazy_events(), catalog())
    with pytest.raises(VccError, match="cannot group by region"):
        kpis.contact_kpis(c, by=["region"])
    with pytest.raises(VccError, match="interval '5m'"):
        kpis.contact_kpis(c, interval="5m")


def _note(cid: str, t: float, state: str, reason: str, agent: str, data: dict | None = None) -> dict:
    return {"kind": "contact", "ts": B + t, "contact_id": cid, "tenant": "t1", "channel": "voice", "state": state,
            "prev_state": state, "queue": "q1", "agent_id": agent, "reason": reason, "data": data or {},
            "schema_version": 1, "site": "A"}  # fmt: skip


def _with_notes(notes: list[dict]) -> pl.LazyFrame:
    ev = sorted(events() + notes, key=lambda e: e["ts"])
    for i, e in enumerate(ev, 1):
        e["seq"] = i
    return events_frame(ev).lazy()


def test_hold_resume_and_disposition_notes_are_not_transitions():
    """Notes are logged in the contact's current state (state == prev_state): c1 (connected 10..70,
    wrap-up 70..80) is held 20..35 and 50..60 and gets a chat line; d1 gets its disposition only from
    the agent's note (as an agent desk's Complete/EndWrapUp logs it)."""
    notes = [_note("c1", 20, "connected", "hold", "a1"), _note("c1", 35, "connected", "resume", "a1"),
             _note("c1", 50, "connected", "hold", "a1"), _note("c1", 60, "connected", "resume", "a1"),
             _note("c1", 40, "connected", "message", "a1", {"from": "agent", "text": "hi"}),
             _note("d1", 70, "connected", "disposition", "s1", {"disposition": "resolved", "by": "s1"})]  # fmt: skip
    c = cdr.contacts(_with_notes(notes), catalog()).collect()
    c1 = _row(c, contact_id="c1")
    assert (c1["hold_s"], c1["talk_s"], c1["wrap_s"], c1["handle_s"]) == (25.0, 35.0, 10.0, 70.0)
    assert (c1["answered_ts"], c1["agent_id"], c1["disposition"]) == (B + 10, "a1", "resolved")
    d1 = _row(c, contact_id="d1")  # the disposition note is the only one d1 has
    assert (d1["disposition"], d1["talk_s"], d1["fcr_num"], d1["fcr_den"]) == ("resolved", 60.0, 1, 1)
    segs = cdr.segments(_with_notes(notes)).filter(pl.col("contact_id") == "c1").collect()
    assert segs.height == 1 and segs["talk_s"].to_list() == [60.0]


def test_a_hold_without_resume_ends_when_the_talk_ends():
    """c4 is held by a2 at 950 for a consultation and transferred at 980 without a resume (30 s of
    hold); then held by a1 at 1040 and the caller hangs up at 1050 (10 s)."""
    notes = [_note("c4", 950, "connected", "hold", "a2"), _note("c4", 951, "connected", "consult_start", "a2"),
             _note("c4", 1040, "connected", "hold", "a1")]  # fmt: skip
    c4 = _row(cdr.contacts(_with_notes(notes), catalog()).collect(), contact_id="c4")
    assert (c4["hold_s"], c4["talk_s"], c4["handle_s"], c4["transfers"]) == (40.0, 80.0, 120.0, 1)


def _lost(cid: str, t: float, prev: str, by: str) -> dict:
    """The failure a dead site's adopter logs for a call its list still held (vcc.actors.site_live)."""
    return {"kind": "contact", "ts": B + t, "contact_id": cid, "tenant": "t1", "channel": "voice", "state": "failed",
            "prev_state": prev, "queue": "q1", "agent_id": None, "reason": "site_lost:A", "data": {"failed_by": by},
            "schema_version": 1, "site": by}  # fmt: skip


def test_an_adopters_site_lost_failure_gives_way_to_an_end_the_site_logged():
    """c1 completed at A (t=80) and A died before it unlisted the call: its adopter B logs it failed
    at 81; the CDR keeps A's end (completed, at A, at 80). c2 (abandoned at 103) likewise, even when
    the adopter's clock is behind (99). A call nothing else ended (l1) is failed at the adopter."""
    lost = [_lost("c1", 81, "completed", "B"), _lost("c2", 99, "queued", "C"),
            {**_note("l1", 500, "queued", "", "a1"), "prev_state": None, "agent_id": None, "reason": None},
            _lost("l1", 510, "queued", "B")]  # fmt: skip
    c = cdr.contacts(_with_notes(lost), catalog()).collect()
    c1 = _row(c, contact_id="c1")
    assert (c1["outcome"], c1["site"], c1["ended_ts"], c1["handle_s"]) == ("completed", "A", B + 80, 70.0)
    c2 = _row(c, contact_id="c2")
    assert (c2["outcome"], c2["ended_ts"]) == ("abandoned", B + 103)
    l1 = _row(c, contact_id="l1")
    assert (l1["outcome"], l1["site"], l1["ended_ts"], l1["wait_s"]) == ("failed", "B", B + 510, 10.0)
