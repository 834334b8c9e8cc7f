"""Market value of a portfolio (product-spec 2.2, supplement 1).

MV = C + Σ u·p over the holdings with a non-zero quantity, each u·p rounded to 0.001 and MV quantised to
0.001, both ROUND_HALF_UP. A held security without a positive price is an error, never skipped; a number
outside the supported range (:mod:`engine.limits`) is an ``InvalidInput``, never an arithmetic exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from engine.errors import ExternalDataError
from engine.exactmath import MILL, MONEY, WIDE
from engine.limits import check_market_value_inputs, check_range, fits_range
from engine.models import Holding

HoldingsLike = Iterable[Holding] | Mapping[str, Decimal]


def holding_map(holdings: HoldingsLike, portfolio_id: str | None = None) -> dict[str, Decimal]:
    """The held quantities by security id (H of 2.1): zero quantities dropped, duplicates rejected."""
    if isinstance(holdings, Mapping):
        return {sid: q for sid, q in holdings.items() if q != 0}
    out: dict[str, Decimal] = {}
    for h in holdings:
        if h.security_id in out:
            raise ExternalDataError(
                f"security {h.security_id} appears more than once in the holdings of portfolio {portfolio_id}",
                {"portfolioId": portfolio_id, "securityId": h.security_id},
            )
        out[h.security_id] = h.quantity
    return {sid: q for sid, q in out.items() if q != 0}


def require_price(prices: Mapping[str, Decimal], security_id: str, portfolio_id: str | None = None) -> Decimal:
    """The price of a security, or ``ExternalDataError`` when it is missing or not positive."""
    price = prices.get(security_id)
    if price is None:
        raise ExternalDataError(
            f"no price for security {security_id}" + (f" (portfolio {portfolio_id})" if portfolio_id else ""),
            {"securityId": security_id, "portfolioId": portfolio_id},
        )
    if not (price.is_finite() and price > 0):  # NaN is never compared (that would raise)
        raise ExternalDataError(
            f"price {price} of security {security_id} is not positive"
            + (f" (portfolio {portfolio_id})" if portfolio_id else ""),
            {"securityId": security_id, "portfolioId": portfolio_id, "price": str(price)},
        )
    return price


def position_value(quantity: Decimal, price: Decimal) -> Decimal:
    """u·p rounded to 0.001 half-up (supplement 1)."""
    return MONEY.multiply(quantity, price).quantize(MILL, rounding=ROUND_HALF_UP, context=WIDE)


def market_value(
    cash: Decimal, holdings: HoldingsLike, prices: Mapping[str, Decimal], portfolio_id: str | None = None
) -> Decimal:
    """MV = C + Σ round(u·p, 0.001), quantised to 0.001 half-up.

    Raises ``ExternalDataError`` on a missing or non-positive price, ``InvalidInput`` on a number outside the
    supported range (the sum of in-range values too: MV must fit the solver's integer mills).
    """
    held = holding_map(holdings, portfolio_id)
    for sid in held:
        require_price(prices, sid, portfolio_id)
    check_market_value_inputs(cash, held, prices, portfolio_id)
    total = cash
    for sid, qty in held.items():
        total = MONEY.add(total, position_value(qty, prices[sid]))
    mv = total.quantize(MILL, rounding=ROUND_HALF_UP, context=WIDE)
    where = f" of portfolio {portfolio_id}" if portfolio_id else ""
    return check_range(mv, f"market value{where}", "money", {"portfolioId": portfolio_id})


_LIMIT = float(2**61)  # float estimates above this may not fit int64 exactly (as engine.fastsolve.LIMIT)


def _half_up(values: np.ndarray, places: np.ndarray) -> np.ndarray:
    """values / 10**places rounded half away from zero (Decimal ROUND_HALF_UP), exact on int64."""
    divisor = 10**places
    magnitude = (np.abs(values) + divisor // 2) // divisor
    return np.where(values < 0, -magnitude, magnitude)


def market_value_mills(
    g: np.ndarray,
    k: int,
    q_mant: np.ndarray,
    q_scale: np.ndarray,
    p_mant: np.ndarray,
    p_scale: np.ndarray,
    c_mant: np.ndarray,
    c_scale: np.ndarray,
    ok: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`market_value` of ``k`` portfolios at once in integer mills, exact: (mills, ok).

    Holdings rows: portfolio ``g``, quantity ``q_mant / 10**q_scale`` at price ``p_mant / 10**p_scale``; cash
    per portfolio likewise. ``ok`` marks the portfolios to compute (the others are left at 0). A portfolio whose
    position value u·p is not inside the range (:func:`engine.limits.fits_range`), whose sums could leave
    int64 (float guards), whose MV is not below 1e15 or would be a negative zero comes back not ok: the per-value
    :func:`market_value` then raises its typed error, or computes it.
    """
    ok = ok.copy()
    value_f = np.abs(q_mant.astype(np.float64)) * p_mant.astype(np.float64)
    ok[g[value_f > _LIMIT]] = False
    live = ok[g]
    value = np.where(live, q_mant, 0) * np.where(live, p_mant, 0)
    v_scale = q_scale + p_scale
    ok[g[~fits_range(value, v_scale, "derived money")]] = False  # |u·p| < 1e15
    # each u·p rounded to 0.001 half-up (supplement 1)
    up_to = np.maximum(0, 3 - v_scale)
    ok[g[value_f * 10.0**up_to > _LIMIT]] = False
    live = ok[g]
    value = np.where(live, value, 0)
    pos_mills = np.where(v_scale >= 3, _half_up(value, np.maximum(0, v_scale - 3)), value * 10**up_to)
    ok[np.bincount(g, weights=np.abs(pos_mills.astype(np.float64)), minlength=k) > _LIMIT] = False
    pos_mills = np.where(ok[g], pos_mills, 0)
    sums = np.zeros(k, dtype=np.int64)
    np.add.at(sums, g, pos_mills)
    # C + Σ on the finer of the two scales, then quantised to 0.001 half-up
    t_scale = np.maximum(3, c_scale)
    estimate = np.abs(c_mant.astype(np.float64)) * 10.0 ** (t_scale - c_scale) + np.abs(
        sums.astype(np.float64)
    ) * 10.0 ** (t_scale - 3)
    ok &= estimate <= _LIMIT
    cash = np.where(ok, c_mant, 0)
    sums = np.where(ok, sums, 0)
    total = cash * 10 ** (t_scale - c_scale) + sums * 10 ** (t_scale - 3)
    mills = _half_up(total, t_scale - 3)
    ok &= np.abs(mills) < 10**18  # |MV| < 1e15
    ok &= (mills != 0) | (total >= 0)  # a negative total rounding to zero is -0.000: the Decimal path
    return np.where(ok, mills, 0), ok
