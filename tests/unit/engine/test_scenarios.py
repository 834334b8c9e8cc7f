"""engine.scenarios: run-only overrides, per-portfolio metrics and scenario totals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.models import InvestmentModel, PortfolioResult, Position, RecordPosition, Transaction
from engine.scenarios import (
    model_with_overrides,
    portfolio_metrics,
    positions_differ,
    scenario_summary,
)
from tests.unit.engine.test_controls import cases

DAY = dt.date(2026, 3, 2)
A, B, X = "a" * 24, "b" * 24, "d" * 24


def rp(sid, price, before, after, target, low, high):
    price, before, after = D(price), D(before), D(after)
    delta = after - before
    return RecordPosition(
        security_id=sid, price=price, original_quantity=before, adjusted_quantity=after,
        original_position_market_value=before * price, adjusted_position_market_value=after * price,
        target=D(target), low_drift=D(low), high_drift=D(high), actual=D(0), actual_drift=D(0),
        transaction_type=None if delta == 0 else ("BUY" if delta > 0 else "SELL"),
        trade_quantity=None if delta == 0 else abs(delta), trade_date=None if delta == 0 else DAY,
    )  # fmt: skip


def optimal(pid, mv, cash_before, positions):
    txs = tuple(
        Transaction(transaction_type=p.transaction_type, security_id=p.security_id, quantity=p.trade_quantity,
                    trade_date=DAY)
        for p in positions if p.transaction_type
    )  # fmt: skip
    spent = sum((p.adjusted_position_market_value - p.original_position_market_value for p in positions), D(0))
    return PortfolioResult(portfolio_id=pid, status="optimal", market_value=D(mv), cash_before=D(cash_before),
                           cash_after=D(cash_before) - spent, transactions=txs, positions=tuple(positions))  # fmt: skip


def model():
    return InvestmentModel(
        model_id="e" * 24, name="Core", version=7, portfolios=("p" * 24,),
        positions=(Position(security_id=A, target=D("0.5"), low_drift=D("0.02"), high_drift=D("0.02")),),
    )  # fmt: skip


def test_overrides_replace_positions_for_the_run_only():
    base = model()
    new = [
        Position(security_id=A, target=D("0.4"), low_drift=D("0.01"), high_drift=D("0.03")),
        Position(security_id=B, target=D("0"), low_drift=D("0"), high_drift=D("0")),  # zero target: dropped
    ]
    run_model = model_with_overrides(base, new)
    assert run_model.positions == (new[0],)
    assert (run_model.model_id, run_model.version, run_model.name) == (base.model_id, 7, "Core")
    assert base.positions[0].target == D("0.5")  # the stored model is untouched
    assert positions_differ(base.positions, run_model.positions)
    assert not positions_differ(base.positions, [Position(security_id=A, target=D("0.50"), low_drift=D("0.020"),
                                                          high_drift=D("0.02"))])  # fmt: skip


def test_overrides_are_validated_like_a_model():
    bad = [
        Position(security_id=A, target=D("0.6"), low_drift=D("0"), high_drift=D("0")),
        Position(security_id=A, target=D("0.4"), low_drift=D("2"), high_drift=D("0")),
    ]
    with pytest.raises(InvalidInput) as err:
        model_with_overrides(model(), bad)
    rules = {v.rule for v in err.value.violations}
    assert {"duplicate_security", "drift_range", "target_sum"} <= rules


def test_metrics_of_an_optimal_result():
    # MV 10 000: A 60 % (band 48-52 %) -> 50 %, X (not in model) 10 % -> 0, cash 30 % -> 50 %
    res = optimal(
        "p" * 24, "10000", "3000", [rp(A, "10", 600, 500, "0.5", "0.02", "0.02"), rp(X, "5", 200, 0, "0", "0", "0")]
    )
    m = portfolio_metrics(res)
    assert m.drift_before == D(1000) + D(1000) and m.drift_after == 0
    assert m.drift_before_weight == D("0.2") and m.drift_after_weight == 0
    assert m.turnover == D(2000) and m.orders == 2
    assert m.cash_after == D(5000)
    assert m.out_of_band_before is True and m.out_of_band_after is False


def test_engine_drift_figures_win_over_recomputation():
    res = optimal("p" * 24, "10000", "3000", [rp(A, "10", 600, 500, "0.5", "0.02", "0.02")])
    res = res.model_copy(update={"drift_before": D(7), "portfolio_drift": D(3)})
    m = portfolio_metrics(res)
    assert (m.drift_before, m.drift_after) == (D(7), D(3))


def test_not_rebalanced_portfolio_keeps_its_state():
    res = PortfolioResult(portfolio_id="q" * 24, status="infeasible", market_value=D(5000), cash_before=D(100),
                          drift_before=D(400), diagnosis="band narrower than one share")  # fmt: skip
    m = portfolio_metrics(res, out_of_band_before=True)
    assert m.cash_after == D(100) and m.drift_after == D(400) and m.turnover == 0 and m.orders == 0
    assert m.out_of_band_before is True and m.out_of_band_after is True
    assert portfolio_metrics(res).out_of_band_after is None  # unknown without the drift view


def test_summary_counts_and_totals():
    ok = optimal("p" * 24, "10000", "3000", [rp(A, "10", 600, 500, "0.5", "0.02", "0.02")])
    calm = optimal("r" * 24, "10000", "5000", [rp(A, "10", 500, 500, "0.5", "0.02", "0.02")])
    infeasible = PortfolioResult(portfolio_id="q" * 24, status="infeasible", market_value=D(5000),
                                 cash_before=D(100), drift_before=D(400))  # fmt: skip
    failed = PortfolioResult(portfolio_id="s" * 24, status="error", diagnosis="pricing unavailable")
    s = scenario_summary([ok, calm, infeasible, failed], {"q" * 24: True, "s" * 24: False})
    assert (s.portfolios, s.optimal, s.infeasible, s.failed) == (4, 2, 1, 1)
    assert s.orders == 1 and s.turnover == D(1000)
    assert s.drift_before == D(1000) + D(400) and s.drift_after == D(400)
    assert s.market_value == D(25000)
    assert s.drift_reduction == D(1000) / D(1400)
    assert s.turnover_weight == D(1000) / D(25000)
    assert s.cash_before == D(8100) and s.cash_after == D(9100)
    assert s.cash_after_weight == (D(3000) + D(1000) + D(5000) + D(100)) / D(25000)  # failed one has no MV
    assert s.out_of_band_before == 2 and s.still_out_of_band == 1


def test_empty_scenario():
    s = scenario_summary([])
    assert s.portfolios == 0 and s.drift_reduction is None and s.turnover_weight is None


# --- issue 14 item 11: did the cash floor bind? ------------------------------------------------------------------
def _floor_case(min_cash_fraction: str, min_cash: str = "0"):
    from engine.models import RebalanceOptions
    from engine.rebalance import rebalance_portfolios
    from tests.unit.engine.support import model_of, pid, portfolio_of, sid

    # targets 40 % + 54.5 %: the model keeps 5.5 % cash; two all-cash portfolios of $10,000 and $25,000
    m = model_of([("0.4", "0.02", "0.02"), ("0.545", "0.02", "0.02")])
    prices = {sid(0): D("10"), sid(1): D("5")}
    pfs = [portfolio_of("10000", portfolio_id=pid(0)), portfolio_of("25000", portfolio_id=pid(1))]
    options = RebalanceOptions(min_cash=D(min_cash), min_cash_fraction=D(min_cash_fraction), trade_date=DAY)
    return m, prices, pfs, options, rebalance_portfolios(m, prices, pfs, options)


def test_a_floor_under_the_models_own_cash_binds_for_no_portfolio():
    from engine.scenarios import floor_binding

    m, prices, pfs, options, results = _floor_case("0.05")
    got = floor_binding(m, prices, pfs, options, results)
    assert got is not None and not got.binds and got.checked == 2
    assert got.implied_cash == D("0.055") and got.least_cash_weight >= D("0.05")


def test_a_floor_above_the_models_cash_binds():
    from engine.scenarios import floor_binding

    m, prices, pfs, options, results = _floor_case("0.10")
    got = floor_binding(m, prices, pfs, options, results)
    assert got is not None and got.binds and got.bound[0] in {p.portfolio_id for p in pfs}
    # an amount floor: $1,000 is 10 % of the smaller portfolio (bound), 4 % of the larger (not bound)
    m, prices, pfs, options, results = _floor_case("0", min_cash="1000")
    assert floor_binding(m, prices, pfs, options, results).bound == (pfs[0].portfolio_id,)


def test_no_floor_no_verdict():
    from engine.scenarios import floor_binding

    m, prices, pfs, options, results = _floor_case("0")
    assert floor_binding(m, prices, pfs, options, results) is None


def _same_answer(a, b) -> bool:
    return (a.status, tuple((t.transaction_type, t.security_id, t.quantity) for t in a.transactions)) == (
        b.status,
        tuple((t.transaction_type, t.security_id, t.quantity) for t in b.transactions),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(["0", "0.05", "0.2", "0.4"]), st.booleans())
def test_a_result_not_flagged_floor_bound_is_the_answer_without_the_floor(case, fraction, controls):
    """The solver's per-result flag that floor_binding reads: off means the run without the floor gives the
    very same answer (default route and trade-controls route alike)."""
    from engine.models import RebalanceOptions
    from engine.rebalance import rebalance_portfolios

    model, prices, portfolio, options = case
    if not controls:
        options = RebalanceOptions()
    options = options.model_copy(update={"min_cash_fraction": D(fraction)})
    with_floor = rebalance_portfolios(model, prices, [portfolio], options, workers=1)[0]
    free = options.model_copy(update={"min_cash": D(0), "min_cash_fraction": D(0)})
    without = rebalance_portfolios(model, prices, [portfolio], free, workers=1)[0]
    if not with_floor.floor_bound:
        assert _same_answer(with_floor, without), (with_floor.diagnosis, without.diagnosis)
    if D(fraction) == 0:
        assert not with_floor.floor_bound


@pytest.mark.parametrize("policy", ["all", "out-of-band"])
def test_floor_bound_flags_survive_the_batched_result_building(policy):
    """Many held portfolios at once (results built together from integer columns): every portfolio whose answer the
    floor changed is flagged, on the default route and on the trade-controls route."""
    from engine.models import RebalanceOptions
    from engine.rebalance import rebalance_portfolios
    from tests.unit.engine.support import model_of, pid, portfolio_of, sid

    m = model_of([("0.3", "0.05", "0.05"), ("0.3", "0.05", "0.05"), ("0.35", "0.05", "0.05")])
    prices = {sid(0): D("10"), sid(1): D("7"), sid(2): D("3")}
    pfs = [
        portfolio_of(str(200 + 37 * k), {sid(0): str(30 + k), sid(1): str(40 + 2 * k), sid(2): str(90 - k)}, pid(k))
        for k in range(40)
    ]
    options = RebalanceOptions(min_cash_fraction=D("0.08"), trade_policy=policy, trade_date=DAY)
    with_floor = rebalance_portfolios(m, prices, pfs, options, workers=1)
    without = rebalance_portfolios(m, prices, pfs, options.model_copy(update={"min_cash_fraction": D(0)}), workers=1)
    changed = [a.portfolio_id for a, b in zip(with_floor, without, strict=True) if not _same_answer(a, b)]
    assert changed  # the case must exercise the flag
    assert all(r.floor_bound for r in with_floor if r.portfolio_id in changed)
