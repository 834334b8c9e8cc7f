"""Benchmark: the Drift page's firm-wide triage scan on the demo data (issue 14 item 10).

Prints side by side, over every demo model with portfolios, on the simulator served on loopback sockets:

1. before: one model after the other, every failing call retried with the settings' backoff (1 + 2 + 4 s);
2. after, cold scan: ``components.drift.scan.scan_models`` (the page's function): models fetched concurrently,
   quick-look retry policy (one immediate retry; failures shown per model with "Retry");
3. after, a scan within 5 minutes of the last: every snapshot reused, only the triage tables are rebuilt.

Each cold scan starts with empty service caches. The failures of both cold scans are printed, so a faster scan
that hid a failure would show.

    .venv/bin/python bench/bench_triage.py [--runs 3]
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
from components.drift.scan import fetch_view, scan_models
from data.demo import load_demo
from data.services import build_services
from data.settings import SERVICE_NAMES, Settings
from tests.support.simulator import served_simulator

REUSE = dt.timedelta(minutes=5)


def tables(views) -> None:
    frames.model_summary(list(views), [v.model for v in views], set(), 0.02)
    frames.triage_portfolios(views)
    frames.worst_queue(views, 0.02)


def before(svc, models) -> dict[str, frames.DriftView]:
    views = {m.model_id: fetch_view(svc, m) for m in models}
    tables(views.values())
    return views


def after(svc, models, known=None) -> dict[str, frames.DriftView]:
    outcome = scan_models(svc, models, known, max_age=REUSE)
    tables(outcome.views.values())
    return outcome.views


def failures(views) -> int:
    return sum(len(v.failures) for v in views.values())


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # demo models carry no id until stored: give each one, as the database would
    models = [m.model_copy(update={"model_id": f"{i:024x}"}) for i, m in enumerate(load_demo().models) if m.portfolios]
    print(f"triage scan of {len(models)} demo models, {sum(len(m.portfolios) for m in models):,} portfolios")
    rows: dict[str, list[float]] = {"before": [], "cold": [], "warm": []}
    failed: dict[str, int] = {}
    with served_simulator() as served:
        settings = Settings(**{f"{name}_url": served.urls[name] for name in SERVICE_NAMES})
        with build_services(settings) as svc:
            for _ in range(args.runs):
                svc.clear_caches()
                seconds, views = timed(lambda: before(svc, models))
                rows["before"].append(seconds)
                failed["before"] = failures(views)
                svc.clear_caches()
                seconds, views = timed(lambda: after(svc, models))
                rows["cold"].append(seconds)
                failed["cold"] = failures(views)
                rows["warm"].append(timed(lambda: after(svc, models, views))[0])  # noqa: B023
                failed["warm"] = failures(views)
    labels = {
        "before": "before: sequential, settings' backoff",
        "cold": "after, cold scan (concurrent, quick look)",
        "warm": "after, rescan within 5 min (reused)",
    }
    print(f"{'scan':<44} {'median s':>9} {'failed':>7}  runs")
    for key, label in labels.items():
        times = rows[key]
        print(f"{label:<44} {statistics.median(times):9.2f} {failed[key]:7,}  {' '.join(f'{t:.2f}' for t in times)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
