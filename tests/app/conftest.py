"""AppTest fixtures for every page (streamlit-guide §3.2), shared by the page tests of issues #5 and #6.

- ``simulator`` / ``sim_transport`` (from ``tests/support/simulator.py``): the in-process GlobeCo simulator (demo
  dataset, fixed prices) and an httpx transport into it; inject faults with
  ``tests.app.support.inject_fault(simulator, ...)`` (the non-fixture helpers all live in ``tests/app/support.py``).
- ``at``: ``AppTest`` of ``app.py`` on a fresh embedded database (``mongoeco:///<tmp>/t.sqlite3``) with the demo
  models seeded, the services served by ``simulator`` through an httpx transport; already run once.
- ``empty_at``: the same on an empty database (no demo models).
- ``make_at(seed=True, **env)``: build your own (extra environment variables, e.g. ``HTTP_RETRIES="0"``).
- ``repo``: the app's own model repository (same database; call after the first run), to arrange data as
  "another user" would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test

from tests.support.simulator import sim_transport, simulator  # noqa: F401 - fixtures: demo data, fixed prices

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")  # from_file resolves relative paths against the test file, not the cwd
SERVICE_URL_VARS = ("ACCOUNTING_URL", "PORTFOLIO_URL", "PRICING_URL", "SECURITY_URL", "ORDER_URL")
TIMEOUT = 60  # seconds per run(): 2 cores shared by several test runs


class _ServerPagesManager(PagesManager):
    """AppTest's pages manager as in a running server: legacy ``pages/`` discovery is off after the first navigation.

    AppTest resets ``PagesManager.uses_pages_directory`` before every run, so with a ``pages/`` folder each run would
    be a server's very first request (Streamlit's legacy pass), and the pages' deep-link guard would rerun every
    click away. Its reset lands on this subclass instead; the first request of a fresh server is covered by
    ``tests/e2e/test_deep_link.py``.
    """


@pytest.fixture(autouse=True)
def _pages_as_in_a_running_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_test, "PagesManager", _ServerPagesManager)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", False)


@pytest.fixture(autouse=True)
def _clear_caches() -> Iterator[None]:
    """Streamlit caches are process-global: every test starts (and ends) without cached clients or reads."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim_transport: Any) -> Path:  # noqa: F811
    """Environment of the app under test: a fresh embedded database, the in-process simulator, fast retries."""
    db = tmp_path / "t.sqlite3"
    monkeypatch.setenv("MONGODB_URI", f"mongoeco:///{db}")
    for var in SERVICE_URL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SIMULATOR_PRICE_MODE", "fixed")
    # keep the retry policy (1 + 3 attempts) but not its seconds of backoff: fault tests stay fast
    monkeypatch.setenv("HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("HTTP_BACKOFF_MAX", "0.05")
    monkeypatch.setenv("HTTP_TIMEOUT", "5")
    monkeypatch.setattr("components.resources.service_transport", lambda: sim_transport)
    monkeypatch.chdir(ROOT)
    return db


@pytest.fixture
def make_at(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """Factory: ``make_at(seed=True, run=True, **env)`` -> AppTest of app.py (run once unless ``run=False``)."""

    def make(seed: bool = True, run: bool = True, **env: str) -> AppTest:
        monkeypatch.setenv("DEMO_SEED", "1" if seed else "0")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        return at.run() if run else at

    return make


@pytest.fixture
def at(make_at: Callable[..., AppTest]) -> AppTest:
    """The app on a database seeded with the demo models, after its first run (the Models page)."""
    return make_at(seed=True)


@pytest.fixture
def empty_at(make_at: Callable[..., AppTest]) -> AppTest:
    """The app on an empty database, after its first run."""
    return make_at(seed=False)


@pytest.fixture
def repo() -> Callable[[], Any]:
    """The app's model repository (the cached one: same database). Call it after the app has run once."""
    from components import resources

    return resources.model_repo


# --- reading the element tree -------------------------------------------------------------------------------------
