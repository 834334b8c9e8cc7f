"""Retries, timeouts, dropped connections, circuit breaker and caches, driven by simulator faults."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

import threading

import httpx
import pytest

from data.demo import load_demo
from data.http import QUICK_LOOK, BreakerOpen, CircuitBreaker, LockedTTLCache, RetryPolicy, map_bounded, retry_policy
from data.services import GlobeCoServices, build_services
from data.services.pricing import PricingClient
from engine.errors import EngineError, ExternalDataError, ServiceUnavailable
from tests.support.net import free_port
from tests.support.simulator import fast_settings, services, sim_transport, simulator  # noqa: F401

DEMO = load_demo()
PORTFOLIO = DEMO.model("Balanced Value").portfolios[0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- retries ------------------------------------------------------------------------------------------------------
def test_a_5xx_burst_that_recovers_within_the_retry_budget(services, simulator):
    simulator.set_faults([{"kind": "error", "service": "accounting", "status": 502, "count": 3}])
    got = services.accounting.summary(PORTFOLIO)
    assert got == DEMO.holdings(PORTFOLIO)
    calls = simulator.calls.calls("accounting", "summary")
    assert [c.status for c in calls] == [502, 502, 502, 200]


def test_a_5xx_that_does_not_recover_names_the_service(services, simulator):
    simulator.set_faults([{"kind": "error", "service": "accounting", "status": 500}])
    with pytest.raises(ServiceUnavailable) as err:
        services.accounting.summary(PORTFOLIO)
    details = err.value.details
    assert (details["service"], details["status"], details["attempts"]) == ("accounting", 500, 4)
    assert "Portfolio Accounting" in err.value.message
    assert simulator.calls.count("accounting", "summary") == 4


def test_4xx_is_never_retried(services, simulator):
    services.pricing.quote("NOPE")
    services.portfolio.get("0" * 24)
    assert simulator.calls.count("pricing") == 1 and simulator.calls.count("portfolio") == 1


def test_backoff_is_exponential_1_2_4_seconds_by_default(sim_transport, simulator):
    from data.settings import Settings

    slept: list[float] = []
    client = PricingClient("http://pricing.sim", Settings(), transport=sim_transport, sleep=slept.append)
    simulator.set_faults([{"kind": "error", "service": "pricing", "status": 503}])
    with pytest.raises(ServiceUnavailable):
        client.price("AAPL")
    assert slept == [1.0, 2.0, 4.0]
    client.close()


def test_a_quick_look_retries_once_at_once_and_still_fails_typed(sim_transport, simulator):
    """Issue 14 item 10: the triage scan's policy — one immediate retry, no backoff; the failure is still raised."""
    from data.settings import Settings

    slept: list[float] = []
    client = PricingClient("http://pricing.sim", Settings(), transport=sim_transport, sleep=slept.append)
    simulator.set_faults([{"kind": "error", "service": "pricing", "status": 503}])
    with retry_policy(QUICK_LOOK), pytest.raises(ServiceUnavailable) as err:
        client.price("AAPL")
    assert err.value.details["attempts"] == 2 and slept == [0.0]
    # outside the block the settings' policy is back
    with pytest.raises(ServiceUnavailable):
        client.price("AAPL")
    assert slept == [0.0, 1.0, 2.0, 4.0]
    client.close()


def test_a_retry_policy_reaches_worker_threads(sim_transport, simulator):
    from data.settings import Settings

    slept: list[float] = []
    client = PricingClient("http://pricing.sim", Settings(), transport=sim_transport, sleep=slept.append)
    simulator.set_faults([{"kind": "error", "service": "pricing", "status": 503}])

    def price(ticker: str) -> object:
        return client.price(ticker)

    with retry_policy(RetryPolicy(retries=2, backoff=0.25)):
        got = map_bounded(price, ["AAPL", "MSFT"], 2, catch=EngineError)
    assert all(isinstance(e, ServiceUnavailable) for e in got.values())
    assert sorted(slept) == [0.25] * 4  # two retries per call, the policy's backoff
    client.close()


def test_latency_within_the_timeout_is_fine(services, simulator):
    simulator.set_faults([{"kind": "latency", "service": "pricing", "delay": 0.05, "jitter": 0.05}])
    assert services.pricing.price("AAPL") == DEMO.securities_by_ticker["AAPL"].price
    assert simulator.calls.calls("pricing")[0].fault == "latency"


def test_latency_beyond_the_timeout_is_retried_then_unavailable(sim_transport, simulator):
    simulator.set_faults([{"kind": "timeout", "service": "pricing", "delay": 30}])
    with (
        build_services(fast_settings(http_timeout=0.2), transport=sim_transport) as svc,
        pytest.raises(ServiceUnavailable, match=r"did not answer within 0\.2 s") as err,
    ):
        svc.pricing.price("AAPL")
    assert err.value.details["reason"] == "ReadTimeout" and err.value.details["attempts"] == 4


def test_a_timeout_that_recovers(sim_transport, simulator):
    simulator.set_faults([{"kind": "timeout", "service": "security", "delay": 30, "count": 1}])
    with build_services(fast_settings(http_timeout=0.2), transport=sim_transport) as svc:
        assert svc.security.get(DEMO.securities[0].security_id).ticker == DEMO.securities[0].ticker


def test_dropped_connections_are_retried(services, simulator):
    simulator.set_faults([{"kind": "drop", "service": "portfolio", "count": 2}])
    assert services.portfolio.get(PORTFOLIO).portfolio_id == PORTFOLIO
    simulator.set_faults([{"kind": "drop", "service": "portfolio"}])
    services.portfolio.cache.clear()
    with pytest.raises(ServiceUnavailable) as err:
        services.portfolio.get(PORTFOLIO)
    assert err.value.details["reason"] == "RemoteProtocolError"


def test_connection_refused_is_unavailable_after_retries():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with (
        build_services(fast_settings(pricing_url=url)) as svc,
        pytest.raises(ServiceUnavailable, match="cannot connect") as err,
    ):
        svc.pricing.price("AAPL")
    assert err.value.details == {
        "service": "pricing",
        "url": url,
        "attempts": 4,
        "reason": "ConnectError",
    }


@pytest.mark.parametrize("kind", ["error", "drop", "timeout"])
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.accounting.summary(PORTFOLIO),
        lambda s: s.security.get(DEMO.securities[0].security_id),
        lambda s: s.security.all_securities(),
        lambda s: s.security.search(ticker="AAPL"),
        lambda s: s.pricing.price("AAPL"),
        lambda s: s.pricing.all_prices(),
        lambda s: s.portfolio.get(PORTFOLIO),
        lambda s: s.portfolio.all_portfolios(),
        lambda s: s.portfolio.search(name_like="Edge"),
        lambda s: s.order.order_types(),
        lambda s: s.order.list_orders(),
    ],
)
def test_no_raw_httpx_exception_leaves_the_clients(sim_transport, simulator, kind, call):
    simulator.set_faults([{"kind": kind, "delay": 30}])
    with (
        build_services(fast_settings(http_timeout=0.1, http_retries=1), transport=sim_transport) as svc,
        pytest.raises(EngineError) as err,
    ):
        call(svc)
    assert isinstance(err.value, ServiceUnavailable)
    assert not isinstance(err.value, httpx.HTTPError)


@pytest.mark.parametrize("variant", ["truncated", "not_json"])
def test_malformed_bulk_bodies_are_data_errors(services, simulator, variant):
    simulator.set_faults([{"kind": "malformed", "variant": variant}])
    for call in (services.security.all_securities, services.pricing.all_prices, services.portfolio.all_portfolios):
        with pytest.raises(ExternalDataError, match="malformed JSON"):
            call()


# --- circuit breaker ----------------------------------------------------------------------------------------------
def test_breaker_states_with_a_fake_clock():
    clock = FakeClock()
    breaker = CircuitBreaker("pricing", failure_threshold=3, reset_timeout=10, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(BreakerOpen):
        breaker.before_call()
    clock.now += 10
    assert breaker.state == "half_open"
    breaker.before_call()  # the single trial call
    with pytest.raises(BreakerOpen):
        breaker.before_call()  # a second caller must wait for the trial
    breaker.record_failure()
    assert breaker.state == "open"  # a failed trial re-opens at once
    clock.now += 10
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_success_resets_the_consecutive_failure_count():
    breaker = CircuitBreaker("x", failure_threshold=2, reset_timeout=1, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_breaker_opens_across_calls_fails_fast_then_half_opens_and_closes(sim_transport, simulator):
    settings = fast_settings(breaker_failure_threshold=3, breaker_reset_timeout=60)
    with build_services(settings, transport=sim_transport) as svc:
        clock = FakeClock()
        svc.pricing.breaker = CircuitBreaker("pricing", 3, 60, clock=clock)
        simulator.set_faults([{"kind": "error", "service": "pricing", "status": 503}])
        with pytest.raises(ServiceUnavailable) as first:
            svc.pricing.price("AAPL")
        assert first.value.details["breaker"] == "open" and simulator.calls.count("pricing") == 3
        with pytest.raises(ServiceUnavailable, match="circuit breaker"):
            svc.pricing.price("MSFT")  # a later call: rejected without any request
        assert simulator.calls.count("pricing") == 3
        assert svc.security.get(DEMO.securities[0].security_id) is not None  # per service: security unaffected
        assert svc.health()["pricing"].breaker == "open"

        clock.now += 60  # half-open: one trial, still failing -> open again after a single request
        with pytest.raises(ServiceUnavailable):
            svc.pricing.price("AAPL")
        assert simulator.calls.count("pricing") == 4 + 1  # + the health probe above

        clock.now += 60
        simulator.set_faults([])
        assert svc.pricing.price("AAPL") == DEMO.securities_by_ticker["AAPL"].price
        assert svc.pricing.breaker.state == "closed"


def test_4xx_and_coherent_500s_do_not_trip_the_breaker(services, simulator):
    services.accounting.breaker.failure_threshold = 2
    for _ in range(3):
        services.pricing.quote("NOPE")
    with pytest.raises(ExternalDataError):
        services.accounting.summary(DEMO.portfolios_by_name["Edge - No Balances"].portfolio_id)
    assert services.pricing.breaker.state == "closed" and services.accounting.breaker.state == "closed"


# --- caches -------------------------------------------------------------------------------------------------------
def test_locked_ttl_cache_expiry_and_bound():
    clock = FakeClock()
    cache = LockedTTLCache(maxsize=3, ttl=60, timer=clock)
    cache.set("price:AAPL", 1)
    clock.now += 59
    assert cache.get("price:AAPL") == 1
    clock.now += 1
    assert cache.get("price:AAPL") is None
    cache.set_many((f"k{i}", i) for i in range(10))
    assert len(cache) == 3 and cache.get_many(["k9", "k0"]) == {"k9": 9}


def test_price_cache_ttl_60s_and_ticker_cache_600s(services, simulator):
    clock = FakeClock()
    services.pricing.cache = LockedTTLCache(1000, services.settings.price_cache_ttl, timer=clock)
    services.security.cache = LockedTTLCache(1000, services.settings.ticker_cache_ttl, timer=clock)
    security_id = DEMO.securities_by_ticker["AAPL"].security_id
    for _ in range(3):
        services.pricing.price("AAPL")
        services.security.get(security_id)
    assert simulator.calls.count("pricing") == 1 and simulator.calls.count("security") == 1
    clock.now += 60
    services.pricing.price("AAPL")
    services.security.get(security_id)
    assert simulator.calls.count("pricing") == 2 and simulator.calls.count("security") == 1
    clock.now += 540
    services.security.get(security_id)
    assert simulator.calls.count("security") == 2


def test_caches_are_thread_safe_under_concurrent_use():
    cache = LockedTTLCache(maxsize=50, ttl=60)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(2000):
                cache.set(f"k{(n * i) % 97}", i)
                cache.get_many([f"k{j}" for j in range(10)])
                len(cache)
        except BaseException as err:  # collected: a thread's exception must fail the test
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) <= 50


def test_clients_are_reused_per_process_not_per_call(services: GlobeCoServices):
    first = services.pricing._client
    services.pricing.price("AAPL")
    services.pricing.price("MSFT")
    assert services.pricing._client is first
