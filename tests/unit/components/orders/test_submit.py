"""components.orders.submit against the simulator's Order Service (in-process): per-order outcomes, limit prices,
and a service that cannot even resolve the order types (nothing sent); outcomes read back from the log."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from components.orders.submit import logged_outcomes, order_requests, submit
from components.rebalance.store import order_key
from data.repositories.submissions import SubmissionLog
from data.simulator import Fault
from engine.orders import OrderRow
from tests.support.simulator import services, sim_transport, simulator  # noqa: F401 - fixtures

DAY = dt.date(2026, 3, 2)


@pytest.fixture
def mongo_db(tmp_path):
    from data.mongo import get_client, get_database

    client = get_client(f"mongoeco:///{tmp_path}/t.sqlite3")
    yield get_database(client)
    client.close()


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


def test_every_order_gets_its_outcome_in_the_log(services, simulator, mongo_db):  # noqa: F811
    simulator.sim.faults.add([Fault(kind="order_item_failure", service="order", indexes=[1], message="No way")])
    log = SubmissionLog(mongo_db)
    report = submit(services.order, log, ROWS, "ws:scenario", user="local", use_limit_price=True)
    assert (report.count("success"), report.count("failed")) == (2, 1)
    seen = logged_outcomes(log, ["ws:scenario"], ROWS)
    assert list(seen) == [order_key(r.portfolio_id, r.security_id, r.transaction_type) for r in ROWS]
    ok, bad, ok2 = seen.values()
    assert ok.succeeded and ok2.succeeded and ok.order_id != ok2.order_id
    assert (bad.outcome, bad.message, bad.order_id) == ("failed", "No way", None)
    stored = {o["id"]: o for o in simulator.sim.state.orders.values()}
    assert set(stored) == {ok.order_id, ok2.order_id}
    assert stored[ok.order_id]["limitPrice"] == D("10.50") and stored[ok.order_id]["quantity"] == D(10)
    # once saved, the page reads both run keys: what was sent before the save still counts
    assert logged_outcomes(log, ["saved-run", "ws:scenario"], ROWS) == seen


def test_nothing_sent_when_the_order_types_cannot_be_read(services, simulator, mongo_db):  # noqa: F811
    simulator.sim.faults.add([Fault(kind="error", service="order", status=503)])
    log = SubmissionLog(mongo_db)
    report = submit(services.order, log, ROWS, "run", user=None)
    assert all(o.state == "failed" and o.message.startswith("not sent: ") for o in report.outcomes.values())
    assert simulator.sim.state.orders == {}


def test_prior_activity_of_a_1000_portfolio_scenario(mongo_db):
    """One look-up over 1,000 ids broke the embedded backend ("expression tree is too large"): chunked now."""
    from types import SimpleNamespace

    from components.orders.submit import prior_activity
    from data.repositories import RebalanceRepository
    from data.repositories.submissions import PlannedOrder

    pids = [f"{i:024x}" for i in range(1000)]
    scenario = SimpleNamespace(
        optimal_results=[SimpleNamespace(portfolio_id=p) for p in pids], saved_rebalance_id=None, cache={}
    )
    log = SubmissionLog(mongo_db)
    rebalances = RebalanceRepository(mongo_db)
    assert not prior_activity(rebalances, log, scenario, ["mine"], DAY).any
    other = [PlannedOrder("other-run", p, A, "BUY", D(1), DAY) for p in pids[-3:]]
    log.claim(other, "attempt")
    mine = [PlannedOrder("mine", pids[0], A, "BUY", D(1), DAY)]
    log.claim(mine, "attempt-2")
    prior = prior_activity(rebalances, log, scenario, ["mine"], DAY)
    assert (prior.saved_runs, prior.submitted_portfolios) == (0, 3)
    assert "3 of these portfolios already have orders submitted" in prior.describe()
