"""Columnar input and output of ``engine batch``: Parquet/CSV tables to exact scaled integers and back.

Numbers travel as scaled integers: a decimal column of scale ``s`` becomes int64 values ``v`` with
value = v / 10**s, read straight from Arrow's decimal128 buffers (no per-value objects). A value that does
not fit int64 is flagged (``fits`` False) and kept exactly as a ``Decimal`` for the per-portfolio path.
CSV numbers are read as text, checked against a plain decimal pattern and cast to decimal128 by Arrow.
Output decimal columns are decimal128(38, scale) built from int64 (or, rarely, Python int) values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engine.exactmath import to_scaled_int

PLAIN_DECIMAL = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$"
BATCH_ROWS = 1 << 20  # rows per record batch when streaming holdings
MAX_PRECISION = 38
_MASK64 = (1 << 64) - 1


class BatchInputError(ValueError):
    """Input the batch cannot use: names the file, row, field, value and rule."""

    def __init__(self, source: str, message: str, row: int | None = None, field: str | None = None) -> None:
        where = source + (f" row {row}" if row is not None else "") + (f" {field}" if field else "")
        super().__init__(f"{where}: {message}")
        self.source = source
        self.row = row
        self.field = field


@dataclass(frozen=True)
class Scaled:
    """An exact decimal column as int64 values over 10**scale; rows with ``fits`` False are in ``exact``."""

    values: np.ndarray  # int64 (0 where the value does not fit)
    scale: int
    fits: np.ndarray  # bool
    exact: dict[int, Decimal]  # row -> exact value, for rows that do not fit int64

    def decimal(self, row: int) -> Decimal:
        """The exact value of one row as a Decimal of this column's scale."""
        if row in self.exact:
            return self.exact[row]
        return Decimal(int(self.values[row])).scaleb(-self.scale)


def is_csv(path: str | Path) -> bool:
    return str(path).lower().endswith((".csv", ".csv.gz"))


def read_table(path: str | Path, columns: list[str], text_columns: tuple[str, ...] = ()) -> pa.Table:
    """A whole Parquet file/directory or CSV file (``text_columns`` read as strings from CSV)."""
    source = str(path)
    try:
        if is_csv(path):
            opts = pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()), include_columns=columns, strings_can_be_null=False
            )
            table = pacsv.read_csv(source, convert_options=opts)
        else:
            table = pq.read_table(source, columns=columns)
    except FileNotFoundError:
        raise BatchInputError(source, "file not found") from None
    except (pa.ArrowInvalid, pa.ArrowKeyError, KeyError, OSError) as exc:
        raise BatchInputError(
            source, f"cannot read the table ({_short(exc)}); columns needed: {', '.join(columns)}"
        ) from None
    require_columns(table.schema, columns, source)
    return table


def require_columns(schema: pa.Schema, columns: list[str], source: str) -> None:
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise BatchInputError(source, f"missing column(s) {', '.join(missing)} (has {', '.join(schema.names)})")


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def parquet_batches(path: str | Path, columns: list[str], dictionary: tuple[str, ...]) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file or directory in record batches (string id columns read as dictionaries)."""
    source = str(path)
    p = Path(source)
    files = sorted(f for f in p.rglob("*.parquet")) if p.is_dir() else [p]
    if not files:
        raise BatchInputError(source, "no Parquet files found")
    for f in files:
        try:
            pf = pq.ParquetFile(f, read_dictionary=list(dictionary))
        except FileNotFoundError:
            raise BatchInputError(str(f), "file not found") from None
        except (pa.ArrowInvalid, OSError) as exc:
            raise BatchInputError(str(f), f"not a readable Parquet file ({_short(exc)})") from None
        require_columns(pf.schema_arrow, columns, str(f))
        yield from pf.iter_batches(batch_size=BATCH_ROWS, columns=columns)


def column_scale(kind: pa.DataType, source: str, field: str) -> int | None:
    """The scale of an exact numeric column type (decimal or integer), None for text; floats are refused."""
    if pa.types.is_decimal(kind):
        return int(kind.scale)
    if pa.types.is_integer(kind):
        return 0
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return None
    raise BatchInputError(
        source,
        f"type {kind} is not exact: use decimal128, an integer type or decimal text (floats are refused)",
        field=field,
    )


def _no_nulls(arr: pa.Array | pa.ChunkedArray, source: str, field: str, offset: int) -> None:
    if arr.null_count:
        first = int(pc.index(pc.is_null(arr), True).as_py())
        raise BatchInputError(source, "is empty (a value is required)", row=offset + first + 1, field=field)


def text_scale(arr: pa.Array | pa.ChunkedArray, source: str, field: str, offset: int = 0) -> int:
    """The largest number of decimal places in a text column; raises on text that is not a plain decimal."""
    _no_nulls(arr, source, field, offset)
    ok = pc.match_substring_regex(arr, PLAIN_DECIMAL)
    if not pc.all(ok).as_py() and len(arr):
        first = int(pc.index(ok, False).as_py())
        raise BatchInputError(
            source, f"{arr[first].as_py()!r} is not a plain decimal number", row=offset + first + 1, field=field
        )
    stripped = pc.utf8_trim_whitespace(arr)
    dot = pc.find_substring(stripped, ".")
    places = pc.if_else(pc.less(dot, 0), 0, pc.subtract(pc.subtract(pc.utf8_length(stripped), dot), 1))
    top = pc.max(places).as_py()
    return int(top or 0)


def scaled(
    arr: pa.Array | pa.ChunkedArray, source: str, field: str, scale: int | None = None, offset: int = 0
) -> Scaled:
    """Exact int64 values of a decimal/integer/text column over 10**scale (scale: the column's unless given)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    _no_nulls(arr, source, field, offset)
    kind = arr.type
    own = column_scale(kind, source, field)
    if own is None:
        own = text_scale(arr, source, field, offset)
        if own > MAX_PRECISION - 1:
            raise BatchInputError(source, f"has {own} decimal places (at most {MAX_PRECISION - 1})", field=field)
        try:
            arr = pc.cast(pc.utf8_trim_whitespace(arr), pa.decimal128(MAX_PRECISION, own))
        except pa.ArrowInvalid as exc:
            raise BatchInputError(source, f"a value is out of range: {_short(exc)}", field=field) from None
        kind = arr.type
    target = own if scale is None else scale
    if target < own:
        raise BatchInputError(source, f"has {own} decimal places, more than {target}", field=field)
    if pa.types.is_integer(kind):
        values = arr.to_numpy(zero_copy_only=False).astype(np.int64)
        big = arr.type in (pa.uint64(),) and len(arr) and pc.max(arr).as_py() >= 2**63
        fits = np.ones(len(arr), dtype=bool)
        exact: dict[int, Decimal] = {}
        if big:
            raw = arr.to_pylist()
            fits = np.array([v < 2**63 for v in raw], dtype=bool)
            exact = {i: Decimal(v) for i, v in enumerate(raw) if v >= 2**63}
            values[~fits] = 0
        return _rescale(values, fits, exact, 0, target)
    if pa.types.is_decimal256(kind):
        raw = arr.to_pylist()
        return _from_python([Decimal(v) for v in raw], own, target)
    buf = arr.buffers()[1]
    words = np.frombuffer(buf, dtype=np.int64, count=2 * (arr.offset + len(arr)))[2 * arr.offset :].reshape(-1, 2)
    low = words[:, 0]
    fits = words[:, 1] == (low >> 63)
    values = np.ascontiguousarray(low) if fits.all() else np.where(fits, low, 0)
    exact = {}
    if not fits.all():
        for i in np.nonzero(~fits)[0].tolist():
            exact[i] = arr[i].as_py()
    return _rescale(values, fits, exact, own, target)


def _from_python(values: list[Decimal], own: int, target: int) -> Scaled:
    ints = [to_scaled_int(v, own) for v in values]
    fits = np.array([-(2**63) <= v < 2**63 for v in ints], dtype=bool)
    arr = np.array([v if f else 0 for v, f in zip(ints, fits.tolist(), strict=True)], dtype=np.int64)
    exact = {i: values[i] for i in np.nonzero(~fits)[0].tolist()}
    return _rescale(arr, fits, exact, own, target)


def _rescale(values: np.ndarray, fits: np.ndarray, exact: dict[int, Decimal], own: int, target: int) -> Scaled:
    if target != own:
        factor = 10 ** (target - own)
        limit = (2**63 - 1) // factor
        over = fits & (np.abs(values) > limit)
        for i in np.nonzero(over)[0].tolist():
            exact[i] = Decimal(int(values[i])).scaleb(-own)
        fits = fits & ~over
        values = np.where(fits, values * factor, 0)
    return Scaled(values.astype(np.int64, copy=False), target, fits, exact)


def decimal_array(
    values: np.ndarray,
    scale: int,
    valid: np.ndarray | None = None,
    big: Mapping[int, int] | None = None,
) -> pa.Array:
    """decimal128(38, scale) from int64 values over 10**scale; ``big`` overrides rows with Python ints."""
    n = len(values)
    words = np.empty((n, 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    for row, v in (big or {}).items():
        if abs(v) >= 10**MAX_PRECISION:
            raise ValueError(f"{v}e-{scale} has more than {MAX_PRECISION} digits")
        low = v & _MASK64
        words[row, 0] = low - (1 << 64) if low >= 1 << 63 else low
        words[row, 1] = v >> 64
    validity = None
    nulls = 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
        nulls = int(n - valid.sum())
    return pa.Array.from_buffers(
        pa.decimal128(MAX_PRECISION, scale), n, [validity, pa.py_buffer(words)], null_count=nulls
    )


def decimal_of_python(values: list[Decimal | None], scale: int) -> pa.Array:
    """decimal128(38, scale) from exact Decimals (None: null); raises if a value has more places."""
    ints = np.zeros(len(values), dtype=np.int64)
    valid = np.ones(len(values), dtype=bool)
    big: dict[int, int] = {}
    for i, v in enumerate(values):
        if v is None:
            valid[i] = False
            continue
        n = to_scaled_int(v, scale)
        if -(2**63) <= n < 2**63:
            ints[i] = n
        else:
            big[i] = n
    return decimal_array(ints, scale, valid, big)


LABEL = pa.dictionary(pa.int32(), pa.string())  # repeated strings of the orders, stored once per part

ORDER_COLUMNS = ("portfolioId", "securityId", "side", "quantity", "price", "estimatedValue", "tradeDate", "reason")
SUMMARY_COLUMNS = (
    "portfolioId",
    "model",
    "status",
    "marketValue",
    "cashBefore",
    "cashAfter",
    "driftBefore",
    "driftAfter",
    "orders",
    "diagnosis",
    "errorCode",
)


@dataclass(frozen=True)
class OutputScales:
    """The decimal scale of every output column (fixed for the whole run so every part has one schema)."""

    quantity: int
    price: int
    cash: int
    target: int

    @property
    def value(self) -> int:  # u·p
        return self.quantity + self.price

    @property
    def cash_after(self) -> int:  # MV − Σ u'·p; u' = u when MV = 0
        return max(3, self.value)

    @property
    def drift(self) -> int:  # Σ |MV·t − u·p|
        return max(3 + self.target, self.value)

    def orders_schema(self) -> pa.Schema:
        d = pa.decimal128
        return pa.schema(
            [
                ("portfolioId", LABEL),
                ("securityId", LABEL),
                ("side", LABEL),
                ("quantity", d(MAX_PRECISION, self.quantity)),
                ("price", d(MAX_PRECISION, self.price)),
                ("estimatedValue", d(MAX_PRECISION, self.value)),
                ("tradeDate", pa.date32()),
                ("reason", LABEL),
            ]
        )

    def summary_schema(self) -> pa.Schema:
        d = pa.decimal128
        return pa.schema(
            [
                ("portfolioId", pa.string()),
                ("model", pa.string()),
                ("status", pa.string()),
                ("marketValue", d(MAX_PRECISION, 3)),
                ("cashBefore", d(MAX_PRECISION, self.cash)),
                ("cashAfter", d(MAX_PRECISION, self.cash_after)),
                ("driftBefore", d(MAX_PRECISION, self.drift)),
                ("driftAfter", d(MAX_PRECISION, self.drift)),
                ("orders", pa.int64()),
                ("diagnosis", pa.string()),
                ("errorCode", pa.string()),
            ]
        )


def date_array(day: dt.date, n: int) -> pa.Array:
    return pa.array(np.full(n, np.datetime64(day, "D")), type=pa.date32())


def write_part(table: pa.Table, directory: Path, part: int) -> Path:
    """Write one output part (``part-00042.parquet``) of a partitioned Parquet dataset."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"part-{part:05d}.parquet"
    # zstd saves ~20 % of the size at 1.4x the write time. Min/max statistics only where a reader filters (the
    # portfolio id): computing them for every decimal and text column was a third of the batch's write time.
    stats = [name for name in ("portfolioId",) if name in table.column_names]
    pq.write_table(table, path, compression="snappy", write_statistics=stats)
    return path
