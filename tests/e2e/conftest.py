"""Browser fixtures (streamlit-guide §3.3), shared by the e2e tests of issues #5 and #6.

- ``simulator_urls`` (session, from ``tests/support/simulator.py``): ``python -m data.simulator`` on free ports,
  fixed prices; a ``ServedSimulator``: the service URL variables plus ``set_faults`` / ``clear_faults`` /
  ``calls`` / ``reset`` over the simulator's admin API.
- ``app_url`` (session): ``streamlit run app.py`` on a free port against that simulator and a fresh embedded
  database with the demo models seeded. Its log is ``<tmp>/st*/server.log``.
- ``browser`` (session): Debian Chromium through Playwright. Missing Chromium: skip, or fail when ``CI`` is set.
- ``page``: a fresh 1400×900 context on the app, after its first run.

All e2e tests carry the ``e2e`` marker (added here), so ``pytest -m "not e2e"`` never starts a browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, served_app, wait_for_app
from tests.support.simulator import ServedSimulator, simulator_urls  # noqa: F401 - session fixture used below

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "VIEWPORT", "served_app"]  # the helpers' names, as before


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory, simulator_urls: ServedSimulator) -> Iterator[str]:  # noqa: F811
    """The app served by ``streamlit run`` against the served simulator, on a fresh seeded database."""
    with served_app(tmp_path_factory.mktemp("st"), simulator_urls) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    if not CHROMIUM:
        message = "chromium not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    """A fresh browser context on the app (1400×900, downloads accepted), after the first script run."""
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(20_000)
    pg.goto(app_url)
    wait_for_app(pg)
    yield pg
    ctx.close()
