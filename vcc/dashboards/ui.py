"""Streamlit plumbing shared by the pages: which cluster and run dir to show, logging in and out,
the sidebar filters, and the event-log tail every session shares. Pages stay thin: they take the
context and the narrowed scope from here and ask :mod:`vcc.dashboards.data` for frames.

``vcc dashboard`` passes the cluster file and run dir in the environment variables
:data:`ENV_CONFIG` and :data:`ENV_RUN_DIR` (``streamlit run`` has no arguments of its own for them).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import streamlit as st

from vcc.config.loader import load_config
from vcc.config.models import ClusterConfig
from vcc.dashboards import ENV_CONFIG, ENV_RUN_DIR
from vcc.dashboards.floor import EventTail
from vcc.dashboards.scope import LoginRefused, Scope, log_in
from vcc.errors import ConfigError

SCOPE_KEY = "vcc_scope"  # the logged-in user's whole scope
VIEW_KEY = "vcc_view"  # that scope narrowed by the sidebar filters


@dataclass(frozen=True, slots=True)
class Context:
    config: ClusterConfig
    config_path: Path
    run_dir: Path


@st.cache_resource(show_spinner=False)
def _load(path: str, mtime: float) -> ClusterConfig:
    return load_config(Path(path))


def context() -> Context | None:
    """The cluster file and run dir to show; on a problem, one error box saying what and where."""
    raw = os.environ.get(ENV_CONFIG, "")
    if not raw:
        st.error(f"No cluster file: start the dashboards with `vcc dashboard CONFIG` (or set {ENV_CONFIG}).")
        return None
    path = Path(raw)
    try:
        config = _load(str(path.resolve()), path.stat().st_mtime)
    except OSError as e:
        st.error(f"Cannot read the cluster file {path}: {e.strerror or e}")
        return None
    except ConfigError as e:
        st.error(f"The cluster file {path} is invalid: " + "; ".join(e.lines()))
        return None
    run_dir = Path(os.environ.get(ENV_RUN_DIR) or Path("var/run") / config.name)
    return Context(config, path, run_dir)


class SharedTail:
    """One :class:`EventTail` per run dir for every session of the server, polled under a lock."""

    def __init__(self, run_dir: Path) -> None:
        self._tail = EventTail(run_dir)
        self._lock = threading.Lock()

    def frames(self, now: float) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """(waiting contacts, agent states, site events) as of ``now``, after reading what is new."""
        with self._lock:
            self._tail.poll()
            state = self._tail.state
            return state.waiting(now), state.agent_states(), state.site_timeline()

    def today(self, now: float) -> pl.DataFrame:
        """The UTC day's events so far (read what is new first)."""
        with self._lock:
            self._tail.poll()
            return self._tail.today(now).collect()


@st.cache_resource(show_spinner=False)
def _tail(run_dir: str) -> SharedTail:
    return SharedTail(Path(run_dir))


def floor(ctx: Context, now: float | None = None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return _tail(str(ctx.run_dir.resolve())).frames(time.time() if now is None else now)


def today_events(ctx: Context, now: float) -> pl.DataFrame:
    return _tail(str(ctx.run_dir.resolve())).today(now)


def login_page() -> None:
    """The only page before logging in."""
    ctx = context()
    st.title("Log in")
    if ctx is None:
        return
    st.caption(f"vcc dashboards for cluster **{ctx.config.name}**")
    with st.form("login"):
        user = st.text_input("User")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        try:
            st.session_state[SCOPE_KEY] = log_in(ctx.config, user, password)
        except LoginRefused:
            st.error("Unknown user or wrong password.")
            return
        st.rerun()


def logged_in() -> Scope | None:
    scope = st.session_state.get(SCOPE_KEY)
    return scope if isinstance(scope, Scope) else None


def _pick(label: str, options: list[str], name: str) -> list[str]:
    """A multiselect whose picks outlive the page (kept under ``picked_<name>``, not as widget
    state, which Streamlit drops when another page runs)."""
    saved = [o for o in st.session_state.get(f"picked_{name}", []) if o in options]
    value = [str(v) for v in st.multiselect(label, options, default=saved)]
    st.session_state[f"picked_{name}"] = value
    return value


def sidebar(ctx: Context, scope: Scope) -> Scope:
    """The user's badge, log-out button and filters (region, site, tenant); returns the scope
    narrowed by them (narrowing never widens it)."""
    with st.sidebar:
        if scope.is_manager:
            who = "manager of " + ", ".join(sorted(scope.regions))
        else:
            who = "tenant " + ", ".join(sorted(scope.tenants))
        st.markdown(f"**{scope.name}** ({who})")
        if st.button("Log out"):
            for key in [k for k in st.session_state if str(k).startswith(("vcc_", "picked_"))]:
                del st.session_state[key]
            st.rerun()
        regions = _pick("Regions", sorted(scope.regions), "regions")
        in_regions = {s.id for s in ctx.config.sites if s.region in (set(regions) or scope.regions)}
        sites = _pick("Sites", sorted(scope.sites & in_regions), "sites")
        if len(scope.tenants) > 1:
            tenants = _pick("Tenants", sorted(scope.tenants), "tenants")
        else:
            tenants = []
            st.caption("Tenant: " + ", ".join(sorted(scope.tenants)))
    view = scope.narrow(ctx.config, regions=regions, sites=sites, tenants=tenants)
    st.session_state[VIEW_KEY] = view
    return view


def page_view() -> tuple[Context, Scope]:
    """For a page: the context and the logged-in user's scope narrowed by the sidebar filters;
    stops the run when nobody is logged in."""
    ctx = context()
    scope = logged_in()
    if ctx is None or scope is None:
        st.warning("Log in first.")
        st.stop()
    assert ctx is not None and scope is not None
    return ctx, sidebar(ctx, scope)


def utc(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + " UTC"
