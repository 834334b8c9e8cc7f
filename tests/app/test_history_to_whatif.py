"""History → What-if (AppTest): "Load these settings into What-if" pre-fills the panel with a saved run's scope,
minimum cash, time limit, trade controls and run-only targets and bands, runs nothing, and says where they came from;
running it then reproduces the run's inputs."""

from __future__ import annotations

import pytest

from components.rebalance import keys as rebalance_keys
from components.rebalance.controls import control_key
from engine.scenarios import positions_differ
from tests.app.support import (
    ORDERS_PAGE,
    REBALANCE_PAGE,
    models_by_name,
    no_exception,
    open_page,
    run_whatif,
    save,
    scenarios,
    set_controls,
    texts,
)

pytestmark = pytest.mark.slow  # a run, a save and a second run each

HISTORY = "pages/history.py"
MODEL = "Technology Leaders"
LOAD = "history_load_settings"


def ctrl(at, base: str, model):
    return at.session_state[control_key(base, model)]


def saved_controlled_run(at, repo):
    """A what-if of three portfolios with a cash floor, a time limit, every kind of control and a run-only band,
    saved from the Orders page; then the What-if panel is set back to plain settings. Returns the scenario."""
    model = models_by_name(repo)[MODEL]
    c = model.positions[2].security_id
    open_page(at, model)
    at.radio(key=rebalance_keys.SCOPE).set_value("Selected portfolios").run()
    at.multiselect(key=f"{rebalance_keys.PORTFOLIOS}_{model.model_id}").set_value(list(model.portfolios[:3])).run()
    set_controls(
        at, model, policy="out-of-band", min_trade=750.0, direction="buy-only", no_trade=[c], on_infeasible="nearest"
    )
    at.toggle(key=rebalance_keys.OVERRIDE).set_value(True).run()
    editor = f"rebalance_overrides_{model.model_id}_v{model.version}"
    at.session_state[editor] = {"edited_rows": {0: {"low_drift": "0.5 %"}}, "added_rows": [], "deleted_rows": []}
    run_whatif(at.run(), min_cash=1500.0, min_cash_pct=2.5, time_limit=45.0)
    scenario = scenarios(at)[-1]
    assert scenario.params.overridden and scenario.params.options.no_trade == (c,)
    at.switch_page(ORDERS_PAGE).run()
    save(at)
    assert scenario.saved_rebalance_id
    # the panel back to plain settings: loading must set every field, not find it set
    open_page(at, model)
    at.radio(key=rebalance_keys.SCOPE).set_value("All portfolios of the model")
    set_controls(at, model, policy="all", no_trade=[])
    at.toggle(key=rebalance_keys.OVERRIDE).set_value(False)
    at.number_input(key=rebalance_keys.MIN_CASH).set_value(0.0)
    at.number_input(key=rebalance_keys.MIN_CASH_PCT).set_value(0.0)
    at.number_input(key=rebalance_keys.TIME_LIMIT).set_value(30.0).run()
    assert no_exception(at), [e.value for e in at.exception]
    return scenario


def test_load_a_saved_runs_settings_into_what_if_and_reproduce_it(at, repo):
    scenario = saved_controlled_run(at, repo)
    model = models_by_name(repo)[MODEL]
    saved = [r.portfolio_id for r in scenario.optimal_results]
    at.switch_page(HISTORY).run()
    at.button(key=LOAD).click().run()
    assert no_exception(at), [e.value for e in at.exception]
    assert at.selectbox(key=rebalance_keys.MODEL_PICK).value == model.model_id  # the What-if page
    assert len(scenarios(at)) == 1  # nothing ran
    assert at.radio(key=rebalance_keys.SCOPE).value == "Selected portfolios"
    assert at.multiselect(key=f"{rebalance_keys.PORTFOLIOS}_{model.model_id}").value == saved
    numbers = {k: at.number_input(key=k).value for k in (rebalance_keys.MIN_CASH, rebalance_keys.MIN_CASH_PCT)}
    assert numbers == {rebalance_keys.MIN_CASH: 1500.0, rebalance_keys.MIN_CASH_PCT: 2.5}
    assert at.number_input(key=rebalance_keys.TIME_LIMIT).value == 45.0
    assert ctrl(at, rebalance_keys.CTRL_POLICY, model) == "out-of-band"
    assert ctrl(at, rebalance_keys.CTRL_MIN_TRADE, model) == 750.0
    assert ctrl(at, rebalance_keys.CTRL_DIRECTION, model) == "buy-only"
    assert ctrl(at, rebalance_keys.CTRL_NO_TRADE, model) == list(scenario.params.options.no_trade)
    assert ctrl(at, rebalance_keys.CTRL_INFEASIBLE, model) == "nearest"
    assert at.toggle(key=rebalance_keys.OVERRIDE).value is True
    (note,) = [i for i in texts(at, "info") if "Loaded from the saved rebalance" in i]
    assert f"scenario “{scenario.name}”" in note and "Nothing has run yet" in note
    assert "run-only targets and bands" in note
    # running it reproduces the run's inputs (the market data is today's)
    at.switch_page(REBALANCE_PAGE)  # AppTest reruns the page it was told, not the one st.switch_page opened
    run_whatif(at)
    again = scenarios(at)[-1]
    assert again is not scenario and again.params.portfolio_ids == tuple(saved)
    assert again.params.options == scenario.params.options
    assert again.params.overridden and not positions_differ(again.run_model.positions, scenario.run_model.positions)
    assert not any("Loaded from the saved rebalance" in i for i in texts(at, "info"))  # said until it ran


def test_a_run_of_an_older_model_version_loads_what_still_applies_and_says_so(at, repo):
    scenario = saved_controlled_run(at, repo)
    model = models_by_name(repo)[MODEL]
    gone = scenario.optimal_results[0].portfolio_id
    changed = repo().remove_portfolios(model.model_id, [gone])  # the model moved on to a new version
    at.switch_page(HISTORY).run()
    at.button(key=LOAD).click().run()
    assert no_exception(at), [e.value for e in at.exception]
    assert at.multiselect(key=f"{rebalance_keys.PORTFOLIOS}_{model.model_id}").value == [
        r.portfolio_id for r in scenario.optimal_results[1:]
    ]
    assert ctrl(at, rebalance_keys.CTRL_POLICY, changed) == "out-of-band"  # the panel of the model as it is now
    (note,) = [i for i in texts(at, "info") if "Loaded from the saved rebalance" in i]
    assert f"The run used model v{model.version}; it is now v{changed.version}" in note
    assert "1 of its portfolios no longer belongs to the model" in note
