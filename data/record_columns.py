"""A saved portfolio's positions stored as columns (issue #12: saved runs at PM speed).

One document per portfolio of a saved run keeps its positions as parallel columns instead of one sub-document per
position: each number column is one ``Binary`` holding the positions' ``Decimal128`` values back to back (16 bytes
each, the IEEE 754-2008 BID bytes BSON itself stores, little-endian; ``bson.Decimal128.from_bid`` reads any one of
them), the text columns are arrays. The embedded backend converts, tags, copies and JSON-encodes every value of a
document one by one; a 1,000 × 30 run held ~330,000 of them and spent most of its save and read there. As columns it
holds ~11,000 values and the decimals are packed and unpacked here with plain integer arithmetic.

The values are exactly those ``to_d128`` stores (same digits, same exponent, trailing zeros kept; a value with more
than 34 digits rounded the same way), so a record reads back equal to the one saved.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import struct
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
    exponent in its text, more than 34 digits, or not finite is encoded by ``to_d128``.
    """
    n = len(values)
    if not n:
        return b""
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


def positions_of(groups: Sequence[Mapping[str, Any]]) -> list[tuple[RecordPosition, ...]]:
    """The positions :func:`columns_of` stored, per group; every number column is unpacked once for all groups.

    Columns of different lengths within a group are a ``ValueError``.
    """
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
    """The portfolios of portfolio documents of either layout, in the given order: positions as columns (decoded
    together), or one sub-document per position (before the columns; ``recover`` rewrites those)."""
    columnar = [d for d in docs if "positionColumns" in d]
    positions = dict(zip(map(id, columnar), positions_of([d["positionColumns"] for d in columnar]), strict=True))
    out = []
    for doc in docs:
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
