"""History: KPIs per interval from the warehouse (offered, answered, abandoned, service level
against its target, ASA, AHT, ...), for the scope and filters of the logged-in user."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import polars as pl
import streamlit as st

from vcc.dashboards import data, history, ui

ctx, view = ui.page_view()
st.title("History")

today = datetime.fromtimestamp(time.time(), UTC).date()
c1, c2, c3 = st.columns(3)
picked = c1.date_input("Period (UTC days)", (today - timedelta(days=6), today), key="history_period")
interval = c2.selectbox("Interval", history.INTERVALS, index=1, key="history_interval")
group = c3.selectbox("By", history.GROUPINGS, key="history_group")
days = picked if isinstance(picked, tuple) else (picked, picked)
if len(days) < 2:
    st.info("Pick the last day of the period.")
    st.stop()
start_ts, end_ts = history.period(days[0], days[1])
try:
    frame = data.report(ctx.run_dir, ctx.config, view, by=[group], interval=interval, start_ts=start_ts, end_ts=end_ts)
except (OSError, pl.exceptions.PolarsError) as e:
    st.info(f"No history yet: {str(e).splitlines()[0]}")
    st.stop()
frame = history.with_targets(frame, ctx.config, group)
if frame.is_empty() or int(frame["contacts"].sum()) == 0:
    st.info("No contacts in this period for your selection.")
    st.stop()

totals = frame.select(pl.col("offered", "answered", "abandoned").sum())
cols = st.columns(3)
for col, name in zip(cols, ("offered", "answered", "abandoned"), strict=True):
    col.metric(name.capitalize(), int(totals[name][0]))

st.subheader("Contacts offered per interval")
st.bar_chart(history.chart_frame(frame, group, "offered").to_pandas(), x="interval_start")
st.subheader("Service level (%) against target")
sl = history.chart_frame(frame, group, "service_level_pct")
if group == "queue":
    targets = history.chart_frame(frame, group, "sl_target_pct")
    sl = sl.join(targets.rename({c: f"{c} target" for c in targets.columns if c != "interval_start"}),
                 on="interval_start", how="left")
else:
    st.caption("Targets belong to queues: group by queue to see each queue's target line.")
st.line_chart(sl.to_pandas(), x="interval_start")
left, right = st.columns(2)
left.subheader("ASA (s)")
left.line_chart(history.chart_frame(frame, group, "asa_s").to_pandas(), x="interval_start")
right.subheader("AHT (s)")
right.line_chart(history.chart_frame(frame, group, "aht_s").to_pandas(), x="interval_start")
st.subheader("KPIs per interval")
st.dataframe(history.table(frame, group), hide_index=True, width="stretch")
