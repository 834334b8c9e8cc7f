"""Benchmark of the PM trade controls (product-spec 2.12) on the demo's 1,000-portfolio "Global Equity Core".

Scenarios side by side: GlobeCo default; out-of-band; out-of-band + minimum trade $1,000 — each with and
without a cash floor of 5 % of MV (and the last one with every control, nearest on). For each: orders,
orders under $500, turnover ($ and % of MV), residual drift (Σ portfolio drift), portfolios still out of band,
relaxed / infeasible portfolios, and the solve time: the numeric core (the engine's solver calls) and end to
end (``rebalance_portfolios`` on the in-memory snapshot, results built). Prints a table; asserts nothing.

    .venv/bin/python bench/bench_controls.py [--repeat 2] [--portfolios N] [--only "5 % floor"]

Absolute times on the shared 2-core machine vary by 1.2-2x between runs; the best of ``--repeat`` is shown,
with each scenario's ratio to the GlobeCo default measured in the same run. ``--workers`` as the app (default:
CPU count; the spawn pool is warmed before timing). "nearest" counts the portfolios with no strict answer that
were diagnosed or given their nearest feasible answer without a solver (``engine.controls_relaxed``); "HiGHS"
the portfolios that reached a MILP solver: default-route MILPs not certified, and under controls the reference
rows whose binding floor (strict or relaxed) no solver-free route proved.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import engine.controls_batch as controls_batch_module
import engine.milp as milp_module
import engine.rebalance as rebalance_module
from data.demo import load_demo
from engine.milp import shared_pool
from engine.models import InvestmentModel, PortfolioHoldings, PortfolioResult, RebalanceOptions
from engine.rebalance import rebalance_portfolios

CORE = ("solve_closed_form", "complete_milps", "solve_controlled")


class CoreTimer:
    """Wraps the solver entry points ``engine.rebalance`` calls, summing their time (the numeric core)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.saved: dict[str, Callable[..., object]] = {}

    def __enter__(self) -> CoreTimer:
        for name in CORE:
            fn = getattr(rebalance_module, name)
            self.saved[name] = fn

            def timed(*args: object, _fn: Callable[..., object] = fn, **kwargs: object) -> object:
                start = time.perf_counter()
                try:
                    return _fn(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start

            setattr(rebalance_module, name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, fn in self.saved.items():
            setattr(rebalance_module, name, fn)


class RouteCounter:
    """Counts the portfolios of a run by route: the controls' stats, and uncertified default-route MILPs."""

    def __init__(self) -> None:
        self.stats: dict[str, int] = {}
        self.saved: dict[str, Callable[..., object]] = {}

    def __enter__(self) -> RouteCounter:
        controls = controls_batch_module.solve_controls
        milps = milp_module.solve_milps
        self.saved = {"controls": controls, "milps": milps}

        def counted_controls(*args: object, _fn: Callable[..., object] = controls, **kwargs: object) -> object:
            return _fn(*args, **kwargs, stats=self.stats)

        def counted_milps(*args: object, _fn: Callable[..., object] = milps, **kwargs: object) -> object:
            outcomes = _fn(*args, **kwargs)
            self.stats["highs"] = self.stats.get("highs", 0) + sum(1 for o in outcomes if not o.certified)  # type: ignore[attr-defined,union-attr]
            return outcomes

        controls_batch_module.solve_controls = counted_controls  # type: ignore[assignment]
        milp_module.solve_milps = counted_milps  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        controls_batch_module.solve_controls = self.saved["controls"]  # type: ignore[assignment]
        milp_module.solve_milps = self.saved["milps"]  # type: ignore[assignment]


def metrics(results: list[PortfolioResult], prices: dict[str, Decimal]) -> dict[str, object]:
    orders = small = 0
    turnover = drift = mv_total = Decimal(0)
    out_of_band = relaxed = infeasible = 0
    for r in results:
        if r.status == "relaxed":
            relaxed += 1
        if r.status in ("infeasible", "error"):
            infeasible += 1
            continue
        mv = r.market_value or Decimal(0)
        mv_total += mv
        drift += r.portfolio_drift or 0
        for t in r.transactions:
            value = t.quantity * prices[t.security_id]
            orders += 1
            turnover += value
            small += value < 500
        if any(
            not mv * (d.target - d.low_drift)
            <= d.adjusted_quantity * prices[d.security_id]
            <= mv * (d.target + d.high_drift)
            for d in r.drifts
        ):
            out_of_band += 1
    return {
        "orders": orders,
        "small": small,
        "turnover": turnover,
        "turnover_pct": turnover / mv_total * 100 if mv_total else Decimal(0),
        "drift": drift,
        "out_of_band": out_of_band,
        "relaxed": relaxed,
        "failed": infeasible,
    }


def run(
    model: InvestmentModel,
    prices: dict[str, Decimal],
    ports: list[PortfolioHoldings],
    options: RebalanceOptions,
    repeat: int,
    workers: int | None,
) -> tuple[list[PortfolioResult], float, float, dict[str, int]]:
    best_core = best_total = float("inf")
    results: list[PortfolioResult] = []
    stats: dict[str, int] = {}
    for _ in range(repeat):
        with CoreTimer() as timer, RouteCounter() as routes:
            start = time.perf_counter()
            results = rebalance_portfolios(model, prices, ports, options, workers=workers)
            total = time.perf_counter() - start
        best_core, best_total = min(best_core, timer.seconds), min(best_total, total)
        stats = routes.stats
    return results, best_core, best_total, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--portfolios", type=int, default=None, help="only the first N portfolios")
    parser.add_argument("--only", default="", help="only scenarios whose name contains this text")
    parser.add_argument("--workers", type=int, default=None, help="solver processes (default: CPU count)")
    args = parser.parse_args()
    if (args.workers or 2) > 1:  # the app's pool is warm: start it outside the timings
        shared_pool(args.workers or (os.cpu_count() or 1)).submit(int).result()
    demo = load_demo()
    model = next(m for m in demo.models if m.name == "Global Equity Core")
    ports = [demo.holdings(pid) for pid in model.portfolios][: args.portfolios]
    prices = dict(demo.prices)
    floor = {"min_cash_fraction": Decimal("0.05")}
    oob = {"trade_policy": "out-of-band"}
    mt = {"min_trade_value": Decimal(1000)}
    scenarios = [
        ("GlobeCo default", {}),
        ("out-of-band", oob),
        ("out-of-band + min trade $1,000", {**oob, **mt}),
        ("default + 5 % floor", floor),
        ("out-of-band + 5 % floor", {**oob, **floor}),
        ("out-of-band + $1,000 + 5 % floor", {**oob, **mt, **floor}),
        (
            "every control + 5 % floor, nearest",
            {
                **oob,
                **mt,
                **floor,
                "no_buy": (model.positions[0].security_id,),
                "no_sell": (model.positions[1].security_id,),
                "on_infeasible": "nearest",
            },
        ),
    ]
    print(
        f"Global Equity Core: {len(ports):,} portfolios, {len(model.positions)} model securities; best of {args.repeat}"
    )
    header = (
        f"| {'scenario':<36} | orders | < $500 | turnover $ | turnover % MV | residual drift $ | out of band | "
        "relaxed | failed | nearest | HiGHS | core s | end to end s | core x default | end to end x default |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    base: tuple[float, float] | None = None
    for name, update in scenarios:
        if args.only not in name and name != "GlobeCo default":
            continue
        options = RebalanceOptions(**update)  # type: ignore[arg-type]
        results, core, total, stats = run(model, prices, ports, options, args.repeat, args.workers)
        base = base or (core, total)
        m = metrics(results, prices)
        cells = (
            f"{name:<36}",
            f"{m['orders']:>6,}",
            f"{m['small']:>6,}",
            f"{m['turnover']:>10,.0f}",
            f"{m['turnover_pct']:>13.2f}",
            f"{m['drift']:>16,.0f}",
            f"{m['out_of_band']:>11,}",
            f"{m['relaxed']:>7,}",
            f"{m['failed']:>6,}",
            f"{stats.get('nearest', 0):>7,}",
            f"{stats.get('highs', 0):>5,}",
            f"{core:>6.2f}",
            f"{total:>12.2f}",
            f"{core / base[0]:>14.1f}",
            f"{total / base[1]:>20.1f}",
        )
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
