"""The data of one binding portfolio's exact problem: what ships to a worker, what comes back, integer money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.errors import ErrorInfo
from engine.exactmath import MONEY, decimals_of, to_scaled_int


@dataclass(frozen=True)
class MilpProblem:
    """One binding portfolio: the model securities with their bounds, ready to ship to a worker process."""

    index: int
    portfolio_id: str
    mv_mills: int
    min_cash: Decimal
    targets: tuple[Decimal, ...]
    prices: tuple[Decimal, ...]
    lower: tuple[int, ...]
    upper: tuple[int, ...]
    time_limit: float


@dataclass(frozen=True)
class MilpOutcome:
    """The answer (quantities per model security) or the typed error, with the solver's status."""

    index: int
    quantities: tuple[int, ...] | None
    error: ErrorInfo | None
    solver_status: str
    seconds: float
    improvements: int = 0  # exact improving moves applied after the solver (0 when HiGHS was exact)
    certified: bool = False  # solved by the certified bound (no solver call)


@dataclass
class _IntegerData:
    """The problem in integer money units (10**-places dollars)."""

    tau: list[int]  # MV·tᵢ
    price: list[int]
    budget: int  # MV − minCash


def _integer_data(problem: MilpProblem) -> _IntegerData:
    mv = Decimal(problem.mv_mills).scaleb(-3)
    places = max(
        [3 + max((decimals_of(t) for t in problem.targets), default=0), decimals_of(problem.min_cash)]
        + [decimals_of(p) for p in problem.prices]
    )
    tau = [to_scaled_int(MONEY.multiply(mv, t), places) for t in problem.targets]
    price = [to_scaled_int(p, places) for p in problem.prices]
    budget = to_scaled_int(MONEY.subtract(mv, problem.min_cash), places)
    return _IntegerData(tau, price, budget)
