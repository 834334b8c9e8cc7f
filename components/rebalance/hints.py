"""Hints about a scenario's settings that changed nothing (issue 14 item 11).

The rule lives in the engine (``engine.scenarios.floor_binding``: the run against the same run without its cash
floor); this module only words it. The verdict is cached with the scenario's derived views (recomputed after a
retry replaces results).
"""

from __future__ import annotations

import streamlit as st

from components.rebalance.store import Scenario
from components.tables import fmt_pct
from engine.scenarios import FloorBinding, floor_binding

FLOOR_KEY = "floor_binding"


def scenario_floor(scenario: Scenario) -> FloorBinding | None:
    """Whether the scenario's minimum cash bound any portfolio (None: the scenario had no minimum cash)."""
    if FLOOR_KEY not in scenario.cache:
        scenario.cache[FLOOR_KEY] = floor_binding(
            scenario.run_model,
            scenario.snapshot.prices,
            scenario.snapshot.portfolios,
            scenario.params.options,
            scenario.results,
        )
    return scenario.cache[FLOOR_KEY]


def floor_hint(scenario: Scenario, verdict: FloorBinding | None) -> str | None:
    """The hint for a minimum cash that bound no portfolio, else None."""
    if verdict is None or verdict.binds or not verdict.checked:
        return None
    least = verdict.least_cash_weight
    keeps = f"every portfolio keeps at least {fmt_pct(least, 2)} cash" if least is not None else "nothing changes"
    return (
        f"Min cash {scenario.params.min_cash_label()} did not bind for any portfolio: the model already keeps "
        f"{fmt_pct(verdict.implied_cash, 2)} cash (100 % − Σ targets) and {keeps}, so these orders are the same as "
        "with no minimum. Raise it above that to hold more cash."
    )


def render(scenario: Scenario) -> None:
    """Show the hints of ``scenario`` (nothing when every setting made a difference)."""
    with st.spinner("Checking whether the minimum cash made a difference…"):
        text = floor_hint(scenario, scenario_floor(scenario))
    if text:
        st.info(text, icon=":material/lightbulb:")
