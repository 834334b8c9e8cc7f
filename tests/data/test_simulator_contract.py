"""The simulator reproduces services.md §3-7 and §8.2-8.4 on the wire (raw HTTP, no client code in between)."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from data.demo import load_demo
from data.probe import run_probe
from data.simulator import INPROCESS_URLS, SimulatorConfig, sim_app
from tests.support.simulator import inprocess_transport, sim_transport, simulator  # noqa: F401

DEMO = load_demo()
HEX24 = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture
def http(sim_transport) -> Iterator[dict[str, httpx.Client]]:
    clients = {name: httpx.Client(base_url=url, transport=sim_transport) for name, url in INPROCESS_URLS.items()}
    yield clients
    for c in clients.values():
        c.close()


def pid(name: str) -> str:
    return DEMO.portfolios_by_name[name].portfolio_id


# --- accounting ---------------------------------------------------------------------------------------------------
def test_summary_wire_format(http):
    body = http["accounting"].get(f"/api/v1/portfolios/{pid('Edge - Fractional Shares')}/summary").json()
    assert set(body) == {"portfolioId", "cashBalance", "securityCount", "lastUpdated", "securities"}
    assert isinstance(body["cashBalance"], str) and isinstance(body["securityCount"], int)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$", body["lastUpdated"])
    row = next(r for r in body["securities"] if r["securityId"] == DEMO.securities_by_ticker["AAPL"].security_id)
    assert (row["quantityLong"], row["quantityShort"], row["netQuantity"]) == ("112.5", "0", "112.5")
    stamps = [r["lastUpdated"] for r in body["securities"]]
    assert all(re.match(r"^.*T\d\d:\d\d:\d\d(\.\d{1,9})?Z$", s) for s in stamps)
    assert any(len(s.split(".")[-1]) > 7 for s in stamps if "." in s)  # nanosecond precision occurs


def test_summary_trims_trailing_zeros_and_lists_shorts_and_zero_rows(http):
    short = http["accounting"].get(f"/api/v1/portfolios/{pid('Edge - Short Position')}/summary").json()
    msft = next(r for r in short["securities"] if r["securityId"] == DEMO.securities_by_ticker["MSFT"].security_id)
    assert (msft["quantityLong"], msft["quantityShort"], msft["netQuantity"]) == ("0", "40", "-40")
    zero = http["accounting"].get(f"/api/v1/portfolios/{pid('Edge - Zero Quantity Row')}/summary").json()
    assert zero["securityCount"] == len(zero["securities"])
    assert any(r["netQuantity"] == "0" for r in zero["securities"])
    assert all(not re.search(r"\.\d*0$", r["quantityLong"]) for r in zero["securities"])


def test_no_balances_answers_500_internal_error_not_404(http, simulator):
    for portfolio_id in (pid("Edge - No Balances"), "no-such-portfolio"):
        r = http["accounting"].get(f"/api/v1/portfolios/{portfolio_id}/summary")
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "INTERNAL_ERROR"
        assert r.json()["error"]["message"] == "Failed to retrieve portfolio summary"
    simulator.sim.configure(accounting_empty_status=404)
    r = http["accounting"].get(f"/api/v1/portfolios/{pid('Edge - No Balances')}/summary")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


def test_transactions_book_trades_synchronously(http):
    portfolio_id = pid("Edge - Cash Only")
    aapl = DEMO.securities_by_ticker["AAPL"].security_id
    items = [
        {"portfolioId": portfolio_id, "securityId": aapl, "sourceId": "ord-1", "transactionType": "BUY",
         "quantity": 10, "price": "20.5", "transactionDate": "20240601"},
        {"portfolioId": portfolio_id, "sourceId": "dep-1", "transactionType": "DEP", "quantity": 100, "price": 1,
         "transactionDate": "20240601"},
        {"portfolioId": portfolio_id, "securityId": aapl, "sourceId": "bad", "transactionType": "BUY",
         "quantity": -1, "price": 1, "transactionDate": "20240601"},
    ]  # fmt: skip
    r = http["accounting"].post("/api/v1/transactions", json=items)
    assert r.status_code == 207
    body = r.json()
    assert body["summary"] == {"totalRequested": 3, "successful": 2, "failed": 1, "successRate": 66.67}
    assert body["failed"][0]["errors"][0]["field"] == "quantity"
    summary = http["accounting"].get(f"/api/v1/portfolios/{portfolio_id}/summary").json()
    assert summary["cashBalance"] == "499895"  # 500000 - 10 * 20.5 + 100
    assert any(r["securityId"] == aapl and r["netQuantity"] == "10" for r in summary["securities"])
    assert http["accounting"].post("/api/v1/transactions", json=[]).status_code == 400
    assert http["accounting"].post("/api/v1/transactions", json=[items[0]] * 1001).status_code == 413


# --- security -----------------------------------------------------------------------------------------------------
def test_security_paths_and_error_bodies(http):
    sec = DEMO.securities_by_ticker["AAPL"]
    body = http["security"].get(f"/api/v1/security/{sec.security_id}").json()
    assert body["securityId"] == sec.security_id and body["securityType"]["abbreviation"] == "CS"
    r = http["security"].get("/api/v1/security/" + "a" * 24)
    assert (r.status_code, r.json()) == (404, {"detail": "Security not found"})
    r = http["security"].get("/api/v1/security/notanid")
    assert (r.status_code, r.json()) == (500, {"error": "Internal server error"})
    assert http["security"].get("/api/v1/securities/search").status_code in (404, 405)  # does not exist
    everything = http["security"].get("/api/v1/securities").json()
    assert isinstance(everything, list) and len(everything) == len(DEMO.securities)


def test_security_v2_search_pagination_and_validation(http):
    r = http["security"].get("/api/v2/securities", params={"ticker_like": "a", "limit": 10, "offset": 20})
    body = r.json()
    pag = body["pagination"]
    assert pag["currentPage"] == 2 and pag["pageSize"] == 10 and pag["hasPrevious"] and len(body["securities"]) == 10
    assert pag["totalPages"] == -(-pag["totalElements"] // 10)
    assert "version" in body["securities"][0]["securityType"]
    tickers = [s["ticker"] for s in body["securities"]]
    assert tickers == sorted(tickers)
    none = http["security"].get("/api/v2/securities", params={"ticker": "ZZZZZ"}).json()
    assert none["securities"] == [] and none["pagination"]["totalElements"] == 0
    both = http["security"].get("/api/v2/securities", params={"ticker": "A", "ticker_like": "B"})
    assert both.status_code == 400 and "SecuritySearchParams" in both.json()["detail"]
    assert http["security"].get("/api/v2/securities", params={"ticker": "A B"}).status_code == 400
    assert http["security"].get("/api/v2/securities", params={"ticker": "A", "limit": 5000}).status_code == 422


def test_security_post_generates_object_ids_and_allows_duplicate_tickers(http):
    type_id = DEMO.security_type["securityTypeId"]
    first = http["security"].post("/api/v1/securities", json={"ticker": "AAPL", "description": "Dup",
                                                               "securityTypeId": type_id})  # fmt: skip
    assert first.status_code == 201 and HEX24.match(first.json()["securityId"])
    assert first.json()["securityId"] != DEMO.securities_by_ticker["AAPL"].security_id
    bad = http["security"].post("/api/v1/securities", json={"ticker": "X", "description": "x",
                                                             "securityTypeId": "0" * 24})  # fmt: skip
    assert (bad.status_code, bad.json()) == (400, {"detail": "Invalid securityTypeId"})


# --- portfolio ----------------------------------------------------------------------------------------------------
def test_portfolio_paths_and_read_format(http):
    p = DEMO.portfolios[0]
    body = http["portfolio"].get(f"/api/v1/portfolio/{p.portfolio_id}").json()
    assert body["dateCreated"] == p.date_created.isoformat() and "Z" not in body["dateCreated"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}000)?$", body["dateCreated"])
    for bad in ("f" * 24, "notanid"):
        r = http["portfolio"].get(f"/api/v1/portfolio/{bad}")
        assert (r.status_code, r.json()) == (404, {"detail": "Portfolio not found"})
    plural = http["portfolio"].get(f"/api/v1/portfolios/{p.portfolio_id}")
    assert (plural.status_code, plural.json()) == (404, {"detail": "Not Found"})
    assert len(http["portfolio"].get("/api/v1/portfolios", params={"type": "x"}).json()) == len(DEMO.portfolios)
    assert http["portfolio"].get("/health").text == "OK"


def test_portfolio_v2_search(http):
    r = http["portfolio"].get("/api/v2/portfolios", params={"name_like": "trust", "limit": 3})
    body = r.json()
    dates = [p["dateCreated"] for p in body["portfolios"]]
    assert dates == sorted(dates, reverse=True) and body["pagination"]["hasNext"]
    both = http["portfolio"].get("/api/v2/portfolios", params={"name": "a", "name_like": "b"})
    assert (both.status_code, both.json()) == (400, {"detail": "Only one search parameter allowed: name or name_like"})
    assert http["portfolio"].get("/api/v2/portfolios", params={"name": "a;b"}).status_code == 400
    assert http["portfolio"].get("/api/v2/portfolios", params={"name": "a", "limit": 0}).status_code == 422
    missing = http["portfolio"].post("/api/v1/portfolios", json={"version": 1})
    assert missing.status_code == 422


# --- pricing ------------------------------------------------------------------------------------------------------
def test_price_dto_and_spring_404(http):
    sec = DEMO.securities_by_ticker["MSFT"]
    dto = http["pricing"].get("/api/v1/price/MSFT").json()
    assert dto["open"] == dto["high"] == dto["low"] == dto["close"] == float(sec.price)
    assert dto["volume"] == int(sec.price_std) and dto["date"] == DEMO.as_of.isoformat()
    r = http["pricing"].get("/api/v1/price/msft")
    assert r.status_code == 404 and set(r.json()) == {"timestamp", "status", "error", "path"}
    assert r.json()["path"] == "/api/v1/price/msft"
    assert http["pricing"].get("/api/v1/price/BRK.B").status_code == 200
    assert len(http["pricing"].get("/api/v1/prices").json()) == len(DEMO.prices)


def _closes(mode: str, seed: int, n: int = 5) -> list[float]:
    transport = inprocess_transport(sim_app(SimulatorConfig(price_mode=mode, seed=seed)))
    try:
        with httpx.Client(base_url=INPROCESS_URLS["pricing"], transport=transport) as c:
            return [c.get("/api/v1/price/MSFT").json()["close"] for _ in range(n)]
    finally:
        transport.shutdown()


def test_price_modes():
    assert set(_closes("fixed", 1)) == {float(DEMO.securities_by_ticker["MSFT"].price)}
    seeded = _closes("seeded", 1)
    assert len(set(seeded)) > 1  # every call re-samples
    assert seeded == _closes("seeded", 1)  # reproducible from (seed, ticker, call number)
    assert seeded != _closes("seeded", 2)
    live = _closes("live", 1)
    assert len(set(live)) > 1 and live != _closes("live", 1)
    assert all(round(c, 2) == c and c >= 0.01 for c in seeded + live)


# --- order --------------------------------------------------------------------------------------------------------
def _order(**over) -> dict:
    base = {"blotterId": 1, "statusId": 1, "portfolioId": DEMO.portfolios[0].portfolio_id, "orderTypeId": 1,
            "securityId": DEMO.securities[0].security_id, "quantity": 100, "limitPrice": None,
            "tradeOrderId": None, "orderTimestamp": "2024-06-01T12:00:00Z", "version": 1}  # fmt: skip
    return {**base, **over}


def test_orders_post_status_codes_and_per_item_results(http):
    ok = http["order"].post("/api/v1/orders", json=[_order()])
    assert ok.status_code == 200
    assert re.search(r'"quantity":100\.00000000', ok.text)  # BigDecimal scale 8 on the wire
    item = ok.json()["orders"][0]
    assert item["requestIndex"] == 0 and item["status"] == "SUCCESS" and isinstance(item["orderId"], int)
    assert item["order"]["blotter"]["abbreviation"] is None and item["order"]["limitPrice"] is None
    assert item["order"]["security"]["ticker"] == DEMO.securities[0].ticker

    mixed = http["order"].post("/api/v1/orders", json=[_order(), _order(quantity=0), _order(blotterId=9)])
    assert mixed.status_code == 207 and mixed.json()["status"] == "PARTIAL"
    failed = mixed.json()["orders"][1:]
    assert failed[0] == {"status": "FAILURE", "message": "Quantity must be positive", "requestIndex": 1}
    assert failed[1]["message"] == "Blotter with ID 9 not found" and "orderId" not in failed[1]

    all_bad = http["order"].post("/api/v1/orders", json=[_order(quantity=-1)])
    assert all_bad.status_code == 207 and all_bad.json()["status"] == "FAILURE"

    empty = http["order"].post("/api/v1/orders", json=[])
    assert empty.status_code == 400 and empty.json()["totalReceived"] == 0
    assert empty.json()["message"] == "No orders to process"
    assert http["order"].post("/api/v1/orders", json=_order()).status_code == 400  # a bare object
    assert http["order"].post("/api/v1/orders", content=b"[{", headers={"content-type": "application/json"}
                              ).status_code == 400  # fmt: skip
    assert http["order"].post("/api/v1/orders", json=[_order()] * 1001).status_code == 413
    assert http["order"].post("/api/v1/orders/batch", json=[_order()]).status_code in (404, 405)


def test_order_reads(http):
    created = http["order"].post("/api/v1/orders", json=[_order(), _order(orderTypeId=2)]).json()["orders"]
    page = http["order"].get("/api/v1/orders", params={"limit": 1, "offset": 1}).json()
    assert page["pagination"]["totalElements"] == 2 and page["pagination"]["currentPage"] == 1
    assert (
        page["content"][0]["id"] == created[1]["orderId"] and page["content"][0]["orderType"]["abbreviation"] == "SELL"
    )
    one = http["order"].get(f"/api/v1/order/{created[0]['orderId']}")
    assert one.json()["id"] == created[0]["orderId"]
    missing = http["order"].get("/api/v1/order/999999")
    assert missing.status_code == 404 and missing.content == b""
    types = {t["abbreviation"]: t["id"] for t in http["order"].get("/api/v1/orderTypes").json()}
    assert types == {"BUY": 1, "SELL": 2, "SHORT": 3, "COVER": 4, "EXRC": 5}
    statuses = [s["abbreviation"] for s in http["order"].get("/api/v1/statuses").json()]
    assert statuses == ["NEW", "SENT", "WORK", "FULL", "PART", "HOLD", "CNCL", "CNCLD", "CPART", "DEL"]
    blotters = [b["name"] for b in http["order"].get("/api/v1/blotters").json()]
    assert blotters == ["Default", "Equity", "Fixed Income", "Hold", "Crypto"]


def test_health_paths(http):
    paths = {
        "accounting": ["/health", "/health/live", "/health/ready"],
        "portfolio": ["/health", "/health/live", "/health/ready"],
        "pricing": ["/actuator/health/liveness", "/actuator/health/readiness"],
        "security": ["/health/liveness", "/health/readiness", "/health/startup"],
        "order": ["/actuator/health", "/actuator/health/readiness"],
    }
    for service, items in paths.items():
        for path in items:
            assert http[service].get(path).status_code == 200, (service, path)
    assert http["security"].get("/health").status_code == 404  # the security service has no /health


# --- faults and the call log --------------------------------------------------------------------------------------
def _pattern(seed: int) -> list[int]:
    app = sim_app(SimulatorConfig(seed=seed))
    app.set_faults([{"kind": "error", "service": "pricing", "status": 503, "rate": 0.3}])
    transport = inprocess_transport(app)
    try:
        with httpx.Client(base_url=INPROCESS_URLS["pricing"], transport=transport) as c:
            return [c.get(f"/api/v1/price/{t}").status_code for t in ("AAPL", "MSFT", "AAPL") * 10]
    finally:
        transport.shutdown()


def test_faults_are_reproducible_from_the_seed():
    first = _pattern(5)
    assert first == _pattern(5) and first != _pattern(6)
    assert 0 < first.count(503) < len(first)


def test_fault_targeting_by_service_endpoint_key_and_count(http, simulator):
    aapl = DEMO.securities_by_ticker["AAPL"]
    simulator.set_faults(
        [
            {"kind": "not_found", "service": "pricing", "endpoint": "price", "keys": ["AAPL"]},
            {"kind": "error", "service": "security", "endpoint": "securities", "status": 502, "count": 1},
            {"kind": "empty_500", "service": "accounting", "keys": [DEMO.portfolios[0].portfolio_id]},
        ]
    )
    assert http["pricing"].get("/api/v1/price/AAPL").status_code == 404
    assert http["pricing"].get("/api/v1/price/MSFT").status_code == 200
    assert http["security"].get(f"/api/v1/security/{aapl.security_id}").status_code == 200  # other endpoint
    assert [http["security"].get("/api/v1/securities").status_code for _ in range(2)] == [502, 200]
    r = http["accounting"].get(f"/api/v1/portfolios/{DEMO.portfolios[0].portfolio_id}/summary")
    assert r.status_code == 500 and r.json()["error"]["message"] == "Failed to retrieve portfolio summary"
    log = simulator.calls
    assert log.count("pricing", "price") == 2 and log.keys("pricing", "price") == {"AAPL": 1, "MSFT": 1}
    assert [c.fault for c in log.calls("security", "securities")] == ["error", None]
    log.clear()
    assert log.count() == 0


def test_order_503_carries_retry_after(http, simulator):
    simulator.set_faults([{"kind": "error", "service": "order", "status": 503, "retry_after": 7}])
    r = http["order"].post("/api/v1/orders", json=[_order()])
    assert r.status_code == 503 and r.headers["retry-after"] == "7"


def test_malformed_variants(http, simulator):
    path = f"/api/v1/portfolios/{pid('Edge - Fractional Shares')}/summary"
    simulator.set_faults([{"kind": "malformed", "variant": "truncated"}])
    with pytest.raises(json.JSONDecodeError):
        json.loads(http["accounting"].get(path).content)
    simulator.set_faults([{"kind": "malformed", "variant": "numbers"}])
    body = http["accounting"].get(path).json()
    assert not isinstance(body["cashBalance"], str) and all(
        not isinstance(r["netQuantity"], str) for r in body["securities"]
    )
    simulator.set_faults([{"kind": "malformed", "variant": "missing_field", "field": "close", "items": ["MSFT"]}])
    prices = {p["ticker"]: p for p in http["pricing"].get("/api/v1/prices").json()}
    assert "close" not in prices["MSFT"] and "close" in prices["AAPL"]


def test_admin_endpoints_are_not_logged_or_faulted(http, simulator):
    simulator.set_faults([{"kind": "error", "status": 500}])
    assert http["pricing"].get("/__sim/faults").json()["faults"][0]["kind"] == "error"
    assert http["pricing"].put("/__sim/faults", json={"faults": [], "seed": 9}).status_code == 200
    assert http["pricing"].get("/api/v1/price/AAPL").status_code == 200
    assert http["pricing"].put("/__sim/config", json={"price_mode": "seeded"}).json()["price_mode"] == "seeded"
    counted = http["pricing"].get("/__sim/calls", params={"service": "pricing", "full": "true"}).json()
    assert counted["count"] == 1 and counted["calls"][0]["path"] == "/api/v1/price/AAPL"
    assert http["pricing"].put("/__sim/config", json={"price_mode": "bogus"}).status_code >= 400


def test_unknown_host_is_not_a_service(sim_transport):
    with httpx.Client(base_url="http://elsewhere.sim", transport=sim_transport) as c:
        assert c.get("/health").status_code == 404


def test_contract_probe_passes_against_the_simulator(sim_transport):
    results = run_probe(INPROCESS_URLS, sim_transport)
    assert [r for r in results if r.status != "ok"] == []
    assert {r.service for r in results} == set(INPROCESS_URLS)
    assert len(results) >= 20


def test_contract_probe_catches_a_broken_contract(sim_transport, simulator):
    simulator.set_faults([{"kind": "malformed", "service": "accounting", "variant": "numbers"}])
    results = run_probe(INPROCESS_URLS, sim_transport)
    failed = [r for r in results if r.status == "fail"]
    assert [(r.service, r.check) for r in failed] == [("accounting", "GET /api/v1/portfolios/{id}/summary")]
