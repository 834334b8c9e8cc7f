"""Exact verification of answers before they leave the engine (product-spec 2.4 item 6).

Checked on the original data, independently of how :mod:`engine.bands` derived the integer bounds, one
step per rule (:data:`SECURITY_RULES`, :data:`PORTFOLIO_RULES`): integrality, u ≥ 0, MV·(t−l) ≤ u·p and
u·p ≤ MV·(t+h) for every security, and Σ u·p ≤ MV − minCash. Float
estimates decide only where they are provably right; anything close to a boundary is decided in
Decimal. No floating tolerance ever lets a violation through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from engine.bands import ModelArrays, market_values_f
from engine.exactmath import MONEY, REL_TOL, certain_sign, fmt_money, sum_tolerance


def mv_decimal(mills: int) -> Decimal:
    """MV as a Decimal from integer mills."""
    return Decimal(mills).scaleb(-3, MONEY)


def value_vs_weight(
    qty_f: np.ndarray,
    qty_exact: Callable[[int, int], Decimal],
    arrays: ModelArrays,
    mills: Sequence[int],
    weight_f: np.ndarray,
    weights: Sequence[Decimal],
) -> np.ndarray:
    """Exact sign (−1, 0, +1) of ``u·p − MV·w`` for a K x N matrix of quantities ``u`` (any sign, any scale).

    ``qty_f`` estimates the quantities; ``qty_exact(k, i)`` returns the exact one for the rare elements
    the float estimate cannot decide.
    """
    mv = market_values_f(np.asarray(mills, dtype=np.int64))[:, None]
    value = qty_f * arrays.price_f[None, :]
    bound = mv * weight_f[None, :]
    sign = certain_sign(value - bound, np.abs(value) + np.abs(bound))
    ks, cols = np.nonzero(sign == 0)
    for k, i in zip(ks.tolist(), cols.tolist(), strict=True):
        lhs = MONEY.multiply(qty_exact(k, i), arrays.prices[i])
        rhs = MONEY.multiply(mv_decimal(mills[k]), weights[i])
        sign[k, i] = (lhs > rhs) - (lhs < rhs)
    return sign


def _above_high_band(
    q_f: np.ndarray, exact: Callable[[int, int], Decimal], arrays: ModelArrays, mills: Sequence[int]
) -> np.ndarray:
    """Exact mask of u·p > MV·(t+h), compared in shares (u against MV·(t+h)/p) to save passes."""
    mv = market_values_f(np.asarray(mills, dtype=np.int64))[:, None]
    limit = mv * (arrays.band_high_f / arrays.price_f)[None, :]  # within a few ulps of the exact ratio
    margin = np.abs(limit)
    margin += 1.0
    margin *= REL_TOL
    limit -= margin
    suspect = q_f >= limit  # everything else is certainly inside; the suspects (rare) are decided exactly
    above = np.zeros(q_f.shape, dtype=bool)
    rows, cols = np.nonzero(suspect)
    for r, i in zip(rows.tolist(), cols.tolist(), strict=True):
        lhs = MONEY.multiply(exact(r, i), arrays.prices[i])
        above[r, i] = lhs > MONEY.multiply(mv_decimal(mills[r]), arrays.band_high[i])
    return above


def spend_vs_budget(
    quantities: np.ndarray,
    arrays: ModelArrays,
    mills: Sequence[int],
    min_cash: Decimal | Sequence[Decimal],
    q_f: np.ndarray | None = None,
) -> np.ndarray:
    """Exact sign (−1, 0, +1) of ``Σ u·p − (MV − minCash)`` per row of integer quantities.

    ``min_cash``: one floor for every row, or one per row. ``q_f`` may pass ``quantities`` as float64.
    """
    q = np.asarray(quantities)
    mv = market_values_f(np.asarray(mills, dtype=np.int64))
    if arrays.size:
        q_f = q.astype(np.float64) if q_f is None else q_f
        spend = q_f @ arrays.price_f
        gross = spend if (q >= 0).all() else np.abs(q_f) @ arrays.price_f
    else:
        spend = gross = np.zeros(q.shape[0])
    if isinstance(min_cash, Decimal | int):
        floors = [Decimal(min_cash)] * q.shape[0]
        floor_f = np.full(q.shape[0], float(min_cash))
    else:
        floors = list(min_cash)
        floor_f = np.array([float(m) for m in floors], dtype=np.float64).reshape(q.shape[0])
    budget = mv - floor_f
    sign = certain_sign(spend - budget, gross + np.abs(mv) + np.abs(floor_f), sum_tolerance(arrays.size))
    for k in np.nonzero(sign == 0)[0].tolist():
        exact_spend = sum(
            (MONEY.multiply(Decimal(int(u)), p) for u, p in zip(q[k].tolist(), arrays.prices, strict=True)),
            Decimal(0),
        )
        exact_budget = MONEY.subtract(mv_decimal(mills[k]), floors[k])
        sign[k] = (exact_spend > exact_budget) - (exact_spend < exact_budget)
    return sign


@dataclass(frozen=True, eq=False)
class Answers:
    """Integer answers of K portfolios to verify, with the data every rule is checked against."""

    arrays: ModelArrays
    mills: Sequence[int]
    min_cash: Decimal | Sequence[Decimal]
    q: np.ndarray  # K x N integer quantities
    q_f: np.ndarray  # the same as float64
    portfolio_ids: Sequence[str] | None

    def pid(self, r: int) -> str:
        return self.portfolio_ids[r] if self.portfolio_ids is not None else f"#{r}"

    def exact(self, r: int, i: int) -> Decimal:
        return Decimal(int(self.q[r, i]))


# One verification step per rule: each returns {row: reason} for the rows that break it.
Step = Callable[[Answers], dict[int, str]]


def non_negative(ans: Answers) -> dict[int, str]:
    """u ≥ 0 (product-spec 2.3: no short is ever proposed)."""
    out: dict[int, str] = {}
    rows, cols = np.nonzero(ans.q < 0)
    for r, i in zip(rows.tolist(), cols.tolist(), strict=True):
        out.setdefault(r, f"portfolio {ans.pid(r)}: quantity {ans.q[r, i]} of {ans.arrays.security_ids[i]} is negative")
    return out


def _band_reason(ans: Answers, r: int, i: int, side: str) -> str:
    mv = mv_decimal(ans.mills[r])
    arrays = ans.arrays
    return (
        f"portfolio {ans.pid(r)}: {int(ans.q[r, i])} shares of {arrays.security_ids[i]} are {side} the band "
        f"${fmt_money(MONEY.multiply(mv, arrays.band_low[i]))} to "
        f"${fmt_money(MONEY.multiply(mv, arrays.band_high[i]))}"
    )


def _first_per_row(ans: Answers, mask: np.ndarray, side: str) -> dict[int, str]:
    out: dict[int, str] = {}
    rows, cols = np.nonzero(mask)
    for r, i in zip(rows.tolist(), cols.tolist(), strict=True):
        if r not in out:
            out[r] = _band_reason(ans, r, i, side)
    return out


def within_low_band(ans: Answers) -> dict[int, str]:
    """MV·(t−l) ≤ u·p for every model security."""
    arrays, q_f = ans.arrays, ans.q_f
    below = np.zeros(ans.q.shape, dtype=bool)
    # with u ≥ 0 (its own step) a lower band at or below 0 holds wherever MV > 0: only the other columns
    mv_positive = np.asarray(ans.mills, dtype=np.int64) > 0
    cols = [i for i, w in enumerate(arrays.band_low) if w > 0 or not mv_positive.all()]
    if cols:
        sub = ModelArrays(
            tuple(arrays.security_ids[i] for i in cols),
            tuple(arrays.targets[i] for i in cols),
            tuple(arrays.low_drifts[i] for i in cols),
            tuple(arrays.high_drifts[i] for i in cols),
            tuple(arrays.prices[i] for i in cols),
        )
        below[:, cols] = (
            value_vs_weight(
                np.ascontiguousarray(q_f[:, cols]),
                lambda r, j: ans.exact(r, cols[j]),
                sub,
                ans.mills,
                sub.band_low_f,
                sub.band_low,
            )
            < 0
        )
    return _first_per_row(ans, below, "below")


def within_high_band(ans: Answers) -> dict[int, str]:
    """u·p ≤ MV·(t+h) for every model security."""
    return _first_per_row(ans, _above_high_band(ans.q_f, ans.exact, ans.arrays, ans.mills), "above")


def cash_floor(ans: Answers) -> dict[int, str]:
    """Σ u·p ≤ MV − minCash."""
    over = spend_vs_budget(ans.q, ans.arrays, ans.mills, ans.min_cash, ans.q_f) > 0
    return {
        r: f"portfolio {ans.pid(r)}: the orders spend more than market value minus minimum cash"
        for r in np.nonzero(over)[0].tolist()
    }


# The rules every answer is verified against, in the order their reasons are reported (the first failing rule of
# a row names it). A new rule adds its step here.
SECURITY_RULES: tuple[Step, ...] = (non_negative, within_low_band, within_high_band)
PORTFOLIO_RULES: tuple[Step, ...] = (cash_floor,)


def check_quantities(
    arrays: ModelArrays,
    mills: Sequence[int],
    min_cash: Decimal | Sequence[Decimal],
    quantities: np.ndarray,
    portfolio_ids: Sequence[str] | None = None,
) -> dict[int, str]:
    """Verify integer answers (rows of ``quantities``) exactly; returns {row: reason} for every failing row.

    Integrality first (a non-integer matrix fails every row), then each step of ``SECURITY_RULES`` (when the
    model has securities) and ``PORTFOLIO_RULES``; a row's reason is that of the first rule it breaks.
    """
    q = np.asarray(quantities)
    k = q.shape[0]
    if k == 0:
        return {}
    if q.dtype.kind not in "iu":
        return dict.fromkeys(range(k), "quantities are not integers")
    ans = Answers(arrays, mills, min_cash, q, q.astype(np.float64), portfolio_ids)
    steps = (*SECURITY_RULES, *PORTFOLIO_RULES) if arrays.size else PORTFOLIO_RULES
    failures: dict[int, str] = {}
    for step in steps:
        for r, reason in step(ans).items():
            failures.setdefault(r, reason)
    return failures
