"""Benchmark: the Drift page's firm-wide triage scan on the demo data (issue 14 item 10).

Prints side by side, over every demo model with portfolios, on the simulator served on loopback sockets:

1. before: every model fetched and analysed, the per-security frame built eagerly (the old ``build_view``);
2. after, first scan: the same fetch, the per-security frame left for the drill-down (``DriftView.rows`` is lazy);
3. after, a scan within 5 minutes of the last: every snapshot reused, only the triage tables are rebuilt.

    .venv/bin/python bench/bench_triage.py [--runs 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.drift import frames
from data.demo import load_demo
from data.services import build_services
from data.settings import SERVICE_NAMES, Settings
from data.snapshot import build_market_snapshot
from engine.drift import analyse_drift
from tests.support.simulator import served_simulator


def fetch(svc, model, eager_rows: bool) -> frames.DriftView:
    snap = build_market_snapshot(svc, model)
    report = analyse_drift(model, snap.prices, snap.portfolios)
    view = frames.DriftView(
        model=model,
        taken_at=snap.taken_at,
        portfolios=frames.portfolio_frame(report),
        report=report,
        ticker_of={sid: s.ticker for sid, s in snap.securities.items()},
        failures=dict(snap.failures),
    )
    if eager_rows:
        _ = view.rows
    return view


def scan(svc, models, views: dict[str, frames.DriftView] | None, eager_rows: bool) -> dict[str, frames.DriftView]:
    now = dt.datetime.now(dt.UTC)
    out = {}
    for m in models:
        known = (views or {}).get(m.model_id)
        fresh = known is not None and known.fresh_for(m, now, dt.timedelta(minutes=5))
        out[m.model_id] = known if fresh else fetch(svc, m, eager_rows)
    frames.model_summary(list(out.values()), models, set(), 0.02)
    frames.triage_portfolios(out.values())
    frames.worst_queue(out.values(), 0.02)
    return out


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    models = [m for m in load_demo().models if m.portfolios]
    print(f"triage scan of {len(models)} demo models, {sum(len(m.portfolios) for m in models):,} portfolios")
    with served_simulator() as served:
        settings = Settings(**{f"{name}_url": served.urls[name] for name in SERVICE_NAMES})
        with build_services(settings) as svc:
            before, cold, warm = [], [], []
            for _ in range(args.runs):
                svc.clear_caches()
                before.append(timed(lambda: scan(svc, models, None, eager_rows=True))[0])
                svc.clear_caches()
                seconds, views = timed(lambda: scan(svc, models, None, eager_rows=False))
                cold.append(seconds)
                warm.append(timed(lambda: scan(svc, models, views, eager_rows=False))[0])  # noqa: B023
    print(f"{'scan':<44} {'median s':>9}  runs")
    for label, times in (
        ("before (eager per-security frames)", before),
        ("after, first scan (lazy per-security frames)", cold),
        ("after, rescan within 5 min (snapshots reused)", warm),
    ):
        print(f"{label:<44} {statistics.median(times):9.2f}  {' '.join(f'{t:.2f}' for t in times)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
