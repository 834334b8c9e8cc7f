"""Rebalance the portfolios of one model: validation, market values, the exact solver, result objects.

``rebalance_portfolios`` is the what-if run of product-spec 2.5 for every portfolio of a model at one
price snapshot; it never writes anything. Each portfolio gets one :class:`PortfolioResult` in input
order: ``optimal`` (transactions, drift rows for every security in holdings ∪ model, and the
saved-record draft of 2.8), ``infeasible`` (diagnosis) or ``error`` (diagnosis and error code). A bad
portfolio never stops the others; a model that breaks a rule of 1.3 gives every portfolio that error.

Cash after is MV − Σ u'·p: the quantity the cash floor bounds, and the one that makes the record
invariant MV = cashAfter + Σ adjusted values exact. It equals C − Σ Δ·p except for the 0.001 rounding of
MV (supplement 1), which is zero whenever prices, cash and holdings have at most 3 decimals in total.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING

import numpy as np

from engine.bands import ModelArrays
from engine.columnar import Prepared as _Prepared
from engine.columnar import SecurityRow as _Security
from engine.columnar import build_optimal, carry_orders, prepare_portfolios
from engine.construct import make_drift_row, make_record_position, make_transaction, paused_gc
from engine.errors import (
    Cancelled,
    EngineError,
    ExternalDataError,
    InvalidInput,
    NonPositiveMarketValue,
    RebalanceInfeasible,
)
from engine.exactmath import BASIS, MONEY, ONE, RATIO, WIDE, ZERO, mills_of, plain
from engine.limits import MAX_TIME_LIMIT, check_range, in_range, model_range_error, range_error
from engine.models import InvestmentModel, PortfolioHoldings, PortfolioResult, Position, RebalanceOptions
from engine.solver import ERROR, INFEASIBLE, OPTIMAL, PENDING, complete_milps, solve_closed_form
from engine.validation import clean_positions, model_violations

if TYPE_CHECKING:
    from engine.controls import Answer
    from engine.controls_batch import ControlledPortfolio

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]

CHUNK = 128  # portfolios materialised between progress reports / cancel checks


def today_utc() -> dt.date:
    """The default trade date: today in UTC (the default business time zone, product-spec 3.20)."""
    return dt.datetime.now(dt.UTC).date()


def _error_result(portfolio: PortfolioHoldings, err: EngineError, **known: Decimal | None) -> PortfolioResult:
    status = INFEASIBLE if err.code == "REBALANCE_INFEASIBLE" else ERROR
    return PortfolioResult(
        portfolio_id=portfolio.portfolio_id,
        portfolio_name=portfolio.name,
        status=status,
        diagnosis=err.message,
        error_code=err.code,
        **known,
    )


def model_error(model: InvestmentModel, prices: Mapping[str, Decimal], options: RebalanceOptions) -> EngineError | None:
    """The error every portfolio of the run gets, if any: a broken model rule, a bad option, a missing price.

    Out-of-range numbers (see :mod:`engine.limits`) are checked first, so nothing below computes with them.
    """
    out_of_range = model_range_error(model.positions, prices, options.min_cash)
    if out_of_range is not None:
        return out_of_range
    violations = model_violations(model.name or "model", model.positions)
    if violations:
        return InvalidInput(
            "the model breaks "
            + (f"{len(violations)} rules: " if len(violations) > 1 else "a rule: ")
            + "; ".join(v.message for v in violations),
            violations=violations,
        )
    if options.min_cash < 0:
        return InvalidInput(
            f"minimum cash {plain(options.min_cash)} must not be negative",
            {"field": "minCash", "value": str(options.min_cash)},
        )
    fraction_error = range_error(options.min_cash_fraction, "minimum cash fraction (minCashPct)", "weight")
    if fraction_error is not None:
        return fraction_error
    if options.min_cash_fraction < 0:
        return InvalidInput(
            f"minimum cash fraction {plain(options.min_cash_fraction)} of market value must not be negative",
            {"field": "minCashPct", "value": str(options.min_cash_fraction)},
        )
    trade_error = range_error(options.min_trade_value, "minimum trade value (minTradeValue)", "money")
    if trade_error is not None:
        return trade_error
    if options.min_trade_value < 0:
        return InvalidInput(
            f"minimum trade value {plain(options.min_trade_value)} must not be negative",
            {"field": "minTradeValue", "value": str(options.min_trade_value)},
        )
    if not 0 < options.time_limit <= MAX_TIME_LIMIT:
        return InvalidInput(
            f"time limit {options.time_limit:g} s must be positive and at most {MAX_TIME_LIMIT:g} s",
            {"field": "timeLimit", "value": options.time_limit},
        )
    missing = []
    for p in clean_positions(model.positions):
        price = prices.get(p.security_id)
        if price is None or not price > 0:
            missing.append(p.security_id if price is None else f"{p.security_id} (price {plain(price)})")
    if missing:
        return ExternalDataError(
            "no positive price for model securit" + ("ies " if len(missing) > 1 else "y ") + ", ".join(missing),
            {"securityIds": missing},
        )
    return None


def _build_result(
    prep: _Prepared,
    securities: Sequence[_Security],
    adjusted: Sequence[int] | None,
    trade_date: dt.date,
    with_positions: bool,
    answer: Answer | None = None,
) -> PortfolioResult:
    """The optimal result of one portfolio: ``adjusted`` are u' per model security (None: no trades).

    The per-position reference: :func:`engine.columnar.build_optimal` builds the same results from integer columns
    and leaves to this one what it cannot take exactly (and zero market values).

    ``answer``: a trade-controls answer (its quantities cover the model securities, then the extras; it
    sets the status, the breaches and each row's ``kept_by``).
    """
    if answer is not None:
        assert answer.quantities is not None
        adjusted = answer.quantities
    mv = prep.market_value
    held = prep.held
    transactions = []
    drifts = []
    positions = []
    spend = drift_after = drift_before = ZERO
    mv_is_zero = mv == 0
    rows = [*securities, *prep.extras]
    n_model = len(securities)
    with localcontext(MONEY):  # exact: any rounding of money would raise
        for i, sec in enumerate(rows):
            sid = sec.security_id
            u = held.get(sid, ZERO)
            if adjusted is None:  # MV = 0: no trades
                up = u
            elif i < n_model:
                up = Decimal(adjusted[i])
            elif answer is not None:
                up = adjusted[i]
            else:  # held outside the model: band [0, 0], sold
                up = ZERO
            price = sec.price
            target = sec.target
            adj_value = price * up
            orig_value = price * u
            target_value = mv * target
            drift_after += abs(target_value - adj_value)
            drift_before += abs(target_value - orig_value)
            spend += adj_value
            actual = ZERO if mv_is_zero else RATIO.divide(adj_value, mv)
            delta = up - u
            if delta:
                kind = "BUY" if delta > 0 else "SELL"
                qty = abs(delta)
                transactions.append(
                    make_transaction(
                        {"transaction_type": kind, "security_id": sid, "quantity": qty, "trade_date": trade_date}
                    )
                )
            else:
                kind = qty = None
            drifts.append(
                make_drift_row(
                    {
                        "security_id": sid,
                        "original_quantity": u,
                        "adjusted_quantity": up,
                        "target": target,
                        "high_drift": sec.high_drift,
                        "low_drift": sec.low_drift,
                        "actual": actual.quantize(BASIS, ROUND_HALF_UP, RATIO),
                        **({"kept_by": answer.kept_by[i]} if answer is not None and answer.kept_by else {}),
                    }
                )
            )
            if with_positions:
                positions.append(
                    make_record_position(
                        {
                            "security_id": sid,
                            "price": price,
                            "original_quantity": u,
                            "adjusted_quantity": up,
                            "original_position_market_value": orig_value,
                            "adjusted_position_market_value": adj_value,
                            "target": target,
                            "high_drift": sec.high_drift,
                            "low_drift": sec.low_drift,
                            "actual": actual,
                            "actual_drift": RATIO.subtract(ONE, RATIO.divide(actual, target)) if target else ZERO,
                            "transaction_type": kind,
                            "trade_quantity": qty,
                            "trade_date": trade_date if kind else None,
                        }
                    )
                )
        cash_after = mv - spend
    p = prep.portfolio
    return PortfolioResult(
        portfolio_id=p.portfolio_id,
        portfolio_name=p.name,
        status=answer.status if answer is not None else OPTIMAL,
        market_value=mv,
        cash_before=p.cash,
        cash_after=cash_after,
        band_breaches=answer.breaches if answer is not None else (),
        portfolio_drift=drift_after,
        drift_before=drift_before,
        transactions=tuple(transactions),
        drifts=tuple(drifts),
        positions=tuple(positions),
    )


def _drift_before(prep: _Prepared, securities: Sequence[_Security]) -> Decimal:
    with localcontext(MONEY):
        mv = prep.market_value
        return sum(
            (abs(mv * s.target - s.price * prep.held.get(s.security_id, ZERO)) for s in [*securities, *prep.extras]),
            ZERO,
        )


def rebalance_portfolios(
    model: InvestmentModel,
    prices: Mapping[str, Decimal],
    portfolios: Sequence[PortfolioHoldings],
    options: RebalanceOptions | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    *,
    with_positions: bool = True,
) -> list[PortfolioResult]:
    """What-if rebalance of every portfolio of ``model`` at one price snapshot; one result per portfolio.

    ``prices`` maps security id to price (every security held or in the model needs a positive one).
    ``workers``: processes for MILP-heavy batches (default: CPU count). ``progress(done, total)`` is
    called as portfolios finish; ``cancel()`` is checked between chunks, and portfolios not finished
    when it returns True get status ``error`` with code ``CANCELLED``. ``with_positions=False`` skips the
    saved-record draft (the CLI does not need it). Each portfolio's cash floor is
    ``options.cash_floor(MV)``: the greater of ``min_cash`` and ``min_cash_fraction`` of its MV, computed
    from the one MV the run computes, so portfolios with different floors are still solved in one call.
    """
    # WIDE: operator arithmetic inside never depends on the caller's decimal context
    with paused_gc(), localcontext(WIDE):
        return _rebalance(
            model,
            prices,
            portfolios,
            options or RebalanceOptions(),
            workers,
            progress,
            cancel,
            with_positions,
        )


def _rebalance(
    model: InvestmentModel,
    prices: Mapping[str, Decimal],
    portfolios: Sequence[PortfolioHoldings],
    options: RebalanceOptions,
    workers: int | None,
    progress: Progress | None,
    cancel: Cancel | None,
    with_positions: bool,
) -> list[PortfolioResult]:
    workers = (os.cpu_count() or 1) if workers is None else max(1, workers)
    total = len(portfolios)
    results: list[PortfolioResult | None] = [None] * total
    done = 0

    def report() -> None:
        if progress is not None:
            progress(done, total)

    err = model_error(model, prices, options)
    if err is not None:
        out = [_error_result(p, err, cash_before=in_range(p.cash)) for p in portfolios]
        done = total
        report()
        return out

    positions: tuple[Position, ...] = clean_positions(model.positions)
    securities = [
        _Security(p.security_id, prices[p.security_id], p.target, p.low_drift, p.high_drift) for p in positions
    ]
    trade_date = options.trade_date or today_utc()

    to_solve: list[_Prepared] = []
    min_cash: list[Decimal] = []
    prepared = prepare_portfolios(portfolios, [s.security_id for s in securities], prices)
    for row, (portfolio, prep) in enumerate(zip(portfolios, prepared, strict=True)):
        if isinstance(prep, EngineError):  # this portfolio's data fails it alone
            results[row] = _error_result(portfolio, prep, cash_before=in_range(portfolio.cash))
            done += 1
            continue
        mv = prep.market_value
        if mv < 0:
            exc = NonPositiveMarketValue(
                f"cannot rebalance a portfolio with non-positive market value (portfolio {portfolio.portfolio_id}: "
                f"market value {plain(mv)})",
                {"portfolioId": portfolio.portfolio_id, "marketValue": str(mv)},
            )
            results[row] = _error_result(portfolio, exc, market_value=mv, cash_before=portfolio.cash)
            done += 1
        elif mv == 0:
            results[row] = _build_result(prep, securities, None, trade_date, with_positions)
            done += 1
        else:
            try:  # a floor in % of MV is derived money: range-checked like MV itself
                floor = check_range(
                    options.cash_floor(mv),
                    f"minimum cash of portfolio {portfolio.portfolio_id}",
                    "derived money",
                    {"portfolioId": portfolio.portfolio_id},
                )
            except EngineError as exc:
                results[row] = _error_result(portfolio, exc, market_value=mv, cash_before=portfolio.cash)
                done += 1
                continue
            to_solve.append(prep)
            min_cash.append(floor)
    report()

    arrays = ModelArrays(
        tuple(s.security_id for s in securities),
        tuple(s.target for s in securities),
        tuple(s.low_drift for s in securities),
        tuple(s.high_drift for s in securities),
        tuple(s.price for s in securities),
    )
    from engine.controls import has_controls  # lazy: see solve_controlled

    if has_controls(options):
        base = done

        def controlled_progress(n_done: int) -> None:
            if progress is not None:
                progress(base + n_done, total)

        answers = solve_controlled(arrays, to_solve, min_cash, options, controlled_progress, cancel, workers)
        built = _controlled_results(to_solve, securities, answers, trade_date, with_positions)
        for prep, res in zip(to_solve, built, strict=True):
            results[prep.row] = res
        done = total
        report()
        return [r for r in results if r is not None]
    sol = solve_closed_form(
        arrays,
        np.array([mills_of(p.market_value) for p in to_solve], dtype=np.int64),
        options.min_cash if not options.min_cash_fraction else min_cash,
        portfolio_ids=[p.portfolio.portfolio_id for p in to_solve],
        tie_break=options.tie_break,
        seed=options.seed,
    )
    quantities = sol.quantities.tolist()

    def finish(j: int) -> None:
        prep = to_solve[j]
        status = sol.status[j]
        if status == OPTIMAL:
            results[prep.row] = _floor_flag(
                _build_result(prep, securities, quantities[j], trade_date, with_positions), sol.floor_bound(j)
            )
        else:
            code = sol.error_code[j] or "INTERNAL_ERROR"
            results[prep.row] = PortfolioResult(
                portfolio_id=prep.portfolio.portfolio_id,
                portfolio_name=prep.portfolio.name,
                status=INFEASIBLE if status == INFEASIBLE else ERROR,
                market_value=prep.market_value,
                cash_before=prep.portfolio.cash,
                drift_before=_drift_before(prep, securities),
                diagnosis=sol.diagnosis[j],
                error_code=code,
                floor_bound=sol.floor_bound(j),
            )

    def cancel_rest() -> None:
        for i, r in enumerate(results):
            if r is None:
                results[i] = _error_result(
                    portfolios[i],
                    Cancelled(f"the run was cancelled before portfolio {portfolios[i].portfolio_id} was finished"),
                )

    def finish_many(js: Sequence[int]) -> None:
        """finish(j) of each; the optimal ones built together from integer columns (engine.columnar)."""
        optimal = [j for j in js if sol.status[j] == OPTIMAL]
        built = build_optimal(
            [to_solve[j] for j in optimal], securities, sol.quantities[optimal], None, trade_date, with_positions
        )
        for j, res in zip(optimal, built, strict=True):
            if res is not None:
                results[to_solve[j].row] = _floor_flag(res, sol.floor_bound(j))
        for j in js:
            if results[to_solve[j].row] is None:
                finish(j)

    ready = [j for j in range(len(to_solve)) if sol.status[j] != PENDING]
    for start in range(0, len(ready), CHUNK):
        if cancel is not None and cancel():
            cancel_rest()
            return [r for r in results if r is not None]
        block = ready[start : start + CHUNK]
        finish_many(block)
        done += len(block)
        report()

    base = done

    def milp_progress(n_done: int, _n_total: int) -> None:
        if progress is not None:
            progress(base + n_done, total)

    complete_milps(sol, arrays, time_limit=options.time_limit, workers=workers, progress=milp_progress, cancel=cancel)
    quantities = sol.quantities.tolist()
    finish_many(sol.milp_rows)
    if options.on_infeasible == "nearest":  # relaxed answers for the rows no answer is optimal for
        again = [j for j in range(len(to_solve)) if sol.status[j] == INFEASIBLE]
        if again:
            subset = [to_solve[j] for j in again]
            answers = solve_controlled(
                arrays, subset, [min_cash[j] for j in again], options, cancel=cancel, workers=workers
            )
            relaxed = _controlled_results(subset, securities, answers, trade_date, with_positions)
            for prep, ans, res in zip(subset, answers, relaxed, strict=True):
                if ans is not None:  # a cancelled re-solve keeps the infeasible result
                    results[prep.row] = res
    done = total
    report()
    return [r for r in results if r is not None]


def solve_controlled(
    arrays: ModelArrays,
    preps: Sequence[_Prepared],
    floors: Sequence[Decimal],
    options: RebalanceOptions,
    progress: Callable[[int], None] | None = None,
    cancel: Cancel | None = None,
    workers: int = 1,
) -> list[Answer | None]:
    """The trade-controls route (product-spec 2.12): each portfolio's exact answer.

    :func:`engine.controls_batch.solve_controls` solves the run on K x N integer matrices (closed form, the
    binding-floor routes of :mod:`engine.milp`) and leaves the rest to the per-portfolio reference
    :func:`engine.controls.solve_portfolio`. ``progress(n)`` as portfolios finish; once ``cancel()`` returns
    True the unfinished ones are None.
    """
    # lazy: engine.controls_batch pulls in the MILP stack, not needed at start-up of a run without controls (issue 15)
    from engine.controls_batch import ControlsRun, solve_controls

    portfolios = [_controlled_portfolio(p) for p in preps]
    return solve_controls(ControlsRun(arrays, portfolios, floors, options, workers, progress, cancel))


def _controlled_portfolio(prep: _Prepared) -> ControlledPortfolio:
    from engine.controls_batch import ControlledPortfolio  # lazy, as in solve_controlled

    return ControlledPortfolio(
        prep.portfolio.portfolio_id,
        prep.held,
        tuple((e.security_id, e.price) for e in prep.extras),
        prep.market_value,
    )


def _controlled_results(
    preps: Sequence[_Prepared],
    securities: Sequence[_Security],
    answers: Sequence[Answer | None],
    trade_date: dt.date,
    with_positions: bool,
) -> list[PortfolioResult]:
    """The result of each trade-controls answer (None: cancelled); those with quantities built together."""
    solved = [j for j, ans in enumerate(answers) if ans is not None and ans.quantities is not None]
    built = build_optimal(
        [preps[j] for j in solved], securities, None, [answers[j] for j in solved], trade_date, with_positions
    )
    out: list[PortfolioResult | None] = [None] * len(preps)
    for j, res in zip(solved, built, strict=True):
        out[j] = None if res is None else _floor_flag(res, answers[j].floor_bound)
    for j, (prep, ans) in enumerate(zip(preps, answers, strict=True)):
        if out[j] is not None:
            continue
        if ans is None:
            exc = Cancelled(f"the run was cancelled before portfolio {prep.portfolio.portfolio_id} was finished")
            out[j] = _error_result(prep.portfolio, exc)
        else:
            out[j] = _controlled_result(prep, securities, ans, trade_date, with_positions)
    return [r for r in out if r is not None]


def _controlled_result(
    prep: _Prepared,
    securities: Sequence[_Security],
    answer: Answer,
    trade_date: dt.date,
    with_positions: bool,
) -> PortfolioResult:
    if answer.quantities is not None:
        result = _build_result(prep, securities, None, trade_date, with_positions, answer)
        return _floor_flag(result, answer.floor_bound)
    return PortfolioResult(
        portfolio_id=prep.portfolio.portfolio_id,
        portfolio_name=prep.portfolio.name,
        status=INFEASIBLE if answer.status == INFEASIBLE else ERROR,
        market_value=prep.market_value,
        cash_before=prep.portfolio.cash,
        drift_before=_drift_before(prep, securities),
        diagnosis=answer.diagnosis,
        error_code=answer.error_code or (RebalanceInfeasible.code if answer.status == INFEASIBLE else "INTERNAL_ERROR"),
        floor_bound=answer.floor_bound,
    )


def _floor_flag(result: PortfolioResult, bound: bool) -> PortfolioResult:
    """``result`` marked ``floor_bound`` when its cash floor cut into it (few rows: a copy only for those); the copy
    keeps the order columns of the original (``engine.columnar.orders_of``)."""
    return carry_orders(result, result.model_copy(update={"floor_bound": True})) if bound else result


def rebalance_portfolio(
    model: InvestmentModel,
    prices: Mapping[str, Decimal],
    portfolio: PortfolioHoldings,
    options: RebalanceOptions | None = None,
) -> PortfolioResult:
    """What-if rebalance of one portfolio (in-process, no worker pool)."""
    return rebalance_portfolios(model, prices, [portfolio], options, workers=1)[0]
