"""Live wallboard: waiting, longest wait, service level today, agents by state, per tenant, queue
and site. Load comes from the sites' published load in etcd, refreshed every `dashboards.refresh_s`
(at most 2 s); service level today (the analytics plane's KPIs on today's events), longest wait and
agents' states from the tailed event logs."""

from __future__ import annotations

import time

import streamlit as st

from vcc.dashboards import ui, wallboard
from vcc.dashboards.live import fetch_live

ctx, view = ui.page_view()
st.title("Live wallboard")


@st.fragment(run_every=ctx.config.dashboards.refresh_s)
def board() -> None:
    now = time.time()
    snapshot = fetch_live(ctx.config)
    if snapshot.error:
        st.warning(snapshot.error)
    waiting, agent_states, _ = ui.floor(ctx, now)
    today = ui.today_events(ctx, now).lazy()
    board = wallboard.build(ctx.config, today, view, snapshot, waiting, agent_states, now)
    cols = st.columns(4)
    cols[0].metric("Waiting", board.totals["waiting"])
    cols[1].metric("Longest wait", board.totals["longest_wait"])
    cols[2].metric("Service level today", board.totals["service_level"])
    cols[3].metric("Agents logged in", board.totals["agents"])
    if board.note:
        st.info(board.note)
    st.subheader("Queues")
    st.dataframe(board.queues, hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.subheader("By tenant")
    left.dataframe(board.by_tenant, hide_index=True, width="stretch")
    right.subheader("By site")
    right.dataframe(board.by_site, hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.subheader("Agents by state, per tenant")
    left.dataframe(board.agents_by_tenant, hide_index=True, width="stretch")
    right.subheader("Agents by state, per site")
    right.dataframe(board.agents_by_site, hide_index=True, width="stretch")
    st.caption(f"as of {ui.utc(now)}; refreshed every {ctx.config.dashboards.refresh_s:g} s")


board()
