"""The engine's supported numeric range, checked at its boundary (issue 9 item 3).

Every number that enters a run is checked here before any arithmetic, so one out-of-range value fails only
the portfolio that holds it (or the run, for shared data such as a model price or the cash floor) with an
``InvalidInput`` that names the field and a shortened value. Inside the range every computation is exact:

- money (cash, minimum cash, market value, each position value u·p): |x| < 1e15, at most 8 decimals.
  MV in integer mills then stays below 1e18 < 2**63 (the solver's int64 arrays), with 9x headroom.
- prices: 0 < p < 1e15, at most 8 decimals (the pricing database stores ``decimal(18,8)``).
- quantities: |u| <= 1e12, at most 8 decimals (the order service's quantity scale is 1e-8).
- weights (target, lowDrift, highDrift): at most 12 decimals; their values are bounded by the model rules.

Products of such numbers have at most about 50 significant digits, far inside the 120 digits of the exact
money context (:data:`engine.exactmath.MONEY`), so no money operation ever rounds or overflows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from engine.errors import InvalidInput
from engine.exactmath import MONEY
from engine.models import PortfolioHoldings, Position

MAX_MONEY = Decimal(10) ** 15  # exclusive
MAX_QUANTITY = Decimal(10) ** 12  # inclusive
MAX_PLACES = 8  # prices, quantities, money
MAX_WEIGHT_PLACES = 12  # target, lowDrift, highDrift
SHORT_CHARS = 24  # longer numbers are shown in scientific notation


def shorten(value: Decimal) -> str:
    """A number for a message: plain when short, else cut to 20 characters with "…", or in scientific notation.

    Never builds the full digits of a huge exponent (``1e999999999999999999`` stays short).
    """
    if not value.is_finite():
        return str(value)
    if value.is_zero():
        return "0"
    if -SHORT_CHARS < value.adjusted() < SHORT_CHARS and -value.as_tuple().exponent <= 1000:
        text = format(value, "f")
        return text if len(text) <= SHORT_CHARS else text[:20] + "…"
    return f"{value:.6e}"


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only
    digits = value.as_tuple().digits
    if exponent >= 0 or not any(digits):
        return 0
    # trailing zeros do not count: 1.50000000000 has 1 decimal place
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing)


def _fail(field: str, value: Decimal, rule: str, details: dict[str, str] | None = None) -> InvalidInput:
    return InvalidInput(
        f"{field} ({shorten(value)}) is outside the supported range: {rule}",
        {"field": field, "value": shorten(value), "rule": rule, **(details or {})},
    )


def range_error(value: Decimal, field: str, kind: str, details: dict[str, str] | None = None) -> InvalidInput | None:
    """The error for ``value`` outside the supported range of ``kind`` (money | price | quantity | weight), or None.

    ``field`` names the value in the message (``cash of portfolio P1``); ``details`` are added to the error's.
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        return _fail(field, Decimal("NaN") if not isinstance(value, Decimal) else value, "not a finite number", details)
    places = _places(value)
    if kind == "weight":
        if places > MAX_WEIGHT_PLACES:
            return _fail(field, value, f"at most {MAX_WEIGHT_PLACES} decimal places (it has {places})", details)
        return None
    if places > MAX_PLACES:
        return _fail(field, value, f"at most {MAX_PLACES} decimal places (it has {places})", details)
    if kind == "quantity":
        if value.copy_abs() > MAX_QUANTITY:
            return _fail(field, value, "|quantity| must be at most 1e12", details)
    elif value.copy_abs() >= MAX_MONEY:
        return _fail(field, value, f"|{kind}| must be below 1e15", details)
    return None


def check_range(value: Decimal, field: str, kind: str, details: dict[str, str] | None = None) -> Decimal:
    """Return ``value`` or raise the ``InvalidInput`` of :func:`range_error`."""
    err = range_error(value, field, kind, details)
    if err is not None:
        raise err
    return value


def check_portfolio_inputs(portfolio: PortfolioHoldings) -> None:
    """Cash and held quantities of one portfolio inside the supported range, else ``InvalidInput``."""
    pid = portfolio.portfolio_id
    check_range(portfolio.cash, f"cash of portfolio {pid}", "money", {"portfolioId": pid})
    for h in portfolio.holdings:
        check_range(
            h.quantity,
            f"quantity of security {h.security_id} in portfolio {pid}",
            "quantity",
            {"portfolioId": pid, "securityId": h.security_id},
        )


def check_portfolio_values(
    portfolio_id: str, held: Mapping[str, Decimal], prices: Mapping[str, Decimal], market_value: Decimal | None = None
) -> None:
    """Prices, position values u·p and (when given) the market value of one portfolio inside the range."""
    for sid, qty in held.items():
        price = check_range(
            prices[sid], f"price of security {sid}", "price", {"portfolioId": portfolio_id, "securityId": sid}
        )
        check_range(
            MONEY.multiply(qty, price),
            f"value of security {sid} in portfolio {portfolio_id} (quantity × price)",
            "money",
            {"portfolioId": portfolio_id, "securityId": sid},
        )
    if market_value is not None:
        check_range(market_value, f"market value of portfolio {portfolio_id}", "money", {"portfolioId": portfolio_id})


def model_range_error(
    positions: Sequence[Position], prices: Mapping[str, Decimal], min_cash: Decimal | None
) -> InvalidInput | None:
    """The run-wide range error, if any: a model weight, a model security's price, or the cash floor."""
    if min_cash is not None and (err := range_error(min_cash, "minimum cash", "money")) is not None:
        return err
    for p in positions:
        for name, value in (("target", p.target), ("lowDrift", p.low_drift), ("highDrift", p.high_drift)):
            err = range_error(value, f"{name} of security {p.security_id}", "weight", {"securityId": p.security_id})
            if err is not None:
                return err
        price = prices.get(p.security_id)
        if price is not None:
            err = range_error(price, f"price of security {p.security_id}", "price", {"securityId": p.security_id})
            if err is not None:
                return err
    return None


def in_range(value: Decimal | None, kind: str = "money") -> Decimal | None:
    """``value`` when it is inside the supported range (safe to print in full), else None."""
    return value if value is not None and range_error(value, "value", kind) is None else None
