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
import struct
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

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
_SPECIAL = 3 << 61  # infinity, NaN or the large-coefficient form: left to bson
_MAX_COEFFICIENT = 10**34 - 1
_DIGITS = frozenset("0123456789")


def pack_decimals(values: Iterable[Decimal]) -> Binary:
    """The values as consecutive 16-byte Decimal128 BIDs in one ``Binary`` (exactly what ``to_d128`` stores)."""
    words: list[int] = []
    append = words.append
    for d in values:
        text = str(d)
        # Without an exponent and within 34 characters the text is a sign, digits and a point: at most 34 digits
        # and an exponent of at least -33, which Decimal128 holds exactly. Anything else goes through to_d128.
        if len(text) <= 34 and "E" not in text and text[-1] in _DIGITS:
            negative = text[0] == "-"
            whole, _, fraction = (text[1:] if negative else text).partition(".")
            coefficient = int(whole + fraction)
            append(coefficient & _LOW)
            append((negative << 63) | ((_BIAS - len(fraction)) << 49) | (coefficient >> 64))
        else:
            words.extend(struct.unpack("<QQ", to_d128(d).bid))
    return Binary(struct.pack(f"<{len(words)}Q", *words))


def unpack_decimals(blob: bytes) -> list[Decimal]:
    """The ``Decimal`` values of :func:`pack_decimals`, exactly (same digits and exponent)."""
    if len(blob) % 16:
        raise ValueError(f"a packed decimal column has {len(blob)} bytes, not a multiple of 16")
    out: list[Decimal] = []
    append = out.append
    for low, high in struct.iter_unpack("<QQ", blob):
        coefficient = ((high & _HIGH_COEFFICIENT) << 64) | low
        if high & _SPECIAL == _SPECIAL or coefficient > _MAX_COEFFICIENT:
            append(Decimal128.from_bid(struct.pack("<QQ", low, high)).to_decimal())
            continue
        append(Decimal(f"{'-' if high >> 63 else ''}{coefficient}E{((high >> 49) & 0x3FFF) - _BIAS}"))
    return out


def positions_to_columns(positions: Sequence[RecordPosition]) -> dict[str, Any]:
    """A portfolio's positions as columns (see the module docstring); ``tradeQuantity`` holds the present values
    only, ``hasTradeQuantity`` one byte per position saying which."""
    columns: dict[str, Any] = {"securityId": [p.security_id for p in positions]}
    for column, field in NUMBER_COLUMNS:
        columns[column] = pack_decimals([getattr(p, field) for p in positions])
    columns["transactionType"] = [p.transaction_type for p in positions]
    columns["tradeQuantity"] = pack_decimals([p.trade_quantity for p in positions if p.trade_quantity is not None])
    columns["hasTradeQuantity"] = Binary(bytes(p.trade_quantity is not None for p in positions))
    columns["tradeDate"] = [None if p.trade_date is None else p.trade_date.isoformat() for p in positions]
    return columns


def positions_from_columns(columns: Mapping[str, Any]) -> tuple[RecordPosition, ...]:
    """The positions :func:`positions_to_columns` stored; columns of different lengths are a ``ValueError``."""
    ids = list(columns["securityId"])
    n = len(ids)
    numbers = {field: unpack_decimals(columns[column]) for column, field in NUMBER_COLUMNS}
    kinds = list(columns["transactionType"])
    present = bytes(columns["hasTradeQuantity"])
    traded = iter(unpack_decimals(columns["tradeQuantity"]))
    dates = [None if d is None else dt.date.fromisoformat(d) for d in columns["tradeDate"]]
    lengths = {len(v) for v in numbers.values()} | {len(kinds), len(present), len(dates)}
    if lengths != {n} or sum(present) != len(columns["tradeQuantity"]) // 16:
        raise ValueError(f"the position columns of a stored portfolio have different lengths ({sorted(lengths)})")
    rows = zip(*numbers.values(), strict=True)
    fields = list(numbers)
    return tuple(
        RecordPosition(
            security_id=ids[i],
            **dict(zip(fields, row, strict=True)),
            transaction_type=kinds[i],
            trade_quantity=next(traded) if present[i] else None,
            trade_date=dates[i],
        )
        for i, row in enumerate(rows)
    )


# --- portfolio documents of a saved run ----------------------------------------------------------------------------


def portfolio_part_id(rebalance_id: Any, portfolio_id: str) -> str:
    """The ``_id`` of one portfolio of a run: ``"<run id>/<portfolio id>"`` (one portfolio opens by ``_id``)."""
    return f"{rebalance_id}/{portfolio_id}"


def portfolio_part_to_doc(rebalance_id: Any, index: int, p: RecordPortfolio) -> dict[str, Any]:
    """One portfolio of a run as its own document: the run's id, its place in the run, the 2.8 portfolio fields and
    its positions as columns (``positionColumns``)."""
    doc: dict[str, Any] = {
        "_id": portfolio_part_id(rebalance_id, p.portfolio_id),
        "rebalanceId": rebalance_id,
        "index": index,
        "portfolioId": p.portfolio_id,
        "portfolioName": p.portfolio_name,
        "marketValue": to_d128(p.market_value),
        "cashBeforeRebalance": to_d128(p.cash_before_rebalance),
        "cashAfterRebalance": to_d128(p.cash_after_rebalance),
        "positionColumns": positions_to_columns(p.positions),
    }
    if p.band_breaches:
        doc["bandBreaches"] = [
            {"securityId": b.security_id, "side": b.side, "amount": to_d128(b.amount)} for b in p.band_breaches
        ]
    return WriteOnceDocument(doc)


def portfolio_from_part(doc: Mapping[str, Any]) -> RecordPortfolio:
    """A portfolio document of either layout: positions as columns, or one sub-document per position (before the
    columns; ``recover`` rewrites those)."""
    if "positionColumns" not in doc:
        return record_portfolio_from_doc(doc)
    return RecordPortfolio(
        portfolio_id=doc["portfolioId"],
        portfolio_name=doc.get("portfolioName"),
        market_value=from_d128(doc["marketValue"]),
        cash_before_rebalance=from_d128(doc["cashBeforeRebalance"]),
        cash_after_rebalance=from_d128(doc["cashAfterRebalance"]),
        positions=positions_from_columns(doc["positionColumns"]),
        band_breaches=tuple(
            BandBreach(security_id=b["securityId"], side=b["side"], amount=from_d128(b["amount"]))
            for b in doc.get("bandBreaches") or ()
        ),
    )


def record_from_parts(header: Mapping[str, Any], parts: list[Mapping[str, Any]]) -> RebalanceRecord:
    """A run from its header and its portfolio documents (in any order; sorted by their place in the run)."""
    ordered = sorted(parts, key=lambda d: d["index"])
    return RebalanceRecord(
        rebalance_id=str(header["_id"]),
        model_id=str(header["modelId"]),
        model_name=header["modelName"],
        run=run_info_from_doc(header.get("run")),
        rebalance_date=from_utc(header["rebalanceDate"]),
        portfolios=tuple(portfolio_from_part(p) for p in ordered),
        version=int(header.get("version", 1)),
        saved_by=header.get("savedBy") if isinstance(header.get("savedBy"), str) else None,
        options=options_from_doc(header.get("options")),
    )
