"""One binding portfolio solved exactly: the certified bound first, else the HiGHS model, then the polish."""

from __future__ import annotations

import time

from engine.errors import EngineError, ErrorInfo, RebalanceInfeasible, SolverFailed
from engine.milp.certified import _certified_reduction, polish
from engine.milp.highs import _solve_reduction_milp
from engine.milp.problem import MilpOutcome, MilpProblem, _integer_data

INTEGRALITY_TOLERANCE = 1e-6
MAX_REPAIRS = 4


def solve_milp(problem: MilpProblem) -> MilpOutcome:
    """Solve one binding portfolio exactly; typed errors are returned in the outcome, never raised."""
    started = time.perf_counter()
    try:
        quantities, status, improvements, certified = _solve(problem, started)
        seconds = time.perf_counter() - started
        return MilpOutcome(problem.index, quantities, None, status, seconds, improvements, certified)
    except EngineError as err:
        status = str(err.details.get("solverStatus", "error"))
        return MilpOutcome(problem.index, None, ErrorInfo.of(err), status, time.perf_counter() - started)


def _solve(problem: MilpProblem, started: float) -> tuple[tuple[int, ...], str, int, bool]:
    data = _integer_data(problem)
    lower, upper = list(problem.lower), list(problem.upper)
    n = len(lower)
    details = {"portfolioId": problem.portfolio_id}
    if any(lo > up for lo, up in zip(lower, upper, strict=True)) or (
        sum(lo * p for lo, p in zip(lower, data.price, strict=True)) > data.budget
    ):
        raise RebalanceInfeasible(
            f"no feasible solution exists for portfolio {problem.portfolio_id}", {**details, "solverStatus": "presolve"}
        )
    u = list(upper)
    deficit = sum(q * p for q, p in zip(upper, data.price, strict=True)) - data.budget
    status, certified = "not_binding", False
    if deficit > 0:
        movable = [i for i in range(n) if lower[i] < upper[i]]
        price = [data.price[i] for i in movable]
        caps = [upper[i] - lower[i] for i in movable]
        over = [j for j, i in enumerate(movable) if upper[i] * data.price[i] > data.tau[i]]
        bonus = [2 * (upper[movable[j]] * price[j] - data.tau[movable[j]]) for j in over]
        k: list[int] | None = None
        if time.perf_counter() - started < problem.time_limit:
            k = _certified_reduction(price, caps, over, bonus, deficit)
        if k is not None:
            status, certified = "optimal", True
        else:
            status, k = _milp_reduction(problem, started, price, caps, over, bonus, deficit)
        if time.perf_counter() - started > problem.time_limit:
            status = "time_limit"  # the limit holds for the certified route too
        if status != "optimal" or k is None:
            raise _unsolved(problem, status, details)
        for j, i in enumerate(movable):
            u[i] = upper[i] - k[j]
    slack = data.budget - sum(q * p for q, p in zip(u, data.price, strict=True))
    improvements = polish(data.tau, data.price, lower, upper, u, slack)
    return tuple(u), status, improvements, certified


def _unsolved(problem: MilpProblem, status: str, details: dict[str, str]) -> EngineError:
    """The typed error of a binding row left without an answer, worded by why (issue 13 item 7).

    The band minimums fit the cash floor here (the closed form checked it), so a time limit or any other
    solver status is "not solved", never "no feasible solution".
    """
    pid = problem.portfolio_id
    if status in ("infeasible", "infeasible_inaccurate"):
        return RebalanceInfeasible(
            f"no feasible solution exists for portfolio {pid} (solver status: {status})",
            {**details, "solverStatus": status},
        )
    if status in ("time_limit", "user_limit"):  # user_limit: HiGHS's own time limit, as CVXPY reports it
        message = f"portfolio {pid} was not solved within the time limit of {problem.time_limit:g} s"
    else:
        message = f"portfolio {pid} was not solved: the solver stopped without an exact answer"
    return SolverFailed(f"{message} (solver status: {status})", {**details, "solverStatus": status})


def _milp_reduction(
    problem: MilpProblem,
    started: float,
    price: list[int],
    caps: list[int],
    over: list[int],
    bonus: list[int],
    deficit: int,
) -> tuple[str, list[int] | None]:
    """The MILP route: HiGHS until its answer frees the whole deficit in exact integers."""
    details = {"portfolioId": problem.portfolio_id}
    # Half a unit below the integer deficit: every exactly feasible reduction is strictly inside.
    need = deficit - 0.5
    status = "time_limit"
    for _attempt in range(MAX_REPAIRS):
        remaining = problem.time_limit - (time.perf_counter() - started)
        if remaining <= 0:
            return "time_limit", None
        status, k_values = _solve_reduction_milp(price, caps, over, bonus, need, remaining)
        if k_values is None:
            return status, None
        k = [round(v) for v in k_values]
        if any(abs(v - q) > INTEGRALITY_TOLERANCE for v, q in zip(k_values, k, strict=True)):
            raise SolverFailed(
                f"the solver returned a non-integral answer for portfolio {problem.portfolio_id}",
                {**details, "solverStatus": status},
            )
        if any(not 0 <= q <= cap for q, cap in zip(k, caps, strict=True)):
            raise SolverFailed(
                f"the solver returned quantities outside their bounds for portfolio {problem.portfolio_id}",
                {**details, "solverStatus": status},
            )
        freed = sum(q * p for q, p in zip(k, price, strict=True))
        if freed >= deficit:
            return status, k
        # Tolerance shortfall: exclude this reduction and every smaller one, then solve again.
        need = freed + 0.5
    return "overspend", None
