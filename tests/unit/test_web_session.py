"""Signed agent sessions of the web front door (sans-IO: the clock is passed in)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vcc.web import session
from vcc.web.frontdoor import is_web_widget

SECRET = bytes(range(32))


def test_a_signed_session_verifies_until_it_expires() -> None:
    token = session.sign(SECRET, "dev-01", now=1000.0, ttl_s=60.0)
    assert session.verify(SECRET, token, now=1059.0) == session.Session("dev-01", 1060.0)
    with pytest.raises(session.BadSession, match="expired"):
        session.verify(SECRET, token, now=1060.0)


@pytest.mark.parametrize("mangle", [
    lambda t: t.replace("dev-01", "dev-02", 1),  # another agent
    lambda t: t.replace(".1060.", ".9999999.", 1),  # a longer life
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
])
def test_a_changed_session_is_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = session.sign(SECRET, "dev-01", now=1000.0, ttl_s=60.0)
    with pytest.raises(session.BadSession, match="signature"):
        session.verify(SECRET, mangle(token), now=1001.0)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "dev-01..sig", "a.b.c.d"])
def test_malformed_sessions_are_refused(token: str) -> None:
    with pytest.raises(session.BadSession, match="malformed"):
        session.verify(SECRET, token, now=0.0)


def test_a_session_from_another_secret_is_refused() -> None:
    token = session.sign(bytes(32), "dev-01", now=0.0)
    with pytest.raises(session.BadSession):
        session.verify(SECRET, token, now=1.0)


def test_agent_ids_with_dots_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="cannot be put"):
        session.sign(SECRET, "a.b", now=0.0)


def test_the_secret_is_made_once_per_cluster_run_dir(tmp_path: Path) -> None:
    site_a, site_b = tmp_path / "sites" / "A", tmp_path / "sites" / "B"
    path = session.secret_path(site_a)
    assert path == session.secret_path(site_b) == tmp_path.resolve() / "web-secret"
    first = session.load_or_create_secret(path)
    assert session.load_or_create_secret(path) == first and len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_damaged_secret_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "web-secret"
    path.write_text("not hex")
    with pytest.raises(session.BadSession, match="delete it"):
        session.load_or_create_secret(path)


@pytest.mark.parametrize(("address", "widget"), [
    ("demo-web-call", True), ("demo-chat", True), ("+15555550000", False), ("help@demo.example", False),
    ("9abc", False),
])
def test_web_widgets_are_told_from_numbers_and_addresses(address: str, widget: bool) -> None:
    assert is_web_widget(address) is widget
