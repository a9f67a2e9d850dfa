"""Staffing: agents required per queue and interval (Erlang C, or Erlang A with abandonment) for
the queue's service-level target beside the agents actually staffed; tomorrow's forecast; a shift
plan suggestion."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import polars as pl
import streamlit as st

from vcc.analytics.kpis import interval_s
from vcc.dashboards import data, history, plans, ui
from vcc.errors import VccError

ctx, view = ui.page_view()
st.title("Staffing")

today = datetime.fromtimestamp(time.time(), UTC).date()
c1, c2, c3, c4 = st.columns(4)
day = c1.date_input("Day (UTC)", today, key="staffing_day")
interval = c2.selectbox("Interval", ("1h", "15m"), key="staffing_interval")
method = c3.selectbox("Method", ("erlang_c", "erlang_a"), key="staffing_method",
                      format_func=lambda m: {"erlang_c": "Erlang C", "erlang_a": "Erlang A (abandonment)"}[m])
shift_h = c4.number_input("Shift length (h)", min_value=1.0, max_value=12.0, value=8.0, step=0.5, key="shift_h")
seconds = interval_s(interval) or 3600
start_ts, end_ts = history.period(day, day)
try:
    required = data.staffing_required(ctx.run_dir, ctx.config, view, interval=interval, method=method,
                                      start_ts=start_ts, end_ts=end_ts)
    forecast = data.next_day_forecast(ctx.run_dir, ctx.config, view, interval=interval, day=day + timedelta(days=1))
except (OSError, pl.exceptions.PolarsError, VccError) as e:
    st.info(f"No staffing figures yet: {str(e).splitlines()[0]}")
    st.stop()

st.subheader("Agents required beside agents staffed")
if required.is_empty():
    st.info("No contacts on this day for your selection.")
else:
    queue = st.selectbox("Queue", sorted(required["queue"].drop_nulls().unique().to_list()), key="staffing_queue")
    one = required.filter(pl.col("queue") == queue).select("interval_start", "agents_required", "staffed_agents")
    st.bar_chart(one.to_pandas(), x="interval_start", stack=False)
    st.dataframe(required.sort("interval_start", "queue"), hide_index=True, width="stretch")

st.subheader("Shift plan suggestion")
need = plans.need_per_interval(required, start_ts, seconds)
shifts = plans.shifts_table(data.shift_plan(need, interval_s=seconds, shift_h=float(shift_h)), start_ts, seconds)
if shifts.is_empty():
    st.info("No agents required on this day.")
else:
    st.dataframe(shifts, hide_index=True, width="stretch")
    st.caption(f"{int(shifts['agents'].sum())} agent shifts of {shift_h:g} h cover every interval's requirement.")

st.subheader(f"Forecast for {day + timedelta(days=1)} (seasonal baseline)")
if forecast.is_empty():
    st.info("Not enough history to forecast.")
else:
    st.bar_chart(history.chart_frame(forecast, "queue", "offered").to_pandas(), x="interval_start")
    st.dataframe(forecast, hide_index=True, width="stretch")
