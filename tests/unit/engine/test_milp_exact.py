"""The fast exact routes of the binding-floor MILP: the certified bound, direct HiGHS, a silent HiGHS, the warm pool.

Exactness is checked against independent references: exhaustive search in ``Fraction`` arithmetic, and CVXPY +
HiGHS on the natural formulation (full bands, objective in dollars) for the demo's 7 %-of-MV floor portfolios.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from engine import milp
from engine.bands import ModelArrays
from engine.milp import MilpProblem, drift_units, exact_hit, solve_milp, solve_milps
from engine.milp import certified as milp_certified
from engine.milp import highs as milp_highs
from engine.milp import pool as milp_pool
from engine.milp import problem as milp_problem
from engine.milp import solve as milp_solve
from engine.milp.highs import HIGHS_THREADS
from engine.solver import MILP, OPTIMAL, milp_problems, solve_batch, solve_closed_form
from tests.unit.engine.conftest import ROOT
from tests.unit.engine.support import F, brute_force, reference_violations, sid, space_size

D = Decimal


def objective(problem: MilpProblem, quantities: tuple[int, ...]) -> int:
    data = milp_problem._integer_data(problem)
    return drift_units(data.tau, data.price, quantities)


def reachable(weights: list[int], caps: list[int]) -> np.ndarray:
    """Every exact sum Σ cᵢwᵢ with 0 ≤ cᵢ ≤ capsᵢ (boolean table by dynamic programming)."""
    table = np.zeros(sum(w * c for w, c in zip(weights, caps, strict=True)) + 1, dtype=bool)
    table[0] = True
    for w, c in zip(weights, caps, strict=True):
        step = table.copy()
        for k in range(1, c + 1):
            step[k * w :] |= table[: table.size - k * w]
        table = step
    return table


def test_exact_hit_sums_exactly_within_the_caps_and_finds_most_reachable_targets() -> None:
    rng = np.random.default_rng(11)
    found = solvable = 0
    for _ in range(400):
        n = int(rng.integers(1, 7))
        weights = [int(w) for w in rng.integers(1, 300, n)]
        caps = [int(c) for c in rng.integers(0, 12, n)]
        table = reachable(weights, caps)
        target = int(rng.integers(0, table.size + 1))
        counts = exact_hit(weights, caps, target)
        if target < table.size and table[target]:
            solvable += 1
        if counts is not None:
            found += 1
            assert all(0 <= c <= cap for c, cap in zip(counts, caps, strict=True))
            assert sum(c * w for c, w in zip(counts, weights, strict=True)) == target
    assert solvable > 100
    assert found >= 0.9 * solvable, (found, solvable)  # a search, but not a weak one


def test_exact_hit_finds_an_answer_when_a_unit_weight_can_fill_any_gap() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        weights = [1, *(int(w) for w in rng.integers(2, 900, 6))]
        caps = [1000, *(int(c) for c in rng.integers(0, 30, 6))]
        target = int(rng.integers(0, sum(w * c for w, c in zip(weights, caps, strict=True)) + 1))
        counts = exact_hit(weights, caps, target)
        assert counts is not None, (weights, caps, target)
        assert sum(c * w for c, w in zip(counts, weights, strict=True)) == target


def test_exact_hit_rejects_targets_out_of_reach() -> None:
    assert exact_hit([3, 5], [2, 1], 12) is None  # more than everything
    assert exact_hit([3, 5], [2, 1], -1) is None
    assert exact_hit([3, 5], [2, 1], 11) == [2, 1]
    assert exact_hit([4, 6], [5, 5], 7) is None  # odd: no combination of even weights


def test_first_share_bounds_equal_enumeration_of_every_subset() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(1, 9))
        a = [int(x) for x in rng.integers(1, 50, n)]
        value = [int(x) for x in rng.integers(0, 1000, n)]
        bound = int(rng.integers(0, sum(a) + 2))
        subsets = [
            (sum(value[t] for t in range(n) if mask >> t & 1), sum(a[t] for t in range(n) if mask >> t & 1), mask)
            for mask in range(2**n)
        ]
        for at_least in (True, False):
            fits = [(v, m) for v, w, m in subsets if (w >= bound if at_least else w <= bound)]
            got = milp_certified._best_first_shares(a, value, bound, at_least)
            if not fits:
                assert got is None
                continue
            assert got is not None
            best = min(v for v, _ in fits) if at_least else max(v for v, _ in fits)
            assert got[0] == best
            assert (got[0], got[1]) in fits  # the mask is a subset that qualifies and has that value


def random_arrays(rng: np.random.Generator, n: int) -> tuple[ModelArrays, list[tuple[Fraction, Fraction, Fraction]]]:
    targets = [D("0.05") * int(k) for k in rng.integers(1, 5, n)]
    drifts = [D("0.01") * int(k) for k in rng.integers(1, 15, n)]
    prices = [D(f"{v:.2f}") for v in rng.uniform(5, 120, n)]
    a = ModelArrays(tuple(sid(i) for i in range(n)), tuple(targets), tuple(drifts), tuple(drifts), tuple(prices))
    return a, [(F(t), F(d), F(d)) for t, d in zip(targets, drifts, strict=True)]


def test_both_routes_equal_exhaustive_search_on_seeded_binding_instances() -> None:
    """Floors between the band minimums and the closed form: every MILP answer is an exhaustive-search optimum."""
    rng = np.random.default_rng(2024)
    routes = {True: 0, False: 0}
    checked = 0
    while checked < 150:
        n = int(rng.integers(2, 5))
        a, specs = random_arrays(rng, n)
        if sum(a.targets) > 1:
            continue
        mv_mills = int(rng.integers(300_000, 3_000_000))
        mv = Fraction(mv_mills, 1000)
        px = [F(p) for p in a.prices]
        if not 0 < space_size(mv, specs, px) <= 20_000:
            continue
        free = solve_closed_form(a, [mv_mills])
        if free.status != [OPTIMAL]:
            continue
        spend_lo = sum((q * p for q, p in zip(free.bands.lo[0].tolist(), px, strict=True)), Fraction(0))
        spend_cf = sum((q * p for q, p in zip(free.quantities[0].tolist(), px, strict=True)), Fraction(0))
        if spend_cf <= spend_lo:
            continue
        budget = spend_lo + (spend_cf - spend_lo) * Fraction(int(rng.integers(0, 100)), 100)
        min_cash = (D((mv - budget).numerator) / D((mv - budget).denominator)).quantize(D("0.01"))
        best, winners = brute_force(mv, specs, px, F(min_cash))
        pending = solve_closed_form(a, [mv_mills], min_cash)
        if best is None or pending.method != [MILP]:
            continue
        (problem,) = milp_problems(pending, a, pending.bands, 20.0)
        out = solve_milp(problem)
        assert out.quantities is not None, out.error
        assert reference_violations(mv, specs, px, out.quantities, F(min_cash)) == []
        assert out.quantities in winners, (out, best)
        routes[out.certified] += 1
        checked += 1
        sol = solve_batch(a, [mv_mills], min_cash, time_limit=20)  # and through the batch solver
        assert tuple(sol.quantities[0].tolist()) in winners
    assert routes[True] > 10 and routes[False] > 10, routes  # both routes were exercised


@pytest.fixture(scope="module")
def demo_binding() -> tuple[ModelArrays, list[MilpProblem], list[tuple[Fraction, Fraction, Fraction]]]:
    """Every 20th portfolio of the demo's 1,000-portfolio model with a 7 % of MV floor (all binding)."""
    from data.demo import load_demo
    from engine.exactmath import mills_of
    from engine.marketvalue import market_value
    from engine.validation import clean_positions

    demo = load_demo()
    model = next(m for m in demo.models if m.name == "Global Equity Core")
    portfolios = [demo.holdings(pid) for pid in model.portfolios][::20]
    pos = clean_positions(model.positions)
    a = ModelArrays(
        tuple(p.security_id for p in pos),
        tuple(p.target for p in pos),
        tuple(p.low_drift for p in pos),
        tuple(p.high_drift for p in pos),
        tuple(demo.prices[p.security_id] for p in pos),
    )
    mvs = [market_value(p.cash, p.holdings, demo.prices) for p in portfolios]
    floors = [(mv * D("0.07")).quantize(D("0.01")) for mv in mvs]
    sol = solve_closed_form(a, [mills_of(mv) for mv in mvs], floors)
    assert sol.method == [MILP] * len(portfolios)
    specs = [(F(p.target), F(p.low_drift), F(p.high_drift)) for p in pos]
    return a, milp_problems(sol, a, sol.bands, 30.0), specs


def natural_reference(a: ModelArrays, problem: MilpProblem, specs: list) -> Fraction:
    """CVXPY + HiGHS on the natural formulation (full bands, objective in dollars); its exact objective."""
    import cvxpy as cp

    mv = Fraction(problem.mv_mills, 1000)
    px = [F(p) for p in a.prices]
    lo = [max(0, -((-mv * (t - low)) // p)) for (t, low, _), p in zip(specs, px, strict=True)]
    hi = [int(mv * (t + high) // p) for (t, _, high), p in zip(specs, px, strict=True)]
    u = cp.Variable(len(px), integer=True, bounds=[np.array(lo, float), np.array(hi, float)])
    p = np.array([float(x) for x in px])
    tau = np.array([float(mv * t) for t, _, _ in specs])
    prob = cp.Problem(cp.Minimize(cp.sum(cp.abs(tau - cp.multiply(p, u)))), [p @ u <= float(mv - F(problem.min_cash))])
    # threads as the engine sets them (HiGHS's process-wide scheduler keeps the first solve's thread count)
    prob.solve(solver=cp.HIGHS, mip_rel_gap=0.0, mip_abs_gap=1e-4, time_limit=60, threads=HIGHS_THREADS)
    assert prob.status == cp.OPTIMAL
    ref = [round(v) for v in u.value]
    assert reference_violations(mv, specs, px, ref, F(problem.min_cash)) == []  # exactly feasible
    return sum((abs(mv * t - q * x) for (t, _, _), x, q in zip(specs, px, ref, strict=True)), Fraction(0))


@pytest.mark.slow
def test_demo_seven_percent_floor_matches_the_cvxpy_reference_to_the_cent(demo_binding) -> None:
    a, problems, specs = demo_binding
    routes = {True: 0, False: 0}
    for problem in problems:
        out = solve_milp(problem)
        assert out.quantities is not None and out.solver_status == "optimal", out.error
        routes[out.certified] += 1
        mv = Fraction(problem.mv_mills, 1000)
        px = [F(p) for p in a.prices]
        assert reference_violations(mv, specs, px, out.quantities, F(problem.min_cash)) == []
        ours = sum(
            (abs(mv * t - q * x) for (t, _, _), x, q in zip(specs, px, out.quantities, strict=True)), Fraction(0)
        )
        ref = natural_reference(a, problem, specs)
        assert ours <= ref  # exact: never worse than a feasible reference answer
        assert ref - ours <= Fraction(1, 100), (problem.index, float(ref - ours))  # same objective to the cent
    assert routes[True] >= 30 and routes[False] >= 1, routes


def test_certified_route_and_highs_route_agree_exactly(demo_binding, monkeypatch: pytest.MonkeyPatch) -> None:
    _, problems, _ = demo_binding
    fast = [solve_milp(p) for p in problems]
    assert sum(o.certified for o in fast) >= 30
    monkeypatch.setattr(milp_solve, "_certified_reduction", lambda *args: None)
    slow = [solve_milp(p) for p in problems]
    assert not any(o.certified for o in slow)
    for problem, f, s in zip(problems, fast, slow, strict=True):
        assert f.quantities is not None and s.quantities is not None
        assert objective(problem, f.quantities) == objective(problem, s.quantities), problem.index


def test_time_limit_holds_on_the_certified_route(demo_binding) -> None:
    _, problems, _ = demo_binding
    problem = next(p for p in problems if solve_milp(p).certified)
    late = MilpProblem(*(getattr(problem, f) for f in MilpProblem.__dataclass_fields__ if f != "time_limit"), 1e-9)
    out = solve_milp(late)
    assert out.quantities is None and out.error is not None
    assert out.error.code == "SOLVER_FAILED" and out.error.details["solverStatus"] == "time_limit"


def three_securities() -> ModelArrays:
    ids, prices = (sid(0xA), sid(0xB), sid(0xC)), (D("10.1"), D("7.3"), D("13.1"))
    return ModelArrays(ids, (D("0.3"),) * 3, (D("0.3"),) * 3, (D("0.3"),) * 3, prices)


def test_first_shares_alone_can_certify_the_optimum() -> None:
    # two securities at 600, MV 1000, both over target: one first share frees the 200 deficit; selling it adds
    # 600 − 2·150 = 300 of drift, and nothing that frees less than 600 exists -> certified without a solver
    p = MilpProblem(0, "P0", 1_000_000, D(0), (D("0.45"),) * 2, (D(600),) * 2, (0, 0), (1, 1), 30.0)
    out = solve_milp(p)
    assert out.certified and out.solver_status == "optimal" and sorted(out.quantities or ()) == [0, 1]


def test_highs_route_reports_its_status_names() -> None:
    a = three_securities()
    pending = solve_closed_form(a, [1_001_000], D(150))
    (problem,) = milp_problems(pending, a, pending.bands, 30.0)
    out = solve_milp(problem)
    assert not out.certified and out.solver_status == "optimal" and out.quantities is not None
    status, k = milp_highs._solve_reduction_milp([600, 600], [1, 1], [0, 1], [300, 300], 1300.5, 30.0)
    assert (status, k) == ("infeasible", None)  # 1300.5 cannot be freed from two shares of 600


def test_wall_clock_timeout_is_reported_and_the_next_solve_still_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(milp_highs, "_run_guarded", lambda fn, limit: False)
        assert milp_highs._solve_reduction_milp([600, 600], [1, 1], [0, 1], [300, 300], 199.5, 30.0) == (
            "wall_clock_timeout",
            None,
        )
    # every CVXPY solve builds its own HiGHS model: an abandoned solve leaves nothing behind to reuse
    status, k = milp_highs._solve_reduction_milp([600, 600], [1, 1], [0, 1], [300, 300], 199.5, 30.0)
    assert status == "optimal" and sorted(k or ()) == [0.0, 1.0]  # one first share of either (a tie)


def test_first_highs_of_a_process_prints_no_banner() -> None:
    code = "from engine.milp import new_highs\nh = new_highs()\nh.run()\nprint('done')\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout, proc.stderr) == ("done\n", "")


def test_cli_solve_writes_nothing_to_stderr_on_a_binding_instance(run_cli) -> None:
    a = three_securities()
    ids, prices = a.security_ids, a.prices
    # both portfolios bind; one is solved by the certified bound, the other by HiGHS
    pending = solve_closed_form(a, [1_048_000, 1_001_000], D(150))
    assert pending.method == [MILP, MILP]
    assert [solve_milp(p).certified for p in milp_problems(pending, a, pending.bands, 30.0)] == [True, False]
    batch = {
        "model": {
            "positions": [{"securityId": i, "target": "0.3", "lowDrift": "0.3", "highDrift": "0.3"} for i in ids]
        },
        "prices": {i: str(p) for i, p in zip(ids, prices, strict=True)},
        "options": {"minCash": "150"},
        "portfolios": [{"portfolioId": "P1", "cash": "1048"}, {"portfolioId": "P2", "cash": "1001"}],
    }
    proc = run_cli("solve", "--workers", "1", stdin=json.dumps(batch) + "\n")
    assert proc.returncode == 0
    assert proc.stderr == ""
    (line,) = proc.stdout.splitlines()
    assert [r["status"] for r in json.loads(line)["results"]] == ["optimal", "optimal"]


@pytest.mark.slow
def test_the_warm_pool_is_reused_and_gives_in_process_answers(demo_binding) -> None:
    _, problems, _ = demo_binding
    many = [
        MilpProblem(i, f"P{i}", *(getattr(p, f) for f in list(MilpProblem.__dataclass_fields__)[2:]))
        for i, p in enumerate(problems * 2)
    ]
    assert len(many) >= milp.POOL_MIN_PROBLEMS
    try:
        first = solve_milps(many, workers=2)
        pool = milp.shared_pool(2)
        second = solve_milps(many, workers=2)
        assert milp.shared_pool(2) is pool  # the same warm processes served both calls
        local = solve_milps(many, workers=1)
        assert [o.quantities for o in first] == [o.quantities for o in second] == [o.quantities for o in local]
        # cancelled at the first check: every problem is either solved or CANCELLED, and the pool stays usable
        cancelled = solve_milps(many, workers=2, cancel=lambda: True)
        assert {o.error.code for o in cancelled if o.error} <= {"CANCELLED"}
        assert [o.quantities for o in solve_milps(many, workers=2)] == [o.quantities for o in local]
    finally:
        milp.shutdown_pool()
    assert milp_pool._pool is None
