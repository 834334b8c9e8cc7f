"""What-if rebalance page (AppTest): runs on the demo data through the in-process simulator, every state.

Expected values come from the engine and the data the page used (the scenario kept in session state, the
repository, the simulator), never from hard-coded numbers.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from components import resources
from components.feedback import escape_md
from components.rebalance import keys as rebalance_keys
from components.rebalance import run
from engine.models import PortfolioResult
from engine.orders import readable_diagnosis
from tests.app.support import (
    figures,
    frame_with,
    inject_fault,
    metric,
    models_by_name,
    no_exception,
    open_page,
    run_whatif,
    scenarios,
    texts,
)

PAGE = "pages/rebalance.py"


# --- tests ---------------------------------------------------------------------------------------------------------
def test_every_portfolio_of_the_largest_model(at, repo):
    big = max(repo().list_models(), key=lambda m: len(m.portfolios))
    run_whatif(open_page(at, big))
    (scenario,) = scenarios(at)
    results = scenario.results
    assert [r.portfolio_id for r in results] == list(big.portfolios)  # one result per portfolio, in model order
    optimal = [r for r in results if r.status == "optimal"]
    orders = sum(len(r.transactions) for r in optimal)
    assert at.status[0].state == "complete"
    assert at.status[0].label.startswith(
        f"Done: {len(optimal):,} of {len(results):,} portfolios rebalanced, {orders:,}"
    )
    assert metric(at, "Orders") == f"{orders:,}"
    table = frame_with(at, "cash_before")
    assert len(table) == len(big.portfolios)
    row = table.set_index("portfolio_id").loc[optimal[0].portfolio_id]
    assert row.cash_after == pytest.approx(float(optimal[0].cash_after))
    assert row.orders == len(optimal[0].transactions)
    drift_chart = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("Drift before"))
    assert f"top 30 of {len(results):,}" in drift_chart["layout"]["title"]["text"]
    assert len(drift_chart["data"][1]["y"]) == 30
    # the what-if never writes: the model is untouched
    assert repo().get_model(big.model_id) == big


def test_infeasible_portfolio_shows_its_diagnosis(at, repo):
    lab = models_by_name(repo)["Edge Case Lab"]
    run_whatif(open_page(at, lab))
    (scenario,) = scenarios(at)
    infeasible = [r for r in scenario.results if r.status == "infeasible"]
    failed = [r for r in scenario.results if r.status == "error"]
    assert infeasible and all(r.diagnosis for r in infeasible)
    (warning,) = [w for w in texts(at, "warning") if "not rebalanced" in w]
    assert f"{len(infeasible) + len(failed)} portfolio(s) not rebalanced" in warning
    assert f"{len(infeasible)} infeasible, {len(failed)} failed" in warning
    table = frame_with(at, "diagnosis")
    shown = dict(zip(table["portfolio_id"], zip(table["status"], table["diagnosis"], strict=True), strict=True))
    readable = {r.portfolio_id: readable_diagnosis(r.diagnosis, scenario.tickers) for r in infeasible + failed}
    for r in infeasible:  # securities by ticker, weights in percent (as on the Orders page)
        assert shown[r.portfolio_id] == ("infeasible", readable[r.portfolio_id])
    for r in failed:
        assert shown[r.portfolio_id] == ("failed", readable[r.portfolio_id])
    listed = "\n".join(str(m.value) for m in at.markdown)
    for r in infeasible + failed:  # few failures: listed in full, names and diagnoses (markdown-escaped)
        assert r.portfolio_name is None or r.portfolio_name.replace("_", "\\_") in listed
    # drill into the infeasible portfolio: its diagnosis, no weights chart
    at.selectbox(key=rebalance_keys.PORTFOLIO_PICK).set_value(infeasible[0].portfolio_id).run()
    assert any(escape_md(readable[infeasible[0].portfolio_id]) in w for w in texts(at, "warning"))


def test_service_failure_mid_run_fails_fast_naming_the_service(at, repo, simulator):
    tech = models_by_name(repo)["Technology Leaders"]
    # one portfolio's summary keeps failing: the accounting service is "down" after the other summaries worked
    inject_fault(simulator, kind="error", service="accounting", status=503, keys=[tech.portfolios[5]])
    run_whatif(open_page(at, tech))
    assert at.status[0].state == "error"
    assert "Portfolio Accounting" in at.status[0].label
    assert any("the Portfolio Accounting service is not answering" in e for e in texts(at, "error"))
    assert scenarios(at) == []  # nothing kept, nothing to save


def test_pricing_outage_names_pricing(at, repo, simulator):
    inject_fault(simulator, kind="error", service="pricing", status=502)
    run_whatif(open_page(at, models_by_name(repo)["Technology Leaders"]))
    assert at.status[0].state == "error" and "Pricing" in at.status[0].label
    assert scenarios(at) == []


def test_two_scenarios_compared_on_one_frozen_snapshot(at, repo):
    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(open_page(at, tech))
    run_whatif(at, min_cash=1000.0, min_cash_pct=5.0)
    first, second = scenarios(at)
    assert second.snapshot is first.snapshot  # prices frozen: like is compared with like
    assert "(reused, frozen)" in " ".join(texts(at, "caption"))
    for r in second.optimal_results:  # the cash floor is the greater of $1,000 and 5 % of MV, per portfolio
        assert r.cash_after >= max(Decimal(1000), Decimal("0.05") * r.market_value)
    table = frame_with(at, first.name).set_index("metric")
    delta = f"Δ {second.name} vs {first.name}"
    assert list(table.columns) == [first.name, second.name, delta]  # the first scenario is the base by default
    assert table.loc["Minimum cash", delta] == "changed" and table.loc["Time limit", delta] == "same"
    orders = second.summary.orders - first.summary.orders
    assert table.loc["Orders", delta] == f"{orders:+,}"
    cash = float(second.summary.cash_after - first.summary.cash_after)
    assert table.loc["Cash after", delta] == f"{'+' if cash >= 0 else '−'}${abs(cash):,.2f}"
    table = table.drop(columns=delta)
    assert table.loc["Minimum cash"].tolist() == ["none", "$1,000.00 or 5 % of MV (greater applies)"]
    for label, attr in (("Orders", "orders"), ("Infeasible", "infeasible"), ("Optimal", "optimal")):
        assert table.loc[label].tolist() == [f"{getattr(s.summary, attr):,}" for s in (first, second)]
    assert table.loc["Cash after"].tolist() == [f"${float(s.summary.cash_after):,.2f}" for s in (first, second)]
    chart = next(f for f in figures(at) if f["layout"]["title"]["text"] == "Scenarios side by side")
    assert chart["data"][0]["x"] == [first.name, second.name]


def test_a_new_scenario_joins_the_comparison_and_the_base_can_be_chosen(at, repo):
    """Issue 14 item 12."""
    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(run_whatif(open_page(at, tech)), min_cash=500.0)
    run_whatif(at, min_cash=2000.0)
    first, second, third = scenarios(at)
    assert at.multiselect(key=rebalance_keys.COMPARE).value == [first.id, second.id, third.id]
    at.selectbox(key=rebalance_keys.COMPARE_BASE).set_value(third.name).run()
    table = frame_with(at, first.name).set_index("metric")
    assert [c for c in table.columns if c.startswith("Δ")] == [
        f"Δ {first.name} vs {third.name}",
        f"Δ {second.name} vs {third.name}",
    ]
    at.multiselect(key=rebalance_keys.COMPARE).set_value([first.id, second.id]).run()  # the base left the comparison
    assert at.selectbox(key=rebalance_keys.COMPARE_BASE).value == first.name


def test_fresh_snapshot_on_request(at, repo):
    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(open_page(at, tech))
    at.button(key=rebalance_keys.REFRESH).click().run()
    run_whatif(at)
    first, second = scenarios(at)
    assert second.snapshot is not first.snapshot and second.snapshot.taken_at >= first.snapshot.taken_at


def test_rename_and_delete_scenarios(at, repo):
    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(run_whatif(open_page(at, tech)), min_cash=500.0)
    first, second = scenarios(at)
    at.text_input(key=f"rebalance_rename_{second.id}").input("Half a grand").run()
    assert second.name == "Half a grand"
    at.text_input(key=f"rebalance_rename_{second.id}").input(first.name).run()
    assert any("already exists" in e for e in texts(at, "error")) and second.name == "Half a grand"
    at.button(key=rebalance_keys.DELETE).click().run()
    assert [s.id for s in scenarios(at)] == [first.id]
    assert at.selectbox(key=rebalance_keys.PICK).value == first.id


def test_selected_portfolios_only(at, repo):
    tech = models_by_name(repo)["Technology Leaders"]
    open_page(at, tech)
    at.radio(key=rebalance_keys.SCOPE).set_value("Selected portfolios").run()
    picked = list(tech.portfolios[:2])
    at.multiselect(key=f"rebalance_portfolios_{tech.model_id}").set_value(picked).run()
    run_whatif(at)
    (scenario,) = scenarios(at)
    assert [r.portfolio_id for r in scenario.results] == picked
    assert scenario.params.scope_label() == "2 selected portfolios"


def test_no_portfolio_selected_blocks_the_run(at, repo):
    open_page(at, models_by_name(repo)["Technology Leaders"])
    at.radio(key=rebalance_keys.SCOPE).set_value("Selected portfolios").run()
    assert at.button(key=rebalance_keys.RUN).disabled
    assert "Pick at least one portfolio." in texts(at, "caption")


def test_overrides_are_validated_and_used_for_the_run_only(at, repo):
    tech = models_by_name(repo)["Technology Leaders"]
    open_page(at, tech)
    at.toggle(key=rebalance_keys.OVERRIDE).set_value(True).run()
    editor = f"rebalance_overrides_{tech.model_id}_v{tech.version}"
    at.session_state[editor] = {"edited_rows": {0: {"target": 0.9}}, "added_rows": [], "deleted_rows": []}
    at.run()
    (error,) = [e for e in texts(at, "error") if "overrides break" in e]
    assert "at most 95 %" in error and at.button(key=rebalance_keys.RUN).disabled
    first = tech.positions[0]
    lower = first.target - Decimal("0.01")
    at.session_state[editor] = {"edited_rows": {0: {"target": float(lower), "low_drift": 0.0}}, "added_rows": [],
                                "deleted_rows": []}  # fmt: skip
    run_whatif(at.run())
    (scenario,) = scenarios(at)
    assert scenario.params.overridden
    used = scenario.run_model.position_map()[first.security_id]
    assert (used.target, used.low_drift) == (lower, Decimal(0))
    assert repo().get_model(tech.model_id) == tech  # never saved to the model
    # the engine used the overridden band: every optimal result respects it
    for r in scenario.optimal_results:
        pos = next(p for p in r.positions if p.security_id == first.security_id)
        assert pos.target == lower and pos.actual >= lower


def test_override_weights_are_typed_as_percents_and_refused_out_of_range(at, repo):
    """Issue 14 item 1: the overrides grid reads "3.5" as 3.5 % like the model editor; 120 is refused, not clamped."""
    tech = models_by_name(repo)["Technology Leaders"]
    open_page(at, tech)
    at.toggle(key=rebalance_keys.OVERRIDE).set_value(True).run()
    editor = f"rebalance_overrides_{tech.model_id}_v{tech.version}"
    at.session_state[editor] = {"edited_rows": {0: {"target": "120", "high_drift": "abc"}}, "added_rows": [],
                                "deleted_rows": []}  # fmt: skip
    at.run()
    (error,) = [e for e in texts(at, "error") if "overrides break" in e]
    assert "row 1: target '120' is 120.0 %: it must be between 0 % and 95.0 %" in error
    assert "row 1: high drift 'abc' is not a number" in error and at.button(key=rebalance_keys.RUN).disabled
    first = tech.positions[0]
    typed = format((first.target - Decimal("0.01")) * 100, "f")  # "24" -> 24 %
    at.session_state[editor] = {"edited_rows": {0: {"target": typed, "low_drift": "0.5 %"}}, "added_rows": [],
                                "deleted_rows": []}  # fmt: skip
    run_whatif(at.run())
    (scenario,) = scenarios(at)
    used = scenario.run_model.position_map()[first.security_id]
    assert (used.target, used.low_drift) == (first.target - Decimal("0.01"), Decimal("0.005"))


def test_cancel_leaves_a_clear_message(at):
    # a Cancel click stops the running script (Streamlit reruns on any click); its callback leaves this flag
    at.switch_page(PAGE).run()
    at.session_state["rebalance_cancelled"] = True
    at.run()
    assert any("Run cancelled — nothing was kept" in w for w in texts(at, "warning"))
    at.run()
    assert not any("Run cancelled" in w for w in texts(at, "warning"))  # shown once


def test_portfolio_detail_positions_and_weights_chart(at, repo):
    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(open_page(at, tech))
    (scenario,) = scenarios(at)
    res = scenario.optimal_results[0]
    at.selectbox(key=rebalance_keys.PORTFOLIO_PICK).set_value(res.portfolio_id).run()
    table = frame_with(at, "adjusted_quantity")
    assert sorted(table["security_id"]) == sorted(p.security_id for p in res.positions)
    by_sid = table.set_index("security_id")
    for p in res.positions:
        assert by_sid.loc[p.security_id, "adjusted_quantity"] == float(p.adjusted_quantity)
        assert by_sid.loc[p.security_id, "weight_after"] == pytest.approx(float(p.actual) * 100)  # shown in %
    chart = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("Weights before and after"))
    assert [t["name"] for t in chart["data"]] == ["Before", "After", "Target and band"]
    assert len(chart["data"][0]["x"]) == len(res.positions)


def test_retry_timed_out_portfolios_with_a_longer_limit(at, repo, monkeypatch):
    # The engine runs for real; the seam (the run's engine call) turns the first run's answer for two portfolios
    # into the engine's time-out failure, so the retry path runs on every machine, not only on a slow one.
    real = run.rebalance_portfolios
    calls: list[tuple[list[str], float]] = []

    def first_run_times_out_twice(model, prices, portfolios, options, **kwargs):
        results = real(model, prices, portfolios, options, **kwargs)
        calls.append(([p.portfolio_id for p in portfolios], options.time_limit))
        if len(calls) > 1:
            return results
        timed_out = {p.portfolio_id for p in portfolios[:2]}
        return [
            PortfolioResult(
                portfolio_id=r.portfolio_id,
                portfolio_name=r.portfolio_name,
                status="error",
                diagnosis=f"the MILP solver stopped at the time limit ({options.time_limit:g} s): user_limit",
                error_code="SOLVER_FAILED",
            )
            if r.portfolio_id in timed_out
            else r
            for r in results
        ]

    monkeypatch.setattr(run, "rebalance_portfolios", first_run_times_out_twice)
    tech = models_by_name(repo)["Technology Leaders"]
    open_page(at, tech)
    at.radio(key=rebalance_keys.SCOPE).set_value("Selected portfolios").run()
    at.multiselect(key=f"rebalance_portfolios_{tech.model_id}").set_value(list(tech.portfolios[:3])).run()
    run_whatif(at, min_cash_pct=7.0, time_limit=1.0)
    (scenario,) = scenarios(at)
    timed_out = [r.portfolio_id for r in scenario.results if r.error_code == "SOLVER_FAILED"]
    assert len(timed_out) == 2
    before = {r.portfolio_id: r for r in scenario.results}
    at.button(key=rebalance_keys.RETRY).click().run()
    assert no_exception(at), [e.value for e in at.exception]
    assert calls[1] == (timed_out, 4.0)  # only the timed-out ones, on the same snapshot, with 4 x the limit
    assert scenario.timings["retry_limit"] == 4.0
    after = {r.portfolio_id: r for r in scenario.results}
    assert list(after) == list(before)  # same portfolios, same order
    for pid in timed_out:
        assert after[pid] is not before[pid] and after[pid].status == "optimal"  # re-solved
    for pid in set(before) - set(timed_out):
        assert after[pid] is before[pid]  # the others are kept as they were
    assert any("retried with a 4 s limit" in c for c in texts(at, "caption"))


def test_override_adding_a_security_prices_it_into_the_frozen_snapshot(at, repo):
    from components import resources

    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(open_page(at, tech))
    (first,) = scenarios(at)
    held = {sid for p in first.snapshot.portfolios for h in p.holdings for sid in [h.security_id]}
    securities = resources.securities()
    new = securities[~securities["security_id"].isin(held | set(first.snapshot.prices))].iloc[0]
    at.toggle(key=rebalance_keys.OVERRIDE).set_value(True).run()
    top = max(tech.positions, key=lambda p: p.target)
    rows = [p.security_id for p in tech.positions]
    edit = {rows.index(top.security_id): {"target": float(top.target - Decimal("0.01"))}}
    added = [{"security": new["label"], "target": 0.01, "low_drift": 0.005, "high_drift": 0.005}]
    editor = f"rebalance_overrides_{tech.model_id}_v{tech.version}"
    at.session_state[editor] = {"edited_rows": edit, "added_rows": added, "deleted_rows": []}
    run_whatif(at.run())
    _, second = scenarios(at)
    assert second.snapshot.taken_at == first.snapshot.taken_at  # still the frozen snapshot ...
    assert new["security_id"] in second.snapshot.prices  # ... plus the price of the added security
    assert new["security_id"] not in first.snapshot.prices
    assert second.tickers[new["security_id"]] == new["ticker"]
    for r in second.optimal_results:  # the engine solved with the added position
        pos = next(p for p in r.positions if p.security_id == new["security_id"])
        assert pos.target == Decimal("0.01") and pos.adjusted_quantity > 0


def test_a_minimum_cash_that_bound_no_portfolio_gets_a_hint(at, repo):
    """Issue 14 item 11: min cash 2 % under the model's own 6 % cash changes nothing, and the page says so; 10 %
    binds (the engine's rule: the answers differ from the run without it) and gets no hint."""
    open_page(at, models_by_name(repo)["Technology Leaders"])
    run_whatif(at, min_cash_pct=2.0)
    hint = [i for i in texts(at, "info") if i.startswith("Min cash")]
    assert hint and "did not bind for any portfolio" in hint[0] and "already keeps 6.00 % cash" in hint[0], hint
    run_whatif(at, min_cash_pct=10.0)
    assert not [i for i in texts(at, "info") if i.startswith("Min cash")]


def test_portfolios_are_found_by_the_ranked_search(at, repo):
    """Issue 14 item 3: the scope's search adds an exact name on Enter; an ambiguous one offers the matches."""
    model = models_by_name(repo)["Technology Leaders"]
    open_page(at, model)
    at.radio(key=rebalance_keys.SCOPE).set_value(at.radio(key=rebalance_keys.SCOPE).options[1]).run()
    names = resources.portfolio_names()
    target = model.portfolios[3]
    search = f"{rebalance_keys.PORTFOLIOS}_{model.model_id}_search"
    at.text_input(key=search).input(names[target].upper()).run()
    assert no_exception(at)
    assert at.multiselect(key=f"{rebalance_keys.PORTFOLIOS}_{model.model_id}").value == [target]
