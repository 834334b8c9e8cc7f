"""Drift page in Chromium: the 1,000-portfolio demo model end to end (timed and printed, not asserted), the
heatmap, the drill-down chart and table, and the firm-wide triage; screenshots of each."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.e2e.helpers import choose, open_select, screenshot, wait_for_app


def test_drift_of_the_1000_portfolio_model_then_drill_down(page):
    main = page.get_by_test_id("stMain")
    started = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Drift").click()
    heatmap = main.get_by_test_id("stPlotlyChart").first
    expect(heatmap.locator(".main-svg").first).to_be_visible(timeout=60_000)
    wait_for_app(page, timeout=60_000)
    seconds = time.perf_counter() - started
    print(f"\n[bench] drift view of 'Global Equity Core' (1,000 portfolios), click to rendered: {seconds:.2f} s")
    expect(main.get_by_test_id("stCaptionContainer").filter(has_text="Snapshot")).to_contain_text("1,000 portfolios")
    expect(main.get_by_test_id("stMetric").first).to_contain_text("1,000")
    screenshot(page, "drift_1_model_1000_portfolios", full_height=1300)

    choose(page, "Model", "Technology Leaders · 15 portfolios")
    expect(main.get_by_test_id("stCaptionContainer").filter(has_text="Snapshot")).to_contain_text("15 portfolios")
    charts = main.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(3)  # heatmap, distribution, drill-down
    options = open_select(page, "Portfolio")
    second = options.nth(1).inner_text()
    options.nth(1).click()
    wait_for_app(page)
    name = second.split(" · ")[0]
    drill = charts.nth(2)
    expect(drill).to_contain_text(f"{name} — actual vs target")
    expect(drill.locator(".main-svg").first).to_be_visible()
    drill.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    screenshot(page, "drift_2_drilldown")


def test_firm_wide_triage(page):
    main = page.get_by_test_id("stMain")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Drift").click()
    wait_for_app(page, timeout=60_000)
    main.get_by_test_id("stButtonGroup").get_by_text("Firm-wide triage").click()
    wait_for_app(page)
    main.get_by_role("button", name="Scan all models").click()
    wait_for_app(page, timeout=120_000)
    # other tests of the session may have added models: at least the 6 demo models were scanned
    scanned = main.get_by_test_id("stCaptionContainer").filter(has_text="Last scan")
    expect(scanned).to_contain_text(re.compile(r"· ([6-9]|\d\d+) models in"))
    expect(main.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first).to_be_visible()
    expect(main.get_by_test_id("stDataFrame")).to_have_count(2)
    screenshot(page, "drift_3_triage", full_height=1400)
