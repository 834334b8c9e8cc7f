"""One out-of-range number in the app (issue 9 item 3): it fails its portfolio, never the what-if or the Drift page.

The simulator's accounting service reports a cash balance of 1e16 for one portfolio of a demo model (beyond the
int64 mills the solver uses, which before made the whole what-if and the Drift page say "something unexpected
went wrong"); every other portfolio is answered as usual.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.app.support import drift_page, models_by_name, no_exception, open_page, run_whatif, scenarios

HUGE = Decimal("1e16")


@pytest.fixture
def huge_cash(repo, simulator):
    """The smallest demo model with more than one portfolio (not the edge-case one), its first portfolio's cash 1e16."""
    models = [m for m in repo().list_models() if len(m.portfolios) > 1 and m.name != "Edge Case Lab"]
    model = min(models, key=lambda m: len(m.portfolios))
    bad = model.portfolios[0]
    simulator.sim.state.balances[bad][None].long = HUGE
    return model, bad


def test_whatif_fails_only_the_portfolio_with_the_huge_cash(at, repo, huge_cash):
    model, bad = huge_cash
    run_whatif(open_page(at, models_by_name(repo)[model.name]), min_cash_pct=5.0)
    (scenario,) = scenarios(at)
    by_id = {r.portfolio_id: r for r in scenario.results}
    assert by_id[bad].status == "error" and by_id[bad].error_code == "INVALID_INPUT"
    assert "outside the supported range" in (by_id[bad].diagnosis or "")
    assert all(r.status == "optimal" for pid, r in by_id.items() if pid != bad)
    assert at.status[0].state == "complete"


def test_drift_page_lists_the_portfolio_and_analyses_the_others(at, repo, huge_cash):
    model, bad = huge_cash
    drift_page(at, repo, model.name)
    assert no_exception(at), [e.value for e in at.exception]
    (panel,) = [e for e in at.expander if "could not be analysed" in e.label]
    failures = panel.dataframe[0].value
    assert failures["Portfolio ID"].tolist() == [bad]
    assert "outside the supported range" in failures["Reason"].iloc[0]
    analysed = next(m.value for m in at.metric if m.label == "Portfolios analysed")
    assert int(analysed) == len(model.portfolios) - 1
