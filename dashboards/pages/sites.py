"""Sites: etcd members and leader, each site's session (lease) and load, and the failover timeline
from the sites' `site` events."""

from __future__ import annotations

import streamlit as st

from vcc.dashboards import ui
from vcc.dashboards.live import fetch_live
from vcc.dashboards.views import failover_timeline, sites_table

ctx, view = ui.page_view()
st.title("Sites")


@st.fragment(run_every=ctx.config.dashboards.refresh_s)
def members() -> None:
    snapshot = fetch_live(ctx.config)
    if snapshot.error:
        st.warning(snapshot.error)
    table = sites_table(snapshot, ctx.config, view)
    left, mid, right = st.columns(3)
    left.metric("etcd leader", snapshot.leader_site or "none")
    mid.metric("Sites serving", int((table["status"] == "serving").sum()), help="of the sites in view")
    right.metric("etcd members up", int((table["etcd_member"] == "up").sum()))
    st.subheader("Members and site sessions")
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(f"as of {ui.utc(snapshot.taken_at)}")


members()

st.subheader("Failover timeline")
_, _, site_events = ui.floor(ctx)
timeline = failover_timeline(site_events, view)
if timeline.is_empty():
    st.info("No site events yet.")
else:
    st.dataframe(timeline.select("time", "site", "event", "detail"), hide_index=True, width="stretch")
    st.scatter_chart(timeline.to_pandas(), x="time", y="event", color="site")
