"""components.rebalance.store: the session store of what-if scenarios (a plain dict stands in for st.session_state)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from components.rebalance import store
from data.snapshot import MarketSnapshot
from engine.models import InvestmentModel, PortfolioResult, RebalanceOptions

TAKEN = dt.datetime(2026, 3, 2, 14, 5, 9, tzinfo=dt.UTC)


def make(name="Scenario 1", results=()):
    model = InvestmentModel(model_id="e" * 24, name="Core", version=3)
    params = store.ScenarioParams(model_id="e" * 24, portfolio_ids=("p" * 24,), all_portfolios=True)
    snapshot = MarketSnapshot(model, TAKEN, ("p" * 24,), [], {}, {}, {}, requests=0)
    return store.Scenario(name=name, params=params, model=model, run_model=model, snapshot=snapshot,
                          results=list(results))  # fmt: skip


def test_add_rename_delete_and_current():
    s: dict = {}
    assert store.current(s) is None and store.next_name(s) == "Scenario 1"
    a, b = make(), make()
    store.add(a, s)
    store.add(b, s)  # same name: made unique
    assert [x.name for x in store.all_scenarios(s)] == ["Scenario 1", "Scenario 1 (2)"]
    assert store.current(s) is b
    store.set_current(a.id, s)
    assert store.current(s) is a
    store.rename(a.id, "  Base   case ", s)
    assert a.name == "Base case"
    with pytest.raises(ValueError, match="already exists"):
        store.rename(b.id, "Base case", s)
    with pytest.raises(ValueError, match="needs a name"):
        store.rename(b.id, "   ", s)
    store.delete(a.id, s)
    assert store.all_scenarios(s) == [b] and store.current(s) is b
    assert store.next_name(s) == "Scenario 2"


def test_only_the_newest_scenarios_are_kept_saved_ones_last_to_go():
    s: dict = {}
    first = make("A")
    first.saved_rebalance_id = "f" * 24
    first.snapshot = "old-snapshot"
    store.keep_snapshot("m1", ("a",), "old-snapshot", s)
    store.add(first, s)
    for i in range(store.MAX_SCENARIOS - 1):
        assert store.add(make(f"S{i}"), s) == []
    dropped = store.add(make("new"), s)
    assert dropped == ["S0"]  # the oldest unsaved one, not the saved "A"
    names = [x.name for x in store.all_scenarios(s)]
    assert len(names) == store.MAX_SCENARIOS and names[0] == "A" and names[-1] == "new"
    assert store.frozen_snapshot("m1", ("a",), s) == "old-snapshot"  # still used by "A"


def test_snapshots_are_frozen_per_model_and_scope():
    s: dict = {}
    store.keep_snapshot("m1", ("b", "a"), "snap-1", s)
    assert store.frozen_snapshot("m1", ("a", "b"), s) == "snap-1"  # order of the selection does not matter
    assert store.frozen_snapshot("m1", ("a",), s) is None
    store.keep_snapshot("m2", ("a",), "snap-2", s)
    store.drop_snapshots("m1", s)
    assert store.frozen_snapshot("m1", ("a", "b"), s) is None and store.frozen_snapshot("m2", ("a",), s) == "snap-2"


def test_labels_and_summary():
    options = RebalanceOptions(min_cash=D(1000), min_cash_fraction=D("0.02"), time_limit=10.0)
    params = store.ScenarioParams("e" * 24, ("p" * 24, "q" * 24), False, options, True)
    assert params.scope_label() == "2 selected portfolios"
    assert params.min_cash_label() == "$1,000.00 or 2 % of MV (greater applies)"
    assert store.ScenarioParams("e" * 24, ("p" * 24,), True).min_cash_label() == "none"
    sc = make(results=[PortfolioResult(portfolio_id="p" * 24, status="infeasible", diagnosis="too small")])
    assert sc.summary.infeasible == 1 and sc.metrics[0].diagnosis == "too small"
    assert sc.parameter_labels()["Model"] == "Core (v3)" and sc.parameter_labels()["Snapshot"] == "14:05:09 UTC"


def test_the_summary_is_computed_once_and_again_after_a_retry():
    """Issue #12 §5: every run of the Orders page and the Save click read the totals several times."""
    a = make(results=[PortfolioResult(portfolio_id="p" * 24, status="error", error_code="TIMEOUT")])
    first = a.summary
    assert a.summary is first and first.failed == 1
    fixed = PortfolioResult(portfolio_id="p" * 24, status="optimal")
    a.replace_results([fixed], {})
    assert a.summary is not first and a.summary.failed == 0 and a.summary.optimal == 1
