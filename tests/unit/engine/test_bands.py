"""Whole-share bands and nearest quantities (product-spec 2.3), against exact rational arithmetic."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bands import ModelArrays, compute_bands
from tests.unit.engine.support import PROPERTY_SETTINGS, F, arrays, reference_bands, sid

D = Decimal


def test_spec_example_band_narrower_than_one_share() -> None:
    # MV 10,000, t 0.05, l = h = 0, p 33.33: MV·t/p = 15.0015, so lo = 16 > hi = 15
    b = compute_bands(arrays(("0.05", "0", "0", "33.33")), np.array([10_000_000]))
    assert (b.lo[0, 0], b.hi[0, 0], b.nearest[0, 0]) == (16, 15, 15)


def test_exact_band_edges_are_inclusive() -> None:
    # MV 10,000, t 0.05 ± 0.01, p 50: band exactly [8, 12] shares, nearest exactly 10
    b = compute_bands(arrays(("0.05", "0.01", "0.01", "50")), np.array([10_000_000]))
    assert (b.lo[0, 0], b.hi[0, 0], b.nearest[0, 0]) == (8, 12, 10)
    assert not b.tie[0, 0]


def test_exact_half_is_a_tie_resolved_to_the_lower_quantity() -> None:
    # MV 1,000, t 0.05, p 20: T = 2.5 exactly
    b = compute_bands(arrays(("0.05", "0.05", "0.05", "20")), np.array([1_000_000]))
    assert b.nearest[0, 0] == 2 and b.tie[0, 0]
    # just above a half rounds up: MV 1,000.001
    b = compute_bands(arrays(("0.05", "0.05", "0.05", "20")), np.array([1_000_001]))
    assert b.nearest[0, 0] == 3 and not b.tie[0, 0]


def test_negative_lower_weight_clamps_to_zero() -> None:
    b = compute_bands(arrays(("0.01", "0.05", "0.02", "10")), np.array([5_000_000]))
    assert b.lo[0, 0] == 0
    assert b.hi[0, 0] == 15  # 5000 · 0.03 / 10


def test_out_of_range_rows_are_flagged() -> None:
    b = compute_bands(arrays(("0.5", "0", "0", "0.0001")), np.array([10**16, 1_000_000]))
    assert b.out_of_range.tolist() == [True, False]


def test_empty_model() -> None:
    b = compute_bands(arrays(), np.array([1_000_000, 2_000_000]))
    assert b.lo.shape == (2, 0) and b.out_of_range.tolist() == [False, False]


def test_model_arrays_reject_non_positive_prices() -> None:
    with pytest.raises(ValueError, match="positive"):
        arrays(("0.05", "0", "0", "0"))


weights = st.integers(min_value=0, max_value=190).map(lambda k: D(k) * D("0.005"))
drifts = st.sampled_from(["0", "0.001", "0.005", "0.0125", "0.02", "0.05", "0.1", "0.333", "1"]).map(D)
prices = st.one_of(
    st.integers(min_value=1, max_value=10**7).map(lambda c: D(c) / 100),
    st.integers(min_value=1, max_value=10**9).map(lambda c: D(c) / 10**6),
)
mills = st.integers(min_value=1, max_value=10**13)


@settings(**PROPERTY_SETTINGS)
@given(
    rows=st.lists(st.tuples(weights, drifts, drifts, prices), min_size=1, max_size=6),
    mvs=st.lists(mills, min_size=1, max_size=5),
)
def test_bands_match_rational_reference(rows: list[tuple[D, D, D, D]], mvs: list[int]) -> None:
    a = ModelArrays(
        tuple(sid(i) for i in range(len(rows))),
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
    )
    b = compute_bands(a, np.array(mvs, dtype=np.int64))
    for k, m in enumerate(mvs):
        mv = Fraction(m, 1000)
        if b.out_of_range[k]:
            assert any(mv * (F(t) * 2 + F(h)) / F(p) >= 2**49 for t, _, h, p in rows)
            continue
        for i, (t, lo, hi, p) in enumerate(rows):
            ref_lo, ref_hi = reference_bands(mv, F(t), F(lo), F(hi), F(p))
            assert (b.lo[k, i], b.hi[k, i]) == (ref_lo, ref_hi)
            target_shares = mv * F(t) / F(p)
            lower = math.floor(target_shares)
            # nearest integer, the lower one on an exact tie
            expected = lower + 1 if target_shares - lower > Fraction(1, 2) else lower
            assert b.nearest[k, i] == expected
            assert b.tie[k, i] == (target_shares - lower == Fraction(1, 2))
