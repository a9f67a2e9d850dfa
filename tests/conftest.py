"""Fixtures for every test: the Ray temp dirs of a test's clusters are removed once it passed and
kept, with the sites' logs, after it failed (see ``tests.integration.cluster_files.TEMP_ROOTS``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.integration.cluster_files import TEMP_ROOTS

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if outcome.get_result().failed:  # type: ignore[attr-defined]
        item.stash[_FAILED] = True


@pytest.fixture(autouse=True)
def _ray_temp_dirs(request: pytest.FixtureRequest) -> Iterator[None]:
    first = len(TEMP_ROOTS)
    yield
    made = TEMP_ROOTS[first:]
    del TEMP_ROOTS[first:]
    if request.node.stash.get(_FAILED, False):
        return  # kept: the Ray session logs of every site (actors' output) are there
    for root in made:
        shutil.rmtree(root, ignore_errors=True)
