"""Drift page in AppTest: empty database, one model (tiles, heatmap, table, drill-down checked against the demo
data), filters, snapshot reuse and refresh, failed portfolios, a service outage, and the firm-wide triage."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from components import resources
from components.drift import keys as drift_keys
from components.models import keys as models_keys
from components.rebalance import keys as rebalance_keys
from data.demo import load_demo
from engine.models import RebalanceRecord, RecordPortfolio
from tests.app.support import drift_page, figures, inject_fault, model_id, no_exception, plotly_array, texts

DEMO = load_demo()
TICKER = {s.security_id: s.ticker for s in DEMO.securities}


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def expected_mv(pid: str) -> Decimal:
    """Market value from the demo data itself (fixed prices): cash + Σ u·p, each rounded to 0.001 (spec 2.2)."""
    h = DEMO.holdings(pid)
    q = Decimal("0.001")
    values = [(x.quantity * DEMO.prices[x.security_id]).quantize(q, ROUND_HALF_UP) for x in h.holdings]
    return (h.cash + sum(values, Decimal(0))).quantize(q, ROUND_HALF_UP)


def test_empty_database_invites_to_create_a_model(empty_at, repo):
    at = drift_page(empty_at, repo)
    assert any("No investment models yet" in t for t in texts(at, "info")) and no_exception(at)


def test_one_model_matches_the_demo_holdings_and_prices(at, repo):
    drift_page(at, repo, "Technology Leaders")
    assert no_exception(at) and not texts(at, "error")
    model = DEMO.model("Technology Leaders")
    assert metric(at, "Portfolios analysed") == str(len(model.portfolios))
    table = at.dataframe[0].value  # portfolios, worst first
    assert table["drift_dollars"].is_monotonic_decreasing
    worst = table.iloc[0]
    mv = expected_mv(worst["portfolio_id"])
    assert worst["market_value"] == pytest.approx(float(mv))
    # the drill-down opens on the worst portfolio; every row agrees with the demo data
    drill = at.dataframe[1].value
    targets = {p.security_id: p for p in model.positions}
    held = {h.security_id: h.quantity for h in DEMO.holdings(worst["portfolio_id"]).holdings}
    assert set(drill["security_id"]) == set(targets) | set(held)
    for rec in drill.itertuples():
        value = held.get(rec.security_id, Decimal(0)) * DEMO.prices[rec.security_id]
        target = targets[rec.security_id].target if rec.security_id in targets else Decimal(0)
        assert rec.ticker == TICKER[rec.security_id]
        assert rec.value == pytest.approx(float(value))
        assert rec.weight == pytest.approx(float(value / mv * 100))  # shown in %
        assert rec.target == pytest.approx(float(target * 100))
        assert rec.drift_pp == pytest.approx(float((value / mv - target) * 100))
        low = target - (targets[rec.security_id].low_drift if rec.security_id in targets else 0)
        high = target + (targets[rec.security_id].high_drift if rec.security_id in targets else 0)
        inside = mv * low <= value <= mv * high
        assert rec.status == ("In band" if inside else ("Below band" if value < mv * low else "Above band"))
    out = int((drill["status"] != "In band").sum())
    assert any(f"{out} security(ies) out of band" in c for c in texts(at, "caption"))


def test_heatmap_and_drill_down_figures(at, repo):
    drift_page(at, repo, "Technology Leaders")
    heat, distribution, drill = figures(at)
    table = at.dataframe[0].value
    (trace,) = heat["data"]
    assert trace["type"] == "heatmap" and trace["y"] == table["name"].head(30).tolist()
    assert heat["layout"]["title"]["text"] == "Drift relative to the band"
    assert sum(len(plotly_array(t["x"])) for t in distribution["data"]) == len(table)
    worst = table.iloc[0]["name"]
    assert drill["layout"]["title"]["text"] == f"{worst} — actual vs target, band shaded"
    band, actual, target, *_ = drill["data"]
    assert [band["name"], actual["name"], target["name"]] == ["Band", "Actual weight", "Target"]
    assert plotly_array(actual["x"])[-1] == "Cash"  # issue 14 item 7: cash is a column of the drill-down
    # pick another portfolio for the drill-down
    other = table.iloc[3]
    at.selectbox(key=drift_keys.DRIFT_PORTFOLIO_PICK).set_value(other["portfolio_id"]).run()
    assert figures(at)[2]["layout"]["title"]["text"].startswith(other["name"])


def test_filters_narrow_the_list_and_the_heatmap(at, repo):
    drift_page(at, repo, "Dividend Income")
    everything = at.dataframe[0].value
    at.number_input(key=drift_keys.DRIFT_TOP_N).set_value(5).run()
    assert len(figures(at)[0]["data"][0]["y"]) == 5
    at.text_input(key=drift_keys.DRIFT_SEARCH).input("trust").run()
    names = at.dataframe[0].value["name"]
    assert 0 < len(names) < len(everything) and names.str.lower().str.contains("trust").all()
    at.text_input(key=drift_keys.DRIFT_SEARCH).input("no such portfolio").run()
    assert any("No portfolio matches the filters" in t for t in texts(at, "info"))
    at.text_input(key=drift_keys.DRIFT_SEARCH).input("").run()
    at.toggle(key=drift_keys.DRIFT_ONLY_OUT).set_value(True).run()
    assert at.dataframe[0].value["needs_rebalance"].all()


def test_the_snapshot_is_reused_across_reruns_and_refresh_fetches_again(at, repo, simulator):
    drift_page(at, repo, "Technology Leaders")
    n = len(DEMO.model("Technology Leaders").portfolios)
    assert simulator.calls.count("accounting", "summary") == n
    at.toggle(key=drift_keys.DRIFT_ONLY_OUT).set_value(True).run()
    at.number_input(key=drift_keys.DRIFT_TOP_N).set_value(10).run()
    assert simulator.calls.count("accounting", "summary") == n  # filters rerun without refetching
    at.button(key="drift_refresh").click().run()
    assert simulator.calls.count("accounting", "summary") == 2 * n
    assert no_exception(at)


def test_failed_portfolios_are_listed_by_name_with_their_reason(at, repo):
    drift_page(at, repo, "Edge Case Lab")
    (panel,) = [e for e in at.expander if "could not be analysed" in e.label]
    failures = panel.dataframe[0].value
    assert panel.label == f"{len(failures)} portfolio(s) could not be analysed" and len(failures) >= 1
    names = {p.portfolio_id: p.name for p in DEMO.portfolios}
    assert failures["Portfolio"].tolist() == [names[p] for p in failures["Portfolio ID"]]
    assert failures["Reason"].str.len().min() > 10
    analysed = int(metric(at, "Portfolios analysed"))
    assert analysed + len(failures) == len(DEMO.model("Edge Case Lab").portfolios)


def test_pricing_outage_is_a_clear_message_and_nothing_is_kept(at, repo, simulator):
    inject_fault(simulator, kind="error", service="pricing", status=503)
    drift_page(at, repo, "Technology Leaders")
    errors = "\n".join(texts(at, "error"))
    assert "Could not load the drift of model 'Technology Leaders': the Pricing service is not answering" in errors
    assert no_exception(at) and "Traceback" not in errors
    assert at.session_state[drift_keys.DRIFT_VIEWS] == {}


def test_drift_button_on_the_models_page_preselects_the_model(at, repo):
    mid = model_id(repo, "Balanced Value")
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(mid).run()
    at.button(key="models_drift").click().run()
    assert at.title[0].value == "Drift"
    assert at.selectbox(key=drift_keys.DRIFT_MODEL_PICK).value == mid
    assert any("25 portfolios" in c for c in texts(at, "caption"))


def test_firm_wide_triage_counts_every_model_and_ranks_the_worst(at, repo):
    drift_page(at, repo, "Edge Case Lab")
    at.segmented_control(key="drift_mode").set_value("triage").run()
    assert at.button(key="drift_scan") and not at.dataframe
    # one saved rebalance covering a single portfolio of Technology Leaders
    tech = repo().get_model(model_id(repo, "Technology Leaders"))
    done = tech.portfolios[0]
    resources.rebalance_repo().save_rebalance(
        RebalanceRecord(
            model_id=tech.model_id,
            model_name=tech.name,
            rebalance_date=dt.datetime.now(dt.UTC),
            portfolios=(
                RecordPortfolio(
                    portfolio_id=done,
                    market_value=Decimal(1),
                    cash_before_rebalance=Decimal(1),
                    cash_after_rebalance=Decimal(1),
                ),
            ),
        )
    )
    at.button(key="drift_scan").click().run()
    assert no_exception(at)
    assert any("Last scan" in c and "6 models" in c for c in texts(at, "caption"))
    summary = at.dataframe[0].value.set_index("model")
    assert set(summary.index) == {m.name for m in DEMO.models}
    assert summary.loc["Technology Leaders", "never_rebalanced"] == len(tech.portfolios) - 1
    assert summary.loc["Dividend Income", "never_rebalanced"] == len(DEMO.model("Dividend Income").portfolios)
    edge = summary.loc["Edge Case Lab"]
    assert edge["analysed"] + edge["failed"] == edge["portfolios"] and edge["failed"] >= 1
    queue = at.dataframe[1].value
    assert queue["drift_dollars"].is_monotonic_decreasing and len(queue) == 100
    at.segmented_control(key="drift_rank_by").set_value("drift_weight").run()
    assert at.dataframe[1].value["drift_weight"].is_monotonic_decreasing
    # the per-model view now opens from what the scan fetched
    summaries = at.session_state[drift_keys.DRIFT_VIEWS]
    assert {v.model.name for v in summaries.values()} == {m.name for m in DEMO.models}
    # issue 14 item 10: formatted ("Never"), failures explained, and a second scan reuses the snapshots
    assert summary.loc["Dividend Income", "last_rebalance"] == "Never"
    assert any(e.label.startswith(f"Failed: {edge['failed']} could not be read") for e in at.expander)
    # the quick scan hides no failure: "Retry" fetches Edge Case Lab again (normal backoff) and they stay listed
    edge_id = model_id(repo, "Edge Case Lab")
    at.button(key=f"drift_retry_{edge_id}").click().run()
    assert no_exception(at)
    assert any(e.label.startswith(f"Failed: {edge['failed']} could not be read") for e in at.expander)
    taken = {k: v.taken_at for k, v in summaries.items()}
    at.button(key="drift_scan").click().run()
    assert any(f"({len(taken)} reused from snapshots" in c for c in texts(at, "caption"))
    assert {k: v.taken_at for k, v in at.session_state[drift_keys.DRIFT_VIEWS].items()} == taken
    at.button(key="drift_scan_fresh").click().run()
    assert all(v.taken_at > taken[k] for k, v in at.session_state[drift_keys.DRIFT_VIEWS].items())


def test_what_if_for_the_flagged_portfolios_prefills_the_scope(at, repo):
    """Issue 14 item 9: from the drift list to a what-if of exactly the portfolios needing a rebalance."""
    drift_page(at, repo, "Dividend Income")
    table = at.dataframe[0].value
    flagged = table.loc[table["needs_rebalance"], "portfolio_id"].tolist()
    assert flagged
    at.button(key="drift_whatif_flagged").click().run()
    assert no_exception(at), [e.value for e in at.exception]
    mid = model_id(repo, "Dividend Income")
    assert at.radio(key=rebalance_keys.SCOPE).value == "Selected portfolios"
    assert at.multiselect(key=f"{rebalance_keys.PORTFOLIOS}_{mid}").value == flagged
    assert at.selectbox(key=rebalance_keys.MODEL_PICK).value == mid
