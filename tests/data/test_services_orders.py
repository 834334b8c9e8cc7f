"""Order submission: array POSTs, batching, per-item results, and the stricter non-idempotent retry rule (§7.4)."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from data.demo import load_demo
from data.services import OrderRequest, ReferenceItem, build_services
from engine.errors import ServiceUnavailable
from tests.support.net import free_port
from tests.support.simulator import fast_settings, services, sim_transport, simulator  # noqa: F401

DEMO = load_demo()
P1, P2 = DEMO.model("Technology Leaders").portfolios[:2]
AAPL = DEMO.securities_by_ticker["AAPL"].security_id
MSFT = DEMO.securities_by_ticker["MSFT"].security_id


def orders(n: int) -> list[OrderRequest]:
    return [
        OrderRequest(P1 if i % 2 else P2, AAPL if i % 3 else MSFT, "BUY" if i % 2 else "SELL", Decimal(i + 1))
        for i in range(n)
    ]


def posts(simulator) -> list:
    return simulator.calls.calls("order", "orders_post")


def test_submit_creates_orders_and_reports_each_by_request_index(services, simulator):
    batch = [
        OrderRequest(P1, AAPL, "BUY", Decimal(100)),
        OrderRequest(P1, MSFT, "SELL", Decimal("12.5")),  # fractional: sent unrounded
        OrderRequest(P2, AAPL, "BUY", Decimal(3), limit_price=Decimal("22.96")),
    ]
    results = services.order.submit(batch)
    assert [r.request_index for r in results] == [0, 1, 2]
    assert all(r.success and r.order_id for r in results)
    listed = services.order.list_orders(limit=10).items
    assert [o["order_id"] for o in listed] == [r.order_id for r in results]
    first, second, third = listed
    assert (first["ticker"], first["order_type"], first["status"], first["quantity"]) == ("AAPL", "BUY", "NEW", 100)
    names = {p.portfolio_id: p.name for p in DEMO.portfolios}
    assert (first["portfolio_name"], third["portfolio_name"]) == (names[P1], names[P2])  # decorated by the service
    assert second["quantity"] == Decimal("12.5") and second["order_type"] == "SELL"
    assert third["limit_price"] == Decimal("22.96") and first["limit_price"] is None
    assert len(posts(simulator)) == 1


def test_the_wire_format_is_one_json_array_with_the_documented_fields(services, simulator):
    captured: list[bytes] = []
    transport = services.order._client._transport
    original = transport.handle_request

    def spy(request):
        if request.method == "POST":
            captured.append(request.read())
        return original(request)

    transport.handle_request = spy
    try:
        services.order.submit([OrderRequest(P1, AAPL, "SELL", Decimal("0.125"))])
    finally:
        transport.handle_request = original
    body = json.loads(captured[0], parse_float=Decimal)
    assert isinstance(body, list) and len(body) == 1
    item = body[0]
    assert {k: item[k] for k in ("blotterId", "statusId", "orderTypeId", "tradeOrderId", "version")} == {
        "blotterId": 1,
        "statusId": 1,
        "orderTypeId": 2,
        "tradeOrderId": None,
        "version": 1,
    }
    assert item["quantity"] == Decimal("0.125") and item["limitPrice"] is None
    assert item["orderTimestamp"].endswith("Z")


def test_per_item_failures_in_a_207(services, simulator):
    simulator.set_faults([{"kind": "order_item_failure", "indexes": [1], "message": "Blotter with ID 9 not found"}])
    results = services.order.submit(orders(3))
    assert [r.outcome for r in results] == ["success", "failed", "success"]
    assert results[1].message == "Blotter with ID 9 not found" and results[1].order_id is None
    assert posts(simulator)[0].status == 207


def test_every_item_failing_is_still_a_207_read_per_item(services, simulator):
    simulator.set_faults([{"kind": "order_item_failure"}])
    results = services.order.submit(orders(2))
    assert [r.outcome for r in results] == ["failed", "failed"]
    assert posts(simulator)[0].status == 207


def test_locally_invalid_lines_are_never_sent(services, simulator):
    batch = [
        OrderRequest(P1, AAPL, "BUY", Decimal(0)),
        OrderRequest(P1, AAPL, "SHORT", Decimal(5)),  # type: ignore[arg-type]
        OrderRequest(P1, "x" * 25, "BUY", Decimal(5)),
        OrderRequest(P1, AAPL, "BUY", Decimal(5)),
    ]
    results = services.order.submit(batch)
    assert [r.outcome for r in results] == ["failed", "failed", "failed", "success"]
    assert all(r.message.startswith("not sent") for r in results[:3])
    assert len(services.order.list_orders().items) == 1


def test_nothing_to_submit_sends_nothing(services, simulator):
    assert services.order.submit([]) == []
    assert simulator.calls.count("order") == 0


def test_batches_of_at_most_1000_with_global_indexes(services, simulator):
    results = services.order.submit(orders(1001))
    assert len(posts(simulator)) == 2
    assert [r.request_index for r in results] == list(range(1001))
    assert all(r.success for r in results)
    assert len({r.order_id for r in results}) == 1001


def test_configured_smaller_batches(sim_transport, simulator):
    with build_services(fast_settings(order_batch_size=2), transport=sim_transport) as svc:
        simulator.set_faults([{"kind": "order_item_failure", "indexes": [0]}])
        results = svc.order.submit(orders(5))
    assert len(posts(simulator)) == 3
    # request indexes are per batch at the service: item 0 of every batch failed, mapped back to 0, 2, 4
    assert [r.outcome for r in results] == ["failed", "success", "failed", "success", "failed"]


def test_503_with_retry_after_is_retried_then_succeeds(services, simulator):
    simulator.set_faults(
        [{"kind": "error", "service": "order", "endpoint": "orders_post", "status": 503, "retry_after": 2, "count": 2}]
    )
    results = services.order.submit(orders(2))
    assert all(r.success for r in results)
    assert [c.status for c in posts(simulator)] == [503, 503, 200]


def test_503_that_persists_fails_every_line_as_not_processed(services, simulator):
    simulator.set_faults([{"kind": "error", "service": "order", "endpoint": "orders_post", "status": 503}])
    results = services.order.submit(orders(3))
    assert {r.outcome for r in results} == {"failed"}
    assert "not processed" in results[0].message
    assert len(posts(simulator)) == 4


@pytest.mark.parametrize(
    "fault", [{"kind": "error", "status": 500}, {"kind": "error", "status": 502}, {"kind": "drop"}]
)
def test_500_or_a_drop_after_sending_is_unknown_and_never_resent(services, simulator, fault):
    simulator.set_faults([{**fault, "service": "order", "endpoint": "orders_post"}])
    results = services.order.submit(orders(2))
    assert {r.outcome for r in results} == {"unknown"}
    assert "check the order list" in results[0].message
    assert len(posts(simulator)) == 1


def test_a_timeout_is_unknown_and_later_batches_are_held_back(sim_transport, simulator):
    simulator.set_faults([{"kind": "timeout", "service": "order", "endpoint": "orders_post", "delay": 30, "count": 1}])
    with build_services(fast_settings(order_batch_size=2, http_timeout=0.2), transport=sim_transport) as svc:
        results = svc.order.submit(orders(5))
    assert [r.outcome for r in results[:2]] == ["unknown", "unknown"]
    assert {r.outcome for r in results[2:]} == {"failed"}
    assert all("not sent" in r.message for r in results[2:])
    assert len(posts(simulator)) == 1  # the fault fired once; nothing else was sent


def test_connect_errors_are_retried_and_reported_as_not_sent():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with build_services(fast_settings(order_url=url)) as svc:
        with pytest.raises(ServiceUnavailable, match="cannot connect"):
            svc.order.submit(orders(1))  # the reference look-ups come first: nothing can be sent
        # With reference data already known, the POST itself is retried (surely not sent) and reported per line.
        svc.order.cache.set("/api/v1/orderTypes", [ReferenceItem(1, "BUY", ""), ReferenceItem(2, "SELL", "")])
        svc.order.cache.set("/api/v1/statuses", [ReferenceItem(1, "NEW", "")])
        svc.order.cache.set("/api/v1/blotters", [ReferenceItem(1, "Default", "")])
        svc.order.breaker.reset()  # the failed look-ups above opened it
        results = svc.order.submit(orders(2))
    assert {r.outcome for r in results} == {"failed"}
    assert results[0].message.startswith("not sent: cannot connect")


def test_a_down_order_service_raises_before_sending_anything(services, simulator):
    simulator.set_faults([{"kind": "error", "service": "order", "endpoint": "order_types", "status": 503}])
    with pytest.raises(ServiceUnavailable):
        services.order.submit(orders(1))
    assert not posts(simulator)


def test_open_breaker_means_not_sent(services, simulator):
    services.order.order_types()
    services.order.statuses()
    services.order.blotters()
    services.order.breaker.failure_threshold = 1
    services.order.breaker.record_failure()
    results = services.order.submit(orders(2))
    assert {r.outcome for r in results} == {"failed"} and "circuit breaker" in results[0].message
    assert not posts(simulator)
