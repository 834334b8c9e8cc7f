"""The columnar batch pipeline: read the tables, solve each chunk of one model's portfolios, write the parts.

Per chunk (up to ``chunk_size`` portfolios of one model) everything is numpy on exact scaled integers:
market values in mills (each u·p rounded to 0.001 half-up, then MV, as :mod:`engine.marketvalue`), the
engine's exact solver and post-check (:func:`engine.solver.solve_closed_form`, :func:`complete_milps`), then
orders and the summary (cash after, drift before/after) as integers over one power of ten per column.

A portfolio the integer path cannot take exactly — a value beyond int64 (guarded before every product and
sum), a duplicated holding or cash row, a held security without a price, a market value ≤ 0 — goes through
:func:`engine.rebalance.rebalance_portfolios` (the per-portfolio Decimal path), so its answer or its typed
error is the engine's own, never a silent approximation. A model that breaks a rule gives every one of its
portfolios that error, as in the app.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pydantic
from tqdm import tqdm

from engine.bands import ModelArrays
from engine.batch.io import (
    BatchInputError,
    OutputScales,
    Scaled,
    column_scale,
    date_array,
    decimal_array,
    decimal_of_python,
    is_csv,
    parquet_batches,
    read_table,
    scaled,
    text_scale,
    write_part,
)
from engine.controls import has_controls
from engine.errors import ExternalDataError, SolverFailed
from engine.exactmath import decimals_of, plain, to_scaled_int
from engine.models import Holding, InvestmentModel, PortfolioHoldings, PortfolioResult, RebalanceOptions
from engine.postcheck import mv_decimal
from engine.rebalance import model_error, rebalance_portfolios, today_utc
from engine.solver import ERROR, INFEASIBLE, OPTIMAL, complete_milps, solve_closed_form
from engine.validation import clean_positions

CHUNK_SIZE = 50_000  # portfolios per chunk: bounds the K x N working set (~40 B per cell)
LIMIT = float(2**61)  # float estimates above this may not fit int64 exactly: such rows take the Decimal path
REASON_MODEL = "rebalance"
REASON_EXTRA = "not in model"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the run and the portfolios it rebalances (in the order given)."""

    key: str  # modelId, else name
    model: InvestmentModel
    portfolio_ids: tuple[str, ...]


@dataclass(frozen=True)
class Chunk:
    """Portfolios ``start:stop`` of model ``model``; ``part`` numbers the output files."""

    part: int
    model: int
    start: int
    stop: int


@dataclass(frozen=True)
class Plan:
    """Everything a chunk needs besides its holdings and cash: models, prices, options, output scales."""

    models: tuple[ModelSpec, ...]
    prices: dict[str, Decimal]
    price_scale: int
    options: RebalanceOptions  # trade_date always set
    scales: OutputScales
    chunk_size: int = CHUNK_SIZE

    def chunks(self) -> list[Chunk]:
        out = []
        for m, spec in enumerate(self.models):
            for start in range(0, len(spec.portfolio_ids), self.chunk_size):
                stop = min(start + self.chunk_size, len(spec.portfolio_ids))
                out.append(Chunk(len(out), m, start, stop))
        return out

    def portfolio_index(self) -> dict[str, int]:
        """Portfolio id -> global row (models in order, each model's portfolios in order)."""
        index: dict[str, int] = {}
        for spec in self.models:
            for pid in spec.portfolio_ids:
                index[pid] = len(index)
        return index

    def offsets(self) -> list[int]:
        out = [0]
        for spec in self.models:
            out.append(out[-1] + len(spec.portfolio_ids))
        return out


@dataclass
class Securities:
    """Security ids seen in a run (prices first), with exact integer prices over 10**scale (0: no price)."""

    ids: list[str]
    price_int: list[int]
    scale: int
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {s: i for i, s in enumerate(self.ids)}

    @classmethod
    def of(cls, prices: Mapping[str, Decimal], scale: int) -> Securities:
        ids = list(prices)
        return cls(ids, [max(to_scaled_int(prices[s], scale), 0) for s in ids], scale)

    def lookup(self, values: Sequence[str]) -> np.ndarray:
        """Indices of ``values``, adding unknown ids (no price) as they come."""
        out = np.empty(len(values), dtype=np.int64)
        for i, s in enumerate(values):
            j = self.index.get(s)
            if j is None:
                j = self.index[s] = len(self.ids)
                self.ids.append(s)
                self.price_int.append(0)
            out[i] = j
        return out


@dataclass
class Holdings:
    """Holdings rows as columns, sorted by portfolio row ``g`` (input order kept within a portfolio)."""

    g: np.ndarray  # portfolio row (int32 for the whole run, int64 for a chunk)
    sec: np.ndarray  # index into Securities (same)
    q: np.ndarray  # int64 quantity over 10**scale
    scale: int
    big: list[tuple[int, int, Decimal]]  # (g, sec, quantity) rows beyond int64
    unknown_portfolios: int = 0

    def rows(self, lo: int, hi: int) -> Holdings:
        """The rows of portfolios lo <= g < hi, with g made relative to lo."""
        a, b = np.searchsorted(self.g, np.array([lo, hi], dtype=self.g.dtype))  # same dtype: no copy of g
        big = [(g - lo, s, q) for g, s, q in self.big if lo <= g < hi]
        g = self.g[a:b].astype(np.int64) - lo
        return Holdings(g, self.sec[a:b].astype(np.int64), self.q[a:b], self.scale, big)


@dataclass(frozen=True)
class Cash:
    """Cash per portfolio row: exact values, duplicates flagged (a missing row is cash 0)."""

    values: Scaled
    duplicate: np.ndarray  # bool

    def rows(self, lo: int, hi: int) -> Cash:
        v = self.values
        exact = {i - lo: d for i, d in v.exact.items() if lo <= i < hi}
        return Cash(Scaled(v.values[lo:hi], v.scale, v.fits[lo:hi], exact), self.duplicate[lo:hi])


# ---------------------------------------------------------------------------------------------- input


def _json_decimal(text: str, source: str) -> object:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise BatchInputError(source, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def read_models(path: str | Path) -> list[ModelSpec]:
    """Models as in the CLI (``name``, ``positions``, ``portfolios``): a JSON array or ``{"models": [...]}``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchInputError(source, f"cannot read: {exc.strerror}") from None
    data = _json_decimal(text, source)
    if isinstance(data, dict) and "models" in data:
        data = data["models"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise BatchInputError(source, "must be a JSON array of models or an object with a 'models' array")
    specs = []
    owner: dict[str, str] = {}
    for i, raw in enumerate(data):
        where = f"models[{i}]"
        if not isinstance(raw, dict):
            raise BatchInputError(source, f"{where} must be an object")
        raw = {"name": raw.get("name") or raw.get("modelId") or f"model {i + 1}", **raw}
        try:
            model = InvestmentModel.model_validate(raw)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise BatchInputError(source, f"{where}.{loc}: {first['msg']} (value {first.get('input')!r})") from None
        key = model.model_id or model.name
        for pid in model.portfolios:
            if pid in owner:
                raise BatchInputError(source, f"{where}: portfolio {pid} is already in model {owner[pid]}")
            owner[pid] = key
        specs.append(ModelSpec(key, model, tuple(model.portfolios)))
    return specs


def read_prices(path: str | Path) -> tuple[dict[str, Decimal], int]:
    """securityId -> price, exact (decimal, integer or text); a repeated security is an error."""
    source = str(path)
    table = read_table(path, ["securityId", "price"])
    ids = _ids(table.column("securityId"), source, "securityId")
    values = scaled(table.column("price"), source, "price")
    prices: dict[str, Decimal] = {}
    for i, sid in enumerate(ids):
        if sid in prices:
            raise BatchInputError(source, f"security {sid} has more than one price", row=i + 1, field="securityId")
        prices[sid] = values.decimal(i)
    return prices, values.scale


def _ids(column: pa.ChunkedArray | pa.Array, source: str, name: str, offset: int = 0) -> list[str]:
    if column.null_count:
        first = int(pc.index(pc.is_null(column), True).as_py())
        raise BatchInputError(source, "is empty (an id is required)", row=offset + first + 1, field=name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    return column.to_pylist()


def read_cash(path: str | Path, index: Mapping[str, int], total: int) -> Cash:
    """Cash per portfolio row of the run; rows for portfolios outside every model are ignored."""
    source = str(path)
    table = read_table(path, ["portfolioId", "cash"])
    ids = _ids(table.column("portfolioId"), source, "portfolioId")
    values = scaled(table.column("cash"), source, "cash")
    rows = np.fromiter((index.get(p, -1) for p in ids), dtype=np.int64, count=len(ids))
    known = rows >= 0
    out = np.zeros(total, dtype=np.int64)
    fits = np.ones(total, dtype=bool)
    seen = np.bincount(rows[known], minlength=total)
    out[rows[known]] = values.values[known]
    fits[rows[known]] = values.fits[known]
    exact = {int(rows[i]): d for i, d in values.exact.items() if rows[i] >= 0}
    return Cash(Scaled(out, values.scale, fits, exact), seen > 1)


def holdings_scale(path: str | Path) -> int:
    """The decimal scale of the holdings quantities (text is scanned for its most decimal places)."""
    source = str(path)
    if is_csv(path):
        table = read_table(path, ["quantity"])
        return text_scale(table.column("quantity"), source, "quantity")
    top = 0
    offset = 0
    for batch in parquet_batches(path, ["quantity"], ()):
        own = column_scale(batch.schema.field("quantity").type, source, "quantity")
        if own is None:
            own = text_scale(batch.column("quantity"), source, "quantity", offset)
        top = max(top, own)
        offset += batch.num_rows
    return top


def holdings_rows(path: str | Path) -> int | None:
    """The number of holdings rows from the Parquet footers (None for CSV: counted while reading)."""
    if is_csv(path):
        return None
    p = Path(path)
    files = sorted(p.rglob("*.parquet")) if p.is_dir() else [p]
    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except (pa.ArrowInvalid, OSError):
        return None  # reported, with the file, when the rows are read


def holdings_batches(path: str | Path) -> Iterator[pa.RecordBatch]:
    columns = ["portfolioId", "securityId", "quantity"]
    if is_csv(path):
        yield from read_table(path, columns).to_batches()
    else:
        yield from parquet_batches(path, columns, ("portfolioId", "securityId"))


def _dictionary(column: pa.Array, source: str, name: str, offset: int) -> tuple[np.ndarray, list[str]]:
    """(indices, values) of an id column, dictionary-encoding it if the file did not."""
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    if column.null_count:
        first = int(pc.index(pc.is_null(column), True).as_py())
        raise BatchInputError(source, "is empty (an id is required)", row=offset + first + 1, field=name)
    return column.indices.to_numpy(zero_copy_only=False), _ids(column.dictionary, source, name)


def compact_holdings(
    batches: Iterable[pa.RecordBatch],
    index: Mapping[str, int],
    securities: Securities,
    scale: int,
    source: str,
    rows: int | None = None,
) -> Holdings:
    """Holdings rows of the run's portfolios as integer columns sorted by portfolio.

    Zero quantities are kept: they hold nothing, but a security listed twice is a duplicate even when one of
    its rows is zero (as in :func:`engine.marketvalue.holding_map`).

    ``rows`` (the input's row count, if known) lets the columns be filled in place instead of concatenated.
    """
    size = rows or 0
    g_all = np.empty(size, dtype=np.int32)
    sec_all = np.empty(size, dtype=np.int32)
    q_all = np.empty(size, dtype=np.int64)
    filled = 0  # rows placed in the preallocated columns; the rest (row count unknown) are concatenated
    gs, secs, qs = [], [], []
    big: list[tuple[int, int, Decimal]] = []
    unknown: set[str] = set()
    offset = 0
    for batch in batches:
        p_idx, p_vals = _dictionary(batch.column("portfolioId"), source, "portfolioId", offset)
        s_idx, s_vals = _dictionary(batch.column("securityId"), source, "securityId", offset)
        qty = scaled(batch.column("quantity"), source, "quantity", scale, offset)
        # only the dictionary entries this batch uses (a file may repeat one large dictionary in every row group)
        used = np.flatnonzero(np.bincount(p_idx, minlength=len(p_vals)))
        p_map = np.full(len(p_vals), -1, dtype=np.int32)  # int32 rows: 16 bytes a holding row kept, not 24
        p_map[used] = [index.get(p_vals[i], -1) for i in used.tolist()]
        unknown.update(p_vals[i] for i in used[p_map[used] < 0].tolist())
        g = p_map[p_idx] if len(p_map) else np.zeros(0, dtype=np.int32)
        sec = securities.lookup(s_vals).astype(np.int32)[s_idx] if s_vals else np.zeros(0, dtype=np.int32)
        for i, d in qty.exact.items():
            if g[i] >= 0:
                big.append((int(g[i]), int(sec[i]), d))
        keep = (g >= 0) & qty.fits
        q = qty.values
        if not keep.all():
            g, sec, q = g[keep], sec[keep], q[keep]
        if not gs and filled + len(g) <= size:
            g_all[filled : filled + len(g)] = g
            sec_all[filled : filled + len(g)] = sec
            q_all[filled : filled + len(g)] = q
            filled += len(g)
        else:
            gs.append(g)
            secs.append(sec)
            qs.append(q)
        offset += batch.num_rows
    if gs:
        g = np.concatenate([g_all[:filled], *gs])
        sec = np.concatenate([sec_all[:filled], *secs])
        q = np.concatenate([q_all[:filled], *qs])
    else:
        g, sec, q = g_all[:filled], sec_all[:filled], q_all[:filled]
    del gs, secs, qs
    if g.size > 1 and (g[1:] < g[:-1]).any():  # extracts usually come grouped by portfolio: no sort then
        order = np.argsort(g, kind="stable")
        g, sec, q = g[order], sec[order], q[order]
    return Holdings(g, sec, q, scale, big, len(unknown))


def make_plan(
    models: list[ModelSpec],
    prices: dict[str, Decimal],
    price_scale: int,
    options: RebalanceOptions,
    quantity_scale: int,
    cash_scale: int,
    chunk_size: int = CHUNK_SIZE,
) -> Plan:
    """Fix the trade date and every output column's scale for the run."""
    target_scale = max([0, *(decimals_of(p.target) for s in models for p in s.model.positions)])
    options = options.model_copy(update={"trade_date": options.trade_date or today_utc()})
    scales = OutputScales(quantity=quantity_scale, price=price_scale, cash=cash_scale, target=target_scale)
    return Plan(tuple(models), prices, price_scale, options, scales, chunk_size)


# ---------------------------------------------------------------------------------------------- solve


def _half_up(values: np.ndarray, divisor: int) -> np.ndarray:
    """values / divisor rounded half away from zero (Decimal ROUND_HALF_UP), exact on int64."""
    if divisor == 1:
        return values
    mag = (np.abs(values) + divisor // 2) // divisor
    return np.where(values < 0, -mag, mag)


def _scale_up(values: np.ndarray, places: int) -> np.ndarray:
    return values * (10**places) if places else values


@dataclass
class _Summary:
    """Summary columns of one chunk being filled (ints over the output scales; Python ints in ``big``)."""

    k: int
    status: np.ndarray  # object: str | None
    diagnosis: np.ndarray
    code: np.ndarray
    orders: np.ndarray
    cols: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    big: dict[str, dict[int, int]]

    @classmethod
    def empty(cls, k: int) -> _Summary:
        names = ("marketValue", "cashBefore", "cashAfter", "driftBefore", "driftAfter")
        return cls(
            k,
            np.full(k, None, dtype=object),
            np.full(k, None, dtype=object),
            np.full(k, None, dtype=object),
            np.zeros(k, dtype=np.int64),
            {n: np.zeros(k, dtype=np.int64) for n in names},
            {n: np.zeros(k, dtype=bool) for n in names},
            {n: {} for n in names},
        )

    def put(self, name: str, row: int, value: Decimal | None, scale: int) -> None:
        if value is None:
            return
        n = to_scaled_int(value, scale)
        self.valid[name][row] = True
        if -(2**63) <= n < 2**63:
            self.cols[name][row] = n
        else:
            self.big[name][row] = n


def _orders_table(
    scales: OutputScales,
    pids: Sequence[str],
    sec_ids: Sequence[str],
    k: np.ndarray,
    sec: np.ndarray,
    buy: np.ndarray,
    qty: np.ndarray,
    price: np.ndarray,
    value: np.ndarray,
    extra: np.ndarray,
    trade_date: dt.date,
) -> pa.Table:
    n = len(k)
    # the security dictionary holds only the traded ids, in table order (the same whoever built the table)
    used = np.flatnonzero(np.bincount(sec, minlength=len(sec_ids))) if n else np.zeros(0, dtype=np.int64)
    code = np.zeros(len(sec_ids), dtype=np.int32)
    code[used] = np.arange(len(used), dtype=np.int32)
    sid_dict = pa.array([sec_ids[i] for i in used.tolist()], pa.string())
    return pa.Table.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(k.astype(np.int32)), pa.array(list(pids), pa.string())),
            pa.DictionaryArray.from_arrays(pa.array(code[sec]), sid_dict),
            pa.DictionaryArray.from_arrays(pa.array((~buy).astype(np.int32)), pa.array(["BUY", "SELL"])),
            decimal_array(qty, scales.quantity),
            decimal_array(price, scales.price),
            decimal_array(value, scales.value),
            date_array(trade_date, n),
            pa.DictionaryArray.from_arrays(pa.array(extra.astype(np.int32)), pa.array([REASON_MODEL, REASON_EXTRA])),
        ],
        schema=scales.orders_schema(),
    )


def solve_chunk(
    plan: Plan,
    model_index: int,
    pids: Sequence[str],
    cash: Cash,
    holdings: Holdings,
    securities: Securities,
    workers: int | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Orders and summary of one chunk of one model's portfolios (``holdings.g`` relative to the chunk).

    A bug in the integer path must not cost the chunk its answers: it is reported on stderr and the chunk is
    solved again on the Decimal path (``rebalance_portfolios``), which gives the same answers, slower.
    """
    try:
        return _solve_chunk_fast(plan, model_index, pids, cash, holdings, securities, workers)
    except Exception:  # any bug: the traceback goes to stderr, never silently
        traceback.print_exc(file=sys.stderr)
        print(f"note: chunk of {len(pids)} portfolios re-solved on the Decimal path", file=sys.stderr)
    summary = _Summary.empty(len(pids))
    summary.cols["cashBefore"][:] = np.where(cash.values.fits, cash.values.values, 0)
    summary.valid["cashBefore"][:] = cash.values.fits
    for i, d in cash.values.exact.items():
        summary.put("cashBefore", i, d, plan.scales.cash)
    spec = plan.models[model_index]
    orders = _fallback(plan, spec, pids, cash, holdings, securities, np.arange(len(pids)), summary, workers)
    return orders, _summary_table(plan, spec, pids, summary)


def _solve_chunk_fast(
    plan: Plan,
    model_index: int,
    pids: Sequence[str],
    cash: Cash,
    holdings: Holdings,
    securities: Securities,
    workers: int | None = None,
) -> tuple[pa.Table, pa.Table]:
    spec = plan.models[model_index]
    options = plan.options
    scales = plan.scales
    trade_date = options.trade_date or today_utc()
    k_total = len(pids)
    summary = _Summary.empty(k_total)
    # cash before is known for every portfolio, whatever happens next (scales.cash is the cash column's scale)
    summary.cols["cashBefore"][:] = np.where(cash.values.fits, cash.values.values, 0)
    summary.valid["cashBefore"][:] = cash.values.fits
    for i, d in cash.values.exact.items():
        summary.put("cashBefore", i, d, scales.cash)
    err = model_error(spec.model, plan.prices, options)
    empty_orders = scales.orders_schema().empty_table()
    if err is not None:
        status = INFEASIBLE if err.code == "REBALANCE_INFEASIBLE" else ERROR
        summary.status[:] = status
        summary.diagnosis[:] = err.message
        summary.code[:] = err.code
        return empty_orders, _summary_table(plan, spec, pids, summary)

    positions = clean_positions(spec.model.positions)
    n = len(positions)
    model_sec = np.array([securities.index[p.security_id] for p in positions], dtype=np.int64)
    n_sec = len(securities.ids)
    col_of = np.full(n_sec, -1, dtype=np.int64)
    col_of[model_sec] = np.arange(n)
    p_int = np.array(securities.price_int, dtype=np.int64)
    s_q, s_p, s_c = holdings.scale, securities.scale, cash.values.scale
    s_t = scales.target
    k, sec, q = holdings.g, holdings.sec, holdings.q
    if max(s_q + s_p, scales.drift, scales.cash_after, s_c) > 18:  # powers of ten beyond int64: all in Decimal
        orders = _fallback(plan, spec, pids, cash, holdings, securities, np.arange(k_total), summary, workers)
        return orders, _summary_table(plan, spec, pids, summary)

    # --- which portfolios the integer path cannot take exactly
    bad = cash.duplicate | ~cash.values.fits
    for g, _s, _q in holdings.big:
        bad[g] = True
    unpriced = (p_int[sec] <= 0) & (q != 0)  # a zero holding needs no price
    bad[k[unpriced]] = True
    col = col_of[sec]
    is_model = col >= 0
    counts = np.bincount(k[is_model] * n + col[is_model], minlength=k_total * n) if n else np.zeros(0, np.int64)
    if counts.size and counts.max(initial=0) > 1:
        bad[np.nonzero(counts > 1)[0] // n] = True
    extra = ~is_model
    if extra.any():
        keys = k[extra] * n_sec + sec[extra]
        uniq, cnt = np.unique(keys, return_counts=True)
        bad[(uniq[cnt > 1] // n_sec)] = True
    # u·p exact, rounded to mills (half-up), summed per portfolio, with float guards before every int op
    p_f = p_int.astype(np.float64)
    value_f = np.abs(q.astype(np.float64)) * p_f[sec]
    bad[k[value_f > LIMIT]] = True
    safe_q = np.where(bad[k] | unpriced, 0, q)
    s_v = s_q + s_p
    v = safe_q * p_int[sec]
    pos_mills = _half_up(v, 10 ** (s_v - 3)) if s_v >= 3 else v
    if s_v < 3:
        big_pos = np.abs(v.astype(np.float64)) * 10 ** (3 - s_v) > LIMIT
        bad[k[big_pos]] = True
        pos_mills = _scale_up(np.where(bad[k], 0, pos_mills), 3 - s_v)
    pos_mills = np.where(bad[k], 0, pos_mills)
    total_f = np.bincount(k, weights=np.abs(pos_mills.astype(np.float64)), minlength=k_total)
    bad |= total_f > LIMIT
    sums = np.zeros(k_total, dtype=np.int64)
    np.add.at(sums, k, np.where(bad[k], 0, pos_mills))
    t_scale = max(3, s_c)
    cash_v = np.where(bad, 0, cash.values.values)
    total_est = np.abs(cash_v.astype(np.float64)) * 10.0 ** (t_scale - s_c) + np.abs(
        sums.astype(np.float64)
    ) * 10.0 ** (t_scale - 3)
    bad |= total_est > LIMIT
    cash_v = np.where(bad, 0, cash_v)
    sums = np.where(bad, 0, sums)
    total = _scale_up(cash_v, t_scale - s_c) + _scale_up(sums, t_scale - 3)
    mills = _half_up(total, 10 ** (t_scale - 3))
    fallback = bad | (mills <= 0)
    if has_controls(options) or options.on_infeasible == "nearest":
        fallback[:] = True  # trade controls: the per-security sets of engine.controls on the Decimal path
    solve_rows = np.nonzero(~fallback)[0]

    # --- the engine's exact solver on the rest
    arrays = ModelArrays(
        tuple(p.security_id for p in positions),
        tuple(p.target for p in positions),
        tuple(p.low_drift for p in positions),
        tuple(p.high_drift for p in positions),
        tuple(plan.prices[p.security_id] for p in positions),
    )
    mills_s = mills[solve_rows]
    floors: Decimal | list[Decimal] = (
        [options.cash_floor(mv_decimal(m)) for m in mills_s.tolist()] if options.min_cash_fraction else options.min_cash
    )
    sol = solve_closed_form(
        arrays,
        mills_s,
        floors,
        portfolio_ids=[pids[r] for r in solve_rows.tolist()],
        tie_break=options.tie_break,
        seed=options.seed,
    )
    complete_milps(sol, arrays, time_limit=options.time_limit, workers=workers)
    status = np.array(sol.status, dtype=object) if len(solve_rows) else np.zeros(0, dtype=object)
    solved_opt = status == OPTIMAL

    # --- exact results of the solved rows (dense K_s x N current quantities)
    ks = len(solve_rows)
    row_of = np.full(k_total, -1, dtype=np.int64)
    row_of[solve_rows] = np.arange(ks)
    in_solve = row_of[k] >= 0
    m_rows = in_solve & is_model
    cur = np.zeros((ks, n), dtype=np.int64)
    cur[row_of[k[m_rows]], col[m_rows]] = q[m_rows]
    x_rows = in_solve & extra & (q != 0)  # held outside the model (a zero row holds nothing)
    t_int = np.array([to_scaled_int(p.target, s_t) for p in positions], dtype=np.int64)
    pm = p_int[model_sec]
    sd = scales.drift
    sa = scales.cash_after
    new = sol.quantities
    # row bounds (float) of every int64 intermediate below: the largest term times the number of terms; a row
    # over the limit takes the Decimal path
    n_terms = max(n, 1)
    new_max = (np.abs(new).max(axis=1) if n else np.zeros(ks, np.int64)).astype(np.float64)
    cur_max = (np.abs(cur).max(axis=1) if n else np.zeros(ks, np.int64)).astype(np.float64)
    mills_f = np.abs(mills_s.astype(np.float64))
    p_max = float(pm.max()) if n else 0.0
    t_max = float(t_int.max()) if n else 0.0
    x_value_f = np.bincount(row_of[k[x_rows]], weights=value_f[x_rows], minlength=ks) * 10.0 ** (sd - s_v)
    terms = mills_f * t_max * 10.0 ** (sd - 3 - s_t) + new_max * p_max * 10.0 ** (sd - s_p)
    terms += cur_max * p_max * 10.0 ** (sd - s_v)
    trade_max = new_max * 10.0**s_q + cur_max
    row_big = (
        (terms * n_terms + x_value_f > LIMIT)
        | (trade_max * max(p_max, 1.0) > LIMIT)
        | (mills_f * 10.0 ** (sa - 3) + new_max * p_max * n_terms * 10.0 ** (sa - s_p) > LIMIT)
    )
    if row_big.any():
        fallback[solve_rows[row_big]] = True
        keep = ~row_big
    else:
        keep = np.ones(ks, dtype=bool)
    all_kept = bool(keep.all())  # the usual case: no masking passes
    newz = new if all_kept else np.where(keep[:, None], new, 0)
    curz = cur if all_kept else np.where(keep[:, None], cur, 0)
    millz = mills_s if all_kept else np.where(keep, mills_s, 0)
    tv = _scale_up(millz[:, None] * t_int[None, :], sd - 3 - s_t)
    new_value = newz * pm[None, :]
    drift_before = np.abs(tv - _scale_up(curz * pm[None, :], sd - s_v)).sum(axis=1)
    x_val = np.abs(np.where(keep[row_of[k[x_rows]]], q[x_rows], 0) * p_int[sec[x_rows]])
    x_sum = np.zeros(ks, dtype=np.int64)
    np.add.at(x_sum, row_of[k[x_rows]], _scale_up(x_val, sd - s_v))
    drift_before += x_sum
    cash_after = _scale_up(millz, sa - 3) - _scale_up(new_value.sum(axis=1), sa - s_p)
    tv -= _scale_up(new_value, sd - s_p)
    drift_after = np.abs(tv, out=tv).sum(axis=1)
    del tv, new_value
    kept = solve_rows[keep]
    summary.status[kept] = np.where(solved_opt, OPTIMAL, np.where(status == INFEASIBLE, INFEASIBLE, ERROR))[keep]
    for name, values, mask in (
        ("marketValue", mills_s, keep),
        ("driftBefore", drift_before, keep),
        ("cashAfter", cash_after, keep & solved_opt),
        ("driftAfter", drift_after, keep & solved_opt),
    ):
        summary.cols[name][solve_rows[mask]] = values[mask]
        summary.valid[name][solve_rows[mask]] = True
    failed = keep & ~solved_opt
    if failed.any():
        summary.diagnosis[solve_rows[failed]] = np.array(sol.diagnosis, dtype=object)[failed]
        codes = [c or "INTERNAL_ERROR" for c in sol.error_code]
        summary.code[solve_rows[failed]] = np.array(codes, dtype=object)[failed]

    # --- orders of the optimal solved rows: model securities in model order, then held extras in input order
    good = keep & solved_opt
    if good.all():
        delta = _scale_up(newz, s_q) - curz
    else:
        delta = _scale_up(np.where(good[:, None], newz, 0), s_q) - np.where(good[:, None], curz, 0)
    mj, mc = np.nonzero(delta)
    m_delta = delta[mj, mc]
    x_sel = x_rows.copy()
    x_sel[x_rows] = good[row_of[k[x_rows]]]
    x_j = row_of[k[x_sel]]
    x_delta = -q[x_sel]
    o_k = np.concatenate([solve_rows[mj], solve_rows[x_j]])
    o_sec = np.concatenate([model_sec[mc], sec[x_sel]])
    o_delta = np.concatenate([m_delta, x_delta])
    o_extra = np.concatenate([np.zeros(len(mj), bool), np.ones(len(x_j), bool)])
    if len(x_j):  # model orders come in row order already; extras slot in after their portfolio's
        order = np.argsort(o_k, kind="stable")
        o_k, o_sec, o_delta, o_extra = o_k[order], o_sec[order], o_delta[order], o_extra[order]
    o_qty = np.abs(o_delta)
    o_price = p_int[o_sec]
    summary.orders += np.bincount(o_k, minlength=k_total)
    fast_orders = _orders_table(
        scales,
        pids,
        securities.ids,
        o_k,
        o_sec,
        o_delta > 0,
        o_qty,
        _scale_up(o_price, scales.price - s_p),
        o_qty * o_price,
        o_extra,
        trade_date,
    )

    # --- the Decimal path for the rest
    slow_orders = _fallback(plan, spec, pids, cash, holdings, securities, np.nonzero(fallback)[0], summary, workers)
    orders = fast_orders
    if slow_orders.num_rows:
        pid_pos = {p: i for i, p in enumerate(pids)}
        both = pa.concat_tables([fast_orders, slow_orders]).unify_dictionaries().combine_chunks()
        rank = np.array([pid_pos[p] for p in both.column("portfolioId").to_pylist()], dtype=np.int64)
        orders = both.take(pa.array(np.argsort(rank, kind="stable")))
    return orders, _summary_table(plan, spec, pids, summary)


def unpadded(value: Decimal) -> Decimal:
    """``value`` without the trailing fractional zeros a decimal column's scale added (1.500 -> 1.5, 100 stays).

    A decimal128 column stores one scale for all rows, so ``10`` read from a scale-3 column is ``10.000``; the
    engine names out-of-range values in its messages as given, and the batch gives it the number as typed.
    """
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0 or not digits or digits[-1] != 0:
        return value
    strip = 0
    while strip < -exponent and strip < len(digits) - 1 and digits[-1 - strip] == 0:
        strip += 1
    return Decimal((sign, digits[: len(digits) - strip], exponent + strip))


def _fallback(
    plan: Plan,
    spec: ModelSpec,
    pids: Sequence[str],
    cash: Cash,
    holdings: Holdings,
    securities: Securities,
    rows: np.ndarray,
    summary: _Summary,
    workers: int | None,
) -> pa.Table:
    """Solve ``rows`` with :func:`rebalance_portfolios` (exact Decimals) and fill their summary; their orders."""
    scales = plan.scales
    if rows.size == 0:
        return scales.orders_schema().empty_table()
    wanted = set(rows.tolist())
    held: dict[int, list[Holding]] = {r: [] for r in wanted}
    sel = np.isin(holdings.g, rows)
    for g, s, qv in zip(holdings.g[sel].tolist(), holdings.sec[sel].tolist(), holdings.q[sel].tolist(), strict=True):
        held[g].append(Holding(security_id=securities.ids[s], quantity=unpadded(Decimal(qv).scaleb(-holdings.scale))))
    for g, s, d in holdings.big:
        if g in wanted:
            held[g].append(Holding(security_id=securities.ids[s], quantity=unpadded(d)))
    results: dict[int, PortfolioResult] = {}
    portfolios = []
    for r in sorted(wanted):
        if cash.duplicate[r]:
            err = ExternalDataError(
                f"portfolio {pids[r]} has more than one cash row", {"portfolioId": pids[r], "field": "cash"}
            )
            results[r] = PortfolioResult(portfolio_id=pids[r], status=ERROR, diagnosis=err.message, error_code=err.code)
            continue
        portfolios.append(
            (r, PortfolioHoldings(portfolio_id=pids[r], cash=unpadded(cash.values.decimal(r)), holdings=tuple(held[r])))
        )
    if portfolios:
        results.update(_decimal_path(spec.model, plan, portfolios, workers))
    model_ids = {p.security_id for p in clean_positions(spec.model.positions)}
    o_pid, o_sid, o_side, o_qty, o_price, o_value, o_extra = [], [], [], [], [], [], []
    for r in sorted(results):
        res = results[r]
        summary.status[r] = res.status
        summary.diagnosis[r] = res.diagnosis if res.status != OPTIMAL else None
        if res.band_breaches:  # a relaxed answer: its breached bands in the summary's diagnosis column
            summary.diagnosis[r] = "band breaches: " + "; ".join(
                f"{b.security_id} {b.side} ${plain(b.amount)}" for b in res.band_breaches
            )
        summary.code[r] = res.error_code if res.status != OPTIMAL else None
        summary.put("marketValue", r, res.market_value, 3)
        summary.put("cashAfter", r, res.cash_after, scales.cash_after)
        summary.put("driftBefore", r, res.drift_before, scales.drift)
        summary.put("driftAfter", r, res.portfolio_drift, scales.drift)
        summary.orders[r] = len(res.transactions)
        if res.cash_before is None:  # out of the supported range: the engine does not print it, nor does the batch
            summary.valid["cashBefore"][r] = False
            summary.cols["cashBefore"][r] = 0
            summary.big["cashBefore"].pop(r, None)
        for t in res.transactions:
            price = plan.prices[t.security_id]
            o_pid.append(pids[r])
            o_sid.append(t.security_id)
            o_side.append(t.transaction_type)
            o_qty.append(t.quantity)
            o_price.append(price)
            o_value.append(t.quantity * price)
            o_extra.append(REASON_MODEL if t.security_id in model_ids else REASON_EXTRA)
    date = plan.options.trade_date or today_utc()
    return pa.Table.from_arrays(
        [
            pa.array(o_pid, pa.string()).dictionary_encode(),
            pa.array(o_sid, pa.string()).dictionary_encode(),
            pa.array(o_side, pa.string()).dictionary_encode(),
            decimal_of_python(o_qty, scales.quantity),
            decimal_of_python(o_price, scales.price),
            decimal_of_python(o_value, scales.value),
            date_array(date, len(o_pid)),
            pa.array(o_extra, pa.string()).dictionary_encode(),
        ],
        schema=scales.orders_schema(),
    )


def out_of_range(portfolio: PortfolioHoldings, exc: Exception) -> PortfolioResult:
    """The typed error of a portfolio whose values are beyond what the engine computes exactly."""
    err = SolverFailed(
        f"portfolio {portfolio.portfolio_id}: its values are outside the engine's exact range ({exc})",
        {"portfolioId": portfolio.portfolio_id},
    )
    return PortfolioResult(
        portfolio_id=portfolio.portfolio_id,
        status=ERROR,
        cash_before=portfolio.cash,
        diagnosis=err.message,
        error_code=err.code,
    )


def _decimal_path(
    model: InvestmentModel, plan: Plan, portfolios: list[tuple[int, PortfolioHoldings]], workers: int | None
) -> dict[int, PortfolioResult]:
    """``rebalance_portfolios`` on these portfolios; if it cannot compute one of them (a value beyond its
    integer range raises), each is retried alone so that only that one fails, with a typed error."""
    group = [p for _, p in portfolios]
    try:
        answers = rebalance_portfolios(model, plan.prices, group, plan.options, workers=workers, with_positions=False)
    except (OverflowError, ValueError, ArithmeticError):
        answers = []
        for p in group:
            try:
                answers += rebalance_portfolios(model, plan.prices, [p], plan.options, workers=1, with_positions=False)
            except (OverflowError, ValueError, ArithmeticError) as exc:
                answers.append(out_of_range(p, exc))
    return {r: a for (r, _), a in zip(portfolios, answers, strict=True)}


def _summary_table(plan: Plan, spec: ModelSpec, pids: Sequence[str], s: _Summary) -> pa.Table:
    sc = plan.scales
    scale_of = {
        "marketValue": 3,
        "cashBefore": sc.cash,
        "cashAfter": sc.cash_after,
        "driftBefore": sc.drift,
        "driftAfter": sc.drift,
    }
    arrays = [
        pa.array(list(pids), pa.string()),
        pa.DictionaryArray.from_arrays(pa.array(np.zeros(s.k, np.int8)), pa.array([spec.key])).cast(pa.string()),
        pa.array(s.status, pa.string()),
        *(decimal_array(s.cols[n], scale_of[n], s.valid[n], s.big[n]) for n in scale_of),
        pa.array(s.orders, pa.int64()),
        pa.array(s.diagnosis, pa.string()),
        pa.array(s.code, pa.string()),
    ]
    return pa.Table.from_arrays(arrays, schema=sc.summary_schema())


# ---------------------------------------------------------------------------------------------- drivers


@dataclass(frozen=True)
class BatchInputs:
    """Paths of the batch's input tables."""

    holdings: str
    cash: str
    prices: str
    models: str


@dataclass
class BatchReport:
    """What a run did: portfolios by status, orders, parts written, portfolios in the holdings but no model."""

    portfolios: int = 0
    orders: int = 0
    parts: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    unknown_portfolios: int = 0

    def add(self, orders: pa.Table, summary: pa.Table) -> None:
        self.portfolios += summary.num_rows
        self.orders += orders.num_rows
        self.parts += 1
        for st in summary.column("status").to_pylist():
            self.by_status[st] = self.by_status.get(st, 0) + 1


def prepare(inputs: BatchInputs, options: RebalanceOptions, chunk_size: int = CHUNK_SIZE) -> tuple[Plan, Cash]:
    """Read models, prices and cash; fix the output scales. Holdings are streamed afterwards."""
    models = read_models(inputs.models)
    prices, price_scale = read_prices(inputs.prices)
    total = sum(len(s.portfolio_ids) for s in models)
    plan = make_plan(models, prices, price_scale, options, holdings_scale(inputs.holdings), 0, chunk_size)
    cash = read_cash(inputs.cash, plan.portfolio_index(), total)
    scales = OutputScales(plan.scales.quantity, plan.scales.price, cash.values.scale, plan.scales.target)
    return Plan(plan.models, plan.prices, plan.price_scale, plan.options, scales, plan.chunk_size), cash


def progress_bar(total: int, unit: str) -> tqdm:
    """A progress bar on stderr, shown only when stderr is a terminal."""
    return tqdm(total=total, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), dynamic_ncols=True)


def run_local(
    inputs: BatchInputs,
    output: str | Path,
    options: RebalanceOptions,
    *,
    chunk_size: int = CHUNK_SIZE,
    workers: int | None = None,
) -> BatchReport:
    """The whole batch in this process: ``output/orders/part-*.parquet`` and ``output/summary/part-*.parquet``."""
    out = Path(output)
    plan, cash = prepare(inputs, options, chunk_size)
    clear_parts(out)
    securities = Securities.of(plan.prices, plan.price_scale)
    holdings = compact_holdings(
        holdings_batches(inputs.holdings),
        plan.portfolio_index(),
        securities,
        plan.scales.quantity,
        inputs.holdings,
        holdings_rows(inputs.holdings),
    )
    report = BatchReport(unknown_portfolios=holdings.unknown_portfolios)
    offsets = plan.offsets()
    workers = (os.cpu_count() or 1) if workers is None else workers
    chunks = plan.chunks()
    # one writer thread: Parquet encoding (which releases the GIL) overlaps the next chunk's solve; at most
    # two chunks' results are held at once
    pending: deque[Future[None]] = deque()
    with progress_bar(offsets[-1], "portfolio") as bar, ThreadPoolExecutor(1) as writer:
        for chunk in chunks:
            lo = offsets[chunk.model] + chunk.start
            hi = offsets[chunk.model] + chunk.stop
            pids = plan.models[chunk.model].portfolio_ids[chunk.start : chunk.stop]
            orders, summary = solve_chunk(
                plan, chunk.model, pids, cash.rows(lo, hi), holdings.rows(lo, hi), securities, workers
            )
            report.add(orders, summary)
            while len(pending) >= 2:
                pending.popleft().result()
            pending.append(writer.submit(_write_both, orders, summary, out, chunk.part))
            bar.update(hi - lo)
        for fut in pending:
            fut.result()
    if not chunks:
        empty_parts(plan, out)
    return report


def clear_parts(out: Path) -> None:
    """Remove the parts an earlier run left in ``out`` (a smaller run would otherwise leave stale parts behind)."""
    for table in ("orders", "summary"):
        for part in (out / table).glob("part-*.parquet"):
            part.unlink()


def _write_both(orders: pa.Table, summary: pa.Table, out: Path, part: int) -> None:
    write_part(orders, out / "orders", part)
    write_part(summary, out / "summary", part)


def empty_parts(plan: Plan, out: Path) -> None:
    """A run without portfolios still writes one empty part of each table (so readers find the schema)."""
    write_part(plan.scales.orders_schema().empty_table(), out / "orders", 0)
    write_part(plan.scales.summary_schema().empty_table(), out / "summary", 0)
