"""The supported numeric range (issue 9 item 3): one out-of-range number fails only its own portfolio.

Each bad value is checked through both engine entry points the app uses (``rebalance_portfolios`` for the
what-if, ``analyse_drift`` for the Drift page): the bad portfolio gets an ``INVALID_INPUT`` error naming the
field and a short value, and the good portfolio beside it gets exactly its clean answer.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.drift import analyse_drift
from engine.limits import range_error, shorten
from engine.models import Holding, PortfolioHoldings, RebalanceOptions
from engine.rebalance import rebalance_portfolios
from tests.unit.engine.support import model_of, sid

D = Decimal
A, B, X = sid(0xA), sid(0xB), sid(0xF0)
MODEL = model_of([("0.45", "0.45", "0.5"), ("0.3", "0.1", "0.1")], [A, B])
PRICES = {A: D("600"), B: D("25.5"), X: D("10")}
GOOD = PortfolioHoldings(portfolio_id="GOOD", cash=D("10000"), holdings=(Holding(security_id=B, quantity=D(40)),))
MAX_MESSAGE = 240  # a diagnosis never carries hundreds of digits


def bad(cash: str = "100", **holdings: str) -> PortfolioHoldings:
    return PortfolioHoldings(
        portfolio_id="BAD",
        cash=D(cash),
        holdings=tuple(Holding(security_id=s, quantity=D(q)) for s, q in holdings.items()),
    )


# (what, the bad portfolio, its prices, words the message must hold)
BAD_PORTFOLIOS = [
    ("cash above int64 mills", bad("1e16"), PRICES, ["cash of portfolio BAD", "1e15"]),
    ("cash just at the limit", bad("1000000000000000"), PRICES, ["cash of portfolio BAD"]),
    ("cash with 29 digits", bad("1234567890.1234567890123456789"), PRICES, ["cash", "decimal places"]),
    ("huge exponent cash", bad("1e999999999999999999"), PRICES, ["cash", "e+999999999999999999"]),
    ("tiny exponent cash", bad("1e-999999999"), PRICES, ["cash", "decimal places"]),
    ("negative huge cash", bad("-1e400"), PRICES, ["cash", "1e15"]),
    ("quantity 30 digits", bad(**{X: "1.23456789012345678901234567891"}), PRICES, ["quantity of security"]),
    ("quantity 1e999999999", bad(**{X: "1e999999999"}), PRICES, ["quantity", "1e12"]),
    ("quantity beyond 1e12", bad(**{X: "1000000000001"}), PRICES, ["quantity", "1e12"]),
    ("price with 130 decimals", bad(**{X: "3"}), {**PRICES, X: D("1." + "1" * 130)}, ["price of security", "130"]),
    ("price 1e400", bad(**{X: "3"}), {**PRICES, X: D("1e400")}, ["price of security", "1e15"]),
    ("position value above 1e15", bad(**{X: "1e12"}), {**PRICES, X: D("1e4")}, ["value of security", "1e15"]),
    (
        "market value above 1e15 from in-range values",
        bad("900000000000000", **{X: "900000000000"}),
        {**PRICES, X: D("1000")},
        ["market value of portfolio BAD"],
    ),
]


def _clean_rebalance() -> dict:
    (clean,) = rebalance_portfolios(MODEL, PRICES, [GOOD], workers=1)
    assert clean.status == "optimal"
    return clean.model_dump()


def _clean_drift() -> tuple:
    report = analyse_drift(MODEL, PRICES, [GOOD])
    return report.portfolios[0], report.rows_for("GOOD")


@pytest.mark.parametrize(("what", "portfolio", "prices", "words"), BAD_PORTFOLIOS, ids=[c[0] for c in BAD_PORTFOLIOS])
def test_out_of_range_number_fails_only_its_portfolio_in_a_rebalance(what, portfolio, prices, words) -> None:
    good, failed = rebalance_portfolios(MODEL, prices, [GOOD, portfolio], workers=1)
    assert good.model_dump() == _clean_rebalance()
    assert failed.status == "error" and failed.error_code == "INVALID_INPUT", (what, failed.diagnosis)
    assert "outside the supported range" in failed.diagnosis
    assert all(w in failed.diagnosis for w in words), failed.diagnosis
    assert len(failed.diagnosis) < MAX_MESSAGE
    assert failed.transactions == ()


@pytest.mark.parametrize(("what", "portfolio", "prices", "words"), BAD_PORTFOLIOS, ids=[c[0] for c in BAD_PORTFOLIOS])
def test_out_of_range_number_fails_only_its_portfolio_in_the_drift_analysis(what, portfolio, prices, words) -> None:
    report = analyse_drift(MODEL, prices, [GOOD, portfolio])
    good, failed = report.portfolios
    clean, clean_rows = _clean_drift()
    assert good == clean and report.rows_for("GOOD") == clean_rows
    assert failed.error is not None and failed.error.code == "INVALID_INPUT", what
    assert all(w in failed.error.message for w in words), failed.error.message
    assert len(failed.error.message) < MAX_MESSAGE
    assert report.rows_for("BAD") == []


@pytest.mark.parametrize(
    ("min_cash", "words"),
    [("1e400", ["minimum cash", "1e15"]), ("0.000000001", ["minimum cash", "decimal places"])],
)
def test_out_of_range_cash_floor_is_a_clear_error_for_the_whole_run(min_cash: str, words: list[str]) -> None:
    results = rebalance_portfolios(MODEL, PRICES, [GOOD, bad()], RebalanceOptions(min_cash=D(min_cash)), workers=1)
    for r in results:
        assert r.status == "error" and r.error_code == "INVALID_INPUT"
        assert all(w in r.diagnosis for w in words) and len(r.diagnosis) < MAX_MESSAGE


@pytest.mark.parametrize("field", ["target", "lowDrift", "highDrift"])
def test_model_weight_with_too_many_decimals_fails_the_run_not_the_process(field: str) -> None:
    long = "0." + "1" * 130
    specs = {"target": ("0.45", "0.45", "0.5"), "lowDrift": ("0.45", long, "0.5"), "highDrift": ("0.45", "0.45", long)}
    model = model_of([specs[field] if field != "target" else (long, "0.1", "0.1")], [A])
    for r in rebalance_portfolios(model, PRICES, [GOOD], workers=1):
        assert r.error_code == "INVALID_INPUT" and f"{field} of security {A}" in r.diagnosis
    (drift,) = analyse_drift(model, PRICES, [GOOD]).portfolios
    assert drift.error is not None and f"{field} of security {A}" in drift.error.message


def test_model_price_out_of_range_fails_the_run_in_both_entry_points() -> None:
    prices = {**PRICES, A: D("1." + "1" * 130)}
    for r in rebalance_portfolios(MODEL, prices, [GOOD, bad()], workers=1):
        assert r.error_code == "INVALID_INPUT" and f"price of security {A}" in r.diagnosis
    for d in analyse_drift(MODEL, prices, [GOOD, bad()]).portfolios:
        assert d.error is not None and f"price of security {A}" in d.error.message


def test_results_do_not_depend_on_the_callers_decimal_context() -> None:
    clean = _clean_rebalance()
    clean_drift = _clean_drift()
    narrow = Context(prec=3, traps=[])
    with localcontext(narrow):
        (r,) = rebalance_portfolios(MODEL, PRICES, [GOOD], workers=1)
        report = analyse_drift(MODEL, PRICES, [GOOD])
    assert r.model_dump() == clean
    assert (report.portfolios[0], report.rows_for("GOOD")) == clean_drift


def test_largest_supported_values_are_solved_exactly() -> None:
    big = PortfolioHoldings(portfolio_id="BIG", cash=D("999999999999999.99812345"))
    (r,) = rebalance_portfolios(MODEL, PRICES, [big], workers=1)
    assert r.status == "optimal" and r.market_value == D("999999999999999.998")
    assert r.cash_after is not None and r.cash_after >= 0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1e999999999999999999", "1.000000e+999999999999999999"),
        ("1." + "1" * 130, "1.111111111111111111…"),
        ("0E-1000", "0"),
        ("123.45", "123.45"),
        ("-1E+3", "-1000"),
    ],
)
def test_shorten_never_prints_hundreds_of_digits(value: str, text: str) -> None:
    assert shorten(D(value)) == text


def test_trailing_zeros_are_not_decimal_places() -> None:
    assert range_error(D("1.50000000000000000000"), "price", "price") is None
    assert range_error(D("0E-1000"), "cash", "money") is None


def test_a_cash_floor_derived_from_a_fraction_of_mv_may_have_more_decimals() -> None:
    fraction = D("0.0123456")  # the floor MV x fraction has more decimals than money may: not an input
    (r,) = rebalance_portfolios(MODEL, PRICES, [GOOD], RebalanceOptions(min_cash_fraction=fraction), workers=1)
    assert r.status == "optimal" and r.cash_after is not None and r.cash_after >= r.market_value * fraction
    (r,) = rebalance_portfolios(MODEL, PRICES, [GOOD], RebalanceOptions(min_cash_fraction=D("1e400")), workers=1)
    assert r.error_code == "INVALID_INPUT" and "minimum cash fraction (minCashPct)" in r.diagnosis


def test_trailing_zeros_beyond_32_digits_are_rejected_not_an_arithmetic_exception() -> None:
    zeros = bad(**{X: "1.5" + "0" * 1000})
    _good, failed = rebalance_portfolios(MODEL, PRICES, [GOOD, zeros], workers=1)
    assert failed.error_code == "INVALID_INPUT" and "at most 32 digits (it has 1002)" in failed.diagnosis
    fine = bad(**{X: "1.5" + "0" * 20})  # trailing zeros are not decimal places
    _good, solved = rebalance_portfolios(MODEL, PRICES, [GOOD, fine], workers=1)
    assert solved.status == "optimal"


@pytest.mark.parametrize(
    ("portfolio", "prices"),
    [(bad(**{X: "3"}), {**PRICES, X: D("NaN")}), (bad(**{X: "3"}), {**PRICES, X: D("Infinity")})],
    ids=["NaN price of a held security", "infinite price"],  # cash and quantities: pydantic rejects NaN
)
def test_non_finite_numbers_fail_only_their_portfolio(portfolio: PortfolioHoldings, prices: dict) -> None:
    good, failed = rebalance_portfolios(MODEL, prices, [GOOD, portfolio], workers=1)
    assert good.model_dump() == _clean_rebalance() and failed.status == "error"
    report = analyse_drift(MODEL, prices, [GOOD, portfolio])
    assert report.portfolios[0].error is None and report.portfolios[1].error is not None


def test_a_nan_model_price_fails_the_run_not_the_process() -> None:
    prices = {**PRICES, A: D("NaN")}
    assert all(r.error_code == "INVALID_INPUT" for r in rebalance_portfolios(MODEL, prices, [GOOD], workers=1))
    assert all(d.error is not None for d in analyse_drift(MODEL, prices, [GOOD]).portfolios)


# exponents up to 18 digits: what a Decimal can hold (the CLI rejects larger ones as malformed)
DECIMAL_TEXT = st.from_regex(r"-?(0|[1-9][0-9]{0,35})(\.[0-9]{1,40})?([eE][-+]?[0-9]{1,17})?", fullmatch=True)
LONG_DIGITS = re.compile(r"[0-9]{41,}")


@settings(max_examples=150, deadline=None)
@given(cash=DECIMAL_TEXT, quantity=DECIMAL_TEXT, price=DECIMAL_TEXT | st.sampled_from(["NaN", "Infinity", "-0"]))
def test_any_decimal_fails_at_most_its_own_portfolio(cash: str, quantity: str, price: str) -> None:
    fuzzed = PortfolioHoldings(
        portfolio_id="FUZZ", cash=D(cash), holdings=(Holding(security_id=X, quantity=D(quantity)),)
    )
    prices = {**PRICES, X: D(price)}
    good, result = rebalance_portfolios(MODEL, prices, [GOOD, fuzzed], workers=1)
    assert good.model_dump() == _clean_rebalance()
    if result.status == "optimal":  # the same answer alone
        (alone,) = rebalance_portfolios(MODEL, prices, [fuzzed], workers=1)
        assert alone.model_dump() == result.model_dump()
    else:
        assert result.transactions == () and not LONG_DIGITS.search(result.diagnosis or "")
    report = analyse_drift(MODEL, prices, [GOOD, fuzzed])
    assert report.portfolios[0] == _clean_drift()[0]
    assert report.portfolios[1].error is None or not LONG_DIGITS.search(report.portfolios[1].error.message)


@pytest.mark.parametrize("seconds", [float("inf"), 1e12, 0.0])
def test_time_limit_outside_its_range_fails_the_run(seconds: float) -> None:
    # HiGHS and the wall-clock guard fail on huge limits (time_t overflow, then an abort at exit)
    for r in rebalance_portfolios(MODEL, PRICES, [GOOD], RebalanceOptions(time_limit=seconds), workers=1):
        assert r.error_code == "INVALID_INPUT" and "time limit" in r.diagnosis and "at most 86400 s" in r.diagnosis
