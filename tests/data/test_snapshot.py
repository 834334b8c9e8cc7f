"""Market snapshot: call plan, one price per security per run, per-portfolio failures, fail-fast, progress, cancel."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from data.demo import load_demo
from data.services import build_services
from data.simulator import SimulatorConfig, sim_app
from data.snapshot import build_market_snapshot
from engine.errors import Cancelled, ExternalDataError, ServiceUnavailable
from engine.models import InvestmentModel, Position
from tests.support.simulator import fast_settings, inprocess_transport, services, sim_transport, simulator  # noqa: F401

DEMO = load_demo()
SCALE = DEMO.model("Global Equity Core")
EDGE = DEMO.model("Edge Case Lab")
SMALL = DEMO.model("Technology Leaders")


def by_name(name: str) -> str:
    return DEMO.portfolios_by_name[name].portfolio_id


def test_1000_portfolio_snapshot_call_plan(services, simulator):
    snap = build_market_snapshot(services, SCALE)
    calls = simulator.calls
    assert len(SCALE.portfolios) >= 1000
    assert calls.count("accounting", "summary") == len(SCALE.portfolios)
    assert set(calls.keys("accounting", "summary").values()) == {1}  # exactly one summary per portfolio
    others = calls.count() - calls.count("accounting")
    assert others <= 4  # one bulk securities, one bulk prices, one portfolio list (+ nothing per portfolio)
    assert calls.count("pricing", "prices") == 1 and calls.count("pricing", "price") == 0
    assert calls.count("security", "securities") == 1 and calls.count("security", "security") == 0
    assert snap.requests == calls.count()  # the snapshot counts every request it made
    assert snap.requests_by_service["accounting"] == len(SCALE.portfolios)
    assert not snap.failures and not snap.warnings
    assert [p.portfolio_id for p in snap.portfolios] == list(SCALE.portfolios)


def test_snapshot_values_equal_the_dataset(services):
    snap = build_market_snapshot(services, SCALE)
    names = {p.portfolio_id: p.name for p in DEMO.portfolios}
    for p in snap.portfolios[:50]:
        expected = DEMO.holdings(p.portfolio_id)
        assert (p.cash, set(p.holdings)) == (expected.cash, set(expected.holdings))
        assert p.name == names[p.portfolio_id]
    needed = {pos.security_id for pos in SCALE.positions} | {h.security_id for p in snap.portfolios for h in p.holdings}
    assert set(snap.prices) == needed
    assert all(snap.prices[s] == DEMO.securities_by_id[s].price for s in needed)  # fixed mode: stored prices
    assert snap.ticker(SCALE.positions[0].security_id) == DEMO.securities_by_id[SCALE.positions[0].security_id].ticker


def test_one_price_per_security_per_run_although_every_call_resamples():
    app = sim_app(SimulatorConfig(price_mode="seeded", seed=11))
    transport = inprocess_transport(app)
    try:
        with build_services(fast_settings(), transport=transport) as svc:
            snap = build_market_snapshot(svc, SMALL)
            tickers = {snap.ticker(s) for s in snap.prices}
            assert all(app.state.price_calls[t] == 1 for t in tickers)  # sampled once in this run
            # The run's single price is the first seeded sample; the service re-samples on every later call.
            ticker = sorted(tickers)[0]
            sid = next(s for s in snap.prices if snap.ticker(s) == ticker)
            twin = sim_app(SimulatorConfig(price_mode="seeded", seed=11))
            assert snap.prices[sid] == Decimal(str(twin.state.sample_close(twin.state.prices[ticker], "seeded")))
            fresh = [svc.pricing.quote(ticker).close for _ in range(3)]
            assert len({snap.prices[sid], *fresh}) > 1
            again = build_market_snapshot(svc, SMALL)  # within the 60 s price cache: the same prices, no calls
            assert again.prices == snap.prices and again.requests_by_service.get("pricing", 0) == 0
    finally:
        transport.shutdown()


def test_small_runs_use_per_item_calls_at_most_once_each(services, simulator):
    model = InvestmentModel(
        name="tiny",
        positions=(
            Position(
                security_id=DEMO.securities_by_ticker["AAPL"].security_id,
                target=Decimal("0.5"),
                high_drift=Decimal("0.1"),
                low_drift=Decimal("0.1"),
            ),
        ),
        portfolios=(by_name("Edge - Cash Only"),),
    )
    snap = build_market_snapshot(services, model)
    assert snap.portfolios[0].holdings == () and snap.prices
    assert simulator.calls.count("pricing", "price") == 1 and simulator.calls.count("pricing", "prices") == 0
    assert simulator.calls.count("security", "security") == 1
    assert simulator.calls.count("portfolio", "portfolio") == 1  # one name: per-id, not the whole list


def test_edge_cases_fail_only_their_portfolio_and_name_the_security(services):
    snap = build_market_snapshot(services, EDGE)
    failed = {DEMO.portfolios_by_name[n].portfolio_id: n for n in ("Edge - No Balances", "Edge - Unpriced Holding")}
    assert set(snap.failures) == set(failed)
    empty = snap.failures[by_name("Edge - No Balances")]
    assert empty.code == "EXTERNAL_DATA_ERROR" and "may have no balances" in empty.message
    unpriced = snap.failures[by_name("Edge - Unpriced Holding")]
    celg = DEMO.securities_by_ticker["CELG"].security_id
    assert "CELG" in unpriced.message and celg in unpriced.message
    assert unpriced.details["security_id"] == celg and unpriced.details["portfolio_id"] == by_name(
        "Edge - Unpriced Holding"
    )
    usable = {p.portfolio_id: p for p in snap.portfolios}
    assert len(usable) == len(EDGE.portfolios) - 2
    short = {h.security_id: h.quantity for h in usable[by_name("Edge - Short Position")].holdings}
    assert short[DEMO.securities_by_ticker["MSFT"].security_id] == -40
    frac = {h.security_id: h.quantity for h in usable[by_name("Edge - Fractional Shares")].holdings}
    assert frac[DEMO.securities_by_ticker["AAPL"].security_id] == Decimal("112.5")
    assert DEMO.securities_by_ticker["KO"].security_id in snap.prices  # non-model holding priced too
    assert usable[by_name("Edge - Negative Cash")].cash < 0


def test_unknown_and_non_hex_model_securities_fail_every_portfolio(services, simulator):
    unknown, non_hex = "0" * 24, "ABCDEFGHIJKLMNOPQRSTUVWX"
    positions = tuple(
        Position(security_id=s, target=Decimal("0.1"), high_drift=Decimal("0.05"), low_drift=Decimal("0.05"))
        for s in (unknown, non_hex)
    )
    model = InvestmentModel(name="bad", positions=positions, portfolios=SMALL.portfolios[:3])
    snap = build_market_snapshot(services, model)
    assert not snap.portfolios and set(snap.failures) == set(SMALL.portfolios[:3])
    info = snap.failures[SMALL.portfolios[0]]
    assert f"unknown security {unknown}" in info.message and "(and 1 more)" in info.message
    assert any("not a 24-hex id" in s["problem"] for s in info.details["securities"])
    assert all(c.key != non_hex for c in simulator.calls.calls("security"))


def test_a_bad_price_of_a_model_security_fails_the_run_naming_it(services, simulator):
    # Every portfolio needs every model price: one run-level error instead of the same failure per portfolio.
    sec = DEMO.securities_by_id[SCALE.positions[0].security_id]
    simulator.set_faults(
        [{"kind": "malformed", "service": "pricing", "variant": "bad_value", "field": "close", "items": [sec.ticker]}]
    )
    with pytest.raises(ExternalDataError) as err:
        build_market_snapshot(services, SCALE, SCALE.portfolios[:20])
    assert f"pricing returned no usable price for 1 of {len(SCALE.positions)} model securities" in err.value.message
    assert sec.ticker in err.value.message and "not a number" in err.value.message
    assert err.value.details["securities"][0]["security_id"] == sec.security_id


@pytest.mark.parametrize("bulk_threshold", [0, 1000])  # the bulk price list, and one call per ticker
def test_every_model_price_malformed_fails_the_run_once(sim_transport, simulator, bulk_threshold):
    simulator.set_faults([{"kind": "malformed", "service": "pricing", "variant": "null_field", "field": "close"}])
    settings = fast_settings(bulk_threshold=bulk_threshold)
    expected = r"no usable price for 30 of 30 model securities"
    with (
        build_services(settings, transport=sim_transport) as svc,
        pytest.raises(ExternalDataError, match=expected) as err,
    ):
        build_market_snapshot(svc, SCALE, SCALE.portfolios[:50])
    assert err.value.details["service"] == "pricing" and len(err.value.details["securities"]) == 30
    assert "(pricing: price of" in err.value.message and "'close' is null" in err.value.message


def test_a_bad_price_of_a_holding_outside_the_model_fails_only_its_portfolios(services, simulator):
    ko = DEMO.securities_by_ticker["KO"]  # held by "Edge - Non-Model Holding" only
    simulator.set_faults(
        [{"kind": "malformed", "service": "pricing", "variant": "wrong_type", "field": "close", "items": [ko.ticker]}]
    )
    snap = build_market_snapshot(services, EDGE)
    holder = by_name("Edge - Non-Model Holding")
    assert holder in snap.failures and "KO" in snap.failures[holder].message
    assert set(snap.failures) == {holder, by_name("Edge - No Balances"), by_name("Edge - Unpriced Holding")}


def test_fail_fast_when_accounting_is_down(sim_transport, simulator):
    simulator.set_faults([{"kind": "error", "service": "accounting", "status": 503}])
    with build_services(fast_settings(), transport=sim_transport) as svc, pytest.raises(ServiceUnavailable) as err:
        build_market_snapshot(svc, SCALE)
    assert err.value.details["service"] == "accounting"
    assert simulator.calls.count("accounting") < len(SCALE.portfolios) // 4  # the rest was cancelled
    assert simulator.calls.count("pricing") == 0


@pytest.mark.parametrize(("service", "endpoint"), [("security", "securities"), ("pricing", "prices")])
def test_fail_fast_when_security_or_pricing_is_down(services, simulator, service, endpoint):
    simulator.set_faults([{"kind": "error", "service": service, "endpoint": endpoint, "status": 502}])
    with pytest.raises(ServiceUnavailable) as err:
        build_market_snapshot(services, SCALE, SCALE.portfolios[:30])
    assert err.value.details["service"] == service


def test_portfolio_service_down_is_soft(services, simulator):
    simulator.set_faults([{"kind": "error", "service": "portfolio", "status": 503}])
    snap = build_market_snapshot(services, SMALL)
    assert not snap.failures and len(snap.portfolios) == len(SMALL.portfolios)
    assert all(p.name is None for p in snap.portfolios)
    assert any("portfolio names unavailable" in w for w in snap.warnings)


def test_faults_that_recover_leave_no_failed_portfolio(services, simulator):
    simulator.set_faults([{"kind": "error", "status": 503, "rate": 0.05}], seed=3)
    snap = build_market_snapshot(services, SCALE)
    assert not snap.failures and len(snap.portfolios) == len(SCALE.portfolios)
    retried = sum(1 for c in simulator.calls.calls() if c.status == 503)
    assert retried > 10 and snap.requests == simulator.calls.count()


def test_progress_reports_every_portfolio_on_the_calling_thread(services):
    seen: list[tuple[int, int, str]] = []
    build_market_snapshot(
        services, SMALL, progress=lambda done, total: seen.append((done, total, threading.current_thread().name))
    )
    total = len(SMALL.portfolios)
    assert [d for d, _, _ in seen] == list(range(1, total + 1)) and {t for _, t, _ in seen} == {total}
    assert {name for _, _, name in seen} == {threading.current_thread().name}


def test_cancel_stops_between_summaries(services, simulator):
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 50:
            stop.set()

    with pytest.raises(Cancelled):
        build_market_snapshot(services, SCALE, progress=progress, cancel=stop)
    assert simulator.calls.count("accounting") < len(SCALE.portfolios)
    assert simulator.calls.count("pricing") == 0
    with pytest.raises(Cancelled):
        build_market_snapshot(services, SCALE, cancel=lambda: True)


def test_subset_duplicates_and_empty(services, simulator):
    ids = [SMALL.portfolios[1], SMALL.portfolios[0], SMALL.portfolios[1]]
    snap = build_market_snapshot(services, SMALL, ids)
    assert snap.portfolio_ids == (SMALL.portfolios[1], SMALL.portfolios[0])
    assert [p.portfolio_id for p in snap.portfolios] == list(snap.portfolio_ids)
    empty = build_market_snapshot(services, SMALL, [])
    assert empty.portfolios == [] and empty.failures == {} and empty.prices == {}


def test_documented_404_variant_gives_an_empty_portfolio(services, simulator):
    simulator.sim.configure(accounting_empty_status=404)
    snap = build_market_snapshot(services, EDGE)
    empty = next(p for p in snap.portfolios if p.portfolio_id == by_name("Edge - No Balances"))
    assert empty.cash == 0 and empty.holdings == ()
    assert set(snap.failures) == {by_name("Edge - Unpriced Holding")}


def test_booking_the_trades_makes_a_second_run_propose_nothing(services):
    from engine.rebalance import rebalance_portfolios

    first = build_market_snapshot(services, SMALL)
    results = rebalance_portfolios(SMALL, first.prices, first.portfolios, workers=1, with_positions=False)
    trades = [
        {
            "portfolioId": r.portfolio_id,
            "securityId": t.security_id,
            "sourceId": f"rebalance-{n}",
            "transactionType": t.transaction_type,
            "quantity": str(t.quantity),
            "price": str(first.prices[t.security_id]),
            "transactionDate": "20240601",
        }
        for r in results
        if r.status == "optimal"
        for n, t in enumerate(r.transactions)
    ]
    assert len(trades) > 20
    booked = services.accounting.post_transactions(trades)
    assert booked["summary"]["failed"] == 0, booked["failed"][:1]
    second = build_market_snapshot(services, SMALL)
    again = rebalance_portfolios(SMALL, second.prices, second.portfolios, workers=1, with_positions=False)
    assert [r.status for r in again] == [r.status for r in results]
    assert all(r.transactions == () for r in again if r.status == "optimal")


def test_a_hanging_portfolio_service_does_not_hold_the_run(sim_transport, simulator):
    simulator.set_faults([{"kind": "timeout", "service": "portfolio", "delay": 30}])
    with build_services(fast_settings(http_timeout=0.3, http_retries=3), transport=sim_transport) as svc:
        snap = build_market_snapshot(svc, SMALL)
    assert not snap.failures and all(p.name is None for p in snap.portfolios)
    assert any("portfolio" in w for w in snap.warnings)
