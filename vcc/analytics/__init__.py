"""The analytics plane: the event warehouse (Parquet), KPIs in Polars, staffing, billing and CDRs.

Everything here is derived from the sites' events (``docs/architecture.md``, "Event schema"); no
counter is kept on the side. Formulas: ``docs/analytics.md`` (each KPI is defined there once).

Stable API (what the dashboards build on)::

    from vcc.analytics import warehouse, kpis, staffing, forecast, billing, cdr, facts
    from vcc.analytics.catalog import Catalog

    root = warehouse.default_root(run_dir)         # <run dir>/warehouse
    events = warehouse.scan_events(root)           # pl.LazyFrame, one row per event (columns: EVENT_SCHEMA)
    catalog = Catalog.from_config(load_config(p))  # tenants (SL formula, short abandon, rates), queues, agents

    contacts = cdr.contacts(events, catalog)       # pl.LazyFrame, one row per contact (CDR_COLUMNS)
    contacts = facts.scan_contacts(root, catalog)  # the same, from the contact facts of closed days
    segments = cdr.segments(events)                # one row per agent's handling of a contact
    spans = cdr.agent_spans(events, until_ts=None) # one row per agent state span

    kpis.contact_kpis(contacts, by=["tenant", "queue"], interval="15m")  # pl.DataFrame
    kpis.agent_kpis(spans, segments, by=["agent_id"], interval="1h")    # occupancy, utilization, staffed
    kpis.report(events, catalog, by=[...], interval="1h", start_ts=None, end_ts=None)  # both, joined

    staffing.required(report_frame, catalog, interval_s, method="erlang_c"|"erlang_a")  # vs staffed
    forecast.next_day(contacts, interval="1h", day=None)               # seasonal baseline per queue
    staffing.shift_plan(required_per_interval, shift_h=8, interval_s=3600)
    billing.statement(events, catalog, tenant, start_ts, end_ts)         # Statement (lines, total)

``by`` may hold any of ``tenant``, ``queue``, ``site``, ``agent_id``, ``channel``; ``interval`` is
``15m``, ``1h``, ``1d`` or ``None`` (whole period); interval starts are UTC epoch-aligned, in column
``interval_start`` (a UTC datetime).
"""
