"""Market value per supplement 1: each u·p rounded to 0.001, MV quantised to 0.001, both half-up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.errors import ExternalDataError
from engine.marketvalue import holding_map, market_value, position_value
from engine.models import Holding

D = Decimal
A, B = "a" * 24, "b" * 24


def test_each_position_value_is_rounded_half_up_before_summing() -> None:
    # 3 × 0.3335 = 1.0005 -> 1.001 (half up); 3 × 0.3333 = 0.9999 -> 1.000
    assert position_value(D(3), D("0.3335")) == D("1.001")
    assert position_value(D(3), D("0.3333")) == D("1.000")
    holdings = [Holding(security_id=A, quantity=D(3)), Holding(security_id=B, quantity=D(3))]
    prices = {A: D("0.3335"), B: D("0.3333")}
    assert market_value(D("10.0004"), holdings, prices) == D("12.001")  # 10.0004 + 2.001 = 12.0014 -> 12.001
    assert market_value(D("10.0005"), holdings, prices) == D("12.002")  # 12.0015 -> 12.002


def test_shorts_and_negative_cash_are_allowed() -> None:
    holdings = [Holding(security_id=A, quantity=D(-10))]
    assert market_value(D("-50"), holdings, {A: D("2.5")}) == D("-75.000")
    assert position_value(D(-3), D("0.3335")) == D("-1.001")  # half away from zero


def test_zero_quantities_need_no_price_and_empty_is_zero() -> None:
    assert market_value(D(0), [Holding(security_id=A, quantity=D(0))], {}) == D("0.000")
    assert market_value(D("12.5"), [], {}) == D("12.500")


def test_missing_or_non_positive_price_is_an_error_naming_the_security() -> None:
    with pytest.raises(ExternalDataError, match=f"no price for security {A}"):
        market_value(D(0), [Holding(security_id=A, quantity=D(1))], {}, "P1")
    with pytest.raises(ExternalDataError, match="is not positive"):
        market_value(D(0), [Holding(security_id=A, quantity=D(1))], {A: D("-1")})


def test_holding_map_drops_zeros_and_rejects_duplicates() -> None:
    assert holding_map({A: D(0), B: D(2)}) == {B: D(2)}
    with pytest.raises(ExternalDataError, match="more than once"):
        holding_map([Holding(security_id=A, quantity=D(1)), Holding(security_id=A, quantity=D(2))], "P")
