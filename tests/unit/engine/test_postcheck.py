"""The exact post-check rejects every violation, including ones smaller than any float tolerance."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from engine import postcheck
from engine.postcheck import check_quantities, spend_vs_budget
from tests.unit.engine.support import arrays, sid

D = Decimal


def q(*rows: list[int]) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


def test_valid_answers_pass_including_exact_band_edges() -> None:
    # MV 10,000; band of the first security exactly [8, 12] shares at 50
    a = arrays(("0.05", "0.01", "0.01", "50"), ("0.5", "0.1", "0.1", "100"))
    assert check_quantities(a, [10_000_000] * 3, D(0), q([8, 40], [12, 60], [10, 50])) == {}


def test_one_share_outside_a_band_fails_and_names_it() -> None:
    a = arrays(("0.05", "0.01", "0.01", "50"))
    failures = check_quantities(a, [10_000_000, 10_000_000], D(0), q([7], [13]), ["A", "B"])
    assert set(failures) == {0, 1}
    assert "below the band" in failures[0] and "portfolio A" in failures[0] and sid(0) in failures[0]
    assert "above the band" in failures[1]


def test_overspend_by_a_fraction_of_a_cent_is_caught() -> None:
    # spend 999.9999 + 0.0002 over MV 1000 − minCash 0: a tolerance-sized overspend
    a = arrays(("0.5", "0.5", "0.5", "333.33335"))
    assert spend_vs_budget(q([3]), a, [1_000_000], D("0.00005")).tolist() == [1]  # 1000.00005 > 999.99995
    assert spend_vs_budget(q([3]), a, [1_000_001], D("0.00005")).tolist() == [-1]
    assert spend_vs_budget(q([3]), a, [1_000_000], D("-0.00005")).tolist() == [0]  # exactly equal
    # MV 1000.001: the band allows 1000.00005, the cash floor (minCash 0.001) does not
    failures = check_quantities(a, [1_000_001], D("0.001"), q([3]))
    assert list(failures) == [0] and "spend more than" in failures[0]
    assert check_quantities(a, [1_000_001], D("0.00095"), q([3])) == {}


def test_negative_and_non_integer_answers_fail() -> None:
    a = arrays(("0.05", "0.05", "0.05", "50"))
    assert "negative" in check_quantities(a, [10_000_000], D(0), q([-1]))[0]
    floats = np.array([[10.0]])
    assert check_quantities(a, [10_000_000], D(0), floats) == {0: "quantities are not integers"}


def test_empty_model_checks_only_the_cash_floor() -> None:
    a = arrays()
    empty = np.zeros((2, 0), dtype=np.int64)
    assert check_quantities(a, [1_000_000, 1_000_000], D("1000"), empty) == {}
    assert set(check_quantities(a, [1_000_000], D("1000.001"), empty[:1])) == {0}


def test_each_rule_has_its_own_step_and_the_first_broken_rule_names_the_row() -> None:
    # MV 10,000; band of the security [8, 12] shares at 50; minCash 9,500 leaves room for 10 shares
    a = arrays(("0.05", "0.01", "0.01", "50"))
    quantities = q([-1], [7], [13], [11])
    answers = postcheck.Answers(a, [10_000_000] * 4, D(9_500), quantities, quantities.astype(np.float64), None)
    assert (postcheck.non_negative, postcheck.within_low_band, postcheck.within_high_band) == postcheck.SECURITY_RULES
    assert (postcheck.cash_floor,) == postcheck.PORTFOLIO_RULES
    assert set(postcheck.non_negative(answers)) == {0}
    assert set(postcheck.within_low_band(answers)) == {0, 1}
    assert set(postcheck.within_high_band(answers)) == {2}
    assert set(postcheck.cash_floor(answers)) == {2, 3}
    failures = check_quantities(a, answers.mills, answers.min_cash, answers.q)
    assert "negative" in failures[0] and "below the band" in failures[1] and "above the band" in failures[2]
    assert "spend more than" in failures[3]
