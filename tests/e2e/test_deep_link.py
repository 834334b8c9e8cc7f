"""A deep link is the first request a fresh server sees (a bookmark, or a refresh after a restart).

With the page scripts in a folder named ``pages/``, Streamlit 1.67 runs the page alone on such a request, without
``app.py``'s navigation, sidebar and layout; each page's ``navigation.ensure_app_shell()`` reruns it through the
shell (see ``components/navigation.py``). Each case starts its own server so no earlier request can hide the
problem.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORT, served_app
from tests.e2e.helpers import screenshot, wait_for_app

PAGES = [
    ("", "Investment models"),
    ("drift", "Drift"),
    ("rebalance", "What-if rebalance"),
    ("orders", "Orders & export"),
    ("history", "Saved rebalances"),
]


@pytest.mark.parametrize(("path", "heading"), PAGES, ids=[p or "root" for p, _ in PAGES])
def test_first_request_deep_link_gets_the_app_shell(browser, simulator_urls, tmp_path, path, heading):
    with served_app(tmp_path, simulator_urls) as url:
        ctx = browser.new_context(viewport=VIEWPORT)
        try:
            pg = ctx.new_page()
            pg.goto(f"{url}/{path}")
            wait_for_app(pg, timeout=60_000)
            nav = pg.get_by_test_id("stSidebarNav")
            expect(nav).to_contain_text("What-if rebalance")
            expect(nav).to_contain_text("Saved rebalances")
            expect(nav).not_to_contain_text("app")  # a legacy listing would name the entrypoint "app"
            expect(pg.get_by_test_id("stSidebar")).to_contain_text("GlobeCo rebalancer")  # app.py's sidebar ran
            expect(pg.get_by_role("heading", name=heading).first).to_be_visible()
            expect(pg.get_by_text("Page not found")).to_have_count(0)  # the legacy pass found no page: a dialog
            assert pg.url.rstrip("/").endswith(f"/{path}".rstrip("/")) or not path
            box = pg.get_by_test_id("stMainBlockContainer").bounding_box()
            assert box and box["width"] > 1000  # the wide layout of app.py, not Streamlit's centred default
            screenshot(pg, f"deep_link_{path or 'root'}")
        finally:
            ctx.close()
