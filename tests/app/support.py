"""Helpers shared by the AppTest files (fixtures live in ``conftest.py``): reading elements, faults, and driving
the pages the way a user does (open a model, run a what-if, save from the Orders page)."""

from __future__ import annotations

import json
from typing import Any

from streamlit.testing.v1 import AppTest

from components import state
from components.models import keys as models_keys
from components.rebalance import keys as rebalance_keys
from components.rebalance import store
from components.rebalance.controls import control_key

REBALANCE_PAGE = "pages/rebalance.py"
ORDERS_PAGE = "pages/orders.py"


# --- elements and faults ----------------------------------------------------------------------------------------------
def inject_fault(sim: Any, **fault: Any) -> None:
    """Add a fault rule (``data.simulator.config.Fault`` fields: kind, service, endpoint, status, count ...)."""
    from data.simulator.config import Fault

    sim.sim.faults.add([Fault(**fault)])


def clear_faults(sim: Any) -> None:
    """Remove every fault rule."""
    sim.sim.faults.clear()


def texts(at: AppTest, kind: str) -> list[str]:
    """Values of every element of ``kind`` ("error", "warning", "info", "success", "toast", "caption", ...)."""
    return [str(e.value) for e in getattr(at, kind)]


def figures(at: AppTest) -> list[dict[str, Any]]:
    """Every plotly chart of the page as a figure dict."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def plotly_array(value: Any) -> list[Any]:
    """A figure array as a list: plotly 6+ writes numeric arrays as ``{"dtype", "bdata"}`` (base64)."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def no_exception(at: AppTest) -> bool:
    """True when no exception element (a traceback box) was rendered."""
    return len(at.exception) == 0


# --- Investment models page -------------------------------------------------------------------------------------------
def model_id(repo, name: str) -> str:
    (m,) = repo().list_models(offset=0, limit=10, name_contains=name)
    return m.model_id


def open_model(at, repo, name: str):
    at.selectbox(key=models_keys.MODELS_OPEN_PICK).set_value(model_id(repo, name)).run()
    return at.button(key="models_edit").click().run()


# --- What-if, Orders and Saved rebalances pages -----------------------------------------------------------------------
def models_by_name(repo) -> dict:
    return {m.name: m for m in repo().list_models()}


def open_page(at, model=None):
    """Switch to the what-if page, optionally picking ``model``."""
    at.switch_page(REBALANCE_PAGE).run()
    if model is not None:
        at.selectbox(key=rebalance_keys.MODEL_PICK).set_value(model.model_id).run()
    return at


def run_whatif(at, min_cash=None, min_cash_pct=None, time_limit=None):
    """Set the parameters that are given and press "Run what-if"."""
    if min_cash is not None:
        at.number_input(key=rebalance_keys.MIN_CASH).set_value(min_cash)
    if min_cash_pct is not None:
        at.number_input(key=rebalance_keys.MIN_CASH_PCT).set_value(min_cash_pct)
    if time_limit is not None:
        at.number_input(key=rebalance_keys.TIME_LIMIT).set_value(time_limit)
    at.button(key=rebalance_keys.RUN).click().run()
    assert no_exception(at), [e.value for e in at.exception]
    return at


def set_controls(
    at,
    model,
    *,
    policy=None,
    min_trade=None,
    direction=None,
    no_buy=None,
    no_sell=None,
    no_trade=None,
    on_infeasible=None,
):
    """Set the given trade controls in the What-if panel of ``model`` (no run); returns ``at``."""
    if policy is not None:
        at.radio(key=control_key(rebalance_keys.CTRL_POLICY, model)).set_value(policy)
    if min_trade is not None:
        at.number_input(key=control_key(rebalance_keys.CTRL_MIN_TRADE, model)).set_value(min_trade)
    if direction is not None:
        at.radio(key=control_key(rebalance_keys.CTRL_DIRECTION, model)).set_value(direction)
    for base, value in (
        (rebalance_keys.CTRL_NO_BUY, no_buy),
        (rebalance_keys.CTRL_NO_SELL, no_sell),
        (rebalance_keys.CTRL_NO_TRADE, no_trade),
    ):
        if value is not None:
            at.multiselect(key=control_key(base, model)).set_value(list(value))
    if on_infeasible is not None:
        at.radio(key=control_key(rebalance_keys.CTRL_INFEASIBLE, model)).set_value(on_infeasible)
    return at


def scenarios(at) -> list[store.Scenario]:
    return list(at.session_state[rebalance_keys.SCENARIOS]) if rebalance_keys.SCENARIOS in at.session_state else []


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def frame_with(at, column: str):
    """The first st.dataframe whose columns include ``column``."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def whatif_then_orders(at, repo, name="Technology Leaders", **params):
    """A what-if run of ``name`` (with ``params``), then the Orders page; returns the scenario."""
    run_whatif(open_page(at, models_by_name(repo)[name]), **params)
    at.switch_page(ORDERS_PAGE).run()
    assert no_exception(at), [e.value for e in at.exception]
    return scenarios(at)[-1]


def save(at):
    """Save the current scenario from the Orders page (button, any "already saved today" confirmation, confirm)."""
    at.button(key="orders_save").click().run()
    for box in at.checkbox:  # the same portfolios were saved or traded today already: confirm it on purpose
        if box.key == "orders_confirm_prior_save":
            box.check().run()
    at.button(key="orders_confirm_save").click().run()
    assert no_exception(at), [e.value for e in at.exception]


def drift_page(at, repo, model: str | None = None):
    """Open the Drift page on ``model`` (preselected like the Models page does, so nothing else is fetched)."""
    if model is not None:
        at.session_state[state.SELECTED_MODEL_ID] = model_id(repo, model)
    return at.switch_page("pages/drift.py").run()


def reopen(ws: str, page: str = REBALANCE_PAGE, restart: bool = False) -> AppTest:
    """A fresh session (an F5, or a second tab) on ``page`` of What-if workspace ``ws``; ``restart``: no caches."""
    import streamlit as st

    from tests.app.conftest import APP, TIMEOUT

    if restart:
        st.cache_data.clear()
        st.cache_resource.clear()
    fresh = AppTest.from_file(APP, default_timeout=TIMEOUT)
    fresh.query_params["ws"] = ws
    fresh.run()
    fresh.switch_page(page)
    fresh.query_params["ws"] = ws
    fresh.run()
    assert no_exception(fresh), [e.value for e in fresh.exception]
    return fresh
