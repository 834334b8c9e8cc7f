"""Saved rebalances page (AppTest): list newest first with paging, filter by portfolio, drill-down, CSV, and the
version-checked delete."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from components import resources
from components.history import keys as history_keys
from components.history.frames import portfolios_frame
from components.history.view import PORTFOLIO_ROWS
from components.orders import keys as orders_keys
from components.rebalance import keys as rebalance_keys
from engine.models import BandBreach
from tests.app.support import (
    frame_with,
    metric,
    models_by_name,
    no_exception,
    open_page,
    run_whatif,
    save,
    scenarios,
    texts,
    whatif_then_orders,
)

PAGE = "pages/history.py"


def saved_run(at, repo, name="Technology Leaders", **params):
    """Run a what-if on ``name``, save it from the Orders page; return the scenario."""
    if scenarios(at):
        run_whatif(open_page(at, models_by_name(repo)[name]), **params)
        at.switch_page("pages/orders.py").run()
        scenario = scenarios(at)[-1]
    else:
        scenario = whatif_then_orders(at, repo, name, **params)
    save(at)
    assert scenario.saved_rebalance_id
    return scenario


def test_empty_history(at):
    at.switch_page(PAGE).run()
    assert no_exception(at)
    assert any("No saved rebalances yet" in i for i in texts(at, "info"))


def test_saved_runs_newest_first_with_drill_down(at, repo):
    older = saved_run(at, repo)
    newer = saved_run(at, repo, name="Dividend Income", min_cash=1000.0)
    at.switch_page(PAGE).run()
    assert no_exception(at), [e.value for e in at.exception]
    listing = frame_with(at, "rebalance_id")
    assert listing["rebalance_id"].tolist() == [newer.saved_rebalance_id, older.saved_rebalance_id]
    assert listing["portfolios"].tolist() == [len(newer.optimal_results), len(older.optimal_results)]
    assert listing["model"].tolist() == [newer.model.name, older.model.name]
    # the newest record opens by default
    assert at.selectbox(key=history_keys.OPEN).value == newer.saved_rebalance_id
    assert metric(at, "Portfolios") == f"{len(newer.optimal_results):,}"
    assert metric(at, "Orders") == f"{sum(len(r.transactions) for r in newer.optimal_results):,}"
    # one page of the run's portfolios (issue #12 §5: the page opens without a 1,000-row table), then the next
    ids = [r.portfolio_id for r in newer.optimal_results]
    assert len(ids) > PORTFOLIO_ROWS
    assert frame_with(at, "traded_value")["portfolio_id"].tolist() == ids[:PORTFOLIO_ROWS]
    assert f"Portfolios 1–{PORTFOLIO_ROWS} of {len(ids)}" in " ".join(texts(at, "caption"))
    at.number_input(key=history_keys.PORTFOLIO_PAGE).set_value(2).run()
    assert frame_with(at, "traded_value")["portfolio_id"].tolist() == ids[PORTFOLIO_ROWS:]
    at.number_input(key=history_keys.PORTFOLIO_PAGE).set_value(1).run()
    res = newer.optimal_results[1]
    at.selectbox(key=f"history_portfolio_pick_{newer.saved_rebalance_id}").set_value(res.portfolio_id).run()
    positions = frame_with(at, "original_value").set_index("security_id")
    assert sorted(positions.index) == sorted(p.security_id for p in res.positions)
    for p in res.positions:
        row = positions.loc[p.security_id]
        assert (row.price, row.adjusted_quantity) == (float(p.price), float(p.adjusted_quantity))
        # in % of the target; issue 14 item 13: + = overweight (weight after − target), the stored sign flipped
        assert row.relative_after == pytest.approx(-float(p.actual_drift) * 100)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download orders CSV", "Download block orders CSV"]


def test_filter_by_portfolio_and_paging(at, repo):
    tech = saved_run(at, repo)
    saved_run(at, repo, name="Dividend Income")
    saved_run(at, repo, name="Dividend Income", min_cash=500.0)
    at.switch_page(PAGE).run()
    # the PM searches a portfolio by name (Enter picks the exact match); the filter lists what was picked
    pid = tech.results[0].portfolio_id
    at.text_input(key=f"{history_keys.FILTER}_search").input(resources.portfolio_names()[pid]).run()
    assert no_exception(at), [e.value for e in at.exception]
    assert at.multiselect(key=history_keys.FILTER).value == [pid]
    assert frame_with(at, "rebalance_id")["rebalance_id"].tolist() == [tech.saved_rebalance_id]
    at.multiselect(key=history_keys.FILTER).set_value([]).run()
    at.selectbox(key=history_keys.PAGE_SIZE).set_value(10).run()
    assert len(frame_with(at, "rebalance_id")) == 3
    assert "Page 1 of 1 · 3 saved rebalance(s), newest first" in texts(at, "caption")


def test_delete_is_version_checked(at, repo):
    scenario = saved_run(at, repo)
    at.switch_page(PAGE).run()
    at.button(key="history_delete").click().run()
    rid, version, label = at.session_state["history_pending_delete"]
    assert (rid, version) == (scenario.saved_rebalance_id, 1)
    # the page holds a version the store no longer has (records never change in this app, so forge a stale one)
    at.session_state["history_pending_delete"] = (rid, version + 1, label)
    at.button(key="history_confirm_delete").click().run()
    assert any("Not deleted: the record changed since you opened it" in w for w in texts(at, "warning"))
    assert resources.rebalance_repo().count_rebalances() == 1
    # with the version it really has, the delete goes through
    at.button(key="history_delete").click().run()
    at.button(key="history_confirm_delete").click().run()
    assert any(s.startswith("Deleted rebalance") for s in texts(at, "success"))
    assert resources.rebalance_repo().count_rebalances() == 0
    assert any("No saved rebalances yet" in i for i in texts(at, "info"))
    # issue 14 item 18: the deleted run's date is no longer the model's last rebalance
    assert repo().get_model(scenario.model.model_id).last_rebalance_date is None


def test_delete_of_a_record_already_gone(at, repo):
    scenario = saved_run(at, repo)
    at.switch_page(PAGE).run()
    at.button(key="history_delete").click().run()
    resources.rebalance_repo().delete_rebalance(scenario.saved_rebalance_id, 1)  # another user was faster
    at.button(key="history_confirm_delete").click().run()
    assert any("already deleted" in i for i in texts(at, "info"))


def test_history_says_what_the_run_was_and_marks_run_only_overrides(at, repo):
    """Issue 14 item 18: scenario name, parameters, the model version used, and run-only overrides."""
    plain = saved_run(at, repo, min_cash=1000.0)
    tech = models_by_name(repo)["Technology Leaders"]
    open_page(at, tech)
    at.toggle(key=rebalance_keys.OVERRIDE).set_value(True).run()
    editor = f"rebalance_overrides_{tech.model_id}_v{tech.version}"
    at.session_state[editor] = {"edited_rows": {0: {"low_drift": "0.5 %"}}, "added_rows": [], "deleted_rows": []}
    run_whatif(at.run())
    at.switch_page("pages/orders.py").run()
    overridden = scenarios(at)[-1]
    assert overridden.params.overridden
    at.button(key="orders_save").click().run()
    assert any("run-only overrides" in w and "did not produce these orders" in w for w in texts(at, "warning"))
    # the same portfolios were saved a moment ago (the plain run): the save asks for an explicit confirmation
    at.checkbox(key=f"{orders_keys.CONFIRM_PRIOR}_save").check().run()
    at.button(key="orders_confirm_save").click().run()
    at.switch_page(PAGE).run()
    listing = frame_with(at, "rebalance_id").set_index("rebalance_id")
    newest, older = listing.loc[overridden.saved_rebalance_id], listing.loc[plain.saved_rebalance_id]
    assert (newest.scenario, newest.model_version, newest.targets) == (
        overridden.name,
        f"v{tech.version}",
        "run-only overrides",
    )
    assert (older.scenario, older.targets) == (plain.name, "as in the model")
    assert "Minimum cash: $1,000.00" in older.parameters and "Scope:" in older.parameters
    assert "version" not in listing.columns  # the record's internal number is not shown as a version
    assert any("Run-only overrides of targets and bands" in w for w in texts(at, "warning"))  # the open record
    params = frame_with(at, "Parameter")
    assert "Scope" in params["Parameter"].tolist()
    # the cash floor is one of the run's options: listed there, not a second time among the parameters (issue 12)
    assert "Minimum cash" not in params["Parameter"].tolist()
    # the run's options: their summary in the expander's label; the table and the CLI text once it is opened
    (options,) = [e for e in at.expander if e.label.startswith("Run options")]
    assert "Minimum cash" in options.label
    assert not any("option" in df.value.columns for df in at.dataframe) and not at.code
    at.session_state[history_keys.OPTIONS_OPEN] = True
    at.run()
    assert "Minimum cash" in frame_with(at, "option")["option"].tolist()
    assert json.loads(at.code[0].value)["minCash"] == str(overridden.params.options.min_cash)


def test_history_flags_relaxed_portfolios_with_their_breaches(at, repo):
    """Issue 12: a saved "nearest feasible" portfolio is flagged in History's portfolio table, its breached bands
    listed, as the Orders blotter does (CONSTRUCTED relaxed result: the first portfolio with orders)."""
    run_whatif(open_page(at, models_by_name(repo)["Technology Leaders"]))
    (scenario,) = scenarios(at)
    results = list(scenario.results)
    i, r = next((i, r) for i, r in enumerate(results) if r.status == "optimal" and r.transactions)
    breach = BandBreach(security_id=r.transactions[0].security_id, side="low", amount=Decimal("1234.5"))
    results[i] = r.model_copy(update={"status": "relaxed", "band_breaches": (breach,)})
    scenario.replace_results(results, {})
    at.switch_page("pages/orders.py").run()
    save(at)
    at.switch_page(PAGE).run()
    assert no_exception(at), [e.value for e in at.exception]
    (warning,) = [w for w in texts(at, "warning") if "nearest feasible" in w]
    assert "1 portfolio(s) nearest feasible" in warning and "$1,234.50" in warning and "in the table below" in warning
    table = frame_with(at, "nearest_feasible").set_index("portfolio_id")
    assert table["nearest_feasible"].tolist().count(True) == 1 and table.loc[r.portfolio_id, "nearest_feasible"]
    assert table.loc[r.portfolio_id, "band_breach"] == 1234.5
    breaches = frame_with(at, "side")
    assert breaches[["portfolio_id", "security_id", "side", "amount"]].values.tolist() == [
        [r.portfolio_id, breach.security_id, "below low band", 1234.5]
    ]


def test_the_open_runs_portfolios_are_found_ordered_and_paged(at, repo):
    """Issue #12 §5: the open run lists its portfolios a page at a time; finding and ordering cover all of them,
    and the positions picker offers the portfolios of the page shown."""
    scenario = saved_run(at, repo, name="Dividend Income")
    at.switch_page(PAGE).run()
    rid = scenario.saved_rebalance_id
    ids = [r.portfolio_id for r in scenario.optimal_results]
    assert len(ids) > PORTFOLIO_ROWS
    at.number_input(key=history_keys.PORTFOLIO_PAGE).set_value(2).run()
    assert at.selectbox(key=f"history_portfolio_pick_{rid}").options == [
        resources.portfolio_names().get(p, p) for p in ids[PORTFOLIO_ROWS:]
    ]
    # ordering goes back to the first page and covers every portfolio of the run
    at.selectbox(key=history_keys.PORTFOLIO_SORT).set_value("Traded value, largest first").run()
    assert at.number_input(key=history_keys.PORTFOLIO_PAGE).value == 1
    whole = portfolios_frame(resources.rebalance_repo().get_rebalance(rid), resources.portfolio_names())
    assert len(whole) == len(ids)
    traded = sorted(whole["traded_value"], reverse=True)[:PORTFOLIO_ROWS]
    assert frame_with(at, "traded_value")["traded_value"].tolist() == traded
    # finding by part of a name (any case) lists only the matching ones
    name = resources.portfolio_names()[ids[-1]]
    at.text_input(key=history_keys.PORTFOLIO_FIND).input(name.upper()).run()
    found = frame_with(at, "traded_value")
    assert ids[-1] in found["portfolio_id"].tolist()
    assert all(name.casefold() in n.casefold() for n in found["portfolio"])
    assert any(f"matching “{name.upper()}”" in c for c in texts(at, "caption"))
    at.text_input(key=history_keys.PORTFOLIO_FIND).input("no such portfolio").run()
    assert any("No portfolio of the run matches" in c for c in texts(at, "caption"))
    assert no_exception(at), [e.value for e in at.exception]
