"""Drift analytics of current holdings (product-spec 2.11)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from engine.drift import analyse_drift
from tests.unit.engine.support import model_of, pid, portfolio_of, sid

D = Decimal
A, B, X = sid(0xA), sid(0xB), sid(0xF0)
MODEL = model_of([("0.5", "0.1", "0.1"), ("0.3", "0.05", "0")], [A, B])
PRICES = {A: D(10), B: D(20), X: D(5)}


def test_weights_drifts_bands_and_totals() -> None:
    report = analyse_drift(MODEL, PRICES, [portfolio_of("250", {A: "30", B: "20", X: "10"})])
    (p,) = report.portfolios
    assert p.error is None
    assert (p.market_value, p.cash_weight, p.drift_weight, p.drift_dollars) == (
        D("1000.000"),
        D("0.25"),
        D("0.35"),
        D("350"),
    )
    assert (p.out_of_band, p.needs_rebalance) == (3, True)
    rows = {r.security_id: r for r in report.rows}
    a, b, x = rows[A], rows[B], rows[X]
    assert (a.weight, a.drift, a.band_low, a.band_high, a.position, a.in_band) == (
        D("0.3"),
        D("-0.2"),
        D("0.4"),
        D("0.6"),
        -1,
        False,
    )
    assert a.relative_drift == D(-2) and a.value == D(300) and a.in_model
    assert (b.weight, b.position, b.relative_drift) == (D("0.4"), 1, None)  # high drift 0: no width above
    assert (x.target, x.weight, x.position, x.in_model, x.relative_drift) == (D(0), D("0.05"), 1, False, None)
    assert [r.security_id for r in report.rows_for(pid(0))] == [A, B, X]


def test_band_edges_are_inside() -> None:
    # A at exactly 40 % (lower edge), B at exactly 30 % (upper edge, high drift 0)
    report = analyse_drift(MODEL, PRICES, [portfolio_of("300", {A: "40", B: "15"})])
    assert [r.in_band for r in report.rows] == [True, True]
    assert report.portfolios[0].needs_rebalance is False
    assert report.rows[0].relative_drift == D(-1)


def test_empty_portfolio_has_zero_weights_and_needs_nothing() -> None:
    report = analyse_drift(MODEL, PRICES, [portfolio_of("0")])
    (p,) = report.portfolios
    assert (p.market_value, p.cash_weight, p.needs_rebalance, p.drift_dollars) == (D("0.000"), 0, False, 0)
    assert [r.weight for r in report.rows] == [0, 0]
    assert p.drift_weight == D("0.8")  # Σ|0 − t|


def test_errors_are_per_portfolio() -> None:
    ports = [
        portfolio_of("100", {A: "-50"}, portfolio_id=pid(1)),  # MV −400
        portfolio_of("100", {sid(0x77): "1"}, portfolio_id=pid(2)),  # no price
        portfolio_of("100", portfolio_id=pid(3)),
    ]
    report = analyse_drift(MODEL, PRICES, ports)
    codes = [p.error.code if p.error else None for p in report.portfolios]
    assert codes == ["NON_POSITIVE_MARKET_VALUE", "EXTERNAL_DATA_ERROR", None]
    assert report.portfolios[0].market_value == D("-400.000")
    assert {r.portfolio_id for r in report.rows} == {pid(3)}
    assert report.matrix.position.shape == (3, 2) and report.matrix.weights[2].tolist() == [0.0, 0.0]


def test_missing_model_price_fails_every_portfolio() -> None:
    report = analyse_drift(MODEL, {A: D(10)}, [portfolio_of("1"), portfolio_of("2")])
    assert all(p.error is not None and B in p.error.message for p in report.portfolios)
    assert report.rows == []


def test_vectorised_report_equals_one_portfolio_at_a_time() -> None:
    rng = np.random.default_rng(11)
    ids = [sid(i) for i in range(12)]
    model = model_of([("0.05", "0.01", "0.02")] * 12, ids)
    prices = {s: D(f"{rng.uniform(3, 400):.2f}") for s in ids}
    ports = [
        portfolio_of(
            f"{rng.uniform(0, 5000):.2f}",
            {s: str(int(rng.integers(0, 60))) for s in ids[: int(rng.integers(0, 12))]},
            portfolio_id=pid(k),
        )
        for k in range(40)
    ]
    together = analyse_drift(model, prices, ports)
    for k, p in enumerate(ports):
        alone = analyse_drift(model, prices, [p])
        assert alone.portfolios[0] == together.portfolios[k]
        assert alone.rows == together.rows_for(p.portfolio_id)
        np.testing.assert_array_equal(alone.matrix.position[0], together.matrix.position[k])
    weights = together.matrix.weights
    assert weights.shape == (40, 12)
    first = together.rows_for(pid(0))
    np.testing.assert_allclose(weights[0, : len(first)], [float(r.weight) for r in first[:12]], rtol=1e-12)
