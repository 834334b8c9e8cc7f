"""Issue 14: a PM's day in Chromium. Edit a model by typing percents → find its drift from the triage → what-if for
exactly the portfolios that need a rebalance → run again with a minimum cash and compare against a chosen base →
export exactly the filtered orders → save → see the run (scenario, model version) in History → load its settings back
into the What-if panel. Screenshots of each.

Uses "Balanced Value" (no other browser test reads it): the session's app and database are shared.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from components.models.editor import WIDTHS
from tests.e2e.helpers import choose, column_x, goto_page, screenshot, set_cell, wait_for_app

MODEL = "Balanced Value"
COLS = list(WIDTHS)


def x_of(column: str) -> float:
    return column_x(list(WIDTHS.values()), COLS.index(column))


def run_whatif(page: Page) -> None:
    page.get_by_role("button", name="Run what-if").click()
    page.wait_for_timeout(250)
    wait_for_app(page, timeout=90_000)
    expect(page.get_by_test_id("stExpander").filter(has_text="Done:").last).to_be_visible(timeout=90_000)


def test_a_pm_day(page: Page) -> None:
    main = page.get_by_test_id("stMain")

    # 1. edit the model by typing percents: "1.5" and "1.5%" are both 1.5 %
    choose(page, "Model", f"{MODEL} (v1)")
    page.get_by_role("button", name="Edit", exact=True).click()
    wait_for_app(page)
    grid = main.get_by_role("tabpanel").get_by_test_id("stDataFrame").first
    expect(grid).to_be_visible()
    set_cell(page, grid, x_of("low_drift"), 0, "1.5")
    set_cell(page, grid, x_of("high_drift"), 0, "1.5%")
    expect(main.get_by_test_id("stAlertContentSuccess")).to_contain_text("All model rules pass")
    expect(main.get_by_test_id("stMetric").filter(has_text="Σ targets (max 95 %)")).to_contain_text("90.0 %")
    screenshot(page, "pm_1_typed_percents", full_height=1500)
    page.get_by_role("button", name="Save model").click()
    wait_for_app(page)
    expect(page.get_by_test_id("stHeading").filter(has_text="Edit model")).to_contain_text("v2")
    expect(page.get_by_role("combobox", name="Model", exact=True)).to_have_value(f"{MODEL} (v2)")
    page.get_by_role("tab", name="Import / export CSV").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download positions CSV").click()
    first = Path(download.value.path()).read_text(encoding="utf-8").splitlines()[1].split(",")
    assert first[-2:] == ["0.015", "0.015"]  # stored exactly 1.5 %

    # 1b. the version history: v2 by the signed-in user with its diff, v1 created
    main.get_by_test_id("stExpander").filter(has_text="Version history").click()
    history = main.get_by_test_id("stExpander").filter(has_text="Version history")
    expect(history).to_contain_text("v2")
    expect(history).to_contain_text("by local")
    expect(history).to_contain_text("Created.")
    history.scroll_into_view_if_needed()
    screenshot(page, "pm_1b_version_history", full_height=1800)

    # 1c. ranked search: "MS" + Enter adds Morgan Stanley (not CDNS, which sorts first); linking keeps the tab
    page.get_by_role("tab", name="Positions").click()
    search = main.get_by_role("textbox", name="Add security")
    search.fill("MS")
    search.press("Enter")
    wait_for_app(page)
    expect(main.get_by_text("Picked MS — Morgan Stanley")).to_be_visible()
    expect(main.get_by_test_id("stExpander").filter(has_text="1 unsaved change")).to_contain_text("Added MS")
    search.fill("Microsft")
    search.press("Enter")
    wait_for_app(page)
    choices = main.get_by_role("radiogroup").filter(has_text="Microsoft")
    expect(choices.get_by_role("radio").first).to_have_accessible_name(re.compile("^MSFT — Microsoft.*fuzzy match"))
    screenshot(page, "pm_1c_ranked_search", full_height=1500)
    page.get_by_role("tab", name="Portfolios").click()
    link = main.get_by_role("textbox", name="Link portfolios: search")
    link.fill("Miller")
    link.press("Enter")
    wait_for_app(page)
    expect(page.get_by_role("tab", name="Portfolios")).to_have_attribute("aria-selected", "true")  # tab kept
    choices = main.get_by_role("radiogroup").filter(has_text="Miller")
    expect(choices.get_by_role("radio").first).to_have_accessible_name(re.compile("^Miller"))
    screenshot(page, "pm_1d_portfolio_search", full_height=1500)
    choices.get_by_text(re.compile("^Miller")).first.click()
    wait_for_app(page)
    expect(page.get_by_role("tab", name="Portfolios")).to_have_attribute("aria-selected", "true")
    expect(main.get_by_test_id("stExpander").filter(has_text="2 unsaved changes")).to_contain_text("Portfolio linked")
    page.get_by_role("button", name="Close editor").click()
    wait_for_app(page)
    page.get_by_role("button", name="Discard changes").click()
    wait_for_app(page)

    # 2. find the drift from the triage, then the model's flagged portfolios
    goto_page(page, "Drift")
    main.get_by_test_id("stButtonGroup").get_by_text("Firm-wide triage").click()
    wait_for_app(page)
    main.get_by_role("button", name="Scan all models").click()
    wait_for_app(page, timeout=120_000)
    expect(main.get_by_test_id("stPlotlyChart").first).to_contain_text("Drift per model")
    failed = main.get_by_test_id("stExpander").filter(has_text="could not be read")
    expect(failed).to_contain_text("Edge Case Lab")  # the quick scan hides no failure; Retry per model
    expect(failed.get_by_role("button", name="Retry").first).to_be_visible()
    screenshot(page, "pm_2_triage", full_height=1600)
    main.get_by_test_id("stButtonGroup").get_by_text("One model").click()
    wait_for_app(page)
    choose(page, "Model", f"{MODEL} · 25 portfolios")
    flagged = main.get_by_role("button", name=re.compile(r"^What-if for the portfolios needing a rebalance"))
    count = int(re.search(r"\((\d+)\)", flagged.inner_text()).group(1))
    assert count > 0
    screenshot(page, "pm_3_drift_model", full_height=1600)
    flagged.click()
    wait_for_app(page)

    # 3. the what-if opens on exactly those portfolios; run, then again with a minimum cash; compare with a base
    expect(page.get_by_test_id("stHeading").first).to_contain_text("What-if rebalance")
    expect(page.get_by_role("button", name="Run what-if")).to_be_visible(timeout=60_000)
    wait_for_app(page)
    screenshot(page, "pm_4_whatif_prefilled", full_height=1400)
    expect(page.get_by_role("radio", name="Selected portfolios")).to_be_checked()
    run_whatif(page)
    expect(main.get_by_text(f"{count} selected portfolios").first).to_be_visible()  # exactly the flagged ones
    field = page.get_by_role("spinbutton", name="Minimum cash ($)")
    field.fill("2000")
    field.press("Enter")
    wait_for_app(page)
    run_whatif(page)
    # a minimum cash under what the model keeps anyway changed nothing: the page says so (engine rule)
    hint = main.get_by_text("did not bind for any portfolio")
    expect(hint).to_be_visible()
    hint.scroll_into_view_if_needed()
    screenshot(page, "pm_4_min_cash_hint", full_height=1000)
    choose(page, "Base scenario", "Scenario 2")
    compare = main.get_by_test_id("stDataFrame").filter(has_text="Δ Scenario 1 vs Scenario 2")
    expect(compare).to_be_visible()
    compare.scroll_into_view_if_needed()
    screenshot(page, "pm_4_compare_with_base", full_height=2000)

    # 4. export exactly the filtered orders
    goto_page(page, "Orders & export")
    choose(page, "Scenario", "Scenario 2")
    page.get_by_label("Ticker contains").fill("A")
    page.get_by_label("Ticker contains").press("Enter")
    wait_for_app(page)
    shown = main.get_by_role("button", name=re.compile(r"^Download the [\d,]+ filtered orders \(CSV\)$"))
    n = int(re.search(r"the ([\d,]+) filtered orders", shown.inner_text()).group(1).replace(",", ""))
    with page.expect_download() as download:
        shown.click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert len(rows) == n > 0 and all("A" in r["ticker"].upper() for r in rows)
    assert all(re.fullmatch(r"-?\d+\.\d\d", r["estimatedValue"]) for r in rows)  # money to the cent
    screenshot(page, "pm_5_orders_filtered", full_height=1800)

    # 5. save and see it in History: scenario, the model version the run used, parameters
    page.get_by_role("button", name="Save rebalance…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Save rebalance").click()
    wait_for_app(page)
    expect(main.get_by_test_id("stAlertContentSuccess").filter(has_text="Saved as rebalance")).to_be_visible()
    goto_page(page, "Saved rebalances")
    expect(main.get_by_text("Scenario Scenario 2 · computed on model version v2")).to_be_visible()
    listing = main.get_by_test_id("stDataFrame").first
    expect(listing).to_be_visible()
    screenshot(page, "pm_6_history", full_height=1800)

    # 6. reproduce it: the run's settings back in the What-if panel, said where from, nothing run
    main.get_by_role("button", name="Load these settings into What-if").click()
    wait_for_app(page)
    loaded = main.get_by_text("Loaded from the saved rebalance")
    expect(loaded).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Minimum cash ($)")).to_have_value("2000.00")
    expect(page.get_by_role("radio", name="Selected portfolios")).to_be_checked()
    page.get_by_test_id("stHeading").first.scroll_into_view_if_needed()
    screenshot(page, "pm_7_settings_loaded", full_height=1400)
