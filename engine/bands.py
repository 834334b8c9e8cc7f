"""Per-security integer bands and nearest quantities, vectorised over the portfolios of one model.

For a market value MV and a model security with target t, drifts l/h and price p (product-spec 2.3):

- ``lo = max(0, ceil(MV·(t−l)/p))`` and ``hi = floor(MV·(t+h)/p)``: the whole-share range of the band;
- ``nearest = ceil(2·MV·t/p) // 2``: the integer nearest to T = MV·t/p, the lower one on an exact tie.

All portfolios of a model share t, l, h and p, so one K x N float pass estimates every ratio and the
exact floors/ceilings come from :func:`engine.exactmath.exact_floor` (integers near a boundary are
recomputed exactly). Nothing here rounds money.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from engine.exactmath import MAX_EXACT, MONEY, RATIO, exact_ceil, exact_floor, scaled_ints


@dataclass(frozen=True, eq=False)
class ModelArrays:
    """One model at one price snapshot: the N model securities as Decimals, scaled integers and floats."""

    security_ids: tuple[str, ...]
    targets: tuple[Decimal, ...]
    low_drifts: tuple[Decimal, ...]
    high_drifts: tuple[Decimal, ...]
    prices: tuple[Decimal, ...]
    band_low: tuple[Decimal, ...] = field(init=False)  # t − l (weight)
    band_high: tuple[Decimal, ...] = field(init=False)  # t + h (weight)
    price_f: np.ndarray = field(init=False)
    target_f: np.ndarray = field(init=False)
    band_low_f: np.ndarray = field(init=False)
    band_high_f: np.ndarray = field(init=False)
    # float estimates of 2t/p, (t−l)/p, (t+h)/p: multiplied by MV they estimate 2T, lo and hi
    ratio_2t: np.ndarray = field(init=False)
    ratio_low: np.ndarray = field(init=False)
    ratio_high: np.ndarray = field(init=False)
    # exact integer numerators/denominators: mills·num[i]/den[i] is the exact ratio
    num_2t: tuple[int, ...] = field(init=False)
    num_low: tuple[int, ...] = field(init=False)
    num_high: tuple[int, ...] = field(init=False)
    den: tuple[int, ...] = field(init=False)
    price_int: tuple[int, ...] = field(init=False)
    price_places: int = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.security_ids)
        if not (len(self.targets) == len(self.low_drifts) == len(self.high_drifts) == len(self.prices) == n):
            raise ValueError("model arrays must all have one entry per security")
        if any(not p > 0 for p in self.prices):
            raise ValueError("every model price must be positive")
        lows = tuple(MONEY.subtract(t, lo) for t, lo in zip(self.targets, self.low_drifts, strict=True))
        highs = tuple(MONEY.add(t, hi) for t, hi in zip(self.targets, self.high_drifts, strict=True))
        w_int, w_places = scaled_ints([*self.targets, *lows, *highs])
        p_int, p_places = scaled_ints(self.prices)
        scale_p = 10**p_places
        setter = object.__setattr__
        setter(self, "band_low", lows)
        setter(self, "band_high", highs)
        setter(self, "price_int", tuple(p_int))
        setter(self, "price_places", p_places)
        setter(self, "num_2t", tuple(2 * w * scale_p for w in w_int[:n]))
        setter(self, "num_low", tuple(w * scale_p for w in w_int[n : 2 * n]))
        setter(self, "num_high", tuple(w * scale_p for w in w_int[2 * n :]))
        setter(self, "den", tuple(1000 * 10**w_places * p for p in p_int))

        def ratio(ws: Sequence[Decimal], factor: int = 1) -> np.ndarray:
            return np.array(
                [float(RATIO.divide(w * factor, p)) for w, p in zip(ws, self.prices, strict=True)], dtype=np.float64
            )

        setter(self, "price_f", np.array([float(p) for p in self.prices], dtype=np.float64))
        setter(self, "target_f", np.array([float(t) for t in self.targets], dtype=np.float64))
        setter(self, "band_low_f", np.array([float(w) for w in lows], dtype=np.float64))
        setter(self, "band_high_f", np.array([float(w) for w in highs], dtype=np.float64))
        setter(self, "ratio_2t", ratio(self.targets, 2))
        setter(self, "ratio_low", ratio(lows))
        setter(self, "ratio_high", ratio(highs))

    @property
    def size(self) -> int:
        return len(self.security_ids)


@dataclass(frozen=True, eq=False)
class Bands:
    """Whole-share bands and nearest quantities for K portfolios x N securities (int64)."""

    lo: np.ndarray
    hi: np.ndarray
    nearest: np.ndarray  # integer nearest to T, the lower one on an exact tie
    tie: np.ndarray  # T is exactly k + 1/2
    out_of_range: np.ndarray  # (K,) a quantity beyond the exact float range; such rows are not solved


def market_values_f(mills: np.ndarray) -> np.ndarray:
    """Float estimate of MV from integer mills (error at most half an ulp while mills < 2**53)."""
    return mills.astype(np.float64) / 1000.0


def compute_bands(arrays: ModelArrays, mills: np.ndarray) -> Bands:
    """Exact ``lo``, ``hi`` and ``nearest`` for every (portfolio, model security) pair.

    Defined for positive market values; rows with MV ≤ 0 get placeholder values (the solver reports
    them as errors and never uses their bands).
    """
    mills = np.asarray(mills, dtype=np.int64)
    k = mills.shape[0]
    n = arrays.size
    if n == 0:
        empty = np.zeros((k, 0), dtype=np.int64)
        return Bands(empty, empty, empty, np.zeros((k, 0), bool), np.zeros(k, bool))
    mills_list = mills.tolist()
    mv = market_values_f(mills)[:, None]
    x_2t = mv * arrays.ratio_2t[None, :]
    x_hi = mv * arrays.ratio_high[None, :]
    # |x| of a row is |MV|·|ratio| (to within rounding): the range check and the tolerance of the exact
    # floors need one pass over K, not over K x N
    largest = max(float(np.abs(arrays.ratio_2t).max()), float(np.abs(arrays.ratio_high).max()))
    row_bound = np.abs(mv[:, 0]) * largest * (1 + 1e-9)
    out_of_range = row_bound >= MAX_EXACT
    if out_of_range.any():
        # placeholder zeros (MV treated as 0) keep both passes well-defined; the caller reports those rows
        x_2t[out_of_range] = 0.0
        x_hi[out_of_range] = 0.0
        row_bound[out_of_range] = 0.0
        mills_list = [0 if bad else m for m, bad in zip(mills_list, out_of_range.tolist(), strict=True)]
    ceil_2t, exact_2t = exact_ceil(x_2t, mills_list, arrays.num_2t, arrays.den, row_bound)
    hi, _ = exact_floor(x_hi, mills_list, arrays.num_high, arrays.den, row_bound)
    # lo is 0 wherever t − l ≤ 0 (for MV > 0); only the other columns need the exact ceiling
    lo = np.zeros((k, n), dtype=np.int64)
    cols = [i for i, num in enumerate(arrays.num_low) if num > 0]
    if cols:
        x_lo = mv * arrays.ratio_low[cols][None, :]
        x_lo[out_of_range] = 0.0
        lo_cols, _ = exact_ceil(
            x_lo, mills_list, [arrays.num_low[i] for i in cols], [arrays.den[i] for i in cols], row_bound
        )
        lo[:, cols] = lo_cols
    np.maximum(lo, 0, out=lo)
    nearest = ceil_2t >> 1  # floor division by 2 (arithmetic shift)
    tie = exact_2t & ((ceil_2t & 1) == 1)
    return Bands(lo=lo, hi=hi, nearest=nearest, tie=tie, out_of_range=out_of_range)
