"""A deep link is the first request a fresh server sees (a bookmark, or a refresh after a restart).

With the page scripts in a folder named ``pages/``, Streamlit 1.67 ran the page alone, without ``app.py``'s
navigation, sidebar and layout (see ``components/navigation.py``). This test starts its own server so no earlier
request can hide the problem.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORT, served_app
from tests.e2e.helpers import screenshot, wait_for_app


def test_first_request_deep_link_gets_the_app_shell(browser, simulator_urls, tmp_path):
    with served_app(tmp_path, simulator_urls) as url:
        ctx = browser.new_context(viewport=VIEWPORT)
        try:
            pg = ctx.new_page()
            pg.goto(f"{url}/rebalance")
            wait_for_app(pg, timeout=60_000)
            nav = pg.get_by_test_id("stSidebarNav")
            expect(nav).to_contain_text("What-if rebalance")
            expect(nav).to_contain_text("Saved rebalances")
            expect(nav).not_to_contain_text("app")  # a legacy listing would name the entrypoint "app"
            expect(pg.get_by_test_id("stSidebar")).to_contain_text("GlobeCo rebalancer")  # app.py's sidebar ran
            expect(pg.get_by_role("heading", name="What-if rebalance")).to_be_visible()
            assert pg.url.rstrip("/").endswith("/rebalance")
            box = pg.get_by_test_id("stMainBlockContainer").bounding_box()
            assert box and box["width"] > 1000  # the wide layout of app.py, not Streamlit's centred default
            screenshot(pg, "deep_link_rebalance")
        finally:
            ctx.close()
