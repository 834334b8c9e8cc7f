"""Running one what-if scenario: frozen market snapshot, then the engine on the run's options in chunks.

Flow (product-spec 2.5, 2.9, 3.8, 3.16): take the market snapshot once per model and scope (or reuse the frozen one,
so scenarios compare like with like); price any security that per-run overrides add
(``data.snapshot.with_prices_for``); solve the portfolios with ``engine.rebalance.rebalance_portfolios`` and the
scenario's ``RebalanceOptions`` in chunks of 250, reporting progress after each chunk. The engine owns every rule of
the run (cash floors included); nothing is written anywhere.

Cancel: a Streamlit script cannot be interrupted from inside a blocking call, but any widget click during a run
asks Streamlit to rerun, and the script stops at its next Streamlit call. Progress is therefore reported on the
script thread between chunks (and between snapshot steps), so "Cancel" takes effect within one chunk; the
click's callback leaves a flag that the rerun turns into a "run cancelled" message. A cancelled run keeps nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from components import audit, auth
from components.rebalance import store
from data.services import GlobeCoServices
from data.snapshot import MarketSnapshot, build_market_snapshot, with_prices_for
from engine.construct import paused_gc
from engine.drift import analyse_drift
from engine.errors import EngineError, ErrorInfo
from engine.milp import shared_pool
from engine.models import InvestmentModel, PortfolioResult
from engine.rebalance import rebalance_portfolios

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


def take_snapshot(
    services: GlobeCoServices, model: InvestmentModel, portfolio_ids: Sequence[str], progress: Progress
) -> MarketSnapshot:
    """A fresh market snapshot of the portfolios (raises ``ServiceUnavailable`` naming the service: fail-fast)."""

    def snap_progress(done: int, total: int, *_: object) -> None:
        progress(0.4 * done / max(total, 1), f"Market data: {done:,} of {total:,}")

    return build_market_snapshot(services, model, list(portfolio_ids), progress=snap_progress)


def _failed(pid: str, name: str | None, err: ErrorInfo) -> PortfolioResult:
    return PortfolioResult(
        portfolio_id=pid, portfolio_name=name, status="error", diagnosis=err.message, error_code=err.code
    )


def solve(
    run_model: InvestmentModel,
    snapshot: MarketSnapshot,
    params: store.ScenarioParams,
    progress: Progress,
    workers: int | None = None,
    portfolio_names: Mapping[str, str] | None = None,
) -> list[PortfolioResult]:
    """Results for every requested portfolio, in request order: solved, or failed with the snapshot's reason.

    Each chunk is one engine call with the run's options (the engine computes every cash floor from the MV it
    computes); the chunks only make progress and Cancel responsive.
    """
    requested = list(params.portfolio_ids)
    holdings = {p.portfolio_id: p for p in snapshot.portfolios}
    names = {**(portfolio_names or {}), **{p.portfolio_id: p.name for p in snapshot.portfolios if p.name}}
    results: dict[str, PortfolioResult] = {
        pid: _failed(pid, names.get(pid), info) for pid, info in snapshot.failures.items()
    }
    todo = [holdings[pid] for pid in requested if pid in holdings and pid not in results]
    total, done = len(todo), 0
    # The collector stays paused across the chunks, not only inside each engine call: between two calls it would
    # rescan every result built so far (a fifth of a 1,000 x 100 solve). Results hold no reference cycles.
    with paused_gc():
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]

            def inner(n: int, _total: int, base: int = done) -> None:
                progress(0.4 + 0.6 * (base + n) / max(total, 1), f"Solved {base + n:,} of {total:,} portfolios")

            for res in rebalance_portfolios(
                run_model, snapshot.prices, chunk, options=params.options, workers=workers, progress=inner
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
    options = scenario.params.options.model_copy(update={"time_limit": time_limit})
    params = replace(scenario.params, portfolio_ids=pending, options=options)
    names = {r.portfolio_id: r.portfolio_name for r in scenario.results if r.portfolio_name}
    results = solve(scenario.run_model, scenario.snapshot, params, report, workers, names)
    scenario.replace_results(results, out_of_band_flags(scenario.run_model, scenario.snapshot, results))
    scenario.timings["retry_limit"] = time_limit
    return len(pending)


def warm_solver_pool(workers: int | None = None) -> None:
    """Start the engine's solver processes in the background, if not running yet (the engine's own pool).

    Called after a run: the next scenarios of the frozen snapshot (cash floors, trade controls) hand their binding
    portfolios to that pool, and starting it (``spawn``: each process imports the engine and CVXPY) cost the first
    such run several seconds (bench/bench_ui_controls.py). Returns at once; a pool that runs all its processes gets
    no task.
    """
    n = (os.cpu_count() or 1) if workers is None else max(1, workers)  # as engine.rebalance resolves it
    if n > 1:
        # a dead pool: the next engine call replaces it, as without the warm-up
        with contextlib.suppress(BrokenExecutor):
            pool = shared_pool(n)
            if _live_processes(pool) < n:  # just created, or started on demand by fewer tasks than processes
                for _ in range(n):  # a spawn pool starts one process per task it cannot hand to an idle one
                    pool.submit(int)  # the task itself does nothing


def _live_processes(pool: ProcessPoolExecutor) -> int:
    """The pool's running worker processes (CPython's ``_processes``, pid -> process; none known: 0, so a pool
    whose internals differ is warmed as before)."""
    processes = getattr(pool, "_processes", None) or {}
    return sum(p.is_alive() for p in list(processes.values()))


def out_of_band_flags(
    run_model: InvestmentModel, snapshot: MarketSnapshot, results: Sequence[PortfolioResult]
) -> dict[str, bool]:
    """Band status before the run of the portfolios the engine did not rebalance (from the drift view)."""
    pending = {r.portfolio_id for r in results if r.status != "optimal"}
    if not pending:
        return {}
    portfolios = [p for p in snapshot.portfolios if p.portfolio_id in pending]
    try:
        report = analyse_drift(run_model, snapshot.prices, portfolios)
    except EngineError:
        return {}
    return {d.portfolio_id: bool(d.needs_rebalance) for d in report.portfolios if d.error is None}


def run_scenario(
    services: GlobeCoServices, request: RunRequest, progress: Progress | None = None, workers: int | None = None
) -> store.Scenario:
    """Run the what-if and return the scenario (not yet added to the session store); checked and audit-logged."""
    user = auth.require(auth.Action.RUN_WHAT_IF).user_id
    params = request.params
    with audit.timed("what_if_run", user, model_id=params.model_id, portfolios=len(params.portfolio_ids)) as fields:
        scenario = _run(services, request, progress, workers)
        s = scenario.summary
        fields.update(run_id=scenario.id, optimal=s.optimal, infeasible=s.infeasible, failed=s.failed, orders=s.orders)
    return scenario


def _run(
    services: GlobeCoServices, request: RunRequest, progress: Progress | None, workers: int | None
) -> store.Scenario:
    report = _on_script_thread(progress)
    params = request.params
    t0 = time.perf_counter()
    snapshot = store.frozen_snapshot(params.model_id, params.portfolio_ids)
    reused = snapshot is not None
    if snapshot is None:
        report(0.0, "Taking a market snapshot…")
        snapshot = take_snapshot(services, request.run_model, params.portfolio_ids, report)
    snapshot = with_prices_for(services, snapshot, [p.security_id for p in request.run_model.positions])
    store.keep_snapshot(params.model_id, params.portfolio_ids, snapshot)
    t1 = time.perf_counter()
    report(0.4, "Solving…")
    results = solve(request.run_model, snapshot, params, report, workers, request.portfolio_names)
    t2 = time.perf_counter()
    tickers = {sid: info.ticker for sid, info in snapshot.securities.items()}
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
    "out_of_band_flags",
    "retry_timed_out",
    "run_scenario",
    "solve",
    "warm_solver_pool",
]
