"""The saved-record draft (product-spec 2.8, 3.8) and its invariants."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.errors import InvalidInput
from engine.models import RebalanceOptions
from engine.rebalance import rebalance_portfolios
from engine.record import build_record, record_invariant_errors
from tests.unit.engine.support import model_of, pid, portfolio_of, sid

D = Decimal
A, B, X = sid(0xA), sid(0xB), sid(0xF0)
PRICES = {A: D("10.0001"), B: D("33.33"), X: D("7.77")}


def test_record_keeps_only_optimal_portfolios_with_every_security() -> None:
    model = model_of([("0.5", "0.1", "0.1"), ("0.3", "0.05", "0.05")], [A, B]).model_copy(
        update={"model_id": "f" * 24, "name": "Growth"}
    )
    ports = [
        portfolio_of("1000", {X: "3.5"}, portfolio_id=pid(1)),
        portfolio_of("100", {A: "-50"}, portfolio_id=pid(2)),  # MV < 0: error, not saved
        portfolio_of("0", portfolio_id=pid(3)),
    ]
    results = rebalance_portfolios(model, PRICES, ports, RebalanceOptions(trade_date=dt.date(2024, 1, 2)))
    assert [r.status for r in results] == ["optimal", "error", "optimal"]
    when = dt.datetime(2024, 1, 2, 15, 30)
    record = build_record(model, results, when)
    assert record.model_id == "f" * 24 and record.model_name == "Growth" and record.version == 1
    assert record.rebalance_date == when.replace(tzinfo=dt.UTC)
    assert [p.portfolio_id for p in record.portfolios] == [pid(1), pid(3)]
    assert record.number_of_portfolios == 2
    first = record.portfolios[0]
    assert [p.security_id for p in first.positions] == [A, B, X]
    sold = first.positions[2]
    assert (sold.transaction_type, sold.trade_quantity, sold.adjusted_quantity, sold.target) == ("SELL", D("3.5"), 0, 0)
    assert sold.original_position_market_value == D("3.5") * D("7.77")
    assert sold.trade_date == dt.date(2024, 1, 2)
    for portfolio in record.portfolios:
        assert record_invariant_errors(portfolio) == []
    dumped = record.model_dump(by_alias=True)
    assert set(dumped["portfolios"][0]["positions"][0]) >= {
        "securityId",
        "price",
        "originalQuantity",
        "adjustedQuantity",
        "originalPositionMarketValue",
        "adjustedPositionMarketValue",
        "target",
        "highDrift",
        "lowDrift",
        "actual",
        "actualDrift",
        "transactionType",
        "tradeQuantity",
        "tradeDate",
    }


def test_invariants_hold_with_prices_finer_than_a_mill() -> None:
    # 10.0001 per share: u·p has 4 decimals, MV is rounded to 3 — cash after still closes the books exactly
    model = model_of([("0.5", "0.1", "0.1")], [A]).model_copy(update={"model_id": "f" * 24})
    ports = [portfolio_of("0.0004", {A: "7"}, portfolio_id=pid(1))]
    (r,) = rebalance_portfolios(model, PRICES, ports)
    assert r.market_value == D("70.001")  # 70.0007 -> 70.001, + 0.0004 -> 70.0014 -> 70.001
    record = build_record(model, [r])
    assert record_invariant_errors(record.portfolios[0]) == []
    assert r.cash_after == r.market_value - sum(p.adjusted_position_market_value for p in r.positions)


def test_invariant_check_catches_a_tampered_record() -> None:
    model = model_of([("0.5", "0.1", "0.1")], [A]).model_copy(update={"model_id": "f" * 24})
    (r,) = rebalance_portfolios(model, PRICES, [portfolio_of("1000")])
    portfolio = build_record(model, [r]).portfolios[0]
    bad = portfolio.model_copy(update={"cash_after_rebalance": portfolio.cash_after_rebalance + D("0.01")})
    assert any("cash after" in e for e in record_invariant_errors(bad))
    pos = portfolio.positions[0]
    bad = portfolio.model_copy(update={"positions": (pos.model_copy(update={"actual_drift": pos.actual - 1}),)})
    assert any("actualDrift" in e for e in record_invariant_errors(bad))


def test_record_needs_a_saved_model_and_the_draft() -> None:
    model = model_of([("0.5", "0.1", "0.1")], [A])
    (r,) = rebalance_portfolios(model, PRICES, [portfolio_of("1000")])
    with pytest.raises(InvalidInput, match="no id"):
        build_record(model, [r])
    (lean,) = rebalance_portfolios(model, PRICES, [portfolio_of("1000")], with_positions=False)
    with pytest.raises(InvalidInput, match="no record draft"):
        build_record(model.model_copy(update={"model_id": "f" * 24}), [lean])
