"""vcc dashboards: the entry script of the Streamlit app (`vcc dashboard`, or
`streamlit run dashboards/app.py` with VCC_DASHBOARD_CONFIG set). Logging in comes first; then the
menu of the user's pages, each a thin file in pages/ that draws the sidebar filters (ui.page_view)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from vcc.dashboards import ui

HERE = Path(__file__).parent

st.set_page_config(layout="wide")  # each page titles the browser tab

scope = ui.logged_in()
if scope is None:
    page = st.navigation([st.Page(ui.login_page, title="Log in", url_path="login", default=True)])
else:
    pages = [
        st.Page(HERE / "pages/wallboard.py", title="Live wallboard", url_path="wallboard", default=True),
        st.Page(HERE / "pages/history.py", title="History", url_path="history"),
        st.Page(HERE / "pages/staffing.py", title="Staffing", url_path="staffing"),
        st.Page(HERE / "pages/tenants.py", title="Tenants and billing", url_path="tenants"),
    ]
    if scope.is_manager:  # site health is the operator's business, not a tenant's
        pages.append(st.Page(HERE / "pages/sites.py", title="Sites", url_path="sites"))
    page = st.navigation(pages)
page.run()
