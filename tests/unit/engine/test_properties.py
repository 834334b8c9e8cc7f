"""Property tests of the whole path: random models, prices and holdings (shorts, fractions, non-model).

Every ``optimal`` answer must satisfy every constraint of product-spec 2.3 in exact rational arithmetic,
reach the minimum drift an exhaustive search finds, and produce consistent transactions, drift rows and
a record draft whose invariants (2.8) hold; every instance the search finds infeasible must be reported so.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from engine.exactmath import BASIS
from engine.marketvalue import market_value
from engine.models import Holding, PortfolioHoldings, RebalanceOptions
from engine.rebalance import rebalance_portfolio
from engine.record import build_record, record_invariant_errors
from tests.unit.engine.support import PROPERTY_SETTINGS, F, brute_force, model_of, reference_violations, sid, space_size

D = Decimal
EXTRA = sid(0xEEE)

weights = st.integers(min_value=1, max_value=60).map(lambda k: D(k) * D("0.005"))
drifts = st.sampled_from(["0", "0.005", "0.01", "0.02", "0.03", "0.05", "0.1"]).map(D)
prices = st.integers(min_value=500, max_value=40_000).map(lambda c: D(c) / 100)
quantities = st.one_of(
    st.integers(min_value=-20, max_value=200).map(D), st.decimals(min_value=-5, max_value=50, places=3)
)


@settings(**PROPERTY_SETTINGS)
@given(
    rows=st.lists(st.tuples(weights, drifts, drifts, prices), min_size=1, max_size=3),
    held=st.lists(quantities, min_size=4, max_size=4),
    extra_price=prices,
    cash=st.integers(min_value=0, max_value=400_000).map(lambda c: D(c) / 100),
    min_cash_share=st.sampled_from(["0", "0", "0.03", "0.08", "0.2"]),
)
def test_every_answer_is_exactly_feasible_optimal_and_consistent(
    rows: list[tuple[D, D, D, D]], held: list[D], extra_price: D, cash: D, min_cash_share: str
) -> None:
    assume(sum(r[0] for r in rows) <= D("0.95"))
    ids = [sid(i) for i in range(len(rows))]
    model = model_of([(str(t), str(lo), str(hi)) for t, lo, hi, _ in rows], ids).model_copy(
        update={"model_id": "b" * 24}
    )
    px = {s: r[3] for s, r in zip(ids, rows, strict=True)} | {EXTRA: extra_price}
    holdings = tuple(Holding(security_id=s, quantity=q) for s, q in zip([*ids, EXTRA], held, strict=False) if q != 0)
    portfolio = PortfolioHoldings(portfolio_id="c" * 24, cash=cash, holdings=holdings)
    mv_dec = market_value(cash, holdings, px)
    mv = F(mv_dec)
    min_cash = (max(mv_dec, D(0)) * D(min_cash_share)).quantize(D("0.01"))
    specs = [(F(t), F(lo), F(hi)) for t, lo, hi, _ in rows]
    fpx = [F(r[3]) for r in rows]
    if mv > 0:
        assume(space_size(mv, specs, fpx) <= 30_000)
    result = rebalance_portfolio(model, px, portfolio, RebalanceOptions(min_cash=min_cash))
    event(result.status)

    if mv < 0:
        assert result.status == "error" and result.error_code == "NON_POSITIVE_MARKET_VALUE"
        return
    if mv == 0:
        assert result.status == "optimal" and result.transactions == ()
        return
    best, winners = brute_force(mv, specs, fpx, F(min_cash))
    if best is None:
        assert result.status == "infeasible", result.diagnosis
        return
    assert result.status == "optimal", result.diagnosis

    by_sid = {d.security_id: d for d in result.drifts}
    held_map = {h.security_id: h.quantity for h in holdings}
    # S = holdings ∪ model, each once, model securities first
    assert [d.security_id for d in result.drifts][: len(ids)] == ids
    assert set(by_sid) == set(ids) | set(held_map)
    assert len(by_sid) == len(result.drifts)
    u = [int(by_sid[s].adjusted_quantity) for s in ids]
    assert all(by_sid[s].adjusted_quantity == u[i] for i, s in enumerate(ids))
    assert reference_violations(mv, specs, fpx, u, F(min_cash)) == []
    if EXTRA in by_sid:
        assert by_sid[EXTRA].adjusted_quantity == 0 and by_sid[EXTRA].target == 0
    # optimal, exactly
    drift = sum((abs(mv * t - q * p) for (t, _, _), q, p in zip(specs, u, fpx, strict=True)), Fraction(0))
    assert drift == best and tuple(u) in winners
    assert F(result.portfolio_drift) == drift  # non-model rows end at 0 and add |0 − 0|
    # cash: the floor holds exactly and cash after is MV − Σ u'·p
    spend = sum((q * p for q, p in zip(u, fpx, strict=True)), Fraction(0))
    assert F(result.cash_after) == mv - spend >= F(min_cash)
    # transactions are exactly the quantity changes
    expected = []
    for s in [*ids, *(h for h in held_map if h not in ids)]:
        delta = by_sid[s].adjusted_quantity - by_sid[s].original_quantity
        if delta:
            expected.append(("BUY" if delta > 0 else "SELL", s, abs(delta)))
    assert [(t.transaction_type, t.security_id, t.quantity) for t in result.transactions] == expected
    for d in result.drifts:
        assert d.original_quantity == held_map.get(d.security_id, 0)
        p = px[d.security_id]
        assert d.actual == (d.adjusted_quantity * p / mv_dec).quantize(BASIS, rounding="ROUND_HALF_UP")
    record = build_record(model, [result])
    assert record_invariant_errors(record.portfolios[0]) == []
