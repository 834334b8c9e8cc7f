"""Exact floors/ceilings behind float filters, scaled integers, signs — checked against Fractions."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.exactmath import (
    certain_sign,
    decimals_of,
    exact_ceil,
    exact_floor,
    fmt_money,
    mills_of,
    plain,
    scaled_ints,
    to_scaled_int,
)
from tests.unit.engine.support import PROPERTY_SETTINGS

D = Decimal


@pytest.mark.parametrize(
    ("value", "places"), [("1", 0), ("1.50", 2), ("0.005", 3), ("1E+3", 0), ("-2.125", 3), ("0E-8", 8)]
)
def test_decimals_of(value: str, places: int) -> None:
    assert decimals_of(D(value)) == places


def test_scaled_ints_use_one_power_of_ten() -> None:
    ints, places = scaled_ints([D("1.5"), D("0.005"), D("7")])
    assert places == 3
    assert ints == [1500, 5, 7000]


def test_to_scaled_int_refuses_to_round() -> None:
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        to_scaled_int(D("1.005"), 2)
    assert mills_of(D("12.345")) == 12345


def _floor_case(mills: list[int], num: list[int], den: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([[m * n / d for n, d in zip(num, den, strict=True)] for m in mills])
    floors, is_int = exact_floor(x, mills, num, den)
    ceils, c_int = exact_ceil(x, mills, num, den)
    return floors, ceils, is_int & c_int


def test_exact_floor_on_exact_integers_and_halves() -> None:
    # MV 10,000 (10,000,000 mills), t = 0.05 (5/100), p = 50 -> exactly 10 shares; p = 33.33 -> 15.0015
    mills = [10_000_000]
    num = [5 * 100, 5 * 100]  # t·10**p_places with p in cents
    den = [1000 * 100 * 5000, 1000 * 100 * 3333]
    floors, ceils, is_int = _floor_case(mills, num, den)
    assert floors.tolist() == [[10, 15]]
    assert ceils.tolist() == [[10, 16]]
    assert is_int.tolist() == [[True, False]]


def test_exact_floor_where_the_float_estimate_is_wrong() -> None:
    # 0.1 + 0.2 style: the float product lands just below an integer the exact ratio equals
    mills, num, den = [3], [1], [3]  # exactly 1
    x = np.array([[0.9999999999999999]])
    floors, is_int = exact_floor(x, mills, num, den)
    assert floors.tolist() == [[1]] and is_int.tolist() == [[True]]
    ceils, _ = exact_ceil(np.array([[1.0000000000000002]]), mills, num, den)
    assert ceils.tolist() == [[1]]


@settings(**PROPERTY_SETTINGS)
@given(
    mills=st.lists(st.integers(min_value=-(10**13), max_value=10**13), min_size=1, max_size=4),
    pairs=st.lists(
        st.tuples(st.integers(min_value=-(10**9), max_value=10**9), st.integers(min_value=1, max_value=10**12)),
        min_size=1,
        max_size=4,
    ),
)
def test_exact_floor_and_ceil_match_fractions(mills: list[int], pairs: list[tuple[int, int]]) -> None:
    num = [n for n, _ in pairs]
    den = [d for _, d in pairs]
    x = np.array([[m * n / d for n, d in pairs] for m in mills])
    if (np.abs(x) >= 2**50).any():
        return  # outside the documented range (the solver rejects such rows)
    floors, is_int = exact_floor(x, mills, num, den)
    ceils, _ = exact_ceil(x, mills, num, den)
    for k, m in enumerate(mills):
        for i, (n, d) in enumerate(pairs):
            exact = Fraction(m * n, d)
            assert floors[k, i] == math.floor(exact)
            assert ceils[k, i] == math.ceil(exact)
            if is_int[k, i]:
                assert exact.denominator == 1


def test_certain_sign_defers_close_calls() -> None:
    diff = np.array([1.0, -1.0, 1e-15, 0.0])
    mag = np.array([1.0, 1.0, 1.0, 1.0])
    assert certain_sign(diff, mag).tolist() == [1, -1, 0, 0]


def test_formatting_helpers() -> None:
    assert plain(D("1E+3")) == "1000"
    assert plain(D("0.0500")) == "0.0500"
    assert fmt_money(D("12345.675")) == "12,345.68"
