"""A saved run's positions stored as columns, several portfolios per document (issue #12: saved runs at PM speed).

Positions are kept as parallel columns instead of one sub-document per position: each number column is one
``Binary`` holding the positions' ``Decimal128`` values back to back (16 bytes each, the IEEE 754-2008 BID bytes BSON
itself stores, little-endian; ``bson.Decimal128.from_bid`` reads any one of them), a text column is one string (its
values a line each) or an array. The embedded backend converts, tags, copies and JSON-encodes every value of a
document one by one, and pays per document on every write, read and delete; a 1,000 × 30 run was ~330,000 values
in 1,000 documents. As blocks of portfolios (see ``portfolio_blocks``) it is ~30 documents of ~20 values each, and
the decimals are packed and unpacked here with plain integer arithmetic.

Runs saved earlier with one document per portfolio (columns, or one sub-document per position) read back too.
The values are exactly those ``to_d128`` stores (same digits, same exponent, trailing zeros kept; a value with more
than 34 digits rounded the same way), so a record reads back equal to the one saved.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
from bson import Binary, Decimal128

from data.documents import (
    WriteOnceDocument,
    from_d128,
    from_utc,
    options_from_doc,
    record_portfolio_from_doc,
    run_info_from_doc,
    to_d128,
)
from engine.models import BandBreach, RebalanceRecord, RecordPortfolio, RecordPosition

# (stored column, RecordPosition field) of the decimal columns, in document order.
NUMBER_COLUMNS = (
    ("price", "price"),
    ("originalQuantity", "original_quantity"),
    ("adjustedQuantity", "adjusted_quantity"),
    ("originalPositionMarketValue", "original_position_market_value"),
    ("adjustedPositionMarketValue", "adjusted_position_market_value"),
    ("target", "target"),
    ("highDrift", "high_drift"),
    ("lowDrift", "low_drift"),
    ("actual", "actual"),
    ("actualDrift", "actual_drift"),
)
# A packed number column of a block is stored zlib-compressed under this user-defined BSON binary subtype: the
# embedded backend keeps a Binary as hex in its JSON row, and SQLite parses that row once for every expression index
# of its shared documents table (16 in the app's database), so the bytes written cost many times over; compressed,
# the demo run's number columns are ~4x smaller. Columns stored plain (earlier saves) read as before.
ZLIB_SUBTYPE = 0x80
_PACKED = frozenset({*(column for column, _ in NUMBER_COLUMNS), "tradeQuantity"})
_BIAS = 6176
_LOW = (1 << 64) - 1
_HIGH_COEFFICIENT = (1 << 49) - 1
_MAX_COEFFICIENT = 10**34 - 1
_U49, _U61, _U63 = np.uint64(49), np.uint64(61), np.uint64(63)
# A decimal's text without an exponent: sign, digits, point. Within 34 characters it has at most 34 digits and an
# exponent of at least -33, which Decimal128 holds exactly (anything else goes through to_d128, one by one).
_ODD_CHARACTER = re.compile(r"[^0-9.\n-]")
# Exact: coefficients of at most 34 digits, any exponent Decimal128 has.
_EXACT = decimal.Context(prec=34, Emin=-999_999, Emax=999_999)


def pack_decimals(values: Sequence[Decimal]) -> bytes:
    """The values as consecutive 16-byte Decimal128 BIDs (exactly what ``to_d128`` stores, value by value).

    Vectorised: the texts of all values are split into coefficient and exponent at once; the rare value with an
    exponent in its text, more than 34 digits, or not finite is encoded by ``to_d128``. A column that holds the same
    objects many times (the engine gives every portfolio the same price, target and band objects of a security) is
    packed once per object and spread (by identity only: ``Decimal("1.0") == Decimal("1.00")`` are kept apart).
    """
    n = len(values)
    if not n:
        return b""
    if len(set(map(id, values[:256]))) * 2 > min(n, 256):  # a sample says: mostly distinct objects
        return _pack(values)
    ids = list(map(id, values))
    last = dict(zip(ids, range(n), strict=True))  # object -> its last place (the same value at every place)
    if 2 * len(last) <= n:
        slot = dict(zip(last, range(len(last)), strict=True))
        words = np.frombuffer(_pack([values[i] for i in last.values()]), "<u8").reshape(-1, 2)
        return words[np.fromiter(map(slot.__getitem__, ids), np.intp, n)].tobytes()
    return _pack(values)


def _pack(values: Sequence[Decimal]) -> bytes:
    n = len(values)
    texts = list(map(str, values))
    joined = "\n".join(texts)
    lengths = np.fromiter(map(len, texts), np.int64, n)
    odd = _odd(joined, lengths)
    if odd:
        for i in odd:
            texts[i] = "0"
        joined = "\n".join(texts)
        lengths[odd] = 1
    coefficients = list(map(int, joined.replace(".", "").replace("-", "").split("\n")))
    dots = np.fromiter(map(str.find, texts, repeat(".")), np.int64, n)
    negative = np.fromiter(map(str.startswith, texts, repeat("-")), np.uint64, n)
    exponents = np.where(dots >= 0, dots + 1 - lengths, 0) + _BIAS
    words = np.empty((n, 2), "<u8")
    if max(coefficients) <= _LOW:  # every coefficient fits the low word (at most 19 digits)
        words[:, 0] = np.array(coefficients, dtype=np.uint64)
        high = np.uint64(0)
    else:  # element-wise on Python ints, looped in C
        big = np.array(coefficients, dtype=object)
        words[:, 0] = (big & _LOW).astype(np.uint64)
        high = (big >> 64).astype(np.uint64)
    words[:, 1] = (negative << _U63) | (exponents.astype(np.uint64) << _U49) | high
    for i in odd:
        words[i] = struct.unpack("<QQ", to_d128(values[i]).bid)
    return words.tobytes()


def _odd(joined: str, lengths: np.ndarray) -> list[int]:
    """The values :func:`pack_decimals` leaves to ``to_d128``: longer than 34 characters, or with a character other
    than a digit, the point or the sign in their text (an exponent, Infinity, NaN). One scan of the joined texts
    finds them (a text of digits, point and sign from ``str(Decimal)`` is always the plain form)."""
    odd = set(np.flatnonzero(lengths > 34).tolist())
    if _ODD_CHARACTER.search(joined) is not None:
        starts = np.concatenate(([0], np.cumsum(lengths[:-1] + 1)))
        at = [m.start() for m in _ODD_CHARACTER.finditer(joined)]
        odd.update((np.searchsorted(starts, at, side="right") - 1).tolist())
    return sorted(odd)


def unpack_decimals(blob: bytes) -> list[Decimal]:
    """The ``Decimal`` values of :func:`pack_decimals`, exactly (same digits and exponent); vectorised too."""
    if len(blob) % 16:
        raise ValueError(f"a packed decimal column has {len(blob)} bytes, not a multiple of 16")
    words = np.frombuffer(blob, "<u8").reshape(-1, 2)
    low, high = words[:, 0], words[:, 1]
    top = high & np.uint64(_HIGH_COEFFICIENT)
    coefficients = low.tolist()
    if top.any():  # coefficients above 64 bits (more than 19 digits): element-wise on Python ints, looped in C
        coefficients = ((top.astype(object) << 64) | low.astype(object)).tolist()
    exponents = (((high >> _U49) & np.uint64(0x3FFF)).astype(np.int64) - _BIAS).tolist()
    # Infinity, NaN and non-canonical coefficients (bson reads those as zero) are left to bson, one by one.
    odd = set(np.flatnonzero((high >> _U61) & np.uint64(3) == 3).tolist())
    odd.update(i for i, c in enumerate(coefficients) if c > _MAX_COEFFICIENT)
    for i in odd:
        coefficients[i], exponents[i] = 0, 0
    out = list(map(_EXACT.scaleb, map(Decimal, coefficients), exponents))
    for i in np.flatnonzero(high >> _U63).tolist():
        out[i] = out[i].copy_negate()
    for i in odd:
        out[i] = Decimal128.from_bid(blob[16 * i : 16 * i + 16]).to_decimal()
    return out


def columns_of(groups: Sequence[Sequence[RecordPosition]]) -> list[dict[str, Any]]:
    """The positions of each group (a portfolio, or a block of portfolios) as columns; every column is built once for
    all groups, then cut.

    ``tradeQuantity`` holds the present values only, ``hasTradeQuantity`` one byte per position saying which.
    """
    # The models' own field dicts, read with one C-level item getter per column: an attribute read per value (or one
    # attrgetter call per position, then a transposition) cost a third of the packing.
    states = [vars(x) for group in groups for x in group]
    packed = {column: pack_decimals(list(map(itemgetter(field), states))) for column, field in NUMBER_COLUMNS}
    quantities = list(map(itemgetter("trade_quantity"), states))
    present = bytes(q is not None for q in quantities)
    traded = pack_decimals([q for q in quantities if q is not None])
    securities = list(map(itemgetter("security_id"), states))
    kinds = list(map(itemgetter("transaction_type"), states))
    dates = list(map(itemgetter("trade_date"), states))
    iso = {d: None if d is None else d.isoformat() for d in set(dates)}  # a run has one or two trade dates
    dates = list(map(iso.__getitem__, dates))
    out: list[dict[str, Any]] = []
    start = start_traded = 0
    for group in groups:
        end = start + len(group)
        end_traded = start_traded + present[start:end].count(1)
        columns: dict[str, Any] = {"securityId": securities[start:end]}
        for column, _ in NUMBER_COLUMNS:
            columns[column] = Binary(packed[column][16 * start : 16 * end])
        columns["transactionType"] = kinds[start:end]
        columns["tradeQuantity"] = Binary(traded[16 * start_traded : 16 * end_traded])
        columns["hasTradeQuantity"] = Binary(present[start:end])
        columns["tradeDate"] = dates[start:end]
        out.append(columns)
        start, start_traded = end, end_traded
    return out


def compressed(blob: bytes) -> Binary:
    """A packed column as stored in a block: zlib (level 1: the save pays for it) under ``ZLIB_SUBTYPE``."""
    return Binary(zlib.compress(blob, 1), ZLIB_SUBTYPE)


def raw_bytes(column: Any) -> bytes:
    """A stored packed column's bytes, decompressed when it was stored compressed; damage is a ``ValueError``."""
    if getattr(column, "subtype", 0) == ZLIB_SUBTYPE:
        try:
            return zlib.decompress(column)
        except zlib.error as err:
            raise ValueError(f"a stored compressed column is damaged ({err})") from None
    return bytes(column)


def _inflated(columns: Mapping[str, Any]) -> dict[str, Any]:
    return {key: raw_bytes(value) if key in _PACKED else value for key, value in columns.items()}


def positions_of(groups: Sequence[Mapping[str, Any]]) -> list[tuple[RecordPosition, ...]]:
    """The positions :func:`columns_of` stored, per group; every number column is unpacked once for all groups
    (compressed ones decompressed first).

    Columns of different lengths within a group are a ``ValueError``.
    """
    groups = [_inflated(columns) for columns in groups]
    sizes = [len(columns["securityId"]) for columns in groups]
    present = [bytes(columns["hasTradeQuantity"]) for columns in groups]
    for columns, n, flags in zip(groups, sizes, present, strict=True):
        lengths = {len(columns[c]) // 16 for c, _ in NUMBER_COLUMNS} | {len(columns["transactionType"]), len(flags)}
        lengths |= {len(columns["tradeDate"])}
        if lengths != {n} or any(len(columns[c]) % 16 for c, _ in NUMBER_COLUMNS):
            raise ValueError(f"the position columns of a stored portfolio have different lengths ({sorted(lengths)})")
        if len(columns["tradeQuantity"]) != 16 * sum(flags):
            raise ValueError("the trade quantities of a stored portfolio do not match its hasTradeQuantity flags")
    numbers = {
        field: unpack_decimals(b"".join(bytes(columns[column]) for columns in groups))
        for column, field in NUMBER_COLUMNS
    }
    traded = iter(unpack_decimals(b"".join(bytes(columns["tradeQuantity"]) for columns in groups)))
    fields = list(numbers)
    rows = zip(*numbers.values(), strict=True)
    out: list[tuple[RecordPosition, ...]] = []
    for columns, flags in zip(groups, present, strict=True):
        kinds, dates = columns["transactionType"], columns["tradeDate"]
        out.append(
            tuple(
                RecordPosition(
                    security_id=security,
                    **dict(zip(fields, next(rows), strict=True)),
                    transaction_type=kinds[i],
                    trade_quantity=next(traded) if flags[i] else None,
                    trade_date=None if dates[i] is None else dt.date.fromisoformat(dates[i]),
                )
                for i, security in enumerate(columns["securityId"])
            )
        )
    return out


def positions_to_columns(positions: Sequence[RecordPosition]) -> dict[str, Any]:
    """One portfolio's positions as columns (see :func:`columns_of`)."""
    return columns_of([positions])[0]


def positions_from_columns(columns: Mapping[str, Any]) -> tuple[RecordPosition, ...]:
    """One portfolio's positions from its columns (see :func:`positions_of`)."""
    return positions_of([columns])[0]


# --- portfolio documents of a saved run ----------------------------------------------------------------------------


def portfolio_part_id(rebalance_id: Any, portfolio_id: str) -> str:
    """The ``_id`` of one portfolio of a run: ``"<run id>/<portfolio id>"`` (one portfolio opens by ``_id``)."""
    return f"{rebalance_id}/{portfolio_id}"


def portfolio_parts(rebalance_id: Any, portfolios: Sequence[RecordPortfolio], first: int = 0) -> list[dict[str, Any]]:
    """The portfolios of a run as their own documents: the run's id, the place in the run (from ``first``), the 2.8
    portfolio fields and the positions as columns (``positionColumns``, packed for all portfolios at once)."""
    columns = columns_of([p.positions for p in portfolios])
    docs = []
    for index, (p, cols) in enumerate(zip(portfolios, columns, strict=True), start=first):
        doc: dict[str, Any] = {
            "_id": portfolio_part_id(rebalance_id, p.portfolio_id),
            "rebalanceId": rebalance_id,
            "index": index,
            "portfolioId": p.portfolio_id,
            "portfolioName": p.portfolio_name,
            "marketValue": to_d128(p.market_value),
            "cashBeforeRebalance": to_d128(p.cash_before_rebalance),
            "cashAfterRebalance": to_d128(p.cash_after_rebalance),
            "positionColumns": cols,
        }
        if p.band_breaches:
            doc["bandBreaches"] = [
                {"securityId": b.security_id, "side": b.side, "amount": to_d128(b.amount)} for b in p.band_breaches
            ]
        docs.append(WriteOnceDocument(doc))
    return docs


def portfolio_part_to_doc(rebalance_id: Any, index: int, p: RecordPortfolio) -> dict[str, Any]:
    """One portfolio of a run as its own document (see :func:`portfolio_parts`)."""
    return portfolio_parts(rebalance_id, [p], index)[0]


def portfolios_from_parts(docs: Sequence[Mapping[str, Any]]) -> list[RecordPortfolio]:
    """The portfolios of portfolio documents of any layout, in the given order: blocks of portfolios (decoded
    together), one portfolio with its positions as columns (decoded together), or one sub-document per position
    (before the columns; ``recover`` rewrites those)."""
    blocks = [d for d in docs if "positionCounts" in d]
    columnar = [d for d in docs if "positionColumns" in d and "positionCounts" not in d]
    decoded: dict[int, list[RecordPortfolio]] = {}
    if blocks:
        portfolios = iter(portfolios_from_blocks(blocks))
        for doc in blocks:
            n = len(bytes(doc["positionCounts"])) // 4
            decoded[id(doc)] = [next(portfolios) for _ in range(n)]
    positions = dict(zip(map(id, columnar), positions_of([d["positionColumns"] for d in columnar]), strict=True))
    out = []
    for doc in docs:
        if id(doc) in decoded:
            out.extend(decoded[id(doc)])
            continue
        if id(doc) not in positions:
            out.append(record_portfolio_from_doc(doc))
            continue
        out.append(
            RecordPortfolio(
                portfolio_id=doc["portfolioId"],
                portfolio_name=doc.get("portfolioName"),
                market_value=from_d128(doc["marketValue"]),
                cash_before_rebalance=from_d128(doc["cashBeforeRebalance"]),
                cash_after_rebalance=from_d128(doc["cashAfterRebalance"]),
                positions=positions[id(doc)],
                band_breaches=tuple(
                    BandBreach(security_id=b["securityId"], side=b["side"], amount=from_d128(b["amount"]))
                    for b in doc.get("bandBreaches") or ()
                ),
            )
        )
    return out


def portfolio_from_part(doc: Mapping[str, Any]) -> RecordPortfolio:
    """One portfolio document of either layout (see :func:`portfolios_from_parts`)."""
    return portfolios_from_parts([doc])[0]


def record_from_parts(header: Mapping[str, Any], parts: list[Mapping[str, Any]]) -> RebalanceRecord:
    """A run from its header and its portfolio documents (in any order; sorted by their place in the run)."""
    ordered = sorted(parts, key=lambda d: d["index"])
    return RebalanceRecord(
        rebalance_id=str(header["_id"]),
        model_id=str(header["modelId"]),
        model_name=header["modelName"],
        run=run_info_from_doc(header.get("run")),
        rebalance_date=from_utc(header["rebalanceDate"]),
        portfolios=tuple(portfolios_from_parts(ordered)),
        version=int(header.get("version", 1)),
        saved_by=header.get("savedBy") if isinstance(header.get("savedBy"), str) else None,
        options=options_from_doc(header.get("options")),
    )


# --- blocks: several portfolios of a saved run per document (issue #12, second pass) --------------------------------
#
# mongoeco's SQLite engine pays per document on every write, read and delete (about twenty SQL statements, a
# transaction commit and a change-outbox entry per insert; a decode and deep copy per delete): a 1,000-portfolio run
# as 1,000 documents spent a fifth of its save and nearly all of its removal there. A block holds consecutive
# portfolios of the run with every column built once for all of them (numbers packed as above, texts as one string),
# so a run is a handful of documents whatever its size. One portfolio is still read alone: the header lists where
# each block starts, and only that portfolio's slice of its block is decoded.

BLOCK_POSITIONS = 1000  # positions per block document (a block holds whole portfolios; one may have more)
BLOCK_PORTFOLIOS = 50  # portfolios per block document at most
BLOCK_BYTES = 8 * 2**20  # a block's size bound stays well below MongoDB's 16 MiB document limit


def block_part_id(rebalance_id: Any, block: int) -> str:
    """The ``_id`` of block ``block`` of a run: ``"<run id>/#<block>"`` (a portfolio id has no ``#``)."""
    return f"{rebalance_id}/#{block}"


def portfolio_size_bound(p: RecordPortfolio) -> int:
    """An upper bound of the BSON bytes one portfolio adds to a document, without encoding it: every field but the
    texts has a fixed size (a position is under 300 bytes plus its texts); a text costs at most 4 bytes a character
    in UTF-8."""
    texts = len(p.portfolio_id) + len(p.portfolio_name or "") + sum(len(b.security_id) for b in p.band_breaches)
    texts += sum(map(len, map(itemgetter("security_id"), map(vars, p.positions))))
    return 512 + 300 * len(p.positions) + 128 * len(p.band_breaches) + 4 * texts


def block_starts(portfolios: Sequence[RecordPortfolio]) -> list[int]:
    """Where each block of a run starts (the index of its first portfolio): a new block once the current one would
    pass ``BLOCK_POSITIONS`` positions, ``BLOCK_PORTFOLIOS`` portfolios or ``BLOCK_BYTES`` (a portfolio larger than
    that alone is a block of its own)."""
    starts: list[int] = []
    positions = size = 0
    for i, p in enumerate(portfolios):
        n, bound = len(p.positions), portfolio_size_bound(p)
        if not starts or (
            i > starts[-1]
            and (i - starts[-1] >= BLOCK_PORTFOLIOS or positions + n > BLOCK_POSITIONS or size + bound > BLOCK_BYTES)
        ):
            starts.append(i)
            positions = size = 0
        positions += n
        size += bound
    return starts


def pack_texts(values: list[str | None]) -> str | list[str | None]:
    """A text column as one string, its values joined by newlines (``None`` as an empty line), when that reads back
    unambiguously (no value is empty or holds a newline); otherwise the list itself. One value instead of one per
    position for the embedded backend to convert."""
    if not values or "" in values:
        return list(values)
    try:
        joined = "\n".join(values)  # type: ignore[arg-type]
    except TypeError:  # a None among them
        joined = "\n".join(["" if v is None else v for v in values])
    return joined if joined.count("\n") == len(values) - 1 else list(values)


def unpack_texts(column: Any, n: int) -> list[str | None]:
    """The ``n`` values of a text column written by :func:`pack_texts`; a wrong count is a ``ValueError``."""
    if isinstance(column, str):
        values: list[str | None] = [v or None for v in column.split("\n")] if n else []
    else:
        values = list(column)
    if len(values) != n:
        raise ValueError(f"a stored text column has {len(values)} values, not {n}")
    return values


def portfolio_blocks(rebalance_id: Any, portfolios: Sequence[RecordPortfolio], starts: Sequence[int]) -> list[Any]:
    """The portfolios of a run as block documents (see ``block_starts``): the run's id, the place of the block's
    first portfolio (``index``), the portfolios' ids and names (texts), money (packed ``Decimal128``), position
    counts (little-endian uint32) and band breaches (with the portfolio's place in the block), and every position as
    columns (``positionColumns``: numbers packed and compressed, texts joined)."""
    bounds = [*starts[1:], len(portfolios)]
    groups = [[x for p in portfolios[s:e] for x in p.positions] for s, e in zip(starts, bounds, strict=True)]
    columns = columns_of(groups)
    money = {
        name: pack_decimals([getattr(p, field) for p in portfolios])
        for name, field in (
            ("marketValue", "market_value"),
            ("cashBeforeRebalance", "cash_before_rebalance"),
            ("cashAfterRebalance", "cash_after_rebalance"),
        )
    }
    docs = []
    for k, (start, end, cols) in enumerate(zip(starts, bounds, columns, strict=True)):
        block = portfolios[start:end]
        doc: dict[str, Any] = {
            "_id": block_part_id(rebalance_id, k),
            "rebalanceId": rebalance_id,
            "index": start,
            "portfolioIds": pack_texts([p.portfolio_id for p in block]),
            "portfolioNames": pack_texts([p.portfolio_name for p in block]),
            **{name: Binary(blob[16 * start : 16 * end]) for name, blob in money.items()},
            "positionCounts": Binary(np.array([len(p.positions) for p in block], "<u4").tobytes()),
            "positionColumns": {
                key: pack_texts(value)
                if isinstance(value, list)
                else compressed(bytes(value))
                if key in _PACKED
                else value
                for key, value in cols.items()
            },
        }
        breaches = [
            {"portfolio": j, "securityId": b.security_id, "side": b.side, "amount": to_d128(b.amount)}
            for j, p in enumerate(block)
            for b in p.band_breaches
        ]
        if breaches:
            doc["bandBreaches"] = breaches
        docs.append(WriteOnceDocument(doc))
    return docs


_TEXT_COLUMNS = ("securityId", "transactionType", "tradeDate")


def portfolios_from_blocks(docs: Sequence[Mapping[str, Any]]) -> list[RecordPortfolio]:
    """The portfolios of block documents, in the given order (every column decoded once for all blocks).

    Counts that do not match between the columns are a ``ValueError``.
    """
    counts = []
    for doc in docs:
        blob = bytes(doc["positionCounts"])
        if len(blob) % 4:
            raise ValueError(f"a stored block's position counts have {len(blob)} bytes, not a multiple of 4")
        counts.append(np.frombuffer(blob, "<u4").tolist())
    groups = []
    for doc, sizes in zip(docs, counts, strict=True):
        columns = dict(doc["positionColumns"])
        total = sum(sizes)
        for key in _TEXT_COLUMNS:
            columns[key] = unpack_texts(columns[key], total)
        groups.append(columns)
    positions = positions_of(groups)
    out: list[RecordPortfolio] = []
    for doc, sizes, flat in zip(docs, counts, positions, strict=True):
        n = len(sizes)
        ids = unpack_texts(doc["portfolioIds"], n)
        names = unpack_texts(doc["portfolioNames"], n)
        money = [unpack_decimals(bytes(doc[k])) for k in ("marketValue", "cashBeforeRebalance", "cashAfterRebalance")]
        if any(len(m) != n for m in money):
            raise ValueError(f"a stored block's money columns do not hold {n} portfolios")
        breaches: list[list[BandBreach]] = [[] for _ in range(n)]
        for b in doc.get("bandBreaches") or ():
            breaches[b["portfolio"]].append(
                BandBreach(security_id=b["securityId"], side=b["side"], amount=from_d128(b["amount"]))
            )
        at = 0
        for j, size in enumerate(sizes):
            out.append(
                RecordPortfolio(
                    portfolio_id=ids[j],
                    portfolio_name=names[j],
                    market_value=money[0][j],
                    cash_before_rebalance=money[1][j],
                    cash_after_rebalance=money[2][j],
                    positions=flat[at : at + size],
                    band_breaches=tuple(breaches[j]),
                )
            )
            at += size
    return out


def block_slice(doc: Mapping[str, Any], portfolio_id: str) -> dict[str, Any] | None:
    """The block document cut to one of its portfolios (None when it does not hold it): only that portfolio's
    columns are decoded when one portfolio of a run is opened."""
    sizes = np.frombuffer(bytes(doc["positionCounts"]), "<u4").tolist()
    ids = unpack_texts(doc["portfolioIds"], len(sizes))
    if portfolio_id not in ids:
        return None
    j = ids.index(portfolio_id)
    start, end = sum(sizes[:j]), sum(sizes[: j + 1])
    total = sum(sizes)
    columns = _inflated(doc["positionColumns"])
    flags = bytes(columns["hasTradeQuantity"])
    traded_from, traded_to = flags[:start].count(1), flags[:end].count(1)
    cut: dict[str, Any] = {key: unpack_texts(columns[key], total)[start:end] for key in _TEXT_COLUMNS} | {
        column: bytes(columns[column])[16 * start : 16 * end] for column, _ in NUMBER_COLUMNS
    }
    cut["hasTradeQuantity"] = flags[start:end]
    cut["tradeQuantity"] = bytes(columns["tradeQuantity"])[16 * traded_from : 16 * traded_to]
    return {
        "portfolioIds": [portfolio_id],
        "portfolioNames": [unpack_texts(doc["portfolioNames"], len(sizes))[j]],
        **{
            k: bytes(doc[k])[16 * j : 16 * j + 16] for k in ("marketValue", "cashBeforeRebalance", "cashAfterRebalance")
        },
        "positionCounts": np.array([end - start], "<u4").tobytes(),
        "positionColumns": cut,
        "bandBreaches": [{**b, "portfolio": 0} for b in doc.get("bandBreaches") or () if b["portfolio"] == j],
    }
