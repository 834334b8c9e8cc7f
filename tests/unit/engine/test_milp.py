"""The MILP for binding cash rows: exactness, status discipline, time limits, cancellation, the spawn pool."""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from engine import milp
from engine.milp import MilpProblem, polish, solve_milp, solve_milps
from engine.milp import highs as milp_highs
from engine.milp import problem as milp_problem
from tests.unit.engine.support import brute_force

D = Decimal


def problem(index: int = 0, *, time_limit: float = 30.0, min_cash: str = "0") -> MilpProblem:
    # MV 1000, two securities at 600 (t 0.45, l 0.45, h 0.5): closed form 1 + 1 overspends
    return MilpProblem(
        index=index,
        portfolio_id=f"P{index}",
        mv_mills=1_000_000,
        min_cash=D(min_cash),
        targets=(D("0.45"), D("0.45")),
        prices=(D(600), D(600)),
        lower=(0, 0),
        upper=(1, 1),
        time_limit=time_limit,
    )


def test_binding_pitfall_spends_at_most_the_market_value() -> None:
    out = solve_milp(problem())
    assert out.error is None and out.quantities is not None
    assert sorted(out.quantities) == [0, 1]
    assert out.solver_status == "optimal"


def test_presolve_infeasibility_is_reported_not_solved() -> None:
    out = solve_milp(problem(min_cash="1000.01"))
    assert out.quantities is None and out.error is not None
    assert out.error.code == "REBALANCE_INFEASIBLE" and "P0" in out.error.message


def random_binding_problem(n: int, seed: int, cut: float, time_limit: float = 30.0) -> MilpProblem:
    """A realistic-size binding instance: many securities, minCash well above the slack."""
    rng = np.random.default_rng(seed)
    prices = tuple(D(f"{v:.2f}") for v in rng.lognormal(4, 1, n))
    targets = tuple(D("0.005") * int(k) for k in rng.integers(1, 3, n))
    mv_mills = 50_000_000
    mv = Fraction(mv_mills, 1000)
    lower, upper = [], []
    for t, p in zip(targets, prices, strict=True):
        target_shares = mv * Fraction(str(t)) / Fraction(str(p))
        lower.append(max(0, int(np.ceil(float(target_shares * Fraction(1, 2))))))
        upper.append(max(lower[-1], round(target_shares)))
    spend = sum(u * Fraction(str(p)) for u, p in zip(upper, prices, strict=True))
    min_cash = D(str(round(float(mv - spend * Fraction(str(1 - cut))), 2)))
    return MilpProblem(0, "HARD", mv_mills, min_cash, targets, prices, tuple(lower), tuple(upper), time_limit)


def test_time_limit_is_a_solver_failure_never_an_answer() -> None:
    out = solve_milp(random_binding_problem(100, seed=1, cut=0.3, time_limit=1e-6))
    assert out.quantities is None and out.error is not None
    assert out.error.code == "SOLVER_FAILED"
    # a feasible portfolio is never called infeasible (issue 13 item 7)
    assert "no feasible solution" not in out.error.message
    assert "portfolio HARD was not solved within the time limit of 1e-06 s (solver status: " in out.error.message
    assert out.error.details["solverStatus"] in {"user_limit", "time_limit"}


def test_highs_own_time_limit_reports_user_limit() -> None:
    # HiGHS itself stops at a 1 µs limit (deterministically, measured) and reports kTimeLimit -> user_limit
    p = random_binding_problem(100, seed=1, cut=0.3)
    data = milp_problem._integer_data(p)
    movable = [i for i in range(len(p.lower)) if p.lower[i] < p.upper[i]]
    price = [data.price[i] for i in movable]
    caps = [p.upper[i] - p.lower[i] for i in movable]
    over = [j for j, i in enumerate(movable) if p.upper[i] * data.price[i] > data.tau[i]]
    bonus = [2 * (p.upper[movable[j]] * price[j] - data.tau[movable[j]]) for j in over]
    deficit = sum(q * x for q, x in zip(p.upper, data.price, strict=True)) - data.budget
    assert deficit > 0
    status, answer = milp_highs._solve_reduction_milp(price, caps, over, bonus, deficit - 0.5, 1e-6)
    assert (status, answer) == ("user_limit", None)


def test_wall_clock_guard_gives_up_on_a_runaway_call() -> None:
    started = time.perf_counter()
    assert milp_highs._run_guarded(lambda: time.sleep(2), 0.1) is False
    assert time.perf_counter() - started < 1.5
    assert milp_highs._run_guarded(lambda: None, 1.0) is True
    with pytest.raises(ZeroDivisionError):
        milp_highs._run_guarded(lambda: 1 / 0, 1.0)  # type: ignore[func-returns-value]


def test_polish_only_moves_to_strictly_better_or_lower_equal_answers() -> None:
    # one security, tau = 250 units, price 100: 2 and 3 shares are equally far -> the lower, 2
    u = [3]
    assert polish([250], [100], [0], [5], u, slack=1000) == 1 and u == [2]
    # nothing better within the cash: unchanged
    u = [1, 0]
    assert polish([100, 120], [100, 60], [0, 0], [1, 2], u, slack=0) == 0 and u == [1, 0]
    # a pair move: one share less of the first (+90) and one more of the second (−120) improves by 30
    u = [1, 0]
    assert polish([95, 240], [100, 120], [0, 0], [1, 2], u, slack=30) == 1
    assert u == [0, 1]


def test_medium_problem_matches_exhaustive_search() -> None:
    # five securities, enumerable: the MILP (plus exact polish) must reach the exact optimum
    prices = (D("37.10"), D("52.25"), D("18.40"), D("91.95"), D("64.00"))
    targets = (D("0.15"), D("0.2"), D("0.1"), D("0.25"), D("0.2"))
    mv_mills = 2_345_678
    mv = Fraction(mv_mills, 1000)
    specs = [(Fraction(str(t)), Fraction(1, 20), Fraction(1, 20)) for t in targets]
    px = [Fraction(str(p)) for p in prices]
    best_free, _ = brute_force(mv, specs, px, Fraction(0))
    assert best_free is not None
    upper = tuple(round(mv * t / p) for (t, _, _), p in zip(specs, px, strict=True))
    spend_free = sum((q * p for q, p in zip(upper, px, strict=True)), Fraction(0))
    min_cash = D(str(round(float(mv - spend_free) + 50, 2)))  # 50 dollars more than the closed form leaves
    best, winners = brute_force(mv, specs, px, Fraction(str(min_cash)))
    assert best is not None and best > best_free  # the cash row really binds
    lower = tuple(
        max(0, -(-int(mv * (t - lo) * 1000) // int(p * 1000))) for (t, lo, _), p in zip(specs, px, strict=True)
    )
    out = solve_milp(MilpProblem(0, "P", mv_mills, min_cash, targets, prices, lower, upper, 30.0))
    assert out.quantities is not None, out.error
    assert out.quantities in winners


def test_cancel_stops_between_problems() -> None:
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    seen: list[tuple[int, int]] = []
    outcomes = solve_milps(
        [problem(i) for i in range(5)], workers=1, progress=lambda d, t: seen.append((d, t)), cancel=cancel
    )
    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4]
    assert [o.error.code if o.error else "ok" for o in outcomes] == ["ok", "ok", "CANCELLED", "CANCELLED", "CANCELLED"]
    assert seen == [(1, 5), (2, 5)]


@pytest.mark.slow
def test_spawn_pool_gives_the_same_answers_as_one_process() -> None:
    problems = [random_binding_problem(12, seed=s, cut=0.05) for s in range(milp.POOL_MIN_PROBLEMS)]
    problems = [
        MilpProblem(
            i,
            f"P{i}",
            *(getattr(p, f) for f in ("mv_mills", "min_cash", "targets", "prices", "lower", "upper", "time_limit")),
        )
        for i, p in enumerate(problems)
    ]
    seen: list[int] = []
    pooled = solve_milps(problems, workers=2, progress=lambda d, _t: seen.append(d))
    single = solve_milps(problems[:8], workers=1)
    assert [o.index for o in pooled] == list(range(len(problems)))
    assert all(o.error is None for o in pooled), [o.error for o in pooled if o.error][:3]
    assert [o.quantities for o in pooled[:8]] == [o.quantities for o in single]
    assert seen and seen[-1] == len(problems)
