"""Service clients against the in-process simulator: every endpoint the app uses and every quirk of services.md."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from data.demo import load_demo
from data.services import GlobeCoServices, build_services
from data.services.parse import parse_datetime
from data.settings import Settings, get_settings
from engine.errors import ExternalDataError, InvalidInput
from tests.support.simulator import fast_settings, services, sim_transport, simulator  # noqa: F401

DEMO = load_demo()


def pid(name: str) -> str:
    return DEMO.portfolios_by_name[name].portfolio_id


def sid(ticker: str) -> str:
    return DEMO.securities_by_ticker[ticker].security_id


# --- accounting ---------------------------------------------------------------------------------------------------
def test_summary_matches_the_demo_balances_for_many_portfolios(services: GlobeCoServices):
    for portfolio_id in DEMO.model("Balanced Value").portfolios:
        got = services.accounting.summary(portfolio_id)
        expected = DEMO.holdings(portfolio_id)
        assert got.cash == expected.cash
        assert sorted(got.holdings, key=lambda h: h.security_id) == sorted(
            expected.holdings, key=lambda h: h.security_id
        )


def test_summary_reads_string_decimals_shorts_fractions_and_skips_zero_rows(services, simulator):
    short = services.accounting.summary(pid("Edge - Short Position"))
    assert {h.security_id: h.quantity for h in short.holdings}[sid("MSFT")] == Decimal(-40)

    fractional = services.accounting.summary(pid("Edge - Fractional Shares"))
    assert {h.security_id: h.quantity for h in fractional.holdings}[sid("AAPL")] == Decimal("112.5")

    zero = pid("Edge - Zero Quantity Row")
    raw = services.accounting._client.get(f"/api/v1/portfolios/{zero}/summary")
    rows = raw.json()["securities"]
    assert any(r["securityId"] == sid("JNJ") and r["netQuantity"] == "0" for r in rows)  # still listed
    assert raw.json()["securityCount"] == len(rows)
    assert isinstance(raw.json()["cashBalance"], str)
    assert sid("JNJ") not in {h.security_id for h in services.accounting.summary(zero).holdings}

    negative = services.accounting.summary(pid("Edge - Negative Cash"))
    assert negative.cash == Decimal("-2500")


def test_summary_of_a_portfolio_without_balances_is_a_per_portfolio_data_error_after_retries(services, simulator):
    empty = pid("Edge - No Balances")
    with pytest.raises(ExternalDataError, match="may have no balances") as err:
        services.accounting.summary(empty)
    assert err.value.details["portfolio_id"] == empty
    assert simulator.calls.count("accounting", "summary") == 4  # 1 attempt + 3 retries, like any 5xx
    assert services.accounting.breaker.state == "closed"  # the service answered coherently: not an outage


def test_summary_500_for_empty_can_be_treated_as_empty_by_setting(sim_transport, simulator):
    with build_services(fast_settings(accounting_empty_500_as_empty=True), transport=sim_transport) as svc:
        got = svc.accounting.summary(pid("Edge - No Balances"))
    assert got.cash == 0 and got.holdings == ()


def test_summary_404_variant_means_an_empty_portfolio(services, simulator):
    simulator.sim.configure(accounting_empty_status=404)
    got = services.accounting.summary("0" * 24)
    assert got.cash == 0 and got.holdings == ()
    assert simulator.calls.count("accounting", "summary") == 1  # 4xx: never retried


def test_accounting_timestamps_with_nanoseconds_parse(services, simulator):
    raw = services.accounting._client.get(f"/api/v1/portfolios/{pid('Edge - Cash Only')}/summary").json()
    top = parse_datetime(raw["lastUpdated"])
    assert top is not None and top.tzinfo is not None
    assert abs((top - dt.datetime.now(dt.UTC)).total_seconds()) < 60  # "effectively the request time"
    nine = parse_datetime("2025-06-06T12:17:03.072131386Z")
    assert nine == dt.datetime(2025, 6, 6, 12, 17, 3, 72131, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("variant", "field", "match"),
    [
        ("bad_value", "cashBalance", "cashBalance"),
        ("bad_value", "netQuantity", "netQuantity"),
        ("missing_field", "cashBalance", "cashBalance"),
        ("null_field", "securityId", "securityId"),
        ("truncated", None, "malformed JSON"),
        ("not_json", None, "malformed JSON"),
    ],
)
def test_unusable_summary_bodies_fail_that_portfolio_with_the_field_named(services, simulator, variant, field, match):
    portfolio_id = DEMO.model("Balanced Value").portfolios[0]
    simulator.set_faults([{"kind": "malformed", "service": "accounting", "variant": variant, "field": field}])
    with pytest.raises(ExternalDataError, match=match) as err:
        services.accounting.summary(portfolio_id)
    assert err.value.details["portfolio_id"] == portfolio_id


def test_numbers_where_accounting_sends_string_decimals_are_read_exactly(services, simulator):
    portfolio_id = pid("Edge - Fractional Shares")
    expected = services.accounting.summary(portfolio_id)
    simulator.set_faults([{"kind": "malformed", "service": "accounting", "variant": "numbers"}])
    raw = services.accounting._client.get(f"/api/v1/portfolios/{portfolio_id}/summary").json()
    assert not isinstance(raw["cashBalance"], str)
    assert services.accounting.summary(portfolio_id) == expected


def test_ids_are_escaped_into_one_path_segment(sim_transport):
    sent: list[bytes] = []

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request.url.raw_path)
            return sim_transport.handle_request(request)

    with build_services(fast_settings(), transport=Recording()) as svc:
        svc.accounting.summary("../../securities")
        svc.portfolio.get("x?name=y")
    assert sent[0] == b"/api/v1/portfolios/..%2F..%2Fsecurities/summary"
    assert sent[1] == b"/api/v1/portfolio/x%3Fname%3Dy"


# --- security -----------------------------------------------------------------------------------------------------
def test_security_by_id_unknown_and_never_sending_malformed_ids(services, simulator):
    info = services.security.get(sid("AAPL"))
    assert (info.ticker, info.description, info.security_type) == ("AAPL", "Apple Inc.", "CS")
    assert services.security.get("0" * 24) is None
    before = simulator.calls.count("security")
    assert services.security.get("notanid") is None
    assert services.security.get("ABCDEFGHIJKLMNOPQRSTUVWX") is None  # 24 alphanumerics, not hex
    assert simulator.calls.count("security") == before  # the service would answer 500: never called


def test_security_cache_saves_calls(services, simulator):
    services.security.get(sid("MSFT"))
    services.security.get(sid("MSFT"))
    assert simulator.calls.count("security", "security") == 1


def test_all_securities_fills_the_ticker_cache(services, simulator):
    items = services.security.all_securities()
    assert len(items) == len(DEMO.securities)
    assert {s.ticker for s in items} == {s.ticker for s in DEMO.securities}
    assert services.security.get(sid("JPM")).ticker == "JPM"
    assert simulator.calls.count("security", "security") == 0


def test_security_search_exact_and_substring_case_insensitive(services):
    exact = services.security.search(ticker="aapl")
    assert [s.ticker for s in exact.items] == ["AAPL"] and exact.total == 1
    like = services.security.search(ticker_like="br", limit=1000)
    assert "BRK.B" in {s.ticker for s in like.items}
    assert [s.ticker for s in like.items] == sorted(s.ticker for s in like.items)
    page = services.security.search(ticker_like="A", limit=5, offset=5)
    assert len(page.items) == 5 and page.total > 10 and page.has_next


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"ticker": "AAPL", "ticker_like": "A"},
        {"ticker": "A B"},
        {"ticker_like": '{"$gt": ""}'},
        {"ticker": "AAPL", "limit": 0},
        {"ticker": "AAPL", "limit": 5000},
        {"ticker": "AAPL", "offset": -1},
    ],
)
def test_security_search_rejects_bad_arguments_before_calling(services, simulator, kwargs):
    with pytest.raises(InvalidInput):
        services.security.search(**kwargs)
    assert simulator.calls.count("security") == 0


def test_security_search_falls_back_to_the_list_where_v2_is_missing(services, simulator):
    simulator.set_faults([{"kind": "not_found", "service": "security", "endpoint": "security_search"}])
    page = services.security.search(ticker="msft")
    assert [s.ticker for s in page.items] == ["MSFT"]
    assert simulator.calls.count("security", "securities") == 1


# --- pricing ------------------------------------------------------------------------------------------------------
def test_price_is_close_by_exact_case_sensitive_ticker(services, simulator):
    assert services.pricing.price("AAPL") == DEMO.securities_by_ticker["AAPL"].price
    assert services.pricing.price("BRK.B") == DEMO.securities_by_ticker["BRK.B"].price
    with pytest.raises(ExternalDataError, match="aapl"):
        services.pricing.price("aapl")
    assert services.pricing.quote("aapl") is None
    quote = services.pricing.quote("MSFT")
    assert quote.date == DEMO.as_of and quote.close == DEMO.securities_by_ticker["MSFT"].price


def test_unpriced_ticker_is_no_price(services):
    assert services.pricing.quote("CELG") is None  # known to the security service, delisted at pricing


def test_all_prices_one_call(services, simulator):
    prices = services.pricing.all_prices()
    assert prices == {s.ticker: s.price for s in DEMO.securities if s.price is not None}
    assert simulator.calls.count("pricing") == 1
    services.pricing.price("AAPL")  # now cached
    assert simulator.calls.count("pricing") == 1


def test_non_positive_or_bad_close_is_a_problem_for_that_ticker_only(services, simulator):
    simulator.set_faults(
        [{"kind": "malformed", "service": "pricing", "variant": "bad_value", "field": "close", "items": ["AAPL"]}]
    )
    quotes, problems = services.pricing.all_quotes()
    assert "AAPL" not in quotes and "not a number" in problems["AAPL"]
    assert quotes["MSFT"].close == DEMO.securities_by_ticker["MSFT"].price


# --- portfolio ----------------------------------------------------------------------------------------------------
def test_portfolio_by_id_unknown_and_malformed(services, simulator):
    p = DEMO.portfolios[0]
    info = services.portfolio.get(p.portfolio_id)
    assert info.name == p.name
    assert info.date_created == p.date_created.replace(tzinfo=dt.UTC)  # naive read -> aware UTC
    assert services.portfolio.get("f" * 24) is None
    assert services.portfolio.get("notanid") is None  # the service answers 404 for malformed ids too


def test_all_portfolios_and_v2_search(services):
    everything = services.portfolio.all_portfolios()
    assert len(everything) == len(DEMO.portfolios)
    assert all(p.date_created is not None and p.date_created.tzinfo is dt.UTC for p in everything)
    name = DEMO.portfolios[3].name
    exact = services.portfolio.search(name=name.upper())
    assert [p.portfolio_id for p in exact.items] == [DEMO.portfolios[3].portfolio_id]
    like = services.portfolio.search(name_like="edge -", limit=100)
    assert like.total == len(DEMO.model("Edge Case Lab").portfolios)
    created = [p.date_created for p in like.items]
    assert created == sorted(created, reverse=True)  # newest first


@pytest.mark.parametrize(
    "kwargs", [{}, {"name": "a", "name_like": "b"}, {"name": "Robert'); DROP"}, {"name_like": "x", "limit": 0}]
)
def test_portfolio_search_rejects_bad_arguments_before_calling(services, simulator, kwargs):
    with pytest.raises(InvalidInput):
        services.portfolio.search(**kwargs)
    assert simulator.calls.count("portfolio") == 0


def test_portfolio_post_echo_and_reads_use_two_datetime_formats(services):
    created = services.portfolio._client.post("/api/v1/portfolios", json={"name": "Probe Fund"})
    assert created.status_code == 201
    body = created.json()
    assert body["dateCreated"].endswith("Z") and len(body["portfolioId"]) == 24
    read = services.portfolio._client.get(f"/api/v1/portfolio/{body['portfolioId']}").json()
    assert not read["dateCreated"].endswith("Z") and "+" not in read["dateCreated"]
    echo, naive = parse_datetime(body["dateCreated"]), parse_datetime(read["dateCreated"])
    assert echo.replace(microsecond=echo.microsecond // 1000 * 1000) == naive
    assert services.portfolio.get(body["portfolioId"]).date_created == naive


# --- order reference data, health, settings -----------------------------------------------------------------------
def test_order_reference_data(services):
    assert {t.abbreviation: t.id for t in services.order.order_types()}["BUY"] == 1
    assert {t.abbreviation: t.id for t in services.order.order_types()}["SELL"] == 2
    assert {s.abbreviation: s.id for s in services.order.statuses()}["NEW"] == 1
    assert {b.abbreviation: b.id for b in services.order.blotters()}["Default"] == 1


def test_health_and_describe(services, simulator):
    health = services.health()
    assert set(health) == {"accounting", "portfolio", "pricing", "security", "order"}
    assert all(h.ok and h.breaker == "closed" for h in health.values())
    assert set(services.describe().values()) == {"embedded simulator"}
    simulator.set_faults([{"kind": "error", "service": "pricing", "status": 503}])
    assert not services.health()["pricing"].ok


def test_settings_from_environment_and_overrides(monkeypatch):
    monkeypatch.setenv("PRICING_URL", "http://pricing.example:8083/")
    monkeypatch.setenv("SECURITY_URL", "  ")
    monkeypatch.setenv("HTTP_RETRIES", "5")
    s = get_settings()
    assert s.pricing_url == "http://pricing.example:8083" and s.security_url is None and s.http_retries == 5
    assert get_settings(http_retries=1).http_retries == 1  # keyword overlay wins over the environment
    d = Settings()
    assert (d.http_timeout, d.http_backoff, d.ticker_cache_ttl, d.price_cache_ttl, d.cache_max_entries) == (
        10.0,
        1.0,
        600.0,
        60.0,
        1000,
    )


def test_build_services_embedded_by_default_and_url_when_set(monkeypatch):
    for name in ("ACCOUNTING", "PORTFOLIO", "PRICING", "SECURITY", "ORDER"):
        monkeypatch.delenv(f"{name}_URL", raising=False)
    with build_services(fast_settings(order_url="http://orders.example:8081")) as svc:
        described = svc.describe()
        assert described["order"] == "http://orders.example:8081"
        assert described["pricing"] == "embedded simulator"
        assert svc.pricing.price("AAPL") == DEMO.securities_by_ticker["AAPL"].price  # embedded works in-process
        assert svc.simulator is not None


def test_optional_api_key_header_goes_to_accounting_only(simulator, sim_transport):
    seen: dict[str, str | None] = {}

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen[request.url.host] = request.headers.get("x-api-key")
            return sim_transport.handle_request(request)

    with build_services(fast_settings(accounting_api_key="k-123"), transport=Recording()) as svc:
        svc.accounting.summary(pid("Edge - Cash Only"))
        svc.pricing.price("AAPL")
    assert seen == {"accounting.sim": "k-123", "pricing.sim": None}
