"""The "already saved or traded today" warning of Save and Submit (issue #12 §4) at PM speed (§5): the look-up runs
when the dialog opens and again on the click, its costly part cached under the submission log's change stamp, yet a
run saved or orders sent by another session in between still stop the click with the warning."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components import resources
from tests.app.conftest import APP, TIMEOUT
from tests.app.support import no_exception, save, scenarios, texts, whatif_then_orders

pytestmark = pytest.mark.slow
SAVED_TODAY = "saved rebalance(s) of the same day already hold some of these portfolios"
TRADED_TODAY = "already have orders submitted for this trade date"


def other_session(repo) -> AppTest:
    """Another user's session (no workspace of ours): the same model's what-if, on its Orders page."""
    other = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    whatif_then_orders(other, repo)
    return other


def test_a_save_in_another_session_stops_the_click_with_the_warning(at, repo):
    scenario = whatif_then_orders(at, repo)
    at.button(key="orders_save").click().run()  # the dialog is open: nothing saved yet anywhere
    assert not any(SAVED_TODAY in w for w in texts(at, "warning"))
    assert not at.button(key="orders_confirm_save").disabled
    save(other_session(repo))  # meanwhile another session saves the same portfolios
    assert resources.rebalance_repo().count_rebalances() == 1
    at.button(key="orders_confirm_save").click().run()
    assert no_exception(at), [e.value for e in at.exception]
    assert any(SAVED_TODAY in w for w in texts(at, "warning")), texts(at, "warning")
    assert scenarios(at)[-1].saved_rebalance_id is None  # the click did not save past the new warning
    assert resources.rebalance_repo().count_rebalances() == 1
    assert at.button(key="orders_confirm_save").disabled
    next(c for c in at.checkbox if c.key == "orders_confirm_prior_save").check().run()
    at.button(key="orders_confirm_save").click().run()  # confirmed on purpose: saved
    assert scenarios(at)[-1].saved_rebalance_id and scenario.saved_rebalance_id
    assert resources.rebalance_repo().count_rebalances() == 2


def test_orders_sent_by_another_session_stop_the_click_with_the_warning(at, repo, simulator):
    whatif_then_orders(at, repo)
    at.button(key="orders_save").click().run()
    assert not any(TRADED_TODAY in w for w in texts(at, "warning"))  # looked up once, cached under the stamp
    other = other_session(repo)
    other.button(key="orders_submit").click().run()
    other.button(key="orders_confirm_submit").click().run()
    assert any(s.startswith("Submitted") for s in texts(other, "success")), texts(other, "success")
    at.button(key="orders_confirm_save").click().run()  # the stamp moved: looked up again
    assert any(TRADED_TODAY in w for w in texts(at, "warning")), texts(at, "warning")
    assert scenarios(at)[-1].saved_rebalance_id is None
    assert resources.rebalance_repo().count_rebalances() == 0
