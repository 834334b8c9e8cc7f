"""``engine batch --scheduler tcp://host:8786``: the same batch on a Dask distributed cluster.

Two stages of plain Dask tasks over partitioned Parquet (the output directory must be on storage every
worker can reach: a shared file system, or the same machine for a ``LocalCluster``):

1. shuffle: one task per holdings row group routes its rows to the chunk of their portfolio
   (``OUTPUT/_shuffle/chunk=N/frag-M.parquet``), the original columns untouched;
2. solve: one task per chunk (portfolios of one model, the local run's chunks) reads its rows in fragment
   order and runs :func:`engine.batch.run.solve_chunk`, writing ``orders/part-N.parquet`` and
   ``summary/part-N.parquet``.

Chunks, row order and the per-chunk solve are those of the local run, so the parts are identical to it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from distributed import Client, as_completed

from engine.batch.io import BatchInputError, is_csv, scaled, write_part
from engine.batch.run import (
    CHUNK_SIZE,
    BatchInputs,
    BatchReport,
    Cash,
    Chunk,
    Plan,
    Securities,
    clear_parts,
    compact_holdings,
    empty_parts,
    prepare,
    progress_bar,
    solve_chunk,
)
from engine.errors import EngineError
from engine.models import RebalanceOptions

COLUMNS = ["portfolioId", "securityId", "quantity"]


class ClusterFailed(EngineError):
    """The Dask cluster could not run the batch (unreachable scheduler, a worker that cannot import the engine...)."""

    code = "CLUSTER_FAILED"
    http_status = 503


def fragments(path: str) -> list[tuple[str, int, int]]:
    """(file, row group, first row number in the file) of every holdings row group, in input order."""
    p = Path(path)
    if is_csv(path):
        raise BatchInputError(
            path, "the Dask mode reads Parquet holdings (convert the CSV, or run without --scheduler)"
        )
    files = sorted(p.rglob("*.parquet")) if p.is_dir() else [p]
    if not files or not files[0].exists():
        raise BatchInputError(path, "no Parquet files found")
    out = []
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
        except (pa.ArrowInvalid, OSError) as exc:
            raise BatchInputError(str(f), f"not a readable Parquet file ({exc})") from None
        first = 0
        for i in range(meta.num_row_groups):
            out.append((str(f), i, first))
            first += meta.row_group(i).num_rows
    return out


def shuffle_fragment(
    fragment: int,
    file: str,
    row_group: int,
    first_row: int,
    pids: pa.Array,
    chunk_of: np.ndarray,
    scale: int,
    work: str,
) -> list[str]:
    """Route one row group's holdings to the chunk directories; returns the portfolio ids in no model.

    Bad input (an empty id, a quantity that is not an exact decimal) is reported here, with its row in the file.
    """
    table = pq.ParquetFile(file).read_row_group(row_group, columns=COLUMNS)
    for name in COLUMNS[:2]:
        column = table.column(name)
        if column.null_count:
            first = int(pc.index(pc.is_null(column), True).as_py())
            raise BatchInputError(file, "is empty (an id is required)", row=first_row + first + 1, field=name)
    scaled(table.column("quantity"), file, "quantity", scale, first_row)
    ids = table.column("portfolioId")
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(pa.string())
    g = pc.index_in(ids, value_set=pids).to_numpy(zero_copy_only=False)
    g = np.where(np.isnan(g), -1, g).astype(np.int64) if g.dtype.kind == "f" else g.astype(np.int64)
    unknown = sorted(set(pc.filter(ids, pa.array(g < 0)).to_pylist())) if (g < 0).any() else []
    chunk = np.where(g >= 0, chunk_of[np.maximum(g, 0)], -1)
    order = np.argsort(chunk, kind="stable")
    sorted_chunks = chunk[order]
    bounds = np.flatnonzero(np.diff(sorted_chunks)) + 1
    for part in np.split(np.arange(len(order)), bounds):
        if part.size == 0 or sorted_chunks[part[0]] < 0:
            continue
        c = int(sorted_chunks[part[0]])
        folder = Path(work) / f"chunk={c:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.take(pa.array(order[part])), folder / f"frag-{fragment:06d}.parquet")
    return unknown


def solve_part(plan: Plan, chunk: Chunk, pids: Sequence[str], cash: Cash, work: str, out: str) -> dict[str, int]:
    """Solve one chunk from its shuffled rows and write its output parts; returns counts by status."""
    folder = Path(work) / f"chunk={chunk.part:05d}"
    files = sorted(folder.glob("frag-*.parquet")) if folder.exists() else []
    batches = (b for f in files for b in pq.ParquetFile(f, read_dictionary=COLUMNS[:2]).iter_batches(columns=COLUMNS))
    securities = Securities.of(plan.prices, plan.price_scale)
    index = {p: i for i, p in enumerate(pids)}
    holdings = compact_holdings(batches, index, securities, plan.scales.quantity, str(folder))
    orders, summary = solve_chunk(plan, chunk.model, pids, cash, holdings, securities, workers=1)
    write_part(orders, Path(out) / "orders", chunk.part)
    write_part(summary, Path(out) / "summary", chunk.part)
    counts: dict[str, int] = {"__orders__": orders.num_rows, "__portfolios__": summary.num_rows}
    for st in summary.column("status").to_pylist():
        counts[st] = counts.get(st, 0) + 1
    return counts


def run_dask(
    inputs: BatchInputs,
    output: str | Path,
    options: RebalanceOptions,
    scheduler: str,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> BatchReport:
    """Run the batch on the Dask cluster at ``scheduler``; same output layout and content as the local run."""
    out = Path(output)
    work = out / "_shuffle"
    shutil.rmtree(work, ignore_errors=True)
    plan, cash = prepare(inputs, options, chunk_size)
    clear_parts(out)
    frags = fragments(inputs.holdings)
    chunks = plan.chunks()
    offsets = plan.offsets()
    try:
        report = _run_on(scheduler, plan, cash, frags, chunks, offsets, work, out)
    except BatchInputError:
        raise
    except Exception as exc:  # remote failures arrive as any type: one typed error crosses to the caller
        raise ClusterFailed(
            f"the Dask cluster at {scheduler} could not run the batch: {exc!r}", {"scheduler": scheduler}
        ) from exc
    shutil.rmtree(work, ignore_errors=True)
    if not chunks:
        empty_parts(plan, out)
    return report


def _run_on(
    scheduler: str,
    plan: Plan,
    cash: Cash,
    frags: list[tuple[str, int, int]],
    chunks: list[Chunk],
    offsets: list[int],
    work: Path,
    out: Path,
) -> BatchReport:
    chunk_of = np.empty(offsets[-1], dtype=np.int32)
    for c in chunks:
        chunk_of[offsets[c.model] + c.start : offsets[c.model] + c.stop] = c.part
    all_pids = pa.array([p for s in plan.models for p in s.portfolio_ids], pa.string())
    report = BatchReport()
    with Client(scheduler, timeout="30s") as client, progress_bar(len(frags) + len(chunks), "task") as bar:
        pids_f, chunk_of_f = client.scatter([all_pids, chunk_of], broadcast=True)
        plan_f = client.scatter(plan, broadcast=True)
        shuffled = [
            client.submit(
                shuffle_fragment, i, f, rg, first, pids_f, chunk_of_f, plan.scales.quantity, str(work), pure=False
            )
            for i, (f, rg, first) in enumerate(frags)
        ]
        unknown: set[str] = set()
        for fut in as_completed(shuffled):
            unknown.update(fut.result())
            bar.update(1)
        solved = []
        for c in chunks:
            spec = plan.models[c.model]
            lo, hi = offsets[c.model] + c.start, offsets[c.model] + c.stop
            solved.append(
                client.submit(
                    solve_part,
                    plan_f,
                    c,
                    spec.portfolio_ids[c.start : c.stop],
                    cash.rows(lo, hi),
                    str(work),
                    str(out),
                    pure=False,
                )
            )
        for fut in as_completed(solved):
            counts = fut.result()
            report.orders += counts.pop("__orders__")
            report.portfolios += counts.pop("__portfolios__")
            report.parts += 1
            for st, n in counts.items():
                report.by_status[st] = report.by_status.get(st, 0) + n
            bar.update(1)
    report.unknown_portfolios = len(unknown)
    return report
