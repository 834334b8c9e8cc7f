"""Mapping between ``engine`` domain objects and MongoDB documents (product-spec 1.1, 2.8, 3.15).

Documents use camelCase field names, ``Decimal128`` for every money/weight/quantity, ``ObjectId`` for ``_id`` and
``modelId``, and UTC datetimes (``tradeDate`` is stored as UTC midnight, Mongo having no date type). Readers return
domain objects only: no ``Decimal128``, ``ObjectId`` or bson time zone leaks out.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from bson import Decimal128, ObjectId

from engine.models import (
    BandBreach,
    InvestmentModel,
    Position,
    RebalanceOptions,
    RebalanceRecord,
    RecordPortfolio,
    RecordPosition,
    RunInfo,
    TradeControls,
)

# Decimal128 holds 34 significant digits; the engine's default context has 28, so rounding here only ever touches
# values a caller built with a wider context.
_D128_CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, Emin=-6143, Emax=6144)
# Exact integer scaling for coefficients of at most 34 digits (used only on values that fit, so it never rounds).
_SCALE_CONTEXT = decimal.Context(prec=34, Emin=-999_999, Emax=999_999)
# IEEE 754-2008 BID layout of Decimal128 (the same constants as bson.decimal128).
_BIAS = 6176
_EXPONENT_MIN, _EXPONENT_MAX = -6176, 6111  # finite values whose exponent needs no clamping
_MAX_COEFFICIENT = 10**34 - 1
_SPECIAL = 3 << 61  # both combination bits set: infinity, NaN or the large-coefficient form
_LOW_MASK = (1 << 64) - 1
_HIGH_COEFFICIENT_MASK = (1 << 49) - 1


class StoredDecimal128(Decimal128):
    """A ``bson.Decimal128`` that keeps the ``Decimal`` it was made from (what ``to_d128`` writes).

    Same BID bytes, so every driver and backend stores exactly the same value as ``Decimal128(value)``. Three things
    are cheaper: the BID bytes are computed with integer arithmetic instead of bson's bit-by-bit loop, and only when
    something asks for them (``bid``, pickling, comparison: the pymongo encoder does; the embedded backend never
    does, it stores the decimal text); being immutable, ``copy``/``deepcopy`` return it as is; ``to_decimal``/``str``
    return the kept value. mongoeco deep-copies and stringifies every value of a document it writes; a
    1,000-portfolio run holds about 330,000 of them.
    """

    __slots__ = ("_decimal", "_packed")

    def __init__(self, value: Decimal) -> None:  # the base __init__ runs lazily, in _pack
        self._decimal = value
        self._packed = False

    def _pack(self) -> None:
        if self._packed:
            return
        sign, _, exponent = self._decimal.as_tuple()
        coefficient = int(self._decimal.copy_abs().scaleb(-exponent, _SCALE_CONTEXT))  # type: ignore[operator]
        high = (sign << 63) | ((exponent + _BIAS) << 49) | (coefficient >> 64)  # type: ignore[operator]
        super().__init__((high, coefficient & _LOW_MASK))
        self._packed = True

    @property
    def bid(self) -> bytes:
        self._pack()
        return Decimal128.bid.fget(self)  # type: ignore[attr-defined]

    def __getstate__(self) -> tuple[int, int]:
        self._pack()
        return super().__getstate__()

    def to_decimal(self) -> Decimal:
        return self._decimal

    def __str__(self) -> str:
        return str(self._decimal)  # finite values only (see _fast_d128), so no NaN special case

    def __copy__(self) -> StoredDecimal128:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> StoredDecimal128:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return Decimal128, (self.__getstate__(),)  # pickles as a plain Decimal128 (same value)


def _fast_d128(d: Decimal) -> StoredDecimal128 | None:
    """``d`` as a ``StoredDecimal128`` when it is a finite value Decimal128 holds exactly as written, else None."""
    if not d.is_finite():
        return None
    _, digits, exponent = d.as_tuple()
    if len(digits) > 34 or not _EXPONENT_MIN <= exponent <= _EXPONENT_MAX:  # type: ignore[operator]
        return None
    return StoredDecimal128(d)


class WriteOnceDocument(dict[str, Any]):
    """A document built to be written once and never changed afterwards: its deep copy is itself.

    mongoeco deep-copies every document it is given, twice, to protect itself from later changes by the caller;
    the repositories build these documents, hand them over and drop them.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> WriteOnceDocument:
        return self


def to_d128(value: Decimal | int | str) -> Decimal128:
    """Store a number exactly as ``Decimal128`` (trailing zeros kept: 0.020 stays 0.020)."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    fast = _fast_d128(d)
    if fast is not None:
        return fast
    try:
        return Decimal128(d)
    except decimal.Inexact:
        return Decimal128(_D128_CONTEXT.create_decimal(d))


def d128_to_decimal(value: Decimal128) -> Decimal:
    """``value.to_decimal()``, exactly (same digits and exponent), without bson's digit-by-digit loop."""
    if isinstance(value, StoredDecimal128):
        return value.to_decimal()
    high, low = value.__getstate__()
    if high & _SPECIAL == _SPECIAL:  # infinity, NaN, or a coefficient too large to be canonical
        return value.to_decimal()
    coefficient = ((high & _HIGH_COEFFICIENT_MASK) << 64) | low
    if coefficient > _MAX_COEFFICIENT:  # non-canonical: bson reads it as zero
        return value.to_decimal()
    exponent = ((high >> 49) & 0x3FFF) - _BIAS
    # A decimal string converts exactly whatever the context; the exponent keeps trailing zeros (0.020 stays 0.020).
    return Decimal(f"{'-' if high >> 63 else ''}{coefficient}E{exponent}")


def from_d128(value: Any) -> Decimal:
    """Read a stored number back as ``Decimal`` (tolerates ints, and floats written by hand, via ``str``)."""
    if isinstance(value, Decimal128):
        return d128_to_decimal(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return Decimal(str(value))
    raise TypeError(f"not a stored number: {value!r}")


def to_utc(value: dt.datetime) -> dt.datetime:
    """A UTC datetime truncated to milliseconds (MongoDB's precision); a naive value is taken as UTC."""
    value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def from_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored datetime as a tz-aware ``datetime.UTC`` value (bson's FixedOffset and naive reads normalised)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def date_to_doc(value: dt.date | None) -> dt.datetime | None:
    """A calendar date stored as its UTC midnight."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # a datetime is a date subclass; keep only its calendar date
        value = value.date()
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def date_from_doc(value: dt.datetime | None) -> dt.date | None:
    """The calendar date of a stored UTC midnight."""
    stamp = from_utc(value)
    return None if stamp is None else stamp.date()


def oid(value: str) -> ObjectId:
    """A validated 24-hex id as ``ObjectId`` (callers validate the format first)."""
    return ObjectId(value)


# --- investment models -------------------------------------------------------------------------------------------


def position_to_doc(p: Position) -> dict[str, Any]:
    return {
        "securityId": p.security_id,
        "target": to_d128(p.target),
        "highDrift": to_d128(p.high_drift),
        "lowDrift": to_d128(p.low_drift),
    }


def position_from_doc(doc: Mapping[str, Any]) -> Position:
    return Position(
        security_id=doc["securityId"],
        target=from_d128(doc["target"]),
        high_drift=from_d128(doc["highDrift"]),
        low_drift=from_d128(doc["lowDrift"]),
    )


def controls_to_doc(c: TradeControls) -> dict[str, Any]:
    """A model's default trade controls under their product-spec 2.12 names (the CLI's ``options`` names)."""
    return {
        "tradePolicy": c.trade_policy,
        "minTradeValue": to_d128(c.min_trade_value),
        "noBuy": list(c.no_buy),
        "noSell": list(c.no_sell),
        "noTrade": list(c.no_trade),
        "direction": c.direction,
        "onInfeasible": c.on_infeasible,
    }


def controls_from_doc(doc: Mapping[str, Any] | None) -> TradeControls:
    """Trade controls from a document; missing (a model saved before 2.12) or missing fields are the defaults."""
    if not doc:
        return TradeControls()
    fields: dict[str, Any] = {
        "trade_policy": doc.get("tradePolicy", "all"),
        "min_trade_value": from_d128(doc["minTradeValue"]) if doc.get("minTradeValue") is not None else Decimal(0),
        "no_buy": tuple(doc.get("noBuy") or ()),
        "no_sell": tuple(doc.get("noSell") or ()),
        "no_trade": tuple(doc.get("noTrade") or ()),
        "direction": doc.get("direction", "both"),
        "on_infeasible": doc.get("onInfeasible", "flag"),
    }
    return TradeControls(**fields)


def options_to_doc(o: RebalanceOptions) -> dict[str, Any]:
    """A run's options (cash floor, solver settings, trade controls) as stored in a saved run's header."""
    return {
        "minCash": to_d128(o.min_cash),
        "minCashPct": to_d128(o.min_cash_fraction),
        "timeLimit": o.time_limit,
        "tieBreak": o.tie_break,
        "seed": o.seed,
        "tradeDate": date_to_doc(o.trade_date),
        **controls_to_doc(o.controls),
    }


def options_from_doc(doc: Mapping[str, Any] | None) -> RebalanceOptions | None:
    """The options a saved run used; None for a run saved before they were recorded."""
    if not doc:
        return None
    base = RebalanceOptions(
        min_cash=from_d128(doc["minCash"]),
        min_cash_fraction=from_d128(doc["minCashPct"]),
        time_limit=float(doc.get("timeLimit", 30.0)),
        tie_break=doc.get("tieBreak", "lower"),
        seed=doc.get("seed"),
        trade_date=date_from_doc(doc.get("tradeDate")),
    )
    return base.with_controls(controls_from_doc(doc))


def model_fields_to_doc(
    name: str,
    positions: tuple[Position, ...],
    portfolios: tuple[str, ...],
    last_rebalance_date: dt.datetime | None,
) -> dict[str, Any]:
    """The mutable fields of a model document (everything except ``_id`` and ``version``)."""
    return {
        "name": name,
        "positions": [position_to_doc(p) for p in positions],
        "portfolios": list(portfolios),
        "lastRebalanceDate": None if last_rebalance_date is None else to_utc(last_rebalance_date),
    }


def model_from_doc(doc: Mapping[str, Any]) -> InvestmentModel:
    return InvestmentModel(
        model_id=str(doc["_id"]),
        name=doc["name"],
        positions=tuple(position_from_doc(p) for p in doc.get("positions") or ()),
        portfolios=tuple(doc.get("portfolios") or ()),
        last_rebalance_date=from_utc(doc.get("lastRebalanceDate")),
        version=int(doc.get("version", 1)),
        updated_by=_text_or_none(doc.get("updatedBy")),
        controls=controls_from_doc(doc.get("controls")),
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- rebalance records ---------------------------------------------------------------------------------------------


def record_position_to_doc(p: RecordPosition) -> dict[str, Any]:
    return {
        "securityId": p.security_id,
        "price": to_d128(p.price),
        "originalQuantity": to_d128(p.original_quantity),
        "adjustedQuantity": to_d128(p.adjusted_quantity),
        "originalPositionMarketValue": to_d128(p.original_position_market_value),
        "adjustedPositionMarketValue": to_d128(p.adjusted_position_market_value),
        "target": to_d128(p.target),
        "highDrift": to_d128(p.high_drift),
        "lowDrift": to_d128(p.low_drift),
        "actual": to_d128(p.actual),
        "actualDrift": to_d128(p.actual_drift),
        "transactionType": p.transaction_type,
        "tradeQuantity": None if p.trade_quantity is None else to_d128(p.trade_quantity),
        "tradeDate": date_to_doc(p.trade_date),
    }


def record_position_from_doc(doc: Mapping[str, Any]) -> RecordPosition:
    trade_quantity = doc.get("tradeQuantity")
    return RecordPosition(
        security_id=doc["securityId"],
        price=from_d128(doc["price"]),
        original_quantity=from_d128(doc["originalQuantity"]),
        adjusted_quantity=from_d128(doc["adjustedQuantity"]),
        original_position_market_value=from_d128(doc["originalPositionMarketValue"]),
        adjusted_position_market_value=from_d128(doc["adjustedPositionMarketValue"]),
        target=from_d128(doc["target"]),
        high_drift=from_d128(doc["highDrift"]),
        low_drift=from_d128(doc["lowDrift"]),
        actual=from_d128(doc["actual"]),
        actual_drift=from_d128(doc["actualDrift"]),
        transaction_type=doc.get("transactionType"),
        trade_quantity=None if trade_quantity is None else from_d128(trade_quantity),
        trade_date=date_from_doc(doc.get("tradeDate")),
    )


def record_portfolio_to_doc(p: RecordPortfolio) -> dict[str, Any]:
    return {
        "portfolioId": p.portfolio_id,
        "portfolioName": p.portfolio_name,
        "marketValue": to_d128(p.market_value),
        "cashBeforeRebalance": to_d128(p.cash_before_rebalance),
        "cashAfterRebalance": to_d128(p.cash_after_rebalance),
        "positions": [record_position_to_doc(x) for x in p.positions],
    } | (
        {
            "bandBreaches": [
                {"securityId": b.security_id, "side": b.side, "amount": to_d128(b.amount)} for b in p.band_breaches
            ]
        }
        if p.band_breaches
        else {}
    )


def record_portfolio_from_doc(doc: Mapping[str, Any]) -> RecordPortfolio:
    return RecordPortfolio(
        portfolio_id=doc["portfolioId"],
        portfolio_name=doc.get("portfolioName"),
        market_value=from_d128(doc["marketValue"]),
        cash_before_rebalance=from_d128(doc["cashBeforeRebalance"]),
        cash_after_rebalance=from_d128(doc["cashAfterRebalance"]),
        positions=tuple(record_position_from_doc(x) for x in doc.get("positions") or ()),
        band_breaches=tuple(
            BandBreach(security_id=b["securityId"], side=b["side"], amount=from_d128(b["amount"]))
            for b in doc.get("bandBreaches") or ()
        ),
    )


PORTFOLIO_KEY = "portfolioKey"


def portfolio_key(portfolio_ids: Iterable[str]) -> str:
    """A run's portfolio ids as one string (the header's ``portfolioKey``); :func:`portfolio_key_ids` reads it."""
    return " ".join(portfolio_ids)


def portfolio_key_ids(key: str) -> list[str]:
    return key.split(" ") if key else []


def record_header_to_doc(record: RebalanceRecord) -> dict[str, Any]:
    """The header of a new run (no ``_id``, no positions): model, date, count, portfolio ids, ``version`` 1 and, when
    known, who saved it (``savedBy``), what the run was (``run``) and the options it used (``options``).

    The portfolio ids are there twice: ``portfolios`` (one sub-document each: the multikey index answers a filter by a
    few ids) and ``portfolioKey`` (one space-separated string: a look-up by hundreds of ids reads it for every run of
    the day instead of converting thousands of sub-documents; ids are alphanumeric, so the space cannot occur).
    """
    return {
        "modelId": oid(record.model_id),
        "modelName": record.model_name,
        "rebalanceDate": to_utc(record.rebalance_date),
        "numberOfPortfolios": len(record.portfolios),
        "portfolios": [{"portfolioId": p.portfolio_id} for p in record.portfolios],
        PORTFOLIO_KEY: portfolio_key(p.portfolio_id for p in record.portfolios),
        "version": 1,
        **({"savedBy": record.saved_by} if record.saved_by is not None else {}),  # who saved it (issue #13)
        **({"run": run_info_to_doc(record.run)} if record.run is not None else {}),  # what the run was (issue #14)
        **({"options": options_to_doc(record.options)} if record.options is not None else {}),  # its controls (#11)
    }


def run_info_to_doc(run: RunInfo) -> dict[str, Any]:
    """What a run was: ``{scenarioName, modelVersion, overrides, parameters: [{label, value}]}``."""
    return {
        "scenarioName": run.scenario_name,
        "modelVersion": run.model_version,
        "overrides": run.overrides,
        "parameters": [{"label": k, "value": v} for k, v in run.parameters],
    }


def run_info_from_doc(doc: Mapping[str, Any] | None) -> RunInfo | None:
    """The ``run`` sub-document (None for a record saved before it existed)."""
    if not doc:
        return None
    return RunInfo(
        scenario_name=doc.get("scenarioName"),
        model_version=None if doc.get("modelVersion") is None else int(doc["modelVersion"]),
        overrides=bool(doc.get("overrides", False)),
        parameters=tuple((str(p["label"]), str(p["value"])) for p in doc.get("parameters") or ()),
    )


def record_to_doc(record: RebalanceRecord) -> dict[str, Any]:
    """A record as one document with its portfolios embedded: the layout before issue #12 (migration, benchmarks)."""
    doc = {
        "modelId": oid(record.model_id),
        "modelName": record.model_name,
        "rebalanceDate": to_utc(record.rebalance_date),
        "numberOfPortfolios": len(record.portfolios),
        "portfolios": [record_portfolio_to_doc(p) for p in record.portfolios],
        "version": 1,
        **({"savedBy": record.saved_by} if record.saved_by is not None else {}),  # who saved it (issue #13)
    }
    if record.run is not None:
        doc["run"] = run_info_to_doc(record.run)
    return doc


def record_from_doc(doc: Mapping[str, Any]) -> RebalanceRecord:
    """A record stored as one document with its portfolios embedded (the layout before issue #12)."""
    return RebalanceRecord(
        rebalance_id=str(doc["_id"]),
        model_id=str(doc["modelId"]),
        model_name=doc["modelName"],
        run=run_info_from_doc(doc.get("run")),
        rebalance_date=from_utc(doc["rebalanceDate"]),
        portfolios=tuple(record_portfolio_from_doc(p) for p in doc.get("portfolios") or ()),
        version=int(doc.get("version", 1)),
        saved_by=_text_or_none(doc.get("savedBy")),
    )
