"""Golden cases of rebalance_portfolios (product-spec 2.5-2.8, 3.10, 3.11, §4 pitfalls)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.models import PortfolioResult, RebalanceOptions
from engine.rebalance import rebalance_portfolio, rebalance_portfolios
from engine.record import build_record, record_invariant_errors
from tests.unit.engine.support import model_of, pid, portfolio_of, sid

D = Decimal
A, B, X = sid(0xA), sid(0xB), sid(0xF0)
DAY = dt.date(2024, 5, 17)
OPTS = RebalanceOptions(trade_date=DAY)


def one(
    model_specs: list[tuple[str, str, str]],
    ids: list[str],
    prices: dict[str, str],
    cash: str,
    holdings: dict[str, str] | None = None,
    options: RebalanceOptions = OPTS,
) -> PortfolioResult:
    model = model_of(model_specs, ids)
    return rebalance_portfolio(model, {k: D(v) for k, v in prices.items()}, portfolio_of(cash, holdings), options)


def trades(r: PortfolioResult) -> list[tuple[str, str, Decimal]]:
    return [(t.transaction_type, t.security_id, t.quantity) for t in r.transactions]


def assert_record_sound(r: PortfolioResult) -> None:
    record = build_record(model_of([("0.05", "0", "0")], [A]).model_copy(update={"model_id": "a" * 24}), [r])
    assert record_invariant_errors(record.portfolios[0]) == []


def test_band_narrower_than_one_share_is_reported_infeasible_not_rounded() -> None:
    r = one([("0.05", "0", "0")], [A], {A: "33.33"}, "10000")
    assert r.status == "infeasible" and r.error_code == "REBALANCE_INFEASIBLE"
    assert r.transactions == () and r.drifts == () and r.positions == ()
    assert r.market_value == D("10000.000") and r.cash_before == D("10000")
    assert r.drift_before == D("500.00")
    assert A in (r.diagnosis or "") and "33.33" in (r.diagnosis or "")


def test_binding_cash_row_never_overspends() -> None:
    # MV 1000, two securities at 600, t 0.45, l 0.45, h 0.5: rounding alone buys 2 shares (−200 cash)
    r = one([("0.45", "0.45", "0.5"), ("0.45", "0.45", "0.5")], [A, B], {A: "600", B: "600"}, "1000")
    assert r.status == "optimal"
    assert len(r.transactions) == 1 and r.transactions[0].transaction_type == "BUY"
    assert r.transactions[0].quantity == 1
    assert r.cash_after == D("400.000") and r.cash_after >= 0
    assert r.portfolio_drift == D("600")  # |450 − 600| + |450 − 0|
    assert_record_sound(r)


def test_min_cash_option_is_a_floor_on_cash_after() -> None:
    opts = RebalanceOptions(min_cash=D("600"), trade_date=DAY)
    r = one([("0.5", "0.3", "0.3")], [A], {A: "10"}, "1000", options=opts)
    assert r.status == "optimal" and r.cash_after == D("600.000")  # 40 shares instead of 50
    assert trades(r) == [("BUY", A, D(40))]
    # the band minimum (20 shares, $200) no longer fits: 1000 − 800.5 leaves 199.5
    r = one([("0.5", "0.3", "0.3")], [A], {A: "10"}, "1000", options=RebalanceOptions(min_cash=D("800.5")))
    assert r.status == "infeasible" and "shortfall of $0.50" in (r.diagnosis or "")


def test_non_model_holdings_are_sold_and_get_drift_rows() -> None:
    r = one([("0.5", "0.1", "0.1")], [A], {A: "10", X: "10"}, "0", {X: "100"})
    assert r.status == "optimal"
    assert trades(r) == [("BUY", A, D(50)), ("SELL", X, D(100))]
    assert [(d.security_id, d.original_quantity, d.adjusted_quantity, d.target, d.actual) for d in r.drifts] == [
        (A, D(0), D(50), D("0.5"), D("0.5000")),
        (X, D(100), D(0), D(0), D("0.0000")),
    ]
    assert r.cash_after == D("500.000")
    assert_record_sound(r)


def test_short_positions_are_covered_with_buys() -> None:
    r = one([("0.5", "0.1", "0.1")], [A], {A: "10", X: "10"}, "1250", {A: "-20", X: "-5"})
    assert r.market_value == D("1000.000")
    assert trades(r) == [("BUY", A, D(70)), ("BUY", X, D(5))]
    assert r.drifts[0].original_quantity == D(-20) and r.drifts[0].adjusted_quantity == D(50)
    assert_record_sound(r)


def test_empty_portfolio_gets_no_trades_and_zeros() -> None:
    r = one([("0.5", "0.1", "0.1"), ("0.3", "0.1", "0.1")], [A, B], {A: "10", B: "20"}, "0")
    assert r.status == "optimal" and r.transactions == ()
    assert r.market_value == 0 and r.cash_after == 0 and r.portfolio_drift == 0
    assert [(d.security_id, d.adjusted_quantity, d.actual) for d in r.drifts] == [(A, 0, 0), (B, 0, 0)]
    assert [(p.actual, p.actual_drift) for p in r.positions] == [(0, 1), (0, 1)]  # 1 − 0/target
    assert [p.adjusted_position_market_value for p in r.positions] == [0, 0]


def test_zero_market_value_with_holdings_makes_no_trades() -> None:
    r = one([("0.5", "0.1", "0.1")], [A], {A: "10"}, "-100", {A: "10"})
    assert r.status == "optimal" and r.transactions == ()
    assert r.drifts[0].adjusted_quantity == 10 and r.drifts[0].actual == 0
    assert r.cash_after == D("-100.000")


def test_negative_market_value_is_an_error() -> None:
    r = one([("0.5", "0.1", "0.1")], [A], {A: "10"}, "-100", {A: "5"})
    assert r.status == "error" and r.error_code == "NON_POSITIVE_MARKET_VALUE"
    assert "cannot rebalance a portfolio with non-positive market value" in (r.diagnosis or "")
    assert r.market_value == D("-50.000")


def test_fractional_holding_gives_a_fractional_trade() -> None:
    r = one([("0.5", "0.1", "0.1")], [A], {A: "10"}, "895", {A: "10.5"})
    assert trades(r) == [("BUY", A, D("39.5"))]
    assert r.positions[0].trade_quantity == D("39.5")


def test_actual_is_rounded_half_up_to_four_places_and_full_in_the_record() -> None:
    # u' = 1 share at 123.45 of MV 1000: actual 0.12345 exactly
    r = one([("0.125", "0.025", "0.025")], [A], {A: "123.45"}, "1000")
    assert r.drifts[0].actual == D("0.1235")
    assert r.positions[0].actual == D("0.12345")
    assert r.positions[0].actual_drift == D("1") - D("0.12345") / D("0.125")
    assert r.positions[0].trade_date == DAY and r.transactions[0].trade_date == DAY


def test_data_errors_fail_only_their_portfolio() -> None:
    model = model_of([("0.5", "0.1", "0.1")], [A])
    prices = {A: D("10")}
    ports = [
        portfolio_of("1000", portfolio_id=pid(1)),
        portfolio_of("1000", {X: "3"}, portfolio_id=pid(2)),  # X has no price
        portfolio_of("1000", portfolio_id=pid(3)),
    ]
    dup = ports[0].model_copy(update={"portfolio_id": pid(4), "holdings": ports[1].holdings * 2})
    results = rebalance_portfolios(model, prices, [*ports, dup], OPTS, workers=1)
    assert [r.portfolio_id for r in results] == [pid(1), pid(2), pid(3), pid(4)]
    assert [r.status for r in results] == ["optimal", "error", "optimal", "error"]
    assert results[1].error_code == "EXTERNAL_DATA_ERROR" and X in (results[1].diagnosis or "")
    assert "more than once" in (results[3].diagnosis or "")


@pytest.mark.parametrize(
    ("specs", "prices", "code", "needle"),
    [
        ([("0.97", "0.1", "0.1")], {A: "10"}, "INVALID_INPUT", "target 0.97"),
        ([("0.5", "0.1", "1.5")], {A: "10"}, "INVALID_INPUT", "highDrift 1.5"),
        ([("0.5", "0.1", "0.1")], {}, "EXTERNAL_DATA_ERROR", A),
        ([("0.5", "0.1", "0.1")], {A: "0"}, "EXTERNAL_DATA_ERROR", A),
    ],
)
def test_batch_level_errors_reach_every_portfolio(
    specs: list[tuple[str, str, str]], prices: dict[str, str], code: str, needle: str
) -> None:
    model = model_of(specs, [A])
    results = rebalance_portfolios(
        model, {k: D(v) for k, v in prices.items()}, [portfolio_of("1", portfolio_id=pid(i)) for i in range(3)]
    )
    assert [r.status for r in results] == ["error"] * 3
    assert all(r.error_code == code and needle in (r.diagnosis or "") for r in results)


def test_negative_min_cash_is_rejected() -> None:
    r = one([("0.5", "0.1", "0.1")], [A], {A: "10"}, "1000", options=RebalanceOptions(min_cash=D("-1")))
    assert r.status == "error" and r.error_code == "INVALID_INPUT" and "minimum cash" in (r.diagnosis or "")


def test_duplicate_model_securities_break_a_rule() -> None:
    r = one([("0.3", "0.1", "0.1"), ("0.3", "0.1", "0.1")], [A, A], {A: "10"}, "1000")
    assert r.status == "error" and "already appears" in (r.diagnosis or "")


def test_zero_target_positions_are_ignored() -> None:
    r = one([("0.5", "0.1", "0.1"), ("0", "0.1", "0.1")], [A, B], {A: "10"}, "1000")
    assert r.status == "optimal" and [d.security_id for d in r.drifts] == [A]


def test_progress_reports_every_portfolio_and_cancel_marks_the_rest() -> None:
    model = model_of([("0.5", "0.1", "0.1")], [A])
    ports = [portfolio_of(str(1000 + i), portfolio_id=pid(i)) for i in range(300)]
    seen: list[tuple[int, int]] = []
    results = rebalance_portfolios(model, {A: D(10)}, ports, OPTS, progress=lambda d, t: seen.append((d, t)))
    assert len(results) == 300 and all(r.status == "optimal" for r in results)
    assert seen[-1] == (300, 300) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 1  # after the first chunk

    results = rebalance_portfolios(model, {A: D(10)}, ports, OPTS, cancel=cancel)
    assert len(results) == 300 and [r.portfolio_id for r in results] == [p.portfolio_id for p in ports]
    statuses = [r.error_code or r.status for r in results]
    assert statuses[0] == "optimal" and statuses[-1] == "CANCELLED"


def test_default_trade_date_is_today_in_utc() -> None:
    r = one([("0.5", "0.1", "0.1")], [A], {A: "10"}, "1000", options=RebalanceOptions())
    assert r.transactions[0].trade_date == dt.datetime.now(dt.UTC).date()


def test_without_positions_skips_the_record_draft() -> None:
    model = model_of([("0.5", "0.1", "0.1")], [A])
    (r,) = rebalance_portfolios(model, {A: D(10)}, [portfolio_of("1000")], OPTS, with_positions=False)
    assert r.status == "optimal" and r.positions == () and len(r.drifts) == 1


def test_results_serialise_with_camel_case_aliases() -> None:
    r = one([("0.5", "0.1", "0.1")], [A], {A: "10"}, "1000")
    dumped = r.model_dump(by_alias=True)
    assert dumped["cashAfter"] == D("500.000")
    assert dumped["drifts"][0]["adjustedQuantity"] == D(50)
    assert dumped["positions"][0]["actualDrift"] == D(0)
    assert PortfolioResult.model_validate(dumped) == r


def test_cash_floor_in_percent_of_mv_matches_separate_runs_with_that_amount() -> None:
    # each portfolio its own floor max(min_cash, fraction * MV), all solved in one call
    model = model_of([("0.5", "0.3", "0.3"), ("0.4", "0.1", "0.1")], [A, B])
    prices = {A: D("10"), B: D("7.30")}
    ports = [portfolio_of(str(1000 + 3700 * i), portfolio_id=pid(i)) for i in range(6)]
    opts = OPTS.model_copy(update={"min_cash": D("300"), "min_cash_fraction": D("0.0725")})
    together = rebalance_portfolios(model, prices, ports, opts)
    assert [r.status for r in together] == ["optimal"] * 6
    floors = []
    for p, r in zip(ports, together, strict=True):
        floor = max(D("300"), D(p.cash) * D("0.0725"))
        floors.append(floor)
        alone = rebalance_portfolio(model, prices, p, OPTS.model_copy(update={"min_cash": floor}))
        assert alone == r
        assert r.cash_after is not None and r.cash_after >= floor
    assert floors[0] == D("300") and floors[5] == D("1413.75")  # the amount, then the fraction, applies


def test_cash_floor_in_percent_of_mv_can_make_a_portfolio_infeasible_alone() -> None:
    model = model_of([("0.5", "0", "0")], [A])
    ports = [portfolio_of("1000", portfolio_id=pid(0)), portfolio_of("1000", {A: "100"}, portfolio_id=pid(1))]
    # pid(1): MV 2000, target 1000 exact; a floor of 60 % of MV (1200) leaves 800 < 1000 -> infeasible
    res = rebalance_portfolios(model, {A: D(10)}, ports, OPTS.model_copy(update={"min_cash_fraction": D("0.5")}))
    assert [r.status for r in res] == ["optimal", "optimal"]
    res = rebalance_portfolios(model, {A: D(10)}, ports, OPTS.model_copy(update={"min_cash_fraction": D("0.6")}))
    assert [r.status for r in res] == ["infeasible", "infeasible"]


@pytest.mark.parametrize(
    ("field", "value", "words"), [("min_cash", "-1", "minimum cash -1"), ("min_cash_fraction", "-0.01", "fraction")]
)
def test_a_negative_cash_floor_option_fails_every_portfolio_naming_it(field, value, words) -> None:
    model = model_of([("0.5", "0.1", "0.1")], [A])
    ports = [portfolio_of("1000", portfolio_id=pid(i)) for i in range(2)]
    res = rebalance_portfolios(model, {A: D(10)}, ports, OPTS.model_copy(update={field: D(value)}))
    assert [r.error_code for r in res] == ["INVALID_INPUT"] * 2
    assert all("must not be negative" in (r.diagnosis or "") and words in (r.diagnosis or "") for r in res)


@pytest.mark.parametrize(
    ("mv", "amount", "fraction", "expected"),
    [
        ("100000", "1000", "0.02", "2000.00"),  # 2 % of MV beats the amount
        ("10000", "1000", "0.02", "1000"),  # the amount beats 2 % of MV
        ("0", "500", "0.5", "500"),
        ("100000", "0", "0.0137", "1370.0000"),  # exact, no rounding
        ("-50", "0", "0.1", "0"),
    ],
)
def test_min_cash_is_the_greater_of_amount_and_fraction(mv, amount, fraction, expected):
    options = RebalanceOptions(min_cash=D(amount), min_cash_fraction=D(fraction))
    assert options.cash_floor(D(mv)) == D(expected)
