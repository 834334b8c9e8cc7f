"""Exact arithmetic for money: Decimal contexts, scaled integers and float-filtered exact predicates.

The solver works on float64 matrices for speed, but every decision that matters (a floor, a ceiling,
a band comparison, the cash floor) is made exactly: a float result is trusted only when it is farther
from the decision boundary than a proven error bound; the few elements close to a boundary are
recomputed with Python integers or Decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

import numpy as np

# Sums and products of money never round: Inexact is trapped, so a silent rounding would raise.
MONEY = Context(prec=120, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
# The context the engine's entry points run in, so operator arithmetic never depends on the caller's
# context: wide enough for every product of in-range numbers (engine.limits), rounding never trapped.
WIDE = Context(prec=120, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
# Ratios (weights, actual, relative drift) are rounded to 28 significant digits, Decimal's default.
RATIO = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])

ZERO = Decimal(0)
ONE = Decimal(1)
MILL = Decimal("0.001")
BASIS = Decimal("0.0001")

# Float results are trusted only this far (relative) from a decision boundary. The proven error of the
# few float operations used is below 1e-15 relative, so 1e-11 leaves a margin of four orders of magnitude.
REL_TOL = 1e-11
# Quantities whose float estimate exceeds this are outside the exactly representable range of float64.
MAX_EXACT = float(2**50)


def decimals_of(value: Decimal) -> int:
    """Number of decimal places of a finite Decimal (0 for integers, including 1E+3)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent if exponent < 0 else 0


def to_scaled_int(value: Decimal, places: int) -> int:
    """``value * 10**places`` as an int; raises ValueError when that is not an integer."""
    scaled = value.scaleb(places, MONEY)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {places} decimal places")
    return int(scaled)


def scaled_ints(values: Sequence[Decimal], min_places: int = 0) -> tuple[list[int], int]:
    """Represent decimals over one power of ten: returns (integers, places) with value = int / 10**places."""
    places = max([min_places, *(decimals_of(v) for v in values)])
    return [to_scaled_int(v, places) for v in values], places


def mills_of(value: Decimal) -> int:
    """A market value quantised to 0.001 as an integer number of mills."""
    return to_scaled_int(value, 3)


def exact_floor(
    x: np.ndarray,
    mills: Sequence[int],
    num: Sequence[int],
    den: Sequence[int],
    row_bound: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``floor(mills[k] * num[i] / den[i])`` for a K x N matrix, given its float estimate ``x``.

    ``den`` must be positive. Returns the floors (int64) and a mask of the elements whose ratio is an
    exact integer. Elements farther than the error bound from an integer keep their float floor (which
    is then provably exact); the others are recomputed with Python integers. ``row_bound`` (K,) may give
    an upper bound of ``|x|`` per row (saves a pass); the tolerance of a row grows with it.
    """
    if row_bound is None:
        row_bound = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(x.shape[0])
    tol = (REL_TOL * (row_bound + 1.0))[:, None]
    floors_f = np.floor(x)
    frac = x - floors_f  # in [0, 1)
    near = (frac <= tol) | (frac >= 1.0 - tol)
    floors = floors_f.astype(np.int64)
    is_int = np.zeros(x.shape, dtype=bool)
    ks, cols = np.nonzero(near)
    for k, i in zip(ks.tolist(), cols.tolist(), strict=True):
        q, rem = divmod(mills[k] * num[i], den[i])
        floors[k, i] = q
        is_int[k, i] = rem == 0
    return floors, is_int


def exact_ceil(
    x: np.ndarray,
    mills: Sequence[int],
    num: Sequence[int],
    den: Sequence[int],
    row_bound: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``ceil(mills[k] * num[i] / den[i])``; same contract as :func:`exact_floor`."""
    floors, is_int = exact_floor(-x, mills, [-n for n in num], den, row_bound)
    return -floors, is_int


def certain_sign(diff: np.ndarray, magnitude: np.ndarray, rel_tol: float = REL_TOL) -> np.ndarray:
    """Sign of an exact quantity from its float estimate: +1 / -1 where certain, 0 where too close to call.

    ``magnitude`` bounds the absolute size of the terms that were combined into ``diff``; the float error
    is proportional to it.
    """
    margin = rel_tol * magnitude
    return np.where(diff > margin, 1, np.where(diff < -margin, -1, 0)).astype(np.int8)


def sum_tolerance(n_terms: int) -> float:
    """Relative error bound (with a wide margin) of a float dot product of ``n_terms`` terms."""
    return max(REL_TOL, 16.0 * (n_terms + 2) * np.finfo(np.float64).eps)


def fmt_money(value: Decimal) -> str:
    """Money for messages: thousands separators and 2 decimals (exact value rounded half-up)."""
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP, context=RATIO):,}"


def plain(value: Decimal) -> str:
    """A Decimal as plain text without exponent notation (``1E+3`` becomes ``1000``)."""
    return format(value, "f")


# 10**k as float64, exact for k <= 22 (every power of ten up to 1e22 is a double)
_P10_FLOAT = np.array([float(10**k) for k in range(23)])
_P10_INT = np.array([10**k for k in range(19)], dtype=np.int64)
_SAFE_FLOAT = 2**53  # integers below this are exact doubles


def scaled_floats(mant: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, ok): ``float(Decimal(mant).scaleb(-scale))`` where ``ok`` (|mant| < 2**53, 0 <= scale <= 22).

    Both operands are exact doubles there, so the one IEEE division is correctly rounded, as ``float`` of the
    Decimal is; elsewhere the value is 0 and the caller converts the Decimal.
    """
    ok = (np.abs(mant) < _SAFE_FLOAT) & (scale >= 0) & (scale <= 22)
    safe_scale = np.where(ok, scale, 0)
    return np.where(ok, mant, 0).astype(np.float64) / _P10_FLOAT[safe_scale], ok


def scaled_texts(mant: np.ndarray, scale: np.ndarray) -> list[str]:
    """Plain decimal texts of ``mant`` / 10**``scale`` (mant >= 0, 0 <= scale <= 18), trailing zeros kept, as
    ``format(Decimal, "f")`` writes them (``1250``, 2 -> ``12.50``; 5, 3 -> ``0.005``)."""
    out = list(map(str, mant.tolist()))
    for s in np.unique(scale[scale > 0]).tolist():  # per number of places: whole part, "." and padded fraction
        at = np.nonzero(scale == s)[0]
        whole, part = np.divmod(mant[at], _P10_INT[s])
        texts = map(".".join, zip(map(str, whole.tolist()), map(f"{{:0{s}d}}".format, part.tolist()), strict=True))
        for i, text in zip(at.tolist(), texts, strict=True):
            out[i] = text
    return out


def half_up_units(mant: np.ndarray, scale: np.ndarray, places: int) -> tuple[np.ndarray, np.ndarray]:
    """(units, ok): ``mant`` / 10**``scale`` rounded half-up to ``places`` decimals, in units of 10**-places
    (mant >= 0), where ``ok``: no int64 overflow (``scale - places`` <= 18; at most ``places - scale`` <= 18 digits
    added to a mantissa below 10**(18 - that))."""
    down = scale - places
    up = np.clip(-down, 0, 18)
    ok = (mant >= 0) & (down <= 18) & (-down <= 18) & (mant < _P10_INT[18 - up])
    d = _P10_INT[np.clip(down, 0, 18)]
    m = np.where(ok, mant, 0)
    rounded = np.where(down > 0, (m + d // 2) // d, m * _P10_INT[up])
    return rounded, ok
