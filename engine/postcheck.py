"""Exact verification of answers before they leave the engine (product-spec 2.4 item 6).

Checked on the original data, independently of how :mod:`engine.bands` derived the integer bounds:
integrality, u ≥ 0, MV·(t−l) ≤ u·p ≤ MV·(t+h) for every security, and Σ u·p ≤ MV − minCash. Float
estimates decide only where they are provably right; anything close to a boundary is decided in
Decimal. No floating tolerance ever lets a violation through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import numpy as np

from engine.bands import ModelArrays, market_values_f
from engine.exactmath import MONEY, certain_sign, fmt_money, sum_tolerance


def mv_decimal(mills: int) -> Decimal:
    """MV as a Decimal from integer mills."""
    return Decimal(mills).scaleb(-3)


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


def spend_vs_budget(quantities: np.ndarray, arrays: ModelArrays, mills: Sequence[int], min_cash: Decimal) -> np.ndarray:
    """Exact sign (−1, 0, +1) of ``Σ u·p − (MV − minCash)`` per row of integer quantities."""
    q = np.asarray(quantities)
    mv = market_values_f(np.asarray(mills, dtype=np.int64))
    spend = q.astype(np.float64) @ arrays.price_f if arrays.size else np.zeros(q.shape[0])
    gross = np.abs(q).astype(np.float64) @ arrays.price_f if arrays.size else np.zeros(q.shape[0])
    budget = mv - float(min_cash)
    sign = certain_sign(spend - budget, gross + np.abs(mv) + abs(float(min_cash)), sum_tolerance(arrays.size))
    for k in np.nonzero(sign == 0)[0].tolist():
        exact_spend = sum(
            (MONEY.multiply(Decimal(int(u)), p) for u, p in zip(q[k].tolist(), arrays.prices, strict=True)),
            Decimal(0),
        )
        exact_budget = MONEY.subtract(mv_decimal(mills[k]), min_cash)
        sign[k] = (exact_spend > exact_budget) - (exact_spend < exact_budget)
    return sign


def check_quantities(
    arrays: ModelArrays,
    mills: Sequence[int],
    min_cash: Decimal,
    quantities: np.ndarray,
    portfolio_ids: Sequence[str] | None = None,
) -> dict[int, str]:
    """Verify integer answers (rows of ``quantities``) exactly; returns {row: reason} for every failing row."""
    failures: dict[int, str] = {}
    q = np.asarray(quantities)
    k = q.shape[0]
    pid = (lambda r: portfolio_ids[r]) if portfolio_ids is not None else (lambda r: f"#{r}")
    if k == 0:
        return failures
    if q.dtype.kind not in "iu":
        return dict.fromkeys(range(k), "quantities are not integers")
    if arrays.size:
        rows, cols = np.nonzero(q < 0)
        for r, i in zip(rows.tolist(), cols.tolist(), strict=True):
            failures.setdefault(r, f"portfolio {pid(r)}: quantity {q[r, i]} of {arrays.security_ids[i]} is negative")
        q_f = q.astype(np.float64)

        def exact(r: int, i: int) -> Decimal:
            return Decimal(int(q[r, i]))

        below = value_vs_weight(q_f, exact, arrays, mills, arrays.band_low_f, arrays.band_low) < 0
        above = value_vs_weight(q_f, exact, arrays, mills, arrays.band_high_f, arrays.band_high) > 0
        for mask, side in ((below, "below"), (above, "above")):
            rows, cols = np.nonzero(mask)
            for r, i in zip(rows.tolist(), cols.tolist(), strict=True):
                mv = mv_decimal(mills[r])
                failures.setdefault(
                    r,
                    f"portfolio {pid(r)}: {int(q[r, i])} shares of {arrays.security_ids[i]} are {side} the band "
                    f"${fmt_money(MONEY.multiply(mv, arrays.band_low[i]))} to "
                    f"${fmt_money(MONEY.multiply(mv, arrays.band_high[i]))}",
                )
    over = spend_vs_budget(q, arrays, mills, min_cash) > 0
    for r in np.nonzero(over)[0].tolist():
        failures.setdefault(r, f"portfolio {pid(r)}: the orders spend more than market value minus minimum cash")
    return failures
