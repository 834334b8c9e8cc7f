"""Fetching drift views without Streamlit: one model's snapshot + analysis, and the firm-wide triage scan.

The scan fetches the models concurrently under the quick-look retry policy (``data.http.QUICK_LOOK``: one immediate
retry, no backoff), so one model whose service calls fail cannot hold the scan for the 1 + 2 + 4 s backoff of
every failing portfolio; its failures are shown per model with a "Retry" that fetches it again under the normal
policy. Snapshots of the same model version younger than the reuse age are kept. The bench
(``bench/bench_triage.py``) and the page call the same functions.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from components.drift import frames
from components.drift.frames import DriftView
from data.http import QUICK_LOOK, retry_policy
from data.services import GlobeCoServices
from data.snapshot import build_market_snapshot
from engine.drift import analyse_drift
from engine.errors import EngineError
from engine.models import InvestmentModel

SCAN_WORKERS = 4  # models fetched at once (each snapshot also bounds its own requests in flight)


def fetch_view(
    services: GlobeCoServices, model: InvestmentModel, progress: Callable[[int, int], None] | None = None
) -> DriftView:
    """Fetch the market snapshot of ``model``'s portfolios and analyse their drift (typed errors propagate)."""
    started = time.perf_counter()
    snap = build_market_snapshot(services, model, progress=progress)
    report = analyse_drift(model, snap.prices, snap.portfolios)
    return DriftView(
        model=model,
        taken_at=snap.taken_at,
        portfolios=frames.portfolio_frame(report),
        report=report,
        ticker_of={sid: s.ticker for sid, s in snap.securities.items()},
        failures=dict(snap.failures),
        seconds=time.perf_counter() - started,
        requests=snap.requests,
    )


@dataclass
class ScanOutcome:
    """What one scan produced: a view per model it could read, the error of each model it could not."""

    views: dict[str, DriftView]
    errors: dict[str, EngineError] = field(default_factory=dict)
    reused: int = 0
    fetched: int = 0


def scan_models(
    services: GlobeCoServices,
    models: Sequence[InvestmentModel],
    known: Mapping[str, DriftView] | None = None,
    *,
    max_age: dt.timedelta,
    fresh: bool = False,
    on_done: Callable[[int, int, InvestmentModel], None] | None = None,
) -> ScanOutcome:
    """Views of every model with portfolios: reused from ``known`` when as young as ``max_age`` (unless ``fresh``),
    otherwise fetched concurrently under the quick-look retry policy.

    A model whose fetch raised gets its error in ``errors`` (the others are still scanned). ``on_done(done, total,
    model)`` is called on the calling thread after each fetched model.
    """
    now = dt.datetime.now(dt.UTC)
    views = dict(known or {})
    outcome = ScanOutcome(views)
    todo: list[InvestmentModel] = []
    for model in (m for m in models if m.portfolios):
        view = views.get(model.model_id)
        if not fresh and view is not None and view.fresh_for(model, now, max_age):
            outcome.reused += 1
        else:
            todo.append(model)
    if not todo:
        return outcome
    with retry_policy(QUICK_LOOK), cf.ThreadPoolExecutor(min(SCAN_WORKERS, len(todo)), "drift-scan") as pool:
        futures = {pool.submit(contextvars.copy_context().run, fetch_view, services, m): m for m in todo}
        for done, future in enumerate(cf.as_completed(futures), start=1):
            model = futures[future]
            try:
                views[model.model_id] = future.result()
                outcome.errors.pop(model.model_id, None)
            except EngineError as err:  # one model's outage is shown for that model; the scan goes on
                outcome.errors[model.model_id] = err
            outcome.fetched += 1
            if on_done is not None:
                on_done(done, len(todo), model)
    return outcome
