"""The solver-free nearest-feasible route (engine.controls_relaxed) against the reference and brute force.

Relaxed answers (``onInfeasible = nearest``) with binding floors and every control: the same status, diagnosis,
total breach and drift as the reference's two-stage HiGHS model (engine.controls.solve_portfolio), every rule of
2.12 re-checked by the reference's post-check; on tiny cases the (breach, drift) optimum of an enumeration written
from the spec; the exact least-sum search against brute force.
"""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.bands import compute_bands
from engine.controls import Answer, check_answer, feasible_set, prepare, solve_portfolio
from engine.controls_batch import ControlsRun, reference_securities, solve_controls
from engine.controls_relaxed import solve_nearest
from engine.exactmath import MONEY, ZERO, mills_of
from engine.milp.modes import least_sum
from engine.models import Holding, InvestmentModel, PortfolioHoldings, Position, RebalanceOptions
from engine.rebalance import rebalance_portfolios
from tests.unit.engine.test_controls import _mv, brute_force, cases, check_rules
from tests.unit.engine.test_controls_batch import SIDS, _inputs

NEAREST = {"on_infeasible": "nearest"}
REFERENCE_SECONDS = 5.0


def _totals(secs, answer) -> tuple[D, D]:
    breach = sum((b.amount for b in answer.breaches), ZERO)
    drift = ZERO
    for sec, x in zip(secs, answer.quantities, strict=True):
        drift = MONEY.add(drift, abs(MONEY.subtract(sec.target_value, MONEY.multiply(x, sec.price))))
    return breach, drift


@st.composite
def relaxed_batches(draw):
    """One portfolio of 2-5 model securities (and one held outside), integer holdings, every control, a floor
    that the strict problem cannot meet or a band a restriction keeps breached."""
    n = draw(st.integers(2, 5))
    step = D("0.9") / n
    positions = tuple(
        Position(
            security_id=SIDS[i],
            target=D(int(step * draw(st.sampled_from([D("0.6"), D(1)])) * 200)) / 200,
            low_drift=D(draw(st.integers(0, 3))) / 100,
            high_drift=D(draw(st.integers(0, 3))) / 100,
        )
        for i in range(n)
    )
    ids = SIDS[: n + 1]
    prices = {s: D(draw(st.integers(3, 300))) + D(draw(st.sampled_from([0, 25, 51, 99]))) / 100 for s in ids}
    holdings = tuple(Holding(security_id=s, quantity=D(draw(st.integers(0, 300)))) for s in ids if draw(st.booleans()))
    portfolio = PortfolioHoldings(portfolio_id="p", cash=D(draw(st.integers(0, 40_000))), holdings=holdings)
    sub = st.lists(st.sampled_from(ids), max_size=2, unique=True).map(tuple)
    options = RebalanceOptions(
        trade_policy=draw(st.sampled_from(["all", "out-of-band", "out-of-band"])),
        min_trade_value=D(draw(st.sampled_from([0, 200, 1000, 2500]))),
        no_buy=draw(sub),
        no_sell=draw(sub),
        no_trade=draw(st.lists(st.sampled_from(ids), max_size=1, unique=True).map(tuple)),
        direction=draw(st.sampled_from(["both", "both", "buy-only", "sell-only"])),
        on_infeasible="nearest",
        min_cash_fraction=D(draw(st.sampled_from(["0", "0.05", "0.1", "0.2", "0.4"]))),
    )
    return InvestmentModel(name="m", positions=positions), prices, portfolio, options


def _one_row(model, prices, portfolio, options):
    arrays, ports, floors = _inputs(model, prices, [portfolio], options)
    if not ports:
        return arrays, ports, floors, []
    bands = compute_bands(arrays, [mills_of(ports[0].market_value)])
    secs = reference_securities(arrays, bands, 0, ports[0])
    return arrays, ports, floors, secs


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(relaxed_batches())
def test_nearest_route_matches_the_reference(case):
    model, prices, portfolio, options = case
    _arrays, ports, floors, secs = _one_row(model, prices, portfolio, options)
    assume(ports)
    mv, floor, pid = ports[0].market_value, floors[0], ports[0].portfolio_id
    fast = solve_nearest(secs, mv, floor, options, pid)
    assume(fast is not None)
    ref = solve_portfolio(secs, mv, floor, options, pid, REFERENCE_SECONDS)
    # the reference's two-stage model out of time proves nothing either way (its stage 2 is an exact-sum search)
    assume(not (ref.status == "error" and ref.diagnosis and "time limit" in ref.diagnosis.lower()))
    assert fast.status == ref.status, (fast.diagnosis, ref.diagnosis)
    if ref.quantities is None:
        assert fast.diagnosis == ref.diagnosis
        return
    assert _totals(secs, fast) == _totals(secs, ref)
    relaxed = fast.status == "relaxed"
    sets = [feasible_set(s, options, mv, relaxed) for s in secs]
    assert check_answer(secs, sets, fast.quantities, MONEY.subtract(mv, floor), options, relaxed) is None
    start = prepare(secs, mv, floor, options, pid, relaxed=relaxed)
    if not isinstance(start, Answer) and not start[3]:  # closed form: the very same quantities
        assert fast.quantities == ref.quantities
        assert fast.kept_by == ref.kept_by


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_nearest_route_matches_brute_force(case):
    """Every tiny case with ``nearest`` on (test_controls samples it half the time): the engine's status and
    (breach, drift) equal the spec's enumeration, and every rule holds."""
    model, prices, portfolio, options = case
    options = options.model_copy(update=NEAREST)
    assume(_mv(portfolio.cash, {h.security_id: h.quantity for h in portfolio.holdings}, prices) > 0)
    status, best = brute_force(model, prices, portfolio, options)
    result = rebalance_portfolios(model, prices, [portfolio], options, workers=1)[0]
    assert result.status == status, result.diagnosis
    if status == "infeasible":
        return
    check_rules(model, prices, portfolio, options, result)
    breach = sum((b.amount for b in result.band_breaches), ZERO)
    assert (breach, result.portfolio_drift) == best


def test_binding_floor_relaxed_without_a_solver():
    """Two positions held in band (out-of-band keeps them) cannot raise a 30 % floor: the strict problem is
    infeasible, and the nearest answer sells below the band of the cheapest breach — proven without HiGHS."""
    positions = tuple(
        Position(security_id=SIDS[i], target=D("0.3"), low_drift=D("0.05"), high_drift=D("0.05")) for i in range(3)
    )
    prices = {SIDS[0]: D("14.51"), SIDS[1]: D("33.71"), SIDS[2]: D("125.77"), SIDS[3]: D(1)}
    portfolio = PortfolioHoldings(
        portfolio_id="p",
        cash=D(800),
        holdings=(
            Holding(security_id=SIDS[0], quantity=D(650)),
            Holding(security_id=SIDS[1], quantity=D(300)),
            Holding(security_id=SIDS[2], quantity=D(60)),
        ),
    )
    options = RebalanceOptions(
        min_trade_value=D(1000), min_cash_fraction=D("0.3"), on_infeasible="nearest", no_buy=(SIDS[2],)
    )
    model = InvestmentModel(name="m", positions=positions)
    arrays, ports, floors = _inputs(model, prices, [portfolio], options)
    stats: dict[str, int] = {}
    fast = solve_controls(ControlsRun(arrays, ports, floors, options), stats=stats)[0]
    assert fast is not None and fast.status == "relaxed"
    assert stats["nearest"] == 1 and stats["highs"] == 0
    _, _, _, secs = _one_row(model, prices, portfolio, options)
    ref = solve_portfolio(secs, ports[0].market_value, floors[0], options, "p", 30.0)
    assert ref.status == "relaxed" and _totals(secs, fast) == _totals(secs, ref)


def _brute_least(w, lo, hi, need):
    sums = [
        sum(a * k for a, k in zip(w, ks, strict=True)) for ks in itertools.product(*map(range, lo, [h + 1 for h in hi]))
    ]
    ok = [s for s in sums if s >= need]
    return min(ok) if ok else None


@st.composite
def least_cases(draw):
    n = draw(st.integers(1, 4))
    g = draw(st.integers(1, 4))
    w = [g * draw(st.integers(1, 60)) for _ in range(n)]
    lo = [draw(st.integers(0, 4)) for _ in range(n)]
    hi = [a + draw(st.integers(0, 8)) for a in lo]
    need = draw(st.integers(-5, sum(a * b for a, b in zip(w, hi, strict=True)) + 5))
    return w, lo, hi, need


@settings(max_examples=400, deadline=None)
@given(least_cases())
def test_least_sum_is_exact(case):
    w, lo, hi, need = case
    want = _brute_least(w, lo, hi, need)
    got = least_sum(w, lo, hi, need)
    if want is None:
        assert got is not None and got[1] == []  # no counts reach the need
        return
    assert got is not None and got[0] == want
    assert all(a <= k <= b for a, k, b in zip(lo, got[1], hi, strict=True))
    assert sum(a * k for a, k in zip(w, got[1], strict=True)) == want


def test_binding_floor_ties_take_the_lower_quantity_on_every_route():
    """Issue 11 item 3. MV $1,010: A's target is 50.5 shares at $6, so 50 and 51 drift alike ($3), and a $154
    floor's deficit of $44 is met by one B share ($50), which leaves room for A's 51st share: two optima of equal
    drift. Every route keeps the lower quantity (more cash): the default route, the controls' certified route,
    the reference, and — under a $300 floor no band can meet — the nearest route and the reference's."""
    positions = (
        Position(security_id=SIDS[0], target=D("0.3"), low_drift=D("0.005"), high_drift=D("0.05")),
        Position(security_id=SIDS[1], target=D("0.6"), low_drift=D("0.2"), high_drift=D("0.2")),
    )
    model = InvestmentModel(name="m", positions=positions)
    prices = {SIDS[0]: D(6), SIDS[1]: D(50)}
    portfolio = PortfolioHoldings(portfolio_id="p", cash=D(1010), holdings=())
    want = [D(50), D(11)]
    default = rebalance_portfolios(model, prices, [portfolio], RebalanceOptions(min_cash=D(154)), workers=1)[0]
    assert [d.adjusted_quantity for d in default.drifts] == want
    controlled = RebalanceOptions(min_trade_value=D(1), min_cash=D(154))
    arrays, ports, floors, secs = _one_row(model, prices, portfolio, controlled)
    stats: dict[str, int] = {}
    fast = solve_controls(ControlsRun(arrays, ports, floors, controlled), stats=stats)[0]
    assert stats["certified"] == 1
    ref = solve_portfolio(secs, ports[0].market_value, floors[0], controlled, "p", 30.0)
    assert fast is not None and fast.quantities == want and ref.quantities == want
    relaxed = RebalanceOptions(min_trade_value=D(1), on_infeasible="nearest", min_cash=D(300))
    arrays, ports, floors, secs = _one_row(model, prices, portfolio, relaxed)
    near = solve_nearest(secs, ports[0].market_value, floors[0], relaxed, "p")
    ref = solve_portfolio(secs, ports[0].market_value, floors[0], relaxed, "p", 30.0)
    assert near is not None and near.status == ref.status == "relaxed"
    assert near.quantities == ref.quantities == [D(50), D(8)]
