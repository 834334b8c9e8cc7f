"""Benchmark: the drift view of the 1,000-portfolio demo model, stage by stage (no Streamlit).

Measures what the Drift page does after "pick a model": market snapshot (holdings + one price per security, from
the embedded simulator or the configured services), drift analysis, display frames, heatmap / distribution /
drill-down figures and their JSON serialisation (what Streamlit sends to the browser). Prints seconds per stage,
the total and its ratio to the 10 s target. The browser test ``tests/e2e/test_drift_view.py`` prints the same
path measured end to end in Chromium.

    .venv/bin/python bench/drift_view.py [--model "Global Equity Core"] [--repeat 3] [--price-mode fixed]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

TARGET_SECONDS = 10.0


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and its wall-clock seconds."""
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def run_once(services: Any, model: Any) -> dict[str, float]:
    """One pass of the page's work; returns seconds per stage."""
    from components.drift import charts as drift_charts
    from components.drift import frames
    from data.snapshot import build_market_snapshot
    from engine.drift import analyse_drift

    out: dict[str, float] = {}
    services.clear_caches()  # every pass pays for its prices and tickers, as a fresh "Refresh" would
    snap, out["snapshot"] = timed(lambda: build_market_snapshot(services, model))
    report, out["analyse"] = timed(lambda: analyse_drift(model, snap.prices, snap.portfolios))
    ticker_of = {sid: s.ticker for sid, s in snap.securities.items()}

    def build_frames() -> tuple[Any, Any]:
        return frames.portfolio_frame(report), frames.row_frame(report, ticker_of)

    (pf, rows), out["frames"] = timed(build_frames)

    def figures() -> int:
        ranked = frames.rank_portfolios(pf)
        order = ranked["portfolio_id"].head(30).tolist()
        figs = [
            drift_charts.heatmap_figure(rows, order, dict(zip(pf["portfolio_id"], pf["name"], strict=True))),
            drift_charts.distribution_figure(ranked),
            drift_charts.drill_figure(frames.drill_rows(rows, order[0])),
        ]
        return sum(len(f.to_json()) for f in figs)

    size, out["figures"] = timed(figures)
    out["total"] = sum(out.values())
    out["portfolios"] = len(snap.portfolios)
    out["failures"] = len(snap.failures)
    out["requests"] = getattr(snap, "requests", 0)
    out["figure_bytes"] = size
    return out


def main() -> None:
    """Parse arguments, run the passes, print the table and the ratio to the target."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Global Equity Core")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--price-mode", default="fixed", choices=["fixed", "seeded", "live"])
    args = parser.parse_args()

    from data.demo import load_demo
    from data.services import build_services
    from data.settings import get_settings
    from engine.models import InvestmentModel

    demo = load_demo()
    model = InvestmentModel.model_validate(demo.model(args.model).model_dump()).model_copy(
        update={"model_id": "0" * 24}
    )
    settings = get_settings(simulator_price_mode=args.price_mode)
    with build_services(settings) as services:
        print(f"model {model.name!r}: {len(model.portfolios):,} portfolios, {len(model.positions)} positions")
        print(f"services: {sorted(set(services.describe().values()))}")
        runs = [run_once(services, model) for _ in range(args.repeat)]
    stages = ["snapshot", "analyse", "frames", "figures", "total"]
    print(f"{'stage':<10} {'median s':>9} {'min s':>8} {'max s':>8}")
    for stage in stages:
        values = [r[stage] for r in runs]
        print(f"{stage:<10} {statistics.median(values):9.3f} {min(values):8.3f} {max(values):8.3f}")
    last = runs[-1]
    print(
        f"portfolios {last['portfolios']:,} · failures {last['failures']} · service requests {last['requests']:,} · "
        f"figure JSON {last['figure_bytes'] / 1e6:.2f} MB"
    )
    total = statistics.median(r["total"] for r in runs)
    print(f"total / target: {total:.2f} s / {TARGET_SECONDS:.0f} s = {total / TARGET_SECONDS:.2f}")


if __name__ == "__main__":
    main()
