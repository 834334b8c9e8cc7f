"""Benchmark of ``python -m engine batch`` (issue #15 parts 2-3). Prints a table; asserts nothing.

Measures, each as a separate process (``python -m engine batch``, so start-up, read, solve, post-check and
write are all in the figure) with its peak resident memory (children included):

1. the local batch at 100,000 and 1,000,000 portfolios x 50 holdings (10 models of 50 securities);
2. the same 100,000 on a 2-worker ``distributed.LocalCluster`` (processes; scheduler and workers started by
   this script, their memory is the workers' peak);
3. ``python -m engine solve`` (issue #15 item 1) on 2,000 and 20,000 portfolios x 100 securities (one line)
   end to end in a fresh process: the columnar fast path; the reference path of before (``run_solve(...,
   fast=False)``: per-position Decimals, pydantic, result objects, stdlib json); the stdlib-json floor on the
   same file (read every line with ``json.loads``, write an output of the CLI's size with ``json.dumps``),
   measured in this process; and CVXPY-per-portfolio (the natural MILP of ``bench_engine.natural_problem``
   built and solved per portfolio, timed on a sample of portfolios of the same input and scaled to the batch).
   The CLI processes run with a bytecode cache (``PYTHONPYCACHEPREFIX`` in the temporary directory, written by a
   first, untimed run), as a user's every run but the first; start-up is also shown without one
   (``PYTHONDONTWRITEBYTECODE=1``, which this machine's shells set). ``--cli-only`` runs just this section.

The input Parquet is generated once into a temporary directory (removed at the end; never committed).
The machine is shared: the 1-minute load average is printed with the figures.

    .venv/bin/python bench/bench_batch.py [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from engine.batch.io import decimal_array  # noqa: E402

PYTHON = sys.executable
MODELS = 10
SECURITIES = 50
HOLDINGS = 50


def _dec18(values: np.ndarray, scale: int) -> pa.Array:
    """decimal128(18, scale): Parquet stores it as INT64 (``store_decimal_as_integer``), the usual extract format."""
    return decimal_array(values, scale).cast(pa.decimal128(18, scale))


def security_id(i: int) -> str:
    return f"{0x5EC000000 + i:024x}"


def generate(folder: Path, portfolios: int, seed: int = 7) -> dict[str, str]:
    """holdings/cash/prices Parquet and models JSON: MODELS models of SECURITIES securities, HOLDINGS each."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_sec = MODELS * SECURITIES
    sec_ids = pa.array([security_id(i) for i in range(n_sec)], pa.string())
    price_cents = rng.integers(500, 50_000, n_sec)
    pq.write_table(
        pa.table({"securityId": sec_ids, "price": _dec18(price_cents.astype(np.int64), 2)}),
        folder / "prices.parquet",
        store_decimal_as_integer=True,
    )
    per_model = portfolios // MODELS
    pids = [f"p{i:010d}" for i in range(portfolios)]
    models = []
    for m in range(MODELS):
        targets = rng.integers(2, 4, SECURITIES) * 0.005  # multiples of 0.5 %, sum <= 0.75 (model rules)
        models.append(
            {
                "name": f"bench model {m}",
                "positions": [
                    {
                        "securityId": security_id(m * SECURITIES + i),
                        "target": f"{t:.3f}",
                        "lowDrift": "0.01",
                        "highDrift": "0.01",
                    }
                    for i, t in enumerate(targets.tolist())
                ],
                "portfolios": pids[m * per_model : (m + 1) * per_model],
            }
        )
    (folder / "models.json").write_text(json.dumps(models), encoding="utf-8")
    mv = rng.lognormal(12.5, 0.8, portfolios)  # dollars
    cash = np.round(mv * rng.uniform(0.0, 0.1, portfolios) * 100).astype(np.int64)
    pq.write_table(
        pa.table({"portfolioId": pa.array(pids), "cash": _dec18(cash, 2)}),
        folder / "cash.parquet",
        store_decimal_as_integer=True,
    )
    writer = None
    step = 20_000
    for start in range(0, portfolios, step):
        stop = min(start + step, portfolios)
        k = stop - start
        g = np.repeat(np.arange(start, stop, dtype=np.int32), HOLDINGS)
        model = g // per_model
        col = np.tile(np.arange(HOLDINGS), k)
        sec = (model * SECURITIES + col).astype(np.int32)
        target = 0.0125
        qty = np.maximum(0, np.round(mv[g] * target * rng.normal(1.0, 0.3, g.size) / (price_cents[sec] / 100)))
        table = pa.table(
            {
                "portfolioId": pa.DictionaryArray.from_arrays(pa.array(g - start), pa.array(pids[start:stop])),
                "securityId": pa.DictionaryArray.from_arrays(pa.array(sec), sec_ids),
                "quantity": _dec18(qty.astype(np.int64), 0),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(
                folder / "holdings.parquet", table.schema, compression="zstd", store_decimal_as_integer=True
            )
        writer.write_table(table, row_group_size=1 << 20)
    if writer is not None:
        writer.close()
    return {n: str(folder / f"{n}.parquet") for n in ("holdings", "cash", "prices")} | {
        "models": str(folder / "models.json")
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_batch(paths: dict[str, str], out: Path, extra: list[str] = ()) -> tuple[float, float, float, dict]:
    """Wall seconds, CPU seconds, peak RSS (MiB) and report of one ``python -m engine batch`` process."""
    cpu0 = _children_cpu()
    cmd = [PYTHON, "-m", "engine", "batch", *(f"--{k}={v}" for k, v in paths.items()), f"--output={out}", *extra]
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"batch failed ({proc.returncode}): {stderr[-2000:]}")
    return seconds, _children_cpu() - cpu0, peak / 2**20, json.loads(stdout)


def run_dask(paths: dict[str, str], out: Path) -> tuple[float, float, float, dict]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        seconds, cpu, driver_mib, report = run_batch(paths, out, [f"--scheduler={cluster.scheduler_address}"])
        worker_mib = (
            sum(psutil.Process(w.process.pid).memory_info().rss for w in cluster.workers.values() if w.process.pid)
            / 2**20
        )
    return seconds, cpu, driver_mib + worker_mib, report


def solve_cli_input(path: Path, portfolios: int, securities: int = 100, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"{i:024x}" for i in range(securities)]
    prices = {s: f"{p / 100:.2f}" for s, p in zip(ids, rng.integers(500, 50_000, securities).tolist(), strict=True)}
    # targets 0.5 % and 1 % (the model rules: multiples of 0.5 %, sum <= 95 %)
    positions = [
        {"securityId": s, "target": "0.01" if i % 2 else "0.005", "lowDrift": "0.005", "highDrift": "0.005"}
        for i, s in enumerate(ids)
    ]
    ports = []
    for k in range(portfolios):
        mv = float(rng.lognormal(12, 1))
        ports.append(
            {
                "portfolioId": f"{0xABC000 + k:024x}",
                "cash": f"{mv * 0.05:.2f}",
                "holdings": [
                    {
                        "securityId": s,
                        "quantity": str(max(0, round(mv / securities * rng.normal(1, 0.3) / float(prices[s])))),
                    }
                    for s in ids
                ],
            }
        )
    line = {"model": {"positions": positions}, "prices": prices, "options": {"minCash": "0"}, "portfolios": ports}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")


REFERENCE = (
    "import sys; from engine.cli import run_solve; "
    "sys.exit(run_solve(open(sys.argv[1], 'rb'), open(sys.argv[2], 'w', encoding='utf-8'), fast=False))"
)


def cli_env(pycache: Path | None) -> dict[str, str]:
    """The children's environment: with a bytecode cache in ``pycache`` (a user's every run but the first), or
    none (``PYTHONDONTWRITEBYTECODE``, as this machine's shells set it: every engine module compiled each run)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if pycache is None:
        return env | {"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return env | {"PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(pycache)}


def timed_process(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one child process."""
    cpu0 = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, env=env or {**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start, _children_cpu() - cpu0


def median_process(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``runs`` runs of one command (the machine is shared)."""
    times = [timed_process(cmd, env) for _ in range(runs)]
    return sorted(t[0] for t in times)[runs // 2], sorted(t[1] for t in times)[runs // 2]


def cvxpy_per_portfolio(path: Path, sample: int) -> tuple[float, float]:
    """Wall and CPU seconds per portfolio of the CVXPY-per-portfolio MILP, on ``sample`` portfolios of the line."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_engine import natural_problem

    from engine.cli import decode_line, parse_batch
    from engine.marketvalue import market_value

    with path.open(encoding="utf-8") as f:
        batch = parse_batch(decode_line(f.readline()))
    ports = batch.portfolios[:sample]
    mvs = [market_value(p.cash, p.holdings, batch.prices) for p in ports]
    natural_problem(batch.model, batch.prices, mvs[0], batch.options.min_cash, True)  # warm-up: import, first build
    wall, cpu = time.perf_counter(), time.process_time()
    for mv in mvs:
        natural_problem(batch.model, batch.prices, mv, batch.options.min_cash, True)
    return (time.perf_counter() - wall) / len(mvs), (time.process_time() - cpu) / len(mvs)


def cli_rows(base: Path, sizes: list[int], reference: bool, sample: int) -> list[str]:
    """The CLI comparison lines of the table."""
    out = []
    empty = base / "solve_empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    env = cli_env(base / "pycache")
    start_up = [PYTHON, "-m", "engine", "solve", "--input", str(empty)]
    timed_process(start_up, env)  # the first run writes the bytecode cache
    s_wall, s_cpu = median_process(start_up, 5, env)
    name = "engine solve start-up, empty batch (median of 5)"
    out.append(f"{name:<50} {s_wall:8.2f} {s_cpu:7.2f} {os.getloadavg()[0]:6.2f}")
    s_wall, s_cpu = median_process(start_up, 5, cli_env(None))
    name = "  the same without bytecode cache"
    out.append(f"{name:<50} {s_wall:8.2f} {s_cpu:7.2f} {os.getloadavg()[0]:6.2f}")
    empty.unlink()
    per_wall = per_cpu = 0.0
    for n in sizes:
        cli_in = base / f"solve_{n}.jsonl"
        solve_cli_input(cli_in, n)
        fast_out = base / f"solve_{n}.fast.jsonl"
        cmd = [PYTHON, "-m", "engine", "solve", "--input", str(cli_in), "--output", str(fast_out)]
        wall, cpu = median_process(cmd, 3, env)
        load = os.getloadavg()[0]
        floor, floor_cpu = json_floor(cli_in, fast_out.stat().st_size)
        out.append(f"{f'engine solve CLI, {n:,} x 100 (median of 3)':<50} {wall:8.2f} {cpu:7.2f} {load:6.2f}")
        if reference:
            ref_out = base / f"solve_{n}.ref.jsonl"
            r_wall, r_cpu = timed_process([PYTHON, "-c", REFERENCE, str(cli_in), str(ref_out)], env)
            same = ref_out.read_bytes() == fast_out.read_bytes()
            out.append(
                f"{f'  reference path (before), {n:,} x 100':<50} {r_wall:8.2f} {r_cpu:7.2f} {os.getloadavg()[0]:6.2f}"
                f"  output identical: {same}"
            )
            ref_out.unlink()
        out.append(
            f"{f'  stdlib json floor, {n:,} x 100':<50} {floor:8.2f} {floor_cpu:7.2f}"
            f"        fast path / floor: {wall / floor:.2f}x wall, {cpu / floor_cpu:.2f}x CPU"
        )
        if per_wall == 0.0:
            per_wall, per_cpu = cvxpy_per_portfolio(cli_in, sample)
        out.append(
            f"{f'  CVXPY per portfolio, {n:,} x 100 (from {sample})':<50} {per_wall * n:8.2f} {per_cpu * n:7.2f}"
            f"        fast path: {per_wall * n / wall:,.0f}x wall, {per_cpu * n / cpu:,.0f}x CPU;"
            f" target 2x floor + 1.5 s = {2 * floor + 1.5:.2f} s wall, {2 * floor_cpu + 1.5:.2f} s CPU"
        )
        fast_out.unlink()
        cli_in.unlink()
    return out


def json_floor(path: Path, output_chars: int) -> tuple[float, float]:
    """Wall and CPU seconds for the stdlib to read the input and write an output of the CLI's size."""
    start, cpu = time.perf_counter(), time.process_time()
    with path.open(encoding="utf-8") as f:
        data = [json.loads(line) for line in f if line.strip()]
    per = max(1, output_chars // max(1, sum(len(d["portfolios"]) for d in data)))
    blob = {"results": [{"portfolioId": p["portfolioId"], "pad": "x" * per} for d in data for p in d["portfolios"]]}
    with open(os.devnull, "w", encoding="utf-8") as sink:
        sink.write(json.dumps(blob, separators=(",", ":")) + "\n")
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k and 100k local, 10k on the cluster, CLI 500")
    parser.add_argument("--keep", default=None, help="generate into (and keep) this directory")
    parser.add_argument("--cli-only", action="store_true", help="only the engine solve CLI comparison")
    parser.add_argument("--no-reference", action="store_true", help="skip the (slow) reference path of before")
    parser.add_argument("--cvxpy-sample", type=int, default=100, help="portfolios timed with CVXPY (100)")
    args = parser.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000]
    cluster_size = 10_000 if args.quick else 100_000
    cli_sizes = [500, 2_000] if args.quick else [2_000, 20_000]
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_batch_"))
    base.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, float, float, dict, float]] = []

    def inputs(n: int) -> dict[str, str]:
        folder = base / f"in_{n}"
        if (folder / "models.json").exists():  # --keep: generated by an earlier run
            return {k: str(folder / f"{k}.parquet") for k in ("holdings", "cash", "prices")} | {
                "models": str(folder / "models.json")
            }
        return generate(folder, n)

    try:
        if not args.cli_only:
            for n in sizes:
                paths = inputs(n)
                seconds, cpu, mib, report = run_batch(paths, base / f"out_{n}")
                rows.append((f"engine batch, local, {n:,} x {HOLDINGS}", seconds, cpu, mib, report, os.getloadavg()[0]))
                shutil.rmtree(base / f"out_{n}", ignore_errors=True)
            paths = inputs(cluster_size)
            seconds, cpu, mib, report = run_dask(paths, base / f"dask_{cluster_size}")
            name = f"engine batch, LocalCluster 2 workers, {cluster_size:,}"
            rows.append((name, seconds, cpu, mib, report, os.getloadavg()[0]))
        cli = cli_rows(base, cli_sizes, not args.no_reference, args.cvxpy_sample)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if rows:
        print("\nCPU s: the batch process's user+system time (the driver only for the cluster run); peak MiB: its")
        print("largest resident set (cluster run: the driver's peak + both workers' resident set after the run).")
        print("Load average: 1 minute, after the run.")
        print(f"\n{'run':<46} {'wall s':>8} {'CPU s':>7} {'peak MiB':>9} {'orders':>11} {'load':>6}  status")
        for name, seconds, cpu, mib, report, load in rows:
            status = ", ".join(f"{k} {v:,}" for k, v in sorted(report["status"].items()))
            print(f"{name:<46} {seconds:8.1f} {cpu:7.1f} {mib:9.0f} {report['orders']:11,} {load:6.2f}  {status}")
    print("\nengine solve end to end (fresh process: start-up, read, solve, post-check, write); CPU s = user+system")
    print(f"{'run':<50} {'wall s':>8} {'CPU s':>7} {'load':>6}")
    for line in cli:
        print(line)
    print(f"\nCPUs {os.cpu_count()}, load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
