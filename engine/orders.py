"""Proposed orders of a rebalance: blotter rows with reasons, aggregation, CSV export (product-spec 2.7, 3.19).

Pure functions over engine results: no Streamlit, no I/O. Every number stays a ``Decimal``; the CSV writes fixed
formats (quantities as integers unless fractional, prices as given, money to the cent half-up; never float text)
and neutralises text cells that a spreadsheet would run as a formula.

:func:`order_columns` gives a run's orders as columns (:class:`OrderColumns`, from the order columns
``engine.columnar`` keeps with the results it builds): :meth:`OrderColumns.rows` and :func:`columns_to_csv` give
exactly what :func:`order_rows` and :func:`orders_to_csv` give, from integers where the columns hold them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, getcontext
from itertools import repeat
from operator import add, attrgetter, gt, is_, is_not, lt, mul, sub, truediv

import numpy as np

from engine.columnar import OrderBlock, orders_of
from engine.construct import paused_gc
from engine.exactmath import RATIO, half_up_units, scaled_texts
from engine.models import KeptBy, PortfolioResult, RebalanceRecord, RecordPosition, TransactionType
from engine.scenarios import REBALANCED
from engine.validation import format_percent

ORDER_CSV_COLUMNS = (
    "rebalanceId",
    "portfolioId",
    "portfolioName",
    "securityId",
    "ticker",
    "transactionType",
    "quantity",
    "price",
    "estimatedValue",
    "tradeDate",
)
REASON_CSV_COLUMN = "reason"  # optional last column of the orders CSV (orders_to_csv(..., with_reasons=True))
AGGREGATE_CSV_COLUMNS = (
    "rebalanceId",
    "securityId",
    "ticker",
    "transactionType",
    "quantity",
    "price",
    "estimatedValue",
    "portfolioCount",
    "tradeDate",
)
# Leading characters that make Excel/LibreOffice/Sheets evaluate a cell (OWASP "CSV injection"), plus their
# full-width forms, which some spreadsheets normalise.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
# Characters a spreadsheet may drop or skip before it looks at the first one (spaces, a line break, a byte-order mark,
# zero-width characters): " =1" or "\ufeff=1" is neutralised too (issue #13 item 5).
INVISIBLE_LEAD = " \n\ufeff\u200b\u200c\u200d\u2060\u00a0"
_RISKY_FIRST = frozenset(FORMULA_TRIGGERS) | frozenset(INVISIBLE_LEAD)  # every trigger is one character
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
# What kept an off-target position from trading (DriftRow.kept_by, product-spec 2.12), as the blotter says it.
KEPT_BY_LABELS: dict[str, str] = {
    "in-band": "in band (out-of-band only)",
    "min-trade": "below the minimum trade",
    "no-buy": "restricted: no buy",
    "no-sell": "restricted: no sell",
    "no-trade": "restricted: do not trade",
}


@dataclass(frozen=True)
class OrderRow:
    """One proposed order: a portfolio × security BUY or SELL with its price, value and the reason it exists."""

    rebalance_id: str | None
    portfolio_id: str
    portfolio_name: str | None
    security_id: str
    ticker: str | None
    transaction_type: TransactionType
    quantity: Decimal
    price: Decimal | None
    estimated_value: Decimal | None
    trade_date: dt.date
    reason: str
    weight_before: Decimal | None = None
    weight_after: Decimal | None = None
    target: Decimal | None = None
    fractional: bool = False
    covers_short: bool = False
    relaxed: bool = False  # the portfolio's answer is "nearest feasible": some bands stay breached


@dataclass(frozen=True)
class NotTradedRow:
    """A position off target that did not trade, and the trade control that kept it (product-spec 2.12)."""

    portfolio_id: str
    portfolio_name: str | None
    security_id: str
    ticker: str | None
    kept_by: KeptBy
    quantity: Decimal
    weight: Decimal  # the position's weight of MV (unchanged: it did not trade)
    target: Decimal
    low_drift: Decimal
    high_drift: Decimal

    @property
    def control(self) -> str:
        return KEPT_BY_LABELS.get(self.kept_by, self.kept_by)


@dataclass(frozen=True)
class AggregatedOrder:
    """One block order: a security and side summed across portfolios (the trader's view)."""

    security_id: str
    ticker: str | None
    transaction_type: TransactionType
    quantity: Decimal
    price: Decimal | None
    estimated_value: Decimal | None
    portfolio_count: int
    trade_date: dt.date
    rebalance_id: str | None = None


@dataclass(frozen=True)
class SideTotal:
    """Totals of one side (BUY or SELL) of a blotter."""

    transaction_type: TransactionType
    orders: int
    quantity: Decimal
    estimated_value: Decimal


def _pp(fraction: Decimal) -> str:
    """A weight difference as percentage points, 1 dp (2 dp below 0.1 pp so small reasons are not '0.0')."""
    points = float(abs(fraction) * HUNDRED)  # display text only; float formatting is ~30x faster than Decimal's
    return f"{points:.1f}" if points >= 0.1 else f"{points:.2f}"


def order_reason(position: RecordPosition, market_value: Decimal | None) -> str:
    """Why the engine trades this security, from its weight before the trade against target and band.

    Examples: ``"2.1 pp above upper band"``, ``"not in the model: sell all"``, ``"covers a short of 40"``,
    ``"in band, 0.4 pp below target"``.
    """
    parts: list[str] = []
    if position.original_quantity < 0:
        parts.append(f"covers a short of {_fmt_number(-position.original_quantity)}")
    in_model = position.target != 0 or position.high_drift != 0 or position.low_drift != 0
    if not in_model:
        if position.original_quantity > 0:
            parts.append("not in the model: sell all")
        return "; ".join(parts) or "not in the model"
    if market_value is None or market_value <= 0:
        return "; ".join([*parts, "empty portfolio"])
    return _band_reason(position, position.original_position_market_value / market_value, parts)


def _band_reason(position: RecordPosition, weight: Decimal, parts: list[str]) -> str:
    """The reason of a model position held at ``weight`` of a positive MV (``parts``: what comes first)."""
    upper = position.target + position.high_drift
    lower = position.target - position.low_drift
    if weight > upper:
        parts.append(f"{_pp(weight - upper)} pp above upper band")
    elif weight < lower:
        parts.append(f"{_pp(lower - weight)} pp below lower band")
    elif weight > position.target:
        parts.append(f"in band, {_pp(weight - position.target)} pp above target")
    elif weight < position.target:
        parts.append(f"in band, {_pp(position.target - weight)} pp below target")
    else:
        parts.append("on target")
    return "; ".join(parts)


_ID_IN_TEXT = re.compile(r"\b(?:(security|portfolio) )?([A-Za-z0-9]{24})\b")
_WEIGHT_IN_TEXT = re.compile(r"\b(target|low drift|high drift) (-?\d+(?:\.\d+)?)(?![\d.]| %)")


def readable_diagnosis(text: str, tickers: Mapping[str, str]) -> str:
    """Why a portfolio was not rebalanced, for a PM: securities by ticker, weights in percent.

    ``"security 5f0c…: its band … (target 0.05, low drift 0.01 …"`` → ``"AAPL: its band … (target 5.0 %, low drift
    1.0 % …"``; the trade controls' bare ids too (``"closing 5f0c…'s gap"``, ``"sales of 5f0c… (noSell)"``); an id
    with no ticker in ``tickers`` stays as written. The portfolio's own id is dropped (its name is shown beside the
    reason). The engine's diagnosis stays id-based: this is its presentation.
    """

    def name(match: re.Match[str]) -> str:
        kind, ident = match.groups()
        if kind == "portfolio":
            return "this portfolio"
        return tickers.get(ident) or match.group(0)

    text = _ID_IN_TEXT.sub(name, text)
    return _WEIGHT_IN_TEXT.sub(lambda m: f"{m.group(1)} {format_percent(Decimal(m.group(2)))}", text)


def order_rows(
    results: Iterable[PortfolioResult],
    tickers: Mapping[str, str] | None = None,
    prices: Mapping[str, Decimal] | None = None,
    rebalance_id: str | None = None,
) -> list[OrderRow]:
    """One row per transaction of every rebalanced result (optimal or relaxed), in result order then security order.

    ``tickers`` maps security id → ticker; ``prices`` is the run's price snapshot, used only when a result carries no
    record positions (the positions hold the exact price each trade was computed with).
    """
    with paused_gc():  # tens of thousands of long-lived rows: automatic collections would rescan them all
        return _order_rows(results, tickers or {}, prices or {}, rebalance_id)


def _order_rows(
    results: Iterable[PortfolioResult],
    tickers: Mapping[str, str],
    prices: Mapping[str, Decimal],
    rebalance_id: str | None,
) -> list[OrderRow]:
    rows: list[OrderRow] = []
    for result in results:
        if result.status not in REBALANCED:
            continue
        relaxed = result.status == "relaxed"
        positions = {p.security_id: p for p in result.positions}
        mv = result.market_value
        for tx in result.transactions:
            if tx.quantity == 0:
                continue
            pos = positions.get(tx.security_id)
            rows.append(
                _order_row(
                    (result.rebalance_id or rebalance_id, result.portfolio_id, result.portfolio_name),
                    (tx.transaction_type, tx.security_id, tickers.get(tx.security_id), tx.quantity, tx.trade_date),
                    pos.price if pos is not None else prices.get(tx.security_id),
                    pos,
                    mv,
                    relaxed,
                )
            )
    return rows


def _order_row(
    owner: tuple[str | None, str, str | None],
    trade: tuple[TransactionType, str, str | None, Decimal, dt.date],
    price: Decimal | None,
    pos: RecordPosition | None,
    market_value: Decimal | None,
    relaxed: bool = False,
) -> OrderRow:
    """The one builder of an order row, for a run's results and a saved record alike.

    ``owner``: (rebalance id, portfolio id, portfolio name); ``trade``: (side, security id, ticker, quantity, trade
    date). ``pos`` is the record position of the traded security (None when a result carries no positions: no
    reason, weights or target then); weights need a positive ``market_value``.
    """
    rebalance_id, portfolio_id, portfolio_name = owner
    side, security_id, ticker, quantity, trade_date = trade
    weight_before = weight_after = None
    if pos is not None and market_value is not None and market_value > 0:
        weight_before = pos.original_position_market_value / market_value
        weight_after = pos.adjusted_position_market_value / market_value
    return _new_row(
        {
            "rebalance_id": rebalance_id,
            "portfolio_id": portfolio_id,
            "portfolio_name": portfolio_name,
            "security_id": security_id,
            "ticker": ticker,
            "transaction_type": side,
            "quantity": quantity,
            "price": price,
            "estimated_value": None if price is None else quantity * price,
            "trade_date": trade_date,
            "reason": _reason(pos, market_value, weight_before),
            "weight_before": weight_before,
            "weight_after": weight_after,
            "target": pos.target if pos is not None else None,
            "fractional": quantity != quantity.to_integral_value(),
            "covers_short": pos is not None and pos.original_quantity < 0,
            "relaxed": relaxed,
        }
    )


def _reason(pos: RecordPosition | None, market_value: Decimal | None, weight: Decimal | None) -> str:
    """``order_reason`` reusing the weight the row already computed (one Decimal division per order less)."""
    if pos is None:
        return ""
    if weight is None or pos.original_quantity < 0 or (pos.target == 0 and pos.high_drift == 0 and pos.low_drift == 0):
        return order_reason(pos, market_value)
    return _band_reason(pos, weight, [])


def _new_row(fields: dict[str, object]) -> OrderRow:
    """An ``OrderRow`` from all its fields without the frozen dataclass's ``__init__`` (one ``object.__setattr__``
    per field: a third of building 90,000 order rows): the dict becomes the instance state. Equal to
    ``OrderRow(**fields)`` (tested); only for values this module computed."""
    row = _NEW(OrderRow)
    _SET(row, "__dict__", fields)
    return row


_NEW = object.__new__
_SET = object.__setattr__


@dataclass(frozen=True)
class OrderColumns:
    """Every proposed order of a run as columns: one entry per order, in :func:`order_rows` order (issue 15 part 1).

    The object columns hold exactly the order rows' values (:meth:`rows` makes the rows); where ``exact`` is True the
    quantity and price are also exact integers (value = mant / 10**scale, mant > 0), from which the blotter's
    floats and the CSV's texts are computed without a ``Decimal`` operation per value. Built by
    :func:`order_columns` from the engine's order columns (``engine.columnar.OrderBlock``) where the results have
    them, from the result objects (as :func:`order_rows`) where not.
    """

    rebalance_id: np.ndarray  # object columns: str | None
    portfolio_id: np.ndarray
    portfolio_name: np.ndarray
    security_id: np.ndarray
    ticker: np.ndarray
    transaction_type: np.ndarray
    quantity: np.ndarray  # Decimal
    price: np.ndarray  # Decimal | None
    estimated_value: np.ndarray  # Decimal | None
    trade_date: np.ndarray  # date
    reason: np.ndarray  # str
    weight_before: np.ndarray  # Decimal | None
    weight_after: np.ndarray
    target: np.ndarray
    fractional: np.ndarray  # bool columns
    covers_short: np.ndarray
    relaxed: np.ndarray
    exact: np.ndarray  # bool: q_mant .. p_scale hold the quantity and the price
    q_mant: np.ndarray  # int64 columns
    q_scale: np.ndarray
    p_mant: np.ndarray
    p_scale: np.ndarray

    def __len__(self) -> int:
        return len(self.portfolio_id)

    def rows(self) -> list[OrderRow]:
        """The order rows (equal to :func:`order_rows` of the same results)."""
        with paused_gc():
            states = [
                {
                    "rebalance_id": rid,
                    "portfolio_id": pid,
                    "portfolio_name": name,
                    "security_id": sid,
                    "ticker": ticker,
                    "transaction_type": side,
                    "quantity": q,
                    "price": p,
                    "estimated_value": v,
                    "trade_date": day,
                    "reason": why,
                    "weight_before": wb,
                    "weight_after": wa,
                    "target": t,
                    "fractional": frac,
                    "covers_short": cover,
                    "relaxed": relaxed,
                }
                for rid, pid, name, sid, ticker, side, q, p, v, day, why, wb, wa, t, frac, cover, relaxed in zip(
                    *(c.tolist() for c in self._row_columns()), strict=True
                )
            ]
            # as _new_row, in C-level passes: the dict becomes each instance's state
            rows = list(map(_NEW, repeat(OrderRow, len(states))))
            deque(map(_SET, rows, repeat("__dict__"), states), maxlen=0)
            return rows

    def _row_columns(self) -> tuple[np.ndarray, ...]:
        """The columns of the row fields, in ``OrderRow``'s field order."""
        return tuple(getattr(self, f) for f in (*_OBJECT_FIELDS, "fractional", "covers_short", "relaxed"))


_OBJECT_FIELDS = (
    "rebalance_id",
    "portfolio_id",
    "portfolio_name",
    "security_id",
    "ticker",
    "transaction_type",
    "quantity",
    "price",
    "estimated_value",
    "trade_date",
    "reason",
    "weight_before",
    "weight_after",
    "target",
)
_BOOL_FIELDS = ("fractional", "covers_short", "relaxed", "exact")
_INT_FIELDS = ("q_mant", "q_scale", "p_mant", "p_scale")
_ORIGINAL_VALUE = attrgetter("original_position_market_value")
_ADJUSTED_VALUE = attrgetter("adjusted_position_market_value")
_ORIGINAL_QUANTITY = attrgetter("original_quantity")
_TARGET = attrgetter("target")
_HIGH = attrgetter("high_drift")
_LOW = attrgetter("low_drift")
ZERO_D = Decimal(0)


def _objects(values: Iterable[object], n: int) -> np.ndarray:
    """An object array of ``n`` values as they are (never unpacked into more dimensions)."""
    return np.fromiter(values, dtype=object, count=n)


def order_columns(
    results: Iterable[PortfolioResult],
    tickers: Mapping[str, str] | None = None,
    prices: Mapping[str, Decimal] | None = None,
    rebalance_id: str | None = None,
) -> OrderColumns:
    """The orders of the results as columns: :func:`order_rows`' rows, field by field (same arguments).

    A result built by the engine's columnar path (``engine.columnar.orders_of``) gives its orders from the engine's
    columns, all such results in one vectorised pass (weights and reasons by the rows' ``Decimal`` operations
    mapped over the columns, texts from integers); any other result (the per-position path, a copy) gives them from
    its objects exactly as :func:`order_rows` does.
    """
    tickers = tickers or {}
    prices = prices or {}
    parts: list[tuple[OrderBlock, int, int, PortfolioResult] | list[OrderRow]] = []
    with paused_gc():
        for result in results:
            if result.status not in REBALANCED:
                continue
            found = orders_of(result)
            if found is None:
                rows = _order_rows([result], tickers, prices, rebalance_id)
                if rows:
                    parts.append(rows)
            elif found[2] > found[1]:
                parts.append((*found, result))
        return _assemble(parts, tickers, prices, rebalance_id)


def _assemble(
    parts: list[tuple[OrderBlock, int, int, PortfolioResult] | list[OrderRow]],
    tickers: Mapping[str, str],
    prices: Mapping[str, Decimal],
    rebalance_id: str | None,
) -> OrderColumns:
    sizes = [len(p) if isinstance(p, list) else p[2] - p[1] for p in parts]
    n = sum(sizes)
    at = np.repeat(np.arange(len(parts)), sizes)
    from_rows = np.array([isinstance(p, list) for p in parts], dtype=bool)[at] if parts else np.zeros(0, bool)
    cols: dict[str, np.ndarray] = {f: np.full(n, None, dtype=object) for f in _OBJECT_FIELDS}
    cols |= {f: np.zeros(n, dtype=bool) for f in _BOOL_FIELDS}
    cols |= {f: np.zeros(n, dtype=np.int64) for f in _INT_FIELDS}
    where = np.nonzero(from_rows)[0]
    if where.size:
        _fill_from_rows([r for p in parts if isinstance(p, list) for r in p], where, cols)
    where = np.nonzero(~from_rows)[0]
    if where.size:
        blocks = [p for p in parts if not isinstance(p, list)]
        _fill_from_blocks(blocks, where, cols, tickers, prices, rebalance_id)
    return OrderColumns(**cols)


def _fill_from_rows(rows: list[OrderRow], where: np.ndarray, cols: dict[str, np.ndarray]) -> None:
    """The columns at ``where`` from order rows (the result-object path)."""
    for f in (*_OBJECT_FIELDS, "fractional", "covers_short", "relaxed"):
        cols[f][where] = _objects(map(attrgetter(f), rows), len(rows))


def _fill_from_blocks(
    blocks: list[tuple[OrderBlock, int, int, PortfolioResult]],
    where: np.ndarray,
    cols: dict[str, np.ndarray],
    tickers: Mapping[str, str],
    prices: Mapping[str, Decimal],
    rebalance_id: str | None,
) -> None:
    """The columns at ``where`` from the engine's order blocks: the rows of ``_order_row``, one column at a time."""
    n = where.size
    counts = [hi - lo for _, lo, hi, _ in blocks]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name)[lo:hi] for b, lo, hi, _ in blocks])

    def per_result(values: list[object]) -> np.ndarray:
        return np.repeat(_objects(values, len(values)), counts)

    results = [r for *_, r in blocks]
    sids = cat("security_id")
    sid_l = sids.tolist()
    cols["rebalance_id"][where] = per_result([r.rebalance_id or rebalance_id for r in results])
    cols["portfolio_id"][where] = per_result([r.portfolio_id for r in results])
    cols["portfolio_name"][where] = per_result([r.portfolio_name for r in results])
    cols["security_id"][where] = sids
    cols["ticker"][where] = _objects(map(tickers.get, sid_l), n)
    cols["transaction_type"][where] = cat("side")
    quantity = cat("quantity")
    cols["quantity"][where] = quantity
    cols["trade_date"][where] = per_result([b.trade_date for b, *_ in blocks])
    relaxed = np.repeat(np.array([r.status == "relaxed" for r in results], dtype=bool), counts)
    cols["relaxed"][where] = relaxed
    q_mant, q_scale, p_mant, p_scale = cat("q_mant"), cat("q_scale"), cat("p_mant"), cat("p_scale")
    cols["q_mant"][where], cols["q_scale"][where] = q_mant, q_scale
    cols["p_mant"][where], cols["p_scale"][where] = p_mant, p_scale
    cols["fractional"][where] = q_mant % (10 ** np.clip(q_scale, 0, 18)) != 0  # q_scale <= 18: plain decimals
    # the price: the record position's (the block's), else the snapshot's as order_rows looks it up
    block_price = cat("price")
    with_pos = np.repeat(np.array([b.position is not None for b, *_ in blocks], dtype=bool), counts)
    price = _objects(map(prices.get, sid_l), n)
    price[with_pos] = block_price[with_pos]
    cols["price"][where] = price
    same = np.fromiter(map(is_, price.tolist(), block_price.tolist()), dtype=bool, count=n)
    cols["exact"][where] = same  # the integers are the block price's
    priced = np.nonzero(np.fromiter(map(is_not, price.tolist(), repeat(None, n)), dtype=bool, count=n))[0]
    value = np.full(n, None, dtype=object)
    value[priced] = list(map(mul, quantity[priced].tolist(), price[priced].tolist()))
    cols["estimated_value"][where] = value
    # weights, reasons, target and short cover from the record positions (none without positions)
    pos_at = np.nonzero(with_pos)[0]
    if not pos_at.size:
        cols["reason"][where] = ""
        return
    reason = np.full(n, "", dtype=object)
    positions = np.concatenate([b.position[lo:hi] for b, lo, hi, _ in blocks if b.position is not None]).tolist()
    mv_result = [r.market_value for r in results]
    mv = per_result(mv_result)[pos_at].tolist()
    k = len(positions)
    original = list(map(_ORIGINAL_QUANTITY, positions))
    target = list(map(_TARGET, positions))
    high = list(map(_HIGH, positions))
    low = list(map(_LOW, positions))
    covers = np.fromiter(map(lt, original, repeat(ZERO_D, k)), dtype=bool, count=k)
    positive = np.repeat([m is not None and m > 0 for m in mv_result], counts)[pos_at]
    weight_before = np.full(k, None, dtype=object)
    weight_after = np.full(k, None, dtype=object)
    weighted = np.nonzero(positive)[0]
    if weighted.size:
        mv_w = _objects(mv, k)[weighted].tolist()
        chosen = _objects(positions, k)[weighted].tolist()
        weight_before[weighted] = list(map(truediv, map(_ORIGINAL_VALUE, chosen), mv_w))
        # p·u' / MV in the thread's context: the record position's actual, RATIO.divide of the same numbers, when
        # that context rounds as RATIO does (the default one: the app never changes it)
        if _rounds_as_ratio(getcontext()):
            weight_after[weighted] = list(map(_ACTUAL, chosen))
        else:
            weight_after[weighted] = list(map(truediv, map(_ADJUSTED_VALUE, chosen), mv_w))
    in_model = (
        np.fromiter(map(bool, target), dtype=bool, count=k)
        | np.fromiter(map(bool, high), dtype=bool, count=k)
        | np.fromiter(map(bool, low), dtype=bool, count=k)
    )
    band = positive & ~covers & in_model
    texts = np.full(k, "", dtype=object)
    at_band = np.nonzero(band)[0]
    if at_band.size:
        texts[at_band] = _band_reasons(
            weight_before[at_band], _objects(target, k)[at_band], _objects(high, k)[at_band], _objects(low, k)[at_band]
        )
    for i in np.nonzero(~band)[0].tolist():  # short covers, extras, empty portfolios: few, as order_rows says them
        texts[i] = order_reason(positions[i], mv[i])
    reason[pos_at] = texts
    cols["reason"][where] = reason
    for name, values in (("weight_before", weight_before), ("weight_after", weight_after)):
        column = np.full(n, None, dtype=object)
        column[pos_at] = values
        cols[name][where] = column
    column = np.full(n, None, dtype=object)
    column[pos_at] = target
    cols["target"][where] = column
    short = np.zeros(n, dtype=bool)
    short[pos_at] = covers
    cols["covers_short"][where] = short


_ACTUAL = attrgetter("actual")


def _rounds_as_ratio(context: Context) -> bool:
    """``context`` divides exactly as ``exactmath.RATIO`` (precision, rounding, exponent limits and traps)."""
    return (context.prec, context.rounding, context.Emin, context.Emax, context.clamp) == (
        RATIO.prec,
        RATIO.rounding,
        RATIO.Emin,
        RATIO.Emax,
        RATIO.clamp,
    ) and all(context.traps[s] == RATIO.traps[s] for s in RATIO.traps)


def _band_reasons(weight: np.ndarray, target: np.ndarray, high: np.ndarray, low: np.ndarray) -> list[str]:
    """:func:`_band_reason` of many positions (no short, in the model, positive MV): its comparisons and
    differences mapped over the columns, its texts from the float points."""
    n = weight.size
    w, t = weight.tolist(), target.tolist()
    upper = _objects(map(add, t, high.tolist()), n)
    lower = _objects(map(sub, t, low.tolist()), n)
    above = np.fromiter(map(gt, w, upper.tolist()), dtype=bool, count=n)
    below = np.fromiter(map(lt, w, lower.tolist()), dtype=bool, count=n) & ~above
    rest = ~(above | below)
    over = np.fromiter(map(gt, w, t), dtype=bool, count=n) & rest
    under = np.fromiter(map(lt, w, t), dtype=bool, count=n) & rest & ~over
    out = np.full(n, "on target", dtype=object)
    for mask, big, small, words in (
        (above, weight, upper, "above upper band"),
        (below, lower, weight, "below lower band"),
        (over, weight, target, "above target"),
        (under, target, weight, "below target"),
    ):
        at = np.nonzero(mask)[0]
        if not at.size:
            continue
        diffs = map(sub, big[at].tolist(), small[at].tolist())
        points = np.fromiter(map(float, map(mul, map(abs, diffs), repeat(HUNDRED))), dtype=np.float64, count=at.size)
        lead = "in band, " if words.endswith("target") else ""
        out[at] = [f"{lead}{p:.1f} pp {words}" if p >= 0.1 else f"{lead}{p:.2f} pp {words}" for p in points.tolist()]
    return out.tolist()


def columns_to_csv(columns: OrderColumns, rebalance_id: str | None = None, *, with_reasons: bool = False) -> bytes:
    """:func:`orders_to_csv` of the order columns, the same bytes: numbers written from their integers where
    ``exact`` (quantities as given, money half-up to the cent), from their Decimals elsewhere."""
    n = len(columns)
    exact = np.nonzero(columns.exact)[0]
    quantity = [""] * n
    money = [""] * n
    by_decimal = np.ones(n, dtype=bool)  # the quantity's text from its Decimal (the rows of result objects)
    money_by_decimal = np.ones(n, dtype=bool)
    if exact.size:
        q_mant, q_scale = columns.q_mant[exact], columns.q_scale[exact]
        unit = 10 ** np.clip(q_scale, 0, 18)  # plain decimals: q_scale <= 18
        whole = q_mant % unit == 0  # written as an integer (100, not 100.00), as _fmt_number does
        texts = scaled_texts(np.where(whole, q_mant // unit, q_mant), np.where(whole, 0, q_scale))
        for i, text in zip(exact.tolist(), texts, strict=True):
            quantity[i] = text
        by_decimal[exact] = False
        # the estimated value q·p on int64 (below 2**62: at most 19 digits, as exact as the Decimal product)
        fits = q_mant.astype(np.float64) * columns.p_mant[exact].astype(np.float64) < 2.0**62
        cents, ok = half_up_units(
            np.where(fits, q_mant, 0) * np.where(fits, columns.p_mant[exact], 0), q_scale + columns.p_scale[exact], 2
        )
        good = exact[ok & fits]
        for i, text in zip(good.tolist(), scaled_texts(cents[ok & fits], np.full(good.size, 2)), strict=True):
            money[i] = text
        money_by_decimal[good] = False
    for i in np.nonzero(by_decimal)[0].tolist():
        quantity[i] = _fmt_number(columns.quantity[i])
    for i in np.nonzero(money_by_decimal)[0].tolist():
        money[i] = _fmt_money(columns.estimated_value[i])
    # a price's text once per price object (a run prices each security once; equal Decimals can differ in text)
    price_objects = columns.price.tolist()
    distinct = dict(zip(map(id, price_objects), price_objects, strict=True))
    price_text = {key: _fmt_price(p) for key, p in distinct.items()}
    prices = list(map(price_text.__getitem__, map(id, price_objects)))
    dates = columns.trade_date.tolist()
    day_text = {d: d.isoformat() for d in set(dates)}
    days = list(map(day_text.__getitem__, dates))
    table = [
        [r or rebalance_id or "" for r in columns.rebalance_id.tolist()],
        columns.portfolio_id.tolist(),
        [name or "" for name in columns.portfolio_name.tolist()],
        columns.security_id.tolist(),
        [t or "" for t in columns.ticker.tolist()],
        columns.transaction_type.tolist(),
        quantity,
        prices,
        money,
        days,
    ]
    header: tuple[str, ...] = ORDER_CSV_COLUMNS
    if with_reasons:
        header = (*ORDER_CSV_COLUMNS, REASON_CSV_COLUMN)
        fractional = columns.fractional.tolist()
        table.append(
            [
                why + ("; fractional quantity" if frac else "") + ("; nearest feasible: bands breached" if rel else "")
                for why, frac, rel in zip(columns.reason.tolist(), fractional, columns.relaxed.tolist(), strict=True)
            ]
        )
    return _columns_csv(header, table)


_CSV_SPECIAL = re.compile(r'[,"\r\n]')  # what makes the csv module quote a field (QUOTE_MINIMAL, "," and '"')


def _columns_csv(header: Sequence[str], table: list[list[str]]) -> bytes:
    """The bytes :func:`_write_csv` writes for these text columns: formula-escaped, then each cell as the csv module
    writes it (a cell to quote is written by the csv module itself), once per distinct text of a column."""
    risky = _RISKY_FIRST
    safe = []
    for column in table:
        fixed: dict[str, str] = {}  # each distinct text that changes: formula-escaped, then quoted
        for cell in set(column):
            text = neutralise_cell(cell) if cell[:1] in risky else cell
            if _CSV_SPECIAL.search(text):
                text = _csv_field(text)
            if text is not cell:
                fixed[cell] = text
        safe.append(list(map(fixed.get, column, column)) if fixed else column)
    head = _write_csv(header, ()).decode("utf-8")
    body = "\r\n".join(map(",".join, zip(*safe, strict=True)))
    return (head + body + ("\r\n" if body else "")).encode("utf-8")


def _csv_field(cell: str) -> str:
    """One cell as the csv module writes it in a row of several (quoted, quotes doubled)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow((cell, ""))
    return buf.getvalue()[: -len(",\r\n")]


def not_traded_rows(results: Iterable[PortfolioResult], tickers: Mapping[str, str] | None = None) -> list[NotTradedRow]:
    """Positions of the rebalanced results that stayed off target because a trade control kept them (``kept_by``)."""
    tickers = tickers or {}
    rows: list[NotTradedRow] = []
    for result in results:
        if result.status not in REBALANCED:
            continue
        for d in result.drifts:
            if d.kept_by is None:
                continue
            rows.append(
                NotTradedRow(
                    portfolio_id=result.portfolio_id,
                    portfolio_name=result.portfolio_name,
                    security_id=d.security_id,
                    ticker=tickers.get(d.security_id),
                    kept_by=d.kept_by,
                    quantity=d.original_quantity,
                    weight=d.actual,
                    target=d.target,
                    low_drift=d.low_drift,
                    high_drift=d.high_drift,
                )
            )
    return rows


def record_order_rows(
    record: RebalanceRecord,
    tickers: Mapping[str, str] | None = None,
    portfolio_names: Mapping[str, str] | None = None,
) -> list[OrderRow]:
    """The orders of a saved rebalance record: one row per position with a trade, stamped with the record's id."""
    tickers = tickers or {}
    portfolio_names = portfolio_names or {}
    rows: list[OrderRow] = []
    for portfolio in record.portfolios:
        mv = portfolio.market_value
        name = portfolio.portfolio_name or portfolio_names.get(portfolio.portfolio_id)
        for pos in portfolio.positions:
            if pos.transaction_type is None or not pos.trade_quantity:
                continue
            trade_date = pos.trade_date or record.rebalance_date.date()
            trade = (
                pos.transaction_type,
                pos.security_id,
                tickers.get(pos.security_id),
                pos.trade_quantity,
                trade_date,
            )
            owner = (record.rebalance_id, portfolio.portfolio_id, name)
            rows.append(_order_row(owner, trade, pos.price, pos, mv, bool(portfolio.band_breaches)))
    return rows


def aggregate_orders(rows: Iterable[OrderRow], net: bool = False) -> list[AggregatedOrder]:
    """Sum the rows per (security, side) across portfolios, ordered by side (BUY first) then ticker/id.

    The run uses one price per security, so the block price is that price; should rows disagree, it is the
    value-weighted average (estimated value / quantity). With ``net`` the BUY and SELL of one security are netted
    into one block (the side of the larger leg, quantity BUY − SELL; a security that nets to 0 has no block); the
    per-portfolio orders keep both legs.
    """
    groups: dict[tuple[str, str], list[OrderRow]] = {}
    for row in rows:
        groups.setdefault((row.security_id, "NET" if net else row.transaction_type), []).append(row)
    out: list[AggregatedOrder] = []
    for (security_id, side), members in groups.items():
        # netting counts a SELL against the BUY of the same security; without it every member has the same side
        sign = {"BUY": Decimal(1), "SELL": Decimal(-1 if net else 1)}
        signed = sum((sign[m.transaction_type] * m.quantity for m in members), Decimal(0))
        if net:
            if signed == 0:
                continue
            side = "BUY" if signed > 0 else "SELL"
        quantity = abs(signed)
        values = [m.estimated_value for m in members]
        value = (
            None
            if any(v is None for v in values)
            else abs(sum((sign[m.transaction_type] * v for m, v in zip(members, values, strict=True)), Decimal(0)))
        )
        price_set = {m.price for m in members}
        price = price_set.pop() if len(price_set) == 1 else _weighted_price(value, quantity)
        out.append(
            AggregatedOrder(
                security_id=security_id,
                ticker=members[0].ticker,
                transaction_type=side,  # type: ignore[arg-type]
                quantity=quantity,
                price=price,
                estimated_value=value,
                portfolio_count=len({m.portfolio_id for m in members}),
                trade_date=min(m.trade_date for m in members),
                rebalance_id=members[0].rebalance_id,
            )
        )
    out.sort(key=lambda a: (a.transaction_type != "BUY", a.ticker is None, a.ticker or "", a.security_id))
    return out


def _weighted_price(value: Decimal | None, quantity: Decimal) -> Decimal | None:
    return None if value is None or quantity == 0 else value / quantity


def side_totals(rows: Iterable[OrderRow]) -> dict[str, SideTotal]:
    """Order count, quantity and estimated value per side; both sides always present."""
    acc = {side: [Decimal(0), Decimal(0), Decimal(0)] for side in ("BUY", "SELL")}
    for row in rows:
        a = acc[row.transaction_type]
        a[0] += 1
        a[1] += row.quantity
        a[2] += row.estimated_value or Decimal(0)
    return {
        side: SideTotal(side, int(v[0]), v[1], v[2])  # type: ignore[arg-type]
        for side, v in acc.items()
    }


def neutralise_cell(text: str) -> str:
    """Prefix a text cell with ``'`` when a spreadsheet would evaluate it: it starts with =, +, -, @ (or their
    full-width forms), tab or CR, also after leading spaces, line breaks, a BOM or zero-width characters.

    The one definition for every CSV the app writes (orders, blocks, model positions).
    """
    return "'" + text if text.lstrip(INVISIBLE_LEAD).startswith(FORMULA_TRIGGERS) else text


def _fmt_number(value: Decimal | None) -> str:
    """Exact plain notation: integers without decimals (100), others as written (93.64, 12.5), never 1E+2."""
    if value is None:
        return ""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value, "f")


def _fmt_price(value: Decimal | None) -> str:
    """A price exactly as the Pricing Service gave it (93.64, 33.10, 10), plain notation."""
    return "" if value is None else format(value, "f")


def _fmt_money(value: Decimal | None) -> str:
    """Money to the cent, half-up (a fractional order's 12.3456 → 12.35); the exact value stays in the record."""
    return "" if value is None else format(value.quantize(CENT, rounding=ROUND_HALF_UP), "f")


def _write_csv(header: Sequence[str], records: Iterable[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    # a cell can need the prefix only if it starts with a trigger or a skipped character: the others (nearly all)
    # are written as they are without a call per cell (a third of a 90,000-order CSV's time)
    risky = _RISKY_FIRST
    writer.writerows(
        [c if c.__class__ is not str or c[:1] not in risky else neutralise_cell(c) for c in record]
        for record in records
    )
    return buf.getvalue().encode("utf-8")


def orders_to_csv(rows: Iterable[OrderRow], rebalance_id: str | None = None, *, with_reasons: bool = False) -> bytes:
    """The per-portfolio orders CSV (product-spec 2.7 columns); ``rebalanceId`` empty for an unsaved run.

    ``with_reasons`` adds the ``reason`` column last (why each order exists; "nearest feasible" when its
    portfolio's answer breaches bands); the other columns are unchanged.
    """
    header = (*ORDER_CSV_COLUMNS, REASON_CSV_COLUMN) if with_reasons else ORDER_CSV_COLUMNS
    return _write_csv(
        header,
        (
            (
                r.rebalance_id or rebalance_id or "",
                r.portfolio_id,
                r.portfolio_name or "",
                r.security_id,
                r.ticker or "",
                r.transaction_type,
                _fmt_number(r.quantity),
                _fmt_price(r.price),
                _fmt_money(r.estimated_value),
                r.trade_date.isoformat(),
            )
            + ((full_reason(r),) if with_reasons else ())
            for r in rows
        ),
    )


def full_reason(row: OrderRow) -> str:
    """The order's reason as the CSV says it (fractional quantity and nearest feasible marked; the blotter shows
    these two in its Flags and Nearest feasible columns)."""
    return (
        row.reason
        + ("; fractional quantity" if row.fractional else "")
        + ("; nearest feasible: bands breached" if row.relaxed else "")
    )


def aggregated_to_csv(blocks: Iterable[AggregatedOrder], rebalance_id: str | None = None) -> bytes:
    """The block-order CSV: one line per security and side across portfolios."""
    return _write_csv(
        AGGREGATE_CSV_COLUMNS,
        (
            (
                b.rebalance_id or rebalance_id or "",
                b.security_id,
                b.ticker or "",
                b.transaction_type,
                _fmt_number(b.quantity),
                _fmt_price(b.price),
                _fmt_money(b.estimated_value),
                str(b.portfolio_count),
                b.trade_date.isoformat(),
            )
            for b in blocks
        ),
    )


__all__ = [
    "AGGREGATE_CSV_COLUMNS",
    "KEPT_BY_LABELS",
    "ORDER_CSV_COLUMNS",
    "REASON_CSV_COLUMN",
    "AggregatedOrder",
    "NotTradedRow",
    "OrderColumns",
    "OrderRow",
    "SideTotal",
    "aggregate_orders",
    "aggregated_to_csv",
    "columns_to_csv",
    "full_reason",
    "neutralise_cell",
    "not_traded_rows",
    "order_columns",
    "order_reason",
    "order_rows",
    "orders_to_csv",
    "readable_diagnosis",
    "record_order_rows",
    "side_totals",
]
