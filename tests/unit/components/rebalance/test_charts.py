"""Pure display builders of the what-if page: result frames and plotly figures (no Streamlit)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pandas as pd
import pytest

from components.rebalance.charts import cash_figure, drift_reduction_figure, scenario_compare_figure, weights_figure
from components.rebalance.frames import (
    compare_chart_frame,
    compare_frame,
    display_names,
    portfolio_frame,
    positions_frame,
)
from engine.models import PortfolioResult, RecordPosition, Transaction
from engine.scenarios import portfolio_metrics, scenario_summary

DAY = dt.date(2026, 3, 2)
A, B, X = "a" * 24, "b" * 24, "d" * 24


def rp(sid, price, before, after, target, low, high, mv):
    price, before, after = D(price), D(before), D(after)
    delta = after - before
    return RecordPosition(
        security_id=sid, price=price, original_quantity=before, adjusted_quantity=after,
        original_position_market_value=before * price, adjusted_position_market_value=after * price,
        target=D(target), low_drift=D(low), high_drift=D(high), actual=after * price / D(mv),
        actual_drift=(1 - after * price / D(mv) / D(target)) if D(target) else D(0),
        transaction_type=None if delta == 0 else ("BUY" if delta > 0 else "SELL"),
        trade_quantity=None if delta == 0 else abs(delta), trade_date=None if delta == 0 else DAY,
    )  # fmt: skip


def optimal(pid, name, mv, cash, positions):
    txs = tuple(
        Transaction(transaction_type=p.transaction_type, security_id=p.security_id, quantity=p.trade_quantity,
                    trade_date=DAY)
        for p in positions if p.transaction_type
    )  # fmt: skip
    spent = sum((p.adjusted_position_market_value - p.original_position_market_value for p in positions), D(0))
    return PortfolioResult(portfolio_id=pid, portfolio_name=name, status="optimal", market_value=D(mv),
                           cash_before=D(cash), cash_after=D(cash) - spent, transactions=txs,
                           positions=tuple(positions))  # fmt: skip


@pytest.fixture
def result():
    return optimal(
        "p" * 24,
        "Growth",
        "10000",
        "3000",
        [
            rp(A, "10", 600, 500, "0.5", "0.02", "0.03", "10000"),
            rp(B, "2", 0, 0, "0.01", "0.02", "0", "10000"),
            rp(X, "5", 200, 0, "0", "0", "0", "10000"),
        ],
    )


def test_positions_frame_values_and_order(result):
    f = positions_frame(result, {A: "AAPL"})
    assert f["label"].tolist() == ["AAPL", "bbbbbb…bbbb", "dddddd…dddd"]  # model by target, then non-model
    row = f.iloc[0]
    assert (row.price, row.original_quantity, row.adjusted_quantity, row.change) == (10, 600, 500, -100)
    assert row.trade == "SELL 100" and row.weight_before == pytest.approx(0.6) and row.weight_after == 0.5
    assert (row.band_low, row.band_high) == (pytest.approx(0.48), pytest.approx(0.53))
    assert f.iloc[1].band_low == 0.0  # 0.01 − 0.02 clipped at 0
    assert f.iloc[2].in_model is False or not f.iloc[2].in_model
    assert f.iloc[2].drift_pp == 0 and f.iloc[2].trade == "SELL 200"


def test_one_sign_convention_positive_means_overweight_after(result):
    """Issue 14 item 13: "weight after − target" and the relative drift after share one sign (+ = overweight)."""
    f = positions_frame(result, {A: "AAPL"})
    for row in f.itertuples():
        if row.target:
            assert (row.drift_pp > 0) == (row.relative_after > 0) and row.relative_after == -row.actual_drift


def test_weights_figure_bars_target_and_band(result):
    fig = weights_figure(positions_frame(result, {A: "AAPL"}))
    before, after, target = fig.data
    assert list(before.x) == ["AAPL", "bbbbbb…bbbb", "dddddd…dddd"]
    assert list(before.y) == pytest.approx([0.6, 0.0, 0.1]) and list(after.y) == pytest.approx([0.5, 0, 0])
    assert list(target.y) == pytest.approx([0.5, 0.01, 0])
    assert list(target.error_y.array) == pytest.approx([0.03, 0, 0])
    assert list(target.error_y.arrayminus) == pytest.approx([0.02, 0.01, 0])
    assert fig.layout.yaxis.tickformat == ".1%"


def test_portfolio_frame_and_unique_names(result):
    dup = result.model_copy(update={"portfolio_id": "q" * 24})
    failed = PortfolioResult(portfolio_id="r" * 24, status="error", diagnosis="Pricing unavailable")
    f = portfolio_frame([portfolio_metrics(r) for r in (result, dup, failed)])
    assert f["portfolio"].tolist() == ["Growth (pppppp…pppp)", "Growth (qqqqqq…qqqq)", "rrrrrr…rrrr"]
    assert f["status"].tolist() == ["optimal", "optimal", "failed"]
    row = f.iloc[0]
    assert (row.cash_before, row.cash_after, row.cash_change) == (3000, 5000, 2000)
    assert row.cash_change_pct == pytest.approx(0.2) and row.drift_before == pytest.approx(0.21) and row.orders == 2
    assert f.iloc[2].diagnosis == "Pricing unavailable" and pd.isna(f.iloc[2].market_value)
    assert display_names([("x" * 24, "A"), ("y" * 24, "B")]) == {"x" * 24: "A", "y" * 24: "B"}


def drift_frame(n):
    return pd.DataFrame(
        {"portfolio": [f"P{i}" for i in range(n)], "drift_before": [i / 100 for i in range(n)],
         "drift_after": [0.001] * n}
    )  # fmt: skip


def test_drift_reduction_draws_the_most_drifted_first():
    fig = drift_reduction_figure(drift_frame(5))
    _, before, after = fig.data
    assert list(before.y) == ["P0", "P1", "P2", "P3", "P4"]  # horizontal: largest at the top = last
    assert list(after.x) == pytest.approx([0.001] * 5)
    assert "top" not in fig.layout.title.text


def test_drift_reduction_limits_large_runs_and_says_so():
    fig = drift_reduction_figure(drift_frame(1000), top_n=30)
    _, before, _ = fig.data
    assert len(before.y) == 30 and before.y[-1] == "P999" and before.y[0] == "P970"
    assert "top 30 of 1,000" in fig.layout.title.text


def test_drift_reduction_skips_portfolios_without_numbers():
    frame = pd.DataFrame({"portfolio": ["A", "B"], "drift_before": [0.1, None], "drift_after": [0.0, None]})
    assert list(drift_reduction_figure(frame).data[1].y) == ["A"]


def test_cash_figure_orders_by_change():
    frame = pd.DataFrame({"portfolio": ["A", "B", "C"], "cash_before": [100.0, 100.0, 50.0],
                          "cash_after": [90.0, 500.0, 50.0]})  # fmt: skip
    fig = cash_figure(frame, top_n=2)
    assert list(fig.data[0].y) == ["A", "B"] and list(fig.data[1].x) == [90.0, 500.0]
    assert "top 2 of 3" in fig.layout.title.text


def test_scenario_comparison(result):
    infeasible = PortfolioResult(portfolio_id="s" * 24, status="infeasible", market_value=D(5000),
                                 cash_before=D(10), drift_before=D(500))  # fmt: skip
    summaries = {"Base": scenario_summary([result]), "Cash 2 %": scenario_summary([result, infeasible])}
    table = compare_frame(summaries, {"Base": {"Minimum cash": "$0.00"}, "Cash 2 %": {"Minimum cash": "2 %"}})
    assert list(table.columns) == ["Base", "Cash 2 %"]
    assert table.loc["Minimum cash"].tolist() == ["$0.00", "2 %"]
    assert table.loc["Infeasible"].tolist() == ["0", "1"]
    assert table.loc["Drift before (% of MV)", "Base"] == "21.00 %"  # (1000 + 100 + 1000) / 10000
    assert table.loc["Cash after", "Cash 2 %"] == "$5,010.00"
    chart = compare_chart_frame(summaries)
    fig = scenario_compare_figure(chart)
    assert [t.name for t in fig.data] == ["Drift before", "Drift after", "Turnover", "Cash after"]
    assert table.loc["Cash after (% of MV)", "Base"] == "50.00 %"  # 5000 / 10000
    assert list(fig.data[0].x) == ["Base", "Cash 2 %"]
    assert fig.data[2].y[0] == pytest.approx(0.2)  # 2000 traded / 10000 MV


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (950.254, "$950.25"), (9999.99, "$9,999.99"), (12345.6, "$12.35 k"), (-1.41e6, "-$1.41 M"),
     (2.049e9, "$2.05 B")],
)  # fmt: skip
def test_short_money_for_metrics(value, text):
    from components.tables import fmt_money_short

    assert fmt_money_short(value) == text


def test_percent_columns_are_scaled_on_a_copy():
    from components.tables import as_percent

    frame = pd.DataFrame({"w": [0.1234, None], "x": [1.0, 2.0]})
    out = as_percent(frame, "w", "missing")
    assert out["w"].iloc[0] == pytest.approx(12.34) and pd.isna(out["w"].iloc[1])
    assert frame["w"].iloc[0] == 0.1234 and out["x"].tolist() == [1.0, 2.0]
