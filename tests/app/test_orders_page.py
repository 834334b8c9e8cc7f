"""Orders & export page (AppTest): blotter and totals, filters, save (and refusal after a model edit), submit with
partial failures against the simulator's Order Service (HTTP 207), never re-sending a created order."""

from __future__ import annotations

import re
from decimal import Decimal

from components.orders import keys as orders_keys
from components.orders.frames import rows_shown
from engine.orders import aggregate_orders, order_rows, orders_to_csv, side_totals
from tests.app.support import (
    clear_faults,
    frame_with,
    inject_fault,
    metric,
    no_exception,
    save,
    texts,
    whatif_then_orders,
)

PAGE = "pages/orders.py"


def test_without_a_scenario_the_page_points_to_the_what_if(at):
    at.switch_page(PAGE).run()
    assert any("run one first" in i for i in texts(at, "info"))
    assert not at.main.button  # nothing to save or submit


def test_blotter_totals_and_filters(at, repo):
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    totals = side_totals(rows)
    assert metric(at, "Orders") == f"{len(rows):,}"
    assert metric(at, "BUY orders") == f"{totals['BUY'].orders:,}"
    (sell_value,) = [m for m in at.metric if m.label == "SELL value"]
    assert sell_value.help == f"${float(totals['SELL'].estimated_value):,.2f}"  # exact in the help, short as value
    blotter = frame_with(at, "reason")
    assert len(blotter) == len(rows)
    assert set(zip(blotter["portfolio_id"], blotter["security_id"], blotter["side"], strict=True)) == {
        (r.portfolio_id, r.security_id, r.transaction_type) for r in rows
    }
    assert all(blotter["reason"].str.len() > 0)
    at.multiselect(key=orders_keys.SIDES).set_value(["SELL"]).run()
    assert set(frame_with(at, "reason")["side"]) == {"SELL"}
    ticker = rows[0].ticker
    at.multiselect(key=orders_keys.SIDES).set_value(["BUY", "SELL"]).run()
    at.text_input(key=orders_keys.TICKER_FILTER).input(ticker.lower()).run()
    shown = frame_with(at, "reason")
    assert len(shown) == sum(1 for r in rows if ticker.lower() in (r.ticker or "").lower()) and len(shown) > 0
    at.selectbox(key=orders_keys.SORT).set_value("Estimated value, largest first").run()
    values = frame_with(at, "reason")["estimated_value"].tolist()
    assert values == sorted(values, reverse=True)
    blocks = frame_with(at, "portfolios")
    assert blocks["quantity"].sum() == float(sum(r.quantity for r in rows))
    # issue 14 item 14: with a filter on, both files are offered, each saying what it holds
    assert [b.proto.label for b in at.get("download_button")] == [
        f"Download all {len(rows):,} orders (CSV)",
        f"Download the {len(shown):,} filtered orders (CSV)",
        "Download block orders CSV",
    ]
    csv_lines = orders_to_csv(rows_shown(rows, shown)).decode().splitlines()[1:]
    assert [(line.split(",")[4], line.split(",")[5]) for line in csv_lines] == list(
        zip(shown["ticker"], shown["side"], strict=True)
    )  # exactly the rows on screen, in their order
    at.text_input(key=orders_keys.TICKER_FILTER).input("").run()
    assert [b.proto.label for b in at.get("download_button")] == [
        f"Download all {len(rows):,} orders (CSV)",
        "Download block orders CSV",
    ]


def test_save_persists_exactly_the_reviewed_scenario(at, repo):
    from components import resources

    scenario = whatif_then_orders(at, repo, min_cash=2500.0)
    model_before = repo().get_model(scenario.model.model_id)
    save(at)
    assert scenario.saved_rebalance_id
    assert any(scenario.saved_rebalance_id in s for s in texts(at, "success"))
    record = resources.rebalance_repo().get_rebalance(scenario.saved_rebalance_id)
    optimal = scenario.optimal_results
    assert [p.portfolio_id for p in record.portfolios] == [r.portfolio_id for r in optimal]
    for saved, res in zip(record.portfolios, optimal, strict=True):
        assert saved.cash_after_rebalance == res.cash_after and saved.market_value == res.market_value
        assert saved.positions == res.positions  # the reviewed numbers, not a re-solve
    model_after = repo().get_model(scenario.model.model_id)
    assert model_after.version == model_before.version  # the stamp does not bump the version
    assert model_after.last_rebalance_date == record.rebalance_date
    assert "orders_save" not in [b.key for b in at.button]  # saved once, not twice


def test_save_refused_after_a_model_edit(at, repo):
    from components import resources

    scenario = whatif_then_orders(at, repo)
    model = repo().get_model(scenario.model.model_id)
    first = model.positions[0]
    edited = first.model_copy(update={"high_drift": first.high_drift + Decimal("0.01")})
    repo().update_position(model.model_id, edited)  # "another user" edits the model: version + 1
    save(at)
    assert scenario.saved_rebalance_id is None
    (error,) = [e for e in texts(at, "error") if "Save refused" in e]
    assert f"“{model.name}” changed since the run" in error and "Re-run the what-if" in error
    assert resources.rebalance_repo().count_rebalances() == 0
    assert repo().get_model(model.model_id).last_rebalance_date == model.last_rebalance_date


def sim_orders(simulator) -> list[tuple[str, str, int, Decimal]]:
    return [
        (o["portfolioId"], o["securityId"], o["orderTypeId"], o["quantity"])
        for o in simulator.sim.state.orders.values()
    ]


def logged(at, scenario, rows):
    """The submission log's outcomes of the scenario's orders (what every tab and reload sees)."""
    from components import resources
    from components.orders.submit import logged_outcomes, run_keys
    from components.rebalance import keys as rebalance_keys

    keys = run_keys(scenario, at.session_state[rebalance_keys.WORKSPACE])
    return logged_outcomes(resources.submission_log(), keys, rows)


def test_submit_with_partial_failures_never_resends_a_success(at, repo, simulator):
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    inject_fault(simulator, kind="order_item_failure", service="order", indexes=[0, 2], message="Blotter locked")
    at.button(key="orders_submit").click().run()
    assert at.button(key="orders_confirm_submit").label == f"Submit {len(rows):,} orders"
    at.button(key="orders_confirm_submit").click().run()
    assert no_exception(at)
    (report,) = [w for w in texts(at, "warning") if w.startswith("Submitted")]
    assert report.startswith(f"Submitted {len(rows):,} order(s): {len(rows) - 2:,} created, 2 failed, 0 not sent, 0 ")
    created = sim_orders(simulator)
    assert len(created) == len(rows) - 2
    seen = logged(at, scenario, rows)
    failed = [k for k, o in seen.items() if not o.succeeded]
    assert len(failed) == 2 and all(seen[k].message == "Blotter locked" for k in failed)
    blotter = frame_with(at, "reason")
    assert sorted(blotter["submission"]) == sorted(["failed"] * 2 + ["submitted"] * (len(rows) - 2))
    # retry: only the two failed orders are sent
    clear_faults(simulator)
    at.button(key="orders_submit").click().run()
    assert at.button(key="orders_confirm_submit").label == "Submit 2 orders"
    at.button(key="orders_confirm_submit").click().run()
    assert any(s == "Submitted 2 order(s): 2 created, 0 failed, 0 not sent, 0 unknown." for s in texts(at, "success"))
    side_id = {"BUY": 1, "SELL": 2}
    expected = sorted((r.portfolio_id, r.security_id, side_id[r.transaction_type], r.quantity) for r in rows)
    assert sorted(sim_orders(simulator)) == expected  # every order exactly once
    assert at.button(key="orders_submit").disabled  # nothing left to send


def test_submit_is_behind_a_confirmation(at, repo, simulator):
    whatif_then_orders(at, repo)
    at.button(key="orders_submit").click().run()
    at.button(key="orders_cancel_submit").click().run()
    assert sim_orders(simulator) == []
    assert "orders_confirm_submit" not in [b.key for b in at.button]


def test_limit_price_option_sends_the_rebalance_price(at, repo, simulator):
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    at.button(key="orders_submit").click().run()
    at.checkbox(key=orders_keys.LIMIT_PRICE).check().run()
    at.button(key="orders_confirm_submit").click().run()
    prices = {(r.portfolio_id, r.security_id): r.price for r in rows}
    for o in simulator.sim.state.orders.values():
        assert o["limitPrice"] == prices[(o["portfolioId"], o["securityId"])]


def test_portfolios_not_rebalanced_are_listed_with_tickers_and_percent_and_a_fix_link(at, repo):
    """Issue 14 item 17: the Orders page says which portfolios got no orders and why, in a PM's terms."""
    scenario = whatif_then_orders(at, repo, "Edge Case Lab")
    left = [r for r in scenario.results if r.status != "optimal"]
    assert left
    table = frame_with(at, "why")
    assert set(table["portfolio_id"]) == {r.portfolio_id for r in left}
    ids = {sid for r in scenario.results for sid in [*(p.security_id for p in r.positions)]} | set(scenario.tickers)
    for why in table["why"]:
        assert not any(sid in why for sid in ids)  # securities by ticker, never a raw id
        assert not re.search(r"(target|low drift|high drift) 0\.\d", why)  # weights in percent
    infeasible = next(r for r in left if r.status == "infeasible" and "band" in (r.diagnosis or ""))
    why = table.set_index("portfolio_id").loc[infeasible.portfolio_id, "why"]
    assert " %" in why and any(t in why for t in scenario.tickers.values())
    at.button(key="orders_fix_model").click().run()
    assert at.session_state["selected_model_id"] == scenario.model.model_id


def test_short_covers_and_fractional_orders_are_flagged_in_their_own_column(at, repo):
    scenario = whatif_then_orders(at, repo, "Edge Case Lab")
    rows = order_rows(scenario.optimal_results, scenario.tickers)
    blotter = frame_with(at, "flags").set_index("key")
    for r in rows:
        flags = blotter.loc[f"{r.portfolio_id}:{r.security_id}:{r.transaction_type}", "flags"]
        assert ("short cover" in flags) == r.covers_short and ("fractional" in flags) == r.fractional


def test_block_view_nets_buy_and_sell_on_request_and_keeps_both_legs_per_portfolio(at, repo):
    """Issue 14 item 16."""
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    assert len(frame_with(at, "portfolios")) == len(aggregate_orders(rows))
    at.toggle(key=orders_keys.NET_BLOCKS).set_value(True).run()
    netted = frame_with(at, "portfolios")
    assert netted["security_id"].is_unique and len(netted) == len(aggregate_orders(rows, net=True))
    assert len(frame_with(at, "reason")) == len(rows)  # the per-portfolio view keeps both legs
    assert any("BUY and SELL netted" in c for c in texts(at, "caption"))


def test_a_large_blotter_lists_its_first_rows_and_the_csvs_hold_every_order(at, repo, monkeypatch):
    """Display-only tables send at most MAX_ROWS_SHOWN rows to the browser (a 30,000-order run is ~7 MB of Arrow on
    each rerun); the sort and filters apply to every order, the caption says so, and the CSVs hold all of them."""
    from components.orders import view as orders_view

    monkeypatch.setattr(orders_view, "MAX_ROWS_SHOWN", 3)
    scenario = whatif_then_orders(at, repo)
    rows = order_rows(scenario.results, scenario.tickers)
    assert len(rows) > 3
    at.selectbox(key=orders_keys.SORT).set_value("Estimated value, largest first").run()
    listed = frame_with(at, "reason")
    largest = sorted((float(r.estimated_value) for r in rows), reverse=True)[:3]
    assert listed["estimated_value"].tolist() == largest  # the first rows of the sort over every order
    assert any(f"First 3 of the {len(rows):,} orders listed" in c for c in texts(at, "caption"))
    at.multiselect(key=orders_keys.SIDES).set_value(["SELL"]).run()
    sells = sum(1 for r in rows if r.transaction_type == "SELL")
    assert set(frame_with(at, "reason")["side"]) == {"SELL"}
    assert sells > 3
    assert any(f"of the {sells:,} matching orders ({len(rows):,} in all)" in c for c in texts(at, "caption"))
    at.multiselect(key=orders_keys.SIDES).set_value(["BUY", "SELL"]).run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert f"Download all {len(rows):,} orders (CSV)" in labels
    assert not any("filtered orders" in label for label in labels)  # no filter: the capped list is not a filtered CSV
    assert no_exception(at)
