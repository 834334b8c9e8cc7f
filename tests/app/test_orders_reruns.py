"""What the Orders page keeps between its runs (issue #12 §5: the reruns around *Save rebalance* rebuild nothing) is
never stale: the submission outcomes are kept under the log's change stamp, so orders sent from another session
show on the next run, and an order whose sender went silent reads "unknown" once its lease is over, though that
moves no stamp."""

from __future__ import annotations

import datetime as dt

from components import resources
from components.orders import submit as submission
from components.rebalance import keys as rebalance_keys
from data.repositories.submissions import Outcome, PlannedOrder
from engine.orders import order_rows
from tests.app.support import no_exception, texts, whatif_then_orders


def planned(at, scenario, rows) -> list[PlannedOrder]:
    key = submission.run_keys(scenario, at.session_state[rebalance_keys.WORKSPACE])[0]
    return [
        PlannedOrder(key, r.portfolio_id, r.security_id, r.transaction_type, r.quantity, r.trade_date) for r in rows
    ]


def test_orders_sent_by_another_session_show_on_the_next_run(at, repo):
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    at.run()  # nothing sent: what the page read is kept
    assert not any("orders created" in c for c in texts(at, "caption"))
    # another tab sends two of them: claimed, posted, recorded (each write moves the log's stamp)
    log = resources.submission_log()
    sent = planned(at, scenario, rows[:2])
    log.claim(sent, "other-tab", user="someone")
    log.record({o.key: Outcome("success", "created", 900 + i) for i, o in enumerate(sent)}, "other-tab")
    at.run()
    assert no_exception(at), [e.value for e in at.exception]
    assert any(f"2 of {len(rows):,} orders created" in c for c in texts(at, "caption")), texts(at, "caption")


def test_an_order_whose_sender_went_silent_reads_unknown_once_its_lease_is_over(at, repo):
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    log = resources.submission_log()
    (order,) = planned(at, scenario, rows[:1])
    log.claim([order], "silent-tab", user="someone")  # claimed by a live sender: being sent
    at.run()
    assert any("1 being sent now" in c for c in texts(at, "caption")), texts(at, "caption")
    # its sender never says more: the lease runs out, and nothing is written to the log (its stamp does not move)
    stamp = log.stamp()
    log._col.update_one({"_id": order.key}, {"$set": {"updatedAt": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}})
    assert log.stamp() == stamp
    at.run()
    assert any("1 order(s) have an unknown outcome" in w for w in texts(at, "warning")), texts(at, "warning")
    assert at.button(key="orders_submit").disabled  # reconcile first: it may exist
