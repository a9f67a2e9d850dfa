"""Tenants and billing: each tenant's seats, service-level formula and rates, and its statement for
a period (dedicated seat-hours, shared handled minutes and interactions). A tenant's user sees its
own tenant only."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import polars as pl
import streamlit as st

from vcc.dashboards import data, history, plans, ui
from vcc.errors import VccError

ctx, view = ui.page_view()
st.title("Tenants and billing")

st.subheader("Tenants")
st.dataframe(plans.tenants_table(ctx.config, view), hide_index=True, width="stretch")

st.subheader("Statement")
today = datetime.fromtimestamp(time.time(), UTC).date()
c1, c2 = st.columns(2)
tenant = c1.selectbox("Tenant", sorted(view.tenants), key="billing_tenant")
picked = c2.date_input("Period (UTC days)", (today.replace(day=1), today), key="billing_period")
days = picked if isinstance(picked, tuple) else (picked, picked)
if tenant is None or len(days) < 2:
    st.info("Pick a tenant and the last day of the period.")
    st.stop()
start_ts, end_ts = history.period(days[0], days[1])
try:
    statement = data.statement(ctx.run_dir, ctx.config, view, tenant, start_ts, end_ts)
except (OSError, pl.exceptions.PolarsError, VccError) as e:
    st.info(f"No statement yet: {str(e).splitlines()[0]}")
    st.stop()
st.metric(f"Total for {statement.tenant_name}", f"{statement.total} {statement.currency}")
st.dataframe(plans.statement_table(statement), hide_index=True, width="stretch")
st.caption(f"{ui.utc(statement.start_ts)} to {ui.utc(statement.end_ts)} (end excluded)")
