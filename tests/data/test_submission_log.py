"""Order submission that is never sent twice: the submission log on both backends, against the simulator (#12 §3).

Every drill counts what the simulated order service really holds: no order is ever created twice, and every order's
outcome is known (or settled by reconciliation) afterwards.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from collections import Counter
from decimal import Decimal

import pytest

from data.demo import load_demo
from data.repositories.submissions import Outcome, PlannedOrder, SubmissionLog
from data.services import OrderRequest, build_services
from data.submission import reconcile, submit_logged
from engine.errors import InvalidInput
from tests.support.simulator import fast_settings, services, sim_transport, simulator  # noqa: F401

DEMO = load_demo()
PORTFOLIOS = DEMO.model("Technology Leaders").portfolios[:3]
SECURITIES = [s.security_id for s in DEMO.securities[:4]]
DAY = dt.date(2026, 12, 4)


def planned(run_key: str = "run-1", n: int = 6) -> list[PlannedOrder]:
    return [
        PlannedOrder(run_key, PORTFOLIOS[i % 3], SECURITIES[i % 4], "BUY" if i % 2 else "SELL", Decimal(i + 1), DAY)
        for i in range(n)
    ]


def created(simulator) -> Counter:
    """How many orders the simulated service holds per (portfolio, security, type id, quantity)."""
    return Counter(
        (o["portfolioId"], o["securityId"], o["orderTypeId"], o["quantity"]) for o in simulator.state.orders.values()
    )


def assert_each_created_once(simulator, orders: list[PlannedOrder]) -> None:
    counts = created(simulator)
    assert sum(counts.values()) == len(orders)
    assert max(counts.values()) == 1


@pytest.fixture
def log(mongo) -> SubmissionLog:
    return SubmissionLog(mongo.db)


def test_a_second_submit_after_a_reload_sends_nothing_again(mongo, log, services, simulator):
    orders = planned()
    first = submit_logged(services.order, log, orders, user="pm@example.com")
    assert first.count("success") == len(orders) and not first.skipped
    # a reload, a second tab or a restart: a new log object on the same database knows what was sent
    again = submit_logged(services.order, SubmissionLog(mongo.db), orders)
    assert again.outcomes == {} and set(again.skipped) == {o.key for o in orders}
    assert_each_created_once(simulator, orders)
    entries = SubmissionLog(mongo.db).entries("run-1")
    assert {e.state for e in entries.values()} == {"success"}
    assert {e.order_id for e in entries.values()} == set(simulator.state.orders)
    assert {e.submitted_by for e in entries.values()} == {"pm@example.com"}


def test_two_tabs_pressing_submit_at_once_post_each_order_once(mongo, sim_transport, simulator):
    orders = planned(n=40)
    reports = []
    barrier = threading.Barrier(2)

    def press() -> None:
        with build_services(fast_settings(order_batch_size=7), transport=sim_transport) as svc:
            barrier.wait()
            reports.append(submit_logged(svc.order, SubmissionLog(mongo.db, create_indexes=False), orders))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(reports) == 2
    sent = [k for r in reports for k in r.outcomes]
    assert sorted(sent) == sorted(o.key for o in orders)  # each order went with exactly one tab
    assert_each_created_once(simulator, orders)


@pytest.mark.parametrize(
    ("kind", "after"),
    [("error", True), ("error", False), ("timeout", True)],
    ids=["processed-then-500", "500-unprocessed", "processed-then-no-answer"],
)
def test_an_unknown_batch_is_reconciled_before_anything_is_resent(mongo, log, sim_transport, simulator, kind, after):
    orders = planned(n=6)
    fault = {"kind": kind, "status": 500, "delay": 0.2, "service": "order", "endpoint": "orders_post", "count": 1}
    simulator.set_faults([{**fault, "after": after}])
    with build_services(fast_settings(order_batch_size=2), transport=sim_transport) as svc:
        first = submit_logged(svc.order, log, orders)
        assert [first.outcomes[o.key].state for o in orders] == ["unknown"] * 2 + ["failed"] * 4
        assert all("not sent" in first.outcomes[o.key].message for o in orders[2:])
        # pressing Submit again never re-sends the unknown ones: only the surely-unsent ones go
        second = submit_logged(svc.order, log, orders)
        assert set(second.outcomes) == {o.key for o in orders[2:]} and second.count("success") == 4
        assert set(second.skipped) == {o.key for o in orders[:2]}
        settled = reconcile(svc.order, log, "run-1")
        if after:  # the simulator holds the first batch: reconciliation finds both orders
            assert set(settled.found) == {o.key for o in orders[:2]} and not settled.not_found
            assert submit_logged(svc.order, log, orders).outcomes == {}
        else:  # nothing was created: both become failed and go with the next submit
            assert set(settled.not_found) == {o.key for o in orders[:2]} and not settled.found
            assert submit_logged(svc.order, log, orders).count("success") == 2
    assert_each_created_once(simulator, orders)
    entries = log.entries("run-1")
    assert {e.state for e in entries.values()} == {"success"}
    assert sorted(e.order_id for e in entries.values()) == sorted(simulator.state.orders)


def test_an_attempt_killed_mid_batch_is_settled_after_its_lease(log, services, simulator):
    orders = planned(n=4)
    attempt = "dead-attempt"
    claimed = log.claim(orders, attempt)
    stamp = dt.datetime(2026, 12, 4, 10, 42, 0, 123000, tzinfo=dt.UTC)
    log.mark_sending([o.key for o in claimed[:2]], attempt, stamp)
    # the process posts the first batch and dies before recording the answers; the simulator holds the orders
    services.order.submit(
        [OrderRequest(o.portfolio_id, o.security_id, o.side, o.quantity) for o in claimed[:2]], order_timestamp=stamp
    )
    # within the lease another session must not touch them: the attempt may still be alive
    assert submit_logged(services.order, log, orders).outcomes == {}
    early = reconcile(services.order, log, "run-1")
    assert set(early.still_open) == {o.key for o in orders} and not early.found and not early.not_found
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    settled = reconcile(services.order, log, "run-1", now=later)
    assert set(settled.found) == {o.key for o in orders[:2]}
    assert set(settled.not_found) == {o.key for o in orders[2:]}  # queued, never posted
    assert submit_logged(services.order, log, orders).count("success") == 2
    assert_each_created_once(simulator, orders)


def test_an_attempt_whose_process_died_is_settled_at_once(mongo, log, services, simulator):
    """The attempt's process is gone (kill -9 mid-batch): its open orders are "outcome unknown" at once, not after
    the lease, and reconciliation settles them; an attempt of a live process (or another host) keeps its lease."""
    orders = planned(n=4)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claimed = log.claim(orders, "killed")
    stamp = dt.datetime(2026, 12, 4, 10, 42, 0, 123000, tzinfo=dt.UTC)
    log.mark_sending([o.key for o in claimed[:2]], "killed", stamp)
    services.order.submit(
        [OrderRequest(o.portfolio_id, o.security_id, o.side, o.quantity) for o in claimed[:2]], order_timestamp=stamp
    )
    now = dt.datetime.now(dt.UTC)
    assert not any(e.abandoned(now) for e in log.entries("run-1").values())  # this process: alive
    mongo.db.submissions.update_many({"runKey": "run-1"}, {"$set": {"writer.pid": dead.pid}})
    assert all(e.abandoned(now) for e in log.entries("run-1").values())
    settled = reconcile(services.order, log, "run-1")
    assert set(settled.found) == {o.key for o in orders[:2]} and set(settled.not_found) == {o.key for o in orders[2:]}
    assert submit_logged(services.order, log, orders).count("success") == 2
    assert_each_created_once(simulator, orders)
    other = planned("run-2", 2)
    log.claim(other, "elsewhere")
    mongo.db.submissions.update_many({"runKey": "run-2"}, {"$set": {"writer": {"host": "other-host", "pid": dead.pid}}})
    assert not any(e.abandoned(now) for e in log.entries("run-2").values())  # another host: only the lease tells


def test_a_late_write_of_a_superseded_attempt_changes_nothing(log):
    orders = planned(n=1)
    log.claim(orders, "a1")
    log.record({orders[0].key: Outcome("failed", "rejected")}, "a1")
    assert log.claim(orders, "a2") == orders  # a failed order may be claimed again
    log.record({orders[0].key: Outcome("success", "late", 99)}, "a1")  # a1 no longer owns it
    entry = log.entries("run-1")[orders[0].key]
    assert (entry.state, entry.attempt_id, entry.order_id) == ("queued", "a2", None)


def test_log_inputs_are_checked(log):
    with pytest.raises(InvalidInput):
        log.claim(planned(n=1) * 2, "a")
    bad = PlannedOrder("run\ud800", PORTFOLIOS[0], SECURITIES[0], "BUY", Decimal(1), DAY)
    with pytest.raises(InvalidInput):
        log.claim([bad], "a")
    with pytest.raises(InvalidInput):
        log.entries({"$ne": ""})  # type: ignore[arg-type]


def test_portfolios_with_submitted_orders_are_found_for_warnings(log, services):
    submit_logged(services.order, log, planned(n=3))
    hits = log.entries_for_portfolios([PORTFOLIOS[0]], DAY)
    assert {e.portfolio_id for e in hits} == {PORTFOLIOS[0]} and all(e.state == "success" for e in hits)
    assert log.entries_for_portfolios([PORTFOLIOS[0]], DAY + dt.timedelta(days=1)) == []


def test_a_run_of_more_than_a_thousand_orders_is_claimed_sent_and_logged(mongo, sim_transport, simulator):
    """A 1,000-portfolio run has ~30,000 orders: no query may grow with it (long $in lists break the embedded DB)."""
    orders = [
        PlannedOrder("big-run", f"{i:024x}", SECURITIES[i % 4], "BUY", Decimal(1 + i % 7), DAY) for i in range(1500)
    ]
    log = SubmissionLog(mongo.db)
    with build_services(fast_settings(order_batch_size=1000), transport=sim_transport) as svc:
        report = submit_logged(svc.order, log, orders)
        assert report.count("success") == 1500
        assert submit_logged(svc.order, log, orders).outcomes == {}  # nothing twice
    assert len(simulator.state.orders) == 1500
    assert len(log.entries_for_portfolios([o.portfolio_id for o in orders], DAY)) == 1500


def test_orders_sent_before_a_save_count_for_the_saved_run(log):
    """A scenario's orders are logged under its scenario key until it is saved; linking marks those of the saved run
    (and only those) so the run's "submitted" count includes them."""
    now = dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC)
    sent = planned("ws:scenario", 6)
    assert log.claim(sent, "attempt-1", now=now) == sent
    log.record({o.key: Outcome("success", "created", i + 1) for i, o in enumerate(sent[:5])}, "attempt-1", now=now)
    log.record({sent[5].key: Outcome("failed", "refused")}, "attempt-1", now=now)
    saved_orders = [(o.portfolio_id, o.security_id, o.side, o.quantity, o.trade_date) for o in sent[1:]]
    assert log.created_counts(["run-9"]) == {"run-9": 0}
    assert log.link_saved_run("ws:scenario", "run-9", saved_orders) == 5  # sent[0] is not an order of the run
    assert log.created_counts(["run-9", "ws:scenario"]) == {"run-9": 4, "ws:scenario": 5}
    later = planned("run-9", 8)[6:]  # sent after the save, under the run's own key
    log.claim(later, "attempt-2", now=now)
    log.record({o.key: Outcome("success", "created", 10 + i) for i, o in enumerate(later)}, "attempt-2", now=now)
    assert log.created_counts(["run-9"]) == {"run-9": 6}
    assert log.link_saved_run("ws:scenario", "run-9", saved_orders) == 0  # idempotent
    with pytest.raises(InvalidInput, match="rebalance_id"):
        log.link_saved_run("ws:scenario", {"$ne": 1}, saved_orders)  # type: ignore[arg-type]


def test_the_change_stamp_moves_with_every_write_that_changes_a_day(mongo):
    """Issue 12 §4-5: the Orders page caches its "already traded" look-up under this stamp; every claim, outcome
    and settlement moves it, so no cached answer outlives a change."""
    log = SubmissionLog(mongo.db)
    first = log.stamp()
    orders = planned("run-s", 2)
    assert log.claim(orders, "attempt-1") == orders
    claimed = log.stamp()
    assert claimed > first
    assert log.claim(orders, "attempt-2") == []  # nothing won, nothing changed
    assert log.stamp() == claimed
    log.record({orders[0].key: Outcome("success", "ok", 7), orders[1].key: Outcome("unknown", "timeout")}, "attempt-1")
    recorded = log.stamp()
    assert recorded > claimed
    assert log.settle(orders[1].key, "unknown", Outcome("failed", "not found"))
    assert log.stamp() > recorded
