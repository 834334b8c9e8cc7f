"""The order blotter, order rows and orders CSV built from the engine's order columns (issue 15 part 1, app side).

``engine.columnar.build_optimal`` keeps the trades of the results it builds as columns (``orders_of``);
``engine.orders.order_columns`` builds the run's orders from them (the per-position results and copies give theirs
from their objects), and ``OrderColumns.rows``, ``columns_to_csv`` and ``blotter_frame_columns`` must give exactly
what ``order_rows``, ``orders_to_csv`` and ``blotter_frame_rows`` give from the per-position reference's results: equal
rows with equal reprs (every Decimal's exponent), the same CSV bytes (formula escaping and quoting included) and the
same frame (columns, dtypes, values), on random runs with fallback portfolios, trade-controls answers (kept_by,
relaxed), failed portfolios and positions on and off.
"""

from __future__ import annotations

import dataclasses
import gc
from decimal import ROUND_HALF_UP, Decimal, localcontext

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.orders.frames import blotter_frame_columns, blotter_frame_rows
from components.rebalance.store import SubmissionOutcome, order_key
from data.submission import NOT_SENT
from engine import columnar
from engine import orders as engine_orders
from engine.columnar import orders_of, reference_only
from engine.exactmath import half_up_units, scaled_floats, scaled_texts
from engine.models import Holding, InvestmentModel, PortfolioHoldings, PortfolioResult, Position, RebalanceOptions
from engine.orders import OrderColumns, OrderRow, columns_to_csv, order_columns, order_rows, orders_to_csv
from engine.rebalance import rebalance_portfolios
from tests.unit.engine.test_columnar import DAY, EXTRA_IDS, MODEL_IDS, _plain_case, cases

D = Decimal
# names and tickers a spreadsheet would run, or the CSV must quote
HOSTILE = ["=SUM(A1)", "+1", "-2", "@x", " =1", "\ufeff=1", "Smith, John", 'say "hi"', "two\nlines", "plain", None]


def hostile_names(draw: st.DrawFn, portfolios: list[PortfolioHoldings]) -> list[PortfolioHoldings]:
    return [p.model_copy(update={"name": draw(st.sampled_from(HOSTILE))}) for p in portfolios]


def assert_same_orders(
    new: list[PortfolioResult],
    ref: list[PortfolioResult],
    tickers: dict[str, str],
    prices: dict[str, Decimal] | None,
    rebalance_id: str | None,
    submissions: dict[str, SubmissionOutcome],
) -> OrderColumns:
    """The columns of ``new`` give exactly the rows, CSVs and blotter that ``ref``'s objects give."""
    columns = order_columns(new, tickers, prices, rebalance_id)
    rows = order_rows(ref, tickers, prices, rebalance_id)
    got = columns.rows()
    assert got == rows
    assert repr(got) == repr(rows)  # every Decimal's exponent
    assert len(columns) == len(rows)
    for reasons in (False, True):
        assert columns_to_csv(columns, "R-1", with_reasons=reasons) == orders_to_csv(rows, "R-1", with_reasons=reasons)
        assert columns_to_csv(columns, with_reasons=reasons) == orders_to_csv(rows, with_reasons=reasons)
    pd.testing.assert_frame_equal(blotter_frame_columns(columns, submissions), blotter_frame_rows(rows, submissions))
    return columns


@st.composite
def runs(draw: st.DrawFn):
    model, prices, portfolios, options = draw(cases())
    portfolios = hostile_names(draw, portfolios)
    tickers = {s: draw(st.sampled_from(["AAA", "=cmd|' /C calc'!A0", "B,C", "-1", "T"])) for s in prices}
    return model, prices, portfolios, options, tickers


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=runs(), with_positions=st.booleans(), data=st.data())
def test_columns_give_the_rows_csv_and_blotter_of_the_reference(case, with_positions, data) -> None:
    model, prices, portfolios, options, tickers = case
    new = rebalance_portfolios(model, prices, portfolios, options, workers=1, with_positions=with_positions)
    with reference_only():
        ref = rebalance_portfolios(model, prices, portfolios, options, workers=1, with_positions=with_positions)
    assert all(orders_of(r) is None for r in ref)  # the reference keeps no columns: its orders come from objects
    # any order of the results (a retry puts results back out of block order), some as copies (no columns)
    order = data.draw(st.permutations(range(len(new))))
    copies = data.draw(st.sets(st.sampled_from(range(len(new)))))
    mixed = [new[i].model_copy() if i in copies else new[i] for i in order]
    keys = [order_key(r.portfolio_id, t.security_id, t.transaction_type) for r in ref for t in r.transactions]
    outcomes = ["success", "failed", "unknown", "sending"]
    logged = data.draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []
    subs = {
        k: SubmissionOutcome(
            data.draw(st.sampled_from(outcomes)),
            data.draw(st.sampled_from(["m", f"{NOT_SENT}: held back"])),  # a "failed" never posted: "not sent"
            data.draw(st.sampled_from([None, 7])),
        )
        for k in logged
    }
    prices_given = data.draw(st.sampled_from([prices, None]))  # None: a result without positions has no price
    rid = data.draw(st.sampled_from([None, "=R"]))
    assert_same_orders(mixed, [ref[i] for i in order], tickers, prices_given, rid, subs)


@pytest.mark.parametrize("with_positions", [True, False])
def test_plain_run_takes_the_columns_for_every_order(with_positions) -> None:
    model, prices, portfolios = _plain_case(60)
    options = RebalanceOptions(trade_date=DAY)
    new = rebalance_portfolios(model, prices, portfolios, options, workers=1, with_positions=with_positions)
    with reference_only():
        ref = rebalance_portfolios(model, prices, portfolios, options, workers=1, with_positions=with_positions)
    assert all(orders_of(r) is not None for r in new)
    columns = assert_same_orders(new, ref, {s: s[-4:] for s in prices}, prices, None, {})
    assert len(columns) > 100 and columns.exact.all()  # every number from the integers


def test_failed_relaxed_and_kept_portfolios_with_the_columns() -> None:
    """Trade controls (kept_by, a relaxed answer) and a failed portfolio next to the columnar ones."""
    model = InvestmentModel(
        name="m",
        positions=(
            Position(security_id=MODEL_IDS[0], target=D("0.60"), low_drift=D("0.01"), high_drift=D("0.01")),
            Position(security_id=MODEL_IDS[1], target=D("0.30"), low_drift=D("0.01"), high_drift=D("0.01")),
        ),
    )
    prices = {MODEL_IDS[0]: D("10"), MODEL_IDS[1]: D("20.50"), EXTRA_IDS[0]: D("3.25")}
    short = (Holding(security_id=MODEL_IDS[0], quantity=D(-40)), Holding(security_id=EXTRA_IDS[0], quantity=D(7)))
    portfolios = [
        PortfolioHoldings(portfolio_id="A", cash=D(10_000), name="Smith, John"),
        PortfolioHoldings(portfolio_id="B", cash=D("12.34"), holdings=short),
        PortfolioHoldings(portfolio_id="C", cash=D(100), holdings=(Holding(security_id="f" * 24, quantity=D(1)),)),
        PortfolioHoldings(
            portfolio_id="D", cash=D(5_000), holdings=(Holding(security_id=MODEL_IDS[1], quantity=D("2.5")),)
        ),
    ]
    nearest = {"trade_policy": "out-of-band", "on_infeasible": "nearest", "min_cash_fraction": D("0.2")}
    for options in (
        RebalanceOptions(trade_date=DAY),
        RebalanceOptions(trade_date=DAY, min_trade_value=D(300), no_buy=(MODEL_IDS[1],)),
        RebalanceOptions(trade_date=DAY, **nearest),
    ):
        new = rebalance_portfolios(model, prices, portfolios, options, workers=1)
        with reference_only():
            ref = rebalance_portfolios(model, prices, portfolios, options, workers=1)
        assert any(r.status == "error" for r in new)
        assert_same_orders(new, ref, {MODEL_IDS[0]: "@AA"}, prices, None, {})


def test_the_columns_live_as_long_as_their_results() -> None:
    model, prices, portfolios = _plain_case(8)
    gc.collect()  # the results of earlier tests are gone
    before = len(columnar._ORDERS)
    results = rebalance_portfolios(model, prices, portfolios, RebalanceOptions(trade_date=DAY), workers=1)
    assert len(columnar._ORDERS) == before + len(results)
    copy = results[0].model_copy()
    assert orders_of(copy) is None  # a copy's orders come from its objects
    assert columnar.carry_orders(results[0], copy) is copy
    shared, original = orders_of(copy), orders_of(results[0])
    assert shared is not None and original is not None
    assert shared[0] is original[0] and shared[1:] == original[1:]
    del results, copy
    gc.collect()
    assert len(columnar._ORDERS) == before


def test_a_floor_flagged_copy_keeps_the_columns() -> None:
    model, prices, portfolios = _plain_case(20)
    options = RebalanceOptions(trade_date=DAY, min_cash_fraction=D("0.1"))
    new = rebalance_portfolios(model, prices, portfolios, options, workers=1)
    bound = [r for r in new if r.floor_bound and r.status == "optimal"]
    assert bound and all(orders_of(r) is not None for r in bound)
    with reference_only():
        ref = rebalance_portfolios(model, prices, portfolios, options, workers=1)
    assert_same_orders(new, ref, {}, prices, None, {})


def test_no_orders() -> None:
    empty = order_columns([PortfolioResult(portfolio_id="x" * 24, status="error")])
    assert len(empty) == 0 and empty.rows() == []
    assert columns_to_csv(empty) == orders_to_csv([])
    pd.testing.assert_frame_equal(blotter_frame_columns(empty), blotter_frame_rows([]))


def test_another_decimal_context_divides_as_order_rows_does() -> None:
    """Weights after come from the record positions only when the thread's context rounds as they were rounded."""
    model, prices, portfolios = _plain_case(10)
    new = rebalance_portfolios(model, prices, portfolios, RebalanceOptions(trade_date=DAY), workers=1)
    with localcontext(prec=9):
        got = order_columns(new, {}, prices).rows()
        want = order_rows(new, {}, prices)
    assert got == want and repr(got) == repr(want)
    assert any(r.weight_after != p.actual for r in got for p in [_position(new, r)])


def _position(results: list[PortfolioResult], row):
    result = next(r for r in results if r.portfolio_id == row.portfolio_id)
    return next(p for p in result.positions if p.security_id == row.security_id)


def test_the_columns_name_every_row_field_in_order() -> None:
    names = [f.name for f in dataclasses.fields(OrderRow)]
    assert [*engine_orders._OBJECT_FIELDS, "fractional", "covers_short", "relaxed"] == names


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.tuples(st.integers(0, 10**18), st.integers(0, 18)), min_size=1, max_size=20),
    places=st.integers(0, 4),
)
def test_texts_floats_and_rounding_from_scaled_integers_are_the_decimals(values, places) -> None:
    """``exactmath``'s column helpers give what the Decimal of each value gives (text, float, half-up rounding)."""
    mant = np.array([m for m, _ in values], dtype=np.int64)
    scale = np.array([s for _, s in values], dtype=np.int64)
    decimals = [Decimal(m).scaleb(-s) for m, s in values]
    assert scaled_texts(mant, scale) == [format(d, "f") for d in decimals]
    floats, ok = scaled_floats(mant, scale)
    assert ok[mant < 2**53].all()
    for f, good, d in zip(floats.tolist(), ok.tolist(), decimals, strict=True):
        assert not good or f == float(d)
    units, ok = half_up_units(mant, scale, places)
    step = Decimal(1).scaleb(-places)
    for u, good, d in zip(units.tolist(), ok.tolist(), decimals, strict=True):
        assert not good or Decimal(u).scaleb(-places) == d.quantize(step, rounding=ROUND_HALF_UP)
