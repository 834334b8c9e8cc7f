"""The what-if's columnar path (issue 15 part 1, app side): holdings, market values and results from integer columns.

:func:`prepare_portfolios` turns the holdings of every portfolio of one ``rebalance_portfolios`` call into numpy
columns of exact scaled integers (quantity and cash mantissas with their decimal places, prices per security),
checks the supported range (:func:`engine.limits.fits_range`) and computes every market value in integer mills
(:func:`engine.marketvalue.market_value_mills`) at once. :func:`build_optimal` builds the ``PortfolioResult`` of
each optimal portfolio of a chunk from those columns: trades, drift before/after, spend, cash after and the
actual weights in basis points are numpy integer arithmetic over all cells (portfolio x security) of the chunk;
the ``Decimal`` fields are made from those integers (a sum or a quantity: ``Decimal(int)`` on its exponent;
weights in basis points: one object per distinct value), a record position's value or ratio by the one
``Decimal`` operation the reference makes, mapped over the column (as cheap as building it from an integer, and
the same value and exponent by construction). The objects come from the :mod:`engine.construct` builders.

The results are exactly the per-position reference's (``engine.rebalance._build_result``: every field, every
Decimal's value and exponent; ``tests/unit/engine/test_columnar.py``). A portfolio the integer path cannot
take exactly goes to the reference, alone and never silently: a number whose text is not a plain decimal of
at most 18 digits, a value outside the supported range or beyond int64 in any product or sum (guarded in
floating point first), a duplicated holding, a held security without a usable price, a negative zero. The
reference also raises the typed error of a bad portfolio, with its message, so one bad portfolio fails only
itself exactly as before. :func:`reference_only` switches the columnar path off (tests and ``--compare``).

The trades of the results :func:`build_optimal` builds are kept as columns too (:class:`OrderBlock`: security,
side, quantity and price as exact integers and as the transactions' Decimals, the record positions), as long as
the results live (:func:`orders_of`); ``engine.orders.order_columns`` builds the blotter, order rows and orders
CSV from them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from itertools import chain, repeat
from operator import attrgetter
from typing import TYPE_CHECKING
from weakref import ref

import numpy as np

from engine.construct import make_drift_rows, make_record_positions, make_transactions
from engine.errors import EngineError
from engine.exactmath import BASIS, MONEY, ONE, RATIO, WIDE, ZERO, mills_of
from engine.limits import fits_range
from engine.marketvalue import holding_map, market_value, market_value_mills, require_price
from engine.models import PortfolioHoldings, PortfolioResult, RecordPosition
from engine.plainnum import LIMIT, MAX_FAST_DIGITS, Slow
from engine.plainnum import PLAIN as _PLAIN
from engine.plainnum import plain_ints as _plain_ints

if TYPE_CHECKING:  # engine.controls loads the MILP stack: imported lazily where it runs (start-up, issue 15)
    from engine.controls import Answer

_ENABLED: ContextVar[bool] = ContextVar("engine_columnar_enabled", default=True)
_SECURITY_ID = attrgetter("security_id")
_QUANTITY = attrgetter("quantity")
_NEGATIVE_ZERO_BP = Decimal("-0.0000")
NEAR_HALF = 1e-12  # a ratio this close below a half basis point is rounded as the reference does (28 digits first)


@dataclass(frozen=True, slots=True)
class SecurityRow:
    """One security of a portfolio's result rows: a model position, or a holding outside the model (weights 0)."""

    security_id: str
    price: Decimal
    target: Decimal
    low_drift: Decimal
    high_drift: Decimal


@dataclass(frozen=True)
class HeldColumns:
    """The non-zero holdings of the portfolios of one call as exact integer columns (value = mant / 10**scale).

    Rows of the portfolio in slot ``k``: ``start[k]:start[k + 1]``, in holdings order. Securities are indexed
    in ``ids`` (the model's first, in model order); a price column entry is 0 where the price is not usable.
    """

    start: np.ndarray
    sec: np.ndarray
    mant: np.ndarray
    scale: np.ndarray
    obj: np.ndarray  # the quantities as given (object array of Decimal)
    ids: list[str]
    p_mant: np.ndarray
    p_scale: np.ndarray
    p_obj: np.ndarray  # object array: the price as given, or None
    p_ok: np.ndarray  # the price is positive, inside the range and plain


@dataclass(slots=True)
class Prepared:
    """One portfolio after validation: quantities held, market value, non-model holdings.

    ``cols``/``slot``: its rows in the call's integer columns (None: prepared by the per-position reference).
    """

    row: int  # position in the input
    portfolio: PortfolioHoldings
    held: dict[str, Decimal]
    extras: list[SecurityRow]  # held securities outside the model (target and band 0)
    market_value: Decimal
    cols: HeldColumns | None = None
    slot: int = -1


@dataclass(frozen=True, slots=True)
class OrderBlock:
    """The trades of the results one :func:`build_optimal` call built, as columns: one entry per trade, in result
    order then transaction order (each result's trades are a slice, :func:`orders_of`).

    Quantities and prices are also exact integers (value = mant / 10**scale, mant > 0); ``position``: each trade's
    record position (None when the results carry none).
    """

    security_id: np.ndarray  # object: str
    side: np.ndarray  # object: "BUY" / "SELL"
    quantity: np.ndarray  # object: the transaction's Decimal
    q_mant: np.ndarray
    q_scale: np.ndarray
    price: np.ndarray  # object: the price as given (the record position's)
    p_mant: np.ndarray
    p_scale: np.ndarray
    position: np.ndarray | None  # object: RecordPosition
    trade_date: dt.date


# result (by identity) -> (weak reference, block, first trade, end): the columns live as long as the results do;
# an entry goes when its result is collected. A copy of a result is not in it (its orders come from its objects).
_ORDERS: dict[int, tuple[ref[PortfolioResult], OrderBlock, int, int]] = {}


def _register(result: PortfolioResult, block: OrderBlock, lo: int, hi: int) -> None:
    key = id(result)
    _ORDERS[key] = (ref(result, partial(_ORDERS.pop, key)), block, lo, hi)


def orders_of(result: PortfolioResult) -> tuple[OrderBlock, int, int] | None:
    """The order columns ``result``'s trades were built from (block, first, end), or None (built otherwise)."""
    entry = _ORDERS.get(id(result))
    if entry is None or entry[0]() is not result:
        return None
    return entry[1], entry[2], entry[3]


def carry_orders(source: PortfolioResult, copy: PortfolioResult) -> PortfolioResult:
    """``copy`` (of ``source``, with the same transactions) shares ``source``'s order columns, if any."""
    found = orders_of(source)
    if found is not None and copy.transactions is source.transactions:
        _register(copy, *found)
    return copy


@contextmanager
def reference_only() -> Iterator[None]:
    """Within this block every portfolio takes the per-position Decimal reference (tests, bench ``--compare``)."""
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def prepare_one(
    row: int, portfolio: PortfolioHoldings, model_ids: frozenset[str], prices: Mapping[str, Decimal]
) -> Prepared:
    """The per-position reference: holdings, prices and market value of one portfolio, in ``Decimal``.

    Raises the typed error of a bad portfolio (duplicate holding, missing price, a value out of range).
    """
    pid = portfolio.portfolio_id
    held = holding_map(portfolio.holdings, pid)
    extras = [
        SecurityRow(sid, require_price(prices, sid, pid), ZERO, ZERO, ZERO) for sid in held if sid not in model_ids
    ]
    mv = market_value(portfolio.cash, held, prices, pid)  # checks prices, values and MV against the range
    return Prepared(row, portfolio, held, extras, mv)


def prepare_portfolios(
    portfolios: Sequence[PortfolioHoldings], model_ids: Sequence[str], prices: Mapping[str, Decimal]
) -> list[Prepared | EngineError]:
    """Each portfolio prepared, or the typed error that fails it alone (as :func:`prepare_one` raises it).

    ``model_ids``: the model's securities in model order (the result rows' order).
    """
    out: list[Prepared | EngineError | None] = [None] * len(portfolios)
    if _ENABLED.get() and portfolios:
        _prepare_columns(portfolios, model_ids, prices, out)
    model_set = frozenset(model_ids)
    done: list[Prepared | EngineError] = []
    for row, (portfolio, prep) in enumerate(zip(portfolios, out, strict=True)):
        if prep is None:
            try:
                prep = prepare_one(row, portfolio, model_set, prices)
            except EngineError as exc:
                prep = exc
        done.append(prep)
    return done


def plain_columns(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, mantissa, scale) of decimal texts; ``ok`` False where a text is not a plain decimal of <= 18 digits.

    :func:`engine.fastsolve._plain_ints` reads them all at once; when one text is not plain, the plain ones are
    read again without it (mantissa and scale 0 where not ok).
    """
    n = len(texts)
    try:
        mant, scale = _plain_ints(texts)
        return np.ones(n, dtype=bool), mant, scale
    except Slow:
        pass
    import re

    plain = re.compile(_PLAIN).fullmatch
    ok = np.fromiter(
        (plain(t) is not None and len(t.replace("-", "").replace(".", "")) <= MAX_FAST_DIGITS for t in texts),
        dtype=bool,
        count=n,
    )
    mant = np.zeros(n, dtype=np.int64)
    scale = np.zeros(n, dtype=np.int64)
    good = np.nonzero(ok)[0]
    if good.size:
        try:
            mant[good], scale[good] = _plain_ints([texts[i] for i in good.tolist()])
        except Slow:
            ok[:] = False
    return ok, mant, scale


def _prepare_columns(
    portfolios: Sequence[PortfolioHoldings],
    model_ids: Sequence[str],
    prices: Mapping[str, Decimal],
    out: list[Prepared | EngineError | None],
) -> None:
    """Fill ``out`` for the portfolios the integer columns take exactly; the others stay None (the reference)."""
    k_total = len(portfolios)
    holdings = [p.holdings for p in portfolios]
    counts = np.fromiter(map(len, holdings), dtype=np.int64, count=k_total)
    flat = list(chain.from_iterable(holdings))
    sids: list[str] = list(map(_SECURITY_ID, flat))
    quantities: list[Decimal] = list(map(_QUANTITY, flat))
    g = np.repeat(np.arange(k_total), counts)
    index = {sid: i for i, sid in enumerate(model_ids)}
    sec = np.fromiter((index.setdefault(s, len(index)) for s in sids), dtype=np.int64, count=len(sids))
    ids = list(index)
    n_sec = len(ids)
    bad = np.zeros(k_total, dtype=bool)
    if sec.size:  # a duplicated security (a zero row counts, as in holding_map)
        keys = np.sort(g * n_sec + sec)
        bad[keys[1:][keys[1:] == keys[:-1]] // n_sec] = True
    q_ok, q_mant, q_scale = plain_columns(list(map(str, quantities)))
    bad[g[~q_ok]] = True
    c_ok, c_mant, c_scale = plain_columns([str(p.cash) for p in portfolios])
    bad |= ~c_ok
    p_obj = [prices.get(sid) for sid in ids]
    usable = np.array([p is not None and p.is_finite() and p > 0 for p in p_obj], dtype=bool)
    p_ok, p_mant, p_scale = plain_columns([str(p) if ok else "0" for p, ok in zip(p_obj, usable.tolist(), strict=True)])
    p_ok &= usable & fits_range(p_mant, p_scale, "price")
    p_mant = np.where(p_ok, p_mant, 0)
    p_scale = np.where(p_ok, p_scale, 0)
    nonzero = q_mant != 0
    bad[g[nonzero & ~p_ok[sec]]] = True  # held without a usable price: the reference names it
    bad[g[~fits_range(q_mant, q_scale, "quantity")]] = True
    bad |= ~fits_range(c_mant, c_scale, "money")
    mills, ok = market_value_mills(g, k_total, q_mant, q_scale, p_mant[sec], p_scale[sec], c_mant, c_scale, ~bad)
    bad |= ~ok
    keep = nonzero & ~bad[g]
    start = np.zeros(k_total + 1, dtype=np.int64)
    np.cumsum(np.bincount(g[keep], minlength=k_total), out=start[1:])
    kept_rows = np.nonzero(keep)[0]
    cols = HeldColumns(
        start=start,
        sec=sec[kept_rows],
        mant=q_mant[kept_rows],
        scale=q_scale[kept_rows],
        obj=np.array([quantities[i] for i in kept_rows.tolist()] + [ZERO], dtype=object)[:-1],
        ids=ids,
        p_mant=p_mant,
        p_scale=p_scale,
        p_obj=np.array([*p_obj, None], dtype=object)[:-1],
        p_ok=p_ok,
    )
    model_set = frozenset(model_ids)
    has_zero = np.bincount(g[~nonzero], minlength=k_total) > 0
    bounds = np.zeros(k_total + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    b = bounds.tolist()
    mills_l = mills.tolist()
    for k in np.nonzero(~bad)[0].tolist():
        lo, hi = b[k], b[k + 1]
        if has_zero[k]:
            held = {s: q for s, q in zip(sids[lo:hi], quantities[lo:hi], strict=True) if q}
        else:
            held = dict(zip(sids[lo:hi], quantities[lo:hi], strict=True))
        extras = [SecurityRow(s, prices[s], ZERO, ZERO, ZERO) for s in held if s not in model_set]
        mv = Decimal(mills_l[k]).scaleb(-3, WIDE)
        out[k] = Prepared(k, portfolios[k], held, extras, mv, cols, k)


def _pow10(places: np.ndarray) -> np.ndarray:
    """10**places as int64 (places clipped to 18; a product it would overflow is caught by the float guards)."""
    return 10 ** np.clip(places, 0, 18)


def _f(values: np.ndarray) -> np.ndarray:
    return np.abs(values.astype(np.float64))


def _at_scale(values: np.ndarray, own: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``values`` over 10**own as integers over 10**scale (scale >= own)."""
    return values * _pow10(scale - own)


def _decimal_of(value: int, scale: int) -> Decimal:
    """The Decimal ``value`` x 10**-scale with exactly that exponent (the one Decimal arithmetic gives the sum)."""
    return Decimal(value).scaleb(-scale, WIDE) if scale else Decimal(value)


def build_optimal(
    preps: Sequence[Prepared],
    securities: Sequence[SecurityRow],
    adjusted: np.ndarray | None,
    answers: Sequence[Answer] | None,
    trade_date: dt.date,
    with_positions: bool,
) -> list[PortfolioResult | None]:
    """The optimal (or relaxed) ``PortfolioResult`` of each portfolio, built from integer columns.

    ``adjusted``: u' per model security (rows = ``preps``) from the default route; ``answers``: trade-controls
    answers with quantities (model securities, then the extras) instead. None where a portfolio goes to the
    per-position reference (``engine.rebalance._build_result``), which the caller then calls.
    """
    out: list[PortfolioResult | None] = [None] * len(preps)
    if not _ENABLED.get() or not preps:
        return out
    cols = next((p.cols for p in preps if p.cols is not None), None)
    n = len(securities)
    if cols is None or cols.ids[:n] != [s.security_id for s in securities] or not cols.p_ok[:n].all():
        return out
    t_ok, t_mant, t_scale = plain_columns([str(s.target) for s in securities])
    if not t_ok.all():
        return out
    pick = [j for j, p in enumerate(preps) if p.cols is cols and p.market_value > 0]
    up_obj_list: list[Decimal] | None = None
    if answers is not None:
        pick = [j for j in pick if answers[j].quantities is not None]
        pick = [j for j in pick if len(answers[j].quantities or ()) == n + len(preps[j].extras)]
        up_obj_list = list(chain.from_iterable(answers[j].quantities or () for j in pick))
    if not pick:
        return out
    chosen = [preps[j] for j in pick]
    k_n = len(chosen)
    slots = np.array([p.slot for p in chosen], dtype=np.int64)
    lo = cols.start[slots]
    cnt = cols.start[slots + 1] - lo
    r_total = int(cnt.sum())
    r_k = np.repeat(np.arange(k_n), cnt)  # chosen portfolio of each holdings row
    rows = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(r_total)
    r_sec = cols.sec[rows]
    in_model = r_sec < n
    n_extra = np.bincount(r_k[~in_model], minlength=k_n)
    n_cells = n + n_extra
    off = np.zeros(k_n + 1, dtype=np.int64)
    np.cumsum(n_cells, out=off[1:])
    c_total = int(off[-1])
    cell_k = np.repeat(np.arange(k_n), n_cells)
    local = np.arange(c_total) - off[cell_k]
    is_model = local < n
    # each holdings row's cell: a model security at its model column, an extra after the model in held order
    extra_rows = np.nonzero(~in_model)[0]
    first_extra = np.cumsum(n_extra) - n_extra
    row_cell = off[r_k] + r_sec
    row_cell[extra_rows] = off[r_k[extra_rows]] + n + np.arange(extra_rows.size) - first_extra[r_k[extra_rows]]
    cell_sec = np.where(is_model, local, 0)
    cell_sec[row_cell[extra_rows]] = r_sec[extra_rows]
    u_m = np.zeros(c_total, dtype=np.int64)
    u_s = np.zeros(c_total, dtype=np.int64)
    u_obj = np.full(c_total, ZERO, dtype=object)
    u_m[row_cell] = cols.mant[rows]
    u_s[row_cell] = cols.scale[rows]
    u_obj[row_cell] = cols.obj[rows]
    bad = np.zeros(k_n, dtype=bool)
    # u': the solver's integers, 0 for the extras (sold); or the answer's quantities as given
    up_m = np.zeros(c_total, dtype=np.int64)
    up_s = np.zeros(c_total, dtype=np.int64)
    if up_obj_list is None:
        assert adjusted is not None
        model_up = np.asarray(adjusted, dtype=np.int64)[pick].reshape(-1)
        up_m[is_model] = model_up
        up_obj = np.full(c_total, ZERO, dtype=object)
        up_obj[is_model] = _decimals(model_up, 0)
    else:
        ok, up_m, up_s = plain_columns(list(map(str, up_obj_list)))
        bad[cell_k[~ok]] = True
        up_obj = np.empty(c_total, dtype=object)
        up_obj[:] = up_obj_list
    p_m = cols.p_mant[cell_sec]
    p_s = cols.p_scale[cell_sec]
    p_obj = cols.p_obj[cell_sec]
    model_col = np.where(is_model, local, n)  # an extra reads column n: weights 0
    t_m = np.append(t_mant, 0)[model_col]
    t_s = np.append(t_scale, 0)[model_col]
    mills = np.array([mills_of(p.market_value) for p in chosen], dtype=np.int64)
    m_c = mills[cell_k]

    # --- float guards: every int64 product and sum below stays under LIMIT (else the reference takes it)
    def over(estimate: np.ndarray) -> None:
        bad[cell_k[estimate > LIMIT]] = True

    def sum_over(estimate: np.ndarray) -> None:
        bad[np.bincount(cell_k, weights=estimate, minlength=k_n) > LIMIT] = True

    a_s = p_s + up_s  # adjusted value p·u'
    o_s = p_s + u_s  # original value p·u
    tv_s = 3 + t_s  # target value MV·t
    over(_f(p_m) * _f(up_m))
    over(_f(m_c) * _f(t_m))
    scale_after = np.zeros(k_n, dtype=np.int64)
    np.maximum.at(scale_after, cell_k, np.maximum(tv_s, a_s))
    scale_before = np.zeros(k_n, dtype=np.int64)
    np.maximum.at(scale_before, cell_k, np.maximum(tv_s, o_s))
    scale_spend = np.zeros(k_n, dtype=np.int64)
    np.maximum.at(scale_spend, cell_k, a_s)
    scale_cash = np.maximum(3, scale_spend)
    adj_f = _f(p_m) * _f(up_m)
    orig_f = _f(p_m) * _f(u_m)
    tv_f = _f(m_c) * _f(t_m)
    sa, sb, ss = scale_after[cell_k], scale_before[cell_k], scale_spend[cell_k]
    sum_over(tv_f * 10.0 ** (sa - tv_s) + adj_f * 10.0 ** (sa - a_s))
    sum_over(tv_f * 10.0 ** (sb - tv_s) + orig_f * 10.0 ** (sb - o_s))
    sum_over(adj_f * 10.0 ** (ss - a_s) * 10.0 ** (scale_cash[cell_k] - ss))
    bad |= _f(mills) * 10.0 ** (scale_cash - 3) > LIMIT
    # actual in basis points: half-up of adj / MV x 1e4 = N / D, N = |adj|·10**(7 - a_s) or D = M·10**(a_s - 7)
    n_up = np.maximum(0, 7 - a_s)
    d_up = np.maximum(0, a_s - 7)
    over(adj_f * 10.0**n_up * 2 + _f(m_c) * 10.0**d_up)
    over(_f(m_c) * 10.0**d_up * 2)
    # delta u' − u on the finer of the two scales
    d_s = np.maximum(up_s, u_s)
    over(_f(up_m) * 10.0 ** (d_s - up_s) + _f(u_m) * 10.0 ** (d_s - u_s))
    good = ~bad[cell_k]
    up_z = np.where(good, up_m, 0)
    u_z = np.where(good, u_m, 0)
    m_z = np.where(good, m_c, 0)
    adj = p_m * up_z
    orig = p_m * u_z
    tv = m_z * t_m
    drift_after = np.zeros(k_n, dtype=np.int64)
    np.add.at(drift_after, cell_k, np.abs(_at_scale(tv, tv_s, sa) - _at_scale(adj, a_s, sa)))
    drift_before = np.zeros(k_n, dtype=np.int64)
    np.add.at(drift_before, cell_k, np.abs(_at_scale(tv, tv_s, sb) - _at_scale(orig, o_s, sb)))
    spend = np.zeros(k_n, dtype=np.int64)
    np.add.at(spend, cell_k, _at_scale(adj, a_s, ss))
    cash_after = _at_scale(np.where(bad, 0, mills), np.full(k_n, 3), scale_cash) - _at_scale(
        spend, scale_spend, scale_cash
    )
    num = np.abs(adj) * _pow10(n_up)
    den = np.where(good, m_c, 1) * _pow10(d_up)
    bp_mag, rem = np.divmod(2 * num + den, 2 * den)
    # RATIO.divide rounds the ratio to 28 digits before the half-up to 4 places: a ratio just below a half
    # basis point can round up to it. Those (rare) cells are computed as the reference does.
    near = (rem > 0) & ((2 * den - rem).astype(np.float64) <= NEAR_HALF * np.maximum(2.0 * den, 2.0 * num))
    negative = adj < 0
    bp = np.where(negative, -bp_mag, bp_mag)
    bp_obj = _decimals(bp, 4)
    bp_obj[negative & (bp_mag == 0)] = _NEGATIVE_ZERO_BP
    delta = _at_scale(up_z, up_s, d_s) - _at_scale(u_z, u_s, d_s)
    # --- the Decimal fields, per column
    mv_c = np.array([p.market_value for p in chosen] + [ZERO], dtype=object)[:-1][cell_k]
    adj_value: list[Decimal] | None = None
    if with_positions or near.any():
        adj_value = list(map(MONEY.multiply, p_obj.tolist(), up_obj.tolist()))
    for c in np.nonzero(near & good)[0].tolist():
        assert adj_value is not None
        bp_obj[c] = RATIO.divide(adj_value[c], mv_c[c]).quantize(BASIS, ROUND_HALF_UP, RATIO)
    trading = (delta != 0) & good
    qty_obj = np.full(c_total, None, dtype=object)
    kind = np.full(c_total, None, dtype=object)
    t_cells = np.nonzero(trading)[0]
    if t_cells.size:
        mags = np.abs(delta[t_cells])
        scales = d_s[t_cells]
        for scale in np.unique(scales).tolist():  # whole shares: one scale, one object per distinct quantity
            at = scales == scale
            qty_obj[t_cells[at]] = _decimals(mags[at], scale)
        kind[t_cells] = ["BUY" if d > 0 else "SELL" for d in delta[t_cells].tolist()]
    ids = cols.ids
    sid_c = [ids[i] for i in cell_sec.tolist()]
    target_c = np.array([*(s.target for s in securities), ZERO], dtype=object)[model_col]
    high_c = np.array([*(s.high_drift for s in securities), ZERO], dtype=object)[model_col]
    low_c = np.array([*(s.low_drift for s in securities), ZERO], dtype=object)[model_col]
    kept: list[object] | None = None
    if answers is not None and all(answers[j].kept_by for j in pick):
        kept = list(chain.from_iterable(answers[j].kept_by for j in pick))
        if len(kept) != c_total:
            return out
    elif answers is not None and any(answers[j].kept_by for j in pick):
        return out  # some with kept_by, some without: the reference (never happens: one route, one shape)
    u_l, up_l, bp_l = u_obj.tolist(), up_obj.tolist(), bp_obj.tolist()
    t_l, hi_l, lo_l = target_c.tolist(), high_c.tolist(), low_c.tolist()
    # the states in the reference's key order: a DriftRow without kept_by gets the default first, as its builder
    # does (a key repeated in a dict literal keeps its first place), one with kept_by gets it last; the instance
    # dicts, and so the reprs, are the reference's
    lead = {"kept_by": None} if kept is None else {}
    drifts = make_drift_rows(
        [
            {
                **lead,
                "security_id": s,
                "original_quantity": u,
                "adjusted_quantity": up,
                "target": t,
                "high_drift": hi,
                "low_drift": lo,
                "actual": a,
                "kept_by": kb,
            }
            for s, u, up, t, hi, lo, a, kb in zip(
                sid_c, u_l, up_l, t_l, hi_l, lo_l, bp_l, [None] * c_total if kept is None else kept, strict=True
            )
        ]
    )
    kind_l, qty_l = kind.tolist(), qty_obj.tolist()
    transactions = make_transactions(
        [
            {"transaction_type": kind_l[c], "security_id": sid_c[c], "quantity": qty_l[c], "trade_date": trade_date}
            for c in t_cells.tolist()
        ]
    )
    trade_bounds = np.searchsorted(t_cells, off).tolist()
    positions: list[RecordPosition] = []
    if with_positions:
        assert adj_value is not None
        orig_value = list(map(MONEY.multiply, p_obj.tolist(), u_l))
        actual = list(map(RATIO.divide, adj_value, mv_c.tolist()))
        # 1 − actual/target where the target is not 0, else 0 (as the reference): two C-level passes
        drift_rel = np.full(c_total, ZERO, dtype=object)
        with_target = np.nonzero(t_m != 0)[0]
        if with_target.size:
            ratios = map(
                RATIO.divide, np.array(actual, dtype=object)[with_target].tolist(), target_c[with_target].tolist()
            )
            drift_rel[with_target] = list(map(RATIO.subtract, repeat(ONE, with_target.size), ratios))
        states = [
            {
                "security_id": s,
                "price": p,
                "original_quantity": u,
                "adjusted_quantity": up,
                "original_position_market_value": ov,
                "adjusted_position_market_value": av,
                "target": t,
                "high_drift": hi,
                "low_drift": lo,
                "actual": a,
                "actual_drift": ad,
                "transaction_type": kd,
                "trade_quantity": q,
                "trade_date": trade_date if kd else None,
            }
            for s, p, u, up, ov, av, t, hi, lo, a, ad, kd, q in zip(
                sid_c,
                p_obj.tolist(),
                u_l,
                up_l,
                orig_value,
                adj_value,
                t_l,
                hi_l,
                lo_l,
                actual,
                drift_rel.tolist(),
                kind_l,
                qty_l,
                strict=True,
            )
        ]
        positions = make_record_positions(states)
    ids_obj = np.array([*ids, ""], dtype=object)[:-1]
    orders = OrderBlock(
        security_id=ids_obj[cell_sec[t_cells]],
        side=kind[t_cells],
        quantity=qty_obj[t_cells],
        q_mant=np.abs(delta[t_cells]),
        q_scale=d_s[t_cells],
        price=p_obj[t_cells],
        p_mant=p_m[t_cells],
        p_scale=p_s[t_cells],
        position=np.fromiter(positions, dtype=object, count=c_total)[t_cells] if with_positions else None,
        trade_date=trade_date,
    )
    off_l = off.tolist()
    bad_l = bad.tolist()
    sa_l, sb_l, sc_l = scale_after.tolist(), scale_before.tolist(), scale_cash.tolist()
    da_l, db_l, ca_l = drift_after.tolist(), drift_before.tolist(), cash_after.tolist()
    for i, (j, prep) in enumerate(zip(pick, chosen, strict=True)):
        if bad_l[i]:
            continue
        a, b = off_l[i], off_l[i + 1]
        answer = answers[j] if answers is not None else None
        p = prep.portfolio
        result = out[j] = PortfolioResult(
            portfolio_id=p.portfolio_id,
            portfolio_name=p.name,
            status=answer.status if answer is not None else "optimal",
            market_value=prep.market_value,
            cash_before=p.cash,
            cash_after=_decimal_of(ca_l[i], sc_l[i]),
            band_breaches=answer.breaches if answer is not None else (),
            portfolio_drift=_decimal_of(da_l[i], sa_l[i]),
            drift_before=_decimal_of(db_l[i], sb_l[i]),
            transactions=tuple(transactions[trade_bounds[i] : trade_bounds[i + 1]]),
            drifts=tuple(drifts[a:b]),
            positions=tuple(positions[a:b]),
        )
        _register(result, orders, trade_bounds[i], trade_bounds[i + 1])
    return out


def _decimals(values: np.ndarray, scale: int) -> np.ndarray:
    """Each integer as the Decimal ``value`` x 10**-scale (exponent -scale), one object per distinct value.

    Decimals are immutable, so rows share them; in Python 3.13 each is tracked by the garbage collector, so fewer
    objects also make the collection after a run shorter.
    """
    if not values.size:
        return np.empty(0, dtype=object)
    keys = np.array(sorted(set(values.tolist())), dtype=np.int64)
    objs = np.array([_decimal_of(k, scale) for k in keys.tolist()] + [ZERO], dtype=object)[:-1]
    return objs[np.searchsorted(keys, values)]
