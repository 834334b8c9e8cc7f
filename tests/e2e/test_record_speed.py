"""Record operations of the 1,000-portfolio run in the browser (issue #12 §5): the PM's waits are printed (run with
``-s``), never asserted (no timed assertions in tests); the test checks that each step finishes and shows its result.

Printed: the what-if run, F5 on the What-if page (workspace reloaded, results recomputed), Save rebalance, opening
Saved rebalances (the newest run opens with it), Delete.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORT, served_app
from tests.e2e.helpers import choose, screenshot, wait_for_app

pytestmark = pytest.mark.slow
MODEL = "Global Equity Core"


def timed(label: str, started: float) -> None:
    print(f"{label}: {time.perf_counter() - started:.2f} s")


def test_save_history_delete_of_the_1000_portfolio_run(browser, simulator_urls, tmp_path):
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    try:
        with served_app(tmp_path, simulator_urls) as url:
            pg.goto(f"{url}/rebalance")
            wait_for_app(pg, timeout=60_000)
            choose(pg, "Investment model", MODEL)
            wait_for_app(pg)
            t0 = time.perf_counter()
            pg.get_by_role("button", name="Run what-if").click()
            expect(pg.get_by_text("Done:").first).to_be_visible(timeout=300_000)
            wait_for_app(pg, timeout=120_000)
            timed("what-if run, 1,000 portfolios", t0)
            (ws,) = parse_qs(urlparse(pg.url).query)["ws"]
            t0 = time.perf_counter()
            pg.reload()
            wait_for_app(pg, timeout=120_000)
            expect(pg.get_by_text("Results ·").first).to_be_visible(timeout=120_000)
            timed("F5 on What-if (workspace loaded, results recomputed)", t0)
            screenshot(pg, "speed_whatif_after_f5")
            pg.goto(f"{url}/orders?ws={ws}")
            wait_for_app(pg, timeout=120_000)
            pg.get_by_role("button", name="Save rebalance…").click()
            dialog = pg.get_by_role("dialog")
            t0 = time.perf_counter()
            dialog.get_by_role("button", name="Save rebalance").click()
            expect(pg.get_by_text("Saved as rebalance").first).to_be_visible(timeout=120_000)
            timed("Save rebalance (click to confirmation)", t0)
            screenshot(pg, "speed_saved")
            t0 = time.perf_counter()
            pg.get_by_test_id("stSidebarNav").get_by_role("link", name="Saved rebalances").click()
            wait_for_app(pg, timeout=120_000)
            expect(pg.get_by_role("button", name="Delete…")).to_be_visible(timeout=120_000)
            timed("Saved rebalances opens (list + newest run opened)", t0)
            screenshot(pg, "speed_history")
            pg.get_by_role("button", name="Delete…").click()
            t0 = time.perf_counter()
            pg.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
            expect(pg.get_by_text("Deleted ").first).to_be_visible(timeout=120_000)
            timed("Delete (click to confirmation)", t0)
            wait_for_app(pg)
            screenshot(pg, "speed_deleted")
    finally:
        ctx.close()
