"""Running one what-if scenario: frozen market snapshot, per-portfolio cash floor, engine solve in chunks.

Flow (product-spec 2.5, 2.9, 3.8, 3.16): take the market snapshot once per model and scope (or reuse the frozen one,
so scenarios compare like with like); price any security that per-run overrides add; compute each portfolio's
cash floor (the greater of an amount and a fraction of its MV); solve the portfolios in chunks of 250, each with its
own floor (``min_cash_by_portfolio``), and report progress after each chunk. Nothing is written anywhere.

Cancel: a Streamlit script cannot be interrupted from inside a blocking call, but any widget click during a run
asks Streamlit to rerun, and the script stops at its next Streamlit call. Progress is therefore reported on the
script thread between chunks (and between snapshot steps), so "Cancel" takes effect within one chunk; the
click's callback leaves a flag that the rerun turns into a "run cancelled" message. A cancelled run keeps nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from components import scenarios as store
from engine.errors import EngineError, ErrorInfo
from engine.models import InvestmentModel, PortfolioHoldings, PortfolioResult, RebalanceOptions
from engine.scenarios import min_cash_for

CHUNK = 250  # portfolios per engine call: small enough for a responsive progress bar and cancel

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class RunRequest:
    """A what-if run as the user configured it (``run_model`` carries the per-run overrides, if any)."""

    name: str
    model: InvestmentModel
    run_model: InvestmentModel
    params: store.ScenarioParams
    portfolio_names: Mapping[str, str] = field(default_factory=dict)  # names for portfolios the snapshot lacks


def _on_script_thread(progress: Progress | None, every: float = 0.15) -> Progress:
    """Throttled progress, reported only from the script thread (Streamlit elements belong to the script run).

    Each report is also the point where a pending "Cancel" click stops the run.
    """
    owner = threading.current_thread()
    last = [0.0]

    def report(fraction: float, text: str) -> None:
        if progress is None or threading.current_thread() is not owner:
            return
        now = time.perf_counter()
        if fraction < 1.0 and now - last[0] < every:
            return
        last[0] = now
        progress(min(max(fraction, 0.0), 1.0), text)

    return report


def take_snapshot(services: Any, model: InvestmentModel, portfolio_ids: Sequence[str], progress: Progress) -> Any:
    """A fresh market snapshot of the portfolios (raises ``ServiceUnavailable`` naming the service: fail-fast)."""
    from data.snapshot import build_market_snapshot

    def snap_progress(done: int, total: int, *_: Any) -> None:
        progress(0.4 * done / max(total, 1), f"Market data: {done:,} of {total:,}")

    return build_market_snapshot(services, model, list(portfolio_ids), progress=snap_progress)


def price_missing(services: Any, snapshot: Any, model: InvestmentModel) -> Any:
    """The snapshot plus prices for securities that overrides added; frozen prices are never re-read."""
    missing = [p.security_id for p in model.positions if p.security_id not in snapshot.prices]
    if not missing:
        return snapshot
    prices = dict(snapshot.prices)
    securities = dict(snapshot.securities)
    for sid in missing:
        info = securities.get(sid) or services.security.get(sid)
        securities[sid] = info
        prices[sid] = services.pricing.price(info.ticker)
    return _copy(snapshot, prices=prices, securities=securities)


def _copy(snapshot: Any, **changes: Any) -> Any:
    if hasattr(snapshot, "model_copy"):
        return snapshot.model_copy(update=changes)
    return replace(snapshot, **changes)


def _failed(holdings_or_id: PortfolioHoldings | str, name: str | None, err: ErrorInfo) -> PortfolioResult:
    pid = holdings_or_id if isinstance(holdings_or_id, str) else holdings_or_id.portfolio_id
    return PortfolioResult(
        portfolio_id=pid, portfolio_name=name, status="error", diagnosis=err.message, error_code=err.code
    )


def cash_floors(
    portfolios: Sequence[PortfolioHoldings], prices: dict[str, Decimal], params: store.ScenarioParams
) -> tuple[dict[str, Decimal], dict[str, ErrorInfo]]:
    """Each portfolio's cash floor; portfolios whose MV cannot be computed (missing price) are returned as errors."""
    from engine.marketvalue import market_value

    floors: dict[str, Decimal] = {}
    errors: dict[str, ErrorInfo] = {}
    for p in portfolios:
        if params.min_cash_fraction == 0:
            floors[p.portfolio_id] = params.min_cash_amount
            continue
        try:
            mv = market_value(p.cash, p.holdings, prices, p.portfolio_id)
        except EngineError as err:  # a missing price or a number outside engine.limits
            errors[p.portfolio_id] = ErrorInfo.of(err)
            continue
        floors[p.portfolio_id] = min_cash_for(mv, params.min_cash_amount, params.min_cash_fraction)
    return floors, errors


def solve(
    run_model: InvestmentModel,
    snapshot: Any,
    params: store.ScenarioParams,
    progress: Progress,
    workers: int | None = None,
    portfolio_names: Mapping[str, str] | None = None,
) -> list[PortfolioResult]:
    """Results for every requested portfolio, in request order: solved, or failed with the snapshot's reason."""
    from engine.rebalance import rebalance_portfolios

    requested = list(params.portfolio_ids)
    holdings = {p.portfolio_id: p for p in snapshot.portfolios}
    names = {**(portfolio_names or {}), **{p.portfolio_id: p.name for p in snapshot.portfolios if p.name}}
    results: dict[str, PortfolioResult] = {}
    for pid, info in dict(getattr(snapshot, "failures", {}) or {}).items():
        results[pid] = _failed(pid, names.get(pid), info if isinstance(info, ErrorInfo) else ErrorInfo(**info))
    todo = [holdings[pid] for pid in requested if pid in holdings and pid not in results]
    floors, errors = cash_floors(todo, snapshot.prices, params)
    for pid, err in errors.items():
        results[pid] = _failed(pid, names.get(pid), err)
    solvable = [p for p in todo if p.portfolio_id in floors]
    options = RebalanceOptions(
        min_cash=params.min_cash_amount, time_limit=params.time_limit, trade_date=params.trade_date
    )
    total, done = len(todo), 0
    for start in range(0, len(solvable), CHUNK):
        chunk = solvable[start : start + CHUNK]
        # each portfolio its own floor (the greater of the amount and its % of MV), all solved in one call
        own = {p.portfolio_id: floors[p.portfolio_id] for p in chunk} if params.min_cash_fraction else None

        def inner(n: int, _total: int, base: int = done) -> None:
            progress(0.4 + 0.6 * (base + n) / max(total, 1), f"Solved {base + n:,} of {total:,} portfolios")

        for res in rebalance_portfolios(
            run_model,
            snapshot.prices,
            chunk,
            options=options,
            workers=workers,
            progress=inner,
            min_cash_by_portfolio=own,
        ):
            results[res.portfolio_id] = res
        done += len(chunk)
        progress(0.4 + 0.6 * done / max(total, 1), f"Solved {done:,} of {total:,} portfolios")
    missing = ErrorInfo("NOT_FOUND", "the portfolio is not in the market snapshot")
    return [results.get(pid) or _failed(pid, names.get(pid), missing) for pid in requested]


def retry_timed_out(
    scenario: store.Scenario, time_limit: float, progress: Progress | None = None, workers: int | None = None
) -> int:
    """Re-solve the scenario's portfolios that hit the solver time limit, on the same snapshot, with a longer limit.

    Results replace the old ones in the scenario (prices stay frozen, so it is still one consistent run).
    Returns the number of portfolios retried.
    """
    report = _on_script_thread(progress)
    pending = tuple(r.portfolio_id for r in scenario.results if r.error_code == "SOLVER_FAILED")
    if not pending:
        return 0
    params = replace(scenario.params, portfolio_ids=pending, time_limit=time_limit)
    names = {r.portfolio_id: r.portfolio_name for r in scenario.results if r.portfolio_name}
    results = solve(scenario.run_model, scenario.snapshot, params, report, workers, names)
    scenario.replace_results(results, out_of_band_flags(scenario.run_model, scenario.snapshot, results))
    scenario.timings["retry_limit"] = time_limit
    return len(pending)


def out_of_band_flags(run_model: InvestmentModel, snapshot: Any, results: Sequence[PortfolioResult]) -> dict[str, bool]:
    """Band status before the run of the portfolios the engine did not rebalance (from the drift view)."""
    pending = {r.portfolio_id for r in results if r.status != "optimal"}
    if not pending:
        return {}
    from engine.drift import analyse_drift

    portfolios = [p for p in snapshot.portfolios if p.portfolio_id in pending]
    try:
        report = analyse_drift(run_model, snapshot.prices, portfolios)
    except EngineError:
        return {}
    return {d.portfolio_id: bool(d.needs_rebalance) for d in report.portfolios if d.error is None}


def run_scenario(
    services: Any, request: RunRequest, progress: Progress | None = None, workers: int | None = None
) -> store.Scenario:
    """Run the what-if and return the scenario (not yet added to the session store)."""
    report = _on_script_thread(progress)
    params = request.params
    t0 = time.perf_counter()
    snapshot = store.frozen_snapshot(params.model_id, params.portfolio_ids)
    reused = snapshot is not None
    if snapshot is None:
        report(0.0, "Taking a market snapshot…")
        snapshot = take_snapshot(services, request.run_model, params.portfolio_ids, report)
    snapshot = price_missing(services, snapshot, request.run_model)
    store.keep_snapshot(params.model_id, params.portfolio_ids, snapshot)
    t1 = time.perf_counter()
    report(0.4, "Solving…")
    results = solve(request.run_model, snapshot, params, report, workers, request.portfolio_names)
    t2 = time.perf_counter()
    securities = getattr(snapshot, "securities", {}) or {}
    tickers = {sid: getattr(info, "ticker", None) or str(info) for sid, info in securities.items()}
    scenario = store.Scenario(
        name=request.name,
        params=params,
        model=request.model,
        run_model=request.run_model,
        snapshot=snapshot,
        results=results,
        tickers=tickers,
        out_of_band_before=out_of_band_flags(request.run_model, snapshot, results),
        timings={"snapshot": 0.0 if reused else t1 - t0, "solve": t2 - t1, "reused_snapshot": float(reused)},
    )
    report(1.0, "Done")
    return scenario


__all__ = [
    "CHUNK",
    "RunRequest",
    "cash_floors",
    "out_of_band_flags",
    "price_missing",
    "retry_timed_out",
    "run_scenario",
    "solve",
]
