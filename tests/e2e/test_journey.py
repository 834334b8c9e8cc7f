"""The PM's main journey in Chromium on the demo data: pick a model → what-if on all its portfolios → change the
minimum cash → run again → compare → download the orders CSV and check it against the engine → save → History.

The expected orders are computed in the test by the engine itself, from the same served simulator (fixed prices),
the demo model and the same cash floor; the CSV the browser downloads must match them row for row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import goto_page, screenshot, wait_for_app

MODEL = "Technology Leaders"
MIN_CASH = Decimal("5000")  # binds for the smaller accounts (their cash after the first run is below it)


def pick(page: Page, label: str, option: str) -> None:
    """Choose ``option`` (a substring of its text) in the selectbox labelled ``label``."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.click()
    page.keyboard.type(option, delay=10)
    page.get_by_role("option").filter(has_text=option).first.click()
    wait_for_app(page)


def metric(page: Page, label: str):
    """The st.metric whose label is exactly ``label``."""
    label_el = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMain").get_by_test_id("stMetric").filter(has=label_el)


def run_whatif(page: Page, timeout: int = 60_000) -> float:
    """Press "Run what-if" and wait for the finished status; returns the seconds from click to rendered page."""
    start = time.perf_counter()
    page.get_by_role("button", name="Run what-if").click()
    page.wait_for_timeout(250)
    wait_for_app(page, timeout=timeout)
    expect(page.get_by_test_id("stExpander").filter(has_text="Done:").last).to_be_visible(timeout=timeout)
    return time.perf_counter() - start


def expected_orders(simulator_urls, min_cash: Decimal) -> list[tuple[str, ...]]:
    """The engine's orders for the demo model on the served simulator, with the cash floor of the second run."""
    from data.demo import load_demo
    from data.services import build_services
    from data.settings import Settings
    from data.snapshot import build_market_snapshot
    from engine.models import RebalanceOptions
    from engine.orders import order_rows, orders_to_csv
    from engine.rebalance import rebalance_portfolios

    model = next(m for m in load_demo().models if m.name == MODEL)
    urls = {k.lower(): v for k, v in dict(simulator_urls).items() if k.endswith("_URL")}
    services = build_services(Settings(**urls))
    try:
        snap = build_market_snapshot(services, model)
    finally:
        services.close()
    results = []
    options = RebalanceOptions(min_cash=min_cash, trade_date=dt.datetime.now(dt.UTC).date())
    for p in snap.portfolios:
        results += rebalance_portfolios(model, snap.prices, [p], options=options, workers=1)
    tickers = {sid: info.ticker for sid, info in snap.securities.items()}
    return csv_rows(orders_to_csv(order_rows(results, tickers)).decode())[1]


def csv_rows(data: str) -> tuple[list[str], list[tuple[str, ...]]]:
    rows = list(csv.reader(io.StringIO(data)))
    return rows[0], sorted(tuple(r) for r in rows[1:])


def test_main_journey(page: Page, simulator_urls) -> None:
    main = page.get_by_test_id("stMain")
    goto_page(page, "What-if rebalance")
    expect(page.get_by_test_id("stHeading").first).to_contain_text("What-if rebalance")
    pick(page, "Investment model", MODEL)
    expect(page.get_by_test_id("stRadio").filter(has_text="Portfolios").first).to_contain_text(
        "All portfolios of the model"
    )
    screenshot(page, "10_whatif_parameters")

    first = run_whatif(page)
    expect(metric(page, "Rebalanced")).to_contain_text("15")
    screenshot(page, "11_whatif_first_run", full_height=1800)

    field = page.get_by_role("spinbutton", name="Minimum cash ($)")
    field.fill(str(MIN_CASH))
    field.press("Enter")
    wait_for_app(page)
    second = run_whatif(page)
    expect(main.get_by_text("reused, frozen")).to_be_visible()
    compare = main.get_by_test_id("stPlotlyChart").filter(has_text="Scenarios side by side")
    expect(compare).to_be_visible()
    expect(compare).to_contain_text("Scenario 1")
    expect(compare).to_contain_text("Scenario 2")
    compare.scroll_into_view_if_needed()
    screenshot(page, "12_whatif_compare", full_height=2400)
    print(f"\nwhat-if runs in the browser: {first:.2f} s, {second:.2f} s (15 portfolios)")

    goto_page(page, "Orders & export")
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value(re.compile(r"^Scenario 2 · "))
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"^Download all [\d,]+ orders \(CSV\)$")).click()
    path = download.value.path()
    header, got = csv_rows(Path(path).read_text(encoding="utf-8"))
    assert header == [
        "rebalanceId", "portfolioId", "portfolioName", "securityId", "ticker", "transactionType", "quantity",
        "price", "estimatedValue", "tradeDate",
    ]  # fmt: skip
    want = expected_orders(simulator_urls, MIN_CASH)
    assert len(got) == len(want) > 0
    assert got == want
    assert download.value.suggested_filename.startswith("orders_Technology_Leaders_Scenario_2_")
    screenshot(page, "13_orders", full_height=1800)

    page.get_by_role("button", name="Save rebalance…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Persist Scenario 2 as a rebalance record")
    dialog.get_by_role("button", name="Save rebalance").click()
    wait_for_app(page)
    saved = main.get_by_test_id("stAlertContentSuccess").filter(has_text="Saved as rebalance")
    expect(saved).to_be_visible()
    rebalance_id = re.search(r"rebalance ([0-9a-f]{24})", saved.inner_text()).group(1)
    screenshot(page, "14_orders_saved", full_height=1800)

    goto_page(page, "Saved rebalances")
    expect(page.get_by_role("combobox", name="Open a saved rebalance")).to_have_value(re.compile(rebalance_id))
    expect(main.get_by_text(f"{MODEL} · rebalanced")).to_be_visible()
    with page.expect_download() as saved_csv:
        page.get_by_role("button", name="Download orders CSV").click()
    header2, got2 = csv_rows(Path(saved_csv.value.path()).read_text(encoding="utf-8"))
    assert header2 == header
    assert {r[0] for r in got2} == {rebalance_id}  # the saved run's CSV carries its id ...
    assert [r[1:] for r in got2] == [r[1:] for r in got]  # ... and exactly the reviewed orders
    screenshot(page, "15_history", full_height=1800)


@pytest.mark.slow
def test_rebalance_of_the_1000_portfolio_model_end_to_end(page: Page) -> None:
    """Snapshot + solve + render of the largest demo model in the browser; the time is printed (see README)."""
    goto_page(page, "What-if rebalance")
    pick(page, "Investment model", "Global Equity Core")
    expect(page.get_by_role("combobox", name="Investment model")).to_have_value(re.compile("1,000 portfolios"))
    seconds = run_whatif(page, timeout=120_000)
    main = page.get_by_test_id("stMain")
    expect(metric(page, "Rebalanced")).to_contain_text("1,000")
    expect(main.get_by_test_id("stDataFrame").first).to_be_visible()
    screenshot(page, "16_whatif_1000_portfolios", full_height=1800)
    main.get_by_role("tab", name="Charts").click()
    expect(main.get_by_test_id("stPlotlyChart").filter(has_text="Drift before")).to_contain_text("top 30 of 1,000")
    screenshot(page, "17_whatif_1000_charts", full_height=1800)
    print(f"\n1,000-portfolio what-if end to end in the browser (click → rendered): {seconds:.2f} s")


def test_cancel_stops_a_running_what_if(page: Page) -> None:
    """A click on Cancel during the 1,000-portfolio run stops it; nothing is kept (see components.rebalance.run)."""
    goto_page(page, "What-if rebalance")
    pick(page, "Investment model", "Global Equity Core")
    page.get_by_role("button", name="Run what-if").click()
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible(timeout=20_000)
    page.wait_for_timeout(300)
    cancel.click()
    wait_for_app(page, timeout=60_000)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_test_id("stAlertContentWarning").filter(has_text="Run cancelled")).to_be_visible()
    expect(main.get_by_text("No scenario yet")).to_be_visible()
    screenshot(page, "18_whatif_cancelled")
