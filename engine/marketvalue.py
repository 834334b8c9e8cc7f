"""Market value of a portfolio (product-spec 2.2, supplement 1).

MV = C + Σ u·p over the holdings with a non-zero quantity, each u·p rounded to 0.001 and MV quantised to
0.001, both ROUND_HALF_UP. A held security without a positive price is an error, never skipped; a number
outside the supported range (:mod:`engine.limits`) is an ``InvalidInput``, never an arithmetic exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from engine.errors import ExternalDataError
from engine.exactmath import MILL, MONEY, WIDE
from engine.limits import check_market_value_inputs, check_range
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
