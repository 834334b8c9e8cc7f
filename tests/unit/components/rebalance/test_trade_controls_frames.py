"""Pure pieces of the trade-control views (issue #11): control labels, comparison chart frame and figure, the
relaxed portfolios' breach table and the "not traded" table."""

from __future__ import annotations

from decimal import Decimal as D

from components.orders.frames import NOT_TRADED_TABLE, not_traded_frame
from components.rebalance.charts import tickets_drift_figure
from components.rebalance.frames import breaches_frame, compare_chart_frame, compare_frame, controls_labels
from engine.models import BandBreach, PortfolioResult, RebalanceOptions, TradeControls
from engine.orders import NotTradedRow
from engine.scenarios import ScenarioSummary

A, B = "a" * 24, "b" * 24


def summary(orders: int, small: int, drift_after: str, relaxed: int = 0, breach: str = "0") -> ScenarioSummary:
    return ScenarioSummary(
        portfolios=3,
        optimal=3 - relaxed,
        infeasible=0,
        failed=0,
        market_value=D(1000),
        drift_before=D(100),
        drift_after=D(drift_after),
        turnover=D(50),
        orders=orders,
        cash_before=D(10),
        cash_after=D(5),
        out_of_band_before=2,
        still_out_of_band=1,
        relaxed=relaxed,
        band_breach=D(breach),
        small_orders=small,
    )


def test_control_labels_name_restricted_securities_by_ticker():
    options = RebalanceOptions().with_controls(
        TradeControls(
            trade_policy="out-of-band",
            min_trade_value=D("1000"),
            no_buy=(A,),
            no_trade=(A, B),
            direction="sell-only",
            on_infeasible="nearest",
        )
    )
    labels = controls_labels(options, {A: "AAPL"})
    assert labels == {
        "Rebalance": "Out-of-band only",
        "Minimum trade": "$1,000.00",
        "Direction": "Raise cash: sell only",
        "No buy": "AAPL",
        "No sell": "none",
        "Do not trade": "AAPL, bbbbbb…bbbb",  # an unknown ticker falls back to a short id
        "If a band cannot be met": "Nearest feasible",
    }
    assert controls_labels(RebalanceOptions())["Minimum trade"] == "none"


def test_comparison_rows_and_tickets_vs_drift_chart():
    summaries = {"Default": summary(900, 300, "1"), "Out-of-band": summary(120, 2, "4", relaxed=1, breach="12.5")}
    table = compare_frame(summaries, {})
    assert table.loc["Orders under $500"].tolist() == ["300", "2"]
    assert table.loc["Nearest feasible (relaxed)"].tolist() == ["0", "1"]
    assert table.loc["Total band breach (relaxed)"].tolist() == ["$0.00", "$12.50"]
    fig = tickets_drift_figure(compare_chart_frame(summaries))
    (points,) = fig.data
    assert list(points.x) == [900, 120]
    assert list(points.y) == [0.001, 0.004]
    assert list(points.text) == ["Default", "Out-of-band"]
    assert fig.layout.title.text == "Tickets vs residual drift"


def test_breaches_frame_one_row_per_breached_band():
    result = PortfolioResult(
        portfolio_id="p" * 24,
        portfolio_name="Fund",
        status="relaxed",
        band_breaches=(
            BandBreach(security_id=A, side="low", amount=D("10.25")),
            BandBreach(security_id=B, side="high", amount=D("1")),
        ),
    )
    frame = breaches_frame([result], {A: "AAPL"})
    assert frame[["portfolio", "ticker", "side", "amount"]].values.tolist() == [
        ["Fund", "AAPL", "below low band", 10.25],
        ["Fund", "bbbbbb…bbbb", "above high band", 1.0],
    ]


def test_not_traded_frame_names_the_control():
    row = NotTradedRow(
        portfolio_id="p" * 24,
        portfolio_name="Fund",
        security_id=A,
        ticker="AAPL",
        kept_by="in-band",
        quantity=D(10),
        weight=D("0.21"),
        target=D("0.2"),
        low_drift=D("0.05"),
        high_drift=D("0.05"),
    )
    frame = not_traded_frame([row])
    assert [c.name for c in NOT_TRADED_TABLE if c.name not in frame.columns] == []
    (rec,) = frame.to_dict("records")
    assert rec["control"] == "in band (out-of-band only)" and rec["kept_by"] == "in-band"
    assert rec["off_target_pp"] == 1.0 and rec["band_low"] == 0.15 and rec["band_high"] == 0.25
