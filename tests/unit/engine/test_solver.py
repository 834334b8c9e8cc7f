"""The batch solver on numpy arrays: closed form, infeasibility diagnosis, MILP hand-off, post-check."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from engine.bands import ModelArrays
from engine.solver import (
    CLOSED_FORM,
    INFEASIBLE,
    MILP,
    OPTIMAL,
    PENDING,
    cash_floors,
    needs_milp,
    solve_batch,
    solve_closed_form,
)
from tests.unit.engine.support import PROPERTY_SETTINGS, F, arrays, brute_force, reference_violations, sid, space_size

D = Decimal


def test_band_narrower_than_one_share_is_infeasible_with_a_diagnosis() -> None:
    a = arrays(("0.05", "0", "0", "33.33"), ("0.10", "0.02", "0.02", "10"))
    sol = solve_batch(a, [10_000_000], portfolio_ids=["P1"])
    assert sol.status == [INFEASIBLE]
    assert sol.error_code == ["REBALANCE_INFEASIBLE"]
    text = sol.diagnosis[0]
    assert text is not None
    assert "P1" in text and sid(0) in text and sid(1) not in text
    assert "$500.00 to $500.00" in text and "33.33" in text and "at least 16 and at most 15" in text


def test_cash_shortfall_is_infeasible_and_names_the_numbers() -> None:
    # band minimums cost 0.9·MV = 900 but minCash 200 leaves 800
    a = arrays(("0.90", "0", "0.05", "1"))
    sol = solve_batch(a, [1_000_000], D(200), portfolio_ids=["P1"])
    assert sol.status == [INFEASIBLE]
    assert "cash shortfall of $100.00" in (sol.diagnosis[0] or "")
    assert "$900.00" in (sol.diagnosis[0] or "") and "$800.00" in (sol.diagnosis[0] or "")


def test_min_cash_above_market_value_is_a_shortfall_even_with_empty_bands_allowed() -> None:
    a = arrays(("0.5", "0.5", "0.1", "10"))
    sol = solve_batch(a, [1_000_000], D(2000))
    assert sol.status == [INFEASIBLE] and "shortfall" in (sol.diagnosis[0] or "")


def test_slack_rows_use_the_closed_form_and_binding_rows_the_milp() -> None:
    # pitfall of product-spec §4: MV 1000, two securities at 600, t 0.45, l 0.45, h 0.5
    a = arrays(("0.45", "0.45", "0.5", "600"), ("0.45", "0.45", "0.5", "600"))
    closed = solve_closed_form(a, [1_000_000, 2_000_000])
    assert closed.status == [PENDING, OPTIMAL]
    assert closed.method == [MILP, CLOSED_FORM]
    sol = solve_batch(a, [1_000_000, 2_000_000])
    assert sol.status == [OPTIMAL, OPTIMAL]
    assert sorted(sol.quantities[0].tolist()) == [0, 1]  # one share: no overspend
    assert sol.quantities[1].tolist() == [1, 1]  # 2000: T = 1.5 each -> 1 (tie, lower)


def test_non_positive_market_value_rows_are_errors() -> None:
    a = arrays(("0.5", "0.1", "0.1", "10"))
    sol = solve_batch(a, [0, -5, 1_000_000])
    assert sol.status[:2] == ["error", "error"]
    assert sol.error_code[:2] == ["NON_POSITIVE_MARKET_VALUE"] * 2
    assert sol.status[2] == OPTIMAL


def test_out_of_range_rows_are_errors() -> None:
    a = arrays(("0.5", "0", "0", "0.0001"))
    sol = solve_batch(a, [10**16])
    assert sol.status == ["error"] and "exact range" in (sol.diagnosis[0] or "")


def test_random_tie_break_is_seeded_and_only_moves_ties() -> None:
    # T = 2.5 exactly for every row: random mode picks 2 or 3, reproducibly
    a = arrays(("0.05", "0.05", "0.05", "20"))
    first = solve_closed_form(a, [1_000_000] * 64, tie_break="random", seed=7).quantities[:, 0]
    again = solve_closed_form(a, [1_000_000] * 64, tie_break="random", seed=7).quantities[:, 0]
    assert first.tolist() == again.tolist()
    assert set(first.tolist()) == {2, 3}
    lower = solve_closed_form(a, [1_000_000] * 64).quantities[:, 0]
    assert set(lower.tolist()) == {2}
    # a non-tie is never moved
    assert set(solve_closed_form(a, [1_000_001] * 16, tie_break="random", seed=1).quantities[:, 0].tolist()) == {3}


def test_empty_model_sells_everything_unless_min_cash_exceeds_mv() -> None:
    a = arrays()
    sol = solve_batch(a, [1_000_000, 1_000_000], D(0))
    assert sol.status == [OPTIMAL, OPTIMAL]
    assert solve_batch(a, [1_000_000], D("1000.001")).status == [INFEASIBLE]


def test_large_batch_matches_row_by_row_solves() -> None:
    rng = np.random.default_rng(3)
    a = arrays(*[("0.03", "0.01", "0.02", f"{rng.uniform(5, 900):.2f}") for _ in range(30)])
    mills = rng.integers(10_000_000, 10_000_000_000, size=300)
    batch = solve_batch(a, mills)
    for k in range(0, 300, 37):
        single = solve_batch(a, mills[k : k + 1])
        assert single.status[0] == batch.status[k]
        if single.status[0] == OPTIMAL:
            assert single.quantities[0].tolist() == batch.quantities[k].tolist()


# --- property: closed form and MILP answers equal an exhaustive exact search -----------------------------------

weights = st.integers(min_value=1, max_value=60).map(lambda k: D(k) * D("0.005"))
drifts = st.sampled_from(["0", "0.005", "0.01", "0.02", "0.03", "0.05", "0.08"]).map(D)
prices = st.integers(min_value=500, max_value=40_000).map(lambda c: D(c) / 100)


@settings(**PROPERTY_SETTINGS)
@given(
    rows=st.lists(st.tuples(weights, drifts, drifts, prices), min_size=1, max_size=3),
    mv_mills=st.integers(min_value=200_000, max_value=5_000_000),
    cash_share=st.sampled_from([None, "0", "0.02", "0.05", "0.1", "0.2", "0.4"]),
)
def test_answers_equal_exhaustive_search(rows: list[tuple[D, D, D, D]], mv_mills: int, cash_share: str | None) -> None:
    assume(sum(r[0] for r in rows) <= D("0.95"))
    mv = Fraction(mv_mills, 1000)
    specs = [(F(t), F(lo), F(hi)) for t, lo, hi, _ in rows]
    px = [F(p) for *_, p in rows]
    assume(space_size(mv, specs, px) <= 50_000)
    min_cash = D(0) if cash_share is None else (D(mv_mills) / 1000 * D(cash_share)).quantize(D("0.01"))
    a = ModelArrays(
        tuple(sid(i) for i in range(len(rows))),
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
    )
    sol = solve_batch(a, [mv_mills], min_cash, time_limit=20)
    event(f"{sol.status[0]} via {sol.method[0]}")
    best, winners = brute_force(mv, specs, px, F(min_cash))
    if best is None:
        assert sol.status == [INFEASIBLE], sol.diagnosis
        return
    assert sol.status == [OPTIMAL], sol.diagnosis
    u = sol.quantities[0].tolist()
    assert reference_violations(mv, specs, px, u, F(min_cash)) == []
    got = sum((abs(mv * t - q * p) for (t, _, _), p, q in zip(specs, px, u, strict=True)), Fraction(0))
    assert got == best
    if sol.method == [CLOSED_FORM]:
        # separable: ties go to the lower quantity, security by security
        assert tuple(u) == tuple(min(w[i] for w in winners) for i in range(len(rows)))
    else:
        assert tuple(u) in winners


@pytest.mark.parametrize("workers", [1, 4])
def test_workers_do_not_change_answers_below_the_pool_threshold(workers: int) -> None:
    a = arrays(("0.45", "0.45", "0.5", "600"), ("0.45", "0.45", "0.5", "600"))
    assert solve_batch(a, [1_000_000], workers=workers).status == [OPTIMAL]


@settings(**PROPERTY_SETTINGS)
@given(
    rows=st.lists(st.tuples(weights, drifts, drifts, prices), min_size=2, max_size=4),
    mv_mills=st.integers(min_value=200_000, max_value=5_000_000),
    theta=st.integers(min_value=0, max_value=99),
)
def test_binding_cash_rows_equal_exhaustive_search(rows: list[tuple[D, D, D, D]], mv_mills: int, theta: int) -> None:
    """minCash is chosen between the cost of the band minimums and of the closed form: the cash row binds."""
    assume(sum(r[0] for r in rows) <= D("0.95"))
    mv = Fraction(mv_mills, 1000)
    specs = [(F(t), F(lo), F(hi)) for t, lo, hi, _ in rows]
    px = [F(p) for *_, p in rows]
    assume(0 < space_size(mv, specs, px) <= 50_000)
    a = ModelArrays(
        tuple(sid(i) for i in range(len(rows))),
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
    )
    free = solve_closed_form(a, [mv_mills])
    assume(free.status == [OPTIMAL])
    lo = free.bands.lo[0].tolist()
    spend_lo = sum((q * p for q, p in zip(lo, px, strict=True)), Fraction(0))
    spend_cf = sum((q * p for q, p in zip(free.quantities[0].tolist(), px, strict=True)), Fraction(0))
    assume(spend_cf > spend_lo)
    budget = spend_lo + (spend_cf - spend_lo) * Fraction(theta, 100)
    min_cash = D((mv - budget).numerator) / D((mv - budget).denominator)
    min_cash = min_cash.quantize(D("0.0001"))
    sol = solve_batch(a, [mv_mills], min_cash, time_limit=20)
    event(f"{sol.status[0]} via {sol.method[0]}")
    best, winners = brute_force(mv, specs, px, F(min_cash))
    if best is None:
        assert sol.status == [INFEASIBLE], sol.diagnosis
        return
    assert sol.status == [OPTIMAL], sol.diagnosis
    u = sol.quantities[0].tolist()
    assert reference_violations(mv, specs, px, u, F(min_cash)) == []
    assert tuple(u) in winners


def test_cash_floors_may_differ_per_row() -> None:
    # one share at 10 per 1% of 1000: a floor of 600 binds (40 shares), 800.5 is infeasible, 0 is slack (50)
    a = arrays(("0.5", "0.3", "0.3", "10"))
    sol = solve_batch(a, [1_000_000] * 3, [D(0), D(600), D("800.5")])
    assert sol.status == [OPTIMAL, OPTIMAL, INFEASIBLE]
    assert sol.method[:2] == [CLOSED_FORM, MILP]
    assert sol.quantities[:2, 0].tolist() == [50, 40]
    assert "shortfall of $0.50" in (sol.diagnosis[2] or "")
    with pytest.raises(ValueError, match="2 cash floors for 3"):
        solve_batch(a, [1_000_000] * 3, [D(0), D(1)])


def test_needs_milp_is_the_one_routing_predicate() -> None:
    # two securities at 600, t 0.45 (band 0 to 0.95): MV 1000 -> nearest 1 + 1 = 1200 > 1000 - minCash
    a = arrays(("0.45", "0.45", "0.5", "600"), ("0.45", "0.45", "0.5", "600"))
    quantities = np.array([[1, 1], [1, 1]], dtype=np.int64)
    floors = cash_floors([D(0), D(0)], 2)
    assert needs_milp(quantities, a, [1_000_000, 1_200_000], floors, np.array([0, 1])).tolist() == [True, False]
    sol = solve_closed_form(a, [1_000_000, 1_200_000])
    assert sol.milp_rows == [0] and sol.status[1] == "optimal"
