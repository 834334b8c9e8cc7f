"""components.orders.frames: blotter table, filters and sorts, block view, submission plan."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from components.orders.frames import aggregate_frame, blotter_frame, filter_blotter, submission_plan
from components.rebalance.store import SubmissionOutcome, order_key
from engine.orders import OrderRow, aggregate_orders

DAY = dt.date(2026, 3, 2)


def row(pid, name, sid, ticker, side, qty, price):
    return OrderRow(rebalance_id=None, portfolio_id=pid, portfolio_name=name, security_id=sid, ticker=ticker,
                    transaction_type=side, quantity=D(qty), price=D(price), estimated_value=D(qty) * D(price),
                    trade_date=DAY, reason="r")  # fmt: skip


P, Q = "p" * 24, "q" * 24
A, B = "a" * 24, "b" * 24
ROWS = [
    row(P, "Growth Fund", A, "AAPL", "BUY", 10, "150.25"),
    row(P, "Growth Fund", B, "MSFT", "SELL", 3, "400"),
    row(Q, "Income (a+b)", A, "AAPL", "BUY", 5, "150.25"),
]


def test_blotter_frame_and_submission_column():
    subs = {order_key(P, A, "BUY"): SubmissionOutcome("success", "Order created", 101)}
    f = blotter_frame(ROWS, subs)
    assert f["portfolio"].tolist() == ["Growth Fund", "Growth Fund", "Income (a+b)"]
    assert f["estimated_value"].tolist() == [1502.5, 1200.0, 751.25]
    assert f["submission"].tolist() == ["submitted", "", ""]
    assert f["order_id"].tolist()[0] == 101 and f["order_id"].isna().tolist() == [False, True, True]


def test_filters_are_literal_and_case_insensitive():
    f = blotter_frame(ROWS)
    assert filter_blotter(f, sides=["SELL"])["ticker"].tolist() == ["MSFT"]
    assert filter_blotter(f, portfolio_text="(A+B")["portfolio"].tolist() == ["Income (a+b)"]  # not a regex
    assert filter_blotter(f, portfolio_text="q" * 6)["portfolio_id"].tolist() == [Q]
    assert filter_blotter(f, ticker_text="aap")["portfolio_id"].tolist() == [P, Q]
    assert filter_blotter(f, sides=[]).empty


def test_sorts():
    f = blotter_frame(ROWS)
    assert filter_blotter(f, sort="Estimated value, largest first")["estimated_value"].tolist() == [
        1502.5,
        1200,
        751.25,
    ]
    assert filter_blotter(f, sort="Ticker, then portfolio")["ticker"].tolist() == ["AAPL", "AAPL", "MSFT"]
    assert filter_blotter(f, sort="Side, then value")["side"].tolist() == ["BUY", "BUY", "SELL"]


def test_aggregate_frame():
    f = aggregate_frame(aggregate_orders(ROWS))
    assert f[["ticker", "side", "quantity", "portfolios"]].values.tolist() == [["AAPL", "BUY", 15.0, 2],
                                                                                ["MSFT", "SELL", 3.0, 1]]  # fmt: skip


def test_submission_plan_never_resends_a_success():
    subs = {
        order_key(P, A, "BUY"): SubmissionOutcome("success", "", 1),
        order_key(P, B, "SELL"): SubmissionOutcome("unknown", "timeout"),
        order_key(Q, A, "BUY"): SubmissionOutcome("failed", "Quantity must be positive"),
    }
    plan = submission_plan(ROWS, subs)
    assert [r.portfolio_id for r in plan.to_send] == [Q] and plan.already_submitted == 1 and plan.unknown_held_back == 1
    assert len(submission_plan(ROWS, subs, include_unknown=True).to_send) == 2
    assert len(submission_plan(ROWS, {}).to_send) == 3
