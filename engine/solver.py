"""The exact batch solver: closed form for slack cash rows, MILP where the cash floor binds.

For K portfolios of one model at one price snapshot (product-spec 2.3-2.4, engine-design §2):

1. one vectorised pass computes the whole-share bands and the band-clamped nearest quantities;
2. a band with no whole share, or band minimums that cost more than MV − minCash, is infeasible and
   diagnosed in O(N) (naming the security and the numbers, or the cash shortfall);
3. where the clamped nearest quantities fit the cash floor they are the exact optimum (the problem is
   separable once the cash row is slack) — no solver;
4. the remaining rows (cash floor binds) go to :mod:`engine.milp` (a certified integer bound, else a HiGHS MILP);
5. every answer is verified exactly by :mod:`engine.postcheck`; one that fails becomes an error.

Market values come in as integer mills (MV is quantised to 0.001), so the core never sees a float MV.

Routes, and the exact conditions under which each one's answer is the optimum (engine-design §2):

- **Closed form** (this module): the objective Σ|MV·tᵢ − uᵢpᵢ| is a sum of one-security terms, and the
  bands are one-security rules, so with no rule coupling securities the band-clamped nearest quantity of
  each security is optimal on its own. Valid for a row exactly when every coupling rule of the run holds
  at that answer: :func:`needs_milp` is false.
- **Certified bound** (:mod:`engine.milp.certified`): valid when the cash floor is the *only* coupling rule
  and the bounds are [lo, closed-form answer]: the bound reasons about the cash that shares sold back free
  (one knapsack row), so a second coupling row (a turnover cap, a sector limit) invalidates it.
- **HiGHS MILP** (:mod:`engine.milp.highs`): valid for any linear rows added to its model; it works in
  offsets below the closed-form answer, which is exact while every coupling rule is monotone (selling
  shares back never breaks it), as the cash floor is.
- Whatever the route, :func:`engine.postcheck.check_quantities` verifies each answer rule by rule.

Trade controls (product-spec 2.12) do not come through here: :func:`engine.rebalance.solve_controlled` routes a
run with any control to :mod:`engine.controls_batch` (K x N sets, closed form over per-security candidates, binding
floors proved by :mod:`engine.milp.certified` / :mod:`engine.milp.overshoot`), which leaves the rest to the
per-portfolio reference :mod:`engine.controls` (:mod:`engine.milp` when the floor binds over single intervals; its
piece MILP otherwise); both docstrings state when each route is exact.

A run option that couples securities therefore touches, in one place each: its test in :func:`needs_milp`
(rows that break it leave the closed form), its row in the MILP model, the condition under which the
certified bound may still be used, and its step in :mod:`engine.postcheck`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from engine.bands import Bands, ModelArrays, compute_bands, market_values_f
from engine.errors import NonPositiveMarketValue, RebalanceInfeasible, SolverFailed
from engine.exactmath import MONEY, ZERO, fmt_money, plain, sum_tolerance
from engine.postcheck import check_quantities, mv_decimal

if TYPE_CHECKING:
    from engine.milp import MilpProblem

OPTIMAL = "optimal"
INFEASIBLE = "infeasible"
ERROR = "error"
PENDING = "pending"  # cash floor binds: waiting for the MILP

CLOSED_FORM = "closed_form"
MILP = "milp"


@dataclass(eq=False)
class BatchSolution:
    """Answers for K portfolios: ``quantities[k]`` is meaningful only where ``status[k] == 'optimal'``."""

    quantities: np.ndarray  # K x N int64, u' per model security
    status: list[str]
    method: list[str]
    diagnosis: list[str | None]
    error_code: list[str | None]
    portfolio_ids: list[str]
    mills: list[int]
    min_cash: list[Decimal]  # the cash floor of each row
    min_cash_f: np.ndarray
    bands: Bands | None = None  # kept to build the MILPs of the pending rows
    milp_rows: list[int] = field(default_factory=list)
    milp_seconds: dict[int, float] = field(default_factory=dict)
    cash_bound: set[int] = field(default_factory=set)  # rows whose cash row (MV − floor) cut the answer

    def floor_bound(self, row: int) -> bool:
        """The row's cash floor is positive and cut into its answer (binding, or infeasible because of it)."""
        return row in self.cash_bound and self.min_cash[row] > 0

    def count(self, status: str) -> int:
        return sum(1 for s in self.status if s == status)

    def set_error(self, row: int, code: str, message: str, status: str = ERROR) -> None:
        self.status[row] = status
        self.error_code[row] = code
        self.diagnosis[row] = message


def cash_floors(min_cash: Decimal | Sequence[Decimal], k: int) -> tuple[list[Decimal], np.ndarray]:
    """One cash floor per row (a single Decimal applies to every row), as Decimals and floats."""
    if isinstance(min_cash, Decimal | int):
        value = Decimal(min_cash)
        return [value] * k, np.full(k, float(value))
    floors = [Decimal(m) for m in min_cash]
    if len(floors) != k:
        raise ValueError(f"{len(floors)} cash floors for {k} portfolios")
    return floors, np.array([float(m) for m in floors], dtype=np.float64)


def _spend_exceeds(
    quantities: np.ndarray,
    arrays: ModelArrays,
    mills: Sequence[int],
    floors: tuple[list[Decimal], np.ndarray],
    rows: np.ndarray,
    cols: list[int] | None = None,
) -> np.ndarray:
    """Exact mask over ``rows``: Σ u·p > MV − minCash (quantities are non-negative integers).

    ``floors``: the cash floor of every row (see :func:`cash_floors`). ``cols``: the only columns that
    can be non-zero (the others are skipped).
    """
    min_cash, min_cash_f = floors
    if rows.size == 0:
        return np.zeros(0, dtype=bool)
    q = quantities if rows.size == quantities.shape[0] else quantities[rows]  # rows is sorted and unique
    price_f, price_int = arrays.price_f, list(arrays.price_int)
    if cols is not None:
        q = q[:, cols]
        price_f, price_int = price_f[cols], [price_int[i] for i in cols]
    spend = q.astype(np.float64) @ price_f if q.shape[1] else np.zeros(q.shape[0])
    floor_f = min_cash_f[rows]
    budget = market_values_f(np.asarray(mills, dtype=np.int64)[rows]) - floor_f
    margin = sum_tolerance(arrays.size) * (spend + np.abs(budget) + np.abs(floor_f))
    over = spend - budget > margin
    unsure = np.nonzero(np.abs(spend - budget) <= margin)[0]
    scale = 10**arrays.price_places
    for j in unsure.tolist():
        k = int(rows[j])
        spend_units = sum(int(u) * p for u, p in zip(q[j].tolist(), price_int, strict=True))
        budget_units = MONEY.multiply(MONEY.subtract(mv_decimal(mills[k]), min_cash[k]), scale)
        over[j] = Decimal(spend_units) > budget_units
    return over


def needs_milp(
    quantities: np.ndarray,
    arrays: ModelArrays,
    mills: Sequence[int],
    floors: tuple[list[Decimal], np.ndarray],
    rows: np.ndarray,
) -> np.ndarray:
    """The routing predicate of a run: over ``rows``, True where the closed-form answer breaks a coupling rule.

    ``quantities`` are the band-clamped nearest answers; ``floors`` the run's cash floor per row (from
    :func:`cash_floors`). The cash floor Σ u·p ≤ MV − minCash is today the only rule coupling securities, so
    this is its exact test; a new coupling option ORs its own test in here (see the routes above).
    """
    return _spend_exceeds(quantities, arrays, mills, floors, rows)


def _band_diagnosis(arrays: ModelArrays, pid: str, mills: int, lo: np.ndarray, hi: np.ndarray) -> str:
    mv = mv_decimal(mills)
    parts = []
    for i in np.nonzero(lo > hi)[0].tolist():
        low_dollars = max(ZERO, MONEY.multiply(mv, arrays.band_low[i]))
        high_dollars = MONEY.multiply(mv, arrays.band_high[i])
        parts.append(
            f"security {arrays.security_ids[i]}: its band ${fmt_money(low_dollars)} to ${fmt_money(high_dollars)} "
            f"(target {plain(arrays.targets[i])}, low drift {plain(arrays.low_drifts[i])}, high drift "
            f"{plain(arrays.high_drifts[i])}) holds no whole share at price ${plain(arrays.prices[i])} "
            f"(it would need at least {int(lo[i])} and at most {int(hi[i])} shares)"
        )
    return (
        f"no feasible solution exists for portfolio {pid} (market value ${fmt_money(mv)}): "
        + "; ".join(parts)
        + ". Widen the band or change the target so that a whole share fits."
    )


def _cash_diagnosis(arrays: ModelArrays, pid: str, mills: int, min_cash: Decimal, lo: np.ndarray) -> str:
    mv = mv_decimal(mills)
    floor_cost = sum(
        (MONEY.multiply(Decimal(int(q)), p) for q, p in zip(lo.tolist(), arrays.prices, strict=True)), ZERO
    )
    available = MONEY.subtract(mv, min_cash)
    return (
        f"no feasible solution exists for portfolio {pid}: the smallest quantities the bands allow cost "
        f"${fmt_money(floor_cost)}, but only ${fmt_money(available)} is available (market value ${fmt_money(mv)} "
        f"minus minimum cash ${fmt_money(min_cash)}): a cash shortfall of "
        f"${fmt_money(MONEY.subtract(floor_cost, available))}"
    )


def solve_closed_form(
    arrays: ModelArrays,
    mv_mills: Sequence[int] | np.ndarray,
    min_cash: Decimal | Sequence[Decimal] = ZERO,
    *,
    portfolio_ids: Sequence[str] | None = None,
    tie_break: str = "lower",
    seed: int | None = None,
    bands: Bands | None = None,
) -> BatchSolution:
    """The vectorised exact pass: optimal rows solved, infeasible rows diagnosed, binding rows ``pending``.

    ``mv_mills``: market values in integer mills (MV·1000). Rows with MV ≤ 0 are errors here (the
    caller handles MV = 0 as "no trades" before solving). ``min_cash``: one cash floor for every row, or
    one per row.
    """
    mills = np.asarray(mv_mills, dtype=np.int64)
    k = mills.shape[0]
    mills_list = [int(m) for m in mills.tolist()]
    pids = list(portfolio_ids) if portfolio_ids is not None else [f"#{i}" for i in range(k)]
    floors = cash_floors(min_cash, k)
    bands = bands if bands is not None else compute_bands(arrays, mills)
    quantities = bands.nearest.copy()
    if tie_break == "random" and bands.tie.any():
        rng = np.random.default_rng(seed)
        quantities += (bands.tie & (rng.random(bands.tie.shape) < 0.5)).astype(np.int64)
    np.minimum(np.maximum(quantities, bands.lo), bands.hi, out=quantities)
    sol = BatchSolution(
        quantities=quantities,
        status=[OPTIMAL] * k,
        method=[CLOSED_FORM] * k,
        diagnosis=[None] * k,
        error_code=[None] * k,
        portfolio_ids=pids,
        mills=mills_list,
        min_cash=floors[0],
        min_cash_f=floors[1],
        bands=bands,
    )
    bad_mv = mills <= 0
    for r in np.nonzero(bad_mv | bands.out_of_range)[0].tolist():
        if bad_mv[r]:
            mv_text = plain(mv_decimal(mills_list[r]))
            msg = f"cannot rebalance portfolio {pids[r]}: its market value {mv_text} is not positive"
            sol.set_error(r, NonPositiveMarketValue.code, msg)
        else:
            msg = f"portfolio {pids[r]}: share quantities above 2**50 are outside the engine's exact range"
            sol.set_error(r, SolverFailed.code, msg)
    usable = ~(bad_mv | bands.out_of_range)
    # lo is 0 outside the columns with t − l > 0, and hi ≥ 0, so only those columns can hold an empty band
    low_cols = [i for i, num in enumerate(arrays.num_low) if num > 0]
    empty_band = (bands.lo[:, low_cols] > bands.hi[:, low_cols]).any(axis=1) & usable
    for r in np.nonzero(empty_band)[0].tolist():
        sol.set_error(
            r,
            RebalanceInfeasible.code,
            _band_diagnosis(arrays, pids[r], mills_list[r], bands.lo[r], bands.hi[r]),
            INFEASIBLE,
        )
    rows = np.nonzero(usable & ~empty_band)[0]
    short = _spend_exceeds(bands.lo, arrays, mills_list, floors, rows, low_cols)
    for r in rows[short].tolist():
        sol.set_error(
            r,
            RebalanceInfeasible.code,
            _cash_diagnosis(arrays, pids[r], mills_list[r], floors[0][r], bands.lo[r]),
            INFEASIBLE,
        )
        sol.cash_bound.add(r)
    rows = rows[~short]
    binding = needs_milp(quantities, arrays, mills_list, floors, rows)
    for r in rows[binding].tolist():
        sol.status[r] = PENDING
        sol.method[r] = MILP
        sol.milp_rows.append(r)
        sol.cash_bound.add(r)
    solved = rows[~binding]
    _verify(sol, arrays, solved)
    return sol


def _verify(sol: BatchSolution, arrays: ModelArrays, rows: np.ndarray) -> None:
    """Post-check rows exactly; a failing row becomes an error and its answer is never used."""
    if rows.size == 0:
        return
    failures = check_quantities(
        arrays,
        [sol.mills[r] for r in rows.tolist()],
        [sol.min_cash[r] for r in rows.tolist()],
        sol.quantities[rows],
        [sol.portfolio_ids[r] for r in rows.tolist()],
    )
    for j, reason in failures.items():
        sol.set_error(int(rows[j]), SolverFailed.code, f"the answer failed the exact post-check: {reason}")


def milp_problems(sol: BatchSolution, arrays: ModelArrays, bands: Bands, time_limit: float) -> list[MilpProblem]:
    """The MILPs of the pending (binding) rows: bounds [lo, closed-form answer]."""
    from engine.milp import MilpProblem  # lazy: start-up of a batch with no binding floor (issue 15)

    return [
        MilpProblem(
            index=r,
            portfolio_id=sol.portfolio_ids[r],
            mv_mills=sol.mills[r],
            min_cash=sol.min_cash[r],
            targets=arrays.targets,
            prices=arrays.prices,
            lower=tuple(int(v) for v in bands.lo[r].tolist()),
            upper=tuple(int(v) for v in sol.quantities[r].tolist()),
            time_limit=time_limit,
        )
        for r in sol.milp_rows
    ]


def complete_milps(
    sol: BatchSolution,
    arrays: ModelArrays,
    *,
    time_limit: float = 30.0,
    workers: int | None = 1,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> None:
    """Solve the pending rows of ``sol`` in place (MILP, then the exact post-check)."""
    pending = [r for r in sol.milp_rows if sol.status[r] == PENDING]
    if not pending:
        return
    assert sol.bands is not None
    wanted = set(pending)
    problems = [p for p in milp_problems(sol, arrays, sol.bands, time_limit) if p.index in wanted]
    from engine.milp import solve_milps  # lazy: start-up of a batch with no binding floor (issue 15)

    for outcome in solve_milps(problems, workers=workers, progress=progress, cancel=cancel):
        r = outcome.index
        sol.milp_seconds[r] = outcome.seconds
        if outcome.quantities is None:
            assert outcome.error is not None
            status = INFEASIBLE if outcome.error.code == RebalanceInfeasible.code else ERROR
            sol.set_error(r, outcome.error.code, outcome.error.message, status)
        else:
            sol.quantities[r] = np.array(outcome.quantities, dtype=np.int64)
            sol.status[r] = OPTIMAL
    _verify(sol, arrays, np.array([r for r in pending if sol.status[r] == OPTIMAL], dtype=np.int64))


def solve_batch(
    arrays: ModelArrays,
    mv_mills: Sequence[int] | np.ndarray,
    min_cash: Decimal | Sequence[Decimal] = ZERO,
    *,
    portfolio_ids: Sequence[str] | None = None,
    time_limit: float = 30.0,
    tie_break: str = "lower",
    seed: int | None = None,
    workers: int | None = 1,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> BatchSolution:
    """Solve K portfolios of one model exactly: closed form where the cash row is slack, MILP elsewhere."""
    sol = solve_closed_form(arrays, mv_mills, min_cash, portfolio_ids=portfolio_ids, tie_break=tie_break, seed=seed)
    complete_milps(sol, arrays, time_limit=time_limit, workers=workers, progress=progress, cancel=cancel)
    return sol
