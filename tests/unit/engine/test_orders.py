"""engine.orders: blotter rows and reasons, aggregation, totals, CSV bytes with formula neutralisation."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal as D

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.models import PortfolioResult, RecordPosition, Transaction
from engine.orders import (
    AGGREGATE_CSV_COLUMNS,
    ORDER_CSV_COLUMNS,
    OrderRow,
    aggregate_orders,
    aggregated_to_csv,
    neutralise_cell,
    order_reason,
    order_rows,
    orders_to_csv,
    record_order_rows,
    side_totals,
)

DAY = dt.date(2026, 3, 2)
A, B, C, X = "a" * 24, "b" * 24, "c" * 24, "d" * 24


def pos(sid, price, before, after, target, low, high, mv):
    """A record position with values computed the way the engine does (value = quantity × price)."""
    price, before, after = D(price), D(before), D(after)
    delta = after - before
    return RecordPosition(
        security_id=sid,
        price=price,
        original_quantity=before,
        adjusted_quantity=after,
        original_position_market_value=before * price,
        adjusted_position_market_value=after * price,
        target=D(target),
        low_drift=D(low),
        high_drift=D(high),
        actual=after * price / D(mv),
        actual_drift=(1 - after * price / D(mv) / D(target)) if D(target) else D(0),
        transaction_type=None if delta == 0 else ("BUY" if delta > 0 else "SELL"),
        trade_quantity=None if delta == 0 else abs(delta),
        trade_date=None if delta == 0 else DAY,
    )


def result(pid, name, mv, positions, status="optimal"):
    txs = tuple(
        Transaction(
            transaction_type=p.transaction_type, security_id=p.security_id, quantity=p.trade_quantity, trade_date=DAY
        )
        for p in positions
        if p.transaction_type
    )
    return PortfolioResult(
        portfolio_id=pid,
        portfolio_name=name,
        status=status,
        market_value=D(mv),
        cash_before=D(0),
        cash_after=D(0),
        transactions=txs,
        positions=tuple(positions),
    )


@pytest.fixture
def results():
    mv = "10000"
    p1 = result(
        "p" * 24,
        "Growth Fund A",
        mv,
        [
            # weight before 0.331 vs band [0.28, 0.31] -> 2.1 pp above the upper band
            pos(A, "33.10", 100, 91, "0.30", "0.02", "0.01", mv),
            # weight before 0.10 vs band [0.15, 0.25] -> 5.0 pp below the lower band
            pos(B, "10", 100, 200, "0.20", "0.05", "0.05", mv),
            pos(X, "50", 10, 0, "0", "0", "0", mv),  # not in the model
            pos(C, "20", 0, 0, "0.10", "0.10", "0.10", mv),  # no trade -> no order row
        ],
    )
    p2 = result(
        "q" * 24,
        '=HYPERLINK("http://x")',
        "5000",
        [
            pos(A, "33.10", -40, 45, "0.30", "0.02", "0.01", "5000"),
            pos(B, "10", 90, 100, "0.20", "0.05", "0.05", "5000"),
        ],
    )
    failed = PortfolioResult(portfolio_id="r" * 24, status="infeasible", diagnosis="band narrower than a share")
    return [p1, p2, failed]


def test_one_row_per_transaction_of_optimal_results(results):
    rows = order_rows(results, tickers={A: "AAPL", B: "BRK.B"})
    assert [(r.portfolio_id[0], r.security_id[0], r.transaction_type, r.quantity) for r in rows] == [
        ("p", "a", "SELL", D(9)),
        ("p", "b", "BUY", D(100)),
        ("p", "d", "SELL", D(10)),
        ("q", "a", "BUY", D(85)),
        ("q", "b", "BUY", D(10)),
    ]
    first = rows[0]
    assert first.price == D("33.10") and first.estimated_value == D("297.90")
    assert first.ticker == "AAPL" and rows[2].ticker is None
    assert first.weight_before == D("0.331") and first.weight_after == D("0.30121") and first.target == D("0.30")
    assert rows[3].covers_short and not rows[0].covers_short


def test_reasons_name_the_band_and_the_distance(results):
    rows = order_rows(results)
    assert rows[0].reason == "2.1 pp above upper band"
    assert rows[1].reason == "5.0 pp below lower band"
    assert rows[2].reason == "not in the model: sell all"
    assert rows[3].reason.startswith("covers a short of 40; ") and "below lower band" in rows[3].reason
    # 90 x 10 / 5000 = 0.18: inside [0.15, 0.25], 2 pp under the 0.20 target
    assert rows[4].reason == "in band, 2.0 pp below target"


def test_small_distances_keep_two_decimals():
    p = pos(A, "1", 2999, 3000, "0.30", "0.05", "0.05", "10000")  # 0.2999 -> 0.01 pp below target
    assert order_reason(p, D(10000)) == "in band, 0.01 pp below target"
    assert order_reason(p, D(0)) == "empty portfolio"


def test_price_falls_back_to_the_snapshot_without_record_positions():
    res = PortfolioResult(
        portfolio_id="p" * 24,
        status="optimal",
        market_value=D(100),
        transactions=(Transaction(transaction_type="BUY", security_id=A, quantity=D("2.5"), trade_date=DAY),),
    )
    (row,) = order_rows([res], prices={A: D("4.20")})
    assert row.price == D("4.20") and row.estimated_value == D("10.500") and row.fractional and row.reason == ""
    (no_price,) = order_rows([res])
    assert no_price.price is None and no_price.estimated_value is None


def test_aggregate_sums_per_security_and_side_buys_first(results):
    blocks = aggregate_orders(order_rows(results, tickers={A: "AAPL", B: "BRK.B"}))
    got = [(b.ticker, b.transaction_type, b.quantity, b.estimated_value, b.portfolio_count) for b in blocks]
    assert got == [
        ("AAPL", "BUY", D(85), D("2813.50"), 1),
        ("BRK.B", "BUY", D(110), D(1100), 2),
        ("AAPL", "SELL", D(9), D("297.90"), 1),
        (None, "SELL", D(10), D(500), 1),
    ]
    assert blocks[1].price == D(10)


def test_aggregate_price_is_value_weighted_when_rows_disagree():
    rows = [
        order_rows([result("p" * 24, "x", "1000", [pos(A, "10", 0, 10, "0.1", "0", "0", "1000")])])[0],
        order_rows([result("q" * 24, "y", "1000", [pos(A, "20", 0, 10, "0.2", "0", "0", "1000")])])[0],
    ]
    (block,) = aggregate_orders(rows)
    assert block.quantity == 20 and block.estimated_value == 300 and block.price == 15


def test_side_totals(results):
    totals = side_totals(order_rows(results))
    assert totals["BUY"].orders == 3 and totals["BUY"].quantity == 195
    assert totals["BUY"].estimated_value == D("1000") + D("2813.50") + D("100")
    assert totals["SELL"].orders == 2 and totals["SELL"].estimated_value == D("797.90")
    assert side_totals([])["SELL"].orders == 0


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_orders_csv_columns_and_exact_values(results):
    rows = order_rows(results, tickers={A: "AAPL", B: "BRK.B"})
    table = parse(orders_to_csv(rows))
    assert tuple(table[0]) == ORDER_CSV_COLUMNS
    assert len(table) == 1 + len(rows)
    assert table[1] == ["", "p" * 24, "Growth Fund A", A, "AAPL", "SELL", "9", "33.10", "297.90", "2026-03-02"]
    # a formula-looking portfolio name is neutralised, numbers are untouched
    assert table[4][2] == '\'=HYPERLINK("http://x")' and table[4][6:9] == ["85", "33.10", "2813.50"]
    assert orders_to_csv(rows).endswith(b"\r\n")


def test_orders_csv_carries_the_saved_rebalance_id(results):
    table = parse(orders_to_csv(order_rows(results), rebalance_id="f" * 24))
    assert {r[0] for r in table[1:]} == {"f" * 24}


def test_aggregated_csv(results):
    blocks = aggregate_orders(order_rows(results, tickers={A: "AAPL", B: "-BRK"}))
    table = parse(aggregated_to_csv(blocks))
    assert tuple(table[0]) == AGGREGATE_CSV_COLUMNS
    assert table[1] == ["", B, "'-BRK", "BUY", "110", "10", "1100.00", "2", "2026-03-02"]
    assert len(table) == 1 + len(blocks)


def test_csv_number_formats_are_fixed_money_to_the_cent_half_up_prices_as_given():
    """Issue 14 item 15: a fractional order's value is rounded half-up to the cent; the row keeps it exact."""
    res = result("p" * 24, "Frac", "1000", [pos(A, "98.7", 0, "0.125", "0.01", "0.01", "0.01", "1000")])
    (row,) = order_rows([res], tickers={A: "AAPL"})
    assert row.quantity == D("0.125") and row.estimated_value == D("12.3375")
    (line,) = parse(orders_to_csv([row]))[1:]
    assert line[6:9] == ["0.125", "98.7", "12.34"]  # quantity as is, price as given, money half-up to the cent
    (block,) = parse(aggregated_to_csv(aggregate_orders([row])))[1:]
    assert block[4:7] == ["0.125", "98.7", "12.34"]


def test_block_orders_net_buy_and_sell_of_a_security_on_request():
    """Issue 14 item 16: netted blocks; the per-portfolio rows keep both legs."""
    day = dt.date(2026, 3, 2)

    def row(pid, side, qty, price="10"):
        q, p = D(qty), D(price)
        return OrderRow(None, pid, None, A, "AAPL", side, q, p, q * p, day, "")

    rows = [row("p1", "BUY", "30"), row("p2", "SELL", "12"), row("p3", "BUY", "2")]
    assert [(b.transaction_type, b.quantity) for b in aggregate_orders(rows)] == [("BUY", D(32)), ("SELL", D(12))]
    (netted,) = aggregate_orders(rows, net=True)
    assert (netted.transaction_type, netted.quantity, netted.estimated_value, netted.portfolio_count) == (
        "BUY",
        D(20),
        D(200),
        3,
    )
    (sell,) = aggregate_orders([row("p1", "BUY", "5"), row("p2", "SELL", "8")], net=True)
    assert (sell.transaction_type, sell.quantity, sell.estimated_value) == ("SELL", D(3), D(30))
    assert aggregate_orders([row("p1", "BUY", "5"), row("p2", "SELL", "5")], net=True) == []


def test_empty_csv_is_just_the_header():
    assert parse(orders_to_csv([])) == [list(ORDER_CSV_COLUMNS)]


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "＝1"])
def test_neutralise_prefixes_formula_triggers(text):
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["", "Growth", "1.5", "a=b", "'quoted"])
def test_neutralise_leaves_plain_text(text):
    assert neutralise_cell(text) == text


@given(st.text(max_size=30))
@example("\n=")  # a trigger after a line break is neutralised too (issue #13 item 5)
def test_csv_round_trip_never_starts_a_cell_with_a_trigger(name):
    res = result("p" * 24, name, "1000", [pos(A, "10", 0, 1, "0.01", "0.01", "0.01", "1000")])
    (row,) = parse(orders_to_csv(order_rows(res and [res])))[1:]
    cell = row[2]
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    first = name.lstrip(" \n\ufeff\u200b\u200c\u200d\u2060\u00a0")[:1]  # what a spreadsheet looks at first
    assert cell == name or (cell == "'" + name and first != "" and first in "=+-@\t\r＝＋－＠")


def test_saved_record_orders_match_the_what_if_rows(results):
    from engine.models import RebalanceRecord, RecordPortfolio

    optimal = [r for r in results if r.status == "optimal"]
    record = RebalanceRecord(
        rebalance_id="f" * 24,
        model_id="e" * 24,
        model_name="Core",
        rebalance_date=dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC),
        portfolios=tuple(
            RecordPortfolio(
                portfolio_id=r.portfolio_id,
                portfolio_name=None,
                market_value=r.market_value,
                cash_before_rebalance=r.cash_before,
                cash_after_rebalance=r.cash_after,
                positions=r.positions,
            )
            for r in optimal
        ),
    )
    names = {r.portfolio_id: r.portfolio_name for r in optimal}
    saved = record_order_rows(record, tickers={A: "AAPL"}, portfolio_names=names)
    live = order_rows(optimal, tickers={A: "AAPL"}, rebalance_id="f" * 24)
    assert parse(orders_to_csv(saved)) == parse(orders_to_csv(live))
    assert [r.reason for r in saved] == [r.reason for r in live]


def test_readable_diagnosis_names_tickers_and_percents():
    """Issue 14 item 17: the reason a portfolio was not rebalanced, in a PM's terms."""
    from engine.orders import readable_diagnosis

    text = (
        f"no feasible solution exists for portfolio {'p' * 24} (market value $1,000.00): security {A}: its band "
        "$0.00 to $100.00 (target 0.05, low drift 0.015, high drift 1) holds no whole share at price $500"
    )
    assert readable_diagnosis(text, {A: "AAPL"}) == (
        "no feasible solution exists for this portfolio (market value $1,000.00): AAPL: its band $0.00 to $100.00 "
        "(target 5.0 %, low drift 1.5 %, high drift 100.0 %) holds no whole share at price $500"
    )


def test_readable_diagnosis_names_the_securities_of_trade_control_diagnoses_by_ticker():
    """Diagnoses under trade controls (product-spec 2.12) name securities by bare id ("closing <id>'s gap", "sales of
    <id> (noSell)"): a PM reads the ticker; an id with no known ticker stays as it is."""
    from engine.models import Holding, InvestmentModel, PortfolioHoldings, Position, RebalanceOptions
    from engine.orders import readable_diagnosis
    from engine.rebalance import rebalance_portfolios

    model = InvestmentModel(
        name="m",
        positions=(
            Position(security_id=A, target=D("0.5"), low_drift=D("0.05"), high_drift=D("0.05")),
            Position(security_id=B, target=D("0.4"), low_drift=D("0.05"), high_drift=D("0.05")),
        ),
    )
    prices = {A: D(10), B: D(10)}
    short_of_a = PortfolioHoldings(
        portfolio_id="p" * 24, cash=D(5600), holdings=(Holding(security_id=A, quantity=D(440)),)
    )
    held = PortfolioHoldings(
        portfolio_id="q" * 24,
        cash=D(0),
        holdings=(Holding(security_id=A, quantity=D(500)), Holding(security_id=B, quantity=D(500))),
    )
    (gap,) = rebalance_portfolios(model, prices, [short_of_a], RebalanceOptions(min_trade_value=D(2000)))
    (floor,) = rebalance_portfolios(model, prices, [held], RebalanceOptions(no_sell=(A, B), min_cash_fraction=D("0.2")))
    assert gap.status == floor.status == "infeasible"
    assert f"closing {A}'s gap" in gap.diagnosis  # the engine's text stays id-based
    tickers = {A: "AAPL", B: "MSFT"}
    assert readable_diagnosis(gap.diagnosis, tickers) == (
        "no feasible solution exists for this portfolio: closing AAPL's gap needs a $100.00 trade; the minimum trade "
        "is $2,000.00 and the band allows at most $1,100.00 more"
    )
    shown = readable_diagnosis(floor.diagnosis, tickers)
    assert shown.endswith("it needs sales of AAPL (noSell), MSFT (noSell)") and A not in shown and B not in shown
    assert readable_diagnosis(floor.diagnosis, {A: "AAPL"}).endswith(f"sales of AAPL (noSell), {B} (noSell)")
