"""Issue #15 part 1 (app side): the blotter built column by column and the order rows built without the frozen
dataclass ``__init__`` give exactly what the row-by-row builders of before gave (frames and CSV bytes), on the demo
data through the app's own what-if solve and on hypothesis-generated orders."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal as D

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.orders.frames import blotter_frame, blotter_frame_rows
from components.rebalance.run import solve
from components.rebalance.store import ScenarioParams, SubmissionOutcome, order_key
from data.demo import load_demo
from data.snapshot import build_market_snapshot
from engine.models import RebalanceOptions
from engine.orders import OrderRow, order_rows, orders_to_csv

FIELDS = [f.name for f in dataclasses.fields(OrderRow)]


def rebuilt(row: OrderRow) -> OrderRow:
    """The same row through the dataclass's own ``__init__`` (the builder of before)."""
    return OrderRow(**{name: getattr(row, name) for name in FIELDS})


def assert_rows_are_proper(rows: list[OrderRow]) -> None:
    for row in rows:
        assert list(vars(row)) == FIELDS  # the instance state holds exactly the fields, in order
        again = rebuilt(row)
        assert row == again and hash(row) == hash(again) and repr(row) == repr(again)
        with pytest.raises(dataclasses.FrozenInstanceError):
            row.quantity = D(1)  # type: ignore[misc]


def some_outcomes(rows: list[OrderRow]) -> dict[str, SubmissionOutcome]:
    outcomes = ("success", "failed", "unknown", "sending")
    return {
        order_key(r.portfolio_id, r.security_id, r.transaction_type): SubmissionOutcome(
            outcomes[i % 4], "text", 100 + i if i % 4 == 0 else None
        )
        for i, r in enumerate(rows[::7])
    }


@pytest.fixture(scope="module")
def demo_runs(request) -> list[list[OrderRow]]:
    """Order rows of what-if runs on every demo model (first 150 portfolios; fixed prices): a fixed floor, a floor
    in % of MV that makes some portfolios infeasible, and the Edge Case Lab's shorts and fractional holdings."""
    from data.services import build_services
    from tests.support.simulator import fast_settings

    services = build_services(fast_settings())
    try:
        out = []
        for model in load_demo().models:
            ids = tuple(model.portfolios[:150])
            snap = build_market_snapshot(services, model, list(ids))
            tickers = {sid: info.ticker for sid, info in snap.securities.items()}
            for options in (RebalanceOptions(min_cash=D(1000)), RebalanceOptions(min_cash_fraction=D("0.03"))):
                params = ScenarioParams(model.model_id or "x" * 24, ids, True, options)
                results = solve(model, snap, params, lambda f, t: None, 1)
                out.append(order_rows(results, tickers, snap.prices))
        return out
    finally:
        services.close()


def test_demo_blotter_and_csv_are_the_ones_of_before(demo_runs):
    assert sum(map(len, demo_runs)) > 1000
    for rows in demo_runs:
        assert_rows_are_proper(rows)
        before = [rebuilt(r) for r in rows]
        assert orders_to_csv(rows) == orders_to_csv(before)
        assert orders_to_csv(rows, with_reasons=True) == orders_to_csv(before, with_reasons=True)
        for subs in ({}, some_outcomes(rows)):
            pd.testing.assert_frame_equal(blotter_frame(rows, subs), blotter_frame_rows(before, subs))


def test_empty_blotter_is_the_one_of_before():
    pd.testing.assert_frame_equal(blotter_frame([]), blotter_frame_rows([]))


DAY = dt.date(2026, 3, 2)
decimals = st.decimals(min_value=D("-1e9"), max_value=D("1e9"), allow_nan=False, places=4)
ids = st.sampled_from(["p" * 24, "q" * 24, "r" * 24, "=cmd" + "x" * 20])


@st.composite
def order(draw) -> OrderRow:
    price = draw(st.none() | decimals.filter(lambda d: d > 0))
    quantity = draw(decimals.filter(lambda d: d > 0))
    maybe = st.none() | decimals
    return OrderRow(
        rebalance_id=draw(st.none() | st.just("r" * 24)),
        portfolio_id=draw(ids),
        portfolio_name=draw(st.none() | st.sampled_from(["Growth", "Income", "Growth", "=SUM(A1)"])),
        security_id=draw(st.sampled_from(["a" * 24, "b" * 24, "c" * 24])),
        ticker=draw(st.none() | st.sampled_from(["AAPL", "MSFT", "-1"])),
        transaction_type=draw(st.sampled_from(["BUY", "SELL"])),
        quantity=quantity,
        price=price,
        estimated_value=None if price is None else quantity * price,
        trade_date=DAY,
        reason=draw(st.text(max_size=12)),
        weight_before=draw(maybe),
        weight_after=draw(maybe),
        target=draw(maybe),
        fractional=quantity != quantity.to_integral_value(),
        covers_short=draw(st.booleans()),
        relaxed=draw(st.booleans()),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(order(), max_size=30), st.data())
def test_random_blotters_are_the_ones_of_before(rows, data):
    keys = [order_key(r.portfolio_id, r.security_id, r.transaction_type) for r in rows]
    picked = data.draw(st.lists(st.sampled_from(keys), unique=True) if keys else st.just([]))
    subs = {
        k: SubmissionOutcome(data.draw(st.sampled_from(["success", "failed", "unknown", "sending"])), "t", i or None)
        for i, k in enumerate(picked)
    }
    pd.testing.assert_frame_equal(blotter_frame(rows, subs), blotter_frame_rows(rows, subs))
