"""What-if trade controls (issue #11, product-spec 2.12), AppTest: the panel, the model's saved defaults, the
scenario comparison a PM weighs, and the blotter's "not traded" view and relaxed flags.

The UI passes the controls to the engine and shows what it answers; it applies no rule. Until the engine side of
#11 is merged the engine ignores the new options, so these tests check what the page passes (a spy on the engine
call, the scenario's options) and, where real control behaviour is needed (``kept_by``, ``relaxed``), put results
built here into the scenario — marked ``CONSTRUCTED`` below for the lead.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pytest

from components import resources
from components.history import keys as history_keys
from components.orders import keys as orders_keys
from components.rebalance import keys as rebalance_keys
from components.rebalance import run
from components.rebalance.controls import control_key
from engine import scenarios as scenario_math
from engine.milp import shared_pool, shutdown_pool
from engine.models import BandBreach, TradeControls
from tests.app.support import (
    ORDERS_PAGE,
    figures,
    frame_with,
    models_by_name,
    no_exception,
    open_page,
    run_whatif,
    save,
    scenarios,
    set_controls,
    texts,
)

MODEL = "Technology Leaders"


@pytest.fixture
def engine_calls(monkeypatch):
    """Spy on the engine call of the what-if: record the options of every call, then run the real engine."""
    calls = []
    real = run.rebalance_portfolios

    def spy(*args, **kwargs):
        calls.append(kwargs["options"])
        return real(*args, **kwargs)

    monkeypatch.setattr(run, "rebalance_portfolios", spy)
    return calls


def test_the_panel_passes_every_control_to_the_engine(at, repo, engine_calls):
    model = models_by_name(repo)[MODEL]
    a, b, c = (p.security_id for p in model.positions[:3])
    open_page(at, model)
    offered = at.multiselect(key=control_key(rebalance_keys.CTRL_NO_TRADE, model)).options
    assert len(offered) > len(model.positions) and all(" — " in o for o in offered)  # "TICKER — description"
    set_controls(
        at,
        model,
        policy="out-of-band",
        min_trade=1000.0,
        direction="buy-only",
        no_buy=[a],
        no_sell=[b],
        no_trade=[c],
        on_infeasible="nearest",
    )
    run_whatif(at, min_cash_pct=2.0)
    (scenario,) = scenarios(at)
    expected = TradeControls(
        trade_policy="out-of-band",
        min_trade_value=Decimal("1000.0"),
        no_buy=(a,),
        no_sell=(b,),
        no_trade=(c,),
        direction="buy-only",
        on_infeasible="nearest",
    )
    assert scenario.params.options.controls == expected
    assert scenario.params.options.min_cash_fraction == Decimal("0.02")  # the cash floor is kept beside them
    assert engine_calls and all(o == scenario.params.options for o in engine_calls)  # exactly what the engine got
    labels = scenario.parameter_labels()
    assert labels["Rebalance"] == "Out-of-band only" and labels["Minimum trade"] == "$1,000.00"
    assert labels["Direction"] == "Invest cash: buy only" and labels["If a band cannot be met"] == "Nearest feasible"
    assert labels["Do not trade"] == scenario.tickers[c]  # restricted securities named by ticker
    assert repo().get_model(model.model_id) == model  # a run never writes the model


def test_defaults_are_off_and_reproduce_todays_run(at, repo, engine_calls):
    model = models_by_name(repo)[MODEL]
    run_whatif(open_page(at, model))
    (scenario,) = scenarios(at)
    assert scenario.params.options.controls == TradeControls()
    assert any("As saved with the model" in c for c in texts(at, "caption"))
    assert at.button(key=rebalance_keys.CTRL_SAVE).disabled


def test_model_defaults_prefill_and_a_run_can_override_them(at, repo, engine_calls):
    model = models_by_name(repo)[MODEL]
    sid = model.positions[0].security_id
    saved = TradeControls(trade_policy="out-of-band", min_trade_value=Decimal("750"), no_trade=(sid,))
    model = repo().set_controls(model.model_id, saved, model.version)
    open_page(at, model)
    assert at.radio(key=control_key(rebalance_keys.CTRL_POLICY, model)).value == "out-of-band"
    assert at.number_input(key=control_key(rebalance_keys.CTRL_MIN_TRADE, model)).value == 750.0
    assert at.multiselect(key=control_key(rebalance_keys.CTRL_NO_TRADE, model)).value == [sid]
    run_whatif(at)
    assert scenarios(at)[-1].params.options.controls == saved
    # override for one run: the model keeps its defaults
    set_controls(at, model, policy="all", min_trade=0.0).run()
    assert any("Differs from the model's saved defaults" in c for c in texts(at, "caption"))
    run_whatif(at)
    assert scenarios(at)[-1].params.options.controls == saved.model_copy(
        update={"trade_policy": "all", "min_trade_value": Decimal("0.0")}
    )
    assert repo().get_model(model.model_id).controls == saved


def test_save_as_model_defaults_is_a_versioned_model_write(at, repo):
    model = models_by_name(repo)[MODEL]
    open_page(at, model)
    set_controls(at, model, direction="sell-only", min_trade=500.0).run()
    at.button(key=rebalance_keys.CTRL_SAVE).click().run()
    assert no_exception(at)
    stored = repo().get_model(model.model_id)
    assert stored.version == model.version + 1
    assert stored.controls == TradeControls(direction="sell-only", min_trade_value=Decimal("500.0"))
    assert any("saved as the defaults" in t for t in texts(at, "toast"))
    # the page now shows the new version's defaults (keys carry the version): nothing left to save
    assert at.radio(key=control_key(rebalance_keys.CTRL_DIRECTION, stored)).value == "sell-only"
    assert at.button(key=rebalance_keys.CTRL_SAVE).disabled


def test_save_as_defaults_on_a_stale_model_is_refused(at, repo):
    model = models_by_name(repo)[MODEL]
    open_page(at, model)
    set_controls(at, model, direction="buy-only").run()
    repo().set_controls(model.model_id, TradeControls(min_trade_value=Decimal(1)), model.version)  # someone else
    at.button(key=rebalance_keys.CTRL_SAVE).click().run()
    assert no_exception(at)
    assert repo().get_model(model.model_id).controls == TradeControls(min_trade_value=Decimal(1))
    assert any("someone else changed it first" in w for w in texts(at, "warning"))


def test_comparison_shows_what_a_pm_weighs_side_by_side(at, repo):
    model = models_by_name(repo)[MODEL]
    run_whatif(open_page(at, model))
    set_controls(at, model, policy="out-of-band", min_trade=1000.0)
    run_whatif(at)
    first, second = scenarios(at)
    table = frame_with(at, "metric").set_index("metric")
    for s in (first, second):
        summary = s.summary
        column = table[s.name]
        assert column["Orders"] == f"{summary.orders:,}"
        assert column["Orders under $500"] == f"{summary.small_orders:,}"
        assert column["Still out of band"] == f"{summary.still_out_of_band:,}"
        assert column["Nearest feasible (relaxed)"] == f"{summary.relaxed:,}"
        assert column["Total band breach (relaxed)"] == f"${float(summary.band_breach):,.2f}"
        assert column["Turnover"] == f"${float(summary.turnover):,.2f}"
        assert column["Turnover (% of MV)"] == f"{float(summary.turnover_weight) * 100:,.2f} %"
        assert column["Drift after (% of MV)"] == f"{float(summary.drift_after_weight) * 100:,.2f} %"
        assert column["Cash after"] == f"${float(summary.cash_after):,.2f}"
        small = sum(
            1
            for r in s.results
            for p in r.positions
            if 0 < abs(p.adjusted_position_market_value - p.original_position_market_value) < Decimal(500)
        )
        assert summary.small_orders == small
    assert table.loc["Rebalance", second.name] == "Out-of-band only"
    assert table.loc["Minimum trade", first.name] == "none"
    chart = next(f for f in figures(at) if f["layout"]["title"]["text"] == "Tickets vs residual drift")
    (points,) = chart["data"]
    assert list(points["text"]) == [first.name, second.name]


def _constructed_results(scenario):
    """CONSTRUCTED (until the engine side of #11 is merged): the first optimal portfolio answered "relaxed" with a
    breached band, and one of its untraded positions kept by a restriction."""
    results = list(scenario.results)
    i, r = next((i, r) for i, r in enumerate(results) if r.status == "optimal" and r.transactions)
    untraded = next(d for d in r.drifts if d.adjusted_quantity == d.original_quantity)
    drifts = tuple(d.model_copy(update={"kept_by": "no-trade"}) if d is untraded else d for d in r.drifts)
    breach = BandBreach(security_id=r.transactions[0].security_id, side="low", amount=Decimal("1234.5"))
    results[i] = r.model_copy(update={"status": "relaxed", "band_breaches": (breach,), "drifts": drifts})
    return results, results[i], untraded


def test_blotter_flags_relaxed_portfolios_and_lists_what_did_not_trade(at, repo):
    model = models_by_name(repo)[MODEL]
    run_whatif(open_page(at, model))
    (scenario,) = scenarios(at)
    results, relaxed, untraded = _constructed_results(scenario)
    scenario.replace_results(results, {})
    assert scenario_math.summarise(scenario.metrics).relaxed == 1
    at.switch_page(ORDERS_PAGE).run()
    assert no_exception(at), [e.value for e in at.exception]
    (warning,) = [w for w in texts(at, "warning") if "nearest feasible" in w]
    assert "1 portfolio(s)" in warning and "$1,234.50" in warning
    blotter = frame_with(at, "nearest_feasible")
    mine = blotter[blotter["portfolio_id"] == relaxed.portfolio_id]
    assert len(mine) == len([t for t in relaxed.transactions if t.quantity]) and mine["nearest_feasible"].all()
    assert mine["flags"].str.contains("nearest feasible").all()  # main's Flags column (the CSV reason says it too)
    assert not blotter[blotter["portfolio_id"] != relaxed.portfolio_id]["nearest_feasible"].any()
    breaches = frame_with(at, "amount")
    assert breaches["amount"].tolist() == [1234.5] and breaches["side"].tolist() == ["below low band"]
    kept = frame_with(at, "control")
    assert kept[["portfolio_id", "security_id", "control"]].values.tolist() == [
        [relaxed.portfolio_id, untraded.security_id, "restricted: do not trade"]
    ]
    # the reasons column of the CSV is optional; the button stays
    at.checkbox(key=orders_keys.WITH_REASONS).check().run()
    assert no_exception(at) and at.get("download_button")


def test_relaxed_portfolios_read_the_same_on_what_if_orders_and_history(at, repo):
    """One warning and one table of breached bands (by ticker) on every page; only the pointer to the marked orders
    differs."""
    model = models_by_name(repo)[MODEL]
    run_whatif(open_page(at, model))
    (scenario,) = scenarios(at)
    results, relaxed, _ = _constructed_results(scenario)
    scenario.replace_results(results, {})
    shown = {}
    for page in ("pages/rebalance.py", ORDERS_PAGE, "pages/history.py"):
        if page == "pages/history.py":
            save(at)  # from the Orders page
        at.switch_page(page).run()
        assert no_exception(at), [e.value for e in at.exception]
        (warning,) = [w for w in texts(at, "warning") if "nearest feasible" in w]
        (expander,) = [e for e in at.expander if e.label == "Breached bands (1)"]
        (table,) = [d.value for d in expander.dataframe]
        assert table[["portfolio_id", "ticker", "side", "amount"]].values.tolist() == [
            [relaxed.portfolio_id, scenario.tickers[relaxed.transactions[0].security_id], "below low band", 1234.5]
        ]
        shown[page] = warning
    head = (
        "**1 portfolio(s) nearest feasible, not optimal**: no answer met every band, so their orders leave 1 band(s) "
        "breached by $1,234.50 in total (least breach first, then drift). Their orders are marked “Nearest feasible”"
    )
    assert shown == {
        "pages/rebalance.py": f"{head} on the Orders page.",
        ORDERS_PAGE: f"{head} below.",
        "pages/history.py": f"{head} in the table below.",
    }


def test_not_traded_view_without_controls_says_so(at, repo):
    run_whatif(open_page(at, models_by_name(repo)[MODEL]))
    at.switch_page(ORDERS_PAGE).run()
    assert any("No trade control kept" in i for i in texts(at, "info"))


def test_a_saved_run_keeps_its_controls_and_history_shows_them(at, repo):
    model = models_by_name(repo)[MODEL]
    sid = model.positions[0].security_id
    open_page(at, model)
    set_controls(at, model, policy="out-of-band", min_trade=1000.0, no_sell=[sid])
    run_whatif(at, min_cash=250.0)
    at.switch_page(ORDERS_PAGE).run()
    save(at)
    (scenario,) = scenarios(at)
    stored = resources.rebalance_repo().get_rebalance(scenario.saved_rebalance_id)
    assert stored.options == scenario.params.options  # the record reproduces the run's options exactly
    # beside #14's run info and #13's savedBy on the same header; run info names only the controls that are on
    assert stored.run is not None and stored.run.scenario_name == scenario.name and stored.saved_by == "local"
    labels = dict(stored.run.parameters)
    assert labels["Rebalance"] == "Out-of-band only" and labels["Minimum trade"] == "$1,000.00"
    assert "No buy" not in labels and "Direction" not in labels
    at.switch_page("pages/history.py").run()
    assert no_exception(at), [e.value for e in at.exception]
    (listed,) = frame_with(at, "parameters")["parameters"]
    assert "Rebalance: Out-of-band only" in listed and "No buy" not in listed
    (expander,) = [e for e in at.expander if e.label.startswith("Run options")]
    assert "Out-of-band only" in expander.label and "$1,000.00" in expander.label
    at.session_state[history_keys.OPTIONS_OPEN] = True  # its content is rendered when opened (issue #12 §5)
    at.run()
    shown = dict(frame_with(at, "option")[["option", "value"]].values.tolist())
    assert shown["No sell"] == scenario.tickers[sid] and shown["Minimum cash"] == "$250.00"
    # each parameter once (issue 12): the run's table keeps what the options do not list (model, scope, targets)
    run_table = frame_with(at, "Parameter")["Parameter"].tolist()
    assert not set(run_table) & set(shown), set(run_table) & set(shown)
    assert {"Model", "Scope", "Targets and bands"} <= set(run_table)
    (code,) = at.code
    cli = json.loads(code.value)
    assert cli["tradePolicy"] == "out-of-band" and cli["minTradeValue"] == "1000.0" and cli["noSell"] == [sid]


def test_restricted_securities_are_found_by_the_ranked_search(at, repo):
    """Issue 14 item 3: "MS" + Enter picks Morgan Stanley (CDNS, "Cadence Design Systems", sorts before it); an
    ambiguous query offers the matches best first, fuzzy ones marked; picking one adds it."""
    model = models_by_name(repo)[MODEL]
    open_page(at, model)
    key = control_key(rebalance_keys.CTRL_NO_BUY, model)
    ids = {t: i for i, t in zip(resources.securities()["security_id"], resources.securities()["ticker"], strict=True)}
    at.text_input(key=f"{key}_search").input("MS").run()
    assert no_exception(at)
    assert at.multiselect(key=key).value == [ids["MS"]]
    assert at.text_input(key=f"{key}_search").value == ""
    at.text_input(key=f"{key}_search").input("Microsft").run()  # a misspelling: offered, marked, not picked
    assert at.multiselect(key=key).value == [ids["MS"]]
    matches = at.radio(key=f"{key}_matches")
    assert matches.options[0].startswith("MSFT") and "≈ fuzzy match" in matches.options[0]
    matches.set_value(matches.options[0]).run()  # picking a match adds it
    assert at.multiselect(key=key).value == [ids["MS"], ids["MSFT"]]
    at.text_input(key=f"{key}_search").input("MC").run()  # MCD, MCHP, MCO...: the PM chooses
    assert at.multiselect(key=key).value == [ids["MS"], ids["MSFT"]]


def test_a_run_leaves_the_solver_processes_started_for_the_next_scenario(at, repo):
    """After a run the engine's solver pool is up: the next scenario (floor, controls) does not wait for it.

    A cold pool (spawn: each process imports the engine and CVXPY) cost the first every-control + 5 % floor run of
    the 1,000-portfolio demo about 6 s of its 9.7 s in Chromium (bench/bench_ui_controls.py).
    """
    shutdown_pool()  # a pool another test started would make this pass by itself
    workers = resources.settings().rebalance_max_workers or os.cpu_count() or 1
    run_whatif(open_page(at, models_by_name(repo)[MODEL]))
    if workers > 1:  # one process: the engine solves in process, nothing to start
        assert len(shared_pool(workers)._processes) == workers  # all started


def test_diagnoses_under_trade_controls_name_securities_by_ticker(at, repo):
    """An infeasible portfolio's diagnosis names its securities by ticker on What-if (list, table, detail) and Orders;
    the engine's own diagnosis stays id-based."""
    model = models_by_name(repo)[MODEL]
    open_page(at, model)
    at.radio(key=rebalance_keys.SCOPE).set_value("Selected portfolios").run()
    at.multiselect(key=f"{rebalance_keys.PORTFOLIOS}_{model.model_id}").set_value(list(model.portfolios[:3])).run()
    set_controls(at, model, policy="out-of-band", min_trade=10_000_000.0)  # no out-of-band gap is that large
    run_whatif(at)
    (scenario,) = scenarios(at)
    bad = [r for r in scenario.results if r.status == "infeasible"]
    assert bad, [r.status for r in scenario.results]
    ids = {i for r in bad for i in scenario.tickers if i in r.diagnosis}
    assert ids  # the engine names securities by id
    shown = [m for m in at.markdown if "not rebalanced" not in m.value and "(infeasible)" in m.value]
    (listing,) = shown
    diagnosis = frame_with(at, "diagnosis").set_index("portfolio_id").loc[bad[0].portfolio_id, "diagnosis"]
    at.selectbox(key=rebalance_keys.PORTFOLIO_PICK).set_value(bad[0].portfolio_id).run()
    (detail,) = [w for w in texts(at, "warning") if "was not rebalanced" in w]
    at.switch_page(ORDERS_PAGE).run()
    assert no_exception(at), [e.value for e in at.exception]
    why = " ".join(frame_with(at, "why")["why"])
    for text in (listing.value, diagnosis, detail, why):
        assert not any(i in text for i in ids), text
        assert any(scenario.tickers[i] in text for i in ids), text
    assert "closing " in diagnosis and "minimum trade is $10,000,000.00" in diagnosis


def test_the_results_caption_lists_the_trade_controls_that_ran(at, repo):
    """The results say which trade controls produced them (in the comparison's words, only those that are on)."""
    model = models_by_name(repo)[MODEL]
    a = model.positions[0].security_id
    run_whatif(open_page(at, model))

    def caption() -> str:
        (text,) = [c for c in texts(at, "caption") if f"{model.name} v{model.version}" in c and "snapshot" in c]
        return text

    assert "· no trade controls ·" in caption()
    set_controls(at, model, policy="out-of-band", min_trade=1000.0, no_buy=[a], on_infeasible="nearest")
    run_whatif(at, min_cash=250.0)
    ticker = scenarios(at)[-1].tickers[a]
    assert (
        "· minimum cash \\$250.00 · trade controls: Rebalance: Out-of-band only; Minimum trade: \\$1,000.00; "
        f"No buy: {ticker}; If a band cannot be met: Nearest feasible ·"
    ) in caption()
