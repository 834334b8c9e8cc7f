"""Order submission that survives reloads and tabs (issue #12 §3-4, AppTest against the simulator): a reload between
batches shows what was sent; an answer lost after the POST is "outcome unknown" until Reconcile settles it; a second
tab never re-sends; the banner belongs to its scenario; earlier saves/submissions of the same portfolios need an
explicit confirmation; a deleted saved run leaves the scenario."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from components import resources
from components.orders import submit as submission
from components.rebalance import keys as rebalance_keys
from engine.orders import order_rows
from tests.app.support import (
    ORDERS_PAGE,
    clear_faults,
    inject_fault,
    no_exception,
    open_page,
    reopen,
    run_whatif,
    save,
    scenarios,
    texts,
    whatif_then_orders,
)

pytestmark = pytest.mark.slow


def posted(simulator) -> Counter:
    return Counter((o["portfolioId"], o["securityId"], o["quantity"]) for o in simulator.sim.state.orders.values())


def expected(rows) -> Counter:
    return Counter((r.portfolio_id, r.security_id, r.quantity) for r in rows)


def submit(at) -> None:
    at.button(key="orders_submit").click().run()
    at.button(key="orders_confirm_submit").click().run()
    assert no_exception(at), [e.value for e in at.exception]


def test_reload_after_a_lost_answer_then_reconcile_then_the_rest(make_at, repo, simulator):
    at = make_at(ORDER_BATCH_SIZE="3")
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    assert len(rows) > 3
    # the first batch's POST is processed, then its answer lost: the simulator holds those orders
    inject_fault(simulator, kind="error", status=500, service="order", endpoint="orders_post", count=1, after=True)
    submit(at)
    assert any("Reconcile" in w for w in texts(at, "warning"))
    assert sum(posted(simulator).values()) == 3
    # a reload (fresh session on the same workspace URL) knows what happened
    clear_faults(simulator)
    ws = at.session_state[rebalance_keys.WORKSPACE]
    fresh = reopen(ws, ORDERS_PAGE)
    assert any("3 order(s) have an unknown outcome" in w for w in texts(fresh, "warning")), texts(fresh, "warning")
    assert fresh.button(key="orders_submit").disabled  # nothing is sent before reconciling
    fresh.button(key="orders_reconcile").click().run()
    assert any("3 found (created)" in i for i in texts(fresh, "info")), texts(fresh, "info")
    submit(fresh)
    assert any(f"Submitted {len(rows) - 3:,} order(s): {len(rows) - 3:,} created" in s for s in texts(fresh, "success"))
    assert posted(simulator) == expected(rows)  # every order exactly once
    assert fresh.button(key="orders_submit").disabled
    blotter = next(df.value for df in fresh.dataframe if "submission" in df.value.columns)
    assert set(blotter["submission"]) == {"submitted"}


def test_a_second_tab_never_resends_and_sees_every_outcome(at, repo, simulator):
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    other = reopen(at.session_state[rebalance_keys.WORKSPACE], ORDERS_PAGE)
    other.button(key="orders_submit").click().run()  # the other tab's dialog is open, showing every order
    assert other.button(key="orders_confirm_submit").label == f"Submit {len(rows):,} orders"
    submit(at)
    other.run()
    assert other.button(key="orders_confirm_submit").disabled  # its plan is read from the log: nothing left
    assert any(f"{len(rows):,} of {len(rows):,} orders created" in c for c in texts(other, "caption"))
    assert posted(simulator) == expected(rows)


def test_two_submits_at_once_post_each_order_once(at, repo, simulator):
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    key = submission.run_keys(scenario, at.session_state[rebalance_keys.WORKSPACE])[0]
    client, log = resources.services().order, resources.submission_log()
    reports = []
    start = threading.Barrier(2)

    def press() -> None:
        start.wait()
        reports.append(submission.submit(client, log, rows, key, user="local"))

    tabs = [threading.Thread(target=press) for _ in range(2)]
    for t in tabs:
        t.start()
    for t in tabs:
        t.join()
    assert posted(simulator) == expected(rows)
    assert sum(r.count("success") for r in reports) == len(rows)
    assert sorted(len(r.skipped) for r in reports)[1] >= 1 or len(rows) == 1
    at.run()
    assert any(f"{len(rows):,} of {len(rows):,} orders created" in c for c in texts(at, "caption"))


def test_banner_on_its_scenario_and_a_confirmation_for_portfolios_already_traded(at, repo, simulator):
    whatif_then_orders(at, repo)
    submit(at)
    assert any(s.startswith("Submitted") for s in texts(at, "success"))
    open_page(at)
    run_whatif(at, min_cash=2500.0)
    at.switch_page(ORDERS_PAGE).run()
    assert not any(s.startswith("Submitted") for s in texts(at, "success") + texts(at, "warning"))
    at.button(key="orders_submit").click().run()
    assert any("already have orders submitted for this trade date" in w for w in texts(at, "warning"))
    assert at.button(key="orders_confirm_submit").disabled
    (confirm,) = [c for c in at.checkbox if c.key.endswith("_submit") and "anyway" in c.label]
    assert confirm.label.startswith("I checked these ")
    confirm.check().run()
    assert not at.button(key="orders_confirm_submit").disabled
    at.button(key="orders_cancel_submit").click().run()
    at.button(key="orders_save").click().run()  # saving the same portfolios also asks
    assert any("already have orders submitted" in w for w in texts(at, "warning"))
    assert at.button(key="orders_confirm_save").disabled


def test_a_deleted_saved_run_leaves_the_scenario_and_its_csv(at, repo):
    scenario = whatif_then_orders(at, repo)
    save(at)
    rid = scenario.saved_rebalance_id
    assert rid and all(r.rebalance_id == rid for r in order_rows(scenario.results, scenario.tickers, None, rid))
    head = resources.rebalance_repo().get_rebalance(rid)
    resources.rebalance_repo().delete_rebalance(rid, head.version, wait=True)
    at.run()
    assert any("was deleted" in i for i in texts(at, "info"))
    assert scenarios(at)[-1].saved_rebalance_id is None
    csv = next(b for b in at.get("download_button") if b.proto.label.startswith("Download all"))
    assert rid not in str(csv.proto)
    assert [s.saved_rebalance_id for s in scenarios(reopen(at.session_state[rebalance_keys.WORKSPACE]))] == [None]


def test_history_shows_whether_a_runs_orders_were_submitted(at, repo):
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    save(at)
    at.switch_page("pages/history.py").run()
    listed = next(df.value for df in at.dataframe if "submitted" in df.value.columns)
    assert listed.set_index("rebalance_id").loc[scenario.saved_rebalance_id, "submitted"] == 0
    at.switch_page(ORDERS_PAGE).run()
    submit(at)
    at.switch_page("pages/history.py").run()
    listed = next(df.value for df in at.dataframe if "submitted" in df.value.columns)
    assert listed.set_index("rebalance_id").loc[scenario.saved_rebalance_id, "submitted"] == len(rows)


def test_held_back_orders_read_not_sent_never_failed(make_at, repo, simulator):
    """Issue #14: orders held back after an unknown batch were never posted; the banner says "not sent" (failed
    means the Order Service refused an order it received)."""
    at = make_at(ORDER_BATCH_SIZE="3")
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    held = len(rows) - 3
    assert held > 0
    inject_fault(simulator, kind="error", status=500, service="order", endpoint="orders_post", count=1, after=True)
    submit(at)
    clear_faults(simulator)
    banner = [w for w in texts(at, "warning") if w.startswith("Submitted")]
    assert banner, texts(at, "warning")
    assert f"{held:,} not sent" in banner[0] and "0 failed" in banner[0] and "3 unknown" in banner[0], banner[0]
    table = next(df.value for df in at.dataframe if "outcome" in df.value.columns)
    assert set(table["outcome"]) == {"unknown", "not sent"}


def test_history_counts_orders_submitted_before_the_run_was_saved(at, repo, simulator):
    """Submit first, save after: the saved run's line in History counts the orders already sent (issue #12)."""
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    submit(at)
    assert posted(simulator) == expected(rows)
    save(at)
    saved = scenarios(at)[-1].saved_rebalance_id
    assert saved is not None
    at.switch_page("pages/history.py").run()
    assert no_exception(at), [e.value for e in at.exception]
    listed = next(df.value for df in at.dataframe if "submitted" in df.value.columns)
    assert listed.set_index("rebalance_id").loc[saved, "submitted"] == len(rows)
    at.switch_page(ORDERS_PAGE).run()
    assert at.button(key="orders_submit").disabled  # nothing left to send: every order is known as sent
    assert posted(simulator) == expected(rows)
