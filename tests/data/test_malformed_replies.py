"""A malformed service reply never becomes orders (issue #9 item 1): each parser's required fields, nulls, wrong
types and self-contradictions, through the real clients and the in-process simulator."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

from decimal import Decimal

import pytest

from data.demo import load_demo
from data.services import build_services
from data.services.accounting import parse_summary
from data.services.pricing import parse_price_list
from data.services.security import parse_security_list
from data.simulator import SimulatorConfig, sim_app
from data.snapshot import build_market_snapshot
from engine.errors import ExternalDataError
from engine.rebalance import rebalance_portfolios
from tests.support.simulator import fast_settings, inprocess_transport, services, sim_transport, simulator  # noqa: F401

DEMO = load_demo()
CORE = DEMO.model("Global Equity Core")
SCOPE = list(CORE.portfolios[:3])
TARGET = SCOPE[0]


def answers(svc, model=CORE, scope=SCOPE) -> dict[str, object]:
    """Per portfolio: the snapshot failure code, or (status, orders) from the engine."""
    snap = build_market_snapshot(svc, model, scope)
    out: dict[str, object] = {pid: ("failed", info.code, info.message) for pid, info in snap.failures.items()}
    for r in rebalance_portfolios(model, snap.prices, snap.portfolios, workers=1, with_positions=False):
        out[r.portfolio_id] = (r.status, tuple((t.transaction_type, t.security_id, t.quantity) for t in r.transactions))
    return out


@pytest.fixture(scope="module")
def clean() -> dict[str, object]:
    app = sim_app(SimulatorConfig(price_mode="fixed", seed=7))
    transport = inprocess_transport(app)
    try:
        with build_services(fast_settings(), transport=transport) as svc:
            return answers(svc)
    finally:
        transport.shutdown()


def accounting_fault(variant: str, field: str, **extra: object) -> dict[str, object]:
    return {"kind": "malformed", "service": "accounting", "variant": variant, "field": field, "keys": [TARGET], **extra}


@pytest.mark.parametrize(
    ("variant", "field", "named"),
    [
        ("missing_field", "securities", "securities"),  # the issue's case: was read as a cash-only portfolio
        ("null_field", "securities", "securities"),
        ("off_by_one", "securities", "securityCount"),  # a row lost: the count contradicts the list
        ("duplicate_item", "securities", "securityCount"),
        ("off_by_one", "securityCount", "securityCount"),
        ("missing_field", "securityCount", "securityCount"),
        ("null_field", "securityCount", "securityCount"),
        ("string_for_number", "securityCount", "securityCount"),
        ("missing_field", "portfolioId", "portfolioId"),
        ("null_field", "portfolioId", "portfolioId"),
        ("other_id", "portfolioId", "portfolioId"),
        ("null_field", "cashBalance", "cashBalance"),
        ("wrong_type", "cashBalance", "cashBalance"),
        ("empty_string", "cashBalance", "cashBalance"),
        ("missing_field", "netQuantity", "netQuantity"),
        ("null_field", "netQuantity", "netQuantity"),
        ("wrong_type", "netQuantity", "netQuantity"),
        ("negative", "netQuantity", "netQuantity"),  # contradicts quantityLong - quantityShort
        ("negative", "quantityLong", "netQuantity"),
        ("null_field", "quantityShort", "quantityShort"),
        ("wrong_type", "securityId", "securityId"),
        ("empty_string", "securityId", "securityId"),
    ],
)
def test_a_malformed_summary_fails_only_that_portfolio_naming_the_field(
    services, simulator, clean, variant, field, named
):
    simulator.set_faults([accounting_fault(variant, field)])
    got = answers(services)
    status, code, message = got[TARGET]
    assert (status, code) == ("failed", "EXTERNAL_DATA_ERROR")
    assert named in message
    assert {pid: got[pid] for pid in SCOPE[1:]} == {pid: clean[pid] for pid in SCOPE[1:]}


def test_the_issue_case_names_the_portfolio_and_field(services, simulator):
    simulator.set_faults([accounting_fault("missing_field", "securities")])
    with pytest.raises(ExternalDataError) as err:
        services.accounting.summary(TARGET)
    assert err.value.details["portfolio_id"] == TARGET
    assert err.value.details["field"] == "securities"
    assert "securityCount" in err.value.message or "securities" in err.value.message


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "malformed", "service": "accounting", "variant": "numbers"},
        {"kind": "malformed", "service": "pricing", "variant": "string_for_number", "field": "close"},
    ],
)
def test_lossless_type_changes_of_decimals_give_the_same_answer(services, simulator, clean, fault):
    # A decimal sent as an exact JSON number (accounting) or as a string (pricing) carries the same value.
    simulator.set_faults([fault])
    assert answers(services) == clean


def test_null_securities_with_a_zero_count_is_a_cash_only_portfolio(services, simulator):
    # Go encodes an empty slice as null: valid only when securityCount says 0.
    cash_only = DEMO.portfolios_by_name["Edge - Cash Only"].portfolio_id
    expected = services.accounting.summary(cash_only)
    assert expected.holdings == ()
    simulator.set_faults(
        [{"kind": "malformed", "service": "accounting", "variant": "null_field", "field": "securities"}]
    )
    assert services.accounting.summary(cash_only) == expected


def test_the_empty_portfolio_500_still_fails_only_that_portfolio(services):
    empty = DEMO.portfolios_by_name["Edge - No Balances"].portfolio_id
    with pytest.raises(ExternalDataError, match="may have no balances"):
        services.accounting.summary(empty)


def test_unicode_digits_and_padded_strings_are_not_decimals(services, simulator):
    from data.services.parse import decimal_value

    for bad in ["١٢", " 12", "12 ", "1_000", "0x10", "1e", ".5", "5.", "+-1", "NaN", "Infinity", True, [1], {"a": 1}]:
        with pytest.raises(ExternalDataError):
            decimal_value(bad, service="accounting", where="test", field="cashBalance")
    assert decimal_value("-12.50", service="accounting", where="test", field="x") == Decimal("-12.50")
    assert decimal_value(Decimal("93.64"), service="pricing", where="test", field="close") == Decimal("93.64")
    assert decimal_value(7, service="pricing", where="test", field="close") == Decimal(7)


def test_a_security_listed_twice_is_malformed_even_when_the_count_agrees():
    row = {"securityId": "a" * 24, "quantityLong": "10", "quantityShort": "0", "netQuantity": "10"}
    body = {"portfolioId": "p", "cashBalance": "5", "securityCount": 2, "securities": [row, dict(row)]}
    with pytest.raises(ExternalDataError, match="listed twice"):
        parse_summary("p", body)
    body["securities"] = [row]
    body["securityCount"] = 1
    assert parse_summary("p", body).holdings[0].quantity == Decimal(10)


# --- pricing ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variant", "field", "named"),
    [
        ("null_field", "close", "'close' is null"),
        ("missing_field", "close", "'close' is missing"),
        ("wrong_type", "close", "'close' is not a number"),
        ("bad_value", "close", "'close' is not a number"),
        ("negative", "close", "not positive"),
        ("null_field", "ticker", "'ticker' is null"),
        ("wrong_type", "ticker", "'ticker' is not a non-empty string"),
        ("other_id", "ticker", "answered 'LPAA' when asked for 'AAPL'"),
    ],
)
def test_a_malformed_price_is_a_data_error_naming_the_field(services, simulator, variant, field, named):
    simulator.set_faults([{"kind": "malformed", "service": "pricing", "variant": variant, "field": field}])
    with pytest.raises(ExternalDataError) as err:
        services.pricing.price("AAPL")
    assert named in err.value.message


def test_a_ticker_listed_twice_with_two_closes_has_no_price():
    items = [{"ticker": "AAPL", "close": Decimal("10")}, {"ticker": "AAPL", "close": Decimal("11")}]
    quotes, problems = parse_price_list([*items, {"ticker": "MSFT", "close": 5}, {"close": 3}, None])
    assert set(quotes) == {"MSFT"} and "listed twice" in problems["AAPL"]
    quotes, problems = parse_price_list([items[0], dict(items[0])])  # the same close twice is harmless
    assert quotes["AAPL"].close == Decimal(10) and not problems


# --- security -----------------------------------------------------------------------------------------------------
AAPL = DEMO.securities_by_ticker["AAPL"].security_id


@pytest.mark.parametrize(
    ("variant", "field", "named"),
    [
        ("null_field", "ticker", "'ticker' is null"),
        ("missing_field", "ticker", "'ticker' is missing"),
        ("wrong_type", "ticker", "'ticker' is not a non-empty string"),
        ("empty_string", "ticker", "'ticker' is not a non-empty string"),
        ("null_field", "securityId", "'securityId' is null"),
        ("other_id", "securityId", "the answer is for"),
    ],
)
def test_a_malformed_security_is_a_data_error_naming_the_field(services, simulator, variant, field, named):
    simulator.set_faults([{"kind": "malformed", "service": "security", "variant": variant, "field": field}])
    with pytest.raises(ExternalDataError) as err:
        services.security.get(AAPL)
    assert named in err.value.message


def test_a_malformed_item_of_the_security_list_is_a_problem_for_that_id_not_unknown(services, simulator):
    simulator.set_faults(
        [{"kind": "malformed", "service": "security", "variant": "null_field", "field": "ticker", "items": [AAPL]}]
    )
    msft = DEMO.securities_by_ticker["MSFT"].security_id
    lookup = services.security.resolve([AAPL, msft], bulk_threshold=0)
    assert "'ticker' is null" in lookup.problems[AAPL] and AAPL not in lookup.unknown
    assert lookup.found[msft].ticker == "MSFT"
    found, problems = parse_security_list(
        [{"securityId": AAPL, "ticker": "AAPL"}, {"securityId": AAPL, "ticker": "AAPL.X"}, {"ticker": "ZZ"}, 7]
    )
    assert not found and "listed twice" in problems[AAPL]


# --- portfolio (names only: soft) ---------------------------------------------------------------------------------
def test_a_portfolio_answer_for_another_id_never_becomes_its_name(services, simulator):
    first, second = SCOPE[:2]
    simulator.set_faults(
        [{"kind": "malformed", "service": "portfolio", "variant": "other_id", "field": "portfolioId", "keys": [first]}]
    )
    with pytest.raises(ExternalDataError):
        services.portfolio.get(first)
    names = services.portfolio.names_for([first, second])
    assert (
        names.names[first] is None and names.names[second] == {p.portfolio_id: p.name for p in DEMO.portfolios}[second]
    )
    assert any("unreadable" in w for w in names.warnings)


# --- order results ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variant", "field", "outcome"),
    [
        ("missing_field", "orderId", "unknown"),  # SUCCESS without an id: the order may exist
        ("null_field", "orderId", "unknown"),
        ("string_for_number", "orderId", "unknown"),
        ("null_field", "status", "unknown"),
        ("bad_value", "status", "unknown"),
        ("wrong_type", "requestIndex", "unknown"),
        ("other_id", "requestIndex", "unknown"),  # 0 -> 1: the only order has no result any more
        ("null_field", "message", "success"),  # the message is only shown
    ],
)
def test_a_malformed_order_result_is_never_reported_failed(services, simulator, variant, field, outcome):
    from data.services import OrderRequest

    simulator.set_faults(
        [{"kind": "malformed", "service": "order", "endpoint": "orders_post", "variant": variant, "field": field}]
    )
    [result] = services.order.submit([OrderRequest(SCOPE[0], AAPL, "BUY", Decimal(5))])
    assert result.outcome == outcome


def test_order_items_contradicting_each_other_are_unknown():
    from data.services.order import _match_items

    ok = {"requestIndex": 0, "status": "SUCCESS", "orderId": 9}
    bad = {"requestIndex": 0, "status": "FAILURE", "message": "no"}
    assert _match_items([4], [ok, bad])[4].outcome == "unknown"
    assert _match_items([4], [ok, dict(ok)])[4].outcome == "success"
    assert _match_items([4], [{"requestIndex": True, "status": "FAILURE"}])[4].outcome == "unknown"
    assert _match_items([4], [{"requestIndex": 0, "status": "SUCCESS", "orderId": True}])[4].outcome == "unknown"


# --- listings and searches (pickers, order list): a broken page is an error, a broken row is left out ------------
@pytest.mark.parametrize(
    ("service", "field", "call"),
    [
        ("security", "securities", lambda svc: svc.security.search(ticker_like="A")),
        ("portfolio", "portfolios", lambda svc: svc.portfolio.search(name_like="Edge")),
        ("order", "content", lambda svc: svc.order.list_orders()),
    ],
)
@pytest.mark.parametrize("variant", ["null_field", "missing_field", "wrong_type", "bad_value"])
def test_a_broken_page_is_a_data_error_not_an_empty_page(services, simulator, service, field, call, variant):
    simulator.set_faults([{"kind": "malformed", "service": service, "variant": variant, "field": field}])
    with pytest.raises(ExternalDataError, match=field):
        call(services)


def test_order_list_rows_with_odd_nested_fields_are_shown_with_blanks(services, simulator):
    from data.services import OrderRequest

    services.order.submit([OrderRequest(SCOPE[0], AAPL, "BUY", Decimal(5))])
    for variant in ("wrong_type", "bad_value", "null_field"):
        simulator.set_faults([{"kind": "malformed", "service": "order", "variant": variant, "field": "portfolio"}])
        [row] = services.order.list_orders().items
        assert row["portfolio_id"] is None and row["ticker"] == "AAPL" and row["quantity"] == 5


def test_numbers_beyond_any_real_magnitude_are_typed_errors_not_decimal_exceptions():
    from data.services.parse import decimal_value

    with pytest.raises(ExternalDataError, match="out of range"):  # beyond what Decimal can hold
        decimal_value("1e999999999999999999999", service="accounting", where="test", field="quantityLong")
    sid = "a" * 24
    for huge in ["1E+1000000", "1E-1000000", "9E+999999", "1E+101"]:  # read exactly, refused before any arithmetic
        row = {"securityId": sid, "quantityLong": huge, "quantityShort": "0", "netQuantity": "5"}
        body = {"portfolioId": "p", "cashBalance": "5", "securityCount": 1, "securities": [row]}
        with pytest.raises(ExternalDataError, match="'quantityLong' is out of range"):
            parse_summary("p", body)


def test_a_long_minus_short_check_is_exact_and_never_raises_a_decimal_exception():
    sid = "a" * 24
    long_digits = "1" + "0" * 39 + "1"  # 10**40 + 1: a 28-digit context rounds the difference to 10**40
    row = {"securityId": sid, "quantityLong": long_digits, "quantityShort": "0", "netQuantity": "1" + "0" * 40}
    body = {"portfolioId": "p", "cashBalance": "5", "securityCount": 1, "securities": [row]}
    with pytest.raises(ExternalDataError, match="contradicts"):
        parse_summary("p", body)
    huge = {**row, "quantityLong": "9E+99", "quantityShort": "-9E+99", "netQuantity": "1"}
    with pytest.raises(ExternalDataError, match="contradicts"):
        parse_summary("p", {**body, "securities": [huge]})
