"""The saved-rebalance-record draft (product-spec 2.8, 3.8): built from the optimal results of a run.

Nothing is written here; ``data.repositories.save_run`` persists the draft when the user saves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, localcontext

from engine.errors import InvalidInput
from engine.exactmath import MONEY, ONE, RATIO, ZERO
from engine.models import InvestmentModel, PortfolioResult, RebalanceOptions, RebalanceRecord, RecordPortfolio, RunInfo
from engine.scenarios import REBALANCED


def build_record(
    model: InvestmentModel,
    results: Iterable[PortfolioResult],
    rebalance_date: dt.datetime | None = None,
    run: RunInfo | None = None,
    options: RebalanceOptions | None = None,
) -> RebalanceRecord:
    """A record of the rebalanced results (``optimal``, and ``relaxed`` with its band breaches; failed portfolios
    are left out, 3.8); version 1, no id yet. ``options`` are the run's options (kept so the run can be reproduced).

    ``rebalance_date`` is when the run was computed (default now); a naive datetime is taken as UTC. ``run`` says
    what the run was (scenario, model version used, run-only overrides, parameters).
    Raises ``InvalidInput`` when the model has no id or an optimal result lacks its record positions.
    """
    if not model.model_id:
        raise InvalidInput("a rebalance record needs a saved model (the model has no id)", {"field": "modelId"})
    when = rebalance_date or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    portfolios = []
    for r in results:
        if r.status not in REBALANCED:
            continue
        if r.market_value is None or r.cash_before is None or r.cash_after is None or (r.drifts and not r.positions):
            raise InvalidInput(
                f"the result of portfolio {r.portfolio_id} has no record draft (run with with_positions=True)",
                {"portfolioId": r.portfolio_id},
            )
        portfolios.append(
            RecordPortfolio(
                portfolio_id=r.portfolio_id,
                portfolio_name=r.portfolio_name,
                market_value=r.market_value,
                cash_before_rebalance=r.cash_before,
                cash_after_rebalance=r.cash_after,
                positions=r.positions,
                band_breaches=r.band_breaches,
            )
        )
    return RebalanceRecord(
        model_id=model.model_id,
        model_name=model.name,
        rebalance_date=when,
        portfolios=tuple(portfolios),
        run=run,
        options=options,
    )


def record_invariant_errors(portfolio: RecordPortfolio) -> list[str]:
    """Check the invariants of 2.8 on one record portfolio; returns what is broken (empty when sound).

    Exact: MV = cashAfter + Σ adjusted values, each position value = quantity·price, actualDrift and the
    trade fields consistent. ``Σ actual = 1 − cashAfter/MV`` holds to the 28 significant digits of the
    ratio arithmetic (each ``actual`` is a rounded quotient), checked to 1e-20 relative per position.
    """
    errors: list[str] = []
    mv = portfolio.market_value
    with localcontext(MONEY):
        total = sum((p.adjusted_position_market_value for p in portfolio.positions), ZERO)
        if portfolio.cash_after_rebalance + total != mv:
            errors.append(f"market value {mv} != cash after {portfolio.cash_after_rebalance} + positions {total}")
        seen: set[str] = set()
        for p in portfolio.positions:
            if p.security_id in seen:
                errors.append(f"security {p.security_id} appears twice")
            seen.add(p.security_id)
            if p.adjusted_position_market_value != p.adjusted_quantity * p.price:
                errors.append(f"{p.security_id}: adjusted value is not quantity × price")
            if p.original_position_market_value != p.original_quantity * p.price:
                errors.append(f"{p.security_id}: original value is not quantity × price")
            delta = p.adjusted_quantity - p.original_quantity
            expected_type = None if delta == 0 else ("BUY" if delta > 0 else "SELL")
            if p.transaction_type != expected_type or (delta != 0 and p.trade_quantity != abs(delta)):
                errors.append(f"{p.security_id}: trade fields do not match the quantity change {delta}")
            if mv != 0:
                expected = RATIO.divide(p.adjusted_position_market_value, mv)
                if p.actual != expected:
                    errors.append(f"{p.security_id}: actual {p.actual} != {expected}")
            expected_drift = RATIO.subtract(ONE, RATIO.divide(p.actual, p.target)) if p.target else ZERO
            if p.actual_drift != expected_drift:
                errors.append(f"{p.security_id}: actualDrift {p.actual_drift} != 1 − actual/target")
        if mv != 0:
            actual_sum = sum((p.actual for p in portfolio.positions), ZERO)
            expected_sum = RATIO.subtract(ONE, RATIO.divide(portfolio.cash_after_rebalance, mv))
            tolerance = Decimal("1e-20") * (len(portfolio.positions) + 1)
            if abs(actual_sum - expected_sum) > tolerance:
                errors.append(f"Σ actual {actual_sum} != 1 − cashAfter/MV {expected_sum}")
    return errors
