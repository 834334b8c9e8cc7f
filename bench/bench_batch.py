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
   Each CLI figure is the median of ``--cli-runs`` runs (7), its CPU time, peak RSS and minor faults the
   process's own (``os.wait4``); the CVXPY sample (``--cvxpy-sample``, 210 portfolios) is timed in as many slices,
   one after each CLI run, so both see the same load; the ratio is printed by wall and by CPU. The CLI processes
   run with a bytecode cache (``PYTHONPYCACHEPREFIX`` in the temporary directory, written by a first, untimed
   run), as a user's every run but the first; start-up is also shown without one (``PYTHONDONTWRITEBYTECODE=1``,
   which this machine's shells set). ``--baseline REV`` also runs the CLI of a git revision (its ``engine``
   exported by ``git archive``) alternately with this checkout's on the same inputs: CPU, peak RSS and faults
   before / after, output compared. ``--cli-only`` runs just this section.

The input Parquet is generated once into a temporary directory (removed at the end; never committed).
The machine is shared: the 1-minute load average is printed with the figures.

    .venv/bin/python bench/bench_batch.py [--quick] [--keep DIR]
    .venv/bin/python bench/bench_batch.py --cli-only [--no-reference] [--baseline main] [--cli-runs 7]
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
from dataclasses import dataclass
from decimal import Decimal
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


def cli_env(pycache: Path | None, root: Path = ROOT) -> dict[str, str]:
    """The children's environment: with a bytecode cache in ``pycache`` (a user's every run but the first), or
    none (``PYTHONDONTWRITEBYTECODE``, as this machine's shells set it: every engine module compiled each run)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if pycache is None:
        return env | {"PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return env | {"PYTHONPATH": str(root), "PYTHONPYCACHEPREFIX": str(pycache)}


@dataclass(frozen=True)
class Run:
    """One child process: wall and CPU seconds (user + system), peak resident set (MiB), minor page faults."""

    wall: float
    cpu: float
    rss_mib: float
    faults: int


def timed_process(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> Run:
    """Run one child process to completion: its own CPU time and faults (``os.wait4``, not all children's), its
    peak RSS from ``/usr/bin/time`` (a child forked from this process reports this process's RSS at the fork as
    its peak: the CVXPY stack makes that ~380 MB); ``time`` itself adds ~1 ms CPU."""
    report = Path(tempfile.gettempdir()) / f"bench_batch_time_{os.getpid()}.txt"
    timer = ["/usr/bin/time", "-f", "%M", "-o", str(report)] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    proc = subprocess.Popen([*timer, *cmd], cwd=cwd, env=env or {**os.environ, "PYTHONPATH": str(cwd)})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd} failed ({proc.returncode})")
    rss = int(report.read_text().split()[-1]) / 1024 if timer else usage.ru_maxrss / 1024
    return Run(wall, usage.ru_utime + usage.ru_stime, rss, usage.ru_minflt)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class Cvxpy:
    """The CVXPY-per-portfolio baseline on the portfolios of one CLI input: the natural MILP of
    ``bench_engine.natural_problem`` built and solved per portfolio, timed a slice at a time."""

    def __init__(self, path: Path, sample: int) -> None:
        sys.path.insert(0, str(ROOT / "bench"))
        from bench_engine import natural_problem

        from engine.cli import decode_line, parse_batch
        from engine.marketvalue import market_value

        with path.open(encoding="utf-8") as f:
            data = decode_line(f.readline())
        data["portfolios"] = data["portfolios"][: sample + 1]  # the warm-up's and the sample's only
        batch = parse_batch(data)
        self.batch, self.solve = batch, natural_problem
        self.mvs = [market_value(p.cash, p.holdings, batch.prices) for p in batch.portfolios]
        self.next = 1
        self.wall = self.cpu = 0.0
        self.count = 0
        self._one(self.mvs[0])  # warm-up: imports, first build

    def _one(self, mv: Decimal) -> None:
        self.solve(self.batch.model, self.batch.prices, mv, self.batch.options.min_cash, True)

    def time_slice(self, count: int) -> None:
        """Solve the next ``count`` portfolios, adding their wall and CPU time to the totals."""
        mvs = self.mvs[self.next : self.next + count]
        self.next += len(mvs)
        wall, cpu = time.perf_counter(), time.process_time()
        for mv in mvs:
            self._one(mv)
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self.count += len(mvs)

    def per_portfolio(self) -> tuple[float, float]:
        return self.wall / self.count, self.cpu / self.count


def cli_rows(base: Path, sizes: list[int], reference: bool, sample: int, runs: int) -> list[str]:
    """The CLI comparison lines of the table: each size's CLI runs (median of ``runs``) interleaved with slices of
    the CVXPY sample (``sample`` portfolios in ``runs`` slices), so both see the same machine load."""
    out = []
    empty = base / "solve_empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    env = cli_env(base / "pycache")
    start_up = [PYTHON, "-m", "engine", "solve", "--input", str(empty)]
    timed_process(start_up, env)  # the first run writes the bytecode cache
    warm = [timed_process(start_up, env) for _ in range(runs)]
    name = f"engine solve start-up, empty batch (median of {runs})"
    out.append(_row(name, warm))
    cold = [timed_process(start_up, cli_env(None)) for _ in range(runs)]
    out.append(_row("  the same without bytecode cache", cold))
    empty.unlink()
    for n in sizes:
        cli_in = base / f"solve_{n}.jsonl"
        solve_cli_input(cli_in, n)
        fast_out = base / f"solve_{n}.fast.jsonl"
        cmd = [PYTHON, "-m", "engine", "solve", "--input", str(cli_in), "--output", str(fast_out)]
        cvxpy = Cvxpy(cli_in, sample)
        loads, cli = [], []
        for k in range(runs):
            cli.append(timed_process(cmd, env))
            cvxpy.time_slice(sample // runs + (k < sample % runs))
            loads.append(os.getloadavg()[0])
        wall, cpu = median([r.wall for r in cli]), median([r.cpu for r in cli])
        per_wall, per_cpu = cvxpy.per_portfolio()
        floor, floor_cpu = json_floor(cli_in, fast_out.stat().st_size)
        out.append(_row(f"engine solve CLI, {n:,} x 100 (median of {runs})", cli, f"{min(loads):.1f}-{max(loads):.1f}"))
        if reference:
            ref_out = base / f"solve_{n}.ref.jsonl"
            ref = timed_process([PYTHON, "-c", REFERENCE, str(cli_in), str(ref_out)], env)
            same = ref_out.read_bytes() == fast_out.read_bytes()
            out.append(_row(f"  reference path (before), {n:,} x 100", [ref]) + f"  output identical: {same}")
            ref_out.unlink()
        out.append(
            f"{f'  stdlib json floor, {n:,} x 100':<52} {floor:8.2f} {floor_cpu:7.2f}"
            f"        CLI / floor: {wall / floor:.2f}x wall, {cpu / floor_cpu:.2f}x CPU;"
            f" target 2x floor + 1.5 s = {2 * floor + 1.5:.2f} s wall, {2 * floor_cpu + 1.5:.2f} s CPU"
        )
        out.append(
            f"{f'  CVXPY per portfolio x {n:,} ({cvxpy.count} timed, interleaved)':<52} {per_wall * n:8.2f}"
            f" {per_cpu * n:7.2f}        {per_cpu * 1000:.1f} ms CPU, {per_wall * 1000:.1f} ms wall a portfolio"
        )
        spread = f"{min(r.cpu for r in cli):.2f}-{max(r.cpu for r in cli):.2f} s"
        out.append(
            f"{'  ratio CVXPY / CLI':<52} {per_wall * n / wall:7.0f}x {per_cpu * n / cpu:6.0f}x"
            f"        (by wall, by CPU; the CLI's CPU over its runs: {spread})"
        )
        fast_out.unlink()
        cli_in.unlink()
    return out


def _row(name: str, runs: list[Run], load: str | None = None) -> str:
    """A table line: median wall and CPU seconds, peak RSS and minor faults of the runs, the load average."""
    return (
        f"{name:<52} {median([r.wall for r in runs]):8.2f} {median([r.cpu for r in runs]):7.2f}"
        f" {median([r.rss_mib for r in runs]):8.0f} {median([r.faults for r in runs]):9,.0f}"
        f" {load or f'{os.getloadavg()[0]:.1f}':>9}"
    )


def baseline_rows(base: Path, rev: str, sizes: list[int], runs: int) -> list[str]:
    """The CLI of ``rev`` (its ``engine`` package exported by ``git archive``) and this checkout's, run alternately
    on the same inputs (each with its own bytecode cache): CPU, peak RSS and minor faults, medians of ``runs``."""
    old = base / "baseline"
    old.mkdir()
    archive = subprocess.run(["git", "archive", rev, "engine"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    out = []
    inputs = [("empty batch", base / "base_empty.jsonl", 0)]
    inputs += [(f"{n:,} x 100", base / f"base_{n}.jsonl", n) for n in sizes]
    for name, path, n in inputs:
        if n:
            solve_cli_input(path, n)
        else:
            path.write_text("\n", encoding="utf-8")
        outs = {}
        results: dict[str, list[Run]] = {"before": [], "after": []}
        trees = {"before": old, "after": ROOT}
        for round_ in range(runs + 1):  # the first round writes the bytecode caches (not counted)
            for label, tree in trees.items():
                outs[label] = base / f"base_{label}.jsonl"
                cmd = [PYTHON, "-m", "engine", "solve", "--input", str(path), "--output", str(outs[label])]
                run = timed_process(cmd, cli_env(base / f"pycache_{label}", tree), cwd=tree)
                if round_:
                    results[label].append(run)
        same = outs["before"].read_bytes() == outs["after"].read_bytes()
        b, a = results["before"], results["after"]
        out.append(
            f"{name:<14} {median([r.cpu for r in b]):8.3f} {median([r.cpu for r in a]):8.3f}"
            f" {median([r.rss_mib for r in b]):8.0f} {median([r.rss_mib for r in a]):8.0f}"
            f" {median([r.faults for r in b]):10,.0f} {median([r.faults for r in a]):10,.0f}"
            f"   {min(r.cpu for r in b):.3f}-{max(r.cpu for r in b):.3f} / {min(r.cpu for r in a):.3f}-"
            f"{max(r.cpu for r in a):.3f}   {os.getloadavg()[0]:.1f}  identical: {same}"
        )
        path.unlink()
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
    parser.add_argument("--cvxpy-sample", type=int, default=210, help="portfolios timed with CVXPY (210)")
    parser.add_argument("--cli-runs", type=int, default=7, help="runs of each CLI command, the median shown (7)")
    parser.add_argument("--baseline", default=None, help="also run this git revision's CLI alternately (e.g. main)")
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
        cli = cli_rows(base, cli_sizes, not args.no_reference, args.cvxpy_sample, args.cli_runs)
        before_after = baseline_rows(base, args.baseline, cli_sizes, args.cli_runs) if args.baseline else []
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
    print("\nengine solve end to end (fresh process: start-up, read, solve, post-check, write); CPU s = user+system;")
    print("peak RSS and minor page faults of the process; load: 1-minute average (range over the runs)")
    print(f"{'run':<52} {'wall s':>8} {'CPU s':>7} {'RSS MiB':>8} {'faults':>9} {'load':>9}")
    for line in cli:
        print(line)
    if before_after:
        print(f"\nbefore ({args.baseline}) / after (this checkout), run alternately; medians of {args.cli_runs}")
        print(
            f"{'input':<14} {'CPU bef':>8} {'CPU aft':>8} {'RSS bef':>8} {'RSS aft':>8} {'faults bef':>10}"
            f" {'faults aft':>10}   CPU ranges before / after   load"
        )
        for line in before_after:
            print(line)
    print(f"\nCPUs {os.cpu_count()}, load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
