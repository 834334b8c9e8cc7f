"""The trade-control views of results (issue #11): comparison metrics (engine.scenarios), the blotter's reasons,
"not traded" rows and the optional CSV column (engine.orders), the record's options and relaxed portfolios
(engine.record), and ``RebalanceOptions`` <-> ``TradeControls``.

Results come from the real engine; a ``relaxed`` status or a ``kept_by`` is put on them here (CONSTRUCTED) because
the engine side of #11 computes those; these tests pin what the views do with them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from engine.models import BandBreach, InvestmentModel, RebalanceOptions, TradeControls
from engine.orders import ORDER_CSV_COLUMNS, not_traded_rows, order_rows, orders_to_csv
from engine.rebalance import rebalance_portfolios
from engine.record import build_record
from engine.scenarios import SMALL_ORDER, portfolio_metrics, summarise
from tests.unit.engine.support import model_of, pid, portfolio_of, sid

DAY = dt.date(2026, 12, 7)
MODEL = model_of([("0.30", "0.02", "0.02"), ("0.30", "0.02", "0.02"), ("0.30", "0.02", "0.02")]).model_copy(
    update={"model_id": "65a000000000000000000001"}
)
PRICES = {sid(0): D("10"), sid(1): D("250"), sid(2): D("3.5")}


def results():
    """Two optimal portfolios from the engine: one from cash, one already near target."""
    portfolios = [
        portfolio_of("10000", {}, pid(1)),
        portfolio_of("1000", {sid(0): "300", sid(1): "12", sid(2): "850"}, pid(2)),
    ]
    return rebalance_portfolios(MODEL, PRICES, portfolios, RebalanceOptions(trade_date=DAY))


def relaxed(result, amount="120.5"):
    """CONSTRUCTED: the result as a 'relaxed' (nearest feasible) answer with one breached band."""
    breach = BandBreach(security_id=sid(1), side="high", amount=D(amount))
    return result.model_copy(update={"status": "relaxed", "band_breaches": (breach,)})


def test_small_orders_count_trades_under_500_exactly():
    rs = results()
    m = [portfolio_metrics(r) for r in rs]
    for r, metrics in zip(rs, m, strict=True):
        values = [abs(p.adjusted_position_market_value - p.original_position_market_value) for p in r.positions]
        assert metrics.small_orders == sum(1 for v in values if 0 < v < SMALL_ORDER)
    assert summarise(m).small_orders == sum(x.small_orders for x in m)


def test_a_relaxed_result_is_rebalanced_and_counts_its_breach():
    first, second = results()
    s = summarise([portfolio_metrics(relaxed(first)), portfolio_metrics(relaxed(second, "0.5"))])
    assert (s.optimal, s.relaxed, s.failed, s.infeasible) == (0, 2, 0, 0)
    assert s.band_breach == D("121.0")
    assert s.orders == len(first.transactions) + len(second.transactions)  # its orders count as tickets
    assert s.turnover == summarise([portfolio_metrics(first), portfolio_metrics(second)]).turnover


def test_relaxed_orders_are_in_the_blotter_marked_and_in_the_optional_reason_column():
    first, second = results()
    rows = order_rows([relaxed(first), second], {sid(0): "AAA", sid(1): "BBB", sid(2): "CCC"})
    assert {r.portfolio_id for r in rows if r.relaxed} == {first.portfolio_id}
    plain = list(csv.reader(io.StringIO(orders_to_csv(rows).decode())))
    assert tuple(plain[0]) == ORDER_CSV_COLUMNS  # default CSV unchanged
    with_reasons = list(csv.reader(io.StringIO(orders_to_csv(rows, with_reasons=True).decode())))
    assert tuple(with_reasons[0]) == (*ORDER_CSV_COLUMNS, "reason")
    assert [r[:-1] for r in with_reasons] == plain  # the same columns, the reason appended last
    for row, line in zip(rows, with_reasons[1:], strict=True):
        assert line[-1].startswith(row.reason) and line[-1]
        assert ("nearest feasible" in line[-1]) is row.relaxed


def test_not_traded_rows_list_positions_kept_by_a_control():
    first, second = results()
    untraded = next(d for d in second.drifts if d.adjusted_quantity == d.original_quantity)
    drifts = tuple(d.model_copy(update={"kept_by": "min-trade"}) if d is untraded else d for d in second.drifts)
    kept = second.model_copy(update={"drifts": drifts})  # CONSTRUCTED kept_by
    (row,) = not_traded_rows([first, kept], {untraded.security_id: "TKR"})
    assert (row.portfolio_id, row.security_id, row.ticker, row.kept_by) == (
        second.portfolio_id,
        untraded.security_id,
        "TKR",
        "min-trade",
    )
    assert row.control == "below the minimum trade" and row.weight == untraded.actual
    failed = kept.model_copy(update={"status": "error"})
    assert not_traded_rows([failed]) == []  # a portfolio that was not rebalanced has no "not traded" list


def test_the_record_keeps_the_options_and_relaxed_portfolios_with_their_breaches():
    first, second = results()
    options = RebalanceOptions(min_cash=D("5"), trade_date=DAY).with_controls(
        TradeControls(trade_policy="out-of-band", min_trade_value=D("1000"), no_trade=(sid(2),))
    )
    record = build_record(MODEL, [relaxed(first), second], options=options)
    assert record.options == options
    assert [p.portfolio_id for p in record.portfolios] == [first.portfolio_id, second.portfolio_id]
    assert record.portfolios[0].band_breaches == relaxed(first).band_breaches
    assert record.portfolios[1].band_breaches == ()


controls = st.builds(
    TradeControls,
    trade_policy=st.sampled_from(["all", "out-of-band"]),
    min_trade_value=st.decimals(min_value=0, max_value=10**9, places=2),
    no_buy=st.lists(st.sampled_from([sid(i) for i in range(5)]), unique=True).map(tuple),
    no_sell=st.lists(st.sampled_from([sid(i) for i in range(5)]), unique=True).map(tuple),
    no_trade=st.lists(st.sampled_from([sid(i) for i in range(5)]), unique=True).map(tuple),
    direction=st.sampled_from(["both", "buy-only", "sell-only"]),
    on_infeasible=st.sampled_from(["flag", "nearest"]),
)


@given(controls, st.decimals(min_value=0, max_value=10**6, places=2))
def test_options_and_controls_round_trip(c, min_cash):
    options = RebalanceOptions(min_cash=min_cash, time_limit=7.0).with_controls(c)
    assert options.controls == c
    assert options.min_cash == min_cash and options.time_limit == 7.0  # the rest of the run is kept
    assert InvestmentModel(name="m", controls=c).controls == c
