"""Record operations of the 1,000-portfolio run in the browser (issue #12 §5): the PM's waits are printed (run with
``-s``), never asserted (no timed assertions in tests); the test checks that each step finishes and shows its result.

Printed: the what-if run, F5 on the What-if page (workspace reloaded, results recomputed), Save rebalance, opening
Saved rebalances (the newest run opens with it), Delete.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e import helpers
from tests.e2e.helpers import VIEWPORT, screenshot, served_app, wait_for_app

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
            t0 = time.perf_counter()
            ws = helpers.run_what_if(pg, url, MODEL, timeout=300_000)
            timed("what-if opened and run, 1,000 portfolios", t0)
            t0 = time.perf_counter()
            pg.reload()
            wait_for_app(pg, timeout=120_000)
            expect(pg.get_by_text("Results ·").first).to_be_visible(timeout=120_000)
            timed("F5 on What-if (workspace loaded, results recomputed)", t0)
            screenshot(pg, "speed_whatif_after_f5")
            helpers.open_orders(pg, url, ws, timeout=120_000)
            dialog = helpers.open_save_dialog(pg)
            t0 = time.perf_counter()
            helpers.confirm_save(pg, dialog, timeout=120_000)
            timed("Save rebalance (click to confirmation)", t0)
            screenshot(pg, "speed_saved")
            t0 = time.perf_counter()
            helpers.open_history(pg, timeout=120_000)
            timed("Saved rebalances opens (list + newest run opened)", t0)
            screenshot(pg, "speed_history", full_height=2400)
            main = pg.get_by_test_id("stMain")
            expect(main.get_by_text("Portfolios 1–20 of 1,000")).to_be_visible()
            # the next page of the run's portfolios, then one portfolio's positions (the fragment reruns alone)
            main.get_by_test_id("stNumberInput").filter(has_text="Page").get_by_test_id("stNumberInputStepUp").click()
            expect(main.get_by_text("Portfolios 21–40 of 1,000")).to_be_visible(timeout=60_000)
            wait_for_app(pg, timeout=120_000)
            helpers.open_select(pg, "Positions of portfolio").first.click()
            wait_for_app(pg, timeout=120_000)
            expect(main.get_by_test_id("stDataFrame").filter(has_text="Adjusted qty")).to_be_visible(timeout=60_000)
            screenshot(pg, "speed_history_positions", full_height=2400)
            t0 = time.perf_counter()
            helpers.delete_open_run(pg, timeout=120_000)
            timed("Delete (click to confirmation)", t0)
            screenshot(pg, "speed_deleted")
    finally:
        ctx.close()
