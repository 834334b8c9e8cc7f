"""Models page in Chromium: create a model in the grid, hit the 95 % rule, fix it, save; screenshots of each state."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from components.models.editor import WIDTHS
from tests.e2e.helpers import add_row, column_x, screenshot, set_cell, wait_for_app

COLS = list(WIDTHS)
X_SECURITY = column_x(list(WIDTHS.values()), COLS.index("security"))
X_TARGET = column_x(list(WIDTHS.values()), COLS.index("target"))


def test_create_a_model_hit_the_cash_rule_fix_it_and_save(page):
    main = page.get_by_test_id("stMain")
    expect(page.get_by_test_id("stHeading").first).to_contain_text("Investment models")
    expect(main.get_by_test_id("stMetric").first).to_contain_text("Models")
    expect(main.get_by_test_id("stDataFrame").first).to_be_visible()
    screenshot(page, "models_1_list")

    page.get_by_role("button", name="New model").click()
    wait_for_app(page)
    page.get_by_label("Model name").fill("E2E Growth")
    page.get_by_label("Model name").press("Enter")
    wait_for_app(page)
    grid = main.get_by_role("tabpanel").get_by_test_id("stDataFrame").first  # the positions grid (first tab)
    expect(grid).to_be_visible()
    add_row(page, grid, X_SECURITY, 0, "AAPL")
    set_cell(page, grid, X_TARGET, 0, "0.6")
    add_row(page, grid, X_SECURITY, 1, "MSFT")
    set_cell(page, grid, X_TARGET, 1, "0.4")
    errors = main.get_by_test_id("stAlertContentError")
    expect(errors.first).to_contain_text("targets sum to 100.0 %; at most 95 %")

    page.get_by_role("button", name="Save model").click()
    wait_for_app(page)
    expect(errors.filter(has_text="Not saved")).to_contain_text("Not saved: 1 rule(s) are broken")
    screenshot(page, "models_2_validation_error", full_height=1500)

    set_cell(page, grid, X_TARGET, 1, "0.3")
    expect(main.get_by_test_id("stAlertContentSuccess")).to_contain_text("All model rules pass")
    expect(main.get_by_test_id("stMetric").filter(has_text="Σ targets (max 95 %)")).to_contain_text("90.0 %")
    page.get_by_role("button", name="Save model").click()
    wait_for_app(page)
    # the toast is transient (and may be gone on a slow runner): assert on what stays
    expect(page.get_by_test_id("stHeading").filter(has_text="Edit model")).to_contain_text("v1")
    expect(page.get_by_label("Model ID")).to_have_value(re.compile(r"^[0-9a-f]{24}$"))
    expect(page.get_by_label("Model name")).to_have_value("E2E Growth")
    screenshot(page, "models_3_saved", full_height=1500)

    # export what was saved as CSV: the downloaded file holds the two positions exactly
    page.get_by_role("tab", name="Import / export CSV").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download positions CSV").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "securityId,ticker,description,target,lowDrift,highDrift"
    assert [line.split(",")[1::2] for line in lines[1:]] == [["AAPL", "0.6", "0.05"], ["MSFT", "0.3", "0.05"]]
    assert download.value.suggested_filename == "model_E2E_Growth_positions.csv"
