"""The engine's supported numeric range, checked at its boundary (issue 9 item 3).

Every number that enters a run is checked here before any arithmetic, so one out-of-range value fails only
the portfolio that holds it (or the run, for shared data such as a model price or the cash floor) with an
``InvalidInput`` that names the field and a shortened value. Inside the range every computation is exact:

- money entered (cash, minimum cash): |x| < 1e15, at most 8 decimals; money derived from in-range numbers
  (market value, each position value u·p, a cash floor computed as a fraction of MV): |x| < 1e15. MV in
  integer mills then stays below 1e18 < 2**63 (the solver's int64 arrays), with 9x headroom.
- prices: 0 < p < 1e15, at most 8 decimals (the pricing database stores ``decimal(18,8)``).
- quantities: |u| <= 1e12, at most 8 decimals (the order service's quantity scale is 1e-8).
- weights (target, lowDrift, highDrift): |w| < 1000, at most 12 decimals; the model rules bound them further
  (target 0..0.95, drifts 0..1) with their own messages, which stay short inside this range.
- every number entered: at most 32 digits, trailing zeros included (they do not count as decimals).
- the solver time limit: 0 < seconds <= 86,400 (HiGHS and thread timeouts fail on huge values).

Products of such numbers have at most 64 significant digits, far inside the 120 digits of the exact money
context (:data:`engine.exactmath.MONEY`), so no money operation ever rounds or overflows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import InvalidInput
from engine.exactmath import MONEY

if TYPE_CHECKING:  # type hints only: `engine solve`'s fast path uses these rules without pydantic (start-up)
    from engine.models import Position

MAX_MONEY = Decimal(10) ** 15  # exclusive
MAX_QUANTITY = Decimal(10) ** 12  # inclusive
MAX_PLACES = 8  # prices, quantities, money
MAX_DERIVED_PLACES = 24  # money computed from other in-range numbers (a cash floor as a fraction of MV)
MAX_WEIGHT_PLACES = 12  # target, lowDrift, highDrift
MAX_WEIGHT = Decimal(1000)  # exclusive; the model rules then name any value above 0.95 or 1 in a short message
MAX_TIME_LIMIT = 86_400.0  # seconds per MILP; HiGHS and thread timeouts fail on huge values (1e12: time_t overflow)
MAX_DIGITS = 32  # the coefficient, trailing zeros included: products stay far inside the 120-digit context
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


def _places(value: Decimal, limit: int) -> int:
    """Decimal places of a finite ``value`` when above ``limit``, else 0 (the common case costs one look)."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite values only
    if exponent >= -limit or not any(digits):
        return 0
    # trailing zeros do not count: 1.50000000000 has 1 decimal place
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    places = -exponent - trailing
    return places if places > limit else 0


def _fail(field: str, value: Decimal, rule: str, details: dict[str, str] | None = None) -> InvalidInput:
    return InvalidInput(
        f"{field} ({shorten(value)}) is outside the supported range: {rule}",
        {"field": field, "value": shorten(value), "rule": rule, **(details or {})},
    )


def range_error(value: Decimal, field: str, kind: str, details: dict[str, str] | None = None) -> InvalidInput | None:
    """The error for ``value`` outside the supported range of ``kind``, or None.

    ``kind``: money | derived money (money with up to 24 decimals) | price | quantity | weight.

    ``field`` names the value in the message (``cash of portfolio P1``); ``details`` are added to the error's.
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        return _fail(field, Decimal("NaN") if not isinstance(value, Decimal) else value, "not a finite number", details)
    if kind == "weight":
        if places := _places(value, MAX_WEIGHT_PLACES):
            return _fail(field, value, f"at most {MAX_WEIGHT_PLACES} decimal places (it has {places})", details)
        if value.copy_abs() >= MAX_WEIGHT:
            return _fail(field, value, "|weight| must be below 1000", details)
        if (digits := len(value.as_tuple().digits)) > MAX_DIGITS:
            return _fail(field, value, f"at most {MAX_DIGITS} digits (it has {digits})", details)
        return None
    limit = MAX_DERIVED_PLACES if kind == "derived money" else MAX_PLACES
    if places := _places(value, limit):
        return _fail(field, value, f"at most {limit} decimal places (it has {places})", details)
    if (digits := len(value.as_tuple().digits)) > MAX_DIGITS and kind != "derived money":
        return _fail(field, value, f"at most {MAX_DIGITS} digits (it has {digits})", details)
    if kind == "quantity":
        if value.copy_abs() > MAX_QUANTITY:
            return _fail(field, value, "|quantity| must be at most 1e12", details)
    elif value.copy_abs() >= MAX_MONEY:
        return _fail(field, value, f"|{kind.split()[-1]}| must be below 1e15", details)
    return None


def check_range(value: Decimal, field: str, kind: str, details: dict[str, str] | None = None) -> Decimal:
    """Return ``value`` or raise the ``InvalidInput`` of :func:`range_error`."""
    err = range_error(value, field, kind, details)
    if err is not None:
        raise err
    return value


def fits_range(mant: np.ndarray, scale: np.ndarray, kind: str) -> np.ndarray:
    """Vectorised :func:`range_error` of exact scaled integers (value = mant / 10**scale, scale >= 0): True where
    the value is certainly inside the range of ``kind`` (money | derived money | price | quantity).

    Conservative: False sends a value to :func:`range_error` (the per-value check names the field and rule). A
    mantissa has at most 19 digits, far below ``MAX_DIGITS``; places are counted with trailing zeros.
    """
    if kind == "quantity":
        places, bound, inclusive = MAX_PLACES, 12, True
    else:
        places, bound, inclusive = (MAX_DERIVED_PLACES if kind == "derived money" else MAX_PLACES), 15, False
    exponent = bound + scale  # |mant| against 10**exponent; from 10**19 on, every int64 is inside
    limit = 10 ** np.clip(exponent, 0, 18)
    magnitude = np.abs(mant)
    inside = magnitude <= limit if inclusive else magnitude < limit
    return (scale >= 0) & (scale <= places) & ((exponent >= 19) | inside)


def _of(portfolio_id: str | None) -> str:
    return f" of portfolio {portfolio_id}" if portfolio_id else ""


def _in(portfolio_id: str | None) -> str:
    return f" in portfolio {portfolio_id}" if portfolio_id else ""


def _fits(value: Decimal, bound: Decimal, inclusive: bool = False) -> bool:
    """Fast path of the common case: a finite decimal with at most 8 places inside ±bound."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent < -MAX_PLACES or len(digits) > MAX_DIGITS:
        return False
    return -bound <= value <= bound if inclusive else -bound < value < bound


def check_market_value_inputs(
    cash: Decimal, held: Mapping[str, Decimal], prices: Mapping[str, Decimal], portfolio_id: str | None
) -> None:
    """Cash, quantities, prices and position values u·p of one market value inside the range (prices must exist).

    Field names are built only for a value that fails the fast check (this runs for every holding of a run).
    """
    pid = portfolio_id
    if not _fits(cash, MAX_MONEY):
        check_range(cash, f"cash{_of(pid)}", "money", {"portfolioId": pid})
    for sid, qty in held.items():
        price = prices[sid]
        if (
            _fits(qty, MAX_QUANTITY, True)
            and _fits(price, MAX_MONEY)
            and -MAX_MONEY < MONEY.multiply(qty, price) < MAX_MONEY  # exact: both factors have few digits here
        ):
            continue
        ids = {"portfolioId": pid, "securityId": sid}
        check_range(qty, f"quantity of security {sid}{_in(pid)}", "quantity", ids)
        check_range(price, f"price of security {sid}", "price", ids)
        value = MONEY.multiply(qty, price)
        check_range(value, f"value of security {sid}{_in(pid)} (quantity × price)", "derived money", ids)


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
