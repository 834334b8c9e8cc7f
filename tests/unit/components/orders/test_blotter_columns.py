"""Issue #15 part 1 (app side): the blotter built column by column, the order rows built without the frozen
dataclass ``__init__`` and the CSV writer's first-character test give exactly what the builders of before gave
(frames and CSV bytes), on the demo data through the app's own what-if solve and on hypothesis-generated orders."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from decimal import Decimal as D

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.orders.frames import blotter_frame, blotter_frame_rows
from components.rebalance.run import solve
from components.rebalance.store import ScenarioParams, SubmissionOutcome, order_key
from data.demo import load_demo
from data.services import build_services
from data.snapshot import build_market_snapshot
from data.submission import NOT_SENT
from engine.models import PortfolioResult, RebalanceOptions
from engine.orders import (
    FORMULA_TRIGGERS,
    INVISIBLE_LEAD,
    ORDER_CSV_COLUMNS,
    OrderRow,
    _fmt_money,
    _fmt_number,
    _fmt_price,
    neutralise_cell,
    order_reason,
    order_rows,
    orders_to_csv,
)
from tests.support.simulator import SimulatorConfig, fast_settings, inprocess_transport, sim_app

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
            # every other "failed" was never posted: the blotter says "not sent"
            outcomes[i % 4],
            f"{NOT_SENT}: held back" if i % 8 == 1 else "text",
            100 + i if i % 4 == 0 else None,
        )
        for i, r in enumerate(rows[::7])
    }


@pytest.fixture(scope="module")
def demo_runs() -> list[tuple[list[PortfolioResult], list[OrderRow]]]:
    """Order rows of what-if runs on every demo model (first 150 portfolios; fixed prices): a fixed floor, a floor
    in % of MV that makes some portfolios infeasible, and the Edge Case Lab's shorts and fractional holdings."""
    # a fresh in-process simulator of its own (nothing another test configured), with a timeout for a busy machine
    transport = inprocess_transport(sim_app(SimulatorConfig(price_mode="fixed", seed=7)))
    services = build_services(fast_settings(http_timeout=60.0), transport=transport)
    try:
        out = []
        for model in load_demo().models:
            ids = tuple(model.portfolios[:150])
            snap = build_market_snapshot(services, model, list(ids))
            tickers = {sid: info.ticker for sid, info in snap.securities.items()}
            for options in (RebalanceOptions(min_cash=D(1000)), RebalanceOptions(min_cash_fraction=D("0.03"))):
                params = ScenarioParams(model.model_id or "x" * 24, ids, True, options)
                results = solve(model, snap, params, lambda f, t: None, 1)
                out.append((results, order_rows(results, tickers, snap.prices)))
        return out
    finally:
        services.close()
        transport.shutdown()


def test_demo_blotter_and_csv_are_the_ones_of_before(demo_runs):
    assert sum(len(rows) for _, rows in demo_runs) > 1000
    for results, rows in demo_runs:
        reasons = [
            order_reason(p, r.market_value)
            for r in results
            if r.status in ("optimal", "relaxed")
            for p in r.positions
            if p.transaction_type is not None
        ]
        assert [row.reason for row in rows] == reasons  # the weight the row computed is the reason's weight
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


def reference_csv(rows: list[OrderRow]) -> bytes:
    """The orders CSV as the writer of before made it: every text cell through ``neutralise_cell``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(ORDER_CSV_COLUMNS)
    for r in rows:
        cells = [r.rebalance_id or "", r.portfolio_id, r.portfolio_name or "", r.security_id, r.ticker or ""]
        cells += [r.transaction_type, _fmt_number(r.quantity), _fmt_price(r.price), _fmt_money(r.estimated_value)]
        writer.writerow([neutralise_cell(c) for c in [*cells, r.trade_date.isoformat()]])
    return buf.getvalue().encode("utf-8")


hostile = st.text(alphabet=st.sampled_from([*FORMULA_TRIGGERS, *INVISIBLE_LEAD, "a", "1", "'", '"', ",", "\n"]))


@settings(max_examples=80, deadline=None)
@given(st.lists(order(), max_size=20), st.lists(hostile, min_size=3, max_size=3))
def test_csv_cells_are_neutralised_as_before(rows, texts):
    rows = [dataclasses.replace(r, portfolio_name=texts[0], ticker=texts[1], reason=texts[2]) for r in rows]
    assert orders_to_csv(rows) == reference_csv(rows)


def test_every_formula_trigger_is_one_character():
    assert all(len(t) == 1 for t in FORMULA_TRIGGERS)  # the CSV writer's first-character test relies on it
