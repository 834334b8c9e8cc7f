"""The firm-wide triage scan (issue 14 item 10) against the in-process simulator: concurrent fetches give the same
figures as one model after the other, snapshots are reused, and an outage is kept per model, never hidden."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

import datetime as dt

import pandas as pd

from components.drift.scan import fetch_view, scan_models
from data.demo import load_demo
from engine.errors import ServiceUnavailable
from tests.support.simulator import services, sim_transport, simulator  # noqa: F401

MODELS = [m.model_copy(update={"model_id": f"{i:024x}"}) for i, m in enumerate(load_demo().models) if m.portfolios]
SMALL = [m for m in MODELS if len(m.portfolios) <= 40]  # every demo model but the 1,000-portfolio one
AGE = dt.timedelta(minutes=5)


def test_a_concurrent_scan_equals_one_model_after_the_other(services):
    outcome = scan_models(services, SMALL, max_age=AGE)
    assert not outcome.errors and outcome.fetched == len(SMALL) and outcome.reused == 0
    for model in SMALL:
        alone = fetch_view(services, model)
        got = outcome.views[model.model_id]
        pd.testing.assert_frame_equal(got.portfolios, alone.portfolios)
        assert got.failures.keys() == alone.failures.keys()  # Edge Case Lab's failures are kept, not retried away
    assert any(v.failures for v in outcome.views.values())


def test_a_rescan_reuses_young_snapshots_unless_fresh(services):
    first = scan_models(services, SMALL, max_age=AGE)
    again = scan_models(services, SMALL, first.views, max_age=AGE)
    assert again.reused == len(SMALL) and again.fetched == 0
    assert all(again.views[k] is v for k, v in first.views.items())
    fresh = scan_models(services, SMALL, first.views, max_age=AGE, fresh=True)
    assert fresh.fetched == len(SMALL) and all(fresh.views[k] is not v for k, v in first.views.items())


def test_an_outage_is_kept_per_model_and_the_scan_goes_on(services, simulator):
    simulator.set_faults([{"kind": "error", "service": "pricing", "status": 503}])
    done: list[str] = []
    outcome = scan_models(services, SMALL, max_age=AGE, on_done=lambda i, n, m: done.append(m.name))
    assert sorted(done) == sorted(m.name for m in SMALL)
    assert set(outcome.errors) == {m.model_id for m in SMALL}
    assert all(isinstance(e, ServiceUnavailable) for e in outcome.errors.values())
    assert not outcome.views
