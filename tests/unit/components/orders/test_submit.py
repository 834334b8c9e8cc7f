"""components.orders.submit against the simulator's Order Service (in-process): per-order outcomes, limit prices,
and a service that cannot even resolve the order types (nothing sent)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from components.orders.submit import order_requests, submit_orders
from components.rebalance.store import order_key
from data.simulator import Fault
from engine.orders import OrderRow
from tests.support.simulator import services, sim_transport, simulator  # noqa: F401 - fixtures

DAY = dt.date(2026, 3, 2)
P, Q = "6b08" + "a" * 20, "6b08" + "b" * 20
A, B = "6b08" + "c" * 20, "6b08" + "d" * 20


def row(pid, sid, side, qty, price="10.50"):
    return OrderRow(rebalance_id=None, portfolio_id=pid, portfolio_name=None, security_id=sid, ticker=None,
                    transaction_type=side, quantity=D(qty), price=D(price), estimated_value=D(qty) * D(price),
                    trade_date=DAY, reason="")  # fmt: skip


ROWS = [row(P, A, "BUY", "10"), row(P, B, "SELL", "2.5"), row(Q, A, "BUY", "7")]


def test_requests_map_sides_quantities_and_optional_limit():
    market = order_requests(ROWS)
    assert [(r.side, r.quantity, r.limit_price) for r in market] == [("BUY", D(10), None), ("SELL", D("2.5"), None),
                                                                     ("BUY", D(7), None)]  # fmt: skip
    assert [r.limit_price for r in order_requests(ROWS, use_limit_price=True)] == [D("10.50")] * 3


def test_every_order_gets_its_outcome(services, simulator):  # noqa: F811
    simulator.sim.faults.add([Fault(kind="order_item_failure", service="order", indexes=[1], message="No way")])
    outcomes = submit_orders(services.order, ROWS, use_limit_price=True)
    assert list(outcomes) == [order_key(r.portfolio_id, r.security_id, r.transaction_type) for r in ROWS]
    ok, bad, ok2 = outcomes.values()
    assert ok.succeeded and ok2.succeeded and ok.order_id != ok2.order_id
    assert (bad.outcome, bad.message, bad.order_id) == ("failed", "No way", None)
    stored = {o["id"]: o for o in simulator.sim.state.orders.values()}
    assert set(stored) == {ok.order_id, ok2.order_id}
    assert stored[ok.order_id]["limitPrice"] == D("10.50") and stored[ok.order_id]["quantity"] == D(10)


def test_nothing_sent_when_the_order_types_cannot_be_read(services, simulator):  # noqa: F811
    simulator.sim.faults.add([Fault(kind="error", service="order", status=503)])
    outcomes = submit_orders(services.order, ROWS)
    assert all(o.outcome == "failed" and o.message.startswith("not sent: ") for o in outcomes.values())
    assert simulator.sim.state.orders == {}


def test_empty_submission():
    assert submit_orders(None, []) == {}
