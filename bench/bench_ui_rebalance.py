"""What-if pipeline of the app for the 1,000-portfolio demo model, without the browser (issue #6).

Times what the "Run what-if" button does after the click — market snapshot (in-process simulator), cash floors,
engine solve in chunks, scenario metrics — and what the Orders page derives from it: order rows with reasons,
the orders CSV and the block (aggregated) CSV. Two cash-floor settings are compared in the same run: a fixed
amount, and a floor in % of MV (``RebalanceOptions.min_cash_fraction``: the engine gives every portfolio its own
floor in the same chunked calls). Prints medians and ratios; no assertion on time.

``--synthetic N`` (issue #15 part 1) replaces the demo by ``bench/generator.realistic``: 1,000 portfolios (``--k``)
of a model of N securities in an in-memory snapshot (no service calls) and no cash floor (no MILP: the figure is the
result objects' path), and times the what-if end to end as the app runs it: solve
(``components.rebalance.run.solve``, result objects), per-portfolio metrics and the results table, order rows,
the blotter DataFrame (``components.orders.frames.blotter_frame``) and the orders CSV.

``--compare`` (issue #15 part 1, columnar results) times every step twice per run, interleaved in one process: "after"
(the engine's columnar results, :mod:`engine.columnar`, and the orders built from the order columns the engine keeps
with them: ``engine.orders.order_columns`` -> ``OrderColumns.rows``, ``blotter_frame_columns``, ``columns_to_csv``,
as the Orders page builds them) and "before" (``engine.columnar.reference_only()``: the per-position ``Decimal``
results of the code before, the same objects, and ``order_rows`` / ``blotter_frame`` / ``orders_to_csv`` over them).

    .venv/bin/python bench/bench_ui_rebalance.py [--runs 3] [--model "Global Equity Core"] [--compare]
    .venv/bin/python bench/bench_ui_rebalance.py --synthetic 100 [--k 1000] [--runs 3] [--compare]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from contextlib import nullcontext
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datetime as dt

from components.orders.frames import blotter_frame, blotter_frame_columns
from components.rebalance.frames import portfolio_frame
from components.rebalance.run import out_of_band_flags, solve
from components.rebalance.store import ScenarioParams
from data.demo import load_demo
from data.services import build_services
from data.services.types import SecurityInfo
from data.settings import Settings
from data.snapshot import MarketSnapshot, build_market_snapshot
from engine.columnar import reference_only
from engine.models import RebalanceOptions
from engine.orders import (
    aggregate_orders,
    aggregated_to_csv,
    columns_to_csv,
    order_columns,
    order_rows,
    orders_to_csv,
)
from engine.scenarios import portfolio_metrics, scenario_summary


class Span(tuple):
    """(wall, CPU) seconds of a step; spans add up."""

    def __add__(self, other):  # type: ignore[override]
        return Span((self[0] + other[0], self[1] + other[1]))


def timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, Span((time.perf_counter() - wall, time.process_time() - cpu))


MODES = {"after": nullcontext, "before": reference_only}  # before: the per-position Decimal results (main's code)


def orders_steps(mode: str, results, tickers, prices):
    """(order rows, blotter DataFrame, orders CSV) builders of a mode: from the order columns (after), from the
    result objects (before)."""
    if mode == "before":
        return (
            lambda: order_rows(results, tickers, prices),
            lambda rows: blotter_frame(rows, {}),
            lambda rows: orders_to_csv(rows),
        )
    columns = []

    def rows():
        columns[:] = [order_columns(results, tickers, prices)]
        return columns[0].rows()

    return rows, lambda rows: blotter_frame_columns(columns[0], {}), lambda rows: columns_to_csv(columns[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="Global Equity Core")
    parser.add_argument("--synthetic", type=int, default=0, help="securities of a generated model (no services)")
    parser.add_argument("--k", type=int, default=1000, help="portfolios of the generated model")
    parser.add_argument(
        "--compare", action="store_true", help="also time the per-position results (before), interleaved in-process"
    )
    args = parser.parse_args()
    modes = ["before", "after"] if args.compare else ["after"]
    if args.synthetic:
        return synthetic(args.synthetic, args.k, args.runs, modes)

    model = next(m for m in load_demo().models if m.name == args.model)
    services = build_services(Settings(simulator_price_mode="fixed"))
    rows: dict[str, list[Span]] = {}
    counts: dict[str, str] = {}
    try:
        for _ in range(args.runs):
            services.clear_caches()  # every run fetches market data afresh
            snap, t_snap = timed(build_market_snapshot, services, model)
            rows.setdefault("market snapshot", []).append(t_snap)
            counts["market snapshot"] = f"{len(snap.portfolios):,} portfolios, {snap.requests:,} requests"
            for mode in modes:
                tag = f" [{mode}]" if args.compare else ""
                with MODES[mode]():
                    for label, amount, fraction in (("amount $1,000", "1000", "0"), ("1 % of MV", "0", "0.01")):
                        options = RebalanceOptions(min_cash=Decimal(amount), min_cash_fraction=Decimal(fraction))
                        params = ScenarioParams(model.model_id or "x" * 24, tuple(model.portfolios), True, options)
                        results, t_solve = timed(solve, model, snap, params, lambda f, t: None, 1)
                        rows.setdefault(f"solve, floor {label}{tag}", []).append(t_solve)
                        flags, t_flags = timed(out_of_band_flags, model, snap, results)
                        summary, t_sum = timed(scenario_summary, results, flags)
                        rows.setdefault(f"metrics, floor {label}{tag}", []).append(t_flags + t_sum)
                        counts[f"solve, floor {label}{tag}"] = f"{summary.optimal:,} optimal, {summary.orders:,} orders"
                tickers = {sid: info.ticker for sid, info in snap.securities.items()}
                make_rows, make_blotter, make_csv = orders_steps(mode, results, tickers, snap.prices)
                orders, t_rows = timed(make_rows)
                rows.setdefault(f"order rows + reasons{tag}", []).append(t_rows)
                _, t_blotter = timed(make_blotter, orders)
                rows.setdefault(f"blotter DataFrame{tag}", []).append(t_blotter)
                data, t_csv = timed(make_csv, orders)
                rows.setdefault(f"orders CSV{tag}", []).append(t_csv)
                counts[f"orders CSV{tag}"] = f"{len(orders):,} rows, {len(data) / 1e6:.1f} MB"
                _, t_blocks = timed(lambda o: aggregated_to_csv(aggregate_orders(o)), orders)
                rows.setdefault(f"block orders CSV{tag}", []).append(t_blocks)
                last = {name: values[-1] for name, values in rows.items()}
                rows.setdefault(
                    f"end to end (snapshot, solve % of MV, metrics, orders, blotter, CSVs){tag}", []
                ).append(
                    t_snap
                    + last[f"solve, floor 1 % of MV{tag}"]
                    + last[f"metrics, floor 1 % of MV{tag}"]
                    + t_rows
                    + t_blotter
                    + t_csv
                    + t_blocks
                )
    finally:
        services.close()

    width = max(len(k) for k in rows)
    print(f"What-if pipeline, model {args.model!r}, {args.runs} run(s), in-process simulator, 1 solver process")
    print(f"  1-minute load average {os.getloadavg()[0]:.2f}; wall and CPU seconds")
    for name, values in rows.items():
        walls = [w for w, _ in values]
        med = statistics.median(walls)
        spread = f"{min(walls):.3f}–{max(walls):.3f} s"
        cpu = statistics.median(c for _, c in values)
        print(f"  {name:<{width}}  median {med:7.3f} s  ({spread})  CPU {cpu:7.3f} s  {counts.get(name, '')}")
    tag = " [after]" if args.compare else ""
    fixed = statistics.median(w for w, _ in rows[f"solve, floor amount $1,000{tag}"])
    per_mv = statistics.median(w for w, _ in rows[f"solve, floor 1 % of MV{tag}"])
    total = statistics.median(w for w, _ in rows["market snapshot"]) + fixed
    print(f"  ratio solve(% of MV floor) / solve(fixed floor): ×{per_mv / fixed:.1f}")
    print(f"  snapshot + solve (fixed floor), what the button waits for before rendering: {total:.2f} s")
    return 0


def synthetic(n: int, k: int, runs: int, modes: list[str]) -> int:
    """The app's what-if end to end on a generated model of ``n`` securities and ``k`` portfolios (in memory)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import generator

    batch = generator.realistic(5, n=n, k=k)
    ids = tuple(p.portfolio_id for p in batch.portfolios)
    model = batch.model.model_copy(update={"model_id": "m" * 24, "portfolios": ids})
    securities = {s: SecurityInfo(s, f"T{i:03d}", "") for i, s in enumerate(batch.prices)}
    snap = MarketSnapshot(model, dt.datetime.now(dt.UTC), ids, batch.portfolios, batch.prices, securities, {}, 0)
    tickers = {sid: info.ticker for sid, info in securities.items()}
    params = ScenarioParams(model.model_id, ids, True, RebalanceOptions())  # no floor: no MILP, the objects path
    rows: dict[str, dict[str, list[tuple[float, float]]]] = {mode: {} for mode in modes}
    orders = []

    def step(name: str, fn, *args):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(*args)
        steps.append((name, (time.perf_counter() - wall, time.process_time() - cpu)))
        return out

    for _ in range(runs):
        for mode in modes:  # interleaved: both see the same load
            steps: list[tuple[str, tuple[float, float]]] = []
            gc.collect()  # the previous mode's objects are gone before this one starts
            with MODES[mode]():
                results = step("solve (result objects)", solve, model, snap, params, lambda f, t: None, 1)
            flags = out_of_band_flags(model, snap, results)
            metrics = step(
                "metrics", lambda rs, fl: [portfolio_metrics(r, fl.get(r.portfolio_id)) for r in rs], results, flags
            )
            step("results table", portfolio_frame, metrics)
            make_rows, make_blotter, make_csv = orders_steps(mode, results, tickers, snap.prices)
            orders = step("order rows", make_rows)
            step("blotter DataFrame", make_blotter, orders)
            step("orders CSV", make_csv, orders)
            total = (sum(w for _, (w, _c) in steps), sum(c for _, (_w, c) in steps))
            for name, t in [*steps, ("end to end", total)]:
                rows[mode].setdefault(name, []).append(t)
            del results, metrics
    names = list(rows[modes[0]])
    width = max(len(name) for name in names)
    print(f"What-if end to end, {k:,} portfolios x {n} securities (generated, in memory), {runs} run(s)")
    print(f"  {len(orders):,} orders; medians, wall and CPU seconds; 1-minute load average {os.getloadavg()[0]:.2f}")
    for name in names:
        cells = []
        for mode in modes:
            wall = statistics.median(w for w, _ in rows[mode][name])
            cpu = statistics.median(c for _, c in rows[mode][name])
            cells.append(f"{mode}: wall {wall:7.3f} s  CPU {cpu:7.3f} s")
        if len(modes) == 2:
            before = statistics.median(c for _, c in rows["before"][name])
            after = statistics.median(c for _, c in rows["after"][name])
            cells.append(f"CPU x{before / after:.1f}" if after else "")
        print(f"  {name:<{width}}  " + "   ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
